# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""The numerics around the recurrent layers, whatever their cell.

- The dense head: ``dense_forward`` and ``dense_backward``.
- The regressor's loss, ``squared_error``; the L2 penalty, ``penalise``; the
  sum of squares of a gradient, ``sum_of_squares``.
- The finiteness check, ``all_finite``.
- A regressor's outputs from its scaled ones, ``scale_columns``.
- The optimizer steps, ``adam_update`` and ``sgd_update``, which refuse a step
  that would make any weight or moment non-finite.

Each function runs on the calling thread, in one fixed order of operations,
so its results depend on neither the number of threads nor BLAS's choices
where the packed kernels of ``src/gemm.inc`` run (their level is shared by
every module; ``_lstm_layer._set_packed_gemm_level`` sets it). Arrays are
C-contiguous and checked for shape before any pointer is taken; the Python
layers validate user input.
"""

cimport numpy as cnp
from cython cimport floating
from libc.math cimport isfinite
from libc.stdlib cimport free

from ._checks cimport _check_shape
from ._kernels cimport (
    _all_finite,
    _dense,
    _packed,
    _recurrent_gradient,
    _tn_work,
    _transposed_product,
    skseq_adam_d,
    skseq_adam_f,
    skseq_flush_subnormals,
    skseq_fp_mode,
    skseq_gemm_init,
    skseq_gemm_level,
    skseq_gemm_set_level,
    skseq_restore_fp_mode,
    skseq_sgd_d,
    skseq_sgd_f,
)

skseq_gemm_init()
cnp.import_array()


def packed_gemm_level():
    """The vector level of this module's packed products (the dense head's):
    always that of ``_lstm_layer.packed_gemm_level``."""
    return skseq_gemm_level()


def _set_packed_gemm_level(int level):
    """The same as ``_lstm_layer._set_packed_gemm_level``: the level is shared
    by every module."""
    return skseq_gemm_set_level(level)


# --------------------------------------------------------------------------
# The dense head and sums of squares, without BLAS where the packed kernels
# run: a training step of a one-layer network then calls no BLAS at all, so
# its results cannot depend on BLAS threads and it needs no BLAS limit.

def dense_forward(const floating[:, ::1] inputs, const floating[:, ::1] weights,
                  const floating[::1] bias, floating[:, ::1] out):
    """out = inputs @ weights + bias on the calling thread. The packed kernels
    do the product where the CPU has them, else one BLAS call does.

    inputs (M, K), weights (K, N), bias (N,), out (M, N): C-contiguous.
    """
    cdef Py_ssize_t M = inputs.shape[0]
    cdef Py_ssize_t K = inputs.shape[1]
    cdef Py_ssize_t N = weights.shape[1]
    _check_shape("weights", weights.shape, 2, K, N, 0)
    _check_shape("bias", bias.shape, 1, N, 0, 0)
    _check_shape("out", out.shape, 2, M, N, 0)
    if M == 0 or N == 0:
        return
    with nogil:
        _dense(&inputs[0, 0], M, K, &weights[0, 0], &bias[0], &out[0, 0], N)


def dense_backward(const floating[:, ::1] inputs, const floating[:, ::1] weights,
                   const floating[:, ::1] d_out, floating[:, ::1] grad_weights,
                   floating[:, ::1] d_inputs):
    """grad_weights = inputs.T @ d_out and d_inputs = d_out @ weights.T, on the
    calling thread, as dense_forward (packed kernels, else BLAS).

    inputs (M, K), weights (K, N), d_out (M, N), grad_weights (K, N),
    d_inputs (M, K): C-contiguous.
    """
    cdef Py_ssize_t M = inputs.shape[0]
    cdef Py_ssize_t K = inputs.shape[1]
    cdef Py_ssize_t N = weights.shape[1]
    cdef void *block = NULL
    cdef floating *work = NULL
    cdef const floating *packed_t = NULL
    _check_shape("weights", weights.shape, 2, K, N, 0)
    _check_shape("d_out", d_out.shape, 2, M, N, 0)
    _check_shape("grad_weights", grad_weights.shape, 2, K, N, 0)
    _check_shape("d_inputs", d_inputs.shape, 2, M, K, 0)
    if K == 0 or N == 0:
        return
    if M == 0:
        grad_weights[:, :] = 0
        return
    with nogil:
        work = _tn_work(&d_out[0, 0], N, &block)
        _transposed_product(&grad_weights[0, 0], &inputs[0, 0], K, &d_out[0, 0],
                            K, M, N, False, work)
        free(block)
        packed_t = _packed(&weights[0, 0], K, N, True, &block)
        _recurrent_gradient(&d_inputs[0, 0], &d_out[0, 0], N, &weights[0, 0],
                            packed_t, M, K, N)
        free(block)


cdef double _sum_of_squares(const floating *values, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, j, body = n - n % 8
    cdef double sums[8]
    cdef double value, total = 0.0
    for j in range(8):
        sums[j] = 0.0
    for i in range(0, body, 8):
        for j in range(8):
            value = values[i + j]
            sums[j] += value * value
    for i in range(body, n):
        value = values[i]
        sums[i - body] += value * value
    for j in range(8):
        total += sums[j]
    return total


def sum_of_squares(const floating[::1] values):
    """The sum of squares as a float64, in one fixed order (eight running sums,
    then added in order), whatever the threads: a BLAS dot product may split
    the sum differently for each BLAS thread count."""
    cdef double total = 0.0
    if values.shape[0] > 0:
        with nogil:
            total = _sum_of_squares(&values[0], values.shape[0])
    return total


def squared_error(const floating[:, ::1] predicted, const floating[:, ::1] target,
                  const floating[::1] sample_weight, floating[:, ::1] delta):
    """The regressor's loss and its gradient, in one pass.

    Loss: half the squared error averaged over the outputs, then the mean over
    the rows weighted by ``sample_weight`` (None: all ones). Gradient with
    respect to ``predicted``, into ``delta``: (predicted - target) * w_i /
    (n_outputs * sum(w)). Sums are float64, in row order.

    Returns ``(loss, sum(w))``; when sum(w) is 0, ``delta`` is not written and
    the loss is 0.
    """
    cdef Py_ssize_t M = predicted.shape[0]
    cdef Py_ssize_t N = predicted.shape[1]
    cdef Py_ssize_t i, j
    cdef bint weighted = sample_weight is not None
    cdef double total = 0.0, loss = 0.0, row, residual, scale, w
    _check_shape("target", target.shape, 2, M, N, 0)
    _check_shape("delta", delta.shape, 2, M, N, 0)
    if weighted:
        _check_shape("sample_weight", sample_weight.shape, 1, M, 0, 0)
    if M == 0 or N == 0:
        return 0.0, 0.0
    with nogil:
        for i in range(M):
            total += sample_weight[i] if weighted else 1.0
        if total > 0:
            for i in range(M):
                w = sample_weight[i] if weighted else 1.0
                scale = w / (N * total)
                row = 0.0
                for j in range(N):
                    residual = <double> predicted[i, j] - target[i, j]
                    row += residual * residual
                    delta[i, j] = <floating> (residual * scale)
                loss += w * row
            loss = 0.5 * loss / (N * total)
    return loss, total


def penalise(floating[::1] grad, const floating[::1] weights, double coef):
    """grad += coef * weights; returns the sum of squares of ``weights``, in
    the order of :func:`sum_of_squares`. An L2 penalty's gradient and (half
    over coef) value in one pass."""
    cdef Py_ssize_t n = weights.shape[0]
    cdef Py_ssize_t i
    cdef floating c = <floating> coef
    cdef double total = 0.0
    _check_shape("grad", grad.shape, 1, n, 0, 0)
    if n > 0:
        with nogil:
            for i in range(n):
                grad[i] = grad[i] + c * weights[i]
            total = _sum_of_squares(&weights[0], n)
    return total


def all_finite(const floating[::1] values):
    """Whether no value is NaN or infinite."""
    cdef bint finite = True
    if values.shape[0] > 0:
        with nogil:
            finite = _all_finite(&values[0], values.shape[0])
    return finite


def scale_columns(values, scale, shift):
    """``values * scale + shift``, a new array: column j of the 2-D
    ``values`` times ``scale[j]``, plus ``shift[j]``, each element rounded
    after the product and after the sum; None if any element of the result
    is not finite (overflowed).

    values (M, N), scale and shift (N,): C-contiguous NumPy arrays of one
    dtype, float32 or float64. It reads them through the NumPy C API, not
    typed memoryviews, whose set-up would cost more than the arithmetic on
    the few rows of a one-sequence prediction or a streaming step.
    """
    cdef cnp.ndarray out
    cdef int type_num
    cdef bint finite
    cdef Py_ssize_t M, N
    for name, array in (("values", values), ("scale", scale), ("shift", shift)):
        if not cnp.PyArray_Check(array):
            raise TypeError(f"{name} must be a NumPy array; got {type(array).__name__}.")
        if not cnp.PyArray_IS_C_CONTIGUOUS(array):
            raise ValueError(f"{name} must be C-contiguous.")
    type_num = cnp.PyArray_TYPE(values)
    if type_num not in (cnp.NPY_FLOAT, cnp.NPY_DOUBLE) or not (
        cnp.PyArray_TYPE(scale) == cnp.PyArray_TYPE(shift) == type_num
    ):
        raise ValueError(
            "values, scale and shift must be float32 or float64, all of one dtype; "
            f"got {values.dtype}, {scale.dtype} and {shift.dtype}."
        )
    if (
        cnp.PyArray_NDIM(values) != 2
        or cnp.PyArray_NDIM(scale) != 1
        or cnp.PyArray_NDIM(shift) != 1
        or cnp.PyArray_DIM(scale, 0) != cnp.PyArray_DIM(values, 1)
        or cnp.PyArray_DIM(shift, 0) != cnp.PyArray_DIM(values, 1)
    ):
        raise ValueError(
            f"values (M, N) needs scale and shift of shape (N,); got {values.shape}, "
            f"{scale.shape} and {shift.shape}."
        )
    M = cnp.PyArray_DIM(values, 0)
    N = cnp.PyArray_DIM(values, 1)
    out = cnp.PyArray_EMPTY(2, cnp.PyArray_DIMS(values), type_num, 0)
    # The few rows it is for take less than releasing the GIL would.
    if type_num == cnp.NPY_FLOAT:
        finite = _scale_columns(<const float *> cnp.PyArray_DATA(values),
                                <const float *> cnp.PyArray_DATA(scale),
                                <const float *> cnp.PyArray_DATA(shift),
                                <float *> cnp.PyArray_DATA(out), M, N)
    else:
        finite = _scale_columns(<const double *> cnp.PyArray_DATA(values),
                                <const double *> cnp.PyArray_DATA(scale),
                                <const double *> cnp.PyArray_DATA(shift),
                                <double *> cnp.PyArray_DATA(out), M, N)
    return out if finite else None


cdef bint _scale_columns(const floating *values, const floating *scale,
                         const floating *shift, floating *out, Py_ssize_t M,
                         Py_ssize_t N) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating product
    cdef bint finite = True
    for i in range(M):
        for j in range(N):
            product = values[i * N + j] * scale[j]
            out[i * N + j] = product + shift[j]
            finite = finite and isfinite(out[i * N + j])
    return finite


def adam_update(floating[::1] weights, const floating[::1] grad,
                floating[::1] first_moment, floating[::1] second_moment,
                double step, double beta_1, double beta_2, double epsilon):
    """One Adam step in place:

    m <- beta_1 m + (1 - beta_1) g;  v <- beta_2 v + (1 - beta_2) g^2;
    w <- w - step * m / (sqrt(v) + epsilon)

    (``step`` is the bias-corrected learning rate). Each element on its own,
    so the result does not depend on threads.

    Returns True; or False, writing nothing, when any new value of ``weights``,
    ``first_moment`` or ``second_moment`` would be NaN or infinite.
    """
    cdef Py_ssize_t n = weights.shape[0]
    cdef int finite = 1
    cdef skseq_fp_mode mode
    if not (grad.shape[0] == first_moment.shape[0] == second_moment.shape[0] == n):
        raise ValueError(
            f"adam_update needs arrays of one length; got {n}, {grad.shape[0]}, "
            f"{first_moment.shape[0]} and {second_moment.shape[0]}."
        )
    if n == 0:
        return True
    with nogil:
        mode = skseq_flush_subnormals()
        if floating is float:
            finite = skseq_adam_f(&weights[0], &grad[0], &first_moment[0],
                                  &second_moment[0], n, <float> step, <float> beta_1,
                                  <float> beta_2, <float> epsilon)
        else:
            finite = skseq_adam_d(&weights[0], &grad[0], &first_moment[0],
                                  &second_moment[0], n, step, beta_1, beta_2, epsilon)
        skseq_restore_fp_mode(mode)
    return finite != 0


def sgd_update(floating[::1] weights, const floating[::1] grad,
               floating[::1] velocity, double learning_rate, double momentum,
               bint nesterov):
    """One SGD step with momentum in place:

    u <- momentum u - learning_rate g;  w <- w + u
    (Nesterov: w <- w + momentum u - learning_rate g, with the new u).

    Each element on its own, so the result does not depend on threads.
    Returns True; or False, writing nothing, when any new value of ``weights``
    or ``velocity`` would be NaN or infinite.
    """
    cdef Py_ssize_t n = weights.shape[0]
    cdef int finite = 1
    cdef skseq_fp_mode mode
    if not (grad.shape[0] == velocity.shape[0] == n):
        raise ValueError(
            f"sgd_update needs arrays of one length; got {n}, {grad.shape[0]} "
            f"and {velocity.shape[0]}."
        )
    if n == 0:
        return True
    with nogil:
        mode = skseq_flush_subnormals()
        if floating is float:
            finite = skseq_sgd_f(&weights[0], &grad[0], &velocity[0], n,
                                 <float> learning_rate, <float> momentum, nesterov)
        else:
            finite = skseq_sgd_d(&weights[0], &grad[0], &velocity[0], n,
                                 learning_rate, momentum, nesterov)
        skseq_restore_fp_mode(mode)
    return finite != 0
