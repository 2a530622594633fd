"""Loads the compiled core, so that GCC's OpenMP runtime, when the core is what
starts it, makes waiting threads sleep soon instead of polling for long.

A thread of libgomp that waits (for the next parallel region, or for the other
threads at the end of one) polls for GOMP_SPINCOUNT iterations before it
sleeps: 300,000 by default, milliseconds. On a machine where another process
needs the cores, a polling thread takes a core's time from that process and
from the thread it waits for, and the scheduler then holds that thread back as
long, so every parallel region can cost milliseconds. SPIN_COUNT iterations
still catch regions that follow each other closely (a training step's
passes), then the thread sleeps.

The runtime reads the variable once, when it is loaded. It is set here only
while the core loads, and only if the user set neither GOMP_SPINCOUNT nor
OMP_WAIT_POLICY; then it is removed again, so child processes and runtimes
loaded later see the environment as it was. A runtime already loaded (by a
library imported before skseq) keeps its settings. Other libraries in the
process that use the same runtime get the same spin count: PyTorch, for one,
ships a libgomp.so.1 of its own, which is not loaded when skseq's is there.
"""

import os

from ._check_build import import_core

SPIN_COUNT = "10000"


def _load_core():
    set_here = not ({"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & os.environ.keys())
    if set_here:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        import_core()
    finally:
        if set_here:
            del os.environ["GOMP_SPINCOUNT"]


_load_core()
