# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Forward, backward-through-time and prediction of ONE simple (Elman) RNN
layer over a batch: h_t = act(x_t W + h_{t-1} U + b), act tanh or relu.

The cell beside ``_lstm_layer``, with the same layout, chunking and entry
points of the same form (see that module's docstring for what is common:
the padded-time layout with its zero slot 0, ragged lengths non-increasing
inside each chunk, the packed products or BLAS, the threads). The caller
(``skseq._network``) allocates every buffer and validates user input; the
checks here only keep a wrong call from writing out of bounds. A
bidirectional layer runs its backward direction on time-reversed inputs
(``_layout.reverse_time``), as for the LSTM.

Weights in the Keras layout: kernel (n_in, H), recurrent kernel (H, H),
bias (H,).

What differs from the LSTM: the cell has no gates and no cell state. The
forward writes each step's pre-activations straight into the step's hidden
slot (input projection, then the recurrent product added) and the row
kernel (``src/rnn_rows.inc``, through the shared kernel table) replaces
them by h_t. Both activations' derivatives are functions of h_t, so
training keeps nothing but ``hidden``; the backward forms dL/dz_t
(``dgates``, width H) from h_t and the gradient arriving at h_t.

``SmallBatchPredictor`` is :func:`rnn_predict` bound to a one-layer,
one-direction network's weights, for batches of one chunk.
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
    _aligned,
    _dense,
    _packed,
    _pair_product,
    _product,
    _recurrent_gradient,
    _recurrent_product,
    _row_in_place,
    skseq_flush_subnormals,
    skseq_fp_mode,
    skseq_gemm_init,
    skseq_gemm_level,
    skseq_prefetch_rows,
    skseq_restore_fp_mode,
    skseq_rnn_backward_row_d,
    skseq_rnn_backward_row_f,
    skseq_rnn_forward_row_d,
    skseq_rnn_forward_row_f,
)

skseq_gemm_init()
cnp.import_array()

ACTIVATION_TANH = 0
ACTIVATION_RELU = 1


def packed_gemm_level():
    """Vector level of the kernels every module runs now: 2 AVX-512, 1 AVX2,
    0 none (BLAS), as ``_lstm_layer.packed_gemm_level`` (one shared table,
    which ``_lstm_layer._set_packed_gemm_level`` sets)."""
    return skseq_gemm_level()


def backward_workspace_size(Py_ssize_t n_rows, Py_ssize_t n_in,
                            Py_ssize_t n_hidden, Py_ssize_t chunk_size):
    """Length of the ``work`` array that :func:`rnn_backward` needs."""
    cdef Py_ssize_t chunks = (n_rows + chunk_size - 1) // chunk_size
    return chunks * (n_in + n_hidden + 1) * n_hidden + n_rows * n_hidden


# --------------------------------------------------------------------------
# One chunk, forward.

