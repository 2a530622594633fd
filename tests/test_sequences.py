"""Sequences as they come: ragged input, bidirectional layers, dropout."""

import io
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score

from skseq import LSTMClassifier, LSTMRegressor, _dispatch
from skseq.datasets import make_embedded_reber


def _fit_quietly(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **kwargs)


@pytest.fixture(scope="module", params=[False, True], ids=["one-way", "two-way"])
def ragged_model(request):
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 3)) for length in rng.integers(1, 12, size=40)]
    y = np.array([x[:, 0].sum() for x in X])
    model = LSTMRegressor(
        hidden_layer_sizes=(6, 5),
        bidirectional=request.param,
        max_iter=3,
        random_state=0,
    )
    return _fit_quietly(model, X, y)


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 15), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_prediction_does_not_depend_on_the_company(ragged_model, lengths, seed):
    """A sequence's prediction is the same alone, in a ragged batch, and in a
    batch of equal-length sequences (float64, 1e-10)."""
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(length, 3)) for length in lengths]
    in_ragged_batch = ragged_model.predict(X)
    alone = np.array([ragged_model.predict([x])[0] for x in X])
    assert_allclose(in_ragged_batch, alone, rtol=1e-10, atol=1e-12)
    for length in set(lengths):
        same_length = np.stack([x for x in X if len(x) == length])
        rows = [i for i, x in enumerate(X) if len(x) == length]
        assert_allclose(
            ragged_model.predict(same_length),
            in_ragged_batch[rows],
            rtol=1e-10,
            atol=1e-12,
        )


def test_padding_is_invisible_to_both_directions():
    # The reverse direction must start at each sequence's own end: appending
    # a longer companion sequence (more padding for the short one) changes
    # nothing for it, while zeros appended to the sequence itself do.
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(length, 2)) for length in (4, 9, 2, 7)]
    model = _fit_quietly(
        LSTMRegressor(
            hidden_layer_sizes=(5,), bidirectional=True, max_iter=2, random_state=0
        ),
        X,
        rng.normal(size=4),
    )
    short = X[0]
    with_companion = model.predict([short, rng.normal(size=(30, 2))])[0]
    assert_allclose(with_companion, model.predict([short])[0], rtol=1e-10)
    zero_padded = np.vstack([short, np.zeros((5, 2))])
    assert abs(model.predict([zero_padded])[0] - with_companion) > 1e-6


def test_ragged_classification_through_model_selection():
    X, y = make_embedded_reber(240, random_state=0)
    assert len({len(x) for x in X}) > 5
    clf = LSTMClassifier(
        hidden_layer_sizes=(16,), batch_size=32, max_iter=15, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(clf, X, y, cv=3)
    assert scores.mean() > 0.9
    search = GridSearchCV(
        LSTMClassifier(batch_size=32, max_iter=8, random_state=0),
        {"hidden_layer_sizes": [(4,), (16,)]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_params_ == {"hidden_layer_sizes": (16,)}
    assert search.score(X, y) > 0.9
    _fit_quietly(clf, X, y)
    assert clf.predict_proba(X[:5]).shape == (5, 2)
    assert clf.score(X, y) > 0.9
    clf.partial_fit(X[:50], y[:50])


def test_object_array_of_sequences_is_ragged_input():
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(length, 2)) for length in (3, 5, 4)]
    X_object = np.empty(3, dtype=object)
    X_object[:] = X
    model = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=(3,), max_iter=1, random_state=0),
        X,
        np.arange(3.0),
    )
    assert_array_equal(model.predict(X_object), model.predict(X))
    # Equal lengths in an object array are sequences too, not one 2-D array.
    same = np.empty(2, dtype=object)
    same[:] = [X[0], X[0] + 1]
    assert_array_equal(model.predict(same), model.predict(np.stack([X[0], X[0] + 1])))
    # So is a pandas Series of sequences (an object column, e.g. per group).
    import pandas as pd

    assert_array_equal(model.predict(pd.Series(X, index=[5, 3, 9])), model.predict(X))
    # And one target per step, as a Series of arrays too.
    steps = [x[:, 0] for x in X]
    per_step = LSTMRegressor(
        hidden_layer_sizes=(3,), max_iter=1, random_state=0, return_sequences=True
    )
    fitted = _fit_quietly(clone(per_step), pd.Series(X), pd.Series(steps))
    assert_array_equal(fitted.weights_, _fit_quietly(per_step, X, steps).weights_)


