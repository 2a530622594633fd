"""Streaming inference: initial_state and predict_step on every cell.

A sequence fed one step at a time must give what predict gives for the
steps so far. Where skseq's own product kernels run (_dispatch.level() > 0)
their sums over a row do not depend on the other rows of a batch, so the two
agree bit for bit; with BLAS's products (level 0) a batch of another size may
be blocked differently, and they agree to a few ulp.
"""

import pickle
import threading
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skseq import (
    GRURegressor,
    LSTMRegressor,
    RNNClassifier,
    RNNRegressor,
    _dispatch,
    _gru_layer,
    _lstm_layer,
    _rnn_layer,
)

from ._estimators import CLASSIFIERS, REGRESSORS


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _assert_same(streamed, whole):
    """Bit for bit with skseq's product kernels, a few ulp with BLAS's."""
    if _dispatch.level() > 0:
        assert_array_equal(streamed, whole)
    else:
        eps = np.finfo(np.asarray(whole).dtype).eps
        assert_allclose(streamed, whole, rtol=16 * eps, atol=16 * eps)


def _stream(model, X, state=None):
    """Feed X (n_streams, T, n_features) step by step: the outputs of every
    step, (T, n_streams, ...), and the last state."""
    if state is None:
        state = model.initial_state(X.shape[0])
    outputs = []
    for t in range(X.shape[1]):
        y_t, state = model.predict_step(X[:, t], state)
        outputs.append(y_t)
    return np.stack(outputs), state


@pytest.fixture(params=["packed", "blas"])
def products(request):
    """Both ways of the core's products: the packed kernels where the CPU has
    them, and BLAS (level 0)."""
    full = _lstm_layer.packed_gemm_level()
    if request.param == "blas":
        _lstm_layer._set_packed_gemm_level(0)
    yield request.param
    _lstm_layer._set_packed_gemm_level(full)


@pytest.mark.parametrize("Regressor", REGRESSORS)
@pytest.mark.parametrize("hidden_layer_sizes", [(6,), (5, 4)])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_by_step_gives_predict_of_every_prefix(
    Regressor, hidden_layer_sizes, activation, dtype, products
):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 8, 3)).astype(dtype)
    y = np.c_[X[:, :, 0].sum(axis=1), X[:, -1, 1]]
    model = _fit(
        Regressor(hidden_layer_sizes=hidden_layer_sizes, activation=activation,
                  max_iter=3, random_state=0),
        X, y,
    )  # fmt: skip
    streams = X[:5]  # several streams, each its own inputs
    outputs, _ = _stream(model, streams)
    assert outputs.dtype == dtype
    for t in range(X.shape[1]):
        _assert_same(outputs[t], model.predict(streams[:, : t + 1]))
    # One stream alone: predict takes its one-sequence path.
    outputs, _ = _stream(model, streams[2:3])
    _assert_same(outputs[-1], model.predict(streams[2:3]))