cdef void _forward_chunk(
    Py_ssize_t chunk,                  # the chunk: rows chunk * chunk_size on
    Py_ssize_t chunk_size,             # (m rows; the last chunk may be short)
    Py_ssize_t B,
    const floating *inputs,            # IN  (B, T1, n_in), or (B, T1 - 1, n_in):
                                       #     no zero slot
    const floating *kernel,            # IN  (n_in, H)
    const floating *packed_kernel,     # IN  kernel packed, or NULL
    const floating *recurrent_kernel,  # IN  (H, H)
    const floating *packed,            # IN  recurrent_kernel packed, or NULL
    const floating *bias,              # IN  (H,)
    const Py_ssize_t *lengths,         # IN  (B,), non-increasing in each chunk
    floating *hidden,                  # OUT (B, n_hidden_slots, H)
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H,
    bint all_steps,                    # a hidden slot per step (training), or
                                       # two alternating slots (inference)
    Py_ssize_t n_input_slots, int activation,
) noexcept nogil:
    cdef Py_ssize_t n_hidden_slots = T1 if all_steps else 2
    cdef Py_ssize_t start = chunk * chunk_size
    cdef Py_ssize_t m = min(chunk_size, B - start)
    cdef Py_ssize_t j, t, n_active, slot, prev_slot
    # Step t's inputs sit in slot t, or in slot t - 1 without the zero slot.
    cdef Py_ssize_t shift = T1 - n_input_slots
    cdef Py_ssize_t ld = n_hidden_slots * H
    cdef Py_ssize_t last_step
    cdef floating *h_now
    cdef bint paired = packed != NULL and packed_kernel != NULL

    inputs += start * n_input_slots * n_in
    lengths += start
    hidden += start * n_hidden_slots * H
    last_step = lengths[0]

    # Input projection, into the hidden slots. With the packed products, step
    # by step, in one pass with the recurrent product. Otherwise, training (a
    # slot per step): of every slot of the chunk at once when no sequence ends
    # early, else of each sequence's own steps only; inference (two slots):
    # step by step.
    if all_steps and not paired:
        if lengths[m - 1] == T1 - 1:
            _product(hidden, H, inputs, n_in, kernel, packed_kernel, m * T1, n_in, H,
                     False)
        else:
            for j in range(m):
                _product(hidden + (j * T1 + 1) * H, H, inputs + (j * T1 + 1) * n_in,
                         n_in, kernel, packed_kernel, lengths[j], n_in, H, False)
    for j in range(m):
        memset(hidden + j * ld, 0, H * sizeof(floating))

    n_active = m
    for t in range(1, last_step + 1):
        while lengths[n_active - 1] < t:
            n_active -= 1
        slot = t if all_steps else t & 1
        prev_slot = t - 1 if all_steps else 1 - slot
        # At t = 1 the recurrent product is of h_0, zeros: left out.
        if paired and t > 1:
            # Both products in one pass, rounded as the two below.
            _pair_product(hidden + slot * H, ld, inputs + (t - shift) * n_in,
                          n_input_slots * n_in, packed_kernel, n_in,
                          hidden + prev_slot * H, ld, packed, H, n_active, H)
        else:
            if paired or not all_steps:
                _product(hidden + slot * H, ld, inputs + (t - shift) * n_in,
                         n_input_slots * n_in, kernel, packed_kernel, n_active, n_in,
                         H, False)
            if t > 1:
                _recurrent_product(hidden + slot * H, ld, hidden + prev_slot * H, ld,
                                   recurrent_kernel, packed, n_active, H, H)
        for j in range(n_active):
            h_now = hidden + j * ld + slot * H
            if floating is float:
                skseq_rnn_forward_row_f(h_now, bias, H, activation)
            else:
                skseq_rnn_forward_row_d(h_now, bias, H, activation)
        # Rows that have ended: zeros in the per-step slots; with two
        # alternating slots their last state stays where it was written.
        if all_steps:
            for j in range(n_active, m):
                memset(hidden + (j * T1 + t) * H, 0, H * sizeof(floating))
    # Slots past the longest sequence of the chunk.
    if all_steps and last_step + 1 < T1:
        for j in range(m):
            memset(hidden + (j * T1 + last_step + 1) * H, 0,
                   (T1 - 1 - last_step) * H * sizeof(floating))


def rnn_step(
    const floating[:, ::1] x,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[::1] bias,
    const floating[:, ::1] h_prev,
    floating[:, ::1] h_out,
    int activation,
):
    """One step of one simple RNN layer for B independent rows (streaming).

    The operations of one step of the inference pass of :func:`rnn_forward`
    (the pre-activations written into the new state by its products, then
    the row kernel), from ``h_prev`` instead of slot t - 1: a sequence fed
    one step at a time gets the bits of the whole-sequence pass wherever the
    packed kernels run (their per-row sums do not depend on the other rows).

    Parameters
    ----------
    x : (B, n_in) array, the step's inputs. IN
    kernel, recurrent_kernel, bias : (n_in, H), (H, H), (H,) arrays. IN
    h_prev : (B, H) array, the state after the previous step. IN
    h_out : (B, H) array, the state after this step. OUT
    activation : 0 for tanh, 1 for relu.
    """
    cdef Py_ssize_t B = x.shape[0]
    cdef Py_ssize_t n_in = x.shape[1]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t j
    cdef void *block = NULL
    cdef void *kernel_block = NULL
    cdef const floating *packed
    cdef const floating *packed_kernel
    cdef skseq_fp_mode mode
    _check_shape("kernel", kernel.shape, 2, n_in, H, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, H, 0)
    _check_shape("bias", bias.shape, 1, H, 0, 0)
    _check_shape("h_prev", h_prev.shape, 2, B, H, 0)
    _check_shape("h_out", h_out.shape, 2, B, H, 0)
    if B == 0 or H == 0:
        return
    with nogil:
        mode = skseq_flush_subnormals()
        # One stream: both products read the weights in place (the bits of the
        # packed products, without packing) where the shapes allow; h_out is
        # written before h_prev is read, so only when they do not overlap.
        if not (
            B == 1
            and &h_out[0, 0] != &h_prev[0, 0]
            and _row_in_place(&h_out[0, 0], &x[0, 0], &kernel[0, 0], n_in, H, False)
            and _row_in_place(&h_out[0, 0], &h_prev[0, 0], &recurrent_kernel[0, 0],
                              H, H, True)
        ):
            packed = _packed(&recurrent_kernel[0, 0], H, H, False, &block)
            packed_kernel = _packed(&kernel[0, 0], n_in, H, False, &kernel_block)
            if packed != NULL and packed_kernel != NULL:
                _pair_product(&h_out[0, 0], H, &x[0, 0], n_in, packed_kernel, n_in,
                              &h_prev[0, 0], H, packed, H, B, H)
            else:
                _product(&h_out[0, 0], H, &x[0, 0], n_in, &kernel[0, 0],
                         packed_kernel, B, n_in, H, False)
                _recurrent_product(&h_out[0, 0], H, &h_prev[0, 0], H,
                                   &recurrent_kernel[0, 0], packed, B, H, H)
        for j in range(B):
            if floating is float:
                skseq_rnn_forward_row_f(&h_out[j, 0], &bias[0], H, activation)
            else:
                skseq_rnn_forward_row_d(&h_out[j, 0], &bias[0], H, activation)
        free(block)
        free(kernel_block)
        skseq_restore_fp_mode(mode)


