"""Scoring models with per-step outputs (``return_sequences=True``).

scikit-learn's scorers compare ``y`` with ``predict(X)`` as they come. For a
model with one output per time step both are per-step layouts, an array
``(n_samples, n_timesteps[, ...])`` or a list of per-sequence arrays, and a
metric reads them as many-output targets (accuracy then asks every step of a
sequence to be right at once) or refuses them (multiclass labels, ragged
lists). :func:`per_step_scorer` makes a scorer that scores every real step
as one sample instead, as the estimators' own ``score`` does, for
:class:`~sklearn.model_selection.GridSearchCV`, ``cross_val_score``,
``cross_validate`` and the estimators' ``scoring`` parameter.
"""

import numpy as np
from sklearn.metrics import get_scorer

from ._step_targets import flatten_steps, per_step_weights
from ._validation import is_object_vector

__all__ = ["per_step_scorer"]

_RESPONSE_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
)


def per_step_scorer(scoring):
    """A scorer that scores a per-step model over all real time steps.

    Each real step of each sequence counts as one sample: the targets and the
    model's outputs (labels, probabilities or values) of every step are put
    end to end, sequence by sequence, and the scorer's metric is computed on
    those rows; padding never counts. A ``sample_weight`` given to the scorer
    weights whole sequences, so each step carries its sequence's weight. For
    a model without per-step outputs (``return_sequences=False``, or any
    other estimator) the scorer is ``scoring`` itself.

    Parameters
    ----------
    scoring : str or callable
        A scorer name of scikit-learn (``"accuracy"``, ``"f1_macro"``,
        ``"neg_log_loss"``, ``"r2"``, ...: see
        :func:`sklearn.metrics.get_scorer_names`), or a scorer made by
        :func:`sklearn.metrics.make_scorer`. A callable is called with a
        stand-in for the estimator whose response methods (``predict``,
        ``predict_proba``, ...) return one row per real step, and the
        per-step targets.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None)``, higher is better,
        usable wherever scikit-learn takes a scorer. ``estimator`` may be a
        :class:`~sklearn.pipeline.Pipeline` whose last step has per-step
        outputs; ``y`` is in the layout ``fit`` takes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import cross_val_score
    >>> from skseq import RNNClassifier
    >>> from skseq.metrics import per_step_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8, 2))
    >>> y = np.digitize(np.cumsum(X[:, :, 0], axis=1), [-1, 1])  # 3 labels per step
    >>> model = RNNClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0,
    ...                       return_sequences=True)
    >>> scores = cross_val_score(model, X, y, cv=3, scoring=per_step_scorer("accuracy"))
    >>> scores.shape
    (3,)
    """
    if isinstance(scoring, str):
        inner = get_scorer(scoring)
    elif callable(scoring):
        inner = scoring
    else:
        raise TypeError(
            "per_step_scorer takes a scorer name or a callable scorer; got "
            f"{type(scoring).__name__}."
        )
    return _PerStepScorer(scoring, inner)


class _PerStepScorer:
    """The scorer :func:`per_step_scorer` returns."""

    def __init__(self, scoring, inner):
        self._scoring = scoring
        self._inner = inner

    def __repr__(self):
        return f"per_step_scorer({self._scoring!r})"

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        if not _has_per_step_outputs(estimator):
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight
            return self._inner(estimator, X, y_true, **kwargs)
        steps = _Steps(X)
        y_rows = flatten_steps(y_true, steps, multi_output=True)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
            if sample_weight.shape != (len(steps),):
                raise ValueError(
                    f"sample_weight must have one weight per sequence, shape "
                    f"({len(steps)},); got shape {sample_weight.shape}."
                )
            kwargs["sample_weight"] = per_step_weights(sample_weight, steps.lengths)
        # Named as the estimator, which a scorer's errors then name (a
        # response method it lacks, for one).
        responses = type(type(estimator).__name__, (_StepResponses,), {})(
            estimator, X, steps
        )
        return self._inner(responses, X, y_rows, **kwargs)


def _final_estimator(estimator):
    """The last step of a Pipeline (of Pipelines), else the estimator."""
    while hasattr(estimator, "steps") and hasattr(estimator, "_final_estimator"):
        estimator = estimator._final_estimator
    return estimator


def _has_per_step_outputs(estimator):
    return getattr(_final_estimator(estimator), "return_sequences", False) is True


class _Steps:
    """The lengths and time axis of sequences ``X`` in any of the estimators'
    input forms: a 3-D array (or a 2-D one of univariate sequences), all of
    one length, or a list of sequences, one length each."""

    def __init__(self, X):
        if isinstance(X, list | tuple) or is_object_vector(X):
            self.lengths = np.array([len(item) for item in X], dtype=np.intp)
            self.n_timesteps = int(self.lengths.max(initial=0))
        else:
            shape = np.shape(X)
            if len(shape) not in (2, 3):
                raise ValueError(
                    "per_step_scorer needs sequences: X as an array (n_samples, "
                    "n_timesteps[, n_features]) or a list of sequences; got X of "
                    f"shape {shape}."
                )
            self.n_timesteps = shape[1]
            self.lengths = np.full(shape[0], shape[1], dtype=np.intp)

    def __len__(self):
        return len(self.lengths)


class _StepResponses:
    """An estimator's per-step outputs on ``X``, one row per real step, as a
    scorer reads an estimator: its tags, ``classes_`` and response methods,
    which answer for those rows whatever they are given."""

    def __init__(self, estimator, X, steps):
        self._estimator = estimator
        self._X = X
        self._steps = steps

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()

    @property
    def classes_(self):
        return self._estimator.classes_

    def __getattr__(self, name):
        if name not in _RESPONSE_METHODS:
            raise AttributeError(name)
        method = getattr(self._estimator, name)

        def rows(X=None):
            outputs = method(self._X)
            return flatten_steps(
                outputs, self._steps, multi_output=True, name=f"{name}(X)"
            )

        # scikit-learn tells the response methods apart by their names.
        rows.__name__ = name
        return rows
