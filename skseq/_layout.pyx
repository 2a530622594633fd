# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, nonecheck=False
"""Moves within the padded-time layout that do not depend on the cell.

Arrays are (B, S, W) with slot t in 1..T holding step t of each sequence and
slot 0 the initial state, as in the recurrent layers (``_lstm_layer``);
``lengths[j]`` is sequence j's number of steps. A bidirectional layer runs its
backward direction on the time-reversed sequences (``reverse_time``); a
network reads each sequence's last state for its head (``gather_last``) and
hands the head's gradient back to that slot (``scatter_last``); a batch is
copied into the layout by ``gather_rows`` (from a padded array) or
``gather_packed`` (from sequences stored end to end).
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from ._checks cimport _check_shape


def reverse_time(
    const floating[:, :, :] source,
    const Py_ssize_t[::1] lengths,
    floating[:, :, :] target,
    bint accumulate,
):
    """Reverse every sequence within its own length.

    target[j, t] = source[j, lengths[j] + 1 - t] for t in 1..lengths[j]
    (slot layout as everywhere in this module). With ``accumulate`` the
    values are added to ``target`` and nothing else is touched; otherwise slot
    0 and the slots past each length are set to zero. Arrays may be strided
    (e.g. one half of a concatenated feature axis).
    """
    cdef Py_ssize_t B = source.shape[0]
    cdef Py_ssize_t T1 = source.shape[1]
    cdef Py_ssize_t width = source.shape[2]
    cdef Py_ssize_t j, t, k, length
    _check_shape("target", target.shape, 3, B, T1, width)
    if lengths.shape[0] != B:
        raise ValueError(f"lengths has {lengths.shape[0]} entries for {B} rows.")
    for j in range(B):
        if lengths[j] < 0 or lengths[j] > T1 - 1:
            raise ValueError(f"lengths[{j}] = {lengths[j]} is outside [0, {T1 - 1}].")
    with nogil:
        for j in range(B):
            length = lengths[j]
            if accumulate:
                for t in range(1, length + 1):
                    for k in range(width):
                        target[j, t, k] += source[j, length + 1 - t, k]
            else:
                for k in range(width):
                    target[j, 0, k] = 0
                for t in range(1, length + 1):
                    for k in range(width):
                        target[j, t, k] = source[j, length + 1 - t, k]
                for t in range(length + 1, T1):
                    for k in range(width):
                        target[j, t, k] = 0


def gather_rows(
    const floating[:, :, :] source,
    const Py_ssize_t[::1] rows,
    floating[:, :, ::1] target,
    int n_threads=1,
):
    """A batch into the slot layout: target[i, 0] = 0 and target[i, t + 1] =
    source[rows[i], t] for t < S - 1, every row i of target (B, S, W).
    ``source`` (N, >= S - 1, W) may be strided; each row is one copy when its
    first S - 1 steps are contiguous. The rows are shared by ``n_threads``
    threads (a copy: the result does not depend on them)."""
    cdef Py_ssize_t B = target.shape[0]
    cdef Py_ssize_t S = target.shape[1]
    cdef Py_ssize_t W = target.shape[2]
    cdef Py_ssize_t i, t, k, r
    cdef bint contiguous = (
        source.strides[2] == <Py_ssize_t> sizeof(floating)
        and source.strides[1] == W * <Py_ssize_t> sizeof(floating)
    )
    if S < 1 or source.shape[1] < S - 1 or source.shape[2] != W:
        raise ValueError(
            f"source of shape ({source.shape[0]}, {source.shape[1]}, "
            f"{source.shape[2]}) cannot fill target of shape ({B}, {S}, {W})."
        )
    if rows.shape[0] != B:
        raise ValueError(f"rows has {rows.shape[0]} entries for {B} rows.")
    for i in range(B):
        if rows[i] < 0 or rows[i] >= source.shape[0]:
            raise ValueError(f"rows[{i}] = {rows[i]} is outside the source's rows.")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}.")
    if B == 0 or W == 0:
        return
    if contiguous and S > 1:
        if n_threads > 1:
            for i in prange(B, nogil=True, schedule="static", num_threads=n_threads):
                _slot_row(&target[i, 0, 0], &source[rows[i], 0, 0], S, W)
        else:
            with nogil:
                for i in range(B):
                    _slot_row(&target[i, 0, 0], &source[rows[i], 0, 0], S, W)
        return
    with nogil:
        for i in range(B):
            r = rows[i]
            memset(&target[i, 0, 0], 0, W * sizeof(floating))
            for t in range(S - 1):
                for k in range(W):
                    target[i, t + 1, k] = source[r, t, k]


def gather_packed(
    const floating[:, ::1] values,
    const Py_ssize_t[::1] starts,
    const Py_ssize_t[::1] lengths,
    const Py_ssize_t[::1] rows,
    floating[:, :, ::1] target,
    int n_threads=1,
):
    """A batch of packed sequences into the slot layout: sequence r is
    values[starts[r]:starts[r] + lengths[r]] (its steps, one row each).
    For every row i of target (B, S, W), with r = rows[i] and L =
    lengths[r] <= S - 1: target[i, 0] = 0, target[i, t] = step t of
    sequence r for t in 1..L, and zeros in the slots past L. The rows are
    shared by ``n_threads`` threads (a copy: the result does not depend on
    them)."""
    cdef Py_ssize_t B = target.shape[0]
    cdef Py_ssize_t S = target.shape[1]
    cdef Py_ssize_t W = target.shape[2]
    cdef Py_ssize_t N = starts.shape[0]
    cdef Py_ssize_t i, r
    if values.shape[1] != W:
        raise ValueError(
            f"values of width {values.shape[1]} cannot fill target of width {W}."
        )
    if lengths.shape[0] != N:
        raise ValueError(f"lengths has {lengths.shape[0]} entries for {N} starts.")
    if rows.shape[0] != B:
        raise ValueError(f"rows has {rows.shape[0]} entries for {B} rows.")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, got {n_threads}.")
    for i in range(B):
        r = rows[i]
        if r < 0 or r >= N:
            raise ValueError(f"rows[{i}] = {r} is outside the {N} sequences.")
        if lengths[r] < 0 or lengths[r] > S - 1:
            raise ValueError(
                f"sequence {r} has {lengths[r]} steps; target holds {S - 1}."
            )
        if starts[r] < 0 or starts[r] + lengths[r] > values.shape[0]:
            raise ValueError(f"sequence {r} lies outside values.")
    if B == 0 or W == 0 or S == 0:
        return
    if values.shape[0] == 0:
        # Every length is 0 (checked above): slots of zeros only.
        memset(&target[0, 0, 0], 0, B * S * W * sizeof(floating))
        return
    if n_threads > 1:
        for i in prange(B, nogil=True, schedule="static", num_threads=n_threads):
            _packed_row(&target[i, 0, 0], &values[0, 0] + starts[rows[i]] * W,
                        lengths[rows[i]], S, W)
    else:
        with nogil:
            for i in range(B):
                _packed_row(&target[i, 0, 0], &values[0, 0] + starts[rows[i]] * W,
                            lengths[rows[i]], S, W)


cdef inline void _packed_row(floating *target, const floating *source,
                             Py_ssize_t length, Py_ssize_t S,
                             Py_ssize_t W) noexcept nogil:
    """One row of gather_packed: slot 0 zeros, the sequence's ``length``
    steps, zeros up to slot S - 1."""
    memset(target, 0, W * sizeof(floating))
    memcpy(target + W, source, length * W * sizeof(floating))
    memset(target + (length + 1) * W, 0, (S - 1 - length) * W * sizeof(floating))


cdef inline void _slot_row(floating *target, const floating *source, Py_ssize_t S,
                           Py_ssize_t W) noexcept nogil:
    """One row of gather_rows from a contiguous source row: slot 0 zeros,
    then its first S - 1 steps."""
    memset(target, 0, W * sizeof(floating))
    memcpy(target + W, source, (S - 1) * W * sizeof(floating))


def gather_last(const floating[:, :, ::1] states, const Py_ssize_t[::1] lengths,
                floating[:, ::1] out, Py_ssize_t column):
    """out[j, column:column + W] = states[j, lengths[j] % S] for every row j,
    where states is (B, S, W): one slot per step (S = T + 1), or two
    alternating slots (S = 2, inference)."""
    cdef Py_ssize_t B = states.shape[0]
    cdef Py_ssize_t S = states.shape[1]
    cdef Py_ssize_t W = states.shape[2]
    cdef Py_ssize_t j, k, slot
    _check_last(lengths, B, S, out.shape[0], out.shape[1], column, W, True)
    with nogil:
        for j in range(B):
            slot = lengths[j] % S
            for k in range(W):
                out[j, column + k] = states[j, slot, k]


def scatter_last(floating[:, :, ::1] states, const Py_ssize_t[::1] lengths,
                 const floating[:, ::1] values, Py_ssize_t column):
    """states[j, lengths[j]] = values[j, column:column + W] for every row j,
    or zeros when ``values`` is None; states is (B, T + 1, W)."""
    cdef Py_ssize_t B = states.shape[0]
    cdef Py_ssize_t S = states.shape[1]
    cdef Py_ssize_t W = states.shape[2]
    cdef Py_ssize_t j, k
    cdef bint zeros = values is None
    if zeros:
        _check_last(lengths, B, S, B, column + W, column, W, False)
    else:
        _check_last(lengths, B, S, values.shape[0], values.shape[1], column, W, False)
    with nogil:
        for j in range(B):
            for k in range(W):
                states[j, lengths[j], k] = 0 if zeros else values[j, column + k]


cdef _check_last(const Py_ssize_t[::1] lengths, Py_ssize_t B, Py_ssize_t S,
                 Py_ssize_t rows, Py_ssize_t columns, Py_ssize_t column,
                 Py_ssize_t W, bint wrap):
    cdef Py_ssize_t j
    _check_shape("lengths", lengths.shape, 1, B, 0, 0)
    if rows < B or column < 0 or column + W > columns:
        raise ValueError(
            f"columns {column}:{column + W} of {B} rows do not fit an array of "
            f"shape ({rows}, {columns})."
        )
    for j in range(B):
        if lengths[j] < 0 or (not wrap and lengths[j] >= S):
            raise ValueError(f"length {lengths[j]} is out of range for {S} slots.")
