"""Training control, as users of scikit-learn's MLP know it.

Early stopping, the tol / n_iter_no_change rule, learning-rate schedules,
warm_start, partial_fit, verbose output, divergence, gradient clipping,
sample weights and the reproducibility of shuffling. Every model is tiny so
that the whole file runs in seconds.
"""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skseq import LSTMClassifier, LSTMRegressor

TINY = dict(hidden_layer_sizes=(4,))


def _regression_data(n=40, T=5, F=2, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    y = X[:, :2, 0].sum(axis=1) - 0.5 * X[:, -1, 1] + noise * rng.normal(size=n)
    return X, y


def _classification_data(n=40, T=5, F=2, seed=0, n_classes=3):
    X, y = _regression_data(n=n, T=T, F=F, seed=seed, noise=0.0)
    edges = np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(y, edges)


def _data_for(Estimator, **kwargs):
    if Estimator is LSTMClassifier:
        return _classification_data(**kwargs)
    return _regression_data(**kwargs)


def _fit_quietly(model, X, y, **fit_params):
    """Fit, ignoring only the max_iter ConvergenceWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **fit_params)


def _stopping_epoch(values, tol, n_iter_no_change, higher_is_better):
    """Replay the stopping rule on a curve; the 1-based epoch at which it
    stops, or None if it never does. Progress is measured from the last
    epoch that counted as progress, not from the best value so far."""
    sign = 1 if higher_is_better else -1
    reference = -np.inf
    count = 0
    for epoch, value in enumerate(values, start=1):
        stalled = sign * value < reference + tol
        if not stalled:
            reference = sign * value
        count = count + 1 if stalled else 0
        if count > n_iter_no_change:
            return epoch
    return None


@pytest.fixture
def validation_splits(monkeypatch):
    """Record the (train, validation) index arrays of every early-stopping
    split that skseq makes, without changing them."""
    from skseq._base import BaseLSTM

    splits = []
    original = BaseLSTM._validation_split

    def spy(self, *args, **kwargs):
        split = original(self, *args, **kwargs)
        if split is not None:
            splits.append(tuple(np.asarray(part) for part in split))
        return split

    monkeypatch.setattr(BaseLSTM, "_validation_split", spy)
    return splits


def _patience(model, n_train):
    """The stall rule's patience in epochs: n_iter_no_change epochs of at
    least ten optimizer steps."""
    batch_size = min(200, n_train) if model.batch_size == "auto" else model.batch_size
    steps_per_epoch = -(-n_train // batch_size)
    return model.n_iter_no_change * -(-10 // steps_per_epoch)


# ------------------------------------------------------------ early stopping

EARLY_STOPPING = dict(
    hidden_layer_sizes=(6,), early_stopping=True, scoring=None,
    validation_fraction=0.25,
    n_iter_no_change=2, tol=0.0, max_iter=60, batch_size=10,
    learning_rate_init=0.03, random_state=0,
)  # fmt: skip


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_early_stopping_records_scores_and_stops_on_a_stall(Estimator):
    X, y = _data_for(Estimator, n=60)
    model = Estimator(**EARLY_STOPPING)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    n_train = len(X) - round(model.validation_fraction * len(X))

    scores = model.validation_scores_
    assert isinstance(scores, list)
    assert len(scores) == model.n_iter_ == len(model.loss_curve_)
    assert all(np.isfinite(scores))
    assert model.best_validation_score_ == max(scores)
    assert model.best_loss_ is None
    # Stopped by the rule, well before max_iter, at exactly the epoch where
    # the score had not improved for its patience + 1 epochs.
    assert model.n_iter_ < model.max_iter
    assert model.n_iter_ == _stopping_epoch(
        scores, model.tol, _patience(model, n_train), higher_is_better=True
    )


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_early_stopping_off_leaves_validation_attributes_none(Estimator):
    X, y = _data_for(Estimator)
    model = _fit_quietly(Estimator(**TINY, max_iter=3, random_state=0), X, y)
    assert model.validation_scores_ is None
    assert model.best_validation_score_ is None
    assert model.best_loss_ == min(model.loss_curve_)


def test_early_stopping_restores_the_weights_of_the_best_epoch():
    X, y = _regression_data(n=60)
    model = LSTMRegressor(**EARLY_STOPPING).fit(X, y)
    best_epoch = int(np.argmax(model.validation_scores_)) + 1
    # With tol=0 the epochs after the best are strictly worse, so the last
    # epoch's weights are not the best ones: restoring them matters.
    assert best_epoch < model.n_iter_
    assert model.validation_scores_[-1] < model.best_validation_score_

    # The same fit cut at the best epoch ends with exactly those weights
    # (same seed: same initialisation, split and shuffles up to that epoch).
    cut = _fit_quietly(
        LSTMRegressor(**{**EARLY_STOPPING, "max_iter": best_epoch}), X, y
    )
    assert cut.n_iter_ == best_epoch
    assert cut.validation_scores_ == model.validation_scores_[:best_epoch]
    assert_array_equal(model.weights_, cut.weights_)


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_early_stopping_final_model_scores_best_on_held_out_part(
    Estimator, validation_splits
):
    X, y = _data_for(Estimator, n=60)
    model = Estimator(**EARLY_STOPPING).fit(X, y)
    assert len(validation_splits) == 1
    train_idx, val_idx = validation_splits[0]
    assert len(val_idx) == 15
    assert sorted(np.concatenate([train_idx, val_idx])) == list(range(60))
    assert model.validation_scores_[-1] < model.best_validation_score_
    assert model.score(X[val_idx], y[val_idx]) == pytest.approx(
        model.best_validation_score_, rel=1e-12, abs=1e-12
    )


@pytest.mark.parametrize("seed", range(4))
def test_early_stopping_split_is_stratified_for_classifiers(seed, validation_splits):
    X, _ = _regression_data(n=40)
    y = np.repeat(["a", "b", "c"], [20, 12, 8])
    model = LSTMClassifier(
        **TINY, early_stopping=True, validation_fraction=0.25, max_iter=1,
        random_state=seed,
    )  # fmt: skip
    _fit_quietly(model, X, y)
    ((train_idx, val_idx),) = validation_splits
    assert_array_equal(np.unique(y[val_idx], return_counts=True)[1], [5, 3, 2])
    assert_array_equal(np.unique(y[train_idx], return_counts=True)[1], [15, 9, 6])


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_partial_fit_ignores_early_stopping(Estimator):
    """As MLP's: partial_fit trains one epoch on all it is given, early
    stopping or not, and records no validation score."""
    X, y = _data_for(Estimator)
    kwargs = {"classes": np.unique(y)} if Estimator is LSTMClassifier else {}
    with_es = Estimator(**TINY, early_stopping=True, random_state=0)
    without = Estimator(**TINY, random_state=0)
    for _ in range(2):
        with_es.partial_fit(X, y, **kwargs)
        without.partial_fit(X, y, **kwargs)
    assert_array_equal(with_es.weights_, without.weights_)
    assert with_es.validation_scores_ is None
    assert with_es.t_ == 2 * len(X)

    # Also after a regular fit with early stopping.
    fitted = Estimator(**EARLY_STOPPING).fit(*_data_for(Estimator, n=60))
    t_before = fitted.t_
    fitted.partial_fit(X, y)
    assert fitted.t_ == t_before + len(X)
    assert np.isfinite(fitted.best_loss_)


def test_early_stopping_on_too_few_samples_trains_without_it():
    X, y = _regression_data(n=20)
    model = LSTMRegressor(
        **TINY, early_stopping=True, validation_fraction=0.05, max_iter=3,
        random_state=0,
    )  # fmt: skip
    with pytest.warns(UserWarning, match="without early stopping"):
        _fit_quietly(model, X, y)
    assert model.validation_scores_ is None
    assert model.best_validation_score_ is None
    assert model.t_ == 3 * len(X)  # every sample trained on
    assert np.isfinite(model.best_loss_)


def test_early_stopping_classifier_with_tiny_classes_still_fits():
    # 3 classes, 20 samples, 10 %: a class of 4 samples holds none out.
    X, y = _classification_data(n=20, n_classes=3)
    model = LSTMClassifier(
        **TINY, early_stopping=True, validation_fraction=0.1, max_iter=3,
        random_state=0,
    )  # fmt: skip
    _fit_quietly(model, X, y)
    assert set(model.predict(X)) <= set(np.unique(y))


def test_early_stopping_split_keeps_duplicates_on_one_side(validation_splits):
    """Copies of one sample never sit on both sides of the split: they would
    let the validation score see training samples."""
    X, y = _regression_data(n=30)
    X, y = np.concatenate([X, X, X]), np.concatenate([y, y, y])
    model = LSTMRegressor(
        **TINY, early_stopping=True, validation_fraction=0.3, max_iter=1,
        random_state=0,
    )  # fmt: skip
    _fit_quietly(model, X, y)
    ((train_idx, val_idx),) = validation_splits
    assert len(val_idx) == 27  # 9 samples of 3 copies: 30 % of 90 rows
    assert not set(train_idx % 30) & set(val_idx % 30)


def test_early_stopping_split_weight_equals_repetition(validation_splits):
    """A sample of weight k is held out exactly when its k copies are, so the
    split (and with it the fit) agrees with training on repeated samples."""
    X, y = _regression_data(n=40)
    weights = np.random.default_rng(1).integers(0, 4, size=40)
    params = dict(
        **TINY, early_stopping=True, validation_fraction=0.2, max_iter=1,
        random_state=0,
    )  # fmt: skip
    _fit_quietly(LSTMRegressor(**params), X, y, sample_weight=weights)
    _fit_quietly(LSTMRegressor(**params), X.repeat(weights, axis=0), y.repeat(weights))
    (_, val_weighted), (_, val_repeated) = validation_splits
    origin = np.arange(40).repeat(weights)
    assert_array_equal(np.unique(val_weighted), np.unique(origin[val_repeated]))


# --------------------------------------------------------- tol, n_iter_no_change


def test_training_loss_stall_stops_before_max_iter():
    X, y = _regression_data()
    model = LSTMRegressor(
        **TINY, tol=1e-2, n_iter_no_change=2, max_iter=300, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    assert model.n_iter_ < model.max_iter
    assert len(model.loss_curve_) == model.n_iter_
    assert model.n_iter_ == _stopping_epoch(
        model.loss_curve_, model.tol, _patience(model, 40), higher_is_better=False
    )
    assert model.best_loss_ == min(model.loss_curve_)


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("n_iter_no_change", [1, 3])
@pytest.mark.parametrize(
    "batch_size, epochs_per_count",
    # 40 samples: epochs of 10 steps or more count as one epoch each; an
    # epoch of s < 10 steps counts as 1 / ceil(10 / s) of one.
    [(1, 1), (4, 1), (10, 3), (20, 5), (30, 5), (40, 10), ("auto", 10)],
)
def test_patience_counts_epochs_of_ten_optimizer_steps(
    early_stopping, n_iter_no_change, batch_size, epochs_per_count
):
    """A stall of n_iter_no_change epochs ends a fit of ten batches per
    epoch; a fit of one batch per epoch runs on for ten times as many."""
    # tol=1e6: the first epoch always improves on +inf; every later one
    # stalls, so the fit stops at its patience + 2 epochs.
    X, y = _regression_data()
    model = LSTMRegressor(
        **TINY, tol=1e6, n_iter_no_change=n_iter_no_change, batch_size=batch_size,
        early_stopping=early_stopping, max_iter=50, random_state=0,
    )  # fmt: skip
    # With early stopping, a validation set of its own keeps all 40 samples
    # for training.
    validation = dict(X_val=X[:10], y_val=y[:10]) if early_stopping else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y, **validation)
    assert model.n_iter_ == n_iter_no_change * epochs_per_count + 2
    assert model.n_iter_ == _patience(model, 40) + 2


def test_tol_zero_runs_max_iter_and_warns():
    X, y = _regression_data()
    model = LSTMRegressor(
        **TINY, tol=0.0, n_iter_no_change=8, max_iter=8, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="reached max_iter epochs"):
        model.fit(X, y)
    assert model.n_iter_ == 8
    assert len(model.loss_curve_) == 8


# ------------------------------------------------------ learning-rate schedules

SGD = dict(
    hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.05, tol=0.0,
    n_iter_no_change=100, shuffle=False, random_state=0,
)  # fmt: skip


def test_constant_learning_rate_keeps_the_step():
    X, y = _regression_data()
    model = _fit_quietly(
        LSTMRegressor(**SGD, learning_rate="constant", max_iter=3), X, y
    )
    assert model._solver_state["learning_rate"] == 0.05


@pytest.mark.parametrize("n_epochs", [1, 3])
def test_invscaling_learning_rate_after_epochs(n_epochs):
    X, y = _regression_data(n=40)
    model = LSTMRegressor(
        **SGD, learning_rate="invscaling", power_t=0.25, max_iter=n_epochs
    )
    _fit_quietly(model, X, y)
    assert model.t_ == 40 * n_epochs
    assert model._solver_state["learning_rate"] == pytest.approx(
        0.05 / (40 * n_epochs + 1) ** 0.25, rel=1e-12
    )


def test_invscaling_learning_rate_carries_over_warm_start():
    # As scikit-learn's test_learning_rate_warmstart: two one-epoch fits.
    X, y = _regression_data(n=40)
    model = LSTMRegressor(
        **SGD, learning_rate="invscaling", power_t=0.25, max_iter=1, warm_start=True
    )
    _fit_quietly(model, X, y)
    _fit_quietly(model, X, y)
    assert model.t_ == 80
    assert model._solver_state["learning_rate"] == pytest.approx(
        0.05 / (80 + 1) ** 0.25, rel=1e-12
    )


def test_adaptive_learning_rate_divides_by_five_instead_of_stopping():
    X, y = _regression_data()
    # Ten batches per epoch: the patience is n_iter_no_change epochs.
    stall = dict(SGD, tol=1e6, n_iter_no_change=1, batch_size=4)
    # With a constant rate the stall stops the fit at epoch n_iter_no_change + 2.
    constant = LSTMRegressor(**stall, learning_rate="constant", max_iter=200)
    constant.fit(X, y)
    assert constant.n_iter_ == 3

    # With "adaptive" the same stall only divides the rate by 5 ...
    adaptive = _fit_quietly(
        LSTMRegressor(**stall, learning_rate="adaptive", max_iter=4), X, y
    )
    assert adaptive.n_iter_ == 4
    assert adaptive._solver_state["learning_rate"] == pytest.approx(0.05 / 5, rel=1e-12)

    # ... and the fit stops only once the rate has fallen to 1e-6 or below.
    adaptive = LSTMRegressor(**stall, learning_rate="adaptive", max_iter=200)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        adaptive.fit(X, y)
    n_divisions = 0
    rate = 0.05
    while rate > 1e-6:
        rate /= 5
        n_divisions += 1
    assert adaptive._solver_state["learning_rate"] == pytest.approx(rate, rel=1e-12)
    assert adaptive._solver_state["learning_rate"] <= 1e-6
    # Each division resets the count: two more stalled epochs per division.
    assert adaptive.n_iter_ == 3 + 2 * n_divisions
    assert adaptive.n_iter_ > constant.n_iter_


# ----------------------------------------------------------------- warm_start


def test_warm_start_continues_from_previous_weights():
    X, y = _regression_data()
    params = dict(
        **TINY,
        max_iter=20,
        tol=0.0,
        learning_rate_init=0.03,
        batch_size=10,
        random_state=0,
    )
    cold = _fit_quietly(LSTMRegressor(**params), X, y)
    first = list(cold.loss_curve_)

    warm = _fit_quietly(LSTMRegressor(**params, warm_start=True), X, y)
    warm.set_params(max_iter=5)
    _fit_quietly(warm, X, y)
    # As MLP: n_iter_ counts this call's epochs, the loss curve keeps growing.
    assert warm.n_iter_ == 5
    assert len(warm.loss_curve_) == 25
    assert warm.t_ == 25 * len(X)
    assert warm.loss_curve_[:20] == first
    resumed = warm.loss_curve_[20]
    assert resumed == pytest.approx(first[-1], rel=0.25)
    assert resumed < 0.5 * first[0]
    # A cold refit starts over from the first loss.
    _fit_quietly(cold, X, y)
    assert cold.loss_curve_[0] == first[0]
    assert cold.n_iter_ == 20


@pytest.mark.parametrize(
    "solver_params",
    [
        dict(solver="adam"),
        dict(solver="sgd", momentum=0.9),
        dict(solver="sgd", momentum=0.0, learning_rate="invscaling", power_t=0.5),
    ],
    ids=["adam", "sgd-momentum", "sgd-invscaling"],
)
def test_warm_start_in_two_parts_equals_one_fit(solver_params):
    # The weights and the optimizer state carry over: 3 epochs, then 2
    # more warm-started, are the same 5 epochs as one fit.
    X, y = _regression_data()
    params = dict(
        **TINY,
        **solver_params,
        tol=0.0,
        n_iter_no_change=100,
        learning_rate_init=0.02,
        shuffle=False,
        random_state=0,
    )
    whole = _fit_quietly(LSTMRegressor(**params, max_iter=5), X, y)
    parts = _fit_quietly(LSTMRegressor(**params, max_iter=3, warm_start=True), X, y)
    _fit_quietly(parts.set_params(max_iter=2), X, y)
    assert parts.n_iter_ == 2 and whole.n_iter_ == 5
    assert parts.t_ == whole.t_
    assert parts.loss_curve_ == whole.loss_curve_
    assert_array_equal(parts.weights_, whole.weights_)


def test_warm_start_cannot_change_hidden_layer_sizes():
    X, y = _regression_data()
    model = _fit_quietly(
        LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, warm_start=True,
                      random_state=0),
        X, y,
    )  # fmt: skip
    before = model.weights_.copy()
    model.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        model.fit(X, y)
    assert_array_equal(model.weights_, before)


@pytest.mark.parametrize("change", ["fewer", "other"])
def test_warm_start_classifier_needs_the_same_classes(change):
    X, y = _classification_data(n=30, n_classes=3)
    model = _fit_quietly(
        LSTMClassifier(**TINY, max_iter=2, warm_start=True, random_state=0), X, y
    )
    y_new = np.where(y == 2, 1, y) if change == "fewer" else np.where(y == 2, 7, y)
    with pytest.raises(ValueError, match="same classes"):
        model.fit(X, y_new)
    # The same classes are fine.
    _fit_quietly(model, X, y)
    assert model.n_iter_ == 2 and len(model.loss_curve_) == 4


# ---------------------------------------------------------------- partial_fit


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_first_partial_fit_equals_fit_with_one_epoch(Estimator):
    X, y = _data_for(Estimator)
    params = dict(**TINY, shuffle=False, batch_size=16, random_state=0)
    fitted = _fit_quietly(Estimator(**params, max_iter=1), X, y)
    kwargs = {"classes": np.unique(y)} if Estimator is LSTMClassifier else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        partial = Estimator(**params).partial_fit(X, y, **kwargs)
    assert partial.n_iter_ == fitted.n_iter_ == 1
    assert partial.t_ == fitted.t_ == 40
    assert partial.loss_curve_ == fitted.loss_curve_
    assert_array_equal(partial.weights_, fitted.weights_)


@pytest.mark.parametrize(
    "solver_params",
    [
        dict(solver="adam"),
        dict(solver="sgd", learning_rate="invscaling", momentum=0.0),
    ],
    ids=["adam", "sgd-invscaling"],
)
def test_partial_fit_calls_equal_fit_epochs(solver_params):
    # Each call is one epoch continuing the optimizer: three calls on the
    # same data are the three epochs of one fit.
    X, y = _regression_data()
    params = dict(
        **TINY,
        **solver_params,
        shuffle=False,
        tol=0.0,
        n_iter_no_change=100,
        random_state=0,
    )
    fitted = _fit_quietly(LSTMRegressor(**params, max_iter=3), X, y)
    partial = LSTMRegressor(**params)
    for _ in range(3):
        partial.partial_fit(X, y)
    assert partial.loss_curve_ == fitted.loss_curve_
    assert_array_equal(partial.weights_, fitted.weights_)


def test_partial_fit_runs_one_epoch_per_call():
    X, y = _regression_data(n=50)
    model = LSTMRegressor(**TINY, random_state=0)
    seen = 0
    for call, (start, stop) in enumerate([(0, 20), (20, 50), (0, 50)], start=1):
        model.partial_fit(X[start:stop], y[start:stop])
        seen += stop - start
        assert model.n_iter_ == 1  # one epoch per call, as MLP counts it
        assert model.t_ == seen
        assert len(model.loss_curve_) == call
        assert model.loss_ == model.loss_curve_[-1]


def test_partial_fit_reused_buffers_change_nothing(monkeypatch):
    # partial_fit keeps its (small) training buffers for the next call. Calls
    # with other batch sizes, longer and shorter sequences, ragged ones and
    # dropout must give exactly what an estimator without kept buffers gives
    # (a pickle round trip drops them; KEEP_WORKSPACE_BYTES = 0 never keeps).
    import pickle

    import skseq._training
    from skseq._network import LSTMNetwork

    allocations = []
    allocate = LSTMNetwork.allocate

    def spy(self, n_rows, n_timesteps, dtype, training):
        if training:
            allocations.append((n_rows, n_timesteps))
        return allocate(self, n_rows, n_timesteps, dtype, training)

    monkeypatch.setattr(LSTMNetwork, "allocate", spy)
    rng = np.random.default_rng(3)
    calls = []
    for n, T in [(12, 6), (20, 9), (7, 4), (12, 9)]:
        X = rng.normal(size=(n, T, 2))
        calls.append((X, X[:, 0, 0] - X[:, -1, 1]))
    ragged = [rng.normal(size=(L, 2)) for L in (8, 3, 5, 9, 2, 6)]
    calls.append((ragged, np.array([x[0, 0] for x in ragged])))
    params = dict(hidden_layer_sizes=(5, 3), dropout=0.2, batch_size=5, random_state=0)
    kept = LSTMRegressor(**params)
    for X, y in calls:
        kept.partial_fit(X, y)
    # New buffers only when a call's sequences are longer than ever before.
    assert allocations == [(5, 6), (5, 9)]
    allocations.clear()
    dropped = LSTMRegressor(**params)
    for X, y in calls:
        dropped = pickle.loads(pickle.dumps(dropped.partial_fit(X, y)))
    assert len(allocations) == len(calls)
    assert_array_equal(kept.weights_, dropped.weights_)
    assert kept.loss_curve_ == dropped.loss_curve_

    monkeypatch.setattr(skseq._training, "KEEP_WORKSPACE_BYTES", 0)
    allocations.clear()
    never = LSTMRegressor(**params)
    for X, y in calls:
        never.partial_fit(X, y)
    assert len(allocations) == len(calls)
    assert_array_equal(never.weights_, kept.weights_)
    # fit does not keep them either, and drops what partial_fit kept.
    monkeypatch.undo()
    monkeypatch.setattr(LSTMNetwork, "allocate", spy)
    _fit_quietly(kept.set_params(max_iter=2), *calls[0])
    allocations.clear()
    kept.partial_fit(*calls[0])
    assert allocations == [(5, 6)]


def test_adam_update_matches_the_formula():
    from skseq._numerics import adam_update

    rng = np.random.default_rng(0)
    for dtype, rtol in [(np.float64, 1e-14), (np.float32, 1e-6)]:
        w, g = rng.normal(size=(2, 1001)).astype(dtype)
        m = rng.normal(size=1001).astype(dtype)
        v = rng.uniform(0, 2, size=1001).astype(dtype)
        step, b1, b2, eps = 0.01, 0.8, 0.99, 1e-3
        m_ref = b1 * m.astype(np.float64) + (1 - b1) * g
        v_ref = b2 * v.astype(np.float64) + (1 - b2) * g.astype(np.float64) ** 2
        w_ref = w - step * m_ref / (np.sqrt(v_ref) + eps)
        adam_update(w, g, m, v, step, b1, b2, eps)
        assert_allclose(m, m_ref, rtol=rtol, atol=rtol)
        assert_allclose(v, v_ref, rtol=rtol)
        assert_allclose(w, w_ref, rtol=rtol)
    with pytest.raises(ValueError, match="one length"):
        adam_update(w, g[:-1], m, v, step, b1, b2, eps)


def test_partial_fit_classifier_classes():
    X, y = _classification_data(n=45, n_classes=3)
    model = LSTMClassifier(**TINY, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, y)

    # The first chunk holds only classes 0 and 1; `classes` announces 2.
    first = y < 2
    model.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert_array_equal(model.classes_, [0, 1, 2])
    assert model.predict_proba(X).shape == (45, 3)
    # Later chunks may lack classes too.
    only_two = y == 2
    model.partial_fit(X[only_two], y[only_two])
    model.partial_fit(X, y)
    assert model.n_iter_ == 1 and len(model.loss_curve_) == 3
    assert_array_equal(model.classes_, [0, 1, 2])
    assert set(model.predict(X)) <= {0, 1, 2}

    # A class never announced is refused, and the model is left untouched.
    before = model.weights_.copy()
    y_unseen = np.where(y == 2, 5, y)
    with pytest.raises(ValueError, match=r"classes"):
        model.partial_fit(X, y_unseen)
    assert len(model.loss_curve_) == 3
    assert_array_equal(model.weights_, before)


# -------------------------------------------------------------------- verbose

_LINE = re.compile(
    r"^Epoch (\d+)/(\d+), loss = (\S+?)(?:, validation score = (\S+?))?, "
    r"(\d+\.\d+) s(?:, up to (\d+\.\d) s left)?$"
)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_prints_one_line_per_epoch(capsys, early_stopping):
    X, y = _regression_data(n=40)
    model = LSTMRegressor(
        **TINY, max_iter=4, tol=0.0, n_iter_no_change=10, verbose=True,
        early_stopping=early_stopping, validation_fraction=0.25, random_state=0,
    )  # fmt: skip
    _fit_quietly(model, X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 4 == model.n_iter_
    for epoch, line in enumerate(lines, start=1):
        match = _LINE.match(line)
        assert match, line
        assert int(match.group(1)) == epoch
        assert int(match.group(2)) == 4
        assert float(match.group(3)) == pytest.approx(
            model.loss_curve_[epoch - 1], abs=1e-8
        )
        if early_stopping:
            assert float(match.group(4)) == pytest.approx(
                model.validation_scores_[epoch - 1], abs=1e-6
            )
        else:
            assert match.group(4) is None
        assert float(match.group(5)) >= 0
        # The time left is given while epochs remain.
        assert (match.group(6) is None) == (epoch == 4)


def test_verbose_silent_by_default(capsys):
    X, y = _regression_data()
    _fit_quietly(LSTMRegressor(**TINY, max_iter=2, random_state=0), X, y)
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------- divergence


def test_divergence_raises_and_leaves_a_finite_model():
    X, y = _regression_data(n=30)
    model = LSTMRegressor(
        hidden_layer_sizes=(8,), activation="relu", solver="sgd",
        learning_rate_init=1e3, momentum=0.0, max_grad_norm=None, max_iter=50,
        random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError) as excinfo:
            model.fit(X, y * 1e6)
    message = str(excinfo.value)
    assert "non-finite" in message
    assert "learning rate" in message
    assert "learning_rate_init=1000" in message
    assert "unscaled targets" in message
    assert np.all(np.isfinite(model.weights_))
    assert np.all(np.isfinite(model.loss_curve_))
    assert len(model.loss_curve_) == model.n_iter_


@pytest.fixture
def steps(monkeypatch):
    """Record, before every training step, the weights and a copy of the
    solver's state."""
    from skseq._base import BaseLSTM

    records = []
    original = BaseLSTM._train_batch

    def spy(self, network, weights, grad, workspace, optimizer, *args):
        state = {
            key: value.copy() if isinstance(value, np.ndarray) else value
            for key, value in optimizer.state().items()
        }
        records.append((weights.copy(), state))
        return original(self, network, weights, grad, workspace, optimizer, *args)

    monkeypatch.setattr(BaseLSTM, "_train_batch", spy)
    return records


def _assert_same_state(state, expected):
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert np.all(np.isfinite(state[key]))
            assert_array_equal(state[key], value)
        else:
            assert state[key] == value


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize(
    "dtype, max_iter", [(np.float32, 1), (np.float32, 3), (np.float64, 3)]
)
def test_a_step_that_would_be_non_finite_is_rolled_back(steps, max_iter, dtype, solver):
    """A learning rate of 1e300 makes the first update overflow in float32
    (in float64 the first step is finite and the loss after it is not): the
    fit stops with the clear error, the weights and the solver's state are
    exactly those before the refused step, and the stored counters match."""
    X, y = _classification_data(n=40)
    X = X.astype(dtype)
    params = dict(
        **TINY, solver=solver, learning_rate_init=1e300, max_iter=max_iter,
        batch_size=40, random_state=0,
    )  # fmt: skip
    model = LSTMClassifier(**params)
    with pytest.raises(ValueError, match="last finite values") as excinfo:
        model.fit(X, y)
    assert "non-finite" in str(excinfo.value)
    assert "learning_rate_init=1e+300" in str(excinfo.value)
    if dtype is np.float32:
        assert "would have made the weights" in str(excinfo.value)
    n_taken = len(steps) - 1  # the last recorded step was refused
    weights_before, state_before = steps[-1]
    assert model.weights_.dtype == dtype
    assert np.all(np.isfinite(model.weights_))
    assert_array_equal(model.weights_, weights_before)
    _assert_same_state(model._solver_state, state_before)
    if solver == "adam":
        assert model._solver_state["t"] == n_taken
    assert model.t_ == 40 * n_taken
    # One step per epoch here: the steps taken are the epochs of a fit that
    # stops just before the refused one.
    if n_taken:
        reference = _fit_quietly(
            LSTMClassifier(**{**params, "max_iter": n_taken}), X, y
        )
        assert_array_equal(model.weights_, reference.weights_)
        _assert_same_state(model._solver_state, reference._solver_state)


def test_a_refused_step_mid_epoch_keeps_the_steps_before_it(steps):
    """With several batches per epoch, the fit keeps the steps of the epoch
    taken before the refused one, and counts their samples."""
    X, y = _regression_data(n=40)
    model = LSTMRegressor(
        hidden_layer_sizes=(8,), activation="relu", solver="sgd",
        learning_rate_init=1e3, momentum=0.0, max_grad_norm=None, max_iter=50,
        batch_size=10, random_state=0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="last finite values"):
        model.fit(X, y * 1e6)
    n_taken = len(steps) - 1
    assert n_taken % 4 != 0  # refused in the middle of an epoch
    assert model.n_iter_ == n_taken // 4 == len(model.loss_curve_)
    assert model.t_ == 10 * n_taken
    assert np.all(np.isfinite(model.weights_))
    assert_array_equal(model.weights_, steps[-1][0])
    _assert_same_state(model._solver_state, steps[-1][1])


@pytest.mark.parametrize(
    "optimizer_step",
    ["adam", "sgd", "sgd_nesterov"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_step_that_would_overflow_writes_nothing(optimizer_step, dtype):
    """One element whose update overflows: the compiled step returns False
    and leaves every array bit for bit as it was."""
    from skseq._numerics import adam_update, sgd_update

    rng = np.random.default_rng(0)
    huge = np.finfo(dtype).max
    w, g, m = rng.normal(size=(3, 101)).astype(dtype)
    v = rng.uniform(0, 2, size=101).astype(dtype)
    # SGD: the step overflows the weight; Adam: the squared gradient
    # overflows the second moment (the weight itself would stay finite).
    w[50], g[50] = huge, -huge
    arrays = (w, g, m, v)
    before = [a.copy() for a in arrays]
    if optimizer_step == "adam":
        ok = adam_update(w, g, m, v, 1.0, 0.9, 0.999, 1e-8)
    else:
        ok = sgd_update(w, g, m, 1.0, 0.9, optimizer_step == "sgd_nesterov")
    assert ok is False
    for after, original in zip(arrays, before, strict=True):
        assert_array_equal(after, original)
        assert after.tobytes() == original.tobytes()
    # Without the huge values the same step is taken.
    w[50], g[50] = 0.0, -1.0
    if optimizer_step == "adam":
        assert adam_update(w, g, m, v, 1.0, 0.9, 0.999, 1e-8) is True
    else:
        assert sgd_update(w, g, m, 1.0, 0.9, optimizer_step == "sgd_nesterov")
    assert not np.array_equal(w, before[0])


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_update_matches_the_formula(nesterov):
    from skseq._numerics import sgd_update

    rng = np.random.default_rng(0)
    for dtype, rtol in [(np.float64, 1e-14), (np.float32, 1e-6)]:
        w, g, u = rng.normal(size=(3, 1001)).astype(dtype)
        lr, mu = 0.05, 0.8
        u_ref = mu * u.astype(np.float64) - lr * g
        step = mu * u_ref - lr * g if nesterov else u_ref
        w_ref = w + step
        assert sgd_update(w, g, u, lr, mu, nesterov) is True
        assert_allclose(u, u_ref, rtol=rtol, atol=rtol)
        assert_allclose(w, w_ref, rtol=rtol, atol=rtol)
    with pytest.raises(ValueError, match="one length"):
        sgd_update(w, g[:-1], u, lr, mu, nesterov)


def test_forget_bias_beyond_the_precision_is_refused():
    """forget_bias=1e300 is no float32 number: refused up front rather than
    becoming an infinite weight; in float64 it is one and the fit runs."""
    X, y = _regression_data(n=20)
    model = LSTMRegressor(**TINY, forget_bias=1e300, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=r"forget_bias=1e\+300 is beyond .*float32"):
        model.fit(X.astype(np.float32), y)
    assert not hasattr(model, "weights_")
    _fit_quietly(model, X, y)
    assert np.all(np.isfinite(model.weights_))
    with pytest.raises(ValueError, match="beyond the range of float64"):
        LSTMRegressor(**TINY, forget_bias=10**400).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_finite_divergence_restores_the_best_epoch_and_warns(dtype):
    """SGD with a learning rate of 10 on targets of order 1e3 climbs by orders
    of magnitude and stalls: the fit does not end as if it had converged, but
    comes back to its best epoch with a ConvergenceWarning."""
    X, y = _regression_data(n=40)
    X = X.astype(dtype)
    # One step per epoch: n_iter_no_change=1 is a patience of ten epochs.
    params = dict(
        **TINY, solver="sgd", learning_rate_init=10.0, max_grad_norm=None,
        n_iter_no_change=1, random_state=0,
    )  # fmt: skip
    model = LSTMRegressor(**params)
    with pytest.warns(ConvergenceWarning, match="training loss diverged") as record:
        model.fit(X, 1e3 * y)
    message = str(record[0].message)
    assert "lowest training loss were restored" in message
    assert "learning_rate_init=10.0" in message
    curve = model.loss_curve_
    assert curve[-1] > 1e6 * min(curve)
    assert model.n_iter_ < model.max_iter
    best_epoch = int(np.argmin(curve)) + 1
    reference = _fit_quietly(LSTMRegressor(**params, max_iter=best_epoch), X, 1e3 * y)
    assert_array_equal(model.weights_, reference.weights_)
    _assert_same_state(model._solver_state, reference._solver_state)
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize(
    "curve, diverged",
    [
        ([1.0, 0.5, 20.0], True),  # above the start, 40 times the lowest
        ([1.0, 1e-3, 1e80], True),
        ([1.0, 0.2, 1.5], False),  # above the start but 7.5 times the lowest
        ([1.0, 1e-12, 1e-6], False),  # a jump near the floor: it learned
        ([1.0, 0.5, 0.9], False),
        ([1.0], False),
    ],
)
def test_divergence_rule_on_loss_curves(curve, diverged):
    """The documented rule: a run diverged when it ends above its first
    epoch's loss and more than DIVERGED_LOSS_RATIO times its lowest; then the
    best epoch comes back with a ConvergenceWarning."""
    from skseq._training import DIVERGED_LOSS_RATIO, _Snapshot

    assert DIVERGED_LOSS_RATIO == 10
    best_weights, last_weights = np.zeros(3), np.ones(3)
    best = _Snapshot()
    best.keep(best_weights, {"t": 1, "first_moment": np.zeros(3)}, min(curve))
    model = LSTMRegressor()
    weights = last_weights.copy()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model._end_run(weights, best, curve, early_stopping=False)
    assert len(record) == diverged
    assert_array_equal(weights, best_weights if diverged else last_weights)
    if diverged:
        assert issubclass(record[0].category, ConvergenceWarning)
        assert model._solver_state["t"] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_early_stopping_diverging_fit_keeps_the_best_validation_epoch(dtype):
    """relu, SGD at learning rate 3, no clipping, on iris. The validation
    outputs become non-finite (score -inf, no crash in the scorer), then a
    step is refused: the error says so and the estimator
    holds the weights of its best validation epoch, finite and predicting
    finite values."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = X.astype(dtype)
    params = dict(
        hidden_layer_sizes=100, activation="relu", solver="sgd",
        learning_rate_init=3, max_grad_norm=None, early_stopping=True,
        max_iter=20, random_state=0,
    )  # fmt: skip
    model = LSTMRegressor(**params)
    with pytest.raises(ValueError, match="best validation score"):
        model.fit(X, y)
    assert model.validation_scores_[-1] == -np.inf
    best_epoch = int(np.argmax(model.validation_scores_)) + 1
    assert np.isfinite(model.best_validation_score_)
    assert np.all(np.isfinite(model.weights_))
    assert np.all(np.isfinite(model.predict(X)))
    reference = _fit_quietly(LSTMRegressor(**{**params, "max_iter": best_epoch}), X, y)
    assert_array_equal(model.weights_, reference.weights_)
    _assert_same_state(model._solver_state, reference._solver_state)


def test_early_stopping_non_finite_validation_outputs_never_count(monkeypatch):
    """Validation outputs that are never finite score -inf, count as epochs
    without improvement, and end the fit with the clear error instead of a
    model that predicts NaN."""
    from skseq._base import BaseLSTM

    def non_finite_outputs(self, sequences):
        return np.full((len(sequences), self.n_outputs_), np.nan)

    monkeypatch.setattr(BaseLSTM, "_forward_raw", non_finite_outputs)
    X, y = _regression_data(n=40)
    model = LSTMRegressor(**{**EARLY_STOPPING, "tol": 1e-4})
    with pytest.raises(ValueError, match="non-finite at every epoch"):
        model.fit(X, y)
    # The stall rule's patience + 1 epochs (30 training samples held in).
    assert model.validation_scores_ == [-np.inf] * (_patience(model, 30) + 1)


# --------------------------------------------------------------- max_grad_norm


def _one_full_batch_step(max_grad_norm, n_steps_per_epoch=1):
    X, y = _regression_data(n=40)
    model = LSTMRegressor(
        hidden_layer_sizes=(6,), solver="sgd", momentum=0.0,
        learning_rate_init=0.1, max_grad_norm=max_grad_norm,
        batch_size=40 // n_steps_per_epoch, shuffle=False, random_state=0,
    )  # fmt: skip
    model.partial_fit(X, 10 * y)
    before = model.weights_.copy()
    model.partial_fit(X, 10 * y)
    return float(np.linalg.norm(model.weights_ - before))


def test_max_grad_norm_bounds_each_step():
    lr, clip = 0.1, 1e-3
    moved = _one_full_batch_step(clip)
    # One step of SGD without momentum moves by lr * min(||g||, clip); the
    # gradient here is far above the clip, so the bound is reached.
    assert moved <= lr * clip * (1 + 1e-9)
    assert moved == pytest.approx(lr * clip, rel=1e-6)
    # Four steps per epoch: at most four clipped steps.
    assert _one_full_batch_step(clip, n_steps_per_epoch=4) <= 4 * lr * clip * (1 + 1e-9)
    # Without clipping the same step is much larger.
    assert _one_full_batch_step(None) > 100 * lr * clip


# --------------------------------------------------------------- sample weight


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_integer_sample_weight_equals_repeated_samples(Estimator):
    X, y = _data_for(Estimator, n=24)
    weights = np.tile([1, 2, 0, 3], 6)
    X_rep, y_rep = np.repeat(X, weights, axis=0), np.repeat(y, weights)
    if Estimator is LSTMClassifier:
        assert_array_equal(np.unique(y_rep), np.unique(y))
    params = dict(
        **TINY,
        batch_size="auto",
        shuffle=False,
        tol=0.0,
        n_iter_no_change=100,
        max_iter=5,
        random_state=0,
    )
    weighted = _fit_quietly(Estimator(**params), X, y, sample_weight=weights)
    repeated = _fit_quietly(Estimator(**params), X_rep, y_rep)
    assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-6)
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-6, atol=1e-9)
    if Estimator is LSTMClassifier:
        assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6)
    else:
        assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6)
    # Not trivially equal: the weights do change the fit.
    unweighted = _fit_quietly(Estimator(**params), X, y)
    assert not np.allclose(unweighted.weights_, weighted.weights_, rtol=1e-6)


# ------------------------------------------------------------ reproducibility


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_shuffling_is_reproducible_and_matters(Estimator, dropout):
    X, y = _data_for(Estimator)
    params = dict(
        **TINY, batch_size=8, max_iter=4, tol=0.0, dropout=dropout, random_state=3
    )
    a = _fit_quietly(Estimator(**params), X, y)
    b = _fit_quietly(Estimator(**params), X, y)
    assert a.loss_curve_ == b.loss_curve_
    assert_array_equal(a.weights_, b.weights_)

    unshuffled = _fit_quietly(Estimator(**params, shuffle=False), X, y)
    assert unshuffled.loss_curve_ != a.loss_curve_
    # The first epoch already sees the batches in another order.
    assert unshuffled.loss_curve_[0] != a.loss_curve_[0]
    # Shuffling also follows the seed: a RandomState instance drawn the same
    # way gives the same fit.
    c = _fit_quietly(
        Estimator(**{**params, "random_state": np.random.RandomState(3)}), X, y
    )
    assert c.loss_curve_ == a.loss_curve_


def test_validation_score_ties_are_broken_by_the_training_loss():
    """A validation score saturated from the first epoch on must not pin the
    model to that epoch: of the epochs that tie the best score, the one with
    the lowest training loss is kept."""
    from types import SimpleNamespace

    from skseq._training import _Snapshot

    model = LSTMClassifier(early_stopping=True)
    model.n_iter_, model.loss_curve_, model.validation_scores_ = 0, [], []
    model.best_validation_score_, model._no_improvement_count = -np.inf, 0
    model.validation_loss_curve_ = []
    validation = SimpleNamespace(evaluate=lambda estimator, scorer: (1.0, 0.5))
    run = SimpleNamespace(
        validation=validation, scorer=None, best=_Snapshot(),
        optimizer=SimpleNamespace(),
    )  # fmt: skip
    run.optimizer.state = dict
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 1.0, 1.5]):
        run.weights = np.full(3, float(epoch))
        model._end_epoch(run, loss)
    assert run.best.loss == 1.0
    assert run.best.epoch == 4
    assert_array_equal(run.best.weights, 3.0)
    assert model.validation_scores_ == [1.0] * 5
