# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Forward, backward-through-time and prediction of ONE GRU layer over a batch.

The gated recurrent unit of Cho et al. (2014) in the ``reset_after`` form of
PyTorch, cuDNN and Keras 3: gate blocks z, r, h; kernel (n_in, 3H),
recurrent kernel (H, 3H), bias (2, 3H) with the input row b_x first and the
recurrent row b_h second::

    z = sigmoid(x W_z + b_xz + h U_z + b_hz)
    r = sigmoid(x W_r + b_xr + h U_r + b_hr)
    n = act(x W_h + b_xh + r * (h U_h + b_hh))
    h' = z * h + (1 - z) * n

This module mirrors ``_lstm_layer``: the same padded-time layout (slot 0 of
every sequence holds the zero initial state), the same chunks of rows with
non-increasing lengths, the same entry points (:func:`gru_forward`,
:func:`gru_backward`, :func:`gru_predict`, :func:`backward_workspace_size`)
with arguments of the same form, and the same discipline: the input
projection step by step with the packed kernels (with BLAS, in training, of
all steps at once), one recurrent product per step through the helpers of
``_kernels.pxd``, the elementwise work in one vectorised pass per row
(``src/gru_rows.inc``, through the shared kernel table), and per-chunk
weight-gradient partials summed in chunk order, so that results never depend
on the thread count.

