"""Stacked LSTM layers and a dense output head: forward and backward over a batch.

All weights of a network live in one flat 1-D array, so that an optimizer
updates them with a handful of whole-array operations and the compiled core
always sees the current values through views. The layout, in order:

    for each layer:  kernel (n_in, 4H)   recurrent_kernel (H, 4H)
    head coef (H_last, n_outputs)
    for each layer:  bias (4H,)
    head intercept (n_outputs,)

The penalised weights (kernels and head coef) come first, so the L2 term is
one slice. Gate blocks inside every 4H axis are ordered i, f, g, o, the Keras
layout; PyTorch's ``weight_ih_l0`` is the transpose of ``kernel``.
"""

import math

import numpy as np

from ._core import lstm_core as _lstm_core

ACTIVATIONS = {"tanh": _lstm_core.ACTIVATION_TANH, "relu": _lstm_core.ACTIVATION_RELU}


def chunk_size_for(n_rows):
    """Rows per batch chunk: a function of the batch size only.

    The chunk size fixes the order in which per-chunk gradient partials are
    summed, so it must never depend on the thread count: then results are the
    same whatever the number of threads.
    """
    return max(8, math.ceil(n_rows / 16))


# A second thread is worth waking only when each thread gets at least this many
# multiply-adds of one layer's pass: below it, waking the thread and waiting for
# it (long, when another process holds a core) costs more than it saves.
MIN_WORK_PER_THREAD = 1_000_000


