"""Tests of the compiled LSTM core against the NumPy reference in ``_reference``.

Error measures used throughout:

- ``relative_error(a, b) = max|a - b| / max(max|a|, max|b|)`` over a whole array
  (a norm-wise measure: entries much smaller than the array's largest are judged
  on an absolute scale, which is what finite differences and reordered sums can
  promise);
- elementwise comparisons use ``assert_allclose`` with the stated ``rtol`` and an
  ``atol`` far below the array's scale, for entries that are near zero.

Buffers given to the core are in its "padded time" layout ``(B, T + 1, width)``,
slot 0 holding the initial state and slot ``t`` step ``t``. Output buffers are
filled with NaN before each call, so a value the core fails to write shows up.
Every run prints its measured errors (``pytest -s`` shows them).
"""

import ctypes
import ctypes.util
import importlib
import platform
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from ._finite_differences import finite_difference
from ._reference import (
    loss,
    loss_and_grad,
    reference_backward,
    reference_forward,
    reference_preactivations,
    stack_forward,
    step_mask,
)

ACTIVATION_CODES = {"tanh": 0, "relu": 1}
PARAMETER_NAMES = ("kernel", "recurrent_kernel", "bias")
N_SAMPLES, N_TIMESTEPS, N_IN = 7, 5, 3
# Hidden sizes of the layers of a stack; different sizes catch mixed-up shapes.
STACK_SIZES = {1: (4,), 2: (4, 3)}
# Pre-activations of relu (candidate z_g and cell c) stay at least this far from
# the kink, so that a finite-difference step never crosses it.
RELU_MARGIN = 1e-3


@pytest.fixture(scope="module")
def core():
    # Imported here rather than at module level so that the reference's own
    # tests still run while the extension is not built.
    return importlib.import_module("skseq._lstm_layer")


@pytest.fixture(scope="module")
def numerics():
    return importlib.import_module("skseq._numerics")


@pytest.fixture(scope="module")
def layout():
    return importlib.import_module("skseq._layout")


def relative_error(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)


def report(label, errors):
    """Print the measured errors of one test case and return the largest."""
    text = ", ".join(f"{name} {err:.1e}" for name, err in errors.items())
    print(f"\n[{label}] {text}")
    return max(errors.values())


# --------------------------------------------------------------------------
# Test problems


def _lengths(rng, kind, n_samples, n_timesteps):
    if kind == "dense":
        return np.full(n_samples, n_timesteps, dtype=np.intp)
    # Ragged, longest first, so the rows of any chunk have non-increasing
    # lengths; both extremes (1 and T) always occur.
    lengths = np.sort(rng.integers(1, n_timesteps + 1, size=n_samples))[::-1]
    lengths[0] = n_timesteps
    lengths[-1] = 1
    return np.ascontiguousarray(lengths, dtype=np.intp)


def _relu_margin(X, lengths, layers):
    """Smallest |z_g| and |c| over the valid steps of every layer of the stack.

    A cell state that is exactly 0 is left out: it is 0 because c_{t-1} = 0 and
    g_t = relu(z_g) = 0 with z_g already checked to be clear of the kink, so it
    stays exactly 0 under a small perturbation.
    """
    mask = step_mask(lengths, X.shape[1])
    margin = np.inf
    inputs = X
    for W_x, W_h, b in layers:
        n_hidden = W_h.shape[0]
        z = reference_preactivations(inputs, lengths, W_x, W_h, b, "relu")
        _, cells, hidden = reference_forward(inputs, lengths, W_x, W_h, b, "relu")
        z_g = z[:, :, 2 * n_hidden : 3 * n_hidden]
        cells = cells[mask]
        margin = min(
            margin, np.min(np.abs(z_g[mask])), np.min(np.abs(cells[cells != 0]))
        )
        inputs = hidden
    return margin


def make_problem(
    seed,
    activation="tanh",
    lengths_kind="ragged",
    n_layers=1,
    n_samples=N_SAMPLES,
    n_timesteps=N_TIMESTEPS,
    n_in=N_IN,
    sizes=None,
):
    """Float64 inputs ``X`` (zero past lengths), lengths, layers and loss weights ``R``.

    For relu the first seed from ``seed`` on whose pre-activations keep
    ``RELU_MARGIN`` away from the kink is used (deterministic).
    """
    sizes = STACK_SIZES[n_layers] if sizes is None else sizes
    for attempt in range(1000):
        rng = np.random.default_rng(seed + attempt)
        lengths = _lengths(rng, lengths_kind, n_samples, n_timesteps)
        mask = step_mask(lengths, n_timesteps)
        X = rng.normal(size=(n_samples, n_timesteps, n_in)) * mask[:, :, np.newaxis]
        layers = []
        n_prev = n_in
        for n_hidden in sizes:
            kernel = rng.normal(scale=0.6, size=(n_prev, 4 * n_hidden))
            recurrent_kernel = rng.normal(scale=0.6, size=(n_hidden, 4 * n_hidden))
            bias = rng.normal(scale=0.5, size=4 * n_hidden)
            layers.append((kernel, recurrent_kernel, bias))
            n_prev = n_hidden
        R = rng.normal(size=(n_samples, n_timesteps, sizes[-1])) * mask[:, :, None]
        if activation != "relu" or _relu_margin(X, lengths, layers) > RELU_MARGIN:
            return X, lengths, layers, R
    raise RuntimeError("no seed keeps relu pre-activations away from 0")


# --------------------------------------------------------------------------
# Calling the core


def pad(array, dtype=np.float64):
    """(B, T, n) -> (B, T + 1, n) with a zero slot 0."""
    n_samples, n_timesteps, width = array.shape
    padded = np.zeros((n_samples, n_timesteps + 1, width), dtype=dtype)
    padded[:, 1:] = array
    return padded


def cast_layers(layers, dtype):
    return [
        tuple(np.ascontiguousarray(w, dtype=dtype) for w in layer) for layer in layers
    ]


def core_forward(core, inputs, layer, lengths, activation, chunk_size, n_threads):
    kernel, recurrent_kernel, bias = layer
    n_samples, n_slots, _ = inputs.shape
    n_hidden = recurrent_kernel.shape[0]
    dtype = inputs.dtype
    gates = np.full((n_samples, n_slots, 4 * n_hidden), np.nan, dtype=dtype)
    cells = np.full((n_samples, n_slots, n_hidden), np.nan, dtype=dtype)
    hidden = np.full((n_samples, n_slots, n_hidden), np.nan, dtype=dtype)
    core.lstm_forward(
        inputs,
        kernel,
        recurrent_kernel,
        bias,
        lengths,
        gates,
        cells,
        hidden,
        ACTIVATION_CODES[activation],
        chunk_size,
        n_threads,
    )
    return gates, cells, hidden


def core_backward(
    core,
    inputs,
    layer,
    lengths,
    state,
    dhidden,
    activation,
    chunk_size,
    n_threads,
    with_dinputs=True,
):
    """Returns a dict like the reference's, every array in the padded layout."""
    kernel, recurrent_kernel, _ = layer
    gates, cells, hidden = state
    n_samples, n_slots, n_in = inputs.shape
    n_hidden = recurrent_kernel.shape[0]
    dtype = inputs.dtype
    grads = {
        "kernel": np.full(kernel.shape, np.nan, dtype=dtype),
        "recurrent_kernel": np.full(recurrent_kernel.shape, np.nan, dtype=dtype),
        "bias": np.full(4 * n_hidden, np.nan, dtype=dtype),
        "inputs": (
            np.full((n_samples, n_slots, n_in), np.nan, dtype=dtype)
            if with_dinputs
            else None
        ),
        "dgates": np.full((n_samples, n_slots, 4 * n_hidden), np.nan, dtype=dtype),
    }
    work_size = core.backward_workspace_size(n_samples, n_in, n_hidden, chunk_size)
    work = np.full(work_size, np.nan, dtype=dtype)
    core.lstm_backward(
        inputs,
        kernel,
        recurrent_kernel,
        lengths,
        gates,
        cells,
        hidden,
        dhidden,
        grads["dgates"],
        grads["inputs"],
        grads["kernel"],
        grads["recurrent_kernel"],
        grads["bias"],
        work,
        ACTIVATION_CODES[activation],
        chunk_size,
        n_threads,
    )
    return grads


