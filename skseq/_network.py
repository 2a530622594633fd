"""Stacked (optionally bidirectional) recurrent layers of one cell type
(``_cells``: LSTM, GRU) and a dense output head: forward and backward over a
batch.

All weights of a network live in one flat 1-D array, so that an optimizer
updates them with a handful of whole-array operations and the compiled core
always sees the current values through views. The layout, in order:

    for each layer, for each direction:  kernel (n_in, G), recurrent_kernel (H, G)
    head coef (n_directions * H_last, n_outputs)
    for each layer, for each direction:  bias (the cell's bias shape)
    head intercept (n_outputs,)

The penalised weights (kernels and head coef) come first, so the L2 term is
one slice. G is the cell's gate width (4H for the LSTM, gate blocks i, f, g,
o; 3H for the GRU, blocks z, r, h), the Keras layout; PyTorch's
``weight_ih_l0`` is the transpose of ``kernel``.

A bidirectional layer runs a second recurrent layer over each sequence
reversed within its own length and concatenates the two hidden states at
every step (forward first), so the layer above sees 2H features. The head reads the
forward direction at each sequence's last step and the reverse direction
after it has read the whole sequence back to its first step.

Dropout (inverted, with masks drawn by the caller) multiplies the input of
every layer but the first and the input of the head. One mask per sequence
and feature is shared by all time steps, as in Gal & Ghahramani (2016), so
the dropped features stay dropped over the whole sequence.
"""

import functools
import itertools
import math

import numpy as np
from joblib import cpu_count

from . import _layout, _numerics
from ._cells import CELLS
from ._workspace import INFERENCE_SLOTS, _Workspace, aligned_empty

# A second thread is worth waking only when each thread gets at least this many
# multiply-adds of one layer's pass: below it, waking the thread and waiting for
# it (long, when another process holds a core) costs more than it saves.
MIN_WORK_PER_THREAD = 4_000_000


# Rows per chunk of a batch (the last chunk may be shorter), on every machine:
# CHUNK_ROWS for layers of up to WIDE_LAYER units, twice as many for wider
# ones. The chunks fix the order in which per-chunk gradient partials are
# summed, so their layout depends on the batch and the layer alone, never on
# the thread count or the number of cores: the same data and random_state give
# the same bits anywhere. A chunk is one thread's task, so a batch of B rows
# keeps at most ceil(B / rows) threads busy. Fewer rows make each step's
# product re-read the recurrent kernel for fewer rows (which costs most when
# the kernel outgrows the caches, in wide layers) and add partial sums; more
# rows leave batches of usual sizes too few chunks to share.
CHUNK_ROWS = 16
WIDE_LAYER = 256

# Batches of up to this many rows are one chunk in every layer, and so run on
# one thread.
ONE_CHUNK_ROWS = CHUNK_ROWS

# Weights are allocated at this alignment, in bytes: a single sequence's pass
# reads the (row-major) weight matrices in place when they are aligned to a
# cache line, and must pack them otherwise.
WEIGHT_ALIGNMENT = 64


def aligned_copy(array, dtype):
    """A copy of the 1-D ``array`` in ``dtype``, its data aligned to
    ``WEIGHT_ALIGNMENT`` bytes."""
    out = aligned_empty(array.size, dtype, alignment=WEIGHT_ALIGNMENT)
    out[...] = array
    return out


def is_aligned(array):
    """Whether ``array``'s data starts on a ``WEIGHT_ALIGNMENT`` boundary."""
    return array.ctypes.data % WEIGHT_ALIGNMENT == 0


@functools.cache
def usable_cores():
    """CPUs this process may use (cgroup quotas and affinity respected).

    A property of the machine, read once: unlike the thread budget, it does not
    change with OMP_NUM_THREADS, threadpoolctl limits or joblib workers.
    """
    return max(1, cpu_count())


def chunk_rows(hidden):
    """Rows per batch chunk in a layer of ``hidden`` units."""
    return CHUNK_ROWS if hidden <= WIDE_LAYER else 2 * CHUNK_ROWS


