# NumPy C-API checks of the small-batch predictors of the recurrent layers
# (_lstm_layer.pyx, _rnn_layer.pyx): their weights are checked once through
# these, and their inputs taken without a typed memoryview, so that a single
# sequence's prediction costs little beyond its arithmetic.

cimport numpy as cnp

from ._checks cimport _check_shape
from ._kernels cimport _all_finite


cdef inline const void *_weight_data(str name, object array, int type_num, int ndim,
                                     Py_ssize_t e0, Py_ssize_t e1) except NULL:
    """The data of a C-contiguous, aligned, native-order ndarray of the given
    type and shape; raises otherwise."""
    if not cnp.PyArray_Check(array):
        raise TypeError(f"{name} must be a NumPy array; got {type(array).__name__}.")
    if (cnp.PyArray_TYPE(array) != type_num or not cnp.PyArray_ISCARRAY_RO(array)
            or not cnp.PyArray_ISNOTSWAPPED(array)):
        raise ValueError(
            f"{name} must be a C-contiguous, aligned, native-order array of the "
            f"kernel's dtype; got {array.dtype} with flags {array.flags}."
        )
    if cnp.PyArray_NDIM(array) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got {array.ndim}.")
    _check_shape(name, <Py_ssize_t *> cnp.PyArray_DIMS(array), ndim, e0, e1, 0)
    return cnp.PyArray_DATA(array)


cdef inline const void *_plain_batch(object X, int type_num, Py_ssize_t max_rows,
                                     Py_ssize_t n_in, Py_ssize_t *B,
                                     Py_ssize_t *T) noexcept:
    """The data of ``X`` when it is an ndarray (B, T, n_in) of the given type,
    C-contiguous, aligned, native-order, with 1 <= B <= max_rows, T >= 1 and
    only finite values (B and T then set); NULL otherwise, raising nothing."""
    cdef cnp.ndarray x
    cdef cnp.npy_intp *dims
    cdef const void *data
    if type(X) is not cnp.ndarray:
        return NULL
    x = <cnp.ndarray> X
    if (cnp.PyArray_NDIM(x) != 3 or cnp.PyArray_TYPE(x) != type_num
            or not cnp.PyArray_ISCARRAY_RO(x) or not cnp.PyArray_ISNOTSWAPPED(x)):
        return NULL
    dims = cnp.PyArray_DIMS(x)
    if dims[0] < 1 or dims[0] > max_rows or dims[1] < 1 or dims[2] != n_in:
        return NULL
    data = cnp.PyArray_DATA(x)
    if not (_all_finite(<const float *> data, dims[0] * dims[1] * n_in)
            if type_num == cnp.NPY_FLOAT
            else _all_finite(<const double *> data, dims[0] * dims[1] * n_in)):
        return NULL
    B[0] = dims[0]
    T[0] = dims[1]
    return data
