# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Forward, backward-through-time and prediction of ONE LSTM layer over a batch.

This module knows nothing of estimators, random numbers or Python objects
beyond the arrays it is handed; the caller (``skseq._network``) allocates every
buffer once and validates every shape. The LSTM's gate equations are the row
kernels of ``src/lstm_rows.inc``; the products they need, and the choice between the
packed kernels and BLAS, come from ``_kernels.pxd``; what does not depend on
the cell (the dense head, losses, optimizer steps) is in ``_numerics`` and
the time reversal and last-state moves of bidirectional and ragged batches in
``_layout``. Another cell type is a module of its own beside this one, with
the same layout, the same chunking and entry points of the same form.

Layout ("padded time"): a per-step quantity of width W for a batch of B
sequences of at most T steps is a C-contiguous array (B, T + 1, W). Slot 0 of
each sequence holds the initial state (zeros) and slot t in 1..T holds step t.
The extra slot makes every whole-sequence product a single GEMM: the rows of
``hidden`` shifted by one row are exactly h_{t-1} next to step t's gradient,
because the shift across a sequence boundary meets a zero slot.

Gate blocks are in the order i, f, g, o (Keras layout); the kernel is
(n_in, 4H), the recurrent kernel (H, 4H), the bias (4H,).

Sequences may end before T: ``lengths[j]`` in 1..T. Inside each chunk of
``chunk_size`` consecutive rows the lengths must not increase, so that the rows
still running at step t are a prefix of the chunk and each step's GEMM covers
exactly them (no work past a sequence's end); in a chunk with such sequences
the whole-sequence products run sequence by sequence over their own steps.
Past its end a sequence's hidden and cell slots are written as zeros and its
gate gradients as zeros. Without the packed kernels, steps with few running
rows use the small products of ``src/small_products.inc`` instead of BLAS, whose fixed cost would
dominate.

Products: where the CPU has AVX2 or AVX-512 (``packed_gemm_level() > 0``),
the kernels of ``src/gemm.inc`` do the step products, with the weight matrices
packed once per call, and the whole-chunk products (input projection, weight
gradients); otherwise, and for dL/dx of stacked layers, BLAS does. The
inference pass of a chunk of one row (a single sequence) runs its whole time
loop in one function of ``src/sequence.inc``, with the same operations; it reads
the weight matrices in place when they start on a 64-byte boundary (the
estimators allocate them so), which saves packing them.

``SmallBatchPredictor`` is the one-call prediction of a one-layer network
(``lstm_predict``) bound to its weights, for batches of one chunk: it takes
the inputs through NumPy's C API and declines all but the plain case, so a
single sequence's prediction costs little beyond its arithmetic.

Threads: the batch is cut into chunks of ``chunk_size`` rows; each chunk runs
its own time loop with single-threaded products (the caller limits BLAS
threads) and writes its own rows only. Weight gradients are formed per chunk
and then summed in chunk order, so the result depends on ``chunk_size`` but never on
``n_threads`` or on thread timing.

Floating-point mode: each chunk's time loop and each streaming step run with
subnormal numbers counted as zero (flush-to-zero and denormals-are-zero,
``src/fpmode.h``; ``_numerics``' optimizer updates too), set on the thread
that runs them and reset to the caller's mode when they end.
"""

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free
from libc.string cimport memset

from ._arrays cimport _plain_batch, _weight_data
from ._bptt cimport _backward_products, _sum_blocks, _sum_partials
from ._checks cimport _check_lengths, _check_shape, _check_slots
from ._kernels cimport (
    STEP_BLOCK_ROWS,
    _aligned,
    _aligned_64,
    _dense,
    _packed,
    _pair_product,
    _product,
    _recurrent_gradient,
    _recurrent_product,
    _row_in_place,
    skseq_backward_row_d,
    skseq_backward_row_f,
    skseq_forward_row_d,
    skseq_forward_row_f,
    skseq_forward_sequence_d,
    skseq_forward_sequence_f,
    skseq_flush_subnormals,
    skseq_fp_mode,
    skseq_gemm_init,
    skseq_gemm_level,
    skseq_gemm_set_level,
    skseq_restore_fp_mode,
    skseq_sequence_applies_d,
    skseq_sequence_applies_f,
)

skseq_gemm_init()
cnp.import_array()

ACTIVATION_TANH = 0
ACTIVATION_RELU = 1


def packed_gemm_level():
    """Vector level of the packed recurrent products: 2 AVX-512, 1 AVX2, 0 none.

    With 0 the recurrent products of each step go to BLAS (and to plain loops
    for steps with very few rows).
    """
    return skseq_gemm_level()


def _set_packed_gemm_level(int level):
    """Use at most ``level`` (0 forces BLAS); for tests and benchmarks.

    Every kernel of every module (gate rows, products, optimizer steps) runs
    at that level: they share one table (``skseq._dispatch``), so a network's
    layers and head never mix levels. Returns the level now in use, which
    never exceeds what the CPU supports.
    """
    return skseq_gemm_set_level(level)


def backward_workspace_size(Py_ssize_t n_rows, Py_ssize_t n_in,
                            Py_ssize_t n_hidden, Py_ssize_t chunk_size):
    """Length of the ``work`` array that :func:`lstm_backward` needs."""
    cdef Py_ssize_t chunks = (n_rows + chunk_size - 1) // chunk_size
    return chunks * (n_in + n_hidden + 1) * 4 * n_hidden + 2 * n_rows * n_hidden


# --------------------------------------------------------------------------
# One chunk, forward.

cdef inline bint _one_sequence_pass(bint all_steps, Py_ssize_t n_cell_slots,
                                    Py_ssize_t n_hidden_slots) noexcept nogil:
    """Whether a chunk of one row may run its time loop in the one call of
    src/sequence.inc (given that the shapes allow it): the inference buffers, one gate
    slot and two alternating cell and hidden slots."""
    return not all_steps and n_cell_slots == 2 and n_hidden_slots == 2


cdef inline int _forward_sequence(
    Py_ssize_t length, const floating *x, Py_ssize_t n_in, const floating *kernel,
    Py_ssize_t H, const floating *recurrent_kernel, const floating *bias,
    floating *z, floating *cells, floating *hidden, int activation, bint packed,
) noexcept nogil:
    """src/sequence.inc's one-sequence pass for this precision (inputs every n_in
    values); 0 when it does not apply, as there."""
    if floating is float:
        return skseq_forward_sequence_f(length, x, n_in, n_in, kernel, H,
                                        recurrent_kernel, bias, z, cells, hidden,
                                        activation, packed)
    else:
        return skseq_forward_sequence_d(length, x, n_in, n_in, kernel, H,
                                        recurrent_kernel, bias, z, cells, hidden,
                                        activation, packed)


cdef void _forward_chunk(
    Py_ssize_t chunk,                  # the chunk: rows chunk * chunk_size on
    Py_ssize_t chunk_size,             # (m rows; the last chunk may be short)
    Py_ssize_t B,
    const floating *inputs,            # IN  (B, T1, n_in), or (B, T1 - 1, n_in):
                                       #     no zero slot
    const floating *kernel,            # IN  (n_in, G)
    const floating *packed_kernel,     # IN  kernel packed, or NULL
    const floating *recurrent_kernel,  # IN  (H, G)
    const floating *packed,            # IN  recurrent_kernel packed, or NULL
    const floating *bias,              # IN  (G,)
    const Py_ssize_t *lengths,         # IN  (B,), non-increasing in each chunk
    floating *gates,                   # OUT (B, n_gate_slots, G)
    floating *cells,                   # OUT (B, n_cell_slots, H)
    floating *hidden,                  # OUT (B, n_hidden_slots, H)
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H,
    Py_ssize_t n_gate_slots, Py_ssize_t n_cell_slots, Py_ssize_t n_hidden_slots,
    Py_ssize_t n_input_slots, int activation,
) noexcept nogil:
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t start = chunk * chunk_size
    cdef Py_ssize_t m = min(chunk_size, B - start)
    cdef Py_ssize_t j, t, n_active, gate_slot, slot, prev_slot, h_slot, h_prev_slot
    # Step t's inputs sit in slot t, or in slot t - 1 without the zero slot.
    cdef Py_ssize_t shift = T1 - n_input_slots
    cdef Py_ssize_t last_step
    cdef bint in_place
    cdef bint all_steps = n_gate_slots == T1
    cdef floating *z
    cdef floating *c_prev
    cdef floating *c_now
    cdef floating *h_now

    inputs += start * n_input_slots * n_in
    lengths += start
    gates += start * n_gate_slots * G
    cells += start * n_cell_slots * H
    hidden += start * n_hidden_slots * H
    last_step = lengths[0]

    # A single sequence's inference pass: the whole time loop in one call
    # where the packed kernels allow it (the same operations as below), with
    # the weights packed or, when the caller did not pack them, in place.
    if m == 1 and _one_sequence_pass(all_steps, n_cell_slots, n_hidden_slots):
        in_place = packed == NULL or packed_kernel == NULL
        if _forward_sequence(
            last_step, inputs + (1 - shift) * n_in, n_in,
            kernel if in_place else packed_kernel, H,
            recurrent_kernel if in_place else packed, bias, gates, cells, hidden,
            activation, not in_place,
        ):
            return

    # Input projection. With a gate slot per step (training): of every slot of
    # the chunk at once when no sequence ends early, otherwise of each
    # sequence's own steps only. With one gate slot (inference): step by step
    # in the time loop, so the gates never leave the cache.
    if all_steps:
        if lengths[m - 1] == T1 - 1:
            _product(gates, G, inputs, n_in, kernel, packed_kernel, m * T1, n_in, G, False)
        else:
            for j in range(m):
                _product(gates + (j * T1 + 1) * G, G, inputs + (j * T1 + 1) * n_in,
                         n_in, kernel, packed_kernel, lengths[j], n_in, G, False)

    for j in range(m):
        memset(hidden + j * n_hidden_slots * H, 0, H * sizeof(floating))
        memset(cells + j * n_cell_slots * H, 0, H * sizeof(floating))

    n_active = m
    for t in range(1, last_step + 1):
        while lengths[n_active - 1] < t:
            n_active -= 1
        gate_slot = t if all_steps else 0
        h_slot = t if n_hidden_slots == T1 else t & 1
        h_prev_slot = t - 1 if n_hidden_slots == T1 else 1 - h_slot
        if not all_steps and packed != NULL and packed_kernel != NULL:
            # Both contributions in one pass over the gate rows, rounded as
            # the two products below.
            _pair_product(gates, n_gate_slots * G,
                          inputs + (t - shift) * n_in, n_input_slots * n_in,
                          packed_kernel, n_in, hidden + h_prev_slot * H,
                          n_hidden_slots * H, packed, H, n_active, G)
        else:
            if not all_steps:
                _product(gates, n_gate_slots * G, inputs + (t - shift) * n_in,
                         n_input_slots * n_in, kernel, packed_kernel, n_active, n_in,
                         G, False)
            # Recurrent contribution, added into this step's gate rows.
            _recurrent_product(gates + gate_slot * G, n_gate_slots * G,
                               hidden + h_prev_slot * H, n_hidden_slots * H,
                               recurrent_kernel, packed, n_active, H, G)
        if n_cell_slots == T1:
            slot = t
            prev_slot = t - 1
        else:
            slot = t & 1
            prev_slot = 1 - slot
        for j in range(n_active):
            z = gates + (j * n_gate_slots + gate_slot) * G
            c_prev = cells + (j * n_cell_slots + prev_slot) * H
            c_now = cells + (j * n_cell_slots + slot) * H
            h_now = hidden + (j * n_hidden_slots + h_slot) * H
            if floating is float:
                skseq_forward_row_f(z, bias, c_prev, c_now, h_now, H, activation)
            else:
                skseq_forward_row_d(z, bias, c_prev, c_now, h_now, H, activation)
        # Rows that have ended keep zeros in the per-step slots; with two
        # alternating slots their last state stays where it was written.
        for j in range(n_active, m):
            if n_hidden_slots == T1:
                memset(hidden + (j * T1 + t) * H, 0, H * sizeof(floating))
            if n_cell_slots == T1:
                memset(cells + (j * T1 + t) * H, 0, H * sizeof(floating))
    # Slots past the longest sequence of the chunk.
    for j in range(m):
        for t in range(last_step + 1, T1):
            if n_hidden_slots == T1:
                memset(hidden + (j * T1 + t) * H, 0, H * sizeof(floating))
            if n_cell_slots == T1:
                memset(cells + (j * T1 + t) * H, 0, H * sizeof(floating))


def lstm_forward(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[::1] bias,
    const Py_ssize_t[::1] lengths,
    floating[:, :, ::1] gates,
    floating[:, :, ::1] cells,
    floating[:, :, ::1] hidden,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
    bint zero_slot=True,
):
    """Run one LSTM layer forward over a batch.

    Parameters
    ----------
    inputs : (B, T + 1, n_in) array, slot 0 zeros. IN
        With ``zero_slot=False``, (B, T, n_in): step t in slot t - 1, read in
        place (inference only: the gates must have one slot).
    kernel, recurrent_kernel, bias : (n_in, 4H), (H, 4H), (4H,) arrays. IN
    lengths : (B,) intp array, 1 <= lengths <= T, non-increasing per chunk. IN
    gates : (B, T + 1, 4H) array. OUT: activated gates i, f, g, o at slot t.
        Or (B, 1, 4H) for inference: one slot reused by every step, the input
        projection done step by step (nothing of the gates is kept).
    cells : (B, T + 1, H) array, OUT: c_t at slot t; or (B, 2, H) for
        inference, used as two alternating slots (only the carry is kept).
    hidden : (B, T + 1, H) array. OUT: h_t at slot t, zeros at slot 0 and past
        each sequence's end. Or (B, 2, H): two alternating slots; sequence j's
        last state h_{L} is left in slot ``L % 2`` (L = lengths[j]).
    activation : 0 for tanh, 1 for relu (candidate and cell output).
    chunk_size : rows per chunk (>= 1).
    n_threads : OpenMP threads (>= 1).
    zero_slot : whether ``inputs`` has the zero slot 0.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t n_input_slots = inputs.shape[1]
    cdef Py_ssize_t T1 = n_input_slots + (0 if zero_slot else 1)
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t n_gate_slots = gates.shape[1]
    cdef Py_ssize_t n_cell_slots = cells.shape[1]
    cdef Py_ssize_t n_hidden_slots = hidden.shape[1]
    _check_shape("kernel", kernel.shape, 2, n_in, G, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("bias", bias.shape, 1, G, 0, 0)
    _check_slots("gates", gates.shape, B, T1, G, 1)
    _check_slots("cells", cells.shape, B, T1, H, 2)
    _check_slots("hidden", hidden.shape, B, T1, H, 2)
    _check_lengths(lengths, B, T1 - 1, chunk_size, n_threads)
    if not zero_slot and n_gate_slots != 1:
        raise ValueError(
            "inputs without the zero slot are only read by the inference pass "
            f"(gates with one slot); gates has {n_gate_slots} slots."
        )
    if B == 0:
        return
    with nogil:
        _forward_batch(
            B, chunk_size, n_threads, &inputs[0, 0, 0], &kernel[0, 0],
            &recurrent_kernel[0, 0], &bias[0], &lengths[0], &gates[0, 0, 0],
            &cells[0, 0, 0], &hidden[0, 0, 0], T1, n_in, H, n_gate_slots,
            n_cell_slots, n_hidden_slots, n_input_slots, activation,
        )


def lstm_step(
    const floating[:, ::1] x,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[::1] bias,
    const floating[:, ::1] h_prev,
    const floating[:, ::1] c_prev,
    floating[:, ::1] h_out,
    floating[:, ::1] c_out,
    int activation,
):
    """One step of one LSTM layer for B independent rows (streaming).

    The operations of one step of the inference pass of :func:`lstm_forward`
    (its gate products, then the row kernel), from the states ``h_prev``,
    ``c_prev`` instead of slot t - 1: a sequence fed one step at a time gets
    the bits of the whole-sequence pass wherever the packed kernels run
    (their per-row sums do not depend on the other rows). The rows run in
    blocks of STEP_BLOCK_ROWS, each with gate rows of its own that stay in
    cache (which changes no bit), on the calling thread: on a shared
    machine, threads waiting for each other at every step cost more than
    they share.

    Parameters
    ----------
    x : (B, n_in) array, the step's inputs. IN
    kernel, recurrent_kernel, bias : (n_in, 4H), (H, 4H), (4H,) arrays. IN
    h_prev, c_prev : (B, H) arrays, the states after the previous step. IN
    h_out, c_out : (B, H) arrays, the states after this step. OUT
    activation : 0 for tanh, 1 for relu.
    """
    cdef Py_ssize_t B = x.shape[0]
    cdef Py_ssize_t n_in = x.shape[1]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t n_blocks = (B + STEP_BLOCK_ROWS - 1) // STEP_BLOCK_ROWS
    cdef Py_ssize_t b
    cdef int failed = 0
    cdef skseq_fp_mode mode
    cdef void *block = NULL
    cdef void *kernel_block = NULL
    cdef const floating *packed = NULL
    cdef const floating *packed_kernel = NULL
    _check_shape("kernel", kernel.shape, 2, n_in, G, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("bias", bias.shape, 1, G, 0, 0)
    _check_shape("h_prev", h_prev.shape, 2, B, H, 0)
    _check_shape("c_prev", c_prev.shape, 2, B, H, 0)
    _check_shape("h_out", h_out.shape, 2, B, H, 0)
    _check_shape("c_out", c_out.shape, 2, B, H, 0)
    if B == 0 or H == 0:
        return
    with nogil:
        mode = skseq_flush_subnormals()
        # One stream: both products read the weights in place (the bits of
        # the packed products, without packing) where the shapes allow.
        if B == 1:
            failed = _step_rows(0, 1, True, &x[0, 0], &kernel[0, 0], NULL,
                                &recurrent_kernel[0, 0], NULL, &bias[0], &h_prev[0, 0],
                                &c_prev[0, 0], &h_out[0, 0], &c_out[0, 0], n_in, H,
                                activation)
        if B > 1 or failed == 2:
            failed = 0
            packed = _packed(&recurrent_kernel[0, 0], H, G, False, &block)
            packed_kernel = _packed(&kernel[0, 0], n_in, G, False, &kernel_block)
            for b in range(n_blocks):
                failed += _step_rows(
                    b * STEP_BLOCK_ROWS, B, False, &x[0, 0], &kernel[0, 0],
                    packed_kernel, &recurrent_kernel[0, 0], packed, &bias[0],
                    &h_prev[0, 0], &c_prev[0, 0], &h_out[0, 0], &c_out[0, 0], n_in, H,
                    activation,
                )
            free(block)
            free(kernel_block)
        skseq_restore_fp_mode(mode)
    if failed:
        raise MemoryError()


cdef int _step_rows(
    Py_ssize_t start, Py_ssize_t B, bint in_place,
    const floating *x, const floating *kernel, const floating *packed_kernel,
    const floating *recurrent_kernel, const floating *packed, const floating *bias,
    const floating *h_prev, const floating *c_prev, floating *h_out,
    floating *c_out, Py_ssize_t n_in, Py_ssize_t H, int activation,
) noexcept nogil:
    """lstm_step's products and row kernel for the block of rows from
    ``start`` (at most STEP_BLOCK_ROWS, up to B), with gate rows of its own;
    the weights packed, or NULL for BLAS, or (``in_place``, one row) read in
    place. 0 when done, 1 when memory is short, 2 when the weights cannot be
    read in place (nothing written either way)."""
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t m = min(<Py_ssize_t> STEP_BLOCK_ROWS, B - start)
    cdef Py_ssize_t j
    cdef void *gate_block = NULL
    cdef floating *gates = <floating *> _aligned(m * G * sizeof(floating), &gate_block)
    if gates == NULL:
        return 1
    x += start * n_in
    h_prev += start * H
    c_prev += start * H
    h_out += start * H
    c_out += start * H
    if in_place:
        if not (
            _row_in_place(gates, x, kernel, n_in, G, False)
            and _row_in_place(gates, h_prev, recurrent_kernel, H, G, True)
        ):
            free(gate_block)
            return 2
    elif packed != NULL and packed_kernel != NULL:
        _pair_product(gates, G, x, n_in, packed_kernel, n_in, h_prev, H, packed, H,
                      m, G)
    else:
        _product(gates, G, x, n_in, kernel, packed_kernel, m, n_in, G, False)
        _recurrent_product(gates, G, h_prev, H, recurrent_kernel, packed, m, H, G)
    for j in range(m):
        if floating is float:
            skseq_forward_row_f(gates + j * G, bias, c_prev + j * H, c_out + j * H,
                                h_out + j * H, H, activation)
        else:
            skseq_forward_row_d(gates + j * G, bias, c_prev + j * H, c_out + j * H,
                                h_out + j * H, H, activation)
    free(gate_block)
    return 0


cdef void _forward_batch(
    Py_ssize_t B, Py_ssize_t chunk_size, int n_threads,
    const floating *inputs, const floating *kernel,
    const floating *recurrent_kernel, const floating *bias,
    const Py_ssize_t *lengths, floating *gates, floating *cells, floating *hidden,
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H, Py_ssize_t n_gate_slots,
    Py_ssize_t n_cell_slots, Py_ssize_t n_hidden_slots, Py_ssize_t n_input_slots,
    int activation,
) noexcept nogil:
    """The forward pass of B >= 1 rows, chunk by chunk (arguments as for
    _forward_chunk, checked by the caller): weights packed once, then the
    chunks on n_threads threads."""
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t chunks = (B + chunk_size - 1) // chunk_size
    cdef Py_ssize_t chunk
    cdef skseq_fp_mode mode
    cdef void *block = NULL
    cdef void *kernel_block = NULL
    cdef const floating *packed = NULL
    cdef const floating *packed_kernel = NULL
    cdef bint applies
    if floating is float:
        applies = skseq_sequence_applies_f(n_in, H)
    else:
        applies = skseq_sequence_applies_d(n_in, H)
    # Chunks of one row that run sequence.inc's pass read aligned weights in
    # place; every other chunk's step products need them packed.
    if not (chunk_size == 1 and applies and _one_sequence_pass(
            n_gate_slots == T1, n_cell_slots, n_hidden_slots)
            and _aligned_64(kernel) and _aligned_64(recurrent_kernel)):
        packed = _packed(recurrent_kernel, H, G, False, &block)
        packed_kernel = _packed(kernel, n_in, G, False, &kernel_block)
    if n_threads == 1 or chunks == 1:
        # No OpenMP region at all: even with one thread, entering one costs a
        # system call (the wake-up at its closing barrier), a sizeable part of
        # a single sequence's forward pass.
        for chunk in range(chunks):
            mode = skseq_flush_subnormals()
            _forward_chunk(
                chunk, chunk_size, B, inputs, kernel, packed_kernel, recurrent_kernel,
                packed, bias, lengths, gates, cells, hidden, T1, n_in, H,
                n_gate_slots, n_cell_slots, n_hidden_slots, n_input_slots,
                activation,
            )
            skseq_restore_fp_mode(mode)
    else:
        for chunk in prange(chunks, schedule="dynamic", num_threads=n_threads):
            mode = skseq_flush_subnormals()
            _forward_chunk(
                chunk, chunk_size, B, inputs, kernel, packed_kernel, recurrent_kernel,
                packed, bias, lengths, gates, cells, hidden, T1, n_in, H,
                n_gate_slots, n_cell_slots, n_hidden_slots, n_input_slots,
                activation,
            )
            skseq_restore_fp_mode(mode)
    free(block)
    free(kernel_block)


def lstm_predict(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[::1] bias,
    const floating[:, ::1] head_weights,
    const floating[::1] head_bias,
    floating[:, ::1] out,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
):
    """Raw outputs of a one-layer, one-direction network for sequences that
    all have every step: the layer's inference pass, then the dense head on
    each sequence's last hidden state, in one call with buffers of its own.

    The same operations as ``lstm_forward`` with the inference buffers and
    ``zero_slot=False``, ``gather_last`` and ``dense_forward`` one after the
    other, so the same bits; without their three calls and the caller's
    buffers, which is what a single sequence's prediction costs beyond its
    arithmetic.

    Parameters
    ----------
    inputs : (B, T, n_in) array, T >= 1: step t in slot t - 1. IN
    kernel, recurrent_kernel, bias : (n_in, 4H), (H, 4H), (4H,) arrays. IN
    head_weights, head_bias : (H, N), (N,) arrays. IN
    out : (B, N) array. OUT: h_T @ head_weights + head_bias per sequence.
    activation, chunk_size, n_threads : as for ``lstm_forward``.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t T = inputs.shape[1]
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t N = head_weights.shape[1]
    cdef int status
    _check_shape("kernel", kernel.shape, 2, n_in, G, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("bias", bias.shape, 1, G, 0, 0)
    _check_shape("head_weights", head_weights.shape, 2, H, N, 0)
    _check_shape("head_bias", head_bias.shape, 1, N, 0, 0)
    _check_shape("out", out.shape, 2, B, N, 0)
    if T < 1:
        raise ValueError("inputs must have at least one step.")
    if chunk_size < 1 or n_threads < 1:
        raise ValueError(
            f"chunk_size and n_threads must be >= 1; got {chunk_size} and "
            f"{n_threads}."
        )
    if B == 0 or N == 0:
        return
    with nogil:
        status = _predict_rows(
            B, T, n_in, H, N, &inputs[0, 0, 0], &kernel[0, 0], &recurrent_kernel[0, 0],
            &bias[0], &head_weights[0, 0], &head_bias[0], &out[0, 0], activation,
            chunk_size, n_threads,
        )
    if status != 0:
        raise MemoryError()


cdef int _predict_rows(
    Py_ssize_t B, Py_ssize_t T, Py_ssize_t n_in, Py_ssize_t H, Py_ssize_t N,
    const floating *inputs, const floating *kernel, const floating *recurrent_kernel,
    const floating *bias, const floating *head_weights, const floating *head_bias,
    floating *out, int activation, Py_ssize_t chunk_size, int n_threads,
) noexcept nogil:
    """lstm_predict's work for checked arguments, B, T, N >= 1, with buffers
    of its own; -1 (nothing done) when memory is short."""
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t j, k
    cdef Py_ssize_t *lengths
    cdef floating *gates
    cdef floating *cells
    cdef floating *hidden
    cdef floating *last
    cdef void *block
    # The lengths, then every row's buffers: one gate slot, two cell and two
    # hidden slots, and the last hidden state for the head; these start on a
    # cache line. A single sequence's step reads and writes its gate row and
    # states in whole vectors, each straddling two lines when not aligned
    # (malloc aligns to 16 bytes only; see the performance guide).
    cdef Py_ssize_t lead = (B * sizeof(Py_ssize_t) + 63) // 64 * 64
    cdef char *start = <char *> _aligned(
        lead + B * (G + 5 * H) * sizeof(floating), &block
    )
    if start == NULL:
        return -1
    lengths = <Py_ssize_t *> start
    gates = <floating *> (start + lead)
    cells = gates + B * G
    hidden = cells + B * 2 * H
    last = hidden + B * 2 * H
    for j in range(B):
        lengths[j] = T
    _forward_batch(
        B, chunk_size, n_threads, inputs, kernel, recurrent_kernel, bias, lengths,
        gates, cells, hidden, T + 1, n_in, H, 1, 2, 2, T, activation,
    )
    # Step T's hidden state is in slot T % 2.
    for j in range(B):
        for k in range(H):
            last[j * H + k] = hidden[(2 * j + T % 2) * H + k]
    _dense(last, B, H, head_weights, head_bias, out, N)
    free(block)
    return 0


cdef class SmallBatchPredictor:
    """lstm_predict for a fixed one-layer, one-direction network, bound to its
    weights, for batches of one chunk: a few sequences, predicted with the
    least cost around the arithmetic.

    The weight arrays are checked once, here, and read where they are at every
    call, so changes made to them in place are followed (the caller must check
    that they are still the arrays in use). :meth:`predict` takes the inputs as
    they come, through NumPy's C API, and declines anything but the plain
    case, which the caller then validates and runs the usual way. What it
    saves for one sequence (the validation, the network's bookkeeping and the
    typed memoryviews of a general call) is a sizeable part of the pass.

    Parameters
    ----------
    kernel, recurrent_kernel, bias : (n_in, 4H), (H, 4H), (4H,) float arrays.
    head_weights, head_bias : (H, N), (N,) arrays.
        All C-contiguous, of one dtype (float32 or float64).
    activation : 0 for tanh, 1 for relu.
    max_rows : the most rows :meth:`predict` runs, all in one chunk: the
        caller's batches of up to ``max_rows`` rows must be one chunk too, so
        that both give the same bits.
    """

    cdef tuple _arrays
    cdef const void *_kernel
    cdef const void *_recurrent_kernel
    cdef const void *_bias
    cdef const void *_head_weights
    cdef const void *_head_bias
    cdef int _type_num
    cdef int _activation
    cdef Py_ssize_t _n_in, _H, _N, _max_rows

    def __init__(self, kernel, recurrent_kernel, bias, head_weights, head_bias,
                 int activation, Py_ssize_t max_rows):
        if not cnp.PyArray_Check(kernel):
            raise TypeError(f"kernel must be a NumPy array; got {type(kernel).__name__}.")
        if cnp.PyArray_TYPE(kernel) not in (cnp.NPY_FLOAT, cnp.NPY_DOUBLE):
            raise ValueError(f"kernel must be float32 or float64; got {kernel.dtype}.")
        if cnp.PyArray_NDIM(kernel) != 2 or cnp.PyArray_NDIM(head_weights) != 2:
            raise ValueError("kernel and head_weights must have 2 dimensions.")
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1; got {max_rows}.")
        self._type_num = cnp.PyArray_TYPE(kernel)
        self._n_in = kernel.shape[0]
        self._H = kernel.shape[1] // 4
        self._N = head_weights.shape[1]
        G = 4 * self._H
        self._kernel = _weight_data(
            "kernel", kernel, self._type_num, 2, self._n_in, G
        )
        self._recurrent_kernel = _weight_data(
            "recurrent_kernel", recurrent_kernel, self._type_num, 2, self._H, G
        )
        self._bias = _weight_data("bias", bias, self._type_num, 1, G, 0)
        self._head_weights = _weight_data(
            "head_weights", head_weights, self._type_num, 2, self._H, self._N
        )
        self._head_bias = _weight_data(
            "head_bias", head_bias, self._type_num, 1, self._N, 0
        )
        if self._H < 1 or self._N < 1:
            raise ValueError("The network needs hidden units and outputs.")
        self._arrays = (kernel, recurrent_kernel, bias, head_weights, head_bias)
        self._activation = activation
        self._max_rows = max_rows

    def predict(self, X):
        """Raw outputs, shape (B, N), for ``X`` (B, T, n_in); or None, without
        running anything, unless ``X`` is an ndarray of exactly that kind,
        C-contiguous, aligned, native-order, of the weights' dtype, with
        1 <= B <= max_rows, T >= 1 and only finite values, and the packed
        kernels are active (with none, the products call BLAS, whose threads
        the usual path limits)."""
        cdef cnp.npy_intp out_dims[2]
        cdef Py_ssize_t B, T
        cdef bint is_float = self._type_num == cnp.NPY_FLOAT
        cdef int status
        cdef const void *data
        cdef cnp.ndarray out
        cdef void *out_data
        if skseq_gemm_level() == 0:
            return None
        data = _plain_batch(X, self._type_num, self._max_rows, self._n_in, &B, &T)
        if data == NULL:
            return None
        out_dims[0] = B
        out_dims[1] = self._N
        out = cnp.PyArray_EMPTY(2, out_dims, self._type_num, 0)
        out_data = cnp.PyArray_DATA(out)
        with nogil:
            if is_float:
                status = _predict_bound(self, <const float *> data, B, T,
                                        <float *> out_data)
            else:
                status = _predict_bound(self, <const double *> data, B, T,
                                        <double *> out_data)
        if status != 0:
            raise MemoryError()
        return out


cdef int _predict_bound(SmallBatchPredictor predictor, const floating *x,
                        Py_ssize_t B, Py_ssize_t T, floating *out) noexcept nogil:
    """_predict_rows with a predictor's weights, of this precision: B rows in
    one chunk, on the calling thread."""
    return _predict_rows(
        B, T, predictor._n_in, predictor._H, predictor._N, x,
        <const floating *> predictor._kernel,
        <const floating *> predictor._recurrent_kernel,
        <const floating *> predictor._bias,
        <const floating *> predictor._head_weights,
        <const floating *> predictor._head_bias, out, predictor._activation, B, 1,
    )


# --------------------------------------------------------------------------
# One chunk, backward.

cdef void _backward_chunk(
    Py_ssize_t chunk,                  # the chunk: rows chunk * chunk_size on
    Py_ssize_t chunk_size,             # (m rows; the last chunk may be short)
    Py_ssize_t B,
    const floating *inputs,            # IN  (B, T1, n_in)
    const floating *kernel,            # IN  (n_in, G)
    const floating *recurrent_kernel,  # IN  (H, G)
    const floating *packed_t,          # IN  recurrent_kernel.T packed, or NULL
    const Py_ssize_t *lengths,         # IN  (B,)
    const floating *gates,             # IN  (B, T1, G) activated gates
    const floating *cells,             # IN  (B, T1, H)
    const floating *hidden,            # IN  (B, T1, H)
    const floating *dhidden,           # IN  (B, T1, H) dL/dh_t from outside
    floating *dgates,                  # OUT (B, T1, G) dL/dz_t
    floating *dinputs,                 # OUT (B, T1, n_in) or NULL
    floating *partials,                # OUT (chunks, n_in + H + 1, G): each
                                       #     chunk's sums
    floating *carries,                 # WORK (2, B, H): dL/dh_t through h_t's
                                       #     successor, dL/dc_t through c_{t+1}
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H,
    int activation,
) noexcept nogil:
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t start = chunk * chunk_size
    cdef Py_ssize_t m = min(chunk_size, B - start)
    cdef floating *partial = partials + chunk * (n_in + H + 1) * G
    cdef floating *dh_carry = carries + start * H
    cdef floating *dc_carry = carries + (B + start) * H
    cdef Py_ssize_t j, t, n_active
    cdef Py_ssize_t last_step
    cdef const floating *a
    cdef const floating *c_now
    cdef const floating *c_prev
    cdef const floating *dh_in
    cdef floating *dz

    inputs += start * T1 * n_in
    lengths += start
    gates += start * T1 * G
    cells += start * T1 * H
    hidden += start * T1 * H
    dhidden += start * T1 * H
    dgates += start * T1 * G
    if dinputs != NULL:
        dinputs += start * T1 * n_in
    last_step = lengths[0]

    memset(dh_carry, 0, m * H * sizeof(floating))
    memset(dc_carry, 0, m * H * sizeof(floating))
    # Slot 0 and the slots past each sequence's end hold zero gradients (the
    # whole-chunk GEMMs below read slot 0; callers may read all of dgates).
    for j in range(m):
        memset(dgates + j * T1 * G, 0, G * sizeof(floating))
        if lengths[j] + 1 < T1:
            memset(dgates + (j * T1 + lengths[j] + 1) * G, 0,
                   (T1 - 1 - lengths[j]) * G * sizeof(floating))

    n_active = 0
    for t in range(last_step, 0, -1):
        while n_active < m and lengths[n_active] >= t:
            n_active += 1
        for j in range(n_active):
            a = gates + (j * T1 + t) * G
            c_now = cells + (j * T1 + t) * H
            c_prev = cells + (j * T1 + t - 1) * H
            dh_in = dhidden + (j * T1 + t) * H
            dz = dgates + (j * T1 + t) * G
            if floating is float:
                skseq_backward_row_f(a, c_now, c_prev, dh_in, dh_carry + j * H,
                                     dc_carry + j * H, dz, H, activation)
            else:
                skseq_backward_row_d(a, c_now, c_prev, dh_in, dh_carry + j * H,
                                     dc_carry + j * H, dz, H, activation)
        # dL/dh_{t-1} through the recurrence, for the rows still running; none
        # at t = 1, where h_0 is the zero initial state, not a parameter.
        if t > 1:
            _recurrent_gradient(dh_carry, dgates + t * G, T1 * G, recurrent_kernel,
                                packed_t, n_active, H, G)

    _backward_products(partial, dinputs, inputs, kernel, hidden, dgates, lengths, m,
                       T1, n_in, H, G)


def lstm_backward(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const Py_ssize_t[::1] lengths,
    const floating[:, :, ::1] gates,
    const floating[:, :, ::1] cells,
    const floating[:, :, ::1] hidden,
    const floating[:, :, ::1] dhidden,
    floating[:, :, ::1] dgates,
    floating[:, :, ::1] dinputs,
    floating[:, ::1] grad_kernel,
    floating[:, ::1] grad_recurrent_kernel,
    floating[::1] grad_bias,
    floating[::1] work,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
):
    """Back-propagate through time for one LSTM layer over a batch.

    Parameters
    ----------
    inputs, kernel, recurrent_kernel, lengths : as given to the forward. IN
    gates, cells, hidden : the forward's outputs (full cells). IN
    dhidden : (B, T + 1, H) array, dL/dh_t at slot t from outside. IN
    dgates : (B, T + 1, 4H) array. OUT: dL/dz_t (gate pre-activations).
    dinputs : (B, T + 1, n_in) array or None. OUT: dL/dx_t.
    grad_kernel, grad_recurrent_kernel, grad_bias : OUT, overwritten with the
        gradients summed over the batch.
    work : 1-D array of ``backward_workspace_size(...)`` elements. WORK
    activation, chunk_size, n_threads : as for the forward.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t T1 = inputs.shape[1]
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 4 * H
    cdef Py_ssize_t chunks = (B + chunk_size - 1) // chunk_size
    cdef Py_ssize_t partial_size = (n_in + H + 1) * G
    cdef Py_ssize_t chunk, e
    cdef skseq_fp_mode mode
    cdef floating *partials = &work[0]
    cdef floating *carries = &work[0] + chunks * partial_size
    cdef floating *dinputs_ptr = NULL
    cdef floating *grad_kernel_ptr = &grad_kernel[0, 0]
    cdef floating *grad_recurrent_ptr = &grad_recurrent_kernel[0, 0]
    cdef void *block = NULL
    cdef const floating *packed_t = NULL

    _check_shape("kernel", kernel.shape, 2, n_in, G, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("gates", gates.shape, 3, B, T1, G)
    _check_shape("cells", cells.shape, 3, B, T1, H)
    _check_shape("hidden", hidden.shape, 3, B, T1, H)
    _check_shape("dhidden", dhidden.shape, 3, B, T1, H)
    _check_shape("dgates", dgates.shape, 3, B, T1, G)
    if dinputs is not None:
        _check_shape("dinputs", dinputs.shape, 3, B, T1, n_in)
    _check_shape("grad_kernel", grad_kernel.shape, 2, n_in, G, 0)
    _check_shape("grad_recurrent_kernel", grad_recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("grad_bias", grad_bias.shape, 1, G, 0, 0)
    _check_lengths(lengths, B, T1 - 1, chunk_size, n_threads)
    if work.shape[0] < chunks * partial_size + 2 * B * H:
        raise ValueError(f"work has {work.shape[0]} elements, fewer than needed.")
    if B == 0:
        return
    if dinputs is not None:
        dinputs_ptr = &dinputs[0, 0, 0]
    with nogil:
        packed_t = _packed(&recurrent_kernel[0, 0], H, G, True, &block)
    if n_threads == 1 or chunks == 1:
        # No OpenMP region (see lstm_forward): the chunks one after the other,
        # then the sum of their partials in chunk order, as below.
        with nogil:
            for chunk in range(chunks):
                mode = skseq_flush_subnormals()
                _backward_chunk(
                    chunk, chunk_size, B, &inputs[0, 0, 0], &kernel[0, 0],
                    &recurrent_kernel[0, 0], packed_t, &lengths[0], &gates[0, 0, 0],
                    &cells[0, 0, 0], &hidden[0, 0, 0], &dhidden[0, 0, 0],
                    &dgates[0, 0, 0], dinputs_ptr, partials, carries, T1, n_in, H,
                    activation,
                )
                skseq_restore_fp_mode(mode)
            for e in range(_sum_blocks(partial_size)):
                _sum_partials(e, partials, chunks, partial_size, n_in * G, H * G,
                              grad_kernel_ptr, grad_recurrent_ptr, &grad_bias[0])
    else:
        # One parallel region: the chunks' time loops, then (after the
        # implicit barrier) the sum of their partials in chunk order, each
        # output element owned by one thread, so the order of every sum is
        # fixed.
        with nogil, parallel(num_threads=n_threads):
            for chunk in prange(chunks, schedule="dynamic"):
                mode = skseq_flush_subnormals()
                _backward_chunk(
                    chunk, chunk_size, B, &inputs[0, 0, 0], &kernel[0, 0],
                    &recurrent_kernel[0, 0], packed_t, &lengths[0], &gates[0, 0, 0],
                    &cells[0, 0, 0], &hidden[0, 0, 0], &dhidden[0, 0, 0],
                    &dgates[0, 0, 0], dinputs_ptr, partials, carries, T1, n_in, H,
                    activation,
                )
                skseq_restore_fp_mode(mode)
            for e in prange(_sum_blocks(partial_size), schedule="static"):
                _sum_partials(e, partials, chunks, partial_size, n_in * G, H * G,
                              grad_kernel_ptr, grad_recurrent_ptr, &grad_bias[0])
    free(block)