# Called several times per batch: cached, each call is one lookup.
@functools.lru_cache(maxsize=1024)
def threads_for(n_rows, n_slots, n_in, hidden, max_threads, n_gates=4):
    """Threads for one layer's pass of a cell of ``n_gates`` gate blocks:
    never more than there are chunks or than the work pays for. Results do
    not depend on it."""
    work = n_rows * n_slots * n_gates * hidden * (n_in + hidden)
    n_chunks = -(-n_rows // chunk_rows(hidden))
    return int(max(1, min(max_threads, n_chunks, work // MIN_WORK_PER_THREAD)))


class LayerWeights:
    """Views into the flat weight array for one direction of one layer."""

    __slots__ = ("kernel", "recurrent_kernel", "bias")

    def __init__(self, kernel, recurrent_kernel, bias):
        self.kernel = kernel
        self.recurrent_kernel = recurrent_kernel
        self.bias = bias


class RecurrentNetwork:
    """The shape of stacked recurrent layers with a dense head reading the
    last step, or every step (``per_step``).

    Holds no weights and no fitted state: it describes the layout of the flat
    weight vector and runs forward/backward passes given that vector. It is
    cheap to rebuild from the estimator's hyper-parameters. ``cell`` is a
    key of ``_cells.CELLS``.
    """

    def __init__(
        self, n_features, hidden_layer_sizes, n_outputs, activation,
        bidirectional=False, cell="lstm", per_step=False,
    ):  # fmt: skip
        self.cell = CELLS[cell]
        # The head reads the top layer at every step (return_sequences), not
        # only at each sequence's last.
        self.per_step = bool(per_step)
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_outputs = int(n_outputs)
        self.activation = activation
        self.bidirectional = bool(bidirectional)
        self.n_directions = 2 if bidirectional else 1
        self._activation_code = self.cell.activations[activation]
        self._n_gates = self.cell.n_gates
        # Predictions of such a network on sequences of one length take
        # forward_dense.
        self.one_layer_one_way = (
            len(self.hidden_layer_sizes) == 1
            and not self.bidirectional
            and not self.per_step
        )

        # Input width of every layer, then of the head.
        self.input_widths = [self.n_features] + [
            self.n_directions * h for h in self.hidden_layer_sizes
        ]
        shapes_penalised, shapes_bias = [], []
        for n_in, hidden in zip(
            self.input_widths[:-1], self.hidden_layer_sizes, strict=True
        ):
            width = self.cell.gate_width(hidden)
            for _ in range(self.n_directions):
                shapes_penalised += [(n_in, width), (hidden, width)]
                shapes_bias.append(self.cell.bias_shape(hidden))
        shapes_penalised.append((self.input_widths[-1], self.n_outputs))
        shapes_bias.append((self.n_outputs,))
        shapes = shapes_penalised + shapes_bias
        sizes = [math.prod(s) for s in shapes]
        offsets = [0, *itertools.accumulate(sizes)]
        # Plain ints: unpacking runs on every prediction.
        self._pieces = list(zip(offsets[:-1], offsets[1:], shapes, strict=True))
        self.n_weights = offsets[-1]
        self.n_penalised = int(sum(sizes[: len(shapes_penalised)]))

    # ------------------------------------------------------------------ layout
    def unpack(self, flat):
        """Views of ``flat``: (layers, head_coef, head_intercept), where
        ``layers[l][d]`` is the LayerWeights of direction d of layer l."""
        pieces = [flat[a:b].reshape(shape) for a, b, shape in self._pieces]
        n_units = len(self.hidden_layer_sizes) * self.n_directions
        kernels = pieces[: 2 * n_units]
        head_coef = pieces[2 * n_units]
        biases = pieces[2 * n_units + 1 : 3 * n_units + 1]
        head_intercept = pieces[3 * n_units + 1]
        units = [
            LayerWeights(kernels[2 * u], kernels[2 * u + 1], biases[u])
            for u in range(n_units)
        ]
        layers = [
            units[d : d + self.n_directions]
            for d in range(0, n_units, self.n_directions)
        ]
        return layers, head_coef, head_intercept

    def initialize(self, rng, dtype, *cell_args, max_length=1, **cell_params):
        """Fresh weights: Glorot-uniform kernels, orthogonal recurrent kernels,
        biases as the cell sets them from its parameters (the LSTM's
        ``forget_bias``), given positionally or by name. ``max_length``, the
        longest training sequence, sets the spans of the cell's length-aware
        gate biases (:func:`_cells.chrono_gate_biases`), drawn last so that
        the other weights do not depend on them.

        Drawn in float64 and then cast, so a float32 and a float64 network from
        the same seed start from the same point.
        """
        flat = np.zeros(self.n_weights, dtype=np.float64)
        layers, head_coef, _ = self.unpack(flat)
        units = [unit for directions in layers for unit in directions]
        for unit in units:
            n_in, n_gates = unit.kernel.shape
            hidden = unit.recurrent_kernel.shape[0]
            limit = math.sqrt(6.0 / (n_in + n_gates))
            unit.kernel[...] = rng.uniform(-limit, limit, size=unit.kernel.shape)
            unit.recurrent_kernel[...] = _orthogonal_rows(rng, hidden, n_gates)
            self.cell.initial_bias(unit.bias, hidden, *cell_args, **cell_params)
        n_in, n_out = head_coef.shape
        limit = math.sqrt(6.0 / (n_in + n_out))
        head_coef[...] = rng.uniform(-limit, limit, size=head_coef.shape)
        for unit in units:
            self.cell.drawn_bias(
                unit.bias, len(unit.recurrent_kernel), rng, max_length, *cell_args,
                **cell_params,
            )  # fmt: skip
        return aligned_copy(flat, dtype)

    def small_batch_predictor(self, flat, unpacked):
        """A compiled predictor bound to ``unpacked``, the views of ``flat``
        (see :meth:`unpack`), for batches of up to ``ONE_CHUNK_ROWS``
        equal-length sequences; it gives :meth:`forward_dense`'s bits. None
        when the network is not ``one_layer_one_way``, or when ``flat`` is not
        an aligned, native-order array (the predictor reads the arrays' data
        directly and requires both), or when the cell has no such predictor."""
        predictor = self.cell.small_batch_predictor
        readable = flat.flags.aligned and flat.dtype.isnative
        if predictor is None or not (self.one_layer_one_way and readable):
            return None
        ((unit,),), head_coef, head_intercept = unpacked
        return predictor(
            unit.kernel, unit.recurrent_kernel, unit.bias, head_coef,
            head_intercept, self._activation_code, ONE_CHUNK_ROWS,
        )  # fmt: skip

    def draw_dropout_masks(self, rng, n_rows, rate, dtype):
        """Inverted-dropout masks for one batch: one (n_rows, width) array per
        layer input (None for the first layer) and one for the head input."""
        if rate <= 0:
            return None
        keep = 1.0 - rate
        masks = [None]
        for width in self.input_widths[1:]:
            mask = (rng.random_sample((n_rows, width)) < keep).astype(dtype)
            mask /= keep
            masks.append(mask)
        return masks

    def inference_row_size(self, n_slots):
        """Numbers held per sequence row by an inference workspace for
        sequences of ``n_slots`` time slots (steps + 1)."""
        size = self.n_features * n_slots
        n_layers = len(self.hidden_layer_sizes)
        for index, hidden in enumerate(self.hidden_layer_sizes):
            last = index == n_layers - 1 and not self.per_step
            # The cell's buffers (see INFERENCE_SLOTS), hidden states of every
            # step (two slots in the last layer when the head reads its last
            # step only).
            per_direction = (2 if last else n_slots) * hidden
            for name in self.cell.inference_buffers:
                width = self.cell.buffer_width(name, hidden)
                per_direction += INFERENCE_SLOTS[name] * width
            size += self.n_directions * per_direction
            if self.bidirectional:
                size += self.input_widths[index] * n_slots  # reversed input
                if not last:
                    size += 2 * hidden * n_slots  # concatenated output
        if self.per_step:
            # The head's input and outputs at every step.
            size += (n_slots - 1) * (self.input_widths[-1] + 2 * self.n_outputs)
        return size

    def training_nbytes(self, n_rows, n_timesteps, itemsize):
        """A lower bound on the bytes a fit on batches of ``n_rows`` sequences
        of ``n_timesteps`` steps holds at once: the padded inputs, per layer
        and direction the gates, cells, hidden states and their gradients of
        every step, and the weights with their gradient and optimizer state."""
        size = n_rows * (n_timesteps + 1)
        total = size * self.n_features
        for hidden in self.hidden_layer_sizes:
            per_step = 2 * hidden + sum(
                self.cell.buffer_width(name, hidden)
                for name in self.cell.training_buffers
            )
            total += self.n_directions * size * per_step
        total += 4 * self.n_weights
        return total * itemsize

    # --------------------------------------------------------------- passes
    def allocate(self, n_rows, n_timesteps, dtype, training):
        """Buffers for batches of at most ``n_rows`` sequences of at most
        ``n_timesteps`` steps: allocated once, reused for every batch."""
        chunk_sizes = [chunk_rows(hidden) for hidden in self.hidden_layer_sizes]
        return _Workspace(self, n_rows, n_timesteps, dtype, training, chunk_sizes)

    def forward(
        self, flat, inputs, lengths, workspace, n_threads, masks=None, zero_slot=True,
        unpacked=None, steps=None,
    ):  # fmt: skip
        """Raw head outputs (before the output activation), shape (B, n_outputs);
        for a ``per_step`` network, shape (len(steps), n_outputs): one row per
        real step of the batch, in the order of ``steps`` (a
        :class:`StepIndex` of ``lengths``).

        ``inputs`` is workspace.inputs(...) filled by the caller: (B, T + 1,
        n_features) with slot 0 zeros. Rows must be sorted by decreasing length
        within each chunk of every layer (see :func:`chunk_rows`). ``masks``
        are dropout masks from :meth:`draw_dropout_masks`, or None. With
        ``zero_slot=False``, ``inputs`` is a C-contiguous (B, T, n_features)
        array read in place (inference with one direction only). ``unpacked``
        is ``self.unpack(flat)`` when the caller has it.
        """
        if not zero_slot and (self.bidirectional or workspace.training):
            raise ValueError(
                "inputs without the zero slot are for one-direction inference only"
            )
        n_rows, n_slots = inputs.shape[0], inputs.shape[1] + (0 if zero_slot else 1)
        if unpacked is None:
            unpacked = workspace.unpacked(self, flat)
        layers, head_coef, head_intercept = unpacked
        layer_input = inputs
        n_layers = len(layers)
        for index, directions in enumerate(layers):
            buffers = workspace.layer_buffers(index, n_rows, n_slots)
            if masks is not None and masks[index] is not None:
                np.multiply(
                    layer_input, masks[index][:, None, :], out=buffers["masked_input"]
                )
                layer_input = buffers["masked_input"]
            workspace.layer_inputs[index] = layer_input
            hidden = directions[0].recurrent_kernel.shape[0]
            chunk_size = chunk_rows(hidden)
            threads = threads_for(
                n_rows, n_slots, layer_input.shape[2], hidden, n_threads,
                self._n_gates,
            )  # fmt: skip
            for direction, unit in enumerate(directions):
                state = buffers["directions"][direction]
                unit_input = layer_input
                if direction == 1:
                    _layout.reverse_time(
                        layer_input, lengths, state["reversed_input"], False
                    )
                    unit_input = state["reversed_input"]
                self.cell.forward(
                    unit, unit_input, lengths, state, self._activation_code,
                    chunk_size, threads, zero_slot,
                )  # fmt: skip
            if index < n_layers - 1:
                layer_input = self._layer_output(buffers, lengths, hidden)
                zero_slot = True  # the layers above read hidden states
        head_input = self._head_input(
            workspace, buffers, lengths, hidden, n_rows, masks, steps
        )
        raw = np.empty((len(head_input), head_coef.shape[1]), dtype=head_coef.dtype)
        _numerics.dense_forward(head_input, head_coef, head_intercept, raw)
        return raw

    def _head_input(self, workspace, buffers, lengths, hidden, n_rows, masks, steps):
        """What the head reads of the top layer's pass (``buffers``): each
        sequence's last state, (B, directions * H), or the output at every
        real step, one row per step of ``steps``; dropout applied, and kept
        in the workspace for the backward pass."""
        if self.per_step:
            top = self._layer_output(buffers, lengths, hidden)
            head_input = workspace.step_head_input = top[steps.rows, steps.slots]
            if masks is not None:
                head_input *= masks[-1][steps.rows]
            return head_input
        head_input = workspace.last_hidden[:n_rows]
        for direction, state in enumerate(buffers["directions"]):
            # Two alternating slots (inference): step L sits in slot L % 2.
            _layout.gather_last(
                state["hidden"], lengths, head_input, direction * hidden
            )
        if masks is not None:
            head_input *= masks[-1]
        return head_input

    def _layer_output(self, buffers, lengths, hidden):
        """What the layer above reads of a layer's last pass: its hidden
        states, or (bidirectional) both directions' side by side, the
        reverse direction's put back in time order."""
        states = buffers["directions"]
        if not self.bidirectional:
            return states[0]["hidden"]
        output = buffers["output"]
        output[:, :, :hidden] = states[0]["hidden"]
        _layout.reverse_time(states[1]["hidden"], lengths, output[:, :, hidden:], False)
        return output

    def forward_dense(self, flat, inputs, n_threads, unpacked=None):
        """Raw head outputs, shape (B, n_outputs), of a one-layer,
        one-direction network (``one_layer_one_way``) for the C-contiguous
        ``inputs`` (B, T, n_features), every sequence of T steps, read in
        place: the layer's inference pass and the head in one compiled call,
        with the same bits as :meth:`forward` and no workspace."""
        if unpacked is None:
            unpacked = self.unpack(flat)
        ((unit,),), head_coef, head_intercept = unpacked
        n_rows = inputs.shape[0]
        threads = threads_for(
            n_rows, inputs.shape[1] + 1, self.n_features,
            unit.recurrent_kernel.shape[0], n_threads, self._n_gates,
        )  # fmt: skip
        raw = np.empty((n_rows, head_coef.shape[1]), dtype=head_coef.dtype)
        self.cell.predict(
            inputs, unit.kernel, unit.recurrent_kernel, unit.bias, head_coef,
            head_intercept, raw, self._activation_code,
            chunk_rows(unit.recurrent_kernel.shape[0]),
            threads,
        )  # fmt: skip
        return raw

    def step(self, unpacked, x, state):
        """One step of a one-direction network for independent rows
        (streaming): the raw head outputs (B, n_outputs) and the new state.

        ``x`` is a C-contiguous (B, n_features) array of the weights' dtype;
        ``state`` holds, per layer, the tuple of the cell's states
        (``cell.state_names``), each a C-contiguous (B, H) array after the
        previous step (zeros before the first). The layers run the same
        operations as one step of :meth:`forward` and the head those of its
        head, so a sequence fed step by step gets what :meth:`forward` gives
        for it. ``state`` is read only; the new state is new arrays.
        """
        layers, head_coef, head_intercept = unpacked
        cell, code = self.cell, self._activation_code
        new_state = []
        layer_input = x
        for (unit,), states in zip(layers, state, strict=True):
            states = cell.step(unit, layer_input, states, code)
            new_state.append(states)
            layer_input = states[0]
        raw = np.empty((x.shape[0], head_coef.shape[1]), dtype=head_coef.dtype)
        _numerics.dense_forward(layer_input, head_coef, head_intercept, raw)
        return raw, new_state

    def backward(
        self, flat, inputs, lengths, d_outputs, workspace, grad, n_threads, masks=None,
        steps=None,
    ):  # fmt: skip
        """Gradient of the loss with respect to every weight, into ``grad``.

        ``d_outputs`` is dLoss/d(raw outputs), shape (B, n_outputs), or for a
        ``per_step`` network (len(steps), n_outputs), for the batch whose
        forward pass (with the same ``masks`` and ``steps``) was the last one
        run on ``workspace``.
        """
        n_rows, n_slots, _ = inputs.shape
        layers, head_coef, _ = workspace.unpacked(self, flat)
        grad_layers, grad_head_coef, grad_head_intercept = workspace.unpacked(
            self, grad
        )
        head_input = (
            workspace.step_head_input if self.per_step else workspace.last_hidden
        )[: len(d_outputs)]
        d_head_input = np.empty(
            (len(d_outputs), head_coef.shape[0]), dtype=head_coef.dtype
        )
        _numerics.dense_backward(
            head_input, head_coef, d_outputs, grad_head_coef, d_head_input
        )
        np.add.reduce(d_outputs, axis=0, out=grad_head_intercept)
        if masks is not None:
            d_head_input *= masks[-1][steps.rows] if self.per_step else masks[-1]

        # The top layer's dL/dh is zero but where the head reads it: at each
        # sequence's last step, or (per_step) at every real step. Its buffer
        # is all zeros between passes (allocated so, and cleaned up after):
        # only those entries are written, then zeroed again.
        top = workspace.layer_buffers(len(layers) - 1, n_rows, n_slots)
        top_hidden = layers[-1][0].recurrent_kernel.shape[0]
        try:
            self._scatter_head_gradient(
                top["directions"], lengths, steps, d_head_input, top_hidden
            )
            self._backward_layers(
                layers, grad_layers, lengths, workspace, n_rows, n_slots,
                n_threads, masks,
            )  # fmt: skip
        finally:
            self._scatter_head_gradient(top["directions"], lengths, steps, None, 0)
        return grad

    def _scatter_head_gradient(self, states, lengths, steps, d_head_input, hidden):
        """Write dL/d(head input) into the top layer's dL/dh of each direction
        (zeros when ``d_head_input`` is None), where the head read it. The
        reverse direction holds step t of a sequence of length L in slot
        L + 1 - t."""
        for direction, state in enumerate(states):
            if not self.per_step:
                _layout.scatter_last(
                    state["dhidden"], lengths, d_head_input, direction * hidden
                )
                continue
            slots = steps.slots if direction == 0 else steps.reversed_slots
            if d_head_input is None:
                state["dhidden"][steps.rows, slots] = 0
            else:
                columns = slice(direction * hidden, (direction + 1) * hidden)
                state["dhidden"][steps.rows, slots] = d_head_input[:, columns]

    def _backward_layers(
        self, layers, grad_layers, lengths, workspace, n_rows, n_slots,
        n_threads, masks,
    ):  # fmt: skip
        for index in range(len(layers) - 1, -1, -1):
            buffers = workspace.layer_buffers(index, n_rows, n_slots)
            states = buffers["directions"]
            hidden = layers[index][0].recurrent_kernel.shape[0]
            if index < len(layers) - 1 and self.bidirectional:
                # Split dL/d(concatenated output) between the two directions.
                d_output = buffers["d_output"]
                np.copyto(states[0]["dhidden"], d_output[:, :, :hidden])
                _layout.reverse_time(
                    d_output[:, :, hidden:], lengths, states[1]["dhidden"], False
                )
            if index > 0:
                below = workspace.layer_buffers(index - 1, n_rows, n_slots)
                d_input = below["d_output"]
            else:
                d_input = None
            layer_input = workspace.layer_inputs[index]
            # The top layer's dL/dh comes from the head alone: without
            # per-step outputs, only at each sequence's last step.
            head_only = index == len(layers) - 1 and not self.per_step
            chunk_size = chunk_rows(hidden)
            threads = threads_for(
                n_rows, n_slots, layer_input.shape[2], hidden, n_threads,
                self._n_gates,
            )  # fmt: skip
            for direction, (unit, grads) in enumerate(
                zip(layers[index], grad_layers[index], strict=True)
            ):
                state = states[direction]
                if direction == 0:
                    unit_input, unit_d_input = layer_input, d_input
                else:
                    unit_input = state["reversed_input"]
                    unit_d_input = (
                        None if d_input is None else state["d_reversed_input"]
                    )
                self.cell.backward(
                    unit, grads, unit_input, unit_d_input, lengths, state,
                    self._activation_code, chunk_size, threads, head_only,
                )  # fmt: skip
                if direction == 1 and d_input is not None:
                    _layout.reverse_time(
                        state["d_reversed_input"], lengths, d_input, True
                    )
            if d_input is not None and masks is not None and masks[index] is not None:
                d_input *= masks[index][:, None, :]


class StepIndex:
    """Where the real steps of a batch sit in its (B, T + 1, W) slot layout,
    one entry per step, sequence by sequence in the order of the rows and
    oldest step first: ``rows``, ``slots`` (step t of a row in slot t) and
    ``reversed_slots`` (where the reverse direction holds it: slot L + 1 - t
    for a sequence of length L)."""

    __slots__ = ("rows", "slots", "reversed_slots")

    def __init__(self, lengths):
        lengths = np.asarray(lengths, dtype=np.intp)
        n_steps = int(lengths.sum())
        self.rows = np.repeat(np.arange(len(lengths), dtype=np.intp), lengths)
        starts = np.cumsum(lengths) - lengths
        # 1, 2, ..., L for each row in turn.
        self.slots = np.arange(1, n_steps + 1, dtype=np.intp) - np.repeat(
            starts, lengths
        )
        self.reversed_slots = lengths[self.rows] + 1 - self.slots

    def __len__(self):
        return len(self.rows)


def _orthogonal_rows(rng, n_rows, n_columns):
    """A (n_rows, n_columns) matrix with orthonormal rows (n_rows <= n_columns).

    The QR factorisation runs on one BLAS thread: a threaded BLAS splits the
    factorisation's products differently for different thread counts, and the
    same random_state must give the same weights on any number of threads.
    """
    from ._threads import _SingleThreadedBLAS  # which imports this module

    normal = rng.standard_normal((n_columns, n_rows))
    with _SingleThreadedBLAS():
        q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))
    return q.T


# The name the LSTM-only code and tests knew; it is the same class.
LSTMNetwork = RecurrentNetwork
