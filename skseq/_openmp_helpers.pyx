# cython: language_level=3
"""What the OpenMP runtime offers the compiled core.

The recurrent layers run their chunks on OpenMP threads; these functions tell
the Python side whether this build has OpenMP at all and how many threads the
runtime would give, so that it can choose a thread count without a Python
environment lookup per call. A serial build (``SKSEQ_NO_OPENMP=1``) answers
"disabled" and one thread.
"""

from libc.stdlib cimport getenv

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int skseq_openmp_max_threads(void) { return omp_get_max_threads(); }
    static int skseq_openmp_enabled(void) { return 1; }
    #else
    static int skseq_openmp_max_threads(void) { return 1; }
    static int skseq_openmp_enabled(void) { return 0; }
    #endif
    """
    int skseq_openmp_max_threads() noexcept nogil
    int skseq_openmp_enabled() noexcept nogil


def openmp_enabled():
    """Whether this build of the core was compiled with OpenMP."""
    return bool(skseq_openmp_enabled())


def openmp_max_threads():
    """The OpenMP runtime's current thread budget (1 for a serial build)."""
    return skseq_openmp_max_threads()


def openmp_effective_threads(int cores):
    """scikit-learn's rule for OpenMP code: the runtime's thread budget, capped
    at ``cores`` unless OMP_NUM_THREADS is set; at least 1. One call instead
    of a Python environment lookup, which costs more than a small batch's
    per-call bookkeeping should. (os.environ writes reach the C environment.)"""
    cdef int n = skseq_openmp_max_threads()
    if getenv(b"OMP_NUM_THREADS") == NULL and n > cores:
        n = cores
    return max(n, 1)