The recurrent product of a step cannot be added into the gate rows as the
LSTM's is, since the candidate multiplies its recurrent part by r: each chunk
forms it in a scratch block of its own, and the row kernel combines both
parts. The ``cells`` buffer of the LSTM's interface holds, per step, the
recurrent part of the candidate q = h U_h + b_hh, which the backward pass
needs; the backward pass then overwrites it with the candidate's input-side
gradient.
"""

cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from ._blas cimport gemm
from ._bptt cimport _sum_blocks, _sum_partials
from ._checks cimport _check_lengths, _check_shape, _check_slots
from ._kernels cimport (
    STEP_BLOCK_ROWS,
    _aligned,
    _dense,
    _gemm_tn2,
    _packed,
    _product,
    _recurrent_gradient,
    _recurrent_product,
    _row_in_place,
    _tn_work,
    skseq_flush_subnormals,
    skseq_fp_mode,
    skseq_gemm_init,
    skseq_gemm_level,
    skseq_gru_backward_row_d,
    skseq_gru_backward_row_f,
    skseq_gru_forward_row_d,
    skseq_gru_forward_row_f,
    skseq_restore_fp_mode,
)

skseq_gemm_init()
cnp.import_array()

ACTIVATION_TANH = 0
ACTIVATION_RELU = 1


def packed_gemm_level():
    """Vector level of the kernels every module runs now (the shared table;
    ``_lstm_layer._set_packed_gemm_level`` sets it)."""
    return skseq_gemm_level()


def backward_workspace_size(Py_ssize_t n_rows, Py_ssize_t n_in,
                            Py_ssize_t n_hidden, Py_ssize_t chunk_size):
    """Length of the ``work`` array that :func:`gru_backward` needs."""
    cdef Py_ssize_t chunks = (n_rows + chunk_size - 1) // chunk_size
    return chunks * (n_in + n_hidden + 2) * 3 * n_hidden + 2 * n_rows * n_hidden


# --------------------------------------------------------------------------
# One chunk, forward.

cdef int _forward_chunk(
    Py_ssize_t chunk,                  # the chunk: rows chunk * chunk_size on
    Py_ssize_t chunk_size,             # (m rows; the last chunk may be short)
    Py_ssize_t B,
    const floating *inputs,            # IN  (B, T1, n_in), or (B, T1 - 1, n_in):
                                       #     no zero slot
    const floating *kernel,            # IN  (n_in, G)
    const floating *packed_kernel,     # IN  kernel packed, or NULL
    const floating *recurrent_kernel,  # IN  (H, G)
    const floating *packed,            # IN  recurrent_kernel packed, or NULL
    const floating *bias,              # IN  (2, G)
    const Py_ssize_t *lengths,         # IN  (B,), non-increasing in each chunk
    floating *gates,                   # OUT (B, n_gate_slots, G): z, r, n
    floating *cells,                   # OUT (B, n_cell_slots, H): q
    floating *hidden,                  # OUT (B, n_hidden_slots, H)
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H,
    Py_ssize_t n_gate_slots, Py_ssize_t n_cell_slots, Py_ssize_t n_hidden_slots,
    Py_ssize_t n_input_slots, int activation,
) noexcept nogil:
    """The chunk's time loop; -1 (nothing done) when memory is short."""
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t start = chunk * chunk_size
    cdef Py_ssize_t m = min(chunk_size, B - start)
    cdef Py_ssize_t j, t, n_active, gate_slot, slot, h_slot, h_prev_slot
    # Step t's inputs sit in slot t, or in slot t - 1 without the zero slot.
    cdef Py_ssize_t shift = T1 - n_input_slots
    cdef Py_ssize_t last_step
    cdef bint all_steps = n_gate_slots == T1
    # Whether the input product runs step by step in the time loop.
    cdef bint stepwise = not all_steps or packed_kernel != NULL
    # The recurrent products of one step, h_{t-1} U, for the running rows.
    cdef floating *rec = <floating *> malloc(m * G * sizeof(floating))
    if rec == NULL:
        return -1

    inputs += start * n_input_slots * n_in
    lengths += start
    gates += start * n_gate_slots * G
    cells += start * n_cell_slots * H
    hidden += start * n_hidden_slots * H
    last_step = lengths[0]

    # Input projection: step by step in the time loop, so that the row kernel
    # reads each step's gates while they are still in the cache. With BLAS
    # (no packed kernel) and a gate slot per step (training), of every step at
    # once: a BLAS call per step costs more, and its sums may be rounded
    # differently with the number of rows.
    if not stepwise:
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
        slot = t if n_cell_slots == T1 else t & 1
        if stepwise:
            _product(gates + gate_slot * G, n_gate_slots * G,
                     inputs + (t - shift) * n_in, n_input_slots * n_in, kernel,
                     packed_kernel, n_active, n_in, G, False)
        memset(rec, 0, n_active * G * sizeof(floating))
        _recurrent_product(rec, G, hidden + h_prev_slot * H, n_hidden_slots * H,
                           recurrent_kernel, packed, n_active, H, G)
        for j in range(n_active):
            if floating is float:
                skseq_gru_forward_row_f(
                    gates + (j * n_gate_slots + gate_slot) * G, rec + j * G, bias,
                    hidden + (j * n_hidden_slots + h_prev_slot) * H,
                    cells + (j * n_cell_slots + slot) * H,
                    hidden + (j * n_hidden_slots + h_slot) * H, H, activation)
            else:
                skseq_gru_forward_row_d(
                    gates + (j * n_gate_slots + gate_slot) * G, rec + j * G, bias,
                    hidden + (j * n_hidden_slots + h_prev_slot) * H,
                    cells + (j * n_cell_slots + slot) * H,
                    hidden + (j * n_hidden_slots + h_slot) * H, H, activation)
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
    free(rec)
    return 0


