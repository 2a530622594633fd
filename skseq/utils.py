"""Utilities for users and for skseq's own tests."""

import inspect
import pkgutil
from importlib import import_module

from sklearn.base import BaseEstimator


def all_estimators():
    """All public estimator classes of skseq, found by walking the package.

    Returns
    -------
    estimators : list of (name, class) tuples
        Sorted by name. A class counts when it is a scikit-learn estimator,
        is not abstract or private, and is defined in a public skseq module
        or re-exported by one.
    """
    import skseq

    found = {}
    modules = [skseq] + [
        import_module(info.name)
        for info in pkgutil.walk_packages(skseq.__path__, prefix="skseq.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
        and ".tests" not in info.name
    ]
    for module in modules:
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseEstimator)
                and obj.__module__.startswith("skseq")
                and not name.startswith(("_", "Base"))
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return sorted(found.items())