def test_a_list_is_stored_end_to_end_not_padded():
    """A list of sequences costs its own steps: validation keeps them end to
    end (mixed float32 and float64 items become float64), each sequence is
    found again, and a selection of samples shares the store."""
    from skseq._validation import check_sequences

    rng = np.random.default_rng(16)
    lengths = [3000] + [4] * 999
    X = [rng.normal(size=(n, 16)) for n in lengths]
    X[5] = X[5].astype(np.float32)
    sequences, form = check_sequences(LSTMRegressor(), X)
    assert form.n_features == 16 and sequences.ragged
    assert sequences.data.shape == (sum(lengths), 16)
    assert sequences.data.dtype == np.float64 and sequences.n_timesteps == 3000
    assert_array_equal(sequences.lengths, lengths)
    for i in (0, 1, 5, 999):
        assert_array_equal(sequences.sequence(i), X[i])
    part = sequences.take(np.array([7, 0]))
    assert part.data is sequences.data and part.n_timesteps == 3000
    assert_array_equal(part.sequence(0), X[7])
    assert sequences.take(np.array([7, 1])).n_timesteps == 4


@pytest.mark.parametrize("return_sequences", [False, True])
def test_one_long_sequence_among_many_short_ones(return_sequences):
    """One 10 000-step sequence among 999 five-step ones, 96 features: padded
    to its longest, the list would take 7.7 GB; each block of a prediction
    is padded to its own longest, within the prediction's memory budget.
    Every sequence gets what it gets when predicted alone."""
    rng = np.random.default_rng(17)
    X = [rng.normal(size=(10_000, 96))] + [rng.normal(size=(5, 96)) for _ in range(999)]
    fit_X = [x[:20] for x in X[:30]]
    fit_y = [x[:, 0] for x in fit_X] if return_sequences else rng.normal(size=30)
    model = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                      return_sequences=return_sequences),
        fit_X, fit_y,
    )  # fmt: skip
    tracemalloc.start()  # NumPy reports its arrays' memory to it
    try:
        predictions = model.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 30, f"predict held {peak / 2**30:.1f} GiB at once"
    assert len(predictions) == 1000
    for i in (0, 1, 500, 999):
        alone = model.predict(X[i][None])[0]
        assert_allclose(predictions[i], alone, rtol=1e-12, atol=1e-14)
        if return_sequences:
            assert predictions[i].shape == (len(X[i]),)


def test_bidirectional_reads_what_one_direction_cannot_reach_in_time():
    # The label is the first symbol of a long noisy sequence: the reverse
    # direction reads it last.
    rng = np.random.default_rng(3)
    n, T = 300, 60
    X = rng.normal(size=(n, T, 1))
    y = (X[:, 0, 0] > 0).astype(int)
    X[:, 0, 0] = np.where(y == 1, 2.0, -2.0)
    clf = LSTMClassifier(
        hidden_layer_sizes=(8,),
        bidirectional=True,
        batch_size=32,
        max_iter=10,
        random_state=0,
    )
    _fit_quietly(clf, X[:200], y[:200])
    assert clf.score(X[200:], y[200:]) > 0.95
    weights = clf.lstm_weights_[0]
    assert weights["kernel_reverse"].shape == weights["kernel"].shape == (1, 32)
    assert clf.head_coef_.shape == (16, 1)


def test_dropout_is_reproducible_changes_training_and_is_off_at_predict():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(64, 8, 2))
    y = X[:, :2, 0].sum(axis=1)
    kwargs = dict(hidden_layer_sizes=(6, 6), max_iter=3, random_state=0)
    a = _fit_quietly(LSTMRegressor(dropout=0.3, **kwargs), X, y)
    b = _fit_quietly(LSTMRegressor(dropout=0.3, **kwargs), X, y)
    c = _fit_quietly(LSTMRegressor(dropout=0.0, **kwargs), X, y)
    assert_array_equal(a.weights_, b.weights_)
    assert not np.array_equal(a.weights_, c.weights_)
    assert_array_equal(a.predict(X), a.predict(X))


