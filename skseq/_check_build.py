"""Fail with a useful message when skseq's compiled core cannot be imported.

``import skseq`` run from the root of a source checkout finds the checkout's
``skseq/`` directory before any installed copy. That directory holds the
Cython source of the core, not the built extension, unless it was built in
place, and Python then reports "cannot import name '_lstm_layer' ... (most
likely due to a circular import)", which points the wrong way.
:func:`import_core`, which ``skseq._openmp`` calls before anything else loads
the core, replaces that with an ImportError saying what is missing, where, and
how to build it.
"""

import os
from importlib import import_module
from importlib.util import find_spec

_NOT_BUILT = """\
skseq's compiled core (the extension module skseq.{module}) is not built in
{directory}, so skseq cannot be imported from there.

If it is the skseq/ directory of a source checkout, either
- install skseq (`pip install .`) and run Python from another directory: from
  the checkout's root, `import skseq` finds this unbuilt source tree before the
  installed package; or
- build the extension in place, with `pip install -e .` or
  `python setup.py build_ext --inplace` (both need a C compiler; the second
  also needs Cython 3, NumPy and SciPy installed)."""

_NOT_LOADED = """\
skseq's compiled core {origin} exists but could not be loaded: {error}
It may have been built for another Python, NumPy or platform. Rebuild it: reinstall
skseq, or in a source checkout run `pip install -e .` or
`python setup.py build_ext --inplace` again."""


# The extension modules of the compiled core, each importing only those
# before it.
_CORE_MODULES = (
    "_openmp_helpers",
    "_layout",
    "_dispatch",
    "_numerics",
    "_lstm_layer",
    "_gru_layer",
    "_rnn_layer",
)


def import_core():
    """Import the compiled core, or raise an ImportError saying how to build it."""
    for module in _CORE_MODULES:
        try:
            import_module(f"{__package__}.{module}")
        except ImportError as error:
            spec = find_spec(f"{__package__}.{module}")
            if spec is None:
                directory = os.path.dirname(os.path.abspath(__file__))
                raise ImportError(
                    _NOT_BUILT.format(module=module, directory=directory)
                ) from None
            raise ImportError(
                _NOT_LOADED.format(origin=spec.origin, error=error)
            ) from error
