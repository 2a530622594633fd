# Argument checks shared by the compiled modules: O(B), before any pointer is
# taken. The Python layers validate user input; these only stop a wrong call
# from writing out of bounds. Python objects are made only for the message:
# the checks run on every batch.

cdef inline int _check_shape(str name, const Py_ssize_t *actual, int ndim,
                             Py_ssize_t e0, Py_ssize_t e1, Py_ssize_t e2) except -1:
    """Raise unless the first ``ndim`` of ``actual`` are (e0, e1, e2)[:ndim]
    (Python objects are only made for the message: the checks run on every
    batch)."""
    cdef Py_ssize_t expected[3]
    cdef int d
    expected[0] = e0
    expected[1] = e1
    expected[2] = e2
    for d in range(ndim):
        if actual[d] != expected[d]:
            raise ValueError(
                f"{name} has shape {tuple([actual[k] for k in range(ndim)])}, "
                f"expected {tuple([expected[k] for k in range(ndim)])}."
            )
    return 0


cdef inline int _check_slots(str name, const Py_ssize_t *shape, Py_ssize_t B,
                             Py_ssize_t T1, Py_ssize_t W,
                             Py_ssize_t reduced_slots) except -1:
    """A (B, T1, W) array, or (B, reduced_slots, W)."""
    if shape[1] == reduced_slots and shape[1] != T1:
        return _check_shape(name, shape, 3, B, reduced_slots, W)
    return _check_shape(name, shape, 3, B, T1, W)


cdef inline int _check_lengths(const Py_ssize_t[::1] lengths, Py_ssize_t n_rows,
                               Py_ssize_t n_steps, Py_ssize_t chunk_size,
                               int n_threads) except -1:
    cdef Py_ssize_t j
    if chunk_size < 1 or n_threads < 1:
        raise ValueError("chunk_size and n_threads must be >= 1.")
    if lengths.shape[0] != n_rows:
        raise ValueError(f"lengths has {lengths.shape[0]} entries for {n_rows} rows.")
    for j in range(n_rows):
        if lengths[j] < 1 or lengths[j] > n_steps:
            raise ValueError(f"lengths[{j}] = {lengths[j]} is outside [1, {n_steps}].")
        if j % chunk_size != 0 and lengths[j] > lengths[j - 1]:
            raise ValueError("lengths must not increase inside a chunk.")
    return 0