def test_dropout_masks_are_inverted_and_shared_over_time():
    from skseq._network import LSTMNetwork

    network = LSTMNetwork(2, (50, 40), 1, "tanh", bidirectional=True)
    masks = network.draw_dropout_masks(np.random.RandomState(0), 400, 0.25, np.float64)
    assert masks[0] is None
    assert [m.shape for m in masks[1:]] == [(400, 100), (400, 80)]
    for mask in masks[1:]:
        assert set(np.unique(mask)) == {0.0, 1 / 0.75}
        assert abs(mask.mean() - 1.0) < 0.02  # inverted: expectation 1
    assert network.draw_dropout_masks(np.random.RandomState(0), 4, 0.0, float) is None


def test_layers_of_different_widths_take_their_own_chunks(monkeypatch):
    """A layer of more than WIDE_LAYER units cuts the batch into chunks twice
    as long as a narrower layer's; a stacked, bidirectional fit on ragged
    sequences through both kinds trains as with one chunk per layer (each
    layer's buffers sized for its own chunks)."""
    from skseq import _network

    narrow, wide = 6, _network.WIDE_LAYER + 4
    assert _network.chunk_rows(narrow) == _network.CHUNK_ROWS
    assert _network.chunk_rows(wide) == 2 * _network.CHUNK_ROWS
    rng = np.random.default_rng(7)
    X = [rng.normal(size=(n, 3)) for n in rng.integers(1, 7, size=80)]
    y = rng.normal(size=80)
    params = dict(
        hidden_layer_sizes=(narrow, wide), bidirectional=True, batch_size=80,
        max_iter=2, random_state=0,
    )  # fmt: skip
    chunked = _fit_quietly(LSTMRegressor(**params), X, y)
    monkeypatch.setattr(_network, "chunk_rows", lambda hidden: 1000)
    _network.threads_for.cache_clear()
    try:
        whole = _fit_quietly(LSTMRegressor(**params), X, y)
    finally:
        monkeypatch.undo()
        _network.threads_for.cache_clear()
    assert_allclose(chunked.weights_, whole.weights_, rtol=1e-10, atol=1e-12)
    assert not np.array_equal(chunked.weights_, whole.weights_)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sizes", [(5,), (5, 4)])