def core_stack_forward(core, X, lengths, layers, activation, chunk_size, n_threads):
    """Per layer: (padded inputs, (gates, cells, hidden)). ``layers`` already cast."""
    dtype = layers[0][0].dtype
    inputs = pad(X, dtype)
    trace = []
    for layer in layers:
        state = core_forward(
            core, inputs, layer, lengths, activation, chunk_size, n_threads
        )
        trace.append((inputs, state))
        inputs = state[2]
    return trace


def core_loss(core, X, lengths, layers, R, activation, chunk_size, n_threads):
    trace = core_stack_forward(
        core, X, lengths, layers, activation, chunk_size, n_threads
    )
    top_hidden = trace[-1][1][2][:, 1:]
    mask = step_mask(lengths, X.shape[1])
    return float(np.sum(R[mask] * top_hidden[mask]))


def core_loss_and_grad(core, X, lengths, layers, R, activation, chunk_size, n_threads):
    """The test loss through the core: (layer grads, dL/dX (B, T, n_in), trace)."""
    dtype = layers[0][0].dtype
    trace = core_stack_forward(
        core, X, lengths, layers, activation, chunk_size, n_threads
    )
    dhidden = pad(R, dtype)
    layer_grads = [None] * len(layers)
    for k in reversed(range(len(layers))):
        inputs, state = trace[k]
        layer_grads[k] = core_backward(
            core,
            inputs,
            layers[k],
            lengths,
            state,
            dhidden,
            activation,
            chunk_size,
            n_threads,
        )
        # dL/dx of this layer is dL/dh of the layer below (its slot 0 ignored).
        dhidden = layer_grads[k]["inputs"]
    return layer_grads, dhidden[:, 1:], trace


def assert_zero_past_lengths(array, lengths):
    """``array`` in the padded layout is exactly zero at slots past each length."""
    for j, n in enumerate(lengths):
        assert_array_equal(array[j, n + 1 :], 0)


# --------------------------------------------------------------------------
# The reference against finite differences


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_reference_gradients_match_finite_differences(activation, n_layers):
    X, lengths, layers, R = make_problem(0, activation, "ragged", n_layers)
    layers = [tuple(np.array(w) for w in layer) for layer in layers]

    def f():
        return loss(X, lengths, layers, R, activation)

    _, layer_grads, dX = loss_and_grad(X, lengths, layers, R, activation)
    errors = {}
    for k, (layer, grads) in enumerate(zip(layers, layer_grads, strict=True)):
        for name, weights in zip(PARAMETER_NAMES, layer, strict=True):
            errors[f"L{k + 1}.{name}"] = relative_error(
                grads[name], finite_difference(f, weights)
            )
    errors["inputs"] = relative_error(dX, finite_difference(f, X))
    worst = report(f"reference vs FD, {activation}, {n_layers} layer(s)", errors)
    assert worst <= 1e-6


def test_reference_ignores_steps_past_lengths():
    X, lengths, layers, R = make_problem(1, "tanh", "ragged", 2)
    rng = np.random.default_rng(11)
    mask = step_mask(lengths, X.shape[1])
    X_noisy = np.where(mask[:, :, None], X, rng.normal(scale=5, size=X.shape))
    R_noisy = np.where(mask[:, :, None], R, rng.normal(size=R.shape))

    value, layer_grads, dX = loss_and_grad(X, lengths, layers, R, "tanh")
    value_noisy, layer_grads_noisy, dX_noisy = loss_and_grad(
        X_noisy, lengths, layers, R_noisy, "tanh"
    )
    assert value == value_noisy
    for grads, grads_noisy in zip(layer_grads, layer_grads_noisy, strict=True):
        for name in PARAMETER_NAMES + ("inputs", "dgates"):
            assert_array_equal(grads[name], grads_noisy[name])
    assert_array_equal(dX, dX_noisy)
    assert_array_equal(dX[~mask], 0)
    for hidden in stack_forward(X_noisy, lengths, layers, "tanh"):
        assert_array_equal(hidden[~mask], 0)


# --------------------------------------------------------------------------
# The core against the reference