cdef void _forward_batch(
    Py_ssize_t B, Py_ssize_t chunk_size, int n_threads,
    const floating *inputs, const floating *kernel,
    const floating *recurrent_kernel, const floating *bias,
    const Py_ssize_t *lengths, floating *hidden, Py_ssize_t T1, Py_ssize_t n_in,
    Py_ssize_t H, bint all_steps, Py_ssize_t n_input_slots, int activation,
) noexcept nogil:
    """The forward pass of B >= 1 rows, chunk by chunk (arguments as for
    _forward_chunk, checked by the caller): weights packed once, then the
    chunks on n_threads threads."""
    cdef Py_ssize_t chunks = (B + chunk_size - 1) // chunk_size
    cdef Py_ssize_t chunk
    cdef skseq_fp_mode mode
    cdef void *block = NULL
    cdef void *kernel_block = NULL
    cdef const floating *packed = _packed(recurrent_kernel, H, H, False, &block)
    cdef const floating *packed_kernel = _packed(kernel, n_in, H, False, &kernel_block)
    if n_threads == 1 or chunks == 1:
        # No OpenMP region at all (see _lstm_layer: entering one costs a
        # wake-up even with one thread).
        for chunk in range(chunks):
            mode = skseq_flush_subnormals()
            _forward_chunk(
                chunk, chunk_size, B, inputs, kernel, packed_kernel, recurrent_kernel,
                packed, bias, lengths, hidden, T1, n_in, H, all_steps, n_input_slots,
                activation,
            )
            skseq_restore_fp_mode(mode)
    else:
        for chunk in prange(chunks, schedule="dynamic", num_threads=n_threads):
            mode = skseq_flush_subnormals()
            _forward_chunk(
                chunk, chunk_size, B, inputs, kernel, packed_kernel, recurrent_kernel,
                packed, bias, lengths, hidden, T1, n_in, H, all_steps, n_input_slots,
                activation,
            )
            skseq_restore_fp_mode(mode)
    free(block)
    free(kernel_block)


