"""The scratch buffers of a network's passes: per layer and direction, the
buffers the cell's layer keeps (``_cells``), the hidden states, and in
training their gradients, allocated for the largest batch and viewed per
batch."""

from typing import NamedTuple

import numpy as np

# Slots of a cell's buffers in inference: one gate slot reused by every step,
# two alternating cell slots.
INFERENCE_SLOTS = {"gates": 1, "cells": 2}

# Buffers start on a cache line. NumPy aligns its arrays to 16 bytes only, so
# with rows whose width is a whole number of lines (128, 256, ... float32
# units) every vector load and store of a row would straddle two lines; the
# kernels pay for that in each step's products and elementwise passes.
BUFFER_ALIGNMENT = 64


def aligned_empty(size, dtype, zeros=False, alignment=BUFFER_ALIGNMENT):
    """A 1-D array of ``size`` values of ``dtype`` whose data starts on an
    ``alignment``-byte boundary, zeros if ``zeros``."""
    itemsize = np.dtype(dtype).itemsize
    make = np.zeros if zeros else np.empty
    raw = make(size * itemsize + alignment, dtype=np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start : start + size * itemsize].view(dtype)


class _Workspace:
    """Flat buffers sized for the largest batch, viewed per batch.

    A batch smaller than the maximum (the last one of an epoch, or a shorter
    padded length) gets C-contiguous views of the front of each buffer.
    The backward pass writes gate gradients over the gate values, which it no
    longer needs once read. Inference keeps no per-step cell states and no
    gradient buffers.

    A workspace may serve many calls (partial_fit keeps a small one between
    calls; inference engines keep a few small ones), so it holds no result
    between calls, only scratch values every pass overwrites, and the
    top layer's dL/dh buffer, which is zero between passes. Views made from
    it (per layer and batch shape, and of the weights) are remembered.
    """

    def __init__(self, network, n_rows, n_timesteps, dtype, training, chunk_sizes):
        self.dtype = np.dtype(dtype)
        self.training = training
        self.n_features = network.n_features
        n_slots = n_timesteps + 1
        size = n_rows * n_slots
        self._inputs_size = size * network.n_features
        # Inference allocates it on first use: predictions of dense
        # one-direction networks read their input in place and never do.
        self._inputs = (
            aligned_empty(self._inputs_size, dtype, zeros=True) if training else None
        )
        self._layers = [
            _layer_buffers(network, index, n_rows, n_slots, dtype, training, chunk_size)
            for index, chunk_size in enumerate(chunk_sizes)
        ]
        self.last_hidden = np.empty((n_rows, network.input_widths[-1]), dtype=dtype)
        # A per-step head's input of the last forward pass, one row per real
        # step (made by each pass: its size varies with the batch's lengths).
        self.step_head_input = None
        self.n_rows, self.n_timesteps = n_rows, n_timesteps
        self.nbytes = self.last_hidden.nbytes
        if self._inputs is not None:
            self.nbytes += self._inputs.nbytes
        for flat, directions in self._layers:
            for buffer in flat.values():
                self.nbytes += buffer.array.nbytes
            for state in directions:
                for name, value in state.items():
                    if name == "dhidden" and value is flat.get("d_output"):
                        continue
                    self.nbytes += (value if name == "work" else value.array).nbytes
        # What each layer read in the last forward pass (its input or the
        # dropout-masked copy), for the backward pass.
        self.layer_inputs = [None] * len(self._layers)
        # Views made once and reused by every batch: per (layer, rows, slots)
        # and of the last few flat arrays unpacked (weights, gradient).
        self._buffer_views = {}
        self._unpacked = []

    def inputs(self, n_rows, n_slots):
        """The (n_rows, n_slots, n_features) input view; slot 0 is zero."""
        if self._inputs is None:
            self._inputs = aligned_empty(self._inputs_size, self.dtype, zeros=True)
            self.nbytes += self._inputs.nbytes
        return self._inputs[: n_rows * n_slots * self.n_features].reshape(
            n_rows, n_slots, self.n_features
        )

    def fits(self, n_rows, n_timesteps, dtype):
        """Whether batches of ``n_rows`` x ``n_timesteps`` in ``dtype`` fit."""
        return (
            self.dtype == dtype
            and self.n_rows >= n_rows
            and self.n_timesteps >= n_timesteps
        )

    def gradient_like(self, flat):
        """An uninitialised array like ``flat``, the same one on every call."""
        grad = self.__dict__.get("_gradient")
        if grad is None or grad.shape != flat.shape or grad.dtype != flat.dtype:
            grad = self._gradient = np.empty_like(flat)
        return grad

    def unpacked(self, network, flat):
        """``network.unpack(flat)``, remembered for the same array object
        (the weights and the gradient are updated in place, so their views
        stay valid). The views keep ``flat`` alive; :meth:`forget_arrays`
        lets it go."""
        for array, views in self._unpacked:
            if array is flat:
                return views
        views = network.unpack(flat)
        self._unpacked = [(flat, views)] + self._unpacked[:1]
        return views

    def forget_arrays(self):
        """Drop the remembered views (and with them the arrays they view),
        and the references to the last pass's inputs (which may be a
        caller's array, read in place)."""
        self._unpacked = []
        self.layer_inputs = [None] * len(self.layer_inputs)
        self.step_head_input = None

    def layer_buffers(self, index, n_rows, n_slots):
        key = (index, n_rows, n_slots)
        views = self._buffer_views.get(key)
        if views is None:
            views = self._buffer_views[key] = self._make_layer_buffers(*key)
        return views

    def _make_layer_buffers(self, index, n_rows, n_slots):
        flat, directions = self._layers[index]
        views = {name: buffer.view(n_rows, n_slots) for name, buffer in flat.items()}
        views["directions"] = [
            {
                name: value.view(n_rows, n_slots) if type(value) is Buffer else value
                for name, value in state.items()
            }
            for state in directions
        ]
        return views