def threads_for(n_rows, n_slots, n_in, hidden, max_threads):
    """Threads for one layer's pass: never more than there are chunks or
    than the work pays for. Results do not depend on it."""
    work = n_rows * n_slots * 4 * hidden * (n_in + hidden)
    n_chunks = -(-n_rows // chunk_size_for(n_rows))
    return int(max(1, min(max_threads, n_chunks, work // MIN_WORK_PER_THREAD)))


class LayerWeights:
    """Views into the flat weight array for one LSTM layer."""

    __slots__ = ("kernel", "recurrent_kernel", "bias")

    def __init__(self, kernel, recurrent_kernel, bias):
        self.kernel = kernel
        self.recurrent_kernel = recurrent_kernel
        self.bias = bias


class LSTMNetwork:
    """The shape of a stacked LSTM with a dense head reading the last step.

    Holds no weights and no fitted state: it describes the layout of the flat
    weight vector and runs forward/backward passes given that vector. It is
    cheap to rebuild from the estimator's hyper-parameters.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_outputs, activation):
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_outputs = int(n_outputs)
        self.activation = activation
        self._activation_code = ACTIVATIONS[activation]

        shapes_penalised, shapes_bias = [], []
        n_in = self.n_features
        for hidden in self.hidden_layer_sizes:
            shapes_penalised += [(n_in, 4 * hidden), (hidden, 4 * hidden)]
            shapes_bias.append((4 * hidden,))
            n_in = hidden
        shapes_penalised.append((n_in, self.n_outputs))
        shapes_bias.append((self.n_outputs,))
        self._shapes = shapes_penalised + shapes_bias
        sizes = [math.prod(s) for s in self._shapes]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n_weights = int(self._offsets[-1])
        self.n_penalised = int(sum(sizes[: len(shapes_penalised)]))

    # ------------------------------------------------------------------ layout
    def _pieces(self, flat):
        return [
            flat[start:stop].reshape(shape)
            for start, stop, shape in zip(
                self._offsets[:-1], self._offsets[1:], self._shapes, strict=True
            )
        ]

    def unpack(self, flat):
        """Views of ``flat``: (list of LayerWeights, head_coef, head_intercept)."""
        pieces = self._pieces(flat)
        n_layers = len(self.hidden_layer_sizes)
        kernels = pieces[0 : 2 * n_layers]
        head_coef = pieces[2 * n_layers]
        biases = pieces[2 * n_layers + 1 : 3 * n_layers + 1]
        head_intercept = pieces[3 * n_layers + 1]
        layers = [
            LayerWeights(kernels[2 * i], kernels[2 * i + 1], biases[i])
            for i in range(n_layers)
        ]
        return layers, head_coef, head_intercept

    def initialize(self, rng, dtype, forget_bias):
        """Fresh weights: Glorot-uniform kernels, orthogonal recurrent kernels,
        zero biases but the forget gate's, which is ``forget_bias``.

        Drawn in float64 and then cast, so a float32 and a float64 network from
        the same seed start from the same point.
        """
        flat = np.zeros(self.n_weights, dtype=np.float64)
        layers, head_coef, _ = self.unpack(flat)
        for layer in layers:
            n_in, n_gates = layer.kernel.shape
            hidden = layer.recurrent_kernel.shape[0]
            limit = math.sqrt(6.0 / (n_in + n_gates))
            layer.kernel[...] = rng.uniform(-limit, limit, size=layer.kernel.shape)
            layer.recurrent_kernel[...] = _orthogonal_rows(rng, hidden, n_gates)
            layer.bias[hidden : 2 * hidden] = forget_bias
        n_in, n_out = head_coef.shape
        limit = math.sqrt(6.0 / (n_in + n_out))
        head_coef[...] = rng.uniform(-limit, limit, size=head_coef.shape)
        return flat.astype(dtype, copy=False)

    # --------------------------------------------------------------- passes
    def allocate(self, n_rows, n_timesteps, dtype, training):
        """Buffers for batches of at most ``n_rows`` sequences of at most
        ``n_timesteps`` steps: allocated once, reused for every batch."""
        return _Workspace(self, n_rows, n_timesteps, dtype, training)

    def forward(self, flat, inputs, lengths, workspace, n_threads):
        """Raw head outputs (before the output activation), shape (B, n_outputs).

        ``inputs`` is workspace.inputs(...) filled by the caller: (B, T + 1,
        n_features) with slot 0 zeros. Rows must be sorted by decreasing length.
        """
        n_rows, n_slots, _ = inputs.shape
        layers, head_coef, head_intercept = self.unpack(flat)
        chunk_size = chunk_size_for(n_rows)
        layer_input = inputs
        for index, layer in enumerate(layers):
            buffers = workspace.layer_buffers(index, n_rows, n_slots)
            threads = threads_for(
                n_rows, n_slots, layer.kernel.shape[0], layer.recurrent_kernel.shape[0],
                n_threads,
            )  # fmt: skip
            _lstm_core.lstm_forward(
                layer_input, layer.kernel, layer.recurrent_kernel, layer.bias,
                lengths, buffers["gates"], buffers["cells"], buffers["hidden"],
                self._activation_code, chunk_size, threads,
            )  # fmt: skip
            layer_input = buffers["hidden"]
        last_hidden = layer_input[np.arange(n_rows), lengths]
        workspace.last_hidden = last_hidden
        return last_hidden @ head_coef + head_intercept

    def backward(self, flat, inputs, lengths, d_outputs, workspace, grad, n_threads):
        """Gradient of the loss with respect to every weight, into ``grad``.

        ``d_outputs`` is dLoss/d(raw outputs), shape (B, n_outputs), for the
        batch whose forward pass was the last one run on ``workspace``.
        """
        n_rows, n_slots, _ = inputs.shape
        layers, head_coef, _ = self.unpack(flat)
        grad_layers, grad_head_coef, grad_head_intercept = self.unpack(grad)
        chunk_size = chunk_size_for(n_rows)

        np.matmul(workspace.last_hidden.T, d_outputs, out=grad_head_coef)
        np.sum(d_outputs, axis=0, out=grad_head_intercept)

        top = workspace.layer_buffers(len(layers) - 1, n_rows, n_slots)
        top["dhidden"].fill(0)
        top["dhidden"][np.arange(n_rows), lengths] = d_outputs @ head_coef.T

        for index in range(len(layers) - 1, -1, -1):
            layer, grads = layers[index], grad_layers[index]
            buffers = workspace.layer_buffers(index, n_rows, n_slots)
            if index > 0:
                below = workspace.layer_buffers(index - 1, n_rows, n_slots)
                layer_input, dinputs = below["hidden"], below["dhidden"]
            else:
                layer_input, dinputs = inputs, None
            threads = threads_for(
                n_rows, n_slots, layer.kernel.shape[0], layer.recurrent_kernel.shape[0],
                n_threads,
            )  # fmt: skip
            _lstm_core.lstm_backward(
                layer_input, layer.kernel, layer.recurrent_kernel, lengths,
                buffers["gates"], buffers["cells"], buffers["hidden"],
                buffers["dhidden"], buffers["gates"], dinputs,
                grads.kernel, grads.recurrent_kernel, grads.bias,
                workspace.work(index, n_rows), self._activation_code,
                chunk_size, threads,
            )  # fmt: skip
        return grad


class _Workspace:
    """Flat buffers sized for the largest batch, viewed per batch.

    A batch smaller than the maximum (the last one of an epoch, or a shorter
    padded length) gets C-contiguous views of the front of each buffer.
    The backward pass writes gate gradients over the gate values, which it no
    longer needs once read, so training keeps 7H numbers per (row, slot) and
    layer. Inference keeps no per-step cell states and no gradient buffers.
    """

    def __init__(self, network, n_rows, n_timesteps, dtype, training):
        self.dtype = np.dtype(dtype)
        self.training = training
        n_slots = n_timesteps + 1
        self.max_rows, self.max_slots = n_rows, n_slots
        size = n_rows * n_slots
        self._inputs = np.zeros(size * network.n_features, dtype=dtype)
        self._layers = []
        self._work = []
        n_in = network.n_features
        for hidden in network.hidden_layer_sizes:
            buffers = {
                "gates": np.empty(size * 4 * hidden, dtype=dtype),
                "hidden": np.empty(size * hidden, dtype=dtype),
            }
            if training:
                buffers["cells"] = np.empty(size * hidden, dtype=dtype)
                buffers["dhidden"] = np.empty(size * hidden, dtype=dtype)
                self._work.append(
                    np.empty(
                        _lstm_core.backward_workspace_size(
                            n_rows, n_in, hidden, chunk_size_for(n_rows)
                        ),
                        dtype=dtype,
                    )
                )
            else:
                buffers["cells"] = np.empty(n_rows * 2 * hidden, dtype=dtype)
            self._layers.append((hidden, buffers))
            n_in = hidden
        self.n_features = network.n_features
        self.last_hidden = None

    def inputs(self, n_rows, n_slots):
        """The (n_rows, n_slots, n_features) input view; slot 0 is zero."""
        return self._inputs[: n_rows * n_slots * self.n_features].reshape(
            n_rows, n_slots, self.n_features
        )

    def layer_buffers(self, index, n_rows, n_slots):
        hidden, buffers = self._layers[index]
        views = {}
        for name, flat in buffers.items():
            width = 4 * hidden if name == "gates" else hidden
            slots = 2 if (name == "cells" and not self.training) else n_slots
            views[name] = flat[: n_rows * slots * width].reshape(n_rows, slots, width)
        return views

    def work(self, index, n_rows):
        return self._work[index]


def _orthogonal_rows(rng, n_rows, n_columns):
    """A (n_rows, n_columns) matrix with orthonormal rows (n_rows <= n_columns)."""
    normal = rng.standard_normal((n_columns, n_rows))
    q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))
    return q.T
