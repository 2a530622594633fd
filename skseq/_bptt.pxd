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


cdef inline void _sum_partials(
    Py_ssize_t e, const floating *partials, Py_ssize_t chunks,
    Py_ssize_t n_in, Py_ssize_t H, Py_ssize_t G, floating *grad_kernel,
    floating *grad_recurrent_kernel, floating *grad_bias,
) noexcept nogil:
    """Element e of the gradients (kernel, recurrent kernel, bias, one after
    the other): the chunks' partials, each (n_in + H + 1) * G long, summed in
    chunk order."""
    cdef Py_ssize_t partial_size = (n_in + H + 1) * G
    cdef Py_ssize_t index
    cdef floating total = 0
    for index in range(chunks):
        total = total + partials[index * partial_size + e]
    if e < n_in * G:
        grad_kernel[e] = total
    elif e < (n_in + H) * G:
        grad_recurrent_kernel[e - n_in * G] = total
    else:
        grad_bias[e - (n_in + H) * G] = total
