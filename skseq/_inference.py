"""The inference engine: everything a prediction needs for one network and
one weight array.

An :class:`InferenceEngine` is built from a network (``_network.RecurrentNetwork``)
and its flat weight array. It keeps the views of the weights, the network's
compiled small-batch predictor bound to them, a pool of small inference
workspaces and the rule that sizes the blocks of rows a prediction runs in.
The weights are updated in place by training, so all of it stays valid for
as long as the weights are that array of that network: :meth:`serves` is
the one rule for when an engine is stale.

The engine is scratch, never fitted state: it is not pickled, and an
estimator builds it again from its weights.
"""

import threading

import numpy as np

from . import _layout
from ._network import StepIndex
from ._threads import _blas_limit, effective_n_threads

# Bytes of buffers a prediction may hold at once (it runs in blocks of rows).
PREDICT_MEMORY_BUDGET = 256 << 20

# Rows of the largest block: within the memory budget, large blocks keep the
# per-step products efficient, and beyond this they gain nothing.
MAX_BLOCK_ROWS = 8192

# Inference workspaces of at most this many bytes are kept (this many at most
# per engine) for later predictions: allocating and viewing them again costs
# a noticeable part of a one-sequence prediction.
KEEP_INFERENCE_BYTES = 1 << 20
KEEP_INFERENCE_WORKSPACES = 4


def batches(n_samples, batch_size):
    """Slices of consecutive batches, the last one possibly smaller (what
    ``sklearn.utils.gen_batches`` gives, without its per-call parameter
    validation, which costs more than a one-sequence prediction)."""
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


# A batch's copy into the input buffer is shared between threads from this many
# bytes on; below, waking a thread costs more than it saves.
PARALLEL_COPY_BYTES = 1 << 20


def fill_inputs(workspace, sequences, batch_idx, n_threads=1):
    """Copy a batch into the workspace's padded input buffer (on ``n_threads``
    threads), padded to the batch's longest sequence.

    Ragged batches are reordered by decreasing length, as the core requires;
    the returned ``batch_idx`` is in the order of the rows.
    """
    lengths = sequences.lengths[batch_idx]
    if sequences.ragged:
        order = np.argsort(-lengths, kind="stable")
        batch_idx, lengths = batch_idx[order], lengths[order]
        n_steps = int(lengths[0])
    else:
        n_steps = sequences.n_timesteps
    inputs = workspace.inputs(len(batch_idx), n_steps + 1)
    rows = np.ascontiguousarray(batch_idx, dtype=np.intp)
    if sequences.dtype != inputs.dtype:
        # Not the precision of the pass (validation casts what fit and predict
        # are given, so only a direct caller gets here): the batch, cast.
        sequences = sequences.take(rows).with_dtype(inputs.dtype)
        rows = np.arange(len(rows), dtype=np.intp)
    threads = n_threads if inputs.nbytes >= PARALLEL_COPY_BYTES else 1
    if sequences.ragged:
        _layout.gather_packed(
            sequences.data, sequences.starts, sequences.lengths, rows, inputs, threads
        )
    else:
        # One copy per row, where np.take into the strided view of slots 1..
        # goes through a buffer.
        _layout.gather_rows(sequences.data, rows, inputs, threads)
    return inputs, np.ascontiguousarray(lengths, dtype=np.intp), batch_idx