def test_predict_buffers_match_training_forward(sizes, bidirectional):
    """predict keeps one gate slot and, in the last layer, two hidden slots;
    its outputs equal those of the training forward with every step kept."""
    from skseq._inference import fill_inputs
    from skseq._validation import check_sequences

    rng = np.random.default_rng(3)
    X = [rng.normal(size=(n, 3)) for n in rng.integers(1, 9, size=23)]
    y = rng.normal(size=23)
    est = LSTMRegressor(
        hidden_layer_sizes=sizes, bidirectional=bidirectional, max_iter=2,
        batch_size=8, random_state=0,
    ).fit(X, y)  # fmt: skip
    sequences, _ = check_sequences(est, X, fitted=est._fitted_input())
    network = est._network
    workspace = network.allocate(23, sequences.n_timesteps, np.float64, True)
    inputs, lengths, order = fill_inputs(workspace, sequences, np.arange(23))
    training_raw = np.empty((23, 1))
    training_raw[order] = network.forward(est.weights_, inputs, lengths, workspace, 1)
    engine = est._inference_engine()
    assert_allclose(engine.forward(sequences), training_raw, rtol=1e-12, atol=1e-14)
    # The regressor's outputs are its standardized outputs scaled back.
    assert_allclose(
        est.predict(X), est._activate(training_raw)[:, 0], rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("bidirectional", [False, True])
def test_predict_in_blocks_matches_one_block(monkeypatch, bidirectional):
    """Under a tiny memory budget predict runs one sequence per block; the
    outputs are those of a single block (each row's arithmetic does not
    depend on the other rows of its block)."""
    import skseq._inference

    rng = np.random.default_rng(4)
    X = [rng.normal(size=(n, 3)) for n in rng.integers(1, 12, size=23)]
    y = rng.integers(0, 3, size=23)
    est = LSTMClassifier(
        hidden_layer_sizes=(6, 5), bidirectional=bidirectional, max_iter=3,
        random_state=0,
    ).fit(X, y)  # fmt: skip
    whole = est.predict_proba(X)
    engine = est._inference_engine()
    n_steps = max(len(x) for x in X)
    assert engine.block_rows(len(X), n_steps) == len(X)
    monkeypatch.setattr(skseq._inference, "PREDICT_MEMORY_BUDGET", 1)
    assert engine.block_rows(len(X), n_steps) == 1  # blocks of one sequence
    in_blocks = est.predict_proba(X)
    assert_allclose(in_blocks, whole, rtol=1e-12, atol=1e-15)


def test_kept_inference_buffers_change_nothing(monkeypatch):
    """Small inference workspaces are kept for later predictions. Predictions
    of other sizes and lengths, in any order, and from several threads at
    once on one estimator, equal those made with fresh buffers every time."""
    from concurrent.futures import ThreadPoolExecutor

    import skseq._inference

    rng = np.random.default_rng(6)
    X = [rng.normal(size=(n, 3)) for n in rng.integers(1, 12, size=30)]
    y = np.array([x[-1, 0] for x in X])
    est = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=(6, 5), max_iter=2, random_state=0), X, y
    )
    queries = [X[:1], X[3:4], X[:7], X[10:11], X, X[5:9], X[2:3]]
    queries += [rng.normal(size=(n, T, 3)) for n, T in [(2, 14), (1, 3), (5, 20)]]
    monkeypatch.setattr(skseq._inference, "KEEP_INFERENCE_BYTES", 0)
    fresh = [est.predict(q) for q in queries]
    assert est._inference_engine().n_kept_workspaces == 0
    monkeypatch.undo()
    kept = [est.predict(q) for q in queries + queries[::-1]]
    assert est._inference_engine().n_kept_workspaces > 0  # small ones were kept
    for got, expected in zip(kept, fresh + fresh[::-1], strict=True):
        assert_array_equal(got, expected)
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(est.predict, queries * 20))
    for got, expected in zip(concurrent, fresh * 20, strict=True):
        assert_array_equal(got, expected)


@pytest.mark.parametrize("hidden_layer_sizes", [(3,), (3, 2)])
def test_kept_inference_buffers_do_not_keep_weights_alive(hidden_layer_sizes):
    """The workspaces an estimator keeps for its predictions (stacked layers;
    a one-layer network's dense prediction uses none) go with it: nothing
    keeps its weights alive once it is gone."""
    import gc
    import weakref

    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(10, 4, 2)), rng.normal(size=10)
    est = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=hidden_layer_sizes, max_iter=1), X, y
    )
    est.predict(X[:2])
    n_kept = est._inference_engine().n_kept_workspaces
    assert bool(n_kept) == (len(hidden_layer_sizes) > 1)
    weights = weakref.ref(est.weights_)
    del est
    gc.collect()
    assert weights() is None


@pytest.mark.parametrize("hidden_layer_sizes", [(3,), (3, 2)])
def test_kept_inference_buffers_do_not_keep_inputs_alive(hidden_layer_sizes):
    """Dense predictions read the caller's array in place; nothing kept after
    the call holds on to it: neither the workspace the estimator keeps for
    later predictions (stacked layers) nor anything of the one-call path of a
    one-layer network, which uses no workspace."""
    import gc
    import weakref

    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(10, 4, 2)), rng.normal(size=10)
    est = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=hidden_layer_sizes, max_iter=1), X, y
    )
    # An array of its own (not a view of X), of the model's dtype so that
    # nothing is converted (copied) first.
    query = X[:3].astype(est.weights_.dtype, copy=True)
    est.predict(query)
    n_kept = est._inference_engine().n_kept_workspaces
    assert bool(n_kept) == (len(hidden_layer_sizes) > 1)
    alive = weakref.ref(query)
    del query
    gc.collect()
    assert alive() is None


