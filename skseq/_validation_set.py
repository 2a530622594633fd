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
    if isinstance(scoring, str) and getattr(estimator, "return_sequences", False):
        # A named scorer compares one prediction per sample with y: per-step
        # targets would be read as a table (or not at all, when ragged).
        raise ValueError(
            f"scoring={scoring!r} cannot score per-step outputs "
            "(return_sequences=True): a named scorer compares one prediction "
            "per sequence with y. Use scoring=None (score(): R^2 or accuracy "
            "over all real steps), 'loss', or a callable scorer(estimator, X, "
            "y) that reads per-step targets."
        )
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
        # A scorer gets the samples in the user's form: one weight each.
        self._sample_weight = sample_weight
        if isinstance(y, StepTargets):
            # Scored step by step, as the per-step model's outputs come.
            y, sample_weight = y.flat(sequences.lengths, sample_weight)
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
            else:
                X, y = self.user_form()
                weights = {}
                if self._sample_weight is not None:
                    weights["sample_weight"] = self._sample_weight
                score = scorer(estimator, X, y, **weights)
        score, loss = float(score), float(loss)
        return (
            score if math.isfinite(score) else -math.inf,
            loss if math.isfinite(loss) else math.inf,
        )

    def _loss(self, out_activation, raw):
        if out_activation == "identity":
            per_sample = 0.5 * np.mean((raw - self.y) ** 2, axis=1)
            return np.average(per_sample, weights=self.sample_weight)
        output = OUTPUT_ACTIVATIONS[out_activation](raw)
        return LOSSES[out_activation](self.y, output, self.sample_weight)