def rnn_forward(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const floating[::1] bias,
    const Py_ssize_t[::1] lengths,
    floating[:, :, ::1] hidden,
    int activation,
    Py_ssize_t chunk_size,
    int n_threads,
    bint zero_slot=True,
):
    """Run one simple RNN layer forward over a batch.

    Parameters
    ----------
    inputs : (B, T + 1, n_in) array, slot 0 zeros. IN
        With ``zero_slot=False``, (B, T, n_in): step t in slot t - 1, read in
        place (inference only: ``hidden`` must have two slots).
    kernel, recurrent_kernel, bias : (n_in, H), (H, H), (H,) arrays. IN
    lengths : (B,) intp array, 1 <= lengths <= T, non-increasing per chunk. IN
    hidden : (B, T + 1, H) array. OUT: h_t at slot t, zeros at slot 0 and past
        each sequence's end; all that the backward needs. Or (B, 2, H) for
        inference: two alternating slots; sequence j's last state h_L is left
        in slot ``L % 2`` (L = lengths[j]).
    activation : 0 for tanh, 1 for relu.
    chunk_size : rows per chunk (>= 1).
    n_threads : OpenMP threads (>= 1).
    zero_slot : whether ``inputs`` has the zero slot 0.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t n_input_slots = inputs.shape[1]
    cdef Py_ssize_t T1 = n_input_slots + (0 if zero_slot else 1)
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t n_hidden_slots = hidden.shape[1]
    _check_shape("kernel", kernel.shape, 2, n_in, H, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, H, 0)
    _check_shape("bias", bias.shape, 1, H, 0, 0)
    _check_slots("hidden", hidden.shape, B, T1, H, 2)
    _check_lengths(lengths, B, T1 - 1, chunk_size, n_threads)
    if not zero_slot and n_hidden_slots != 2:
        raise ValueError(
            "inputs without the zero slot are only read by the inference pass "
            f"(hidden with two slots); hidden has {n_hidden_slots} slots."
        )
    if B == 0 or H == 0:
        return
    with nogil:
        _forward_batch(
            B, chunk_size, n_threads, &inputs[0, 0, 0], &kernel[0, 0],
            &recurrent_kernel[0, 0], &bias[0], &lengths[0], &hidden[0, 0, 0], T1,
            n_in, H, zero_slot and n_hidden_slots == T1, n_input_slots, activation,
        )


def rnn_predict(
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

    The same operations as ``rnn_forward`` with two hidden slots and
    ``zero_slot=False``, ``gather_last`` and ``dense_forward``, so the same
    bits.

    Parameters
    ----------
    inputs : (B, T, n_in) array, T >= 1: step t in slot t - 1. IN
    kernel, recurrent_kernel, bias : (n_in, H), (H, H), (H,) arrays. IN
    head_weights, head_bias : (H, N), (N,) arrays. IN
    out : (B, N) array. OUT: h_T @ head_weights + head_bias per sequence.
    activation, chunk_size, n_threads : as for ``rnn_forward``.
    """
    cdef Py_ssize_t B = inputs.shape[0]
    cdef Py_ssize_t T = inputs.shape[1]
    cdef Py_ssize_t n_in = inputs.shape[2]
    cdef Py_ssize_t H = recurrent_kernel.shape[0]
    cdef Py_ssize_t N = head_weights.shape[1]
    cdef int status
    _check_shape("kernel", kernel.shape, 2, n_in, H, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, H, 0)
    _check_shape("bias", bias.shape, 1, H, 0, 0)
    _check_shape("head_weights", head_weights.shape, 2, H, N, 0)
    _check_shape("head_bias", head_bias.shape, 1, N, 0, 0)
    _check_shape("out", out.shape, 2, B, N, 0)
    if T < 1:
        raise ValueError("inputs must have at least one step.")
    if H < 1:
        raise ValueError("The layer needs hidden units.")
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
    """rnn_predict's work for checked arguments, B, T, N, H >= 1, with buffers
    of its own; -1 (nothing done) when memory is short."""
    cdef Py_ssize_t j, k
    cdef Py_ssize_t *lengths
    cdef floating *hidden
    cdef floating *last
    cdef void *block
    # The lengths, then two hidden slots per row and the last hidden states
    # for the head, starting on a cache line.
    cdef Py_ssize_t lead = (B * sizeof(Py_ssize_t) + 63) // 64 * 64
    cdef char *start = <char *> _aligned(lead + B * 3 * H * sizeof(floating), &block)
    if start == NULL:
        return -1
    lengths = <Py_ssize_t *> start
    hidden = <floating *> (start + lead)
    last = hidden + B * 2 * H
    for j in range(B):
        lengths[j] = T
    _forward_batch(
        B, chunk_size, n_threads, inputs, kernel, recurrent_kernel, bias, lengths,
        hidden, T + 1, n_in, H, False, T, activation,
    )
    # Step T's hidden state is in slot T % 2.
    for j in range(B):
        for k in range(H):
            last[j * H + k] = hidden[(2 * j + T % 2) * H + k]
    _dense(last, B, H, head_weights, head_bias, out, N)
    free(block)
    return 0


