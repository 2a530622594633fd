"""Load the compiled core, with a passive OpenMP wait policy by default.

Each parallel region of the core is coarse (a whole layer's time loop), so
idle threads gain nothing by spinning; on a shared machine, spinning threads
steal the core that the one doing real work needs, and a fit slows down
tenfold or worse when another process holds a core. libgomp reads its wait
policy once, when it is loaded, so the variable is set only for the moment
the extension (and with it this process's libgomp, if not loaded yet) loads
and is removed right after: the user's environment is left as it was. A
policy the user chose (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``) is respected.
"""

import os


def _load_core():
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        from . import _lstm_core
    else:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            from . import _lstm_core
        finally:
            del os.environ["OMP_WAIT_POLICY"]
    return _lstm_core


lstm_core = _load_core()
