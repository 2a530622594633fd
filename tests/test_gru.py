"""The GRU cell: the compiled layer against the NumPy oracle of
``_gru_reference``, gradients against finite differences (layer and whole
network: stacked, bidirectional, ragged), float32 against float64, thread
counts, and the estimators' determinism, weights and parameters.

Error measure: ``relative_error(a, b) = max|a - b| / max(max|a|, max|b|)``
over a whole array. Output buffers given to the core are filled with NaN, so
a value it fails to write shows up. ``pytest -s`` prints the measured errors.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skseq import GRUClassifier, GRURegressor, LSTMRegressor, _gru_layer, _lstm_layer
from skseq._cells import FIXED_BIAS_MAX_LENGTH
from skseq._network import RecurrentNetwork

from ._finite_differences import finite_difference
from ._gru_reference import gru_layer

ACTIVATION_CODES = {"tanh": 0, "relu": 1}
# Lengths non-increasing in every chunk of 2 rows, some sequences short.
LENGTHS = np.array([6, 6, 5, 2, 4, 1, 3], dtype=np.intp)
# The network's chunks are 16 rows: a batch of one chunk, non-increasing.
NETWORK_LENGTHS = np.sort(LENGTHS)[::-1].copy()
N_IN, HIDDEN = 3, 4


def relative_error(a, b):
    scale = max(np.abs(a).max(), np.abs(b).max())
    return np.abs(a - b).max() / scale if scale > 0 else 0.0


def _layer_problem(seed=0, dtype=np.float64, n_rows=7, lengths=LENGTHS):
    rng = np.random.default_rng(seed)
    T = int(lengths.max())
    X = rng.normal(size=(n_rows, T, N_IN))
    W = 0.5 * rng.normal(size=(N_IN, 3 * HIDDEN))
    U = 0.5 * rng.normal(size=(HIDDEN, 3 * HIDDEN))
    b = 0.3 * rng.normal(size=(2, 3 * HIDDEN))
    # Weights of the test loss sum(h * R), zero past each sequence's end.
    R = rng.normal(size=(n_rows, T, HIDDEN))
    R[np.arange(T)[None, :] >= lengths[:, None]] = 0
    return [a.astype(dtype) for a in (X, W, U, b, R)]


def _padded(X):
    inputs = np.zeros((X.shape[0], X.shape[1] + 1, X.shape[2]), dtype=X.dtype)
    inputs[:, 1:] = X
    return inputs


def _forward(X, W, U, b, lengths, activation, chunk_size=2, n_threads=1):
    B, T, _ = X.shape
    H = U.shape[0]
    gates = np.full((B, T + 1, 3 * H), np.nan, dtype=X.dtype)
    cells = np.full((B, T + 1, H), np.nan, dtype=X.dtype)
    hidden = np.full((B, T + 1, H), np.nan, dtype=X.dtype)
    _gru_layer.gru_forward(
        _padded(X), W, U, b, lengths, gates, cells, hidden,
        ACTIVATION_CODES[activation], chunk_size, n_threads,
    )  # fmt: skip
    return gates, cells, hidden


def _backward(
    X, W, U, b, R, lengths, activation, chunk_size=2, n_threads=1,
    last_steps_only=False,
):  # fmt: skip
    """(dL/dW, dL/dU, dL/db, dL/dX) of sum(h * R) through the core. With
    ``last_steps_only`` the core is told so and gets dL/dh NaN but at each
    sequence's last step."""
    gates, cells, hidden = _forward(X, W, U, b, lengths, activation, chunk_size)
    B, T, n_in = X.shape
    dhidden = np.zeros_like(hidden)
    dhidden[:, 1:] = R
    if last_steps_only:
        rows = np.arange(B)
        last = dhidden[rows, lengths]
        dhidden[:] = np.nan
        dhidden[rows, lengths] = last
    dinputs = np.full((B, T + 1, n_in), np.nan, dtype=X.dtype)
    grads = [np.full_like(a, np.nan) for a in (W, U, b)]
    work = np.empty(
        _gru_layer.backward_workspace_size(B, n_in, U.shape[0], chunk_size),
        dtype=X.dtype,
    )
    _gru_layer.gru_backward(
        _padded(X), W, U, lengths, gates, cells, hidden, dhidden, gates, dinputs,
        *grads, work, ACTIVATION_CODES[activation], chunk_size, n_threads,
        last_steps_only,
    )  # fmt: skip
    return (*grads, dinputs[:, 1:])


