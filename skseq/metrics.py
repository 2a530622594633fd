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
from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier
from sklearn.metrics import get_scorer

from ._meta import per_step_model
from ._step_targets import flatten_steps, per_step_weights
from ._validation import check_sample_weight, is_object_vector

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
        per-step targets put end to end; the stand-in's ``score`` is the
        estimator's own metric (accuracy or R^2) over those rows.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None)``, higher is better,
        usable wherever scikit-learn takes a scorer. ``y`` is in the layout
        ``fit`` takes. ``estimator`` may wrap the per-step model: a
        :class:`~sklearn.pipeline.Pipeline` ending in it (the steps are then
        those of its predictions), a fitted search (nested cross-validation),
        a :class:`~sklearn.compose.TransformedTargetRegressor`, a
        :class:`~sklearn.frozen.FrozenEstimator`. With metadata routing on,
        ``scorer.set_score_request(sample_weight=True)`` asks for the test
        sequences' weights, as scikit-learn's scorers do.

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
        module = getattr(scoring, "__module__", None) or ""
        if module.startswith("sklearn.metrics.") and not module.startswith(
            ("sklearn.metrics._scorer", "sklearn.metrics.tests")
        ):
            raise ValueError(
                f"per_step_scorer got {scoring!r}, which looks like a metric "
                "function rather than a scorer: a scorer takes the estimator "
                "first. Give the metric's name, or make a scorer of it with "
                "sklearn.metrics.make_scorer."
            )
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

    @property
    def inner(self):
        """The scorer it applies to the steps' rows."""
        return self._inner

    def set_score_request(self, **requests):
        """Request metadata for the scorer, as
        :func:`sklearn.metrics.make_scorer`'s scorers do (only with
        ``sklearn.set_config(enable_metadata_routing=True)``):
        ``set_score_request(sample_weight=True)`` has cross-validation tools
        pass the test sequences' weights."""
        if not hasattr(self._inner, "set_score_request"):
            raise TypeError(
                f"{self._inner!r} takes no metadata requests: give a scorer "
                "name, or a scorer made by sklearn.metrics.make_scorer."
            )
        self._inner.set_score_request(**requests)
        return self

    def get_metadata_routing(self):
        """The metadata requests of the scorer it wraps."""
        from sklearn.utils.metadata_routing import get_routing_for_object

        return get_routing_for_object(self._inner)

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        model = per_step_model(estimator)
        if model is None:
            if sample_weight is not None:
                kwargs["sample_weight"] = sample_weight
            return self._inner(estimator, X, y_true, **kwargs)
        responses = _StepResponses.named_after(estimator, X, direct=model is estimator)
        steps = responses.steps
        y_rows = flatten_steps(y_true, steps, multi_output=True)
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, len(steps), np.float64)
            kwargs["sample_weight"] = per_step_weights(sample_weight, steps.lengths)
        return self._inner(responses, X, y_rows, **kwargs)


class _Steps:
    """The lengths and time axis of sequences, one length each: ``ragged`` for
    a list (its time axis is its longest sequence's), else all of one length."""

    def __init__(self, lengths, n_timesteps, ragged):
        self.lengths = lengths
        self.n_timesteps = n_timesteps
        self.ragged = ragged

    @classmethod
    def of(cls, sequences, name):
        """The steps of sequences in any of the estimators' forms: a list (or
        1-D object array, or Series) of sequences, or an array (n_samples,
        n_timesteps[, ...]) of sequences of one length."""
        if isinstance(sequences, list | tuple) or is_object_vector(sequences):
            lengths = np.array([len(item) for item in sequences], dtype=np.intp)
            steps = cls(lengths, int(lengths.max(initial=0)), True)
        else:
            shape = np.shape(sequences)
            if len(shape) < 2:
                raise ValueError(
                    f"per_step_scorer needs sequences: {name} as an array "
                    "(n_samples, n_timesteps[, n_features]) or a list of "
                    f"sequences; got {name} of shape {shape}."
                )
            steps = cls(np.full(shape[0], shape[1], dtype=np.intp), shape[1], False)
        if len(steps) == 0:
            raise ValueError(f"per_step_scorer needs sequences; {name} has none.")
        return steps

    def __len__(self):
        return len(self.lengths)


class _StandIn:
    """What a scorer reads of an estimator besides its response methods: the
    tags and ``classes_`` of ``self._estimator``. ``named_after`` makes an
    instance whose class has the estimator's name, which a scorer's errors
    then give (a response method it lacks, for one)."""

    _estimator = None

    @classmethod
    def named_after(cls, estimator, *args, **kwargs):
        return type(type(estimator).__name__, (cls,), {})(estimator, *args, **kwargs)

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()

    @property
    def classes_(self):
        return self._estimator.classes_


class _StepResponses(_StandIn):
    """An estimator's per-step outputs on ``X``, one row per real step, as a
    scorer reads an estimator: its tags, ``classes_`` and response methods,
    which answer for those rows whatever they are given.

    The steps are those of ``X`` when the estimator is the per-step model
    itself (``direct``), else those of its predictions, which come after
    whatever its earlier steps do to ``X`` (a reshape, a crop); those
    predictions are kept for a scorer that asks for them."""

    def __init__(self, estimator, X, direct):
        self._estimator = estimator
        self._X = X
        self._outputs = {}
        if direct:
            self.steps = _Steps.of(X, "X")
        else:
            self._outputs["predict"] = estimator.predict(X)
            self.steps = _Steps.of(self._outputs["predict"], "predict(X)")

    def __getattr__(self, name):
        if name not in _RESPONSE_METHODS:
            raise AttributeError(name)
        method = getattr(self._estimator, name)

        def rows(X=None):
            outputs = self._outputs.pop(name, None)
            if outputs is None:
                outputs = method(self._X)
            return flatten_steps(
                outputs, self.steps, multi_output=True, name=f"{name}(X)"
            )

        # scikit-learn tells the response methods apart by their names.
        rows.__name__ = name
        return rows

    def score(self, X=None, y=None, sample_weight=None):
        """The estimator's own metric over the rows of ``y`` (the targets of
        the steps, as the scorer passes them): accuracy for a classifier,
        R^2 otherwise, against :meth:`predict`'s rows. For a callable scorer
        that calls ``estimator.score``."""
        mixin = ClassifierMixin if is_classifier(self._estimator) else RegressorMixin
        return mixin.score(self, X, y, sample_weight=sample_weight)