def gru_forward(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[:, ::1] bias,
    const Py_ssize_t[::1] lengths,
    floating[:, :, ::1] gates,
    floating[:, :, ::1] cells,
    floating[:, :, ::1] hidden,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
    bint zero_slot=True,
):
    """Run one GRU layer over a batch; arguments as for ``lstm_forward``.

    Parameters
    ----------
    inputs : (B, T + 1, n_in) array with zeros at slot 0, or, with
        ``zero_slot=False``, (B, T, n_in) with step t at slot t - 1, read in
        place (inference only: the gates must have one slot).
    kernel, recurrent_kernel, bias : (n_in, 3H), (H, 3H), (2, 3H) arrays. IN
    lengths : (B,) intp array, 1 <= lengths <= T, non-increasing per chunk. IN
    gates : (B, T + 1, 3H) array. OUT: activated z, r, n at slot t. Or
        (B, 1, 3H) for inference: one slot reused by every step.
    cells : (B, T + 1, H) array. OUT: q_t = h_{t-1} U_h + b_hh at slot t; or
        (B, 2, H) for inference (two alternating slots, nothing kept).
    hidden : (B, T + 1, H) array. OUT: h_t at slot t, zeros at slot 0 and past
        each sequence's end. Or (B, 2, H): two alternating slots; sequence j's
        last state is left in slot ``L % 2`` (L = lengths[j]).
    activation : 0 for tanh, 1 for relu (the candidate's activation).
    chunk_size : rows per chunk (>= 1).
    n_threads : OpenMP threads (>= 1).
    zero_slot : whether ``inputs`` has the zero slot 0.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t n_input_slots = inputs.shape[1]
    cdef Py_ssize_t T1 = n_input_slots + (0 if zero_slot else 1)
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t n_gate_slots = gates.shape[1]
    cdef Py_ssize_t n_cell_slots = cells.shape[1]
    cdef Py_ssize_t n_hidden_slots = hidden.shape[1]
    cdef int status
    _check_shape("kernel", kernel.shape, 2, n_in, G, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("bias", bias.shape, 2, 2, G, 0)
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
        status = _forward_batch(
            B, chunk_size, n_threads, &inputs[0, 0, 0], &kernel[0, 0],
            &recurrent_kernel[0, 0], &bias[0, 0], &lengths[0], &gates[0, 0, 0],
            &cells[0, 0, 0], &hidden[0, 0, 0], T1, n_in, H, n_gate_slots,
            n_cell_slots, n_hidden_slots, n_input_slots, activation,
        )
    if status != 0:
        raise MemoryError()


def gru_step(
    const floating[:, ::1] x,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[:, ::1] bias,
    const floating[:, ::1] h_prev,
    floating[:, ::1] h_out,
    int activation,
):
    """One step of one GRU layer for B independent rows (streaming).

    The operations of one step of the inference pass of :func:`gru_forward`
    (the input product, the recurrent product in a block of its own, then the
    row kernel), from ``h_prev`` instead of slot t - 1: a sequence fed one
    step at a time gets the bits of the whole-sequence pass wherever the
    packed kernels run (their per-row sums do not depend on the other rows).
    The rows run in blocks of STEP_BLOCK_ROWS, each with gate rows of its own
    that stay in cache (which changes no bit), on the calling thread (see
    ``_lstm_layer.lstm_step``).

    Parameters
    ----------
    x : (B, n_in) array, the step's inputs. IN
    kernel, recurrent_kernel, bias : (n_in, 3H), (H, 3H), (2, 3H) arrays. IN
    h_prev : (B, H) array, the state after the previous step. IN
    h_out : (B, H) array, the state after this step. OUT
    activation : 0 for tanh, 1 for relu.
    """
    cdef Py_ssize_t B = x.shape[0]
    cdef Py_ssize_t n_in = x.shape[1]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 3 * H
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
    _check_shape("bias", bias.shape, 2, 2, G, 0)
    _check_shape("h_prev", h_prev.shape, 2, B, H, 0)
    _check_shape("h_out", h_out.shape, 2, B, H, 0)
    if B == 0 or H == 0:
        return
    with nogil:
        mode = skseq_flush_subnormals()
        # One stream: both products read the weights in place (the bits of
        # the packed products, without packing) where the shapes allow.
        if B == 1:
            failed = _step_rows(0, 1, True, &x[0, 0], &kernel[0, 0], NULL,
                                &recurrent_kernel[0, 0], NULL, &bias[0, 0],
                                &h_prev[0, 0], &h_out[0, 0], n_in, H, activation)
        if B > 1 or failed == 2:
            failed = 0
            packed = _packed(&recurrent_kernel[0, 0], H, G, False, &block)
            packed_kernel = _packed(&kernel[0, 0], n_in, G, False, &kernel_block)
            for b in range(n_blocks):
                failed += _step_rows(
                    b * STEP_BLOCK_ROWS, B, False, &x[0, 0], &kernel[0, 0],
                    packed_kernel, &recurrent_kernel[0, 0], packed, &bias[0, 0],
                    &h_prev[0, 0], &h_out[0, 0], n_in, H, activation,
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
    const floating *h_prev, floating *h_out, Py_ssize_t n_in, Py_ssize_t H,
    int activation,
) noexcept nogil:
    """gru_step's block of rows, as ``_lstm_layer._step_rows`` is lstm_step's
    (the same arguments but the cell state, the same return codes)."""
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t m = min(<Py_ssize_t> STEP_BLOCK_ROWS, B - start)
    cdef Py_ssize_t j
    cdef void *scratch_block = NULL
    # The gate rows, the recurrent products and the candidate's recurrent
    # part q (which inference does not keep).
    cdef floating *gates = <floating *> _aligned(m * (2 * G + H) * sizeof(floating),
                                                 &scratch_block)
    cdef floating *rec
    cdef floating *q
    if gates == NULL:
        return 1
    rec = gates + m * G
    q = rec + m * G
    x += start * n_in
    h_prev += start * H
    h_out += start * H
    memset(rec, 0, m * G * sizeof(floating))
    if in_place:
        if not (
            _row_in_place(gates, x, kernel, n_in, G, False)
            and _row_in_place(rec, h_prev, recurrent_kernel, H, G, True)
        ):
            free(scratch_block)
            return 2
    else:
        _product(gates, G, x, n_in, kernel, packed_kernel, m, n_in, G, False)
        _recurrent_product(rec, G, h_prev, H, recurrent_kernel, packed, m, H, G)
    for j in range(m):
        if floating is float:
            skseq_gru_forward_row_f(gates + j * G, rec + j * G, bias, h_prev + j * H,
                                    q + j * H, h_out + j * H, H, activation)
        else:
            skseq_gru_forward_row_d(gates + j * G, rec + j * G, bias, h_prev + j * H,
                                    q + j * H, h_out + j * H, H, activation)
    free(scratch_block)
    return 0


cdef int _forward_batch(
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
    chunks on n_threads threads. The number of chunks short of memory."""
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t chunks = (B + chunk_size - 1) // chunk_size
    cdef Py_ssize_t chunk
    cdef skseq_fp_mode mode
    cdef int failed = 0
    cdef void *block = NULL
    cdef void *kernel_block = NULL
    cdef const floating *packed = _packed(recurrent_kernel, H, G, False, &block)
    cdef const floating *packed_kernel = _packed(kernel, n_in, G, False, &kernel_block)
    if n_threads == 1 or chunks == 1:
        # No OpenMP region at all (see _lstm_layer).
        for chunk in range(chunks):
            mode = skseq_flush_subnormals()
            failed += -_forward_chunk(
                chunk, chunk_size, B, inputs, kernel, packed_kernel, recurrent_kernel,
                packed, bias, lengths, gates, cells, hidden, T1, n_in, H,
                n_gate_slots, n_cell_slots, n_hidden_slots, n_input_slots,
                activation,
            )
            skseq_restore_fp_mode(mode)
    else:
        for chunk in prange(chunks, schedule="dynamic", num_threads=n_threads):
            mode = skseq_flush_subnormals()
            failed += -_forward_chunk(
                chunk, chunk_size, B, inputs, kernel, packed_kernel, recurrent_kernel,
                packed, bias, lengths, gates, cells, hidden, T1, n_in, H,
                n_gate_slots, n_cell_slots, n_hidden_slots, n_input_slots,
                activation,
            )
            skseq_restore_fp_mode(mode)
    free(block)
    free(kernel_block)
    return failed