# ------------------------------------------------------------------ the layer


@pytest.fixture(params=["packed", "blas"])
def products(request):
    """Both ways of the core's products: the packed kernels where the CPU has
    them, and BLAS with the loops for few rows (level 0)."""
    full = _gru_layer.packed_gemm_level()
    if request.param == "blas":
        _lstm_layer._set_packed_gemm_level(0)
    yield request.param
    _lstm_layer._set_packed_gemm_level(full)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_forward_matches_the_oracle(activation, products):
    X, W, U, b, _ = _layer_problem()
    _, _, hidden = _forward(X, W, U, b, LENGTHS, activation)
    expected = gru_layer(X, LENGTHS, W, U, b, activation)
    error = np.abs(hidden[:, 1:] - expected).max()
    print(f"{activation} {products}: forward max abs error {error:.2e}")
    assert error <= 1e-12
    assert_array_equal(hidden[:, 0], 0)  # the zero slot, and zeros past the end


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_inference_pass_and_predict_give_the_training_pass_bits(activation, products):
    """One gate slot and two alternating state slots (inference), and the
    one-call predict with a dense head, compute the same numbers."""
    lengths = np.full(5, 6, dtype=np.intp)
    X, W, U, b, _ = _layer_problem(n_rows=5, lengths=lengths)
    _, _, hidden = _forward(X, W, U, b, lengths, activation)
    gates1 = np.full((5, 1, 3 * HIDDEN), np.nan)
    cells2 = np.full((5, 2, HIDDEN), np.nan)
    hidden2 = np.full((5, 2, HIDDEN), np.nan)
    code = ACTIVATION_CODES[activation]
    _gru_layer.gru_forward(
        np.ascontiguousarray(X), W, U, b, lengths, gates1, cells2, hidden2, code,
        2, 1, False,
    )  # fmt: skip
    assert_array_equal(hidden2[:, 6 % 2], hidden[:, 6])
    rng = np.random.default_rng(1)
    head, intercept = rng.normal(size=(HIDDEN, 2)), rng.normal(size=2)
    out = np.full((5, 2), np.nan)
    _gru_layer.gru_predict(X, W, U, b, head, intercept, out, code, 2, 1)
    np.testing.assert_allclose(out, hidden[:, 6] @ head + intercept, rtol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_layer_gradients_match_finite_differences(activation, products):
    X, W, U, b, R = _layer_problem()
    grads = _backward(X, W, U, b, R, LENGTHS, activation)

    def loss():
        return float((gru_layer(X, LENGTHS, W, U, b, activation) * R).sum())

    errors = {
        name: relative_error(grad, finite_difference(loss, array))
        for name, grad, array in zip(
            ("W", "U", "b", "X"), grads, (W, U, b, X), strict=True
        )
    }
    print(f"{activation} {products}: layer gradient errors {errors}")
    assert max(errors.values()) <= 1e-6


def test_results_do_not_depend_on_the_thread_count(products):
    lengths = np.array([9, 9, 8, 8, 7, 3, 9, 2, 5, 5, 4, 1, 6], dtype=np.intp)
    lengths = np.concatenate(
        [np.sort(lengths[i : i + 4])[::-1] for i in range(0, len(lengths), 4)]
    )
    X, W, U, b, R = _layer_problem(n_rows=len(lengths), lengths=lengths)
    one = _backward(X, W, U, b, R, lengths, "tanh", chunk_size=4, n_threads=1)
    two = _backward(X, W, U, b, R, lengths, "tanh", chunk_size=4, n_threads=2)
    for a, c in zip(one, two, strict=True):
        assert_array_equal(a, c)
    forward_one = _forward(X, W, U, b, lengths, "tanh", 4, 1)
    forward_two = _forward(X, W, U, b, lengths, "tanh", 4, 2)
    for a, c in zip(forward_one, forward_two, strict=True):
        assert_array_equal(a, c)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_last_steps_only_reads_dhidden_at_the_last_steps_alone(products, n_threads):
    """Told that dL/dh is zero but at each sequence's last step (the head's
    gradient), the layer reads it there alone: NaN elsewhere gives the bits
    that zeros elsewhere give without the flag."""
    lengths = np.array([6, 5, 5, 2, 4, 3, 1], dtype=np.intp)
    X, W, U, b, R = _layer_problem(lengths=lengths)
    rows = np.arange(len(lengths))
    R_last = np.zeros_like(R)
    R_last[rows, lengths - 1] = R[rows, lengths - 1]
    plain = _backward(X, W, U, b, R_last, lengths, "tanh", n_threads=n_threads)
    told = _backward(
        X, W, U, b, R_last, lengths, "tanh", n_threads=n_threads,
        last_steps_only=True,
    )  # fmt: skip
    for a, c in zip(plain, told, strict=True):
        assert_array_equal(a, c)


def test_float32_agrees_with_float64(products):
    """float32 forward and gradients within 1e-5 (relative, norm-wise) of
    float64 for the same numbers."""
    problem = _layer_problem()
    single = _backward(*[a.astype(np.float32) for a in problem], LENGTHS, "tanh")
    double = _backward(*problem, LENGTHS, "tanh")
    for a, c in zip(single, double, strict=True):
        assert a.dtype == np.float32
        assert relative_error(a.astype(np.float64), c) <= 1e-5
    h32 = _forward(*[a.astype(np.float32) for a in problem[:4]], LENGTHS, "tanh")[2]
    h64 = _forward(*problem[:4], LENGTHS, "tanh")[2]
    assert relative_error(h32.astype(np.float64), h64) <= 1e-6


# ---------------------------------------------------------------- the network


def _network_problem(layers, bidirectional, activation, seed=0):
    network = RecurrentNetwork(
        N_IN, layers, 2, activation, bidirectional=bidirectional, cell="gru"
    )
    rng = np.random.default_rng(seed)
    flat = network.initialize(rng, np.float64)
    # Biases away from zero, so that every bias term is tested.
    flat[network.n_penalised :] = 0.3 * rng.normal(
        size=network.n_weights - network.n_penalised
    )
    T = int(NETWORK_LENGTHS.max())
    workspace = network.allocate(len(NETWORK_LENGTHS), T, np.float64, training=True)
    inputs = workspace.inputs(len(NETWORK_LENGTHS), T + 1)
    inputs[:, 1:] = rng.normal(size=(len(NETWORK_LENGTHS), T, N_IN))
    inputs[:, 0] = 0
    for row, length in enumerate(NETWORK_LENGTHS):
        inputs[row, length + 1 :] = 0
    R = rng.normal(size=(len(NETWORK_LENGTHS), 2))
    return network, flat, workspace, inputs, R


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [(4,), (4, 3)])
def test_network_gradients_match_finite_differences(layers, bidirectional, activation):
    """Every weight of a stacked, bidirectional GRU network with its head,
    on ragged sequences."""
    network, flat, workspace, inputs, R = _network_problem(
        layers, bidirectional, activation
    )

    def loss():
        return float(
            (network.forward(flat, inputs, NETWORK_LENGTHS, workspace, 1) * R).sum()
        )

    loss()
    grad = network.backward(
        flat, inputs, NETWORK_LENGTHS, R, workspace, np.empty_like(flat), 1
    ).copy()
    error = relative_error(grad, finite_difference(loss, flat))
    print(f"{layers} bidirectional={bidirectional} {activation}: {error:.2e}")
    assert error <= 1e-6


