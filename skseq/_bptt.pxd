# The half of back-propagation through time that does not depend on the cell,
# shared by the recurrent layers (_lstm_layer.pyx, _rnn_layer.pyx): once a
# chunk's time loop has formed its pre-activation gradients dz (G per step),
# the weight gradients and dL/dx are whole-chunk products, and the chunks'
# partial sums are added in chunk order. Layout as in those modules: padded
# time, (rows, T1, width) per array, slot 0 zeros, dz zeros in slot 0 and past
# each sequence's end.

from cython cimport floating
from libc.stdlib cimport free
from libc.string cimport memset

from ._blas cimport gemm
from ._kernels cimport _tn_work, _weight_gradients


cdef inline void _backward_products(
    floating *partial,                 # OUT (n_in + H + 1, G): this chunk's
                                       #     kernel, recurrent kernel and bias
                                       #     gradients
    floating *dinputs,                 # OUT (m, T1, n_in) dL/dx_t, or NULL
    const floating *inputs,            # IN  (m, T1, n_in)
    const floating *kernel,            # IN  (n_in, G)
    const floating *hidden,            # IN  (m, T1, H)
    const floating *dgates,            # IN  (m, T1, G) dL/dz_t
    const Py_ssize_t *lengths,         # IN  (m,), non-increasing
    Py_ssize_t m, Py_ssize_t T1, Py_ssize_t n_in, Py_ssize_t H, Py_ssize_t G,
) noexcept nogil:
    cdef Py_ssize_t j, length, first
    cdef void *block = NULL
    cdef floating *work = _tn_work(dgates, G, &block)
    if lengths[m - 1] == T1 - 1:
        # Whole-chunk products. Rows are (sequence, slot) pairs; the shift by
        # one row pairs x_t and h_{t-1} with dz_t, and meets zero slots at
        # sequence boundaries (whose dz are zeros: the first row's term, left
        # out, is zero too).
        memset(partial + (n_in + H) * G, 0, G * sizeof(floating))
        _weight_gradients(partial, inputs + n_in, hidden, dgates + G, m * T1 - 1,
                          n_in, H, G, False, work)
        if dinputs != NULL:
            gemm(False, True, <int> (m * T1), <int> n_in, <int> G, <floating> 1.0,
                 dgates, <int> G, kernel, <int> G, <floating> 0.0, dinputs, <int> n_in)
        free(block)
        return

    # Some sequences end early: the same products, sequence by sequence over
    # their own steps only (accumulated in row order), so padding costs nothing.
    memset(partial, 0, (n_in + H + 1) * G * sizeof(floating))
    for j in range(m):
        length = lengths[j]
        first = j * T1 + 1  # row of step 1
        _weight_gradients(partial, inputs + first * n_in, hidden + (first - 1) * H,
                          dgates + first * G, length, n_in, H, G, True, work)
        if dinputs != NULL:
            memset(dinputs + j * T1 * n_in, 0, n_in * sizeof(floating))
            gemm(False, True, <int> length, <int> n_in, <int> G, <floating> 1.0,
                 dgates + first * G, <int> G, kernel, <int> G, <floating> 0.0,
                 dinputs + first * n_in, <int> n_in)
            if length + 1 < T1:
                memset(dinputs + (first + length) * n_in, 0,
                       (T1 - 1 - length) * n_in * sizeof(floating))
    free(block)


# Elements of the weight gradients per task of the sum of the chunks' partials.
cdef enum:
    SUM_BLOCK = 2048


cdef inline Py_ssize_t _sum_blocks(Py_ssize_t partial_size) noexcept nogil:
    """Tasks of :func:`_sum_partials` for partials of ``partial_size``."""
    return (partial_size + SUM_BLOCK - 1) // SUM_BLOCK


cdef inline void _sum_range(
    const floating *partials, Py_ssize_t chunks, Py_ssize_t partial_size,
    Py_ssize_t start, Py_ssize_t stop, floating *out,
) noexcept nogil:
    """out[e - start] = element e of the chunks' partials summed in chunk
    order, for e in [start, stop): zero, plus chunk 0's, plus chunk 1's...,
    chunk after chunk over the whole range (vector loops), which for each
    element are the additions of a sum taken one element at a time."""
    cdef Py_ssize_t e, index
    cdef const floating *partial
    for e in range(stop - start):
        out[e] = 0
    for index in range(chunks):
        partial = partials + index * partial_size + start
        for e in range(stop - start):
            out[e] = out[e] + partial[e]


cdef inline void _sum_partials(
    Py_ssize_t block, const floating *partials, Py_ssize_t chunks,
    Py_ssize_t partial_size, Py_ssize_t n_kernel, Py_ssize_t n_recurrent,
    floating *grad_kernel, floating *grad_recurrent_kernel, floating *grad_bias,
) noexcept nogil:
    """Block ``block`` (of SUM_BLOCK elements) of the weight gradients: each
    chunk's partial holds the kernel's n_kernel values, the recurrent
    kernel's n_recurrent, then the bias's (to partial_size); each element is
    the sum of the chunks' values in chunk order. The blocks cover every
    element once, so threads may take them in any order."""
    cdef Py_ssize_t start = block * SUM_BLOCK
    cdef Py_ssize_t stop = min(start + SUM_BLOCK, partial_size)
    cdef Py_ssize_t bias_start = n_kernel + n_recurrent
    if start < n_kernel:
        _sum_range(partials, chunks, partial_size, start, min(stop, n_kernel),
                   grad_kernel + start)
    if start < bias_start and stop > n_kernel:
        _sum_range(partials, chunks, partial_size, max(start, n_kernel),
                   min(stop, bias_start),
                   grad_recurrent_kernel + max(start, n_kernel) - n_kernel)
    if stop > bias_start:
        _sum_range(partials, chunks, partial_size, max(start, bias_start), stop,
                   grad_bias + max(start, bias_start) - bias_start)
