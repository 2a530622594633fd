"""The skseq model inside scikit-learn's meta-estimators.

Helpers that act on a fitted model (per-step scorers, recursive forecasts)
need to know what the model that predicts was fitted to do, also when it is
wrapped: in a search, a pipeline, a transformed-target regressor or a frozen
estimator.
"""

# Where a meta-estimator keeps the estimator that predicts for it, in the
# order they are looked up: a search's refitted best model, a
# transformed-target regressor's fitted regressor, a fitted meta-estimator's
# own, a pipeline's last step, a frozen or other meta-estimator's estimator.
_WRAPPED = (
    "best_estimator_",
    "regressor_",
    "estimator_",
    "_final_estimator",
    "estimator",
)

# Deeper nesting than this is taken for a cycle.
_MAX_DEPTH = 32


def inner_model(estimator):
    """The skseq model (an estimator with ``return_sequences``) that
    ``estimator`` is or wraps, followed through the attributes of
    ``_WRAPPED``; None if there is none."""
    for _ in range(_MAX_DEPTH):
        if hasattr(estimator, "return_sequences"):
            return estimator
        for name in _WRAPPED:
            inner = getattr(estimator, name, None)
            if inner is not None and inner is not estimator and hasattr(inner, "fit"):
                estimator = inner
                break
        else:
            return None
    return None


def per_step_model(estimator):
    """The skseq model with per-step outputs that ``estimator`` is or wraps,
    judged by its fitted state; else None."""
    model = inner_model(estimator)
    if model is None:
        return None
    per_step = getattr(model, "_per_step", None)
    if per_step is not None:
        # What the fitted network does, whatever the parameter says now; an
        # unfitted model raises NotFittedError.
        return model if per_step() else None
    return model if getattr(model, "return_sequences", False) else None
