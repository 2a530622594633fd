"""Early stopping's validation set: given to fit (X_val, y_val,
sample_weight_val), held out in time order with shuffle=False, scored by
``scoring``, with its loss in validation_loss_curve_. Every model is tiny."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, mean_absolute_error

from skseq import LSTMClassifier, LSTMRegressor
from skseq.timeseries import make_windows

TINY = dict(hidden_layer_sizes=(4,), early_stopping=True, random_state=0)
# For tests that compare the early-stopping scores with score().
BY_SCORE = dict(TINY, scoring=None)


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5, 2))
    return X, X[:, :2, 0].sum(axis=1) - 0.5 * X[:, -1, 1]


def _fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def _best_epoch(model):
    """The epoch early stopping keeps: the best validation score, and among
    epochs that tie on it, the lowest training loss."""
    scores = np.asarray(model.validation_scores_)
    tied = np.flatnonzero(scores == scores.max())
    return int(tied[np.argmin(np.asarray(model.loss_curve_)[tied])])


# ------------------------------------------------------------ given X_val


def test_given_validation_set_scores_the_restored_best_epoch():
    """With X_val, every sample of X trains, and the weights kept (those of
    the best epoch) score best_validation_score_ on X_val."""
    X, y = _data()
    model = _fit(
        LSTMRegressor(**BY_SCORE, max_iter=15), X[:40], y[:40], X_val=X[40:],
        y_val=y[40:],
    )  # fmt: skip
    assert model.t_ == 40 * model.n_iter_
    assert model.score(X[40:], y[40:]) == pytest.approx(
        model.best_validation_score_, rel=1e-12
    )
    assert model.best_validation_score_ == max(model.validation_scores_)


def test_validation_weights_weigh_the_score():
    X, y = _data()
    weights = np.r_[np.ones(10), np.zeros(10)]
    weighted = _fit(
        LSTMRegressor(**TINY, max_iter=5), X[:40], y[:40], X_val=X[40:],
        y_val=y[40:], sample_weight_val=weights,
    )  # fmt: skip
    only_first = _fit(
        LSTMRegressor(**TINY, max_iter=5), X[:40], y[:40], X_val=X[40:50],
        y_val=y[40:50],
    )  # fmt: skip
    assert_allclose(weighted.validation_scores_, only_first.validation_scores_)
    assert_allclose(weighted.validation_loss_curve_, only_first.validation_loss_curve_)


def test_classifier_takes_labels_as_y_val():
    X, y = _data()
    labels = np.where(y > 0, "up", "down")
    model = _fit(
        LSTMClassifier(**BY_SCORE, max_iter=8), X[:40], labels[:40], X_val=X[40:],
        y_val=labels[40:],
    )  # fmt: skip
    assert model.score(X[40:], labels[40:]) == pytest.approx(
        model.best_validation_score_
    )
    best = _best_epoch(model)
    assert model.validation_loss_curve_[best] == pytest.approx(
        log_loss(labels[40:], model.predict_proba(X[40:]), labels=model.classes_)
    )


@pytest.mark.parametrize(
    "fit_params, match",
    [
        ({"X_val": "X"}, "X_val is given, but y_val is not"),
        ({"y_val": "y"}, "y_val is given, but X_val is not"),
        ({"sample_weight_val": np.ones(20)}, "sample_weight_val is given without"),
    ],
)
def test_incomplete_validation_set_is_refused(fit_params, match):
    X, y = _data()
    fit_params = {
        key: {"X": X[40:], "y": y[40:]}.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in fit_params.items()
    }
    with pytest.raises(ValueError, match=match):
        LSTMRegressor(**TINY).fit(X[:40], y[:40], **fit_params)


def test_validation_set_without_early_stopping_is_refused():
    X, y = _data()
    model = LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2)
    with pytest.raises(ValueError, match="early_stopping=False"):
        model.fit(X[:40], y[:40], X_val=X[40:], y_val=y[40:])
    assert not hasattr(model, "weights_")


@pytest.mark.parametrize(
    "Estimator, bad, match",
    [
        (LSTMRegressor, {"X_val": np.ones((20, 5, 3))}, "3 features"),
        (LSTMRegressor, {"X_val": np.full((20, 5, 2), np.nan)}, "NaN"),
        (LSTMRegressor, {"y_val": np.ones((20, 2))}, "y_val has 2"),
        (LSTMRegressor, {"y_val": np.ones(19)}, "inconsistent numbers"),
        (
            LSTMRegressor,
            {"sample_weight_val": -np.ones(20)},
            "(?i)negative.*sample_weight_val",
        ),
        (LSTMClassifier, {"y_val": np.full(20, 7)}, "not in self.classes_"),
    ],
)
def test_bad_validation_set_is_refused_by_the_rules_of_fit(Estimator, bad, match):
    X, y = _data()
    if Estimator is LSTMClassifier:
        y = (y > 0).astype(int)
    fit_params = {"X_val": X[40:], "y_val": y[40:], **bad}
    with pytest.raises(ValueError, match=match) as raised:
        Estimator(**TINY).fit(X[:40], y[:40], **fit_params)
    assert "validation set (X_val, y_val)" in str(raised.value)


def test_2d_and_ragged_validation_sets():
    X, y = _data()
    univariate = _fit(
        LSTMRegressor(**BY_SCORE, max_iter=3), X[:40, :, 0], y[:40],
        X_val=X[40:, :, 0], y_val=y[40:],
    )  # fmt: skip
    assert univariate.score(X[40:, :, 0], y[40:]) == pytest.approx(
        univariate.best_validation_score_
    )
    with pytest.raises(ValueError, match="validation set"):
        univariate.fit(X[:40, :, 0], y[:40], X_val=X[40:, :4, 0], y_val=y[40:])
    ragged = [x[: 2 + i % 4] for i, x in enumerate(X)]
    model = _fit(
        LSTMRegressor(**BY_SCORE, max_iter=3), ragged[:40], y[:40], X_val=ragged[40:],
        y_val=y[40:],
    )  # fmt: skip
    assert model.score(ragged[40:], y[40:]) == pytest.approx(
        model.best_validation_score_
    )


# --------------------------------------------------------- time order split


def test_without_shuffling_the_last_samples_are_held_out():
    """shuffle=False, validation_fraction=0.25 of 60 samples: the last 15
    validate (the kept weights score best_validation_score_ on them), the
    first 45 train."""
    X, y = _data()
    model = _fit(
        LSTMRegressor(**BY_SCORE, shuffle=False, validation_fraction=0.25, max_iter=10),
        X, y,
    )  # fmt: skip
    assert model.t_ == 45 * model.n_iter_
    assert model.score(X[45:], y[45:]) == pytest.approx(
        model.best_validation_score_, rel=1e-12
    )
    # Moving the last 15 samples to the front changes what is held out.
    order = np.r_[45:60, 0:45]
    moved = _fit(
        LSTMRegressor(**BY_SCORE, shuffle=False, validation_fraction=0.25, max_iter=10),
        X[order], y[order],
    )  # fmt: skip
    assert moved.score(X[30:45], y[30:45]) == pytest.approx(
        moved.best_validation_score_, rel=1e-12
    )


def test_time_order_split_counts_sample_weights():
    """A sample of weight 3 at the end holds out as three copies would."""
    X, y = _data(n=40)
    weights = np.ones(40)
    weights[-1] = 3.0
    model = _fit(
        LSTMRegressor(**BY_SCORE, shuffle=False, validation_fraction=0.1, max_iter=4),
        X, y, sample_weight=weights,
    )  # fmt: skip
    # Total weight 42, a tenth is 4.2: the last two samples (weight 4).
    assert model.t_ == 38 * model.n_iter_
    assert model.score(X[38:], y[38:], sample_weight=weights[38:]) == pytest.approx(
        model.best_validation_score_, rel=1e-12
    )


def test_windows_of_one_series_validate_on_its_last_part():
    """The time-series guide's example: no window that ends in the
    validation part trains."""
    series = np.sin(np.arange(300) / 6.0)
    X, y = make_windows(series, window=12)
    n_val = int(round(0.2 * len(y)))
    model = _fit(
        LSTMRegressor(
            hidden_layer_sizes=(8,), early_stopping=True, scoring=None, shuffle=False,
            validation_fraction=0.2, max_iter=20, random_state=0,
        ),
        X, y,
    )  # fmt: skip
    assert model.t_ == (len(y) - n_val) * model.n_iter_
    assert model.score(X[-n_val:], y[-n_val:]) == pytest.approx(
        model.best_validation_score_, rel=1e-12
    )


# ------------------------------------------------------------------ scoring


@pytest.mark.parametrize("scoring", ["loss", "default"])
def test_scoring_loss_is_the_negated_validation_loss(scoring):
    """ "loss" is also the default early-stopping score."""
    X, y = _data()
    params = {} if scoring == "default" else {"scoring": scoring}
    model = _fit(LSTMRegressor(**TINY, **params, max_iter=8), X, y)
    assert len(model.validation_loss_curve_) == model.n_iter_
    assert_array_equal(
        model.validation_scores_, [-loss for loss in model.validation_loss_curve_]
    )


def test_scoring_string_uses_that_scorer():
    X, y = _data()
    model = _fit(
        LSTMRegressor(**TINY, scoring="neg_mean_absolute_error", max_iter=8),
        X[:40], y[:40], X_val=X[40:], y_val=y[40:],
    )  # fmt: skip
    assert model.best_validation_score_ == pytest.approx(
        -mean_absolute_error(y[40:], model.predict(X[40:])), rel=1e-12
    )


def test_scoring_callable_gets_the_validation_samples_as_given():
    """A callable scorer is called once per epoch with the estimator and the
    validation samples in the form fit got them (here the last 6 of a
    list of ragged sequences, with shuffle=False)."""
    X, y = _data()
    ragged = [x[: 2 + i % 4] for i, x in enumerate(X)]
    calls = []

    def scorer(estimator, X_val, y_val):
        calls.append((X_val, y_val))
        return -float(np.max(np.abs(estimator.predict(X_val) - y_val)))

    model = _fit(
        LSTMRegressor(**TINY, shuffle=False, scoring=scorer, max_iter=6), ragged, y
    )
    assert len(calls) == model.n_iter_
    X_seen, y_seen = calls[-1]
    assert isinstance(X_seen, list) and len(X_seen) == 6
    assert all(a is b for a, b in zip(X_seen, ragged[-6:], strict=True))
    assert_array_equal(y_seen, y[-6:])
    assert model.best_validation_score_ == pytest.approx(
        scorer(model, ragged[-6:], y[-6:]), rel=1e-12
    )


def test_unknown_scoring_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="not_a_scorer"):
        LSTMRegressor(**TINY, scoring="not_a_scorer").fit(X, y)


def test_validation_loss_curve_is_the_regressors_half_squared_error():
    """... of the standardized targets: the squared errors divided by the
    variance of the training targets."""
    X, y = _data()
    y = 50.0 * y + 300.0
    model = _fit(LSTMRegressor(**TINY, max_iter=8), X[:40], y[:40], X_val=X[40:],
                 y_val=y[40:])  # fmt: skip
    assert len(model.validation_loss_curve_) == len(model.validation_scores_)
    errors = (model.predict(X[40:]) - y[40:]) / np.std(y[:40])
    assert model.validation_loss_curve_[_best_epoch(model)] == pytest.approx(
        0.5 * np.mean(errors**2), rel=1e-10
    )


def test_no_validation_loss_curve_without_early_stopping():
    X, y = _data()
    model = _fit(LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2), X, y)
    assert model.validation_loss_curve_ is None
    assert model.validation_scores_ is None
