"""Thread and BLAS policy: how many threads the compiled core runs on, and
when BLAS must be kept to one thread of its own."""

import contextlib
import functools

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
    """

    __slots__ = ("_saved",)

    def __enter__(self):
        self._saved = []
        for controller in _blas_controllers():
            n_threads = controller.get_num_threads()
            if n_threads != 1:
                controller.set_num_threads(1)
                self._saved.append((controller, n_threads))
        return self

    def __exit__(self, *exc_info):
        for controller, n_threads in self._saved:
            controller.set_num_threads(n_threads)


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


def effective_n_threads():
    """Threads for the compiled core, following scikit-learn's OpenMP rule.

    All usable cores by default (cgroup quotas and CPU affinity respected via
    joblib), bounded by ``OMP_NUM_THREADS`` and by threadpoolctl limits on
    the OpenMP runtime. joblib's workers get ``cpu_count() // n_jobs``
    threads each, so parallel model selection does not oversubscribe.
    """
    return _openmp_helpers.openmp_effective_threads(usable_cores())
