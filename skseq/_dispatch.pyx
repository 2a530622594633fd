# cython: language_level=3
"""The one table of C kernels that every module of the compiled core calls.

The kernels (``src/*.inc``) are compiled into this module once per vector
level this compiler can build: 0 the baseline, 1 AVX2 with FMA, 2 AVX-512.
At import the highest level the CPU supports is chosen; the layer modules and
``_numerics`` bind to this module's table when they are imported, so they all
run the same level, and a level forced here (for tests and benchmarks) moves
all of them.
"""

# The kernel tables of every level, the CPU detection and the shared table:
# compiled into this module only.
cdef extern from "src/dispatch.inc":
    pass

cdef extern from "src/kernels.h" nogil:
    const skseq_kernel_table *skseq_shared_table()
    int skseq_detected_level()
    int skseq_set_level(int level)


cdef const skseq_kernel_table *shared_table() noexcept nogil:
    return skseq_shared_table()


cdef int set_level(int level) noexcept nogil:
    return skseq_set_level(level)


def detected_level():
    """The highest level the CPU supports (and this build has)."""
    return skseq_detected_level()


def level():
    """The level every kernel runs at now."""
    return skseq_shared_table().level


def _set_level(int level):
    """Run every kernel at ``level``, clamped to [0, ``detected_level()``];
    returns the level set. For tests and benchmarks, never while kernels
    run."""
    return skseq_set_level(level)


skseq_shared_table()