@pytest.mark.parametrize("hidden_layer_sizes", [(5,), (5, 4)])
def test_dense_input_read_in_place_predicts_as_the_padded_copy(hidden_layer_sizes):
    """A C-contiguous array of equal-length sequences is read in place; inside
    a ragged batch the same sequences go through the padded copy. Both give
    the same predictions, bit for bit, where skseq's own product kernels run
    (x86-64 with AVX2 or AVX-512): their sums over a row do not depend on the
    other rows of the batch. Where the products are BLAS's (the baseline
    level: other CPUs and compilers), BLAS may block a batch of another size
    differently, and the two agree to a few ulp."""
    rng = np.random.default_rng(9)
    X, y = rng.normal(size=(40, 9, 3)), rng.normal(size=40)
    est = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=hidden_layer_sizes, max_iter=2,
                      random_state=0),
        X, y,
    )  # fmt: skip
    in_place = est.predict(X)
    padded = est.predict(list(X) + [X[0, :4]])[:-1]
    if _dispatch.level() > 0:
        assert_array_equal(in_place, padded)
    else:
        assert_allclose(in_place, padded, rtol=0, atol=8 * np.finfo(float).eps)
    # Also for a float32 model and a non-contiguous view (copied first).
    est32 = _fit_quietly(clone(est), X.astype(np.float32), y)
    assert_array_equal(
        est32.predict(X[:, :, :].astype(np.float32)),
        est32.predict(np.asfortranarray(X.astype(np.float32))),
    )


def test_predictions_follow_weights_changed_after_fit():
    """predict reuses the inference engine fit made for ``weights_``. It
    follows weights changed in place; a ``weights_`` replaced by another
    array, or restored from a pickle, is read itself, never through views of
    an older array: the predictions are those of a copy of the estimator,
    whose engine is made from its weights alone."""
    import copy
    import pickle

    from skseq._inference import InferenceEngine

    rng = np.random.default_rng(9)
    X, y = rng.normal(size=(12, 5, 2)), rng.normal(size=12)
    est = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0), X, y
    )

    def without_kept_views(model):
        return copy.deepcopy(model).predict(X)

    before = est.predict(X)
    est.weights_ *= 0.5
    halved = est.predict(X)
    assert not np.allclose(halved, before)
    assert_array_equal(halved, without_kept_views(est))
    est.weights_ = est.weights_ * 3.0
    tripled = est.predict(X)
    assert not np.allclose(tripled, halved)
    assert_array_equal(tripled, without_kept_views(est))

    state = est.__getstate__()
    assert not any(isinstance(value, InferenceEngine) for value in state.values())
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), tripled)
    restored.weights_ *= 2.0
    doubled = restored.predict(X)
    assert not np.allclose(doubled, tripled)
    assert_array_equal(doubled, without_kept_views(restored))