# -------------------------------------------------------------- estimators


def _data(n=40, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, 2))
    return X, X[:, :2, 0].sum(axis=1)


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def test_same_random_state_same_model():
    X, y = _data()
    params = dict(hidden_layer_sizes=(5, 3), bidirectional=True, max_iter=3)
    first = _fit(GRURegressor(**params, random_state=0), X, y)
    second = _fit(GRURegressor(**params, random_state=0), X, y)
    other = _fit(GRURegressor(**params, random_state=1), X, y)
    assert_array_equal(first.weights_, second.weights_)
    assert_array_equal(first.predict(X), second.predict(X))
    assert not np.array_equal(first.weights_, other.weights_)


def test_gru_weights_are_keras_layout_views_with_documented_init():
    # Sequences longer than FIXED_BIAS_MAX_LENGTH: length-aware z biases.
    X, y = _data(T=FIXED_BIAS_MAX_LENGTH + 8)
    model = GRURegressor(hidden_layer_sizes=(5, 4), max_iter=1, random_state=0)
    model.set_params(learning_rate_init=1e-12)  # the weights barely move
    _fit(model, X, y)
    first, second = model.gru_weights_
    assert first["kernel"].shape == (2, 15)
    assert first["recurrent_kernel"].shape == (5, 15)
    assert first["bias"].shape == (2, 15)
    assert second["kernel"].shape == (5, 12)
    assert model.head_coef_.shape == (4, 1)
    assert model.head_intercept_.shape == (1,)
    for layer, hidden in ((first, 5), (second, 4)):
        rows = layer["recurrent_kernel"]
        np.testing.assert_allclose(rows @ rows.T, np.eye(hidden), atol=1e-6)
        # The update gate's input bias starts from chrono draws log(u), u in
        # [1, T - 1] for the longest training sequence T; every other at 0.
        z_bias = layer["bias"][0, :hidden]
        longest = max(len(sequence) for sequence in X)
        assert np.all(z_bias > -1e-6)
        assert np.all(z_bias < np.log(longest - 1) + 1e-6)
        assert np.ptp(z_bias) > 0.01
        np.testing.assert_allclose(layer["bias"][0, hidden:], 0, atol=1e-6)
        np.testing.assert_allclose(layer["bias"][1], 0, atol=1e-6)
        limit = np.sqrt(6 / sum(layer["kernel"].shape))
        assert np.abs(layer["kernel"]).max() <= limit + 1e-6
        assert np.shares_memory(layer["kernel"], model.weights_)