def test_backward_workspace_size(core):
    for n_samples, n_in, n_hidden, chunk_size in [
        (7, 3, 4, 3),
        (7, 3, 4, 7),
        (1, 1, 1, 5),
    ]:
        n_chunks = -(-n_samples // chunk_size)
        expected = (
            n_chunks * (n_in + n_hidden + 1) * 4 * n_hidden + 2 * n_samples * n_hidden
        )
        assert (
            core.backward_workspace_size(n_samples, n_in, n_hidden, chunk_size)
            == expected
        )


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("chunk_size", [1, 3, N_SAMPLES])
@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_matches_reference(
    core, dtype, activation, lengths_kind, chunk_size, n_threads
):
    X, lengths, layers, _ = make_problem(2, activation, lengths_kind)
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    gates, cells, hidden = core_forward(
        core, inputs, layer, lengths, activation, chunk_size, n_threads
    )
    # Reference in float64 on exactly the values the core saw.
    ref_gates, ref_cells, ref_hidden = reference_forward(
        inputs[:, 1:], lengths, *layer, activation
    )
    mask = step_mask(lengths, X.shape[1])
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (1e-5, 1e-6)

    assert_array_equal(hidden[:, 0], 0)
    assert_array_equal(cells[:, 0], 0)
    assert_zero_past_lengths(hidden, lengths)
    assert_zero_past_lengths(cells, lengths)
    assert_allclose(hidden[:, 1:], ref_hidden, rtol=rtol, atol=atol)
    assert_allclose(cells[:, 1:], ref_cells, rtol=rtol, atol=atol)
    # Gates past a sequence's length carry no meaning.
    assert_allclose(gates[:, 1:][mask], ref_gates[mask], rtol=rtol, atol=atol)
    report(
        f"forward vs reference, {np.dtype(dtype).name}, {activation}, {lengths_kind}, "
        f"chunk {chunk_size}, {n_threads} thread(s)",
        {
            "gates": relative_error(gates[:, 1:][mask], ref_gates[mask]),
            "cells": relative_error(cells[:, 1:], ref_cells),
            "hidden": relative_error(hidden[:, 1:], ref_hidden),
        },
    )


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("chunk_size", [1, 3, N_SAMPLES])
@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_matches_reference(
    core, dtype, activation, lengths_kind, chunk_size, n_threads
):
    X, lengths, layers, R = make_problem(3, activation, lengths_kind)
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    dhidden = pad(R, dtype)
    state = core_forward(
        core, inputs, layer, lengths, activation, chunk_size, n_threads
    )
    grads = core_backward(
        core, inputs, layer, lengths, state, dhidden, activation, chunk_size, n_threads
    )
    ref = reference_backward(inputs[:, 1:], lengths, *layer, dhidden[:, 1:], activation)
    mask = step_mask(lengths, X.shape[1])

    errors = {name: relative_error(grads[name], ref[name]) for name in PARAMETER_NAMES}
    errors["inputs"] = relative_error(grads["inputs"][:, 1:], ref["inputs"])
    errors["dgates"] = relative_error(grads["dgates"][:, 1:][mask], ref["dgates"][mask])
    worst = report(
        f"backward vs reference, {np.dtype(dtype).name}, {activation}, "
        f"{lengths_kind}, chunk {chunk_size}, {n_threads} thread(s)",
        errors,
    )
    assert worst <= (1e-10 if dtype == np.float64 else 1e-5)
    assert np.all(np.isfinite(grads["inputs"][:, 0]))
    # Past its length a sequence's inputs have no influence on the loss.
    assert_zero_past_lengths(grads["inputs"], lengths)


@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_core_gradients_match_finite_differences(core, activation, n_layers):
    """Gradients of the core checked against differences of the core's own loss,
    and against the reference, through a stack of layers."""
    X, lengths, layers, R = make_problem(4, activation, "ragged", n_layers)
    layers = cast_layers(layers, np.float64)
    X = np.ascontiguousarray(X)
    # One thread: results do not depend on it (tested below), and an OpenMP team
    # per call for ~1500 calls is slow on a loaded machine.
    chunk_size, n_threads = 3, 1

    def f():
        return core_loss(core, X, lengths, layers, R, activation, chunk_size, n_threads)

    layer_grads, dX, _ = core_loss_and_grad(
        core, X, lengths, layers, R, activation, chunk_size, n_threads
    )
    _, ref_layer_grads, ref_dX = loss_and_grad(X, lengths, layers, R, activation)

    fd_errors, ref_errors = {}, {}
    for k, layer in enumerate(layers):
        for name, weights in zip(PARAMETER_NAMES, layer, strict=True):
            label = f"L{k + 1}.{name}"
            fd_errors[label] = relative_error(
                layer_grads[k][name], finite_difference(f, weights)
            )
            ref_errors[label] = relative_error(
                layer_grads[k][name], ref_layer_grads[k][name]
            )
    fd_errors["inputs"] = relative_error(dX, finite_difference(f, X))
    ref_errors["inputs"] = relative_error(dX, ref_dX)
    case = f"{activation}, {n_layers} layer(s)"
    assert report(f"core vs FD, {case}", fd_errors) <= 1e-6
    assert report(f"core vs reference (stack), {case}", ref_errors) <= 1e-10


@pytest.mark.parametrize("chunk_size", [1, 2, 3, N_SAMPLES + 3])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_chunked_matches_single_chunk(core, activation, chunk_size):
    X, lengths, layers, R = make_problem(5, activation, "ragged", 2)
    layers = cast_layers(layers, np.float64)

    def run(chunk):
        grads, dX, trace = core_loss_and_grad(
            core, X, lengths, layers, R, activation, chunk, 1
        )
        hidden = [state[2] for _, state in trace]
        cells = [state[1] for _, state in trace]
        return grads, dX, hidden, cells

    grads, dX, hidden, cells = run(chunk_size)
    one_grads, one_dX, one_hidden, one_cells = run(N_SAMPLES)

    def check(actual, desired):
        # rtol 1e-12 elementwise; entries 100x below the array's largest are
        # judged on the absolute scale 1e-14 * max|desired|.
        assert_allclose(
            actual, desired, rtol=1e-12, atol=1e-14 * np.max(np.abs(desired))
        )
        return relative_error(actual, desired)

    errors = {"inputs": check(dX, one_dX)}
    for k in range(len(layers)):
        errors[f"L{k + 1}.hidden"] = check(hidden[k], one_hidden[k])
        errors[f"L{k + 1}.cells"] = check(cells[k], one_cells[k])
        for name in PARAMETER_NAMES:
            errors[f"L{k + 1}.{name}"] = check(grads[k][name], one_grads[k][name])
    report(f"chunk {chunk_size} vs one chunk, {activation}", errors)


@pytest.mark.parametrize("chunk_size", [1, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_results(core, dtype, chunk_size):
    X, lengths, layers, R = make_problem(6, "tanh", "ragged", 2)
    layers = cast_layers(layers, dtype)
    mask = step_mask(lengths, X.shape[1])

    def run(n_threads):
        return core_loss_and_grad(
            core, X, lengths, layers, R, "tanh", chunk_size, n_threads
        )

    grads_1, dX_1, trace_1 = run(1)
    for n_threads in (2, 4):
        grads_n, dX_n, trace_n = run(n_threads)
        assert_array_equal(dX_n, dX_1)
        for k in range(len(layers)):
            (_, (gates_1, cells_1, hidden_1)) = trace_1[k]
            (_, (gates_n, cells_n, hidden_n)) = trace_n[k]
            assert np.array_equal(hidden_n, hidden_1)
            assert np.array_equal(cells_n, cells_1)
            assert np.array_equal(gates_n[:, 1:][mask], gates_1[:, 1:][mask])
            for name in PARAMETER_NAMES:
                assert np.array_equal(grads_n[k][name], grads_1[k][name])
            assert np.array_equal(
                grads_n[k]["inputs"][:, 1:], grads_1[k]["inputs"][:, 1:]
            )
            assert np.array_equal(
                grads_n[k]["dgates"][:, 1:][mask], grads_1[k]["dgates"][:, 1:][mask]
            )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_read_only_arrays(core, dtype):
    X, lengths, layers, R = make_problem(7, "tanh", "ragged")
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    dhidden = pad(R, dtype)
    chunk_size, n_threads = 3, 2

    state = core_forward(core, inputs, layer, lengths, "tanh", chunk_size, n_threads)
    grads = core_backward(
        core, inputs, layer, lengths, state, dhidden, "tanh", chunk_size, n_threads
    )

    def frozen(array):
        array = array.copy()
        array.setflags(write=False)
        return array

    ro_inputs, ro_lengths, ro_dhidden = frozen(inputs), frozen(lengths), frozen(dhidden)
    ro_layer = tuple(frozen(w) for w in layer)
    ro_state = core_forward(
        core, ro_inputs, ro_layer, ro_lengths, "tanh", chunk_size, n_threads
    )
    ro_grads = core_backward(
        core,
        ro_inputs,
        ro_layer,
        ro_lengths,
        tuple(frozen(a) for a in ro_state),
        ro_dhidden,
        "tanh",
        chunk_size,
        n_threads,
    )
    for a, b in zip(ro_state[1:], state[1:], strict=True):
        assert_array_equal(a, b)
    for name in PARAMETER_NAMES:
        assert_array_equal(ro_grads[name], grads[name])
    assert_array_equal(ro_grads["inputs"][:, 1:], grads["inputs"][:, 1:])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_preactivations_stay_finite(core, dtype, activation):
    X, lengths, layers, R = make_problem(8, activation, "ragged")
    (layer,) = cast_layers([[100 * w for w in layers[0]]], dtype)
    inputs = pad(X, dtype)
    dhidden = pad(R, dtype)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        state = core_forward(core, inputs, layer, lengths, activation, 3, 2)
        grads = core_backward(
            core, inputs, layer, lengths, state, dhidden, activation, 3, 2
        )
    gates, cells, hidden = state
    mask = step_mask(lengths, X.shape[1])
    z = reference_preactivations(inputs[:, 1:], lengths, *layer, activation)
    print(
        f"\n[large weights, {np.dtype(dtype).name}, {activation}] "
        f"max |z| {np.max(np.abs(z)):.1e}"
    )
    assert np.max(np.abs(z)) > 100  # the sigmoids really are saturated
    assert np.all(np.isfinite(gates[:, 1:][mask]))
    assert np.all(np.isfinite(cells)) and np.all(np.isfinite(hidden))
    if activation == "tanh":
        assert np.max(np.abs(hidden)) <= 1
    for name in PARAMETER_NAMES + ("dgates",):
        assert np.all(np.isfinite(grads[name])), name
    assert np.all(np.isfinite(grads["inputs"]))


def _ulps(got, want):
    """|got - want| in units of the last place of ``want`` rounded to got's type
    (the smallest normal's ulp below it)."""
    dtype = got.dtype
    want_rounded = np.abs(want).astype(dtype)
    tiny = np.finfo(dtype).tiny
    ulp = np.spacing(np.maximum(want_rounded, tiny)).astype(want.dtype)
    return (np.abs(got.astype(want.dtype) - want) / ulp).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gate_activations_are_accurate_to_a_few_ulps(core, dtype):
    """The gate math in isolation: one step from zero state and zero inputs
    leaves z = bias, so the gates are sigmoid(bias) and tanh(bias) as the
    kernel computes them, here compared with NumPy over [-100, 100] (dense
    near 0, where the polynomials and range reduction do their work) in units
    of the last place. Also c = i g and h = o tanh(c). The reference is
    computed in long double where the platform has it: NumPy's own float64
    exp is off by up to 2.6 units of the last place in some versions (1.24),
    which would count against the kernel."""
    n_hidden = 4096
    tiny = np.geomspace(1e-30, 1, n_hidden // 2)
    wide, near_zero = np.linspace(-100, 100, 2 * n_hidden), np.linspace(-4, 4, n_hidden)
    values = np.concatenate([wide, near_zero, tiny, -tiny])
    rng = np.random.default_rng(20)
    # Each value once per gate position over the rows.
    n_rows = 4
    bias = np.stack([np.roll(rng.permutation(values), r * n_hidden)
                     for r in range(n_rows)]).astype(dtype)  # fmt: skip
    inputs = np.zeros((1, 2, 1), dtype)
    kernel = np.zeros((1, 4 * n_hidden), dtype)
    recurrent = np.zeros((n_hidden, 4 * n_hidden), dtype)
    lengths = np.ones(1, dtype=np.intp)
    tolerance = 3.0
    for row in range(n_rows):
        gates = np.full((1, 2, 4 * n_hidden), np.nan, dtype)
        cells = np.full((1, 2, n_hidden), np.nan, dtype)
        hidden = np.full((1, 2, n_hidden), np.nan, dtype)
        core.lstm_forward(inputs, kernel, recurrent, bias[row], lengths, gates,
                          cells, hidden, 0, 1, 1)  # fmt: skip
        z = bias[row].astype(np.longdouble).reshape(4, n_hidden)
        got = gates[0, 1].reshape(4, n_hidden)
        sigmoid = 1.0 / (1.0 + np.exp(-z))
        if dtype == np.float32:
            # Below z = -87.3 the float32 kernel returns sigmoid(-87.3), 1.2e-38,
            # keeping the result a normal float: the true value is smaller.
            exact, floor = z >= -87.3, 1.0 / (1.0 + np.exp(87.3))
        else:
            exact, floor = sigmoid >= np.finfo(dtype).tiny, np.finfo(dtype).tiny
        for gate in (0, 1, 3):
            error = _ulps(got[gate], sigmoid[gate])[exact[gate]]
            assert np.max(error) <= tolerance, ("sigmoid", gate, np.max(error))
            below = got[gate][~exact[gate]]
            assert np.all((below >= 0) & (below <= floor * (1 + 1e-6)))
        error = _ulps(got[2], np.tanh(z[2]))
        assert np.max(error) <= tolerance, ("tanh", np.max(error))
        # The cell and hidden state follow from the gates the kernel wrote.
        g64 = got.astype(np.float64)
        cell = g64[0] * g64[2]
        assert_allclose(cells[0, 1], cell, rtol=2 * np.finfo(dtype).eps,
                        atol=np.finfo(dtype).tiny)  # fmt: skip
        h_want = g64[3] * np.tanh(cells[0, 1].astype(np.float64))
        assert_allclose(hidden[0, 1], h_want, rtol=8 * np.finfo(dtype).eps,
                        atol=np.finfo(dtype).tiny)  # fmt: skip


def _floating_point_flags():
    """(clear, test) functions for the C floating-point exception flags, or None."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    libm = ctypes.CDLL(name)
    fe_invalid, fe_divbyzero, fe_overflow, fe_all = 0x01, 0x04, 0x08, 0x3D
    return (
        lambda: libm.feclearexcept(fe_all),
        lambda: libm.fetestexcept(fe_invalid | fe_divbyzero | fe_overflow),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_preactivations_raise_no_floating_point_exceptions(core, dtype):
    """The core promises that its sigmoid never overflows. NumPy's errstate
    cannot see inside compiled code, so read the C exception flags directly
    (x86-64 glibc only; one thread, because the flags are per thread)."""
    flags = _floating_point_flags()
    if flags is None:
        pytest.skip("floating-point flags are only read on x86-64 Linux")
    clear, test = flags
    X, lengths, layers, R = make_problem(8, "tanh", "ragged")
    (layer,) = cast_layers([[100 * w for w in layers[0]]], dtype)
    inputs = pad(X, dtype)
    dhidden = pad(R, dtype)
    gates, cells, hidden = core_forward(core, inputs, layer, lengths, "tanh", 1, 1)

    clear()
    core.lstm_forward(inputs, *layer, lengths, gates, cells, hidden, 0, 1, 1)
    forward_flags = test()
    n_samples, _, n_in = inputs.shape
    n_hidden = layer[1].shape[0]
    outputs = [
        np.zeros_like(gates),
        np.zeros_like(inputs),
        np.zeros_like(layer[0]),
        np.zeros_like(layer[1]),
        np.zeros_like(layer[2]),
        np.zeros(core.backward_workspace_size(n_samples, n_in, n_hidden, 1), dtype),
    ]
    clear()
    core.lstm_backward(
        inputs,
        layer[0],
        layer[1],
        lengths,
        gates,
        cells,
        hidden,
        dhidden,
        *outputs,
        0,
        1,
        1,
    )
    backward_flags = test()
    assert (forward_flags, backward_flags) == (0, 0)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_steps_past_lengths_are_ignored(core, dtype, activation):
    """Whatever the inputs and dL/dh hold past a sequence's end changes nothing."""
    X, lengths, layers, R = make_problem(9, activation, "ragged")
    (layer,) = cast_layers(layers, dtype)
    mask = step_mask(lengths, X.shape[1])
    rng = np.random.default_rng(99)
    inputs = pad(X, dtype)
    dhidden = pad(R, dtype)
    noisy_inputs = pad(
        np.where(mask[:, :, None], X, rng.normal(scale=3, size=X.shape)), dtype
    )
    noisy_dhidden = pad(np.where(mask[:, :, None], R, rng.normal(size=R.shape)), dtype)
    noisy_dhidden[:, 0] = rng.normal(
        size=noisy_dhidden[:, 0].shape
    )  # slot 0 is ignored

    for chunk_size in (1, 3, N_SAMPLES):
        state = core_forward(core, inputs, layer, lengths, activation, chunk_size, 2)
        grads = core_backward(
            core, inputs, layer, lengths, state, dhidden, activation, chunk_size, 2
        )
        noisy_state = core_forward(
            core, noisy_inputs, layer, lengths, activation, chunk_size, 2
        )
        noisy_grads = core_backward(
            core,
            noisy_inputs,
            layer,
            lengths,
            noisy_state,
            noisy_dhidden,
            activation,
            chunk_size,
            2,
        )
        for array in noisy_state[1:] + (noisy_grads["inputs"],):
            assert_zero_past_lengths(array, lengths)
        assert_array_equal(noisy_state[1], state[1])
        assert_array_equal(noisy_state[2], state[2])
        for name in PARAMETER_NAMES:
            assert_array_equal(noisy_grads[name], grads[name])
        assert_array_equal(noisy_grads["inputs"][:, 1:], grads["inputs"][:, 1:])


def test_lengths_sorted_only_within_chunks(core):
    """The contract asks for non-increasing lengths inside each chunk only."""
    X, _, layers, R = make_problem(10, "tanh", "dense")
    lengths = np.array([5, 4, 2, 5, 3, 1, 4], dtype=np.intp)
    mask = step_mask(lengths, X.shape[1])
    X = X * mask[:, :, None]
    R = R * mask[:, :, None]
    (layer,) = cast_layers(layers, np.float64)
    inputs = pad(X)
    state = core_forward(core, inputs, layer, lengths, "tanh", 3, 2)
    grads = core_backward(core, inputs, layer, lengths, state, pad(R), "tanh", 3, 2)
    _, ref_cells, ref_hidden = reference_forward(X, lengths, *layer, "tanh")
    ref = reference_backward(X, lengths, *layer, R, "tanh")
    assert_allclose(state[1][:, 1:], ref_cells, rtol=1e-12, atol=1e-14)
    assert_allclose(state[2][:, 1:], ref_hidden, rtol=1e-12, atol=1e-14)
    errors = {name: relative_error(grads[name], ref[name]) for name in PARAMETER_NAMES}
    errors["inputs"] = relative_error(grads["inputs"][:, 1:], ref["inputs"])
    assert report("lengths sorted per chunk of 3", errors) <= 1e-10


@pytest.mark.parametrize(
    "n_samples, n_timesteps, n_in, n_hidden, chunk_size",
    [(1, 1, 1, 1, 1), (2, 1, 3, 2, 1), (5, 6, 1, 1, 2), (3, 4, 5, 6, 8)],
)
def test_other_shapes(core, n_samples, n_timesteps, n_in, n_hidden, chunk_size):
    X, lengths, layers, R = make_problem(
        12,
        "tanh",
        "ragged" if n_samples > 1 else "dense",
        n_samples=n_samples,
        n_timesteps=n_timesteps,
        n_in=n_in,
        sizes=(n_hidden,),
    )
    (layer,) = cast_layers(layers, np.float64)
    inputs = pad(X)
    state = core_forward(core, inputs, layer, lengths, "tanh", chunk_size, 2)
    grads = core_backward(
        core, inputs, layer, lengths, state, pad(R), "tanh", chunk_size, 2
    )
    _, ref_cells, ref_hidden = reference_forward(X, lengths, *layer, "tanh")
    ref = reference_backward(X, lengths, *layer, R, "tanh")
    assert_allclose(state[2][:, 1:], ref_hidden, rtol=1e-12, atol=1e-14)
    assert_allclose(state[1][:, 1:], ref_cells, rtol=1e-12, atol=1e-14)
    errors = {name: relative_error(grads[name], ref[name]) for name in PARAMETER_NAMES}
    errors["inputs"] = relative_error(grads["inputs"][:, 1:], ref["inputs"])
    assert max(errors.values()) <= 1e-10, errors


def test_backward_without_dinputs(core):
    X, lengths, layers, R = make_problem(13, "tanh", "ragged")
    (layer,) = cast_layers(layers, np.float64)
    inputs = pad(X)
    state = core_forward(core, inputs, layer, lengths, "tanh", 3, 2)
    grads = core_backward(core, inputs, layer, lengths, state, pad(R), "tanh", 3, 2)
    without = core_backward(
        core, inputs, layer, lengths, state, pad(R), "tanh", 3, 2, with_dinputs=False
    )
    for name in PARAMETER_NAMES:
        assert_array_equal(without[name], grads[name])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_with_two_cell_slots(core, dtype):
    """Inference mode documented by the core: cells of shape (B, 2, H) are two
    alternating slots; hidden states are unchanged and each sequence's last
    cell state sits in slot ``length % 2``."""
    X, lengths, layers, _ = make_problem(14, "tanh", "ragged")
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    gates, cells, hidden = core_forward(core, inputs, layer, lengths, "tanh", 3, 2)
    n_samples, n_slots, _ = inputs.shape
    n_hidden = layer[1].shape[0]
    two_gates = np.full_like(gates, np.nan)
    two_cells = np.full((n_samples, 2, n_hidden), np.nan, dtype=dtype)
    two_hidden = np.full_like(hidden, np.nan)
    core.lstm_forward(
        inputs, *layer, lengths, two_gates, two_cells, two_hidden, 0, 3, 2
    )
    assert_array_equal(two_hidden, hidden)
    rows = np.arange(n_samples)
    assert_array_equal(two_cells[rows, lengths % 2], cells[rows, lengths])


# --------------------------------------------------------------------------
# Packed step products and inference buffers


def _packed_levels(core):
    """Every vector level of the packed step products this CPU can run; 0 is
    the BLAS path."""
    return list(range(core.packed_gemm_level() + 1))


@pytest.fixture
def restore_packed_level(core):
    level = core.packed_gemm_level()
    yield
    core._set_packed_gemm_level(level)


def test_packed_level_is_clamped_to_the_cpu(core, restore_packed_level):
    detected = core.packed_gemm_level()
    assert detected in (0, 1, 2)
    assert core._set_packed_gemm_level(99) == detected
    assert core._set_packed_gemm_level(-1) == 0
    assert core.packed_gemm_level() == 0


def test_packed_level_is_set_for_the_head_too(core, numerics, restore_packed_level):
    """The layer and the dense head each carry the kernels; one setting moves
    both, so a network never mixes packed and BLAS products."""
    for level in _packed_levels(core):
        core._set_packed_gemm_level(level)
        assert numerics.packed_gemm_level() == core.packed_gemm_level() == level


def test_every_module_calls_one_kernel_table(core, numerics, restore_packed_level):
    """The kernels are compiled once, in skseq._dispatch, and every module calls
    through its one table: a level set there is the level of the layer and of
    the head, and it is clamped to what the CPU supports."""
    from skseq import _dispatch

    assert core.packed_gemm_level() == _dispatch.detected_level()
    for level in _packed_levels(core):
        assert _dispatch._set_level(level) == level
        assert core.packed_gemm_level() == numerics.packed_gemm_level() == level
        assert _dispatch.level() == level
    assert _dispatch._set_level(99) == _dispatch.detected_level()


@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_packed_step_products_match_reference(
    core, restore_packed_level, dtype, lengths_kind
):
    """Shapes that reach every branch of the packed kernels: 29 rows per chunk
    (blocks of 12, 12, 4 and 1 rows), 4H = 280 gate columns (full panels and
    a partial one), a backward step sum over 280 terms and weight-gradient
    sums over 29 x 10 slots (two blocks of 256 terms each), H = 70 (a partial
    panel backward). Each level agrees with the reference."""
    n_hidden = 70
    X, lengths, layers, R = make_problem(
        12, "tanh", lengths_kind, n_samples=29, n_timesteps=9, n_in=5,
        sizes=(n_hidden,),
    )  # fmt: skip
    # Weights scaled so that the gates are not all saturated.
    layers = [[w / np.sqrt(n_hidden) for w in layers[0]]]
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    dhidden = pad(R, dtype)
    ref_gates, ref_cells, ref_hidden = reference_forward(
        inputs[:, 1:], lengths, *layer, "tanh"
    )
    ref = reference_backward(inputs[:, 1:], lengths, *layer, dhidden[:, 1:], "tanh")
    bound = 1e-12 if dtype == np.float64 else 1e-5
    for level in _packed_levels(core):
        assert core._set_packed_gemm_level(level) == level
        for chunk_size in (29, 13):
            state = core_forward(core, inputs, layer, lengths, "tanh", chunk_size, 2)
            grads = core_backward(
                core, inputs, layer, lengths, state, dhidden, "tanh", chunk_size, 2
            )
            errors = {
                "hidden": relative_error(state[2][:, 1:], ref_hidden),
                "cells": relative_error(state[1][:, 1:], ref_cells),
                "inputs": relative_error(grads["inputs"][:, 1:], ref["inputs"]),
            }
            for name in PARAMETER_NAMES:
                errors[name] = relative_error(grads[name], ref[name])
            worst = report(
                f"packed level {level}, {np.dtype(dtype).name}, {lengths_kind}, "
                f"chunk {chunk_size}",
                errors,
            )
            assert worst <= bound
            assert_zero_past_lengths(state[2], lengths)


@pytest.mark.parametrize("n_hidden", [20, 32, 36, 180])
@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inference_buffers_give_the_same_final_states(
    core, restore_packed_level, dtype, lengths_kind, n_hidden
):
    """One gate slot and two alternating hidden and cell slots (the inference
    buffers) give each sequence's final hidden state as the full buffers do.
    Inference sums both products of a step in one pass (chunks of 13 rows:
    blocks of 12 and single rows; 4H = 80 or 144: partial panels, and single
    rows against four full panels at once; H = 180: packed weights over
    512 KB, run panel by panel). Chunks of one row (a single sequence's
    steps) take their own path when 4H is a whole number of four-panel
    groups (H = 32)."""
    X, lengths, layers, _ = make_problem(
        13, "tanh", lengths_kind, n_samples=29, n_timesteps=6, n_in=5,
        sizes=(n_hidden,),
    )  # fmt: skip
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    n_samples, n_slots, _ = inputs.shape
    rows = np.arange(n_samples)
    for level in _packed_levels(core):
        core._set_packed_gemm_level(level)
        _, _, full_hidden = core_forward(core, inputs, layer, lengths, "tanh", 13, 2)
        gates = np.full((n_samples, 1, 4 * n_hidden), np.nan, dtype=dtype)
        cells = np.full((n_samples, 2, n_hidden), np.nan, dtype=dtype)
        hidden = np.full((n_samples, 2, n_hidden), np.nan, dtype=dtype)
        full_final = full_hidden[rows, lengths]
        for chunk_size in (13, 1):
            hidden[...] = np.nan
            core.lstm_forward(
                inputs, *layer, lengths, gates, cells, hidden, 0, chunk_size, 2
            )  # fmt: skip
            final = hidden[rows, lengths % 2]
            if level > 0:
                # The packed kernels sum every product in one fixed order.
                assert_array_equal(final, full_final)
            else:
                # Through BLAS the input projection runs step by step instead
                # of all at once, and chunks of up to 8 rows add the recurrent
                # product with loops of their own: other summation orders
                # (float32 sums of 180 terms differ by up to 7e-6 here).
                tol = 1e-13 if dtype == np.float64 else 2e-5
                assert_allclose(final, full_final, rtol=tol, atol=tol)
        # A wrong number of slots is refused before any work.
        with pytest.raises(ValueError, match="gates has shape"):
            core.lstm_forward(
                inputs, *layer, lengths, gates[:, :0], cells, hidden, 0, 13, 2
            )  # fmt: skip
        with pytest.raises(ValueError, match="hidden has shape"):
            core.lstm_forward(
                inputs, *layer, lengths, gates, cells, hidden[:, :1].copy(), 0, 13, 2
            )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_predict_is_forward_then_head(
    core, numerics, layout, restore_packed_level, dtype, activation
):
    """lstm_predict, the one-call prediction of a one-layer network, gives
    the bits of the calls it replaces (lstm_forward with the inference buffers
    and no zero slot, gather_last, dense_forward) at every packed level: one
    sequence, several chunks on one and two threads, a single step, several
    outputs, 4H in whole four-panel groups (H = 32) or not (H = 20)."""
    rng = np.random.default_rng(17)
    code = {"tanh": 0, "relu": 1}[activation]
    for level in _packed_levels(core):
        core._set_packed_gemm_level(level)
        for n_rows, n_steps, n_hidden, n_out, chunk_size, n_threads in [
            (1, 7, 32, 1, 1, 1), (29, 6, 20, 3, 13, 2), (29, 6, 32, 1, 13, 1),
            (5, 1, 32, 2, 5, 2),
        ]:  # fmt: skip
            X = rng.normal(size=(n_rows, n_steps, 5)).astype(dtype)
            kernel, recurrent_kernel = (
                (0.4 * rng.normal(size=(n, 4 * n_hidden))).astype(dtype)
                for n in (5, n_hidden)
            )
            bias = (0.1 * rng.normal(size=4 * n_hidden)).astype(dtype)
            head = rng.normal(size=(n_hidden, n_out)).astype(dtype)
            head_bias = rng.normal(size=n_out).astype(dtype)
            gates = np.full((n_rows, 1, 4 * n_hidden), np.nan, dtype)
            cells = np.full((n_rows, 2, n_hidden), np.nan, dtype)
            hidden = np.full((n_rows, 2, n_hidden), np.nan, dtype)
            lengths = np.full(n_rows, n_steps, np.intp)
            core.lstm_forward(
                X, kernel, recurrent_kernel, bias, lengths, gates, cells, hidden,
                code, chunk_size, n_threads, False,
            )  # fmt: skip
            last = np.full((n_rows, n_hidden), np.nan, dtype)
            layout.gather_last(hidden, lengths, last, 0)
            want = np.full((n_rows, n_out), np.nan, dtype)
            numerics.dense_forward(last, head, head_bias, want)
            got = np.full((n_rows, n_out), np.nan, dtype)
            core.lstm_predict(
                X, kernel, recurrent_kernel, bias, head, head_bias, got, code,
                chunk_size, n_threads,
            )  # fmt: skip
            assert np.isfinite(want).all()
            assert_array_equal(got, want)
    # Wrong shapes and arguments are refused before any work.
    with pytest.raises(ValueError, match="head_weights has shape"):
        core.lstm_predict(
            X, kernel, recurrent_kernel, bias, head[:-1], head_bias, got, code, 1, 1
        )  # fmt: skip
    with pytest.raises(ValueError, match="out has shape"):
        core.lstm_predict(
            X, kernel, recurrent_kernel, bias, head, head_bias, got[1:], code, 1, 1
        )  # fmt: skip
    with pytest.raises(ValueError, match="at least one step"):
        core.lstm_predict(
            X[:, :0], kernel, recurrent_kernel, bias, head, head_bias, got, code, 1, 1
        )  # fmt: skip
    with pytest.raises(ValueError, match="chunk_size and n_threads"):
        core.lstm_predict(
            X, kernel, recurrent_kernel, bias, head, head_bias, got, code, 0, 1
        )  # fmt: skip
    empty = np.zeros((0, n_out), dtype)
    core.lstm_predict(
        X[:0], kernel, recurrent_kernel, bias, head, head_bias, empty, code, 1, 1
    )  # fmt: skip


def _placed(array, offset):
    """A copy of the C-contiguous ``array`` whose data starts ``offset`` bytes
    past a 64-byte boundary."""
    buffer = np.empty(array.nbytes + 128, np.uint8)
    start = -buffer.ctypes.data % 64 + offset
    out = buffer[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def _inference_last_hidden(core, inputs, layer, lengths, chunk_size, zero_slot):
    """The last hidden states of an inference pass (two threads, relu)."""
    n_rows, n_hidden = len(lengths), layer[1].shape[0]
    dtype = inputs.dtype
    gates = np.full((n_rows, 1, 4 * n_hidden), np.nan, dtype)
    cells = np.full((n_rows, 2, n_hidden), np.nan, dtype)
    hidden = np.full((n_rows, 2, n_hidden), np.nan, dtype)
    core.lstm_forward(
        inputs, *layer, lengths, gates, cells, hidden, 1, chunk_size, 2, zero_slot
    )
    return hidden[np.arange(n_rows), lengths % 2]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_sequence_pass_reads_weights_in_place_or_packed(
    core, restore_packed_level, dtype
):
    """Chunks of one row run their inference pass in one call that reads the
    weight matrices in place when they start on a 64-byte boundary and packs
    them otherwise. Either way it gives the bits of a chunk of several rows
    (the packed step products), at every packed level, for 4H in whole
    four-panel groups of either vector width (H = 16, 32, 64) or not (H = 40),
    with or without the inputs' zero slot."""
    rng = np.random.default_rng(23)
    n_rows, n_steps, n_in = 6, 9, 5
    lengths = np.full(n_rows, n_steps, np.intp)
    for level in _packed_levels(core):
        core._set_packed_gemm_level(level)
        for n_hidden in (16, 32, 40, 64):
            kernel, recurrent_kernel = (
                (0.4 * rng.normal(size=(n, 4 * n_hidden))).astype(dtype)
                for n in (n_in, n_hidden)
            )
            bias = (0.1 * rng.normal(size=4 * n_hidden)).astype(dtype)
            X = rng.normal(size=(n_rows, n_steps, n_in)).astype(dtype)
            padded = np.concatenate([np.zeros_like(X[:, :1]), X], axis=1)
            want = _inference_last_hidden(
                core, X, (kernel, recurrent_kernel, bias), lengths, n_rows, False
            )
            assert np.isfinite(want).all()
            for offset in (0, 8, 16, 32):
                layer = (
                    _placed(kernel, offset),
                    _placed(recurrent_kernel, offset),
                    bias,
                )
                for inputs, zero_slot in ((X, False), (padded, True)):
                    got = _inference_last_hidden(
                        core, inputs, layer, lengths, 1, zero_slot
                    )
                    assert_array_equal(got, want)


def _small_network(rng, dtype, n_in, n_hidden, n_out, offset=0):
    kernel, recurrent_kernel = (
        _placed((0.4 * rng.normal(size=(n, 4 * n_hidden))).astype(dtype), offset)
        for n in (n_in, n_hidden)
    )
    bias = (0.1 * rng.normal(size=4 * n_hidden)).astype(dtype)
    head = rng.normal(size=(n_hidden, n_out)).astype(dtype)
    head_bias = rng.normal(size=n_out).astype(dtype)
    return kernel, recurrent_kernel, bias, head, head_bias


def _check_predictor(core, predictor, X, weights, code):
    n_rows, n_out = len(X), weights[3].shape[1]
    want = np.full((n_rows, n_out), np.nan, X.dtype)
    core.lstm_predict(X, *weights, want, code, n_rows, 1)
    got = predictor.predict(X)
    assert np.isfinite(want).all()
    assert got.dtype == X.dtype and got.shape == (n_rows, n_out)
    assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_small_batch_predictor_gives_lstm_predict_bits(
    core, restore_packed_level, dtype, activation
):
    """SmallBatchPredictor.predict gives lstm_predict's bits (one chunk, one
    thread) at every packed level, for one to ``max_rows`` sequences, weights
    aligned to 64 bytes or not, 4H in whole four-panel groups or not, and
    follows the weights when they are changed in place."""
    rng = np.random.default_rng(31)
    code = {"tanh": 0, "relu": 1}[activation]
    for level in _packed_levels(core)[1:]:
        core._set_packed_gemm_level(level)
        for n_hidden, n_out, offset in ((32, 1, 0), (32, 2, 16), (20, 3, 0)):
            weights = _small_network(rng, dtype, 5, n_hidden, n_out, offset)
            predictor = core.SmallBatchPredictor(*weights, code, 7)
            for n_rows, n_steps in ((1, 6), (3, 1), (7, 4)):
                X = rng.normal(size=(n_rows, n_steps, 5)).astype(dtype)
                _check_predictor(core, predictor, X, weights, code)
            kernel, recurrent_kernel, bias, head, head_bias = weights
            recurrent_kernel *= 0.5
            head_bias += 1.0
            _check_predictor(core, predictor, X[:2], weights, code)


def test_small_batch_predictor_declines_all_but_the_plain_case(
    core, restore_packed_level
):
    """predict returns None, having run nothing, for any input but a
    C-contiguous, aligned, native-order ndarray (not a subclass) of the
    weights' dtype, shape (1..max_rows, >= 1, n_in), of finite values; and
    when no packed level is active (the usual path then limits BLAS)."""
    rng = np.random.default_rng(37)
    predictor = core.SmallBatchPredictor(
        *_small_network(rng, np.float32, 3, 8, 2), 0, 4
    )
    X = rng.normal(size=(2, 5, 3)).astype(np.float32)
    level = core.packed_gemm_level()
    core._set_packed_gemm_level(0)
    assert predictor.predict(X) is None
    if level == 0:
        return  # a CPU without the packed kernels: every input is declined
    core._set_packed_gemm_level(level)
    assert predictor.predict(X).shape == (2, 2)

    class Subclass(np.ndarray):
        pass

    nan, inf = X.copy(), X.copy()
    nan[1, 4, 2] = np.nan
    inf[0, 0, 0] = -np.inf
    unaligned = np.zeros(X.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(X.shape)
    unaligned[...] = X
    assert not unaligned.flags.aligned
    declined = [
        X.tolist(), X.view(Subclass), X[0], X[..., None], X.astype(np.float64),
        X.astype(">f4"), np.asfortranarray(X), X[:, ::2], X[:0], X[:, :0],
        np.concatenate([X, X, X]), X[..., :2], nan, inf, unaligned,
    ]  # fmt: skip
    for value in declined:
        assert predictor.predict(value) is None


def test_small_batch_predictor_checks_its_weights(core):
    """The weights are checked once, when the predictor is made."""
    rng = np.random.default_rng(41)
    kernel, recurrent_kernel, bias, head, head_bias = _small_network(
        rng, np.float64, 3, 8, 2
    )
    with pytest.raises(TypeError, match="kernel must be a NumPy array"):
        core.SmallBatchPredictor(kernel.tolist(), recurrent_kernel, bias, head,
                                 head_bias, 0, 4)  # fmt: skip
    with pytest.raises(ValueError, match="float32 or float64"):
        core.SmallBatchPredictor(kernel.astype(int), recurrent_kernel, bias, head,
                                 head_bias, 0, 4)  # fmt: skip
    with pytest.raises(ValueError, match="recurrent_kernel has shape"):
        core.SmallBatchPredictor(kernel, recurrent_kernel[:-1], bias, head,
                                 head_bias, 0, 4)  # fmt: skip
    with pytest.raises(ValueError, match="bias must be a C-contiguous"):
        core.SmallBatchPredictor(kernel, recurrent_kernel, bias.astype(np.float32),
                                 head, head_bias, 0, 4)  # fmt: skip
    with pytest.raises(ValueError, match="head_weights must be a C-contiguous"):
        core.SmallBatchPredictor(kernel, recurrent_kernel, bias,
                                 np.asfortranarray(head), head_bias, 0, 4)  # fmt: skip
    with pytest.raises(ValueError, match="head_bias has shape"):
        core.SmallBatchPredictor(kernel, recurrent_kernel, bias, head,
                                 head_bias[:1], 0, 4)  # fmt: skip
    with pytest.raises(ValueError, match="max_rows must be >= 1"):
        core.SmallBatchPredictor(kernel, recurrent_kernel, bias, head, head_bias,
                                 0, 0)  # fmt: skip


# --------------------------------------------------------------------------
# The dense head and the sum of squares


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_head_matches_numpy(core, numerics, restore_packed_level, dtype):
    """dense_forward and dense_backward on shapes that reach every branch:
    one row, row blocks with a remainder, a single output column (a mostly
    empty panel), several panels with a partial one, and sums over more than
    one block of 256 terms; at every packed level (0 is BLAS)."""
    rng = np.random.default_rng(30)
    bound = 1e-13 if dtype == np.float64 else 2e-6
    for level in _packed_levels(core):
        assert core._set_packed_gemm_level(level) == level
        for n_rows, n_in, n_out in [(1, 5, 1), (29, 70, 1), (7, 300, 3),
                                    (33, 20, 70), (300, 40, 2)]:  # fmt: skip
            X = rng.standard_normal((n_rows, n_in)).astype(dtype)
            W = rng.standard_normal((n_in, n_out)).astype(dtype)
            b = rng.standard_normal(n_out).astype(dtype)
            D = rng.standard_normal((n_rows, n_out)).astype(dtype)
            out = np.full((n_rows, n_out), np.nan, dtype)
            numerics.dense_forward(X, W, b, out)
            grad_W = np.full((n_in, n_out), np.nan, dtype)
            d_X = np.full((n_rows, n_in), np.nan, dtype)
            numerics.dense_backward(X, W, D, grad_W, d_X)
            X64, W64, D64 = (a.astype(np.float64) for a in (X, W, D))
            errors = {
                "out": relative_error(out, X64 @ W64 + b),
                "grad_weights": relative_error(grad_W, X64.T @ D64),
                "d_inputs": relative_error(d_X, D64 @ W64.T),
            }
            worst = report(
                f"dense head, level {level}, {np.dtype(dtype).name}, "
                f"{(n_rows, n_in, n_out)}",
                errors,
            )
            assert worst <= bound
    grad_W = np.full((4, 2), np.nan, dtype)
    numerics.dense_backward(
        np.zeros((0, 4), dtype), W[:4, :2].copy(), np.zeros((0, 2), dtype), grad_W,
        np.zeros((0, 4), dtype),
    )  # fmt: skip
    assert_array_equal(grad_W, 0)  # an empty batch has a zero gradient
    with pytest.raises(ValueError, match="weights has shape"):
        numerics.dense_forward(X, W[:-1], b, out)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_of_squares(numerics, dtype):
    rng = np.random.default_rng(31)
    for n in (0, 1, 7, 8, 9, 1001):
        x = rng.standard_normal(n).astype(dtype)
        want = float(np.sum(x.astype(np.float64) ** 2))
        assert numerics.sum_of_squares(x) == pytest.approx(want, rel=1e-14, abs=0)
    # Accumulated in float64: float32 values whose float32 sum would overflow.
    big = np.full(10, 1e30, dtype=np.float32)
    assert numerics.sum_of_squares(big) == pytest.approx(1e61, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_squared_error_matches_numpy(numerics, dtype):
    """Loss and gradient of the regressor in one pass: half the squared error
    averaged over outputs, weighted mean over rows, and (pred - target) * w /
    (n_outputs * sum(w)); unweighted, weighted with a zero weight, and all
    weights zero (nothing written)."""
    rng = np.random.default_rng(32)
    pred = rng.standard_normal((7, 3)).astype(dtype)
    target = rng.standard_normal((7, 3)).astype(dtype)
    p64, t64 = pred.astype(np.float64), target.astype(np.float64)
    rtol = 1e-14 if dtype == np.float64 else 1e-6
    for w in (None, np.array([0.5, 2, 0, 1, 3, 1, 0.25], dtype)):
        w64 = np.ones(7) if w is None else w.astype(np.float64)
        delta = np.full_like(pred, np.nan)
        loss, total = numerics.squared_error(pred, target, w, delta)
        per_row = 0.5 * ((p64 - t64) ** 2).mean(axis=1)
        assert total == pytest.approx(w64.sum(), rel=1e-15)
        assert loss == pytest.approx((per_row * w64).sum() / w64.sum(), rel=rtol)
        want = (p64 - t64) * w64[:, None] / (3 * w64.sum())
        assert_allclose(delta, want, rtol=rtol, atol=0)
    delta = np.full_like(pred, np.nan)
    assert numerics.squared_error(pred, target, np.zeros(7, dtype), delta) == (0.0, 0.0)
    assert np.isnan(delta).all()
    with pytest.raises(ValueError, match="target has shape"):
        numerics.squared_error(pred, target[:, :2].copy(), None, delta)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_penalise_adds_the_l2_gradient(numerics, dtype):
    rng = np.random.default_rng(33)
    weights = rng.standard_normal(1001).astype(dtype)
    grad = rng.standard_normal(1001).astype(dtype)
    want = grad + dtype(0.25) * weights
    squares = numerics.penalise(grad, weights, 0.25)
    assert squares == numerics.sum_of_squares(weights)
    eps = np.finfo(dtype).eps
    assert_allclose(grad, want, rtol=2 * eps, atol=2 * eps)
    with pytest.raises(ValueError, match="grad has shape"):
        numerics.penalise(grad[:-1], weights, 0.25)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_all_finite(numerics, dtype):
    x = np.linspace(-1e30, 1e30, 1001).astype(dtype)
    assert numerics.all_finite(x)
    assert numerics.all_finite(x[:0])
    for bad in (np.nan, np.inf, -np.inf):
        for where in (0, 500, 1000):
            y = x.copy()
            y[where] = bad
            assert not numerics.all_finite(y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gather_and_scatter_of_last_states(layout, dtype):
    """Each row's state at its own last step, read from every-step slots or
    from two alternating slots, into columns of an output; and written back
    (or zeroed) at those slots, leaving everything else alone."""
    rng = np.random.default_rng(34)
    states = rng.standard_normal((5, 8, 3)).astype(dtype)
    lengths = np.array([7, 1, 4, 7, 2], dtype=np.intp)
    out = np.zeros((5, 7), dtype)
    layout.gather_last(states, lengths, out, 2)
    assert_array_equal(out[:, 2:5], states[np.arange(5), lengths])
    assert_array_equal(out[:, :2], 0)
    assert_array_equal(out[:, 5:], 0)
    two = states[:, :2].copy()
    layout.gather_last(two, lengths, out, 4)
    assert_array_equal(out[:, 4:], two[np.arange(5), lengths % 2])

    values = rng.standard_normal((5, 6)).astype(dtype)
    written = states.copy()
    layout.scatter_last(written, lengths, values, 3)
    want = states.copy()
    want[np.arange(5), lengths] = values[:, 3:]
    assert_array_equal(written, want)
    layout.scatter_last(written, lengths, None, 0)
    want[np.arange(5), lengths] = 0
    assert_array_equal(written, want)

    with pytest.raises(ValueError, match="out of range"):
        layout.scatter_last(written, np.array([8, 1, 1, 1, 1], np.intp), None, 0)
    with pytest.raises(ValueError, match="do not fit"):
        layout.gather_last(states, lengths, out, 5)
    with pytest.raises(ValueError, match="lengths has shape"):
        layout.gather_last(states, lengths[:4].copy(), out, 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gather_rows_fills_the_slot_layout(layout, dtype):
    """Chosen rows of a batch, contiguous or strided, land in slots 1.. of
    the layout (as many steps as it has slots) with slot 0 zeroed; rows
    outside the source and shapes that do not fit are refused."""
    rng = np.random.default_rng(35)
    source = rng.standard_normal((6, 5, 3)).astype(dtype)
    rows = np.array([4, 0, 4, 2], dtype=np.intp)
    for data in (source, np.asfortranarray(source), source[:, ::-1]):
        for n_slots in (6, 3):
            for n_threads in (1, 2, 3):
                target = np.full((4, n_slots, 3), np.nan, dtype)
                layout.gather_rows(data, rows, target, n_threads)
                assert_array_equal(target[:, 0], 0)
                assert_array_equal(target[:, 1:], data[rows, : n_slots - 1])
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        layout.gather_rows(source, rows, target, 0)
    with pytest.raises(ValueError, match="outside the source"):
        layout.gather_rows(source, np.array([0, 1, 6, 2], np.intp), target)
    with pytest.raises(ValueError, match="cannot fill"):
        layout.gather_rows(source, rows, np.zeros((4, 7, 3), dtype))
    with pytest.raises(ValueError, match="rows has"):
        layout.gather_rows(source, rows[:3].copy(), target)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gather_packed_fills_the_slot_layout(layout, dtype):
    """Sequences stored end to end land in the slot layout as their padded
    form does through gather_rows: slot 0 zeros, each sequence's steps, then
    zeros (whatever the target held); calls that would read or write out of
    bounds are refused."""
    rng = np.random.default_rng(36)
    lengths = np.array([3, 1, 5, 2, 4], dtype=np.intp)
    items = [rng.standard_normal((n, 3)).astype(dtype) for n in lengths]
    # Stored out of order, with a gap: only starts and lengths locate them.
    order = [2, 0, 4, 1, 3]
    values = np.concatenate([items[i] for i in order] + [np.ones((2, 3), dtype)])
    starts = np.empty(5, dtype=np.intp)
    starts[order] = np.cumsum([0] + [lengths[i] for i in order[:-1]])
    padded = np.zeros((5, 5, 3), dtype)
    for i, item in enumerate(items):
        padded[i, : len(item)] = item
    for rows in ([2, 4, 0], [1, 1, 3], [2]):
        rows = np.array(rows, dtype=np.intp)
        n_slots = int(lengths[rows].max()) + 1 + 2  # two slots past the longest
        for n_threads in (1, 2, 3):
            got = np.full((len(rows), n_slots, 3), np.nan, dtype)
            layout.gather_packed(values, starts, lengths, rows, got, n_threads)
            want = np.full_like(got, np.nan)
            layout.gather_rows(np.pad(padded, ((0, 0), (0, 2), (0, 0))), rows, want)
            assert_array_equal(got, want)
    target = np.zeros((2, 6, 3), dtype)
    rows = np.array([0, 2], dtype=np.intp)
    with pytest.raises(ValueError, match="target holds 4"):
        layout.gather_packed(values, starts, lengths, rows, target[:, :5].copy())
    with pytest.raises(ValueError, match="outside the 5 sequences"):
        layout.gather_packed(values, starts, lengths, np.array([0, 5], np.intp), target)
    with pytest.raises(ValueError, match="lies outside values"):
        layout.gather_packed(
            values[:10], starts, lengths, np.array([0, 3], np.intp), target
        )
    with pytest.raises(ValueError, match="width"):
        layout.gather_packed(values[:, :2].copy(), starts, lengths, rows, target)
    with pytest.raises(ValueError, match="lengths has"):
        layout.gather_packed(values, starts, lengths[:4].copy(), rows, target)
    with pytest.raises(ValueError, match="rows has"):
        layout.gather_packed(values, starts, lengths, rows, target[:1])
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        layout.gather_packed(values, starts, lengths, rows, target, 0)


@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inference_reads_inputs_without_the_zero_slot(
    core, restore_packed_level, dtype, lengths_kind
):
    """Inference can read (B, T, n_in) inputs in place, step t in slot t - 1:
    the same final states as from the padded copy, bit for bit. The training
    pass, which needs the zero slot, refuses them."""
    X, lengths, layers, _ = make_problem(
        15, "tanh", lengths_kind, n_samples=29, n_timesteps=6, n_in=5, sizes=(20,)
    )
    (layer,) = cast_layers(layers, dtype)
    inputs = pad(X, dtype)
    unpadded = np.ascontiguousarray(inputs[:, 1:])
    n_samples = inputs.shape[0]
    rows = np.arange(n_samples)
    for level in _packed_levels(core):
        core._set_packed_gemm_level(level)
        finals = []
        for source, zero_slot in ((inputs, True), (unpadded, False)):
            gates = np.full((n_samples, 1, 80), np.nan, dtype=dtype)
            cells = np.full((n_samples, 2, 20), np.nan, dtype=dtype)
            hidden = np.full((n_samples, 2, 20), np.nan, dtype=dtype)
            core.lstm_forward(source, *layer, lengths, gates, cells, hidden, 0, 13,
                              2, zero_slot)  # fmt: skip
            finals.append(hidden[rows, lengths % 2])
        assert_array_equal(finals[1], finals[0])
        assert np.all(np.isfinite(finals[1]))
    full = [np.empty((n_samples, inputs.shape[1], w), dtype) for w in (80, 20, 20)]
    with pytest.raises(ValueError, match="zero slot"):
        core.lstm_forward(unpadded, *layer, lengths, *full, 0, 13, 2, False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scale_columns_is_numpys_multiply_then_add(numerics, dtype):
    """A regressor's outputs from its scaled ones: column j times scale[j],
    plus shift[j], rounded as NumPy's multiply then add; a new array.
    Anything but C-contiguous arrays of one float dtype and matching shapes
    is refused."""
    rng = np.random.default_rng(37)
    values = rng.normal(size=(7, 3)).astype(dtype)
    scale = np.array([2.5, 1.0, 3e4], dtype=dtype)
    shift = np.array([-1.0, 0.0, 5e3], dtype=dtype)
    got = numerics.scale_columns(values, scale, shift)
    assert got.dtype == dtype and not np.shares_memory(got, values)
    assert_array_equal(got, values * scale + shift)
    assert numerics.scale_columns(values[:0], scale, shift).shape == (0, 3)
    with pytest.raises(TypeError, match="values must be a NumPy array"):
        numerics.scale_columns(values.tolist(), scale, shift)
    with pytest.raises(ValueError, match="C-contiguous"):
        numerics.scale_columns(np.asfortranarray(values), scale, shift)
    with pytest.raises(ValueError, match="of one dtype"):
        numerics.scale_columns(values, scale.astype(np.float16), shift)
    with pytest.raises(ValueError, match="of shape"):
        numerics.scale_columns(values, scale[:2].copy(), shift)
    with pytest.raises(ValueError, match="of shape"):
        numerics.scale_columns(values[0].copy(), scale, shift)
