"""What every cell shares: the network's layout of its weights, its
initialisation, its gradients, and the estimators built on it (one regressor
and one classifier per cell, with the shared logic)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skseq import RNNClassifier, RNNRegressor
from skseq._cells import CELLS, FIXED_BIAS_MAX_LENGTH
from skseq._estimators import BaseRecurrentClassifier, BaseRecurrentRegressor
from skseq._network import RecurrentNetwork

from ._estimators import CELL_ESTIMATORS


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_network_layout_is_views_of_one_array(name, bidirectional):
    cell = CELLS[name]
    n_dir = 2 if bidirectional else 1
    network = RecurrentNetwork(3, (5, 4), 2, "tanh", bidirectional, cell=name)
    flat = np.arange(network.n_weights, dtype=float)
    layers, head_coef, head_intercept = network.unpack(flat)
    units = [unit for directions in layers for unit in directions]
    assert len(units) == 2 * n_dir
    for unit, (n_in, hidden) in zip(
        units, [(3, 5)] * n_dir + [(5 * n_dir, 4)] * n_dir, strict=True
    ):
        G = cell.n_gates * hidden
        assert unit.kernel.shape == (n_in, G)
        assert unit.recurrent_kernel.shape == (hidden, G)
        assert unit.bias.shape == cell.bias_shape(hidden)
        assert unit.bias.size == cell.bias_rows * G
    pieces = [p for unit in units for p in (unit.kernel, unit.recurrent_kernel)]
    pieces += [head_coef] + [unit.bias for unit in units] + [head_intercept]
    assert sum(p.size for p in pieces) == network.n_weights
    assert all(np.shares_memory(p, flat) for p in pieces)
    # The penalised weights (kernels, head coef) come first.
    assert network.n_penalised == sum(p.size for p in pieces[: 2 * len(units) + 1])


def test_initial_biases_are_the_cells_own():
    rng = np.random.default_rng(0)
    lstm = RecurrentNetwork(3, (5,), 1, "tanh", cell="lstm")
    ((unit,),), _, _ = lstm.unpack(lstm.initialize(rng, np.float64, forget_bias=2.0))
    assert np.all(unit.bias[5:10] == 2.0)
    assert np.all(np.delete(unit.bias, np.s_[5:10]) == 0)
    auto = lstm.unpack(lstm.initialize(rng, np.float64, "auto", max_length=50))
    ((unit,),), _, _ = auto
    # Chrono: forget gates log(u), u in [1, 49], input gates their negatives.
    assert np.all((unit.bias[5:10] >= 0) & (unit.bias[5:10] <= np.log(49)))
    assert np.ptp(unit.bias[5:10]) > 0
    assert_array_equal(unit.bias[:5], -unit.bias[5:10])
    assert np.all(unit.bias[10:] == 0)
    gru = RecurrentNetwork(3, (5,), 1, "tanh", cell="gru")
    ((unit,),), _, _ = gru.unpack(gru.initialize(rng, np.float64, max_length=50))
    # The update gate keeps the state (z = 1 keeps h): chrono draws, as they
    # are; the reset gate and the recurrent row start at 0.
    z_bias = unit.bias[0, :5]
    assert np.all((z_bias >= 0) & (z_bias <= np.log(49)))
    assert np.ptp(z_bias) > 0
    assert np.all(unit.bias[0, 5:] == 0)
    assert np.all(unit.bias[1] == 0)
    rnn = RecurrentNetwork(3, (5,), 1, "tanh", cell="rnn")
    ((unit,),), _, _ = rnn.unpack(rnn.initialize(rng, np.float64, max_length=50))
    assert np.all(unit.bias == 0)
    # Up to FIXED_BIAS_MAX_LENGTH steps the gates keep their fixed biases.
    short = lstm.initialize(rng, np.float64, "auto", max_length=FIXED_BIAS_MAX_LENGTH)
    ((unit,),), _, _ = lstm.unpack(short)
    assert np.all(unit.bias[5:10] == 1.0)
    assert np.all(np.delete(unit.bias, np.s_[5:10]) == 0)
    short = gru.initialize(rng, np.float64, max_length=FIXED_BIAS_MAX_LENGTH)
    ((unit,),), _, _ = gru.unpack(short)
    assert np.all(unit.bias[0, :5] == 1.0)
    assert np.all(unit.bias[0, 5:] == 0) and np.all(unit.bias[1] == 0)


def test_every_cell_has_a_regressor_and_a_classifier():
    """Each cell's estimators subclass the shared regressor and classifier
    (their logic in one place, not copied) and add their cell."""
    assert set(CELL_ESTIMATORS) == set(CELLS)
    for name, (regressor, classifier) in CELL_ESTIMATORS.items():
        assert regressor._cell == classifier._cell == name
        assert issubclass(regressor, BaseRecurrentRegressor)
        assert issubclass(classifier, BaseRecurrentClassifier)
        assert regressor.fit is BaseRecurrentRegressor.fit
        assert classifier.predict_proba is BaseRecurrentClassifier.predict_proba


def test_rnn_estimators_fit_with_keras_layout_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5, 2))
    y = X[:, -2:, 0].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RNNRegressor(hidden_layer_sizes=(6, 4), max_iter=3, random_state=0)
        model.fit(X, y)
        clf = RNNClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
        clf.fit([x[: 2 + i % 4] for i, x in enumerate(X)], y > 0)
    first, second = model.rnn_weights_
    assert first["kernel"].shape == (2, 6)
    assert first["recurrent_kernel"].shape == (6, 6)
    assert first["bias"].shape == (6,)
    assert second["kernel"].shape == (6, 4)
    assert model.predict(X).shape == (40,)
    assert clf.predict_proba(X).shape == (40, 2)
    assert "forget_bias" not in model.get_params()


@pytest.mark.parametrize("name", sorted(CELLS))
def test_activation_codes_follow_the_layer_module(name):
    cell = CELLS[name]
    assert cell.activations == {
        "tanh": cell.layer.ACTIVATION_TANH,
        "relu": cell.layer.ACTIVATION_RELU,
    }
    assert cell.gate_width(7) == 7 * cell.n_gates


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_network_gradients_match_finite_differences(name, bidirectional, activation):
    """Every weight of a two-layer network of each cell with its head, on
    ragged sequences, against central differences (relative error <= 1e-6)."""
    rng = np.random.default_rng(0)
    network = RecurrentNetwork(3, (4, 3), 2, activation, bidirectional, cell=name)
    params = {"forget_bias": 1.0} if name == "lstm" else {}
    flat = network.initialize(rng, np.float64, **params)
    flat[network.n_penalised :] = 0.3 * rng.normal(
        size=network.n_weights - network.n_penalised
    )
    lengths = np.array([6, 5, 5, 3, 1], dtype=np.intp)
    workspace = network.allocate(5, 6, np.float64, training=True)
    inputs = workspace.inputs(5, 7)
    inputs[...] = 0
    inputs[:, 1:] = rng.normal(size=(5, 6, 3))
    for row, length in enumerate(lengths):
        inputs[row, length + 1 :] = 0
    R = rng.normal(size=(5, 2))

    def loss():
        return float((network.forward(flat, inputs, lengths, workspace, 1) * R).sum())

    loss()
    grad = network.backward(flat, inputs, lengths, R, workspace, np.empty_like(flat), 1)
    grad = grad.copy()
    numeric = np.zeros_like(flat)
    for index in range(flat.size):
        old = flat[index]
        flat[index] = old + 1e-6
        up = loss()
        flat[index] = old - 1e-6
        down = loss()
        flat[index] = old
        numeric[index] = (up - down) / 2e-6
    error = np.abs(grad - numeric).max() / np.abs(numeric).max()
    print(f"{name} bidirectional={bidirectional} {activation}: {error:.2e}")
    assert error <= 1e-6


def test_every_cell_runs_the_one_shared_kernel_table():
    """The cells' row kernels are entries of the one table of skseq._dispatch:
    a level forced there moves every layer module, none keeps its own."""
    from skseq import _dispatch, _gru_layer, _lstm_layer, _rnn_layer

    detected = _dispatch.detected_level()
    try:
        for level in range(detected + 1):
            assert _lstm_layer._set_packed_gemm_level(level) == level
            assert _gru_layer.packed_gemm_level() == level
            assert _rnn_layer.packed_gemm_level() == level
            assert _dispatch.level() == level
    finally:
        _dispatch._set_level(detected)
    assert not hasattr(_gru_layer, "_set_packed_gemm_level")
    assert not hasattr(_rnn_layer, "_set_packed_gemm_level")


def _subnormal(dtype):
    """A positive subnormal number of ``dtype``: the smallest normal / 2**10."""
    return np.finfo(dtype).smallest_normal / 2**10


def _thread_keeps_subnormals(dtype):
    """Whether arithmetic on this thread still produces subnormal numbers (the
    core must give the caller's floating-point mode back)."""
    half = np.asarray(np.finfo(dtype).smallest_normal, dtype=dtype) / dtype(2)
    return bool(half != 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_core_counts_subnormal_numbers_as_zero(name, dtype):
    """Values below the smallest normal number are zeros inside the time loops
    and the streaming step (flush-to-zero and denormals-are-zero: on x86 every
    operation on one otherwise runs a slow microcode assist), and the calling
    thread's mode is given back.

    With zero biases, inputs that are all subnormal would give subnormal
    states, and a subnormal gradient at the output subnormal kernel
    gradients; counted as zeros, both are exactly zero."""
    assert _thread_keeps_subnormals(dtype)
    rng = np.random.default_rng(0)
    tiny = _subnormal(dtype)
    network = RecurrentNetwork(3, (4,), 2, "tanh", cell=name)
    params = {"forget_bias": 1.0} if name == "lstm" else {}
    flat = network.initialize(rng, dtype, **params)
    flat[network.n_penalised :] = 0  # the biases and the head's intercept
    unpacked = network.unpack(flat)
    ((unit,),), head_coef, _ = unpacked
    assert np.all(unit.kernel != 0) and np.all(head_coef != 0)
    n_rows, n_steps = 5, 40
    lengths = np.full(n_rows, n_steps, dtype=np.intp)
    workspace = network.allocate(n_rows, n_steps, dtype, training=True)
    inputs = workspace.inputs(n_rows, n_steps + 1)
    inputs[...] = 0
    inputs[:, 1:] = tiny

    outputs = network.forward(flat, inputs, lengths, workspace, 2)
    assert_array_equal(outputs, 0)
    assert _thread_keeps_subnormals(dtype)

    # Normal inputs, a subnormal gradient at the outputs: the layer's pass back
    # through time sees subnormal gradients only.
    inputs[:, 1:] = rng.normal(size=(n_rows, n_steps, 3))
    network.forward(flat, inputs, lengths, workspace, 2)
    d_outputs = np.full((n_rows, 2), tiny, dtype=dtype)
    grad = network.backward(
        flat, inputs, lengths, d_outputs, workspace, np.empty_like(flat), 2
    )
    ((grad_unit,),), _, _ = network.unpack(grad)
    assert_array_equal(grad_unit.kernel, 0)
    assert_array_equal(grad_unit.recurrent_kernel, 0)
    assert _thread_keeps_subnormals(dtype)

    # One streaming step from a subnormal state with zero inputs.
    state = [
        tuple(np.full((n_rows, 4), tiny, dtype=dtype) for _ in CELLS[name].state_names)
    ]
    x = np.zeros((n_rows, 3), dtype=dtype)
    raw, new_state = network.step(unpacked, x, state)
    for array in new_state[0]:
        assert_array_equal(array, 0)
    assert_array_equal(raw, 0)
    assert _thread_keeps_subnormals(dtype)