@pytest.mark.parametrize("Regressor", REGRESSORS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_streams_run_in_blocks_with_the_bits_of_predict(
    Regressor, dtype, products
):
    """A step over many streams runs its rows in blocks (64 rows, here two
    full ones and a short one), each block with buffers of its own: every
    stream still gets predict's outputs for its prefix, and a stream's
    outputs do not depend on the streams beside it."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(150, 4, 3)).astype(dtype)
    y = X[:, :, 0].sum(axis=1)
    model = _fit(Regressor(hidden_layer_sizes=(5, 4), max_iter=2, random_state=0), X, y)
    outputs, _ = _stream(model, X)
    for t in range(X.shape[1]):
        _assert_same(outputs[t], model.predict(X[:, : t + 1]))
    some, _ = _stream(model, X[100:103])
    _assert_same(some, outputs[:, 100:103])


# Widths at which one stream's step reads the weights in place (gate width a
# whole number of four-panel groups at every level and precision).
IN_PLACE_SIZES = {LSTMRegressor: (32, 32), GRURegressor: (128,), RNNRegressor: (128,)}


@pytest.mark.parametrize("Regressor", REGRESSORS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_stream_reading_weights_in_place_has_the_bits_of_many(
    Regressor, dtype, products
):
    """A single stream's step skips packing the weights where the shapes
    allow; it gives the bits of the same stream among others (packed
    products) and of predict."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 6, 3)).astype(dtype)
    y = X[:, :, 0].sum(axis=1)
    model = _fit(
        Regressor(hidden_layer_sizes=IN_PLACE_SIZES[Regressor], max_iter=2,
                  random_state=0),
        X, y,
    )  # fmt: skip
    alone, _ = _stream(model, X[3:4])
    among, _ = _stream(model, X[:5])
    _assert_same(alone[:, 0], among[:, 3])
    for t in range(X.shape[1]):
        _assert_same(alone[t], model.predict(X[3:4, : t + 1]))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_step_reads_unaligned_weights_in_place_correctly(cell):
    """The in-place products take weights wherever they start in memory."""
    module = {"lstm": _lstm_layer, "gru": _gru_layer, "rnn": _rnn_layer}[cell]
    H, n_in = {"lstm": 32, "gru": 128, "rnn": 128}[cell], 5
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell] * H
    rng = np.random.default_rng(0)

    def unaligned(*shape):
        # A C-contiguous view one value past a fresh array's start.
        return rng.normal(size=np.prod(shape) + 1)[1:].reshape(shape)

    x, kernel, recurrent = unaligned(1, n_in), unaligned(n_in, G), unaligned(H, G)
    bias = unaligned(2, G) if cell == "gru" else unaligned(G)
    states = [unaligned(1, H) for _ in range(2 if cell == "lstm" else 1)]
    results = []
    for copy in (False, True):
        args = [np.array(a) if copy else a for a in (x, kernel, recurrent, bias)]
        args += [np.array(s) if copy else s for s in states]
        outs = [np.zeros((1, H)) for _ in states]
        getattr(module, f"{cell}_step")(*args, *outs, 0)
        results.append(outs)
    for unaligned_out, copied_out in zip(*results, strict=True):
        assert_array_equal(unaligned_out, copied_out)
    # And what a batch of the same row twice gives (packed products).
    args = [x.repeat(2, axis=0), kernel, recurrent, bias]
    args += [s.repeat(2, axis=0) for s in states]
    outs = [np.zeros((2, H)) for _ in states]
    getattr(module, f"{cell}_step")(*args, *outs, 0)
    for one, two in zip(results[0], outs, strict=True):
        _assert_same(one[0], two[0])
        _assert_same(one[0], two[1])


@pytest.mark.parametrize("Classifier", CLASSIFIERS)
def test_classifier_steps_give_predict_and_predict_proba(Classifier):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 6, 2))
    y = np.array(["low", "mid", "high"])[np.digitize(X[:, :, 0].sum(axis=1), [-1, 1])]
    model = _fit(Classifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0), X, y)
    streams = X[:7]
    state = model.initial_state(7)
    proba_state = model.initial_state(7)
    for t in range(X.shape[1]):
        labels, state = model.predict_step(streams[:, t], state)
        proba, proba_state = model.predict_proba_step(streams[:, t], proba_state)
        assert labels.dtype == model.classes_.dtype
        _assert_same(labels, model.predict(streams[:, : t + 1]))
        _assert_same(proba, model.predict_proba(streams[:, : t + 1]))
    # Binary targets: the two columns of predict_proba.
    binary = _fit(clone(model), X, y == "high")
    proba, _ = binary.predict_proba_step(streams[:, 0], binary.initial_state(7))
    assert proba.shape == (7, 2)
    _assert_same(proba, binary.predict_proba(streams[:, :1]))


