"""Thread and BLAS policy: how many threads the compiled core runs on, and
when BLAS must be kept to one thread of its own."""

import contextlib
import functools
import os
import threading

import threadpoolctl
from threadpoolctl import ThreadpoolController

from . import _lstm_layer, _openmp_helpers
from ._network import usable_cores


@functools.cache
def _blas_controllers():
    """threadpoolctl's handles on the BLAS libraries loaded in this process.

    The compiled core imports SciPy's BLAS, and NumPy's is loaded with NumPy,
    so both are known by the time this first runs.
    """
    return ThreadpoolController().select(user_api="blas").lib_controllers


class _SingleThreadedBLAS:
    """Limit BLAS to one thread inside the block, then restore it.

    The core splits the work between its own threads, each calling BLAS on
    its chunk; BLAS threads of their own would oversubscribe the cores. This
    does what ``threadpool_limits(1, user_api="blas")`` does, with the
    library handles looked up once instead of on every call (which costs
    more than a one-sequence prediction).

    BLAS's thread count belongs to the process, and several fits or
    predictions may run at once in threads of their own. So the blocks share
    one limit: the first to enter saves the counts and sets one thread, the
    last to leave restores them. (Each block saving and restoring for itself
    would let a block that entered while another held the limit save the
    limit, and leave BLAS at one thread for good.) threadpoolctl (3.8 and
    later) lets only one thread at a time set OpenBLAS's count, the last to
    set it, until that thread lets go: each change here lets go at once, so
    that whichever thread restores the count can.
    """

    __slots__ = ()

    _lock = threading.Lock()
    _holders = 0
    _saved = ()

    def __enter__(self):
        cls = _SingleThreadedBLAS
        with cls._lock:
            if cls._holders == 0:
                saved = []
                for controller in _blas_controllers():
                    n_threads = controller.get_num_threads()
                    if n_threads != 1:
                        controller.set_num_threads(1)
                        saved.append((controller, n_threads))
                cls._saved = tuple(saved)
                _release_blas_control()
            cls._holders += 1
        return self

    def __exit__(self, *exc_info):
        cls = _SingleThreadedBLAS
        with cls._lock:
            cls._holders -= 1
            if cls._holders == 0:
                for controller, n_threads in cls._saved:
                    controller.set_num_threads(n_threads)
                cls._saved = ()
                _release_blas_control()


# threadpoolctl's release of the control it gives the thread that last set
# OpenBLAS's thread count (a no-op for a thread without the control); older
# threadpoolctl has no such rule and no such method.
_CLEAR_CONTROLLING_THREAD = getattr(
    getattr(threadpoolctl, "OpenBLASController", None), "clear_controlling_thread", None
)


def _release_blas_control():
    if _CLEAR_CONTROLLING_THREAD is not None:
        _CLEAR_CONTROLLING_THREAD()


_NO_LIMIT = contextlib.nullcontext()


def _blas_limit(stacked_training=False):
    """The BLAS limit a pass needs. With the packed kernels, a prediction and a
    one-layer network's training step call no BLAS (the head, the gradient
    norm and the losses included; BLAS only stands in when memory to pack a
    matrix is short), so there is nothing to limit and the threadpoolctl
    calls are saved. The core calls BLAS from its threads for the input
    gradient of stacked layers, and for every product without the kernels."""
    if _lstm_layer.packed_gemm_level() > 0 and not stacked_training:
        return _NO_LIMIT
    return _SingleThreadedBLAS()


class _ForkState:
    """Whether this process may have started OpenMP threads, and whether it
    is a child forked from a process that had.

    GCC's OpenMP runtime keeps its threads across parallel regions and does
    not rebuild them in a child forked with ``os.fork`` (``multiprocessing``'s
    "fork" start method, the default on Linux before Python 3.14): the
    child's first region of several threads waits forever for threads that
    do not exist in it. Such a child therefore runs the core on one thread,
    which takes no parallel region.
    """

    threads_started = False
    forked_after_threads = False


def _after_fork_in_child():
    if _ForkState.threads_started:
        _ForkState.forked_after_threads = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def effective_n_threads():
    """Threads for the compiled core, following scikit-learn's OpenMP rule.

    All usable cores by default (cgroup quotas and CPU affinity respected via
    joblib), bounded by ``OMP_NUM_THREADS`` and by threadpoolctl limits on
    the OpenMP runtime. joblib's workers get ``cpu_count() // n_jobs``
    threads each, so parallel model selection does not oversubscribe. One
    in a child forked after this process ran the core on several threads
    (see ``_ForkState``).
    """
    if _ForkState.forked_after_threads:
        return 1
    n_threads = _openmp_helpers.openmp_effective_threads(usable_cores())
    if n_threads > 1:
        _ForkState.threads_started = True
    return n_threads