class InferenceEngine:
    """Raw outputs (before the output activation) of ``network`` with the
    weights ``weights`` (a flat array, see ``RecurrentNetwork``).

    Safe to use from several threads at once: a workspace is held by one
    prediction at a time, and the small-batch predictor is reentrant.
    """

    __slots__ = ("network", "weights", "unpacked", "small_batch", "_pool", "_lock")

    def __init__(self, network, weights):
        self.network = network
        self.weights = weights
        self.unpacked = network.unpack(weights)
        # None when the network has no compiled small-batch path.
        self.small_batch = network.small_batch_predictor(weights, self.unpacked)
        self._pool = []  # small workspaces, most recently returned first
        self._lock = threading.Lock()

    def serves(self, network, weights):
        """Whether this engine is the one for ``network`` and ``weights``:
        the same network description and the same array object."""
        return self.network is network and self.weights is weights

    @property
    def n_kept_workspaces(self):
        """Workspaces kept for later predictions."""
        return len(self._pool)

    def predict_small(self, X):
        """Raw outputs of a few equal-length sequences in a C-contiguous
        array of the weights' dtype, in one compiled call; None when ``X``
        is not such an input (or the network has no such path), which the
        caller validates and runs through :meth:`forward`."""
        if self.small_batch is None:
            return None
        return self.small_batch.predict(X)

    def block_rows(self, n_samples, n_steps):
        """Rows per block of a prediction of ``n_samples`` sequences of at
        most ``n_steps`` steps: the buffers of a block fit in
        PREDICT_MEMORY_BUDGET, and the blocks are of equal size."""
        if n_samples <= 1:
            return n_samples
        per_row = self.network.inference_row_size(n_steps + 1)
        per_row *= self.weights.dtype.itemsize
        largest = min(max(PREDICT_MEMORY_BUDGET // max(per_row, 1), 1), MAX_BLOCK_ROWS)
        n_blocks = -(-n_samples // largest)
        return -(-n_samples // n_blocks)

    def forward(self, sequences):
        """Raw outputs for validated sequences (``_validation.Sequences``),
        shape (n_samples, n_outputs), in blocks of bounded memory; of a
        ``per_step`` network, one row per real step (sequence by sequence,
        oldest step first), shape (sum of the lengths, n_outputs)."""
        network, weights, unpacked = self.network, self.weights, self.unpacked
        n_samples = len(sequences)
        n_steps = sequences.n_timesteps
        if network.per_step:
            return self._forward_per_step(sequences, n_samples, n_steps)
        block = self.block_rows(n_samples, n_steps)
        n_threads = effective_n_threads()
        # A one-layer network's in-place pass and head are one compiled call
        # with buffers of its own.
        in_place = self._reads_in_place(sequences)
        workspace = None
        if not (in_place and network.one_layer_one_way):
            workspace = self._take_workspace(block, n_steps)

        def forward_in_place(rows):
            if workspace is None:
                return network.forward_dense(
                    weights, sequences.data[rows], n_threads, unpacked
                )
            return network.forward(
                weights, sequences.data[rows], sequences.lengths[rows], workspace,
                n_threads, zero_slot=False, unpacked=unpacked,
            )  # fmt: skip

        with _blas_limit():
            if in_place and block == n_samples:
                raw = forward_in_place(slice(None))  # one block: no copy out
            else:
                raw = np.empty((n_samples, network.n_outputs), dtype=weights.dtype)
                for batch in batches(n_samples, block):
                    if in_place:
                        raw[batch] = forward_in_place(batch)
                        continue
                    batch_idx = np.arange(batch.start, batch.stop)
                    inputs, lengths, batch_idx = fill_inputs(
                        workspace, sequences, batch_idx
                    )
                    raw[batch_idx] = network.forward(
                        weights, inputs, lengths, workspace, n_threads,
                        unpacked=unpacked,
                    )  # fmt: skip
        if workspace is not None:
            self._give_back(workspace)
        return raw

    def _reads_in_place(self, sequences):
        """Whether a pass reads ``sequences`` where they are, without a padded
        copy: sequences of one length in a C-contiguous array, read by a
        one-direction network (which reads each step once, in order)."""
        return (
            not sequences.ragged
            and not self.network.bidirectional
            and sequences.data.flags.c_contiguous
        )

    def _forward_per_step(self, sequences, n_samples, n_steps):
        """:meth:`forward` of a network whose head reads every step: one row
        per real step, sequence by sequence, oldest step first."""
        network, weights = self.network, self.weights
        block = self.block_rows(n_samples, n_steps)
        n_threads = effective_n_threads()
        workspace = self._take_workspace(block, n_steps)
        # Where each sequence's rows start in the output.
        offsets = np.zeros(n_samples + 1, dtype=np.intp)
        np.cumsum(sequences.lengths, out=offsets[1:])
        raw = np.empty((int(offsets[-1]), network.n_outputs), dtype=weights.dtype)
        # Read in place, every step is real, in row order.
        in_place = self._reads_in_place(sequences)
        with _blas_limit():
            for batch in batches(n_samples, block):
                if in_place:
                    lengths = sequences.lengths[batch]
                    raw[offsets[batch.start] : offsets[batch.stop]] = network.forward(
                        weights, sequences.data[batch], lengths, workspace,
                        n_threads, zero_slot=False, unpacked=self.unpacked,
                        steps=StepIndex(lengths),
                    )  # fmt: skip
                    continue
                batch_idx = np.arange(batch.start, batch.stop)
                inputs, lengths, batch_idx = fill_inputs(
                    workspace, sequences, batch_idx
                )
                steps = StepIndex(lengths)
                raw[offsets[batch_idx[steps.rows]] + steps.slots - 1] = network.forward(
                    weights, inputs, lengths, workspace, n_threads,
                    unpacked=self.unpacked, steps=steps,
                )  # fmt: skip
        self._give_back(workspace)
        return raw

    def _take_workspace(self, n_rows, n_timesteps):
        """A kept workspace large enough for ``n_rows`` x ``n_timesteps``, or
        a new one; held by this caller alone until given back."""
        dtype = self.weights.dtype
        with self._lock:
            for position, workspace in enumerate(self._pool):
                if workspace.fits(n_rows, n_timesteps, dtype):
                    del self._pool[position]
                    return workspace
        return self.network.allocate(n_rows, n_timesteps, dtype, training=False)

    def _give_back(self, workspace):
        """Keep a small workspace for a later prediction."""
        if workspace.nbytes <= KEEP_INFERENCE_BYTES:
            # Nothing kept may hold on to a caller's input array.
            workspace.forget_arrays()
            with self._lock:
                self._pool.insert(0, workspace)
                del self._pool[KEEP_INFERENCE_WORKSPACES:]