def test_model_fitted_on_2d_x_takes_one_value_per_step():
    """A 2-D X is a batch of univariate sequences: a step is one value of
    each."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 7))
    model = _fit(GRURegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
                 X, X.sum(axis=1))  # fmt: skip
    assert model.n_features_in_ == 7
    outputs, _ = _stream(model, X[:4, :, None])
    _assert_same(outputs[-1], model.predict(X[:4]))
    with pytest.raises(ValueError, match="one value per stream"):
        model.predict_step(X[:4], model.initial_state(4))


@pytest.mark.parametrize("Regressor", REGRESSORS)
def test_ragged_model_streams_each_sequence_as_predict(Regressor):
    rng = np.random.default_rng(6)
    X = [rng.normal(size=(n, 2)) for n in rng.integers(1, 10, size=25)]
    y = np.array([x[:, 0].sum() for x in X])
    model = _fit(Regressor(hidden_layer_sizes=(4, 3), max_iter=3, random_state=0), X, y)
    whole = model.predict(X)  # padded, reordered batches
    streamed = np.array([_stream(model, x[None])[0][-1, 0] for x in X])
    _assert_same(streamed, whole)


def test_state_pickled_mid_stream_resumes_where_it_was():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 9, 3))
    model = _fit(LSTMRegressor(hidden_layer_sizes=(5, 3), max_iter=3,
                               random_state=0), X, X[:, :, 0].sum(axis=1))  # fmt: skip
    straight, _ = _stream(model, X[:3])
    _, state = _stream(model, X[:3, :4])
    before = pickle.dumps(state)
    restored = pickle.loads(pickle.dumps(model)), pickle.loads(before)
    resumed, _ = _stream(restored[0], X[:3, 4:], restored[1])
    assert_array_equal(resumed, straight[4:])
    # A state of arrays in another memory order is read as the same state.
    fortran = {key: value for key, value in state.items()}
    fortran["h"] = tuple(np.asfortranarray(a) for a in state["h"])
    resumed, _ = _stream(model, X[:3, 4:], fortran)
    assert_array_equal(resumed, straight[4:])
    # predict_step never changes the state it is given.
    model.predict_step(X[:3, 4], state)
    assert pickle.dumps(state) == before


def test_two_threads_streaming_from_one_model_match_one_after_the_other():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(20, 30, 3))
    model = _fit(GRURegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0),
                 X, X[:, :, 0].sum(axis=1))  # fmt: skip
    inputs = [X[:4], X[4:7]]
    fitted = pickle.dumps(model)
    expected = [_stream(model, streams)[0] for streams in inputs]
    results = [None, None]
    barrier = threading.Barrier(2)

    def run(index):
        barrier.wait()
        for _ in range(5):
            results[index] = _stream(model, inputs[index])[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result, want in zip(results, expected, strict=True):
        assert_array_equal(result, want)
    # Streaming leaves the estimator as it was.
    assert pickle.dumps(model) == fitted


@pytest.fixture(scope="module")
def lstm_model():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(20, 5, 3))
    return _fit(LSTMRegressor(hidden_layer_sizes=(4, 3), max_iter=2,
                              random_state=0), X, X[:, :, 0].sum(axis=1))  # fmt: skip


def test_bad_step_input_is_refused_before_the_core(lstm_model):
    state = lstm_model.initial_state(2)
    with pytest.raises(ValueError, match=r"shape \(n_streams, n_features\) = \(2, 3\)"):
        lstm_model.predict_step(np.zeros((2, 4)), state)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        lstm_model.predict_step(np.zeros((3, 3)), state)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        lstm_model.predict_step(np.zeros(3), state)
    with pytest.raises(ValueError, match="NaN or infinity"):
        lstm_model.predict_step(np.array([[0, 1, np.inf], [0, 0, 0]]), state)
    with pytest.raises(TypeError, match="real numbers"):
        lstm_model.predict_step(np.array([["a", "b", "c"]] * 2), state)
    # The dtype follows the model's.
    y_t, new = lstm_model.predict_step(np.zeros((2, 3), dtype=np.float32), state)
    assert y_t.dtype == np.float64 and new["h"][0].dtype == np.float64


# The step casts first, which warns of the overflow, then names it.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_a_float32_model_names_a_step_beyond_float32_as_predict_does():
    """A finite float64 value too large for a float32 model is named as out of
    range, as predict names it, not as an infinity; NaN and infinity keep
    their own error."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 5, 2)).astype(np.float32)
    model = _fit(LSTMRegressor(hidden_layer_sizes=(3,), max_iter=2), X, X[:, 0, 0])
    state = model.initial_state(2)
    big = np.array([[1e39, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="beyond the range of float32") as streamed:
        model.predict_step(big, state)
    with pytest.raises(ValueError, match="beyond the range of float32") as whole:
        model.predict(big[:, None, :])
    assert "largest magnitude 1e+39" in str(streamed.value)
    assert "largest magnitude 1e+39" in str(whole.value)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="X_t contains NaN or infinity"):
            model.predict_step(np.array([[bad, 0.0], [0.0, 0.0]]), state)
    # float64 steps that float32 holds run as float32 ones do.
    x = rng.normal(size=(2, 2))
    assert_array_equal(
        model.predict_step(x, state)[0],
        model.predict_step(x.astype(np.float32), state)[0],
    )


def test_a_state_of_another_shape_or_model_is_refused(lstm_model):
    x = np.zeros((2, 3))
    state = lstm_model.initial_state(2)
    assert set(state) == {"cell", "h", "c"}
    assert [a.shape for a in state["h"]] == [(2, 4), (2, 3)]
    with pytest.raises(TypeError, match="state must be the dict"):
        lstm_model.predict_step(x, [state["h"], state["c"]])
    gru = _fit(GRURegressor(hidden_layer_sizes=(4, 3), max_iter=1, random_state=0),
               np.ones((4, 5, 3)), np.arange(4.0))  # fmt: skip
    with pytest.raises(ValueError, match="not a state of this LSTMRegressor"):
        lstm_model.predict_step(x, gru.initial_state(2))
    with pytest.raises(ValueError, match="not a state of this GRURegressor"):
        gru.predict_step(x, state)
    wrong = dict(state, h=(state["h"][0], np.zeros((2, 5))))
    with pytest.raises(ValueError, match=r"has shape \(2, 5\), expected \(2, 3\)"):
        lstm_model.predict_step(x, wrong)
    wrong = dict(state, c=(state["c"][0],))
    with pytest.raises(ValueError, match="one array per layer"):
        lstm_model.predict_step(x, wrong)
    wrong = dict(state, c=tuple(a.astype(np.float32) for a in state["c"]))
    with pytest.raises(ValueError, match="dtype float64"):
        lstm_model.predict_step(x, wrong)
    # No streams at all: initial_state makes no such state, predict_step
    # takes none (as predict takes no empty X).
    empty = {key: value if key == "cell" else tuple(a[:0] for a in value)
             for key, value in state.items()}  # fmt: skip
    with pytest.raises(ValueError, match="holds no stream"):
        lstm_model.predict_step(x[:0], empty)


def test_streams_need_a_fitted_one_direction_model():
    with pytest.raises(NotFittedError):
        RNNRegressor().initial_state(1)
    X = np.random.default_rng(1).normal(size=(10, 4, 2))
    two_way = _fit(RNNClassifier(hidden_layer_sizes=(3,), bidirectional=True,
                                 max_iter=1, random_state=0),
                   X, np.arange(10) % 2)  # fmt: skip
    with pytest.raises(ValueError, match="bidirectional"):
        two_way.initial_state(1)
    with pytest.raises(ValueError, match="bidirectional"):
        two_way.predict_step(X[:1, 0], {"cell": "rnn", "h": (np.zeros((1, 3)),)})
    one_way = _fit(RNNRegressor(hidden_layer_sizes=(3,), max_iter=1, random_state=0),
                   X, np.arange(10.0))  # fmt: skip
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_streams must be a positive integer"):
            one_way.initial_state(bad)