class Buffer(NamedTuple):
    """A flat array viewed per batch as (n_rows, slots, width), from its
    front. ``slots`` is a fixed number (inference keeps one gate slot, two
    cell slots, and two hidden slots in the last layer), or None for one
    slot per time step of the batch and the zero slot."""

    array: np.ndarray
    width: int
    slots: int | None = None

    @classmethod
    def allocate(cls, n_entries, width, dtype, slots=None, zeros=False):
        """A buffer of ``n_entries`` entries of ``width`` numbers."""
        return cls(aligned_empty(n_entries * width, dtype, zeros), width, slots)

    def view(self, n_rows, n_slots):
        """The (n_rows, slots, width) view (``n_slots`` when ``slots`` is
        None)."""
        slots = self.slots or n_slots
        return self.array[: n_rows * slots * self.width].reshape(
            n_rows, slots, self.width
        )


def _layer_buffers(network, index, n_rows, n_slots, dtype, training, chunk_size):
    """The buffers of one layer: ``(flat, directions)``, dicts of Buffer by
    name for the layer and for each direction (whose ``work`` is the
    backward pass's plain scratch array, for chunks of ``chunk_size``
    rows)."""
    size = n_rows * n_slots
    n_in = network.input_widths[index]
    width_out = network.input_widths[index + 1]
    below_top = index < len(network.hidden_layer_sizes) - 1
    flat = {}
    if index > 0 and training:
        flat["masked_input"] = Buffer.allocate(size, n_in, dtype)
    if (below_top or network.per_step) and network.bidirectional:
        # Both directions side by side: what the layer above, or a head that
        # reads every step, reads.
        flat["output"] = Buffer.allocate(size, width_out, dtype)
    if training and below_top:
        flat["d_output"] = Buffer.allocate(size, width_out, dtype)
    directions = []
    for direction in range(network.n_directions):
        if not training:
            state = _inference_buffers(network, index, n_rows, size, dtype)
        elif direction == 0 and below_top and not network.bidirectional:
            # The layer above writes dL/d(output) straight into dhidden.
            state = _training_buffers(
                network, index, n_rows, size, dtype, flat["d_output"], chunk_size
            )
        else:
            state = _training_buffers(
                network, index, n_rows, size, dtype, None, chunk_size
            )
        if direction == 1:
            state["reversed_input"] = Buffer.allocate(size, n_in, dtype)
            if training and index > 0:
                state["d_reversed_input"] = Buffer.allocate(size, n_in, dtype)
        directions.append(state)
    return flat, directions


def _training_buffers(network, index, n_rows, size, dtype, dhidden, chunk_size):
    """One direction's training buffers: every step's hidden states and
    the cell's buffers (gates, cells), dL/dh (``dhidden`` when the layer
    above writes it, otherwise zeros: the top layer's stays zero between
    passes) and the backward pass's scratch array."""
    hidden = network.hidden_layer_sizes[index]
    cell = network.cell
    state = {
        name: Buffer.allocate(size, cell.buffer_width(name, hidden), dtype)
        for name in ("gates", "hidden", "cells")
        if name == "hidden" or name in cell.training_buffers
    }
    if dhidden is None:
        dhidden = Buffer.allocate(size, hidden, dtype, zeros=True)
    state["dhidden"] = dhidden
    work_size = network.cell.backward_workspace_size(
        n_rows, network.input_widths[index], hidden, chunk_size
    )
    state["work"] = aligned_empty(work_size, dtype)
    return state


def _inference_buffers(network, index, n_rows, size, dtype):
    """One direction's inference buffers: the cell's buffers with the
    slots of INFERENCE_SLOTS, and the hidden states of every step, of which
    the last layer keeps only two alternating slots when its final states
    are all the head reads (a network whose head reads every step keeps
    them all)."""
    hidden = network.hidden_layer_sizes[index]
    last = index == len(network.hidden_layer_sizes) - 1 and not network.per_step
    state = {
        name: Buffer.allocate(
            n_rows * slots,
            network.cell.buffer_width(name, hidden),
            dtype,
            slots=slots,
        )  # fmt: skip
        for name, slots in INFERENCE_SLOTS.items()
        if name in network.cell.inference_buffers
    }
    state["hidden"] = (
        Buffer.allocate(n_rows * 2, hidden, dtype, slots=2)
        if last
        else Buffer.allocate(size, hidden, dtype)
    )
    return state