cdef class SmallBatchPredictor:
    """rnn_predict for a fixed one-layer, one-direction network, bound to its
    weights, for batches of one chunk (as ``_lstm_layer.SmallBatchPredictor``).

    The weight arrays are checked once, here, and read where they are at every
    call, so changes made to them in place are followed (the caller must check
    that they are still the arrays in use). :meth:`predict` takes the inputs as
    they come and declines anything but the plain case, which the caller then
    validates and runs the usual way.

    Parameters
    ----------
    kernel, recurrent_kernel, bias : (n_in, H), (H, H), (H,) float arrays.
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
        self._H = kernel.shape[1]
        self._N = head_weights.shape[1]
        self._kernel = _weight_data(
            "kernel", kernel, self._type_num, 2, self._n_in, self._H
        )
        self._recurrent_kernel = _weight_data(
            "recurrent_kernel", recurrent_kernel, self._type_num, 2, self._H, self._H
        )
        self._bias = _weight_data("bias", bias, self._type_num, 1, self._H, 0)
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
            if self._type_num == cnp.NPY_FLOAT:
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
    const floating *kernel,            # IN  (n_in, H)
    const floating *recurrent_kernel,  # IN  (H, H)
    const floating *packed_t,          # IN  recurrent_kernel.T packed, or NULL
    const Py_ssize_t *lengths,         # IN  (B,)
    const floating *hidden,            # IN  (B, T1, H) h_t
    const floating *dhidden,           # IN  (B, T1, H) dL/dh_t from outside
    floating *dgates,                  # OUT (B, T1, H) dL/dz_t
    floating *dinputs,                 # OUT (B, T1, n_in) or NULL
    floating *partials,                # OUT (chunks, n_in + H + 1, H): each
                                       #     chunk's sums
    floating *carries,                 # WORK (B, H): dL/dh_t through h_{t+1}
    Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H,
    int activation,
    bint last_steps_only,              # dhidden is zero but at each
                                       #     sequence's last step
) noexcept nogil:
    cdef Py_ssize_t start = chunk * chunk_size
    cdef Py_ssize_t m = min(chunk_size, B - start)
    cdef floating *dh_carry = carries + start * H
    cdef const floating *dh_in
    cdef Py_ssize_t j, t, n_active, row
    cdef Py_ssize_t last_step

    inputs += start * T1 * n_in
    lengths += start
    hidden += start * T1 * H
    dhidden += start * T1 * H
    dgates += start * T1 * H
    if dinputs != NULL:
        dinputs += start * T1 * n_in
    last_step = lengths[0]

    memset(dh_carry, 0, m * H * sizeof(floating))
    # Slot 0 and the slots past each sequence's end hold zero gradients (the
    # whole-chunk products read slot 0; callers may read all of dgates).
    for j in range(m):
        memset(dgates + j * T1 * H, 0, H * sizeof(floating))
        if lengths[j] + 1 < T1:
            memset(dgates + (j * T1 + lengths[j] + 1) * H, 0,
                   (T1 - 1 - lengths[j]) * H * sizeof(floating))

    n_active = 0
    for t in range(last_step, 0, -1):
        while n_active < m and lengths[n_active] >= t:
            n_active += 1
        for j in range(n_active):
            row = (j * T1 + t) * H
            # Where dhidden is known to be zero, the zeros of slot 0 are read
            # instead: the same values, without streaming the whole array.
            dh_in = dhidden + row
            if last_steps_only and t != lengths[j]:
                dh_in = dgates
            if floating is float:
                skseq_rnn_backward_row_f(hidden + row, dh_in, dh_carry + j * H,
                                         dgates + row, H, activation)
            else:
                skseq_rnn_backward_row_d(hidden + row, dh_in, dh_carry + j * H,
                                         dgates + row, H, activation)
        # dL/dh_{t-1} through the recurrence, for the rows still running; none
        # at t = 1, where h_0 is the zero initial state, not a parameter. The
        # rows the next step reads and writes are fetched first, to arrive
        # while the product runs (from the last-level cache, where the
        # elementwise pass would otherwise wait on each).
        if t > 1:
            skseq_prefetch_rows(hidden + (t - 1) * H, T1 * H * sizeof(floating),
                                n_active, H * sizeof(floating), 0)
            skseq_prefetch_rows(dgates + (t - 1) * H, T1 * H * sizeof(floating),
                                n_active, H * sizeof(floating), 1)
            _recurrent_gradient(dh_carry, dgates + t * H, T1 * H, recurrent_kernel,
                                packed_t, n_active, H, H)

    _backward_products(partials + chunk * (n_in + H + 1) * H, dinputs, inputs, kernel,
                       hidden, dgates, lengths, m, T1, n_in, H, H)


def rnn_backward(
    const floating[:, :, ::1] inputs,
    const floating[:, ::1] kernel,
    const floating[:, ::1] recurrent_kernel,
    const Py_ssize_t[::1] lengths,
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
    bint last_steps_only=False,
):
    """Back-propagate through time for one simple RNN layer over a batch.

    Parameters
    ----------
    inputs, kernel, recurrent_kernel, lengths : as given to the forward. IN
    hidden : the forward's output (a slot per step). IN
    dhidden : (B, T + 1, H) array, dL/dh_t at slot t from outside (the layer
        above at every step, or the head at each sequence's last step). IN
    dgates : (B, T + 1, H) array. OUT: dL/dz_t, z_t the pre-activation.
    dinputs : (B, T + 1, n_in) array or None. OUT: dL/dx_t.
    grad_kernel, grad_recurrent_kernel, grad_bias : OUT, overwritten with the
        gradients summed over the batch.
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
    cdef Py_ssize_t chunks = (B + chunk_size - 1) // chunk_size if chunk_size > 0 else 0
    cdef Py_ssize_t partial_size = (n_in + H + 1) * H
    cdef Py_ssize_t chunk, e
    cdef skseq_fp_mode mode
    cdef floating *partials
    cdef floating *carries
    cdef floating *dinputs_ptr = NULL
    cdef void *block = NULL
    cdef const floating *packed_t = NULL

    _check_shape("kernel", kernel.shape, 2, n_in, H, 0)
    _check_shape("recurrent_kernel", recurrent_kernel.shape, 2, H, H, 0)
    _check_shape("hidden", hidden.shape, 3, B, T1, H)
    _check_shape("dhidden", dhidden.shape, 3, B, T1, H)
    _check_shape("dgates", dgates.shape, 3, B, T1, H)
    if dinputs is not None:
        _check_shape("dinputs", dinputs.shape, 3, B, T1, n_in)
    _check_shape("grad_kernel", grad_kernel.shape, 2, n_in, H, 0)
    _check_shape("grad_recurrent_kernel", grad_recurrent_kernel.shape, 2, H, H, 0)
    _check_shape("grad_bias", grad_bias.shape, 1, H, 0, 0)
    _check_lengths(lengths, B, T1 - 1, chunk_size, n_threads)
    if work.shape[0] < chunks * partial_size + B * H:
        raise ValueError(f"work has {work.shape[0]} elements, fewer than needed.")
    if B == 0 or H == 0:
        return
    partials = &work[0]
    carries = &work[0] + chunks * partial_size
    if dinputs is not None:
        dinputs_ptr = &dinputs[0, 0, 0]
    with nogil:
        packed_t = _packed(&recurrent_kernel[0, 0], H, H, True, &block)
    if n_threads == 1 or chunks == 1:
        # No OpenMP region (see rnn_forward): the chunks one after the other,
        # then the sum of their partials in chunk order, as below.
        with nogil:
            for chunk in range(chunks):
                mode = skseq_flush_subnormals()
                _backward_chunk(
                    chunk, chunk_size, B, &inputs[0, 0, 0], &kernel[0, 0],
                    &recurrent_kernel[0, 0], packed_t, &lengths[0], &hidden[0, 0, 0],
                    &dhidden[0, 0, 0], &dgates[0, 0, 0], dinputs_ptr, partials,
                    carries, T1, n_in, H, activation, last_steps_only,
                )
                skseq_restore_fp_mode(mode)
            for e in range(_sum_blocks(partial_size)):
                _sum_partials(e, partials, chunks, partial_size, n_in * H, H * H,
                              &grad_kernel[0, 0], &grad_recurrent_kernel[0, 0],
                              &grad_bias[0])
    else:
        # One parallel region: the chunks' time loops, then (after the
        # implicit barrier) the sum of their partials in chunk order, each
        # output element owned by one thread.
        with nogil, parallel(num_threads=n_threads):
            for chunk in prange(chunks, schedule="dynamic"):
                mode = skseq_flush_subnormals()
                _backward_chunk(
                    chunk, chunk_size, B, &inputs[0, 0, 0], &kernel[0, 0],
                    &recurrent_kernel[0, 0], packed_t, &lengths[0], &hidden[0, 0, 0],
                    &dhidden[0, 0, 0], &dgates[0, 0, 0], dinputs_ptr, partials,
                    carries, T1, n_in, H, activation, last_steps_only,
                )
                skseq_restore_fp_mode(mode)
            for e in prange(_sum_blocks(partial_size), schedule="static"):
                _sum_partials(e, partials, chunks, partial_size, n_in * H, H * H,
                              &grad_kernel[0, 0], &grad_recurrent_kernel[0, 0],
                              &grad_bias[0])
    free(block)
