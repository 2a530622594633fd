"""Tests of the compiled simple (Elman) RNN layer, ``skseq._rnn_layer``.

The oracle is a plain NumPy loop over each sequence's own steps,
``h_t = act(x_t W + h_{t-1} U + b)``, and its back-propagation through time.
Error measure: ``relative_error(a, b) = max|a - b| / max(max|a|, max|b|)``
over a whole array, as in ``test_core``. Buffers are in the layer's padded
layout ``(B, T + 1, width)``, slot 0 the initial state; output buffers start
as NaN so that a value the layer fails to write shows up. ``pytest -s``
prints the measured errors.
"""

import importlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skseq import _lstm_layer

from ._finite_differences import finite_difference

ACTIVATION_CODES = {"tanh": 0, "relu": 1}
GRADIENT_NAMES = ("kernel", "recurrent_kernel", "bias", "inputs")
# relu pre-activations stay this far from the kink on every real step, so that
# no finite-difference step crosses it.
RELU_MARGIN = 1e-3


@pytest.fixture(scope="module")
def rnn():
    return importlib.import_module("skseq._rnn_layer")


@pytest.fixture(scope="module")
def layout():
    return importlib.import_module("skseq._layout")


@pytest.fixture(scope="module")
def numerics():
    return importlib.import_module("skseq._numerics")


@pytest.fixture
def restore_packed_level(rnn):
    level = _lstm_layer.packed_gemm_level()
    yield
    _lstm_layer._set_packed_gemm_level(level)