class _CountingPredictor:
    """Wraps a small-batch predictor, counting the batches it runs and those
    it declines."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.ran = self.declined = 0

    def predict(self, X):
        raw = self.predictor.predict(X)
        if raw is None:
            self.declined += 1
        else:
            self.ran += 1
        return raw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_batches_are_predicted_in_one_call_with_the_same_bits(dtype):
    """A one-layer, one-direction model predicts up to ONE_CHUNK_ROWS
    equal-length sequences of its dtype, C-contiguous, with the small-batch
    predictor of its inference engine: the general path's results, bit
    for bit, for the regressor and the classifier. Other inputs are declined
    and go the general way, as does everything on a CPU without the packed
    kernels. Stacked and bidirectional models have no such predictor."""
    from skseq import _lstm_layer
    from skseq._network import ONE_CHUNK_ROWS

    rng = np.random.default_rng(12)
    X = rng.normal(size=(40, 7, 3)).astype(dtype)
    y = X[:, -2:, 0].sum(axis=1)
    reg = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=(32,), max_iter=2, random_state=0), X, y
    )
    clf = _fit_quietly(
        LSTMClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
        X, np.digitize(y, [-0.5, 0.5]),
    )  # fmt: skip
    other = np.float64 if dtype == np.float32 else np.float32
    cases = [
        (X[:1], True), (X[3:8], True), (X[:ONE_CHUNK_ROWS], True),
        (X[: ONE_CHUNK_ROWS + 1], False), (X[:3].astype(other), False),
        (list(X[:3]), False), (X[:3, ::2], False),
    ]  # fmt: skip
    for est, method in ((reg, "predict"), (clf, "predict_proba"), (clf, "predict")):
        engine = est._inference_engine()
        predictor = engine.small_batch
        assert predictor is not None
        counting = _CountingPredictor(predictor)
        for inputs, runs in cases:
            engine.small_batch = counting
            ran, declined = counting.ran, counting.declined
            got = getattr(est, method)(inputs)
            runs = runs and _lstm_layer.packed_gemm_level() > 0
            assert (counting.ran - ran, counting.declined - declined) == (
                (1, 0) if runs else (0, 1)
            )
            engine.small_batch = None  # the general path
            assert_array_equal(got, getattr(est, method)(inputs))
        engine.small_batch = predictor

    for params in ({"hidden_layer_sizes": (4, 4)}, {"bidirectional": True}):
        est = _fit_quietly(
            LSTMRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
            .set_params(**params),
            X, y,
        )  # fmt: skip
        assert est._inference_engine().small_batch is None


def test_weights_stay_aligned_to_a_cache_line():
    """fit allocates the weights on a 64-byte boundary, where a single
    sequence's pass reads them in place, and unpickling puts them back on
    one; the restored model predicts as the original."""
    import pickle

    import joblib

    rng = np.random.default_rng(13)
    X, y = rng.normal(size=(20, 6, 2)), rng.normal(size=20)
    for dtype in (np.float32, np.float64):
        est = _fit_quietly(
            LSTMRegressor(hidden_layer_sizes=(32,), max_iter=2, random_state=0),
            X.astype(dtype), y,
        )  # fmt: skip
        assert est.weights_.dtype == dtype
        assert est.weights_.ctypes.data % 64 == 0
        est.partial_fit(X.astype(dtype), y)
        assert est.weights_.ctypes.data % 64 == 0
        buffer = io.BytesIO()
        joblib.dump(est, buffer)
        for restored in (
            pickle.loads(pickle.dumps(est)),
            joblib.load(io.BytesIO(buffer.getvalue())),
        ):
            assert restored.weights_.ctypes.data % 64 == 0
            # Unpickling makes the engine again, for the aligned weights.
            engine = restored._inference_engine()
            assert engine is restored._inference_engine()
            assert engine.weights is restored.weights_
            assert engine.small_batch is not None
            assert_array_equal(restored.weights_, est.weights_)
            assert_array_equal(restored.predict(X[:2]), est.predict(X[:2]))


def test_training_buffers_start_on_a_cache_line():
    """The scratch buffers that the kernels stream through (the padded
    inputs, each layer's per-step states and gradients, the backward pass's
    work array) start on a 64-byte boundary, which NumPy alone does not give."""
    from skseq import GRURegressor, RNNRegressor

    rng = np.random.default_rng(14)
    X, y = rng.normal(size=(40, 7, 3)), rng.normal(size=40)
    for Est in (LSTMRegressor, GRURegressor, RNNRegressor):
        for dtype in (np.float32, np.float64):
            est = Est(hidden_layer_sizes=(16, 8), bidirectional=True, batch_size=20,
                      max_iter=1, random_state=0)  # fmt: skip
            est.partial_fit(X.astype(dtype), y)
            workspace = est._workspace[1]
            arrays = [workspace.inputs(20, 8)]
            for flat, directions in workspace._layers:
                arrays += [buffer.array for buffer in flat.values()]
                for state in directions:
                    arrays += [v if k == "work" else v.array for k, v in state.items()]
            assert len(arrays) > 10
            for array in arrays:
                assert array.dtype == dtype
                assert array.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_a_sequence_alone_is_predicted_as_in_a_batch(dtype, activation):
    """A sequence predicted on its own (with 4H a whole number of the packed
    kernels' four-panel groups, the one-sequence pass runs the whole time loop
    in one function) gets the prediction it gets in a batch: with the packed
    kernels the same bits, as every product is summed in one fixed order."""
    from skseq import _lstm_layer

    rng = np.random.default_rng(10)
    X = rng.normal(size=(30, 9, 3)).astype(dtype)
    y = X[:, -3:, 0].sum(axis=1)
    est = _fit_quietly(
        LSTMRegressor(
            hidden_layer_sizes=(32,), activation=activation, max_iter=2, random_state=0
        ),
        X, y,
    )  # fmt: skip
    together = est.predict(X)
    alone = np.concatenate([est.predict(X[j : j + 1]) for j in range(len(X))])
    shorter = np.concatenate([est.predict(X[j : j + 1, :5]) for j in range(4)])
    if _lstm_layer.packed_gemm_level() > 0:
        assert_array_equal(alone, together)
        assert_array_equal(shorter, est.predict(X[:4, :5]))
    else:
        # Through BLAS, one row and a block of rows may sum in other orders.
        assert_allclose(alone, together, rtol=1e-5)
        assert_allclose(shorter, est.predict(X[:4, :5]), rtol=1e-5)


def test_validation_returns_the_input_form_and_writes_nothing():
    """check_sequences returns what it learns about X (features per step,
    2-D or not, the columns of DataFrames) and leaves the estimator as it
    was; fit records it, and later calls are held to it. out_activation_ is
    fitted state of the regressor, set by fit."""
    import pandas as pd

    from skseq._validation import InputForm, check_sequences

    rng = np.random.default_rng(14)
    frames = [
        pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"]) for n in (4, 6, 3)
    ]
    cases = [
        (rng.normal(size=(3, 5, 2)), InputForm(2, False, None)),
        (rng.normal(size=(3, 5)), InputForm(1, True, None)),
        (frames, InputForm(2, False, ["a", "b"])),
    ]
    for X, expected in cases:
        est = LSTMRegressor(hidden_layer_sizes=(3,), max_iter=1)
        assert not hasattr(est, "out_activation_")
        before = dict(est.__dict__)
        _, form = check_sequences(est, X)
        if not expected.tabular:  # scikit-learn's validate_data records 2-D X
            assert est.__dict__ == before
        assert (form.n_features, form.tabular) == expected[:2]
        names = None if form.feature_names is None else list(form.feature_names)
        assert names == expected.feature_names
        _fit_quietly(est, X, np.arange(3.0))
        assert est.out_activation_ == "identity"
        assert est._fitted_input().n_features == expected.n_features
        if names is not None:
            assert list(est.feature_names_in_) == names
        _, again = check_sequences(est, X, fitted=est._fitted_input())
        assert again.n_features == expected.n_features
        with pytest.raises(ValueError, match="features per time step"):
            check_sequences(est, rng.normal(size=(2, 4, 3)), fitted=est._fitted_input())


def test_ragged_items_validate_as_check_array_does():
    """Each sequence of a list is validated as check_array validates it:
    plain finite float arrays (any memory layout, 1-D or 2-D) come back as
    the same values, and every other item, wrong or not, gets check_array's
    result or error, naming the item."""
    from sklearn.utils import check_array

    from skseq._validation import FLOAT_DTYPES, _check_ragged_item

    rng = np.random.default_rng(15)
    base = rng.normal(size=(6, 4))
    fine = [
        base, base.astype(np.float32), np.asfortranarray(base), base[::2], base[:, ::2],
        base[:, 0], base.astype(">f8"), base.astype(int), base.tolist(),
        np.ones((1, 1), dtype=np.float32),
    ]  # fmt: skip
    for dtype in (FLOAT_DTYPES, np.float64):
        for index, item in enumerate(fine):
            got = _check_ragged_item(index, item, dtype, "M")
            want = check_array(item, dtype=dtype, ensure_2d=False, ensure_min_samples=0)
            assert_array_equal(got, want.reshape(len(want), -1))
            assert got.dtype == want.dtype and got.ndim == 2
    wrong = {
        "contains NaN": np.where(base > 1, np.nan, base),
        "contains infinity": np.where(base > 1, np.inf, base).astype(np.float32),
        "zero time steps": np.zeros((0, 4)),
        "0 feature": np.zeros((3, 0)),
        "3 dimensions": np.zeros((2, 2, 2)),
    }
    for message, item in wrong.items():
        with pytest.raises(ValueError, match=message) as error:
            _check_ragged_item(7, item, FLOAT_DTYPES, "M")
        if "contains" in message:
            assert "X[7]" in str(error.value)
