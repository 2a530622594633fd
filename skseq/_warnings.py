"""Warnings shown once per process under Python's default filter.

Python's "default" action shows a warning once per location, but forgets
what it has shown whenever the warning filters change. scikit-learn's
``Parallel`` sets the filters again around every task it runs, so a grid
search would repeat a fit's ConvergenceWarning for every fit. ``warn_once``
keeps its own record: under the "default" (or "module") action, a message is
shown the first time only; any other action ("always", "error", "ignore",
"once", from ``warnings.simplefilter`` or ``pytest.warns``) is applied as
usual.
"""

import sys
import warnings

_shown = set()


def _filters():
    # Python >= 3.14 with free threading keeps the filters in a context
    # variable, which warnings.filters does not reflect.
    get_filters = getattr(warnings, "_get_filters", None)
    return get_filters() if get_filters is not None else warnings.filters


def _action(message, category, module, lineno):
    """The action of the first warning filter that matches, as
    ``warnings.warn_explicit`` finds it."""
    for action, text, filter_category, filter_module, filter_lineno in _filters():
        if (
            (text is None or text.match(message))
            and issubclass(category, filter_category)
            and (filter_module is None or filter_module.match(module))
            and (filter_lineno == 0 or filter_lineno == lineno)
        ):
            return action
    return warnings.defaultaction


def warn_once(message, category, stacklevel):
    """``warnings.warn(message, category, stacklevel)`` (``stacklevel`` as
    seen from the caller of this function), skipped when the message was
    already shown in this process and the filters would show it once."""
    try:
        frame = sys._getframe(stacklevel)
        module = frame.f_globals.get("__name__", "<string>")
        lineno = frame.f_lineno
    except ValueError:  # a stack shallower than stacklevel
        module, lineno = "sys", 0
    if _action(message, category, module, lineno) in ("default", "module"):
        key = (message, category)
        if key in _shown:
            return
        _shown.add(key)
    warnings.warn(message, category, stacklevel=stacklevel + 1)
