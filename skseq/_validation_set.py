"""The validation set of early stopping and what is measured on it.

The set is either given to ``fit`` (``X_val``, ``y_val``,
``sample_weight_val``, validated by the rules of ``X`` and ``y``), or held
out of the training data: the last ``validation_fraction`` of the samples
with ``shuffle=False`` (windows of one series, validated on its most recent
part, so nothing from the future leaks into training), otherwise a share
chosen by content (``EpochLoop._validation_split``). Each epoch, the
estimator's outputs on it give a validation loss and the early-stopping
score: the estimator's default score, a scikit-learn scorer, or the negated
loss (``scoring``).
"""

import math

import numpy as np
from sklearn.utils import _safe_indexing

from . import _numerics
from ._losses import LOSSES, OUTPUT_ACTIVATIONS
from ._step_targets import StepTargets
from .metrics import _PerStepScorer, _StandIn


def check_validation_arguments(estimator, X_val, y_val, sample_weight_val):
    """Refuse validation data that early stopping would not use, or that
    is incomplete, before any input is validated."""
    if X_val is None and y_val is None:
        if sample_weight_val is not None:
            raise ValueError(
                "sample_weight_val is given without X_val and y_val; pass all "
                "three, or none."
            )
        return False
    if y_val is None:
        raise ValueError("X_val is given, but y_val is not; pass both.")
    if X_val is None:
        raise ValueError("y_val is given, but X_val is not; pass both.")
    if not estimator.early_stopping:
        raise ValueError(
            "X_val and y_val are given, but early_stopping=False, so they would "
            "not be used: set early_stopping=True to stop on this validation set."
        )
    return True


def resolve_scoring(estimator):
    """None (the estimator's default score), "loss", or a scorer object.
    An estimator without a ``scoring`` parameter uses its default score."""
    scoring = getattr(estimator, "scoring", None)
    if scoring is None or scoring == "loss":
        return scoring
    from sklearn.metrics import check_scoring

    return check_scoring(estimator, scoring)


def time_order_split(n_samples, sample_weight, fraction, min_samples):
    """``(train_idx, val_idx)`` holding out the last samples, or None when
    fewer than ``min_samples`` of positive weight would be held out or no
    weight would be left to train on.

    Samples are taken from the end while the held-out weight stays nearest
    ``fraction`` of the total, so a sample of weight k counts as k copies.
    """
    weights = np.ones(n_samples) if sample_weight is None else sample_weight
    target = fraction * float(weights.sum())
    held = 0.0
    start = n_samples
    while start > 0 and held + weights[start - 1] / 2 <= target:
        start -= 1
        held += weights[start]
    val_idx = np.arange(start, n_samples)
    val_idx = val_idx[weights[val_idx] > 0]
    if len(val_idx) < min_samples or not np.any(weights[:start] > 0):
        return None
    return np.arange(start), val_idx


class ValidationSet:
    """Validation sequences with their encoded targets and weights, and the
    user's form of the same samples for scorers (made on first use).

    ``source`` is ``(X, y, indices)``: the samples are ``X[indices]`` and
    ``y[indices]`` of the arguments of ``fit`` (``indices`` None: all).
    """

    def __init__(self, sequences, y, sample_weight, source):
        self.sequences = sequences
        # A callable scorer gets the samples in the user's form: one weight
        # per sequence.
        self._sequence_weight = sample_weight
        self.per_step = isinstance(y, StepTargets)
        if self.per_step:
            # Scored step by step, as the per-step model's outputs come.
            y, sample_weight = y.flat(sample_weight)
        self.y = y
        self.sample_weight = sample_weight
        self._source = source

    def user_form(self):
        X, y, indices = self._source
        if indices is not None:
            X, y = _safe_indexing(X, indices), _safe_indexing(y, indices)
            self._source = X, y, None
        return X, y

    def evaluate(self, estimator, scorer):
        """``(score, loss)`` of the estimator's current weights: the score
        of ``scorer`` (see ``resolve_scoring``), higher is better, and the
        loss of the training objective without its penalty. An output that
        is not finite (a diverging fit) scores -inf with an infinite loss."""
        raw = estimator._forward_raw(self.sequences)
        if not _numerics.all_finite(raw.reshape(-1)):
            return -math.inf, math.inf
        # Outputs far from the targets can overflow the sums.
        with np.errstate(over="ignore", invalid="ignore"):
            loss = self._loss(estimator.out_activation_, raw)
            if scorer is None:
                score = estimator._score_outputs(raw, self.y, self.sample_weight)
            elif scorer == "loss":
                score = -loss
            elif self.per_step and isinstance(estimator.scoring, str):
                # A scorer name scores one row per real step, as score() does.
                score = self._score_steps(estimator, scorer, raw)
            elif self.per_step and isinstance(scorer, _PerStepScorer):
                # So does a per-step scorer: the same rows and weights (class
                # weights per step included) as the name of its scorer.
                score = self._score_steps(estimator, scorer.inner, raw)
            else:
                X, y = self.user_form()
                weights = {}
                if self._sequence_weight is not None:
                    weights["sample_weight"] = self._sequence_weight
                score = scorer(estimator, X, y, **weights)
        score, loss = float(score), float(loss)
        return (
            score if math.isfinite(score) else -math.inf,
            loss if math.isfinite(loss) else math.inf,
        )

    def _score_steps(self, estimator, scorer, raw):
        """A named scorer's value over the real steps: the model's outputs
        (``raw``, one row per step) against the targets of each step, with
        its weight."""
        base = (
            _StepProbabilities
            if hasattr(estimator, "predict_proba")
            else _StepPredictions
        )
        steps = base.named_after(estimator, raw)
        # The encoded targets decode as outputs do: labels, or values.
        truth = _StepPredictions.decode(estimator, estimator._unscale_targets(self.y))
        weights = {}
        if self.sample_weight is not None:
            weights["sample_weight"] = self.sample_weight
        return scorer(steps, None, truth, **weights)

    def _loss(self, out_activation, raw):
        if out_activation == "identity":
            per_sample = 0.5 * np.mean((raw - self.y) ** 2, axis=1)
            return np.average(per_sample, weights=self.sample_weight)
        output = OUTPUT_ACTIVATIONS[out_activation](raw)
        return LOSSES[out_activation](self.y, output, self.sample_weight)


class _StepPredictions(_StandIn):
    """A per-step model's outputs on the validation set, one row per real
    step, as a named scorer reads an estimator: its tags, ``classes_`` and
    response methods, which answer for those rows whatever ``X`` is."""

    def __init__(self, estimator, raw):
        self._estimator = estimator
        self._output = estimator._activate(raw)

    @staticmethod
    def decode(estimator, rows):
        """Per-step rows of outputs (or encoded targets) as ``predict``
        gives them: labels for a classifier, values (1-D when ``y`` was) for
        a regressor."""
        if hasattr(estimator, "classes_"):
            return estimator._label_binarizer.inverse_transform(rows)
        return rows.ravel() if estimator._y_1d else rows

    def predict(self, X):
        return self.decode(self._estimator, self._output)


class _StepProbabilities(_StepPredictions):
    """_StepPredictions of a classifier: its probabilities too."""

    def predict_proba(self, X):
        return self._estimator._class_columns(self._output)

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))