def gru_predict(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[:, ::1] bias,
    const floating[:, ::1] head_weights,
    const floating[::1] head_bias,
    floating[:, ::1] out,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
):
    """Raw outputs of a one-layer, one-direction GRU network for sequences
    that all have every step, in one call with buffers of its own: the same
    operations, so the same bits, as ``gru_forward`` with the inference
    buffers and ``zero_slot=False``, ``gather_last`` and ``dense_forward``.

    Parameters
    ----------
    inputs : (B, T, n_in) array, T >= 1: step t in slot t - 1. IN
    kernel, recurrent_kernel, bias : (n_in, 3H), (H, 3H), (2, 3H) arrays. IN
    head_weights, head_bias : (H, N), (N,) arrays. IN
    out : (B, N) array. OUT: h_T @ head_weights + head_bias per sequence.
    activation, chunk_size, n_threads : as for ``gru_forward``.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t T = inputs.shape[1]
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t N = head_weights.shape[1]
    cdef int status
    _check_shape("kernel", kernel.shape, 2, n_in, G, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, G, 0)
    _check_shape("bias", bias.shape, 2, 2, G, 0)
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
            &bias[0, 0], &head_weights[0, 0], &head_bias[0], &out[0, 0], activation,
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
    """gru_predict's work for checked arguments, B, T, N >= 1, with buffers
    of its own; -1 (nothing done) when memory is short."""
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t j, k
    cdef Py_ssize_t *lengths
    cdef floating *gates
    cdef floating *cells
    cdef floating *hidden
    cdef floating *last
    cdef void *block
    cdef int status
    # The lengths, then every row's buffers (from a cache line on): one gate
    # slot, two slots of q and of the hidden state, and the last hidden state.
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
    status = _forward_batch(
        B, chunk_size, n_threads, inputs, kernel, recurrent_kernel, bias, lengths,
        gates, cells, hidden, T + 1, n_in, H, 1, 2, 2, T, activation,
    )
    if status == 0:
        # Step T's hidden state is in slot T % 2.
        for j in range(B):
            for k in range(H):
                last[j * H + k] = hidden[(2 * j + T % 2) * H + k]
        _dense(last, B, H, head_weights, head_bias, out, N)
    free(block)
    return -1 if status != 0 else 0


# --------------------------------------------------------------------------
# One chunk, backward.

cdef inline void _tn_product(
    floating *C, Py_ssize_t ldc, const floating *A, Py_ssize_t lda,
    const floating *B, Py_ssize_t ldb, Py_ssize_t M, Py_ssize_t K, Py_ssize_t N,
    bint accumulate,
) noexcept nogil:
    """C (M x N, row stride ldc) (+)= A.T @ B, A (K x M) and B (K x N) with
    row strides lda and ldb, by BLAS."""
    gemm(True, False, <int> M, <int> N, <int> K, <floating> 1.0, A, <int> lda,
         B, <int> ldb, <floating> (1.0 if accumulate else 0.0), C, <int> ldc)


cdef void _weight_gradients(
    floating *partial, const floating *x, const floating *h, const floating *dg,
    const floating *dn, Py_ssize_t K, Py_ssize_t n_in, Py_ssize_t H,
    bint accumulate, floating *work,
) noexcept nogil:
    """partial's kernel block (+)= x.T @ [dg_z, dg_r, dn], its recurrent block
    (+)= h.T @ dg and (always +=) its bias rows the column sums of
    [dg_z, dg_r, dn] and of dg, over K rows of x (K x n_in), h (K x H),
    dg (K x 3H) and dn (K x H), in row order. The two bias rows hold the same
    first 2H values on entry (both get the same sums of dg_z and dg_r)."""
    cdef Py_ssize_t G = 3 * H
    cdef floating *recurrent_block = partial + n_in * G
    cdef floating *grad_bias_x = partial + (n_in + H) * G
    cdef floating *grad_bias_h = grad_bias_x + G
    cdef Py_ssize_t r, k
    if work != NULL:
        # dg_z and dg_r are packed once for both products and summed on the
        # way; dn and dg_n on their own.
        _gemm_tn2(n_in, H, 2 * H, K, x, n_in, h, H, dg, G, partial, G,
                  recurrent_block, G, accumulate, work, grad_bias_h)
        _gemm_tn2(n_in, 0, H, K, x, n_in, NULL, 0, dn, H, partial + 2 * H, G, NULL, 0,
                  accumulate, work, grad_bias_x + 2 * H)
        _gemm_tn2(H, 0, H, K, h, H, NULL, 0, dg + 2 * H, G, recurrent_block + 2 * H,
                  G, NULL, 0, accumulate, work, grad_bias_h + 2 * H)
    else:
        _tn_product(partial, G, x, n_in, dg, G, n_in, K, 2 * H, accumulate)
        _tn_product(partial + 2 * H, G, x, n_in, dn, H, n_in, K, H, accumulate)
        _tn_product(recurrent_block, G, h, H, dg, G, H, K, G, accumulate)
        for r in range(K):
            for k in range(H):
                grad_bias_x[2 * H + k] += dn[r * H + k]
            for k in range(G):
                grad_bias_h[k] += dg[r * G + k]
    memcpy(grad_bias_x, grad_bias_h, 2 * H * sizeof(floating))


cdef inline void _input_gradient(
    floating *dinputs, const floating *dg, const floating *dn,
    const floating *kernel, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t H,
) noexcept nogil:
    """dinputs (rows x n_in) = [dg_z, dg_r, dn] @ kernel.T."""
    cdef Py_ssize_t G = 3 * H
    gemm(False, True, <int> rows, <int> n_in, <int> (2 * H), <floating> 1.0,
         dg, <int> G, kernel, <int> G, <floating> 0.0, dinputs, <int> n_in)
    gemm(False, True, <int> rows, <int> n_in, <int> H, <floating> 1.0,
         dn, <int> H, kernel + 2 * H, <int> G, <floating> 1.0, dinputs, <int> n_in)


cdef void _backward_chunk(
    Py_ssize_t chunk,                  # the chunk: rows chunk * chunk_size on
    Py_ssize_t chunk_size,             # (m rows; the last chunk may be short)
    Py_ssize_t B,
    const floating *inputs,            # IN  (B, T1, n_in)
    const floating *kernel,            # IN  (n_in, G)
    const floating *recurrent_kernel,  # IN  (H, G)
    const floating *packed_t,          # IN  recurrent_kernel.T packed, or NULL
    const Py_ssize_t *lengths,         # IN  (B,)
    const floating *gates,             # IN  (B, T1, G) z, r, n
    floating *cells,                   # IN  (B, T1, H) q; OUT the candidate's
                                       #     input-side gradient
    const floating *hidden,            # IN  (B, T1, H)
    const floating *dhidden,           # IN  (B, T1, H) dL/dh_t from outside
    floating *dgates,                  # OUT (B, T1, G) recurrent-side gradients
    floating *dinputs,                 # OUT (B, T1, n_in) or NULL
    floating *partials,                # OUT (chunks, n_in + H + 2, G): each
                                       #     chunk's sums
    floating *carries,                 # WORK (2, B, H): dL/dh_t through the
                                       #     next step's product, and directly
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H,
    int activation,
    bint last_steps_only,              # dhidden is zero but at each
                                       #     sequence's last step
) noexcept nogil:
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t start = chunk * chunk_size
    cdef Py_ssize_t m = min(chunk_size, B - start)
    cdef floating *partial = partials + chunk * (n_in + H + 2) * G
    cdef floating *dh_rec = carries + start * H
    cdef floating *dh_direct = carries + (B + start) * H
    cdef const floating *dh_in
    cdef Py_ssize_t j, t, n_active, length, first, row
    cdef Py_ssize_t last_step

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

    memset(dh_rec, 0, m * H * sizeof(floating))
    memset(dh_direct, 0, m * H * sizeof(floating))
    cdef bint padded = lengths[m - 1] < T1 - 1
    # Slot 0 and the slots past each sequence's end hold zero gradients (the
    # whole-chunk products below read them).
    for j in range(m):
        memset(dgates + j * T1 * G, 0, G * sizeof(floating))
        memset(cells + j * T1 * H, 0, H * sizeof(floating))
        if lengths[j] + 1 < T1:
            memset(dgates + (j * T1 + lengths[j] + 1) * G, 0,
                   (T1 - 1 - lengths[j]) * G * sizeof(floating))
            memset(cells + (j * T1 + lengths[j] + 1) * H, 0,
                   (T1 - 1 - lengths[j]) * H * sizeof(floating))

    n_active = 0
    for t in range(last_step, 0, -1):
        while n_active < m and lengths[n_active] >= t:
            n_active += 1
        for j in range(n_active):
            row = j * T1 + t
            # Where dhidden is known to be zero, the zeros of slot 0 are read
            # instead: the same values, without streaming the whole array.
            dh_in = dhidden + row * H
            if last_steps_only and t != lengths[j]:
                dh_in = dgates
            if floating is float:
                skseq_gru_backward_row_f(
                    gates + row * G, cells + row * H, hidden + (row - 1) * H,
                    dh_in, dh_rec + j * H, dh_direct + j * H,
                    dgates + row * G, cells + row * H, H, activation)
            else:
                skseq_gru_backward_row_d(
                    gates + row * G, cells + row * H, hidden + (row - 1) * H,
                    dh_in, dh_rec + j * H, dh_direct + j * H,
                    dgates + row * G, cells + row * H, H, activation)
        # dL/dh_{t-1} through the recurrent product, for the rows still
        # running; none at t = 1, where h_0 is the zero initial state.
        if t > 1:
            _recurrent_gradient(dh_rec, dgates + t * G, T1 * G, recurrent_kernel,
                                packed_t, n_active, H, G)

    cdef void *block = NULL
    cdef floating *work = _tn_work(dgates, G, &block)
    if not padded:
        # Whole-chunk products: rows are (sequence, slot) pairs, and the shift
        # by one row pairs x_t and h_{t-1} with step t's gradients (zero slots
        # meet at sequence boundaries).
        memset(partial + (n_in + H) * G, 0, 2 * G * sizeof(floating))
        _weight_gradients(partial, inputs + n_in, hidden, dgates + G, cells + H,
                          m * T1 - 1, n_in, H, False, work)
        if dinputs != NULL:
            _input_gradient(dinputs, dgates, cells, kernel, m * T1, n_in, H)
        free(block)
        return

    # Some sequences end early: the same products, sequence by sequence over
    # their own steps only (accumulated in row order).
    memset(partial, 0, (n_in + H + 2) * G * sizeof(floating))
    for j in range(m):
        length = lengths[j]
        first = j * T1 + 1  # row of step 1
        _weight_gradients(partial, inputs + first * n_in, hidden + (first - 1) * H,
                          dgates + first * G, cells + first * H, length, n_in, H,
                          True, work)
        if dinputs != NULL:
            memset(dinputs + j * T1 * n_in, 0, n_in * sizeof(floating))
            _input_gradient(dinputs + first * n_in, dgates + first * G,
                            cells + first * H, kernel, length, n_in, H)
            if length + 1 < T1:
                memset(dinputs + (first + length) * n_in, 0,
                       (T1 - 1 - length) * n_in * sizeof(floating))
    free(block)


def gru_backward(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const Py_ssize_t[::1] lengths,
    const floating[:, :, ::1] gates,
    floating[:, :, ::1] cells,
    const floating[:, :, ::1] hidden,
    const floating[:, :, ::1] dhidden,
    floating[:, :, ::1] dgates,
    floating[:, :, ::1] dinputs,
    floating[:, ::1] grad_kernel,
    floating[:, ::1] grad_recurrent_kernel,
    floating[:, ::1] grad_bias,
    floating[::1] work,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
    bint last_steps_only=False,
):
    """Back-propagate through time for one GRU layer over a batch.

    Parameters
    ----------
    inputs, kernel, recurrent_kernel, lengths : as given to the forward. IN
    gates, hidden : the forward's outputs. IN
    cells : the forward's q values. IN, then overwritten (OUT) with the
        gradients of the candidate's input-side pre-activation.
    dhidden : (B, T + 1, H) array, dL/dh_t at slot t from outside. IN
    dgates : (B, T + 1, 3H) array (may be ``gates``). OUT: the gradients of
        the recurrent-side pre-activations (the terms of h U and b_h).
    dinputs : (B, T + 1, n_in) array or None. OUT: dL/dx_t.
    grad_kernel, grad_recurrent_kernel, grad_bias : (n_in, 3H), (H, 3H),
        (2, 3H). OUT, overwritten with the gradients summed over the batch.
    work : 1-D array of ``backward_workspace_size(...)`` elements. WORK
    activation, chunk_size, n_threads : as for the forward.
    last_steps_only : bool
        Whether ``dhidden`` is zero but at each sequence's last step (slot
        ``lengths[j]``), the head's gradient on the top layer: then only
        those slots are read.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t T1 = inputs.shape[1]
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t G = 3 * H
    cdef Py_ssize_t chunks = (B + chunk_size - 1) // chunk_size
    cdef Py_ssize_t partial_size = (n_in + H + 2) * G
    cdef Py_ssize_t chunk, e
    cdef skseq_fp_mode mode
    cdef floating *partials = &work[0]
    cdef floating *carries = &work[0] + chunks * partial_size
    cdef floating *dinputs_ptr = NULL
    cdef floating *grad_kernel_ptr = &grad_kernel[0, 0]
    cdef floating *grad_recurrent_ptr = &grad_recurrent_kernel[0, 0]
    cdef floating *grad_bias_ptr = &grad_bias[0, 0]
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
    _check_shape("grad_bias", grad_bias.shape, 2, 2, G, 0)
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
        with nogil:
            for chunk in range(chunks):
                mode = skseq_flush_subnormals()
                _backward_chunk(
                    chunk, chunk_size, B, &inputs[0, 0, 0], &kernel[0, 0],
                    &recurrent_kernel[0, 0], packed_t, &lengths[0], &gates[0, 0, 0],
                    &cells[0, 0, 0], &hidden[0, 0, 0], &dhidden[0, 0, 0],
                    &dgates[0, 0, 0], dinputs_ptr, partials, carries, T1, n_in, H,
                    activation, last_steps_only,
                )
                skseq_restore_fp_mode(mode)
            for e in range(_sum_blocks(partial_size)):
                _sum_partials(e, partials, chunks, partial_size, n_in * G, H * G,
                              grad_kernel_ptr, grad_recurrent_ptr, grad_bias_ptr)
    else:
        # The chunks' time loops, then the sum of their partials in chunk
        # order, each output element owned by one thread.
        with nogil, parallel(num_threads=n_threads):
            for chunk in prange(chunks, schedule="dynamic"):
                mode = skseq_flush_subnormals()
                _backward_chunk(
                    chunk, chunk_size, B, &inputs[0, 0, 0], &kernel[0, 0],
                    &recurrent_kernel[0, 0], packed_t, &lengths[0], &gates[0, 0, 0],
                    &cells[0, 0, 0], &hidden[0, 0, 0], &dhidden[0, 0, 0],
                    &dgates[0, 0, 0], dinputs_ptr, partials, carries, T1, n_in, H,
                    activation, last_steps_only,
                )
                skseq_restore_fp_mode(mode)
            for e in prange(_sum_blocks(partial_size), schedule="static"):
                _sum_partials(e, partials, chunks, partial_size, n_in * G, H * G,
                              grad_kernel_ptr, grad_recurrent_ptr, grad_bias_ptr)
    free(block)