@pytest.mark.parametrize("length", [1, 6, FIXED_BIAS_MAX_LENGTH])
def test_gru_update_gate_biases_are_fixed_on_short_sequences(length):
    """Up to FIXED_BIAS_MAX_LENGTH steps the update gates' input biases start
    at 1.0 and every other bias at 0, and the kernels are those of a fit on
    longer sequences (biases are drawn last)."""
    X, y = _data(T=length)
    params = dict(hidden_layer_sizes=(5, 4), max_iter=1, random_state=0)
    short = _fit(GRURegressor(**params, learning_rate_init=1e-12), X, y)
    X_long, y_long = _data(T=FIXED_BIAS_MAX_LENGTH + 1)
    long = _fit(GRURegressor(**params, learning_rate_init=1e-12), X_long, y_long)
    for layer, other in zip(short.gru_weights_, long.gru_weights_, strict=True):
        hidden = len(layer["recurrent_kernel"])
        np.testing.assert_allclose(layer["bias"][0, :hidden], 1.0, atol=1e-9)
        np.testing.assert_allclose(layer["bias"][0, hidden:], 0, atol=1e-9)
        np.testing.assert_allclose(layer["bias"][1], 0, atol=1e-9)
        assert np.ptp(other["bias"][0, :4]) > 0.01
        np.testing.assert_allclose(layer["kernel"], other["kernel"], atol=1e-9)


def test_no_lstm_only_parameter():
    for cls in (GRURegressor, GRUClassifier):
        assert "forget_bias" not in cls().get_params()
        assert "forget_bias :" not in cls.__doc__  # no such parameter entry
        assert not hasattr(cls(), "lstm_weights_")
    assert "forget_bias" in LSTMRegressor().get_params()


def test_classifier_learns_the_early_steps():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 12, 1))
    y = (X[:, :3, 0].sum(axis=1) > 0).astype(int)
    clf = GRUClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    _fit(clf, X, y)
    assert clf.score(X, y) > 0.85  # chance is 0.5
    assert clf.predict_proba(X).shape == (200, 2)