def relative_error(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


def report(label, errors):
    """Print the measured errors of one case and return the largest."""
    print(f"\n[{label}] " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    return max(errors.values())


# --------------------------------------------------------------------------
# The NumPy oracle


def _activate(z, activation):
    return np.tanh(z) if activation == "tanh" else np.maximum(z, 0.0)


def _derivative(h, activation):
    return 1.0 - h * h if activation == "tanh" else (h > 0).astype(h.dtype)


def oracle_forward(X, lengths, kernel, recurrent_kernel, bias, activation):
    """Pre-activations and hidden states (B, T, H), zeros past each length."""
    n_samples, n_timesteps, _ = X.shape
    n_hidden = recurrent_kernel.shape[0]
    z = np.zeros((n_samples, n_timesteps, n_hidden))
    hidden = np.zeros((n_samples, n_timesteps, n_hidden))
    for j in range(n_samples):
        h = np.zeros(n_hidden)
        for t in range(lengths[j]):
            z[j, t] = X[j, t] @ kernel + h @ recurrent_kernel + bias
            h = hidden[j, t] = _activate(z[j, t], activation)
    return z, hidden


def oracle_backward(X, lengths, kernel, recurrent_kernel, hidden, dhidden, activation):
    """Gradients of sum(dhidden * hidden) (dhidden (B, T, H)) by BPTT."""
    grads = {
        "kernel": np.zeros_like(kernel),
        "recurrent_kernel": np.zeros_like(recurrent_kernel),
        "bias": np.zeros(recurrent_kernel.shape[0]),
        "inputs": np.zeros_like(X),
    }
    for j in range(X.shape[0]):
        dh_next = np.zeros(recurrent_kernel.shape[0])
        for t in reversed(range(lengths[j])):
            h_prev = hidden[j, t - 1] if t > 0 else np.zeros_like(dh_next)
            dz = (dhidden[j, t] + dh_next) * _derivative(hidden[j, t], activation)
            grads["kernel"] += np.outer(X[j, t], dz)
            grads["recurrent_kernel"] += np.outer(h_prev, dz)
            grads["bias"] += dz
            grads["inputs"][j, t] = dz @ kernel.T
            dh_next = dz @ recurrent_kernel.T
    return grads


def reverse_each(array, lengths):
    """Each sequence of (B, T, W) reversed within its own length."""
    out = np.zeros_like(array)
    for j, n in enumerate(lengths):
        out[j, :n] = array[j, :n][::-1]
    return out


# --------------------------------------------------------------------------
# Problems


def _lengths(rng, kind, n_samples, n_timesteps):
    if kind == "dense":
        return np.full(n_samples, n_timesteps, dtype=np.intp)
    # Longest first, so every chunk's lengths are non-increasing; 1 and T occur.
    lengths = np.sort(rng.integers(1, n_timesteps + 1, size=n_samples))[::-1]
    lengths[0], lengths[-1] = n_timesteps, 1
    return np.ascontiguousarray(lengths, dtype=np.intp)


def make_problem(
    seed,
    activation,
    lengths_kind="ragged",
    sizes=(4,),
    n_samples=7,
    n_timesteps=5,
    n_in=3,
):
    """Float64 X (zeros past lengths), lengths, layers [(W, U, b)] and R, the
    weights of the loss sum(R * h_top) over real steps: a gradient arrives at
    every step. For relu, the first seed from ``seed`` whose pre-activations
    (through the oracle) keep RELU_MARGIN from 0."""
    for attempt in range(1000):
        rng = np.random.default_rng(seed + attempt)
        lengths = _lengths(rng, lengths_kind, n_samples, n_timesteps)
        mask = np.arange(n_timesteps) < lengths[:, None]
        X = rng.normal(size=(n_samples, n_timesteps, n_in)) * mask[:, :, None]
        layers, n_prev = [], n_in
        for n_hidden in sizes:
            layers.append(
                (
                    rng.normal(scale=0.7, size=(n_prev, n_hidden)),
                    rng.normal(scale=0.5, size=(n_hidden, n_hidden)),
                    rng.normal(scale=0.3, size=n_hidden),
                )
            )
            n_prev = n_hidden
        R = rng.normal(size=(n_samples, n_timesteps, sizes[-1])) * mask[:, :, None]
        margin, inputs = np.inf, X
        for layer in layers:
            z, inputs = oracle_forward(inputs, lengths, *layer, activation)
            margin = min(margin, np.min(np.abs(z[mask])))
        if activation == "tanh" or margin > RELU_MARGIN:
            return X, lengths, layers, R
    raise RuntimeError("no seed keeps relu pre-activations away from 0")


def pad(array, dtype=np.float64):
    """(B, T, W) -> (B, T + 1, W) with a zero slot 0."""
    padded = np.zeros((array.shape[0], array.shape[1] + 1, array.shape[2]), dtype)
    padded[:, 1:] = array
    return padded


def cast(layer, dtype):
    return tuple(np.ascontiguousarray(w, dtype=dtype) for w in layer)


# --------------------------------------------------------------------------
# Calling the layer


def layer_forward(rnn, inputs, layer, lengths, activation, chunk_size=3, n_threads=1):
    """``inputs`` padded (B, T + 1, n_in); returns hidden (B, T + 1, H)."""
    n_hidden = layer[1].shape[0]
    hidden = np.full(inputs.shape[:2] + (n_hidden,), np.nan, inputs.dtype)
    rnn.rnn_forward(
        inputs,
        *layer,
        lengths,
        hidden,
        ACTIVATION_CODES[activation],
        chunk_size,
        n_threads,
    )
    return hidden


def layer_backward(
    rnn,
    inputs,
    layer,
    lengths,
    hidden,
    dhidden,
    activation,
    chunk_size=3,
    n_threads=1,
    with_dinputs=True,
    last_steps_only=False,
):
    """The gradients (padded layout for inputs and dgates), in a dict."""
    kernel, recurrent_kernel, _ = layer
    n_samples, n_slots, n_in = inputs.shape
    n_hidden = recurrent_kernel.shape[0]
    dtype = inputs.dtype
    grads = {
        "kernel": np.full(kernel.shape, np.nan, dtype),
        "recurrent_kernel": np.full(recurrent_kernel.shape, np.nan, dtype),
        "bias": np.full(n_hidden, np.nan, dtype),
        "inputs": np.full(inputs.shape, np.nan, dtype) if with_dinputs else None,
        "dgates": np.full((n_samples, n_slots, n_hidden), np.nan, dtype),
    }
    size = rnn.backward_workspace_size(n_samples, n_in, n_hidden, chunk_size)
    rnn.rnn_backward(
        inputs,
        kernel,
        recurrent_kernel,
        lengths,
        hidden,
        dhidden,
        grads["dgates"],
        grads["inputs"],
        grads["kernel"],
        grads["recurrent_kernel"],
        grads["bias"],
        np.full(size, np.nan, dtype),
        ACTIVATION_CODES[activation],
        chunk_size,
        n_threads,
        last_steps_only,
    )
    return grads


def stack_loss_and_grads(
    rnn,
    layout,
    X,
    lengths,
    layers,
    R,
    activation,
    reverse,
    chunk_size=3,
    n_threads=1,
    dtype=np.float64,
):
    """The loss sum(R * h_top) and its gradients through a stack of layers.

    With ``reverse`` every layer runs on its inputs reversed in time within
    each length (``_layout.reverse_time``, as a bidirectional layer's second
    direction does), its outputs reversed back: a stack of backward-direction
    layers, still a function of X in its own time order."""

    def flip(array):
        out = np.full(array.shape, np.nan, array.dtype)
        layout.reverse_time(array, lengths, out, False)
        return out

    layers = [cast(layer, dtype) for layer in layers]
    inputs, trace = pad(X, dtype), []
    for layer in layers:
        layer_in = flip(inputs) if reverse else inputs
        hidden = layer_forward(
            rnn, layer_in, layer, lengths, activation, chunk_size, n_threads
        )
        trace.append((layer_in, hidden))
        inputs = flip(hidden) if reverse else hidden
    loss = float(np.sum(R * inputs[:, 1:]))
    dhidden, grads = pad(R, dtype), [None] * len(layers)
    for k in reversed(range(len(layers))):
        layer_in, hidden = trace[k]
        grads[k] = layer_backward(
            rnn,
            layer_in,
            layers[k],
            lengths,
            hidden,
            flip(dhidden) if reverse else dhidden,
            activation,
            chunk_size,
            n_threads,
        )
        dhidden = grads[k]["inputs"]
        if reverse:
            dhidden = flip(dhidden)
    return loss, grads, dhidden[:, 1:], inputs[:, 1:]


# --------------------------------------------------------------------------
# The forward pass


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_forward_matches_numpy_oracle(
    rnn, restore_packed_level, activation, lengths_kind, chunk_size
):
    """h_t = act(x_t W + h_{t-1} U + b) at every real step, in float64, for
    whole and ragged batches, one to several chunks, on the packed products
    and on BLAS; zeros at slot 0 and past each sequence's end."""
    X, lengths, (layer,), _ = make_problem(1, activation, lengths_kind, sizes=(6,))
    _, want = oracle_forward(X, lengths, *layer, activation)
    errors = {}
    for level in range(_lstm_layer.packed_gemm_level() + 1):
        _lstm_layer._set_packed_gemm_level(level)
        hidden = layer_forward(rnn, pad(X), layer, lengths, activation, chunk_size)
        errors[f"level {level}"] = relative_error(hidden[:, 1:], want)
        assert_array_equal(hidden[:, 0], 0)
        for j, n in enumerate(lengths):
            assert_array_equal(hidden[j, n + 1 :], 0)
    assert report(f"forward {activation} {lengths_kind}", errors) <= 1e-12


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_reversed_ragged_forward_matches_oracle(rnn, layout, activation):
    """The backward direction of a bidirectional layer: the inputs reversed
    within each length by ``reverse_time``, the layer run forward, give the
    oracle's states on each sequence reversed."""
    X, lengths, (layer,), _ = make_problem(2, activation, "ragged", sizes=(5,))
    reversed_inputs = np.full((7, 6, 3), np.nan)
    layout.reverse_time(pad(X), lengths, reversed_inputs, False)
    hidden = layer_forward(rnn, reversed_inputs, layer, lengths, activation)
    _, want = oracle_forward(reverse_each(X, lengths), lengths, *layer, activation)
    error = relative_error(hidden[:, 1:], want)
    assert report(f"reversed forward {activation}", {"hidden": error}) <= 1e-12


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_preactivations_stay_finite(rnn, dtype):
    """Pre-activations of +-1e4 saturate tanh at +-1 and pass through relu."""
    X = np.zeros((2, 3, 1), dtype)
    X[0, :, 0], X[1, :, 0] = 1e4, -1e4
    layer = cast((np.ones((1, 2)), np.zeros((2, 2)), np.zeros(2)), dtype)
    lengths = np.full(2, 3, np.intp)
    tanh = layer_forward(rnn, pad(X, dtype), layer, lengths, "tanh")
    relu = layer_forward(rnn, pad(X, dtype), layer, lengths, "relu")
    assert_array_equal(tanh[:, 1:, 0], [[1, 1, 1], [-1, -1, -1]])
    assert_array_equal(relu[:, 1:, 0], [[1e4] * 3, [0] * 3])


# --------------------------------------------------------------------------
# The backward pass


@pytest.mark.parametrize("lengths_kind", ["dense", "ragged"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_backward_matches_numpy_oracle(
    rnn, restore_packed_level, activation, lengths_kind
):
    """The gradients of sum(R * h) match the oracle's BPTT in float64 on the
    packed products and on BLAS, with chunks of 3 rows and of the whole
    batch; dL/dz and dL/dx are zero at slot 0 and past the lengths."""
    X, lengths, (layer,), R = make_problem(3, activation, lengths_kind, sizes=(6,))
    _, hidden_want = oracle_forward(X, lengths, *layer, activation)
    want = oracle_backward(X, lengths, layer[0], layer[1], hidden_want, R, activation)
    errors = {}
    for level in range(_lstm_layer.packed_gemm_level() + 1):
        _lstm_layer._set_packed_gemm_level(level)
        for chunk_size in (3, 7):
            hidden = layer_forward(rnn, pad(X), layer, lengths, activation, chunk_size)
            grads = layer_backward(
                rnn, pad(X), layer, lengths, hidden, pad(R), activation, chunk_size
            )
            assert_array_equal(grads["inputs"][:, 0], 0)
            grads["inputs"] = grads["inputs"][:, 1:]
            for name in GRADIENT_NAMES:
                error = relative_error(grads[name], want[name])
                errors[name] = max(errors.get(name, 0.0), error)
            assert_array_equal(grads["dgates"][:, 0], 0)
            for j, n in enumerate(lengths):
                assert_array_equal(grads["dgates"][j, n + 1 :], 0)
                assert_array_equal(grads["inputs"][j, n:], 0)
    assert report(f"backward {activation} {lengths_kind}", errors) <= 1e-12


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reversed"])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_gradients_match_finite_differences(rnn, layout, activation, n_layers, reverse):
    """Float64 gradients of a loss on every step's output (sum(R * h_top)) by
    kernel, recurrent kernel, bias and inputs, through one or two stacked
    layers (the upper layer's dL/dx is the gradient arriving at every step of
    the lower one), ragged lengths, in either time direction: relative error
    <= 1e-6 against central differences."""
    sizes = (4,) if n_layers == 1 else (4, 3)
    X, lengths, layers, R = make_problem(4, activation, "ragged", sizes=sizes)

    def loss():
        return stack_loss_and_grads(
            rnn, layout, X, lengths, layers, R, activation, reverse
        )[0]

    _, grads, dX, _ = stack_loss_and_grads(
        rnn, layout, X, lengths, layers, R, activation, reverse
    )
    errors = {"inputs": relative_error(dX, finite_difference(loss, X))}
    for k, layer in enumerate(layers):
        for name, weights in zip(
            ("kernel", "recurrent_kernel", "bias"), layer, strict=True
        ):
            numeric = finite_difference(loss, weights)
            errors[f"{name}[{k}]"] = relative_error(grads[k][name], numeric)
    label = f"finite differences {activation} {n_layers} layer(s) reverse={reverse}"
    assert report(label, errors) <= 1e-6


def test_backward_without_dinputs(rnn):
    """With dinputs None (the first layer) the weight gradients are the same."""
    X, lengths, (layer,), R = make_problem(5, "tanh", "ragged")
    hidden = layer_forward(rnn, pad(X), layer, lengths, "tanh")
    full = layer_backward(rnn, pad(X), layer, lengths, hidden, pad(R), "tanh")
    bare = layer_backward(
        rnn, pad(X), layer, lengths, hidden, pad(R), "tanh", with_dinputs=False
    )
    for name in ("kernel", "recurrent_kernel", "bias", "dgates"):
        assert_array_equal(bare[name], full[name])


def test_steps_past_lengths_are_ignored(rnn):
    """NaN in the inputs and in the arriving gradient past each sequence's
    end changes nothing: those slots are never read."""
    X, lengths, (layer,), R = make_problem(6, "tanh", "ragged")
    inputs, dhidden = pad(X), pad(R)
    clean_hidden = layer_forward(rnn, inputs, layer, lengths, "tanh")
    clean = layer_backward(rnn, inputs, layer, lengths, clean_hidden, dhidden, "tanh")
    for j, n in enumerate(lengths):
        inputs[j, n + 1 :] = np.nan
        dhidden[j, n + 1 :] = np.nan
    hidden = layer_forward(rnn, inputs, layer, lengths, "tanh")
    grads = layer_backward(rnn, inputs, layer, lengths, hidden, dhidden, "tanh")
    assert_array_equal(hidden, clean_hidden)
    for name in ("kernel", "recurrent_kernel", "bias", "dgates"):
        assert_array_equal(grads[name], clean[name])
    for j, n in enumerate(lengths):
        assert_array_equal(grads["inputs"][j, : n + 1], clean["inputs"][j, : n + 1])


@pytest.mark.parametrize("n_threads", [1, 2])
def test_last_steps_only_reads_dhidden_at_the_last_steps_alone(rnn, n_threads):
    """Told that dL/dh is zero but at each sequence's last step (the head's
    gradient), the layer reads it there alone: NaN elsewhere gives the bits
    that zeros elsewhere give without the flag."""
    X, lengths, (layer,), R = make_problem(8, "tanh", "ragged")
    inputs = pad(X)
    hidden = layer_forward(rnn, inputs, layer, lengths, "tanh")
    rows = np.arange(len(lengths))
    zeros_elsewhere = np.zeros_like(pad(R))
    zeros_elsewhere[rows, lengths] = pad(R)[rows, lengths]
    nan_elsewhere = np.full_like(zeros_elsewhere, np.nan)
    nan_elsewhere[rows, lengths] = zeros_elsewhere[rows, lengths]
    plain = layer_backward(
        rnn, inputs, layer, lengths, hidden, zeros_elsewhere, "tanh",
        n_threads=n_threads,
    )  # fmt: skip
    told = layer_backward(
        rnn, inputs, layer, lengths, hidden, nan_elsewhere, "tanh",
        n_threads=n_threads, last_steps_only=True,
    )  # fmt: skip
    for name in ("kernel", "recurrent_kernel", "bias", "inputs", "dgates"):
        assert_array_equal(told[name], plain[name])


# --------------------------------------------------------------------------
# Precision and threads


def test_float32_matches_float64(rnn, layout):
    """Float32 forward and gradients of a two-layer stack (H = 24, T = 30,
    ragged) agree with float64 within 1e-4 relative to each array's largest
    value (rounding builds up along the 30 steps: about 1e-5 is measured)."""
    X, lengths, layers, R = make_problem(
        7, "tanh", "ragged", sizes=(24, 24), n_samples=9, n_timesteps=30, n_in=5
    )
    results = {}
    for dtype in (np.float64, np.float32):
        results[dtype] = stack_loss_and_grads(
            rnn, layout, X, lengths, layers, R, "tanh", False, dtype=dtype
        )
    (_, grads64, dX64, h64), (_, grads32, dX32, h32) = results.values()
    errors = {"hidden": relative_error(h32, h64), "inputs": relative_error(dX32, dX64)}
    for k in range(2):
        for name in ("kernel", "recurrent_kernel", "bias"):
            errors[f"{name}[{k}]"] = relative_error(grads32[k][name], grads64[k][name])
    assert report("float32 vs float64", errors) <= 1e-4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_count_does_not_change_results(rnn, layout, dtype):
    """One and two threads give the same bits: the chunks are the same, and
    their partial gradients are summed in chunk order."""
    X, lengths, layers, R = make_problem(
        8, "tanh", "ragged", sizes=(16, 8), n_samples=23, n_timesteps=9
    )
    one = stack_loss_and_grads(
        rnn,
        layout,
        X,
        lengths,
        layers,
        R,
        "tanh",
        False,
        chunk_size=4,
        n_threads=1,
        dtype=dtype,
    )
    two = stack_loss_and_grads(
        rnn,
        layout,
        X,
        lengths,
        layers,
        R,
        "tanh",
        False,
        chunk_size=4,
        n_threads=2,
        dtype=dtype,
    )
    assert_array_equal(one[3], two[3])
    assert_array_equal(one[2], two[2])
    for grads_one, grads_two in zip(one[1], two[1], strict=True):
        for name in ("kernel", "recurrent_kernel", "bias", "dgates"):
            assert np.isfinite(grads_one[name]).all()
            assert_array_equal(grads_one[name], grads_two[name])


# --------------------------------------------------------------------------
# Inference


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inference_buffers_give_the_training_final_states(
    rnn, layout, restore_packed_level, dtype
):
    """Two alternating hidden slots (with or without the zero input slot)
    leave each sequence's last state, the same bits as the training pass."""
    X, lengths, (layer,), _ = make_problem(
        9, "tanh", "ragged", sizes=(12,), n_samples=11, n_timesteps=8
    )
    layer = cast(layer, dtype)
    inputs = pad(X, dtype)
    for level in range(_lstm_layer.packed_gemm_level() + 1):
        _lstm_layer._set_packed_gemm_level(level)
        for chunk_size, n_threads in [(1, 1), (4, 2), (11, 1)]:
            full = layer_forward(
                rnn, inputs, layer, lengths, "tanh", chunk_size, n_threads
            )
            want = full[np.arange(11), lengths]
            for source, zero_slot in [(inputs, True), (inputs[:, 1:].copy(), False)]:
                two = np.full((11, 2, 12), np.nan, dtype)
                rnn.rnn_forward(
                    source, *layer, lengths, two, 0, chunk_size, n_threads, zero_slot
                )
                got = np.full((11, 12), np.nan, dtype)
                layout.gather_last(two, lengths, got, 0)
                assert_array_equal(got, want)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_predict_is_forward_then_head(
    rnn, layout, numerics, restore_packed_level, activation
):
    """rnn_predict gives the bits of rnn_forward (inference buffers, no zero
    slot), gather_last and dense_forward, at every packed level and dtype."""
    rng = np.random.default_rng(10)
    code = ACTIVATION_CODES[activation]
    for level in range(_lstm_layer.packed_gemm_level() + 1):
        _lstm_layer._set_packed_gemm_level(level)
        for dtype in (np.float64, np.float32):
            for n_rows, n_steps, n_hidden, n_out, chunk_size, n_threads in [
                (1, 7, 32, 1, 1, 1), (29, 6, 20, 3, 13, 2), (5, 1, 9, 2, 5, 1),
            ]:  # fmt: skip
                X = rng.normal(size=(n_rows, n_steps, 5)).astype(dtype)
                layer = cast(
                    (
                        0.4 * rng.normal(size=(5, n_hidden)),
                        0.3 * rng.normal(size=(n_hidden, n_hidden)),
                        0.1 * rng.normal(size=n_hidden),
                    ),
                    dtype,
                )
                head = rng.normal(size=(n_hidden, n_out)).astype(dtype)
                head_bias = rng.normal(size=n_out).astype(dtype)
                lengths = np.full(n_rows, n_steps, np.intp)
                hidden = np.full((n_rows, 2, n_hidden), np.nan, dtype)
                rnn.rnn_forward(
                    X, *layer, lengths, hidden, code, chunk_size, n_threads, False
                )
                last = np.full((n_rows, n_hidden), np.nan, dtype)
                layout.gather_last(hidden, lengths, last, 0)
                want = np.full((n_rows, n_out), np.nan, dtype)
                numerics.dense_forward(last, head, head_bias, want)
                got = np.full((n_rows, n_out), np.nan, dtype)
                rnn.rnn_predict(
                    X, *layer, head, head_bias, got, code, chunk_size, n_threads
                )
                assert np.isfinite(want).all()
                assert_array_equal(got, want)


# --------------------------------------------------------------------------
# Wrong calls


def test_wrong_shapes_are_refused_before_any_work(rnn):
    """The layer is private (the network validates user input); its checks
    stop a wrong call with a ValueError naming the array before any pointer
    is taken."""
    X, lengths, (layer,), R = make_problem(11, "tanh", "ragged")
    kernel, recurrent_kernel, bias = layer
    inputs = pad(X)
    hidden = layer_forward(rnn, inputs, layer, lengths, "tanh")
    cases = [
        ("kernel has shape", lambda: rnn.rnn_forward(
            inputs, kernel[:-1], recurrent_kernel, bias, lengths, hidden, 0, 3, 1)),
        ("recurrent_kernel has shape", lambda: rnn.rnn_forward(
            inputs, kernel, recurrent_kernel[:, 1:].copy(), bias, lengths, hidden,
            0, 3, 1)),
        ("bias has shape", lambda: rnn.rnn_forward(
            inputs, kernel, recurrent_kernel, bias[1:], lengths, hidden, 0, 3, 1)),
        ("hidden has shape", lambda: rnn.rnn_forward(
            inputs, *layer, lengths, hidden[:, :3].copy(), 0, 3, 1)),
        ("lengths must not increase", lambda: rnn.rnn_forward(
            inputs, *layer, lengths[::-1].copy(), hidden, 0, 3, 1)),
        ("outside", lambda: rnn.rnn_forward(
            inputs, *layer, lengths + 1, hidden, 0, 7, 1)),
        ("only read by the inference pass", lambda: rnn.rnn_forward(
            inputs[:, 1:].copy(), *layer, lengths, hidden, 0, 3, 1, False)),
        ("dhidden has shape", lambda: layer_backward(
            rnn, inputs, layer, lengths, hidden, pad(R)[:, 1:].copy(), "tanh")),
        ("work has", lambda: rnn.rnn_backward(
            inputs, kernel, recurrent_kernel, lengths, hidden, pad(R),
            np.empty_like(hidden), None, np.empty_like(kernel),
            np.empty_like(recurrent_kernel), np.empty_like(bias), np.empty(10),
            0, 3, 1)),
        ("head_weights has shape", lambda: rnn.rnn_predict(
            X, *layer, np.ones((3, 1)), np.ones(1), np.ones((7, 1)), 0, 1, 1)),
    ]  # fmt: skip
    for message, call in cases:
        before = hidden.copy()
        with pytest.raises(ValueError, match=message):
            call()
        assert_array_equal(hidden, before)


def test_backward_workspace_size(rnn):
    """Each chunk's partial gradients plus one carry row per sequence."""
    assert rnn.backward_workspace_size(10, 3, 4, 4) == 3 * (3 + 4 + 1) * 4 + 10 * 4
    assert rnn.backward_workspace_size(0, 3, 4, 4) == 0


# --------------------------------------------------------------------------
# The small-batch predictor


def _small_network(rng, dtype, n_in, n_hidden, n_out):
    return cast(
        (
            0.4 * rng.normal(size=(n_in, n_hidden)),
            0.3 * rng.normal(size=(n_hidden, n_hidden)),
            0.1 * rng.normal(size=n_hidden),
            rng.normal(size=(n_hidden, n_out)),
            rng.normal(size=n_out),
        ),
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_small_batch_predictor_gives_rnn_predict_bits(
    rnn, restore_packed_level, dtype, activation
):
    """SmallBatchPredictor.predict gives rnn_predict's bits (one chunk, one
    thread) at every packed level, for one to ``max_rows`` sequences, and
    follows the weights when they are changed in place."""
    rng = np.random.default_rng(31)
    code = ACTIVATION_CODES[activation]

    def check(predictor, X, weights):
        want = np.full((len(X), weights[3].shape[1]), np.nan, dtype)
        rnn.rnn_predict(X, *weights, want, code, len(X), 1)
        got = predictor.predict(X)
        assert np.isfinite(want).all()
        assert got.dtype == dtype
        assert_array_equal(got, want)

    for level in range(1, _lstm_layer.packed_gemm_level() + 1):
        _lstm_layer._set_packed_gemm_level(level)
        for n_hidden, n_out in ((32, 1), (20, 3)):
            weights = _small_network(rng, dtype, 5, n_hidden, n_out)
            predictor = rnn.SmallBatchPredictor(*weights, code, 7)
            for n_rows, n_steps in ((1, 6), (3, 1), (7, 4)):
                X = rng.normal(size=(n_rows, n_steps, 5)).astype(dtype)
                check(predictor, X, weights)
            weights[1][...] *= 0.5
            weights[4][...] += 1.0
            check(predictor, X[:2], weights)


def test_small_batch_predictor_declines_all_but_the_plain_case(
    rnn, restore_packed_level
):
    """predict returns None for anything but a C-contiguous, aligned ndarray
    of the weights' dtype, shape (1..max_rows, >= 1, n_in), of finite values,
    and whenever no packed level is active."""
    rng = np.random.default_rng(37)
    predictor = rnn.SmallBatchPredictor(*_small_network(rng, np.float32, 3, 8, 2), 0, 4)
    X = rng.normal(size=(2, 5, 3)).astype(np.float32)
    level = _lstm_layer.packed_gemm_level()
    _lstm_layer._set_packed_gemm_level(0)
    assert predictor.predict(X) is None
    if level == 0:
        return  # a CPU without the packed kernels: every input is declined
    _lstm_layer._set_packed_gemm_level(level)
    assert predictor.predict(X).shape == (2, 2)
    nan = X.copy()
    nan[1, 4, 2] = np.nan
    declined = [
        X.tolist(), X[0], X.astype(np.float64), np.asfortranarray(X), X[:, ::2],
        X[:0], X[:, :0], np.concatenate([X, X, X]), X[..., :2], nan,
    ]  # fmt: skip
    for value in declined:
        assert predictor.predict(value) is None


def test_small_batch_predictor_checks_its_weights(rnn):
    """The weights are checked once, when the predictor is made."""
    rng = np.random.default_rng(41)
    kernel, recurrent_kernel, bias, head, head_bias = _small_network(
        rng, np.float64, 3, 8, 2
    )
    cases = [
        (TypeError, "kernel must be a NumPy array",
         (kernel.tolist(), recurrent_kernel, bias, head, head_bias, 0, 4)),
        (ValueError, "recurrent_kernel has shape",
         (kernel, recurrent_kernel[:-1], bias, head, head_bias, 0, 4)),
        (ValueError, "bias must be a C-contiguous",
         (kernel, recurrent_kernel, bias.astype(np.float32), head, head_bias, 0, 4)),
        (ValueError, "head_bias has shape",
         (kernel, recurrent_kernel, bias, head, head_bias[:1], 0, 4)),
        (ValueError, "max_rows must be >= 1",
         (kernel, recurrent_kernel, bias, head, head_bias, 0, 0)),
    ]  # fmt: skip
    for error, message, arguments in cases:
        with pytest.raises(error, match=message):
            rnn.SmallBatchPredictor(*arguments)
