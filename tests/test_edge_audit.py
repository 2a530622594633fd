"""Promises at the edges of the three cells' estimators, one test each, run
for every cell where the cell matters.

Switching solvers between warm-started fits, univariate sequences given as
a 2-D array to a model fitted on 3-D or ragged ones, per-step class weights
that leave nothing to learn, missing values in a list of nullable frames,
the feature-name warning of the small-batch path, a state that is not finite,
scorer names and callables with per-step outputs, per-step targets without
return_sequences, scorers that never score, float32 weights beyond
float32's range, lists of 1-D arrays of equal lengths, and X or list items
that are not sequences.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from ._estimators import CLASSIFIERS, REGRESSORS

# Two epochs are enough for every promise here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
TINY = dict(hidden_layer_sizes=(3,), max_iter=2, random_state=0)


def _data(n=12, T=4, F=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T, F)), rng.normal(size=n)


@pytest.mark.parametrize("first, second", [("adam", "sgd"), ("sgd", "adam")])
@pytest.mark.parametrize("incremental", [False, True])
def test_solver_switch_starts_the_new_solver_afresh(first, second, incremental):
    """A warm-started fit or a partial_fit after ``solver`` changed trains
    with the new solver from the current weights; its state is the new
    solver's, as a fresh fit of that solver would have it after as many
    steps."""
    X, y = _data()
    model = REGRESSORS[0](solver=first, warm_start=True, batch_size=12, **TINY)
    model.fit(X, y)
    weights = model.weights_.copy()
    model.set_params(solver=second)
    if incremental:
        model.partial_fit(X, y)
    else:
        model.fit(X, y)
    keys = {"adam": {"t", "first_moment", "second_moment"},
            "sgd": {"velocity", "learning_rate"}}[second]  # fmt: skip
    assert set(model._solver_state) == keys
    assert not np.array_equal(model.weights_, weights)
    assert np.all(np.isfinite(model.weights_))
    if second == "adam":
        # One epoch of one batch per call: as many Adam steps as epochs run.
        assert model._solver_state["t"] == (1 if incremental else model.n_iter_)


@pytest.mark.parametrize("Estimator", REGRESSORS)
def test_univariate_model_reads_2d_sequences(Estimator):
    """A model fitted on 3-D or ragged univariate sequences predicts the
    same sequences given as a 2-D array or a list of equal-length 1-D
    sequences: their columns are steps, not features."""
    rng = np.random.default_rng(1)
    ragged = [rng.normal(size=k) for k in (3, 4, 5, 2)]
    model = Estimator(**TINY).fit(ragged, rng.normal(size=4))
    equal = [rng.normal(size=3) for _ in range(3)]
    expected = model.predict(np.stack(equal)[:, :, None])
    assert_array_equal(model.predict(equal), expected)
    assert_array_equal(model.predict(np.stack(equal)), expected)
    assert_array_equal(model.predict([equal[0]]), expected[:1])
    X3, y = _data(F=1)
    model = Estimator(**TINY).fit(X3, y)
    assert_array_equal(model.predict(X3[:, :, 0]), model.predict(X3))
    # Two features per step cannot be read from a 2-D X.
    model = Estimator(**TINY).fit(*_data(F=2))
    with pytest.raises(ValueError, match="2 features per step; a 2-D X"):
        model.predict(X3[:, :, 0])
    # A model fitted on a table still counts its columns.
    model = Estimator(**TINY).fit(X3[:, :, 0], y)
    with pytest.raises(ValueError, match="X has 3 features, but"):
        model.predict(X3[:, :3, 0])


@pytest.mark.parametrize("Estimator", CLASSIFIERS)
def test_per_step_class_weights_zero_everywhere_are_refused(Estimator):
    """Per-step class weights (times the sample weights) that are zero at
    every real step are refused, as per-sequence ones are."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 4, 2))
    y = rng.integers(0, 2, size=(10, 4))
    model = Estimator(return_sequences=True, class_weight={0: 0.0, 1: 0.0}, **TINY)
    with pytest.raises(ValueError, match="at least one non-zero number"):
        model.fit(X, y)
    y[0] = 0  # the only weighted sequence has class 0 only, weighted zero
    model = Estimator(return_sequences=True, class_weight={0: 0.0, 1: 1.0}, **TINY)
    with pytest.raises(ValueError, match="at least one non-zero number"):
        model.fit(X, y, sample_weight=np.r_[1.0, np.zeros(9)])
    # Weight on one real step is enough.
    y[0, 0] = 1
    model.fit(X, y, sample_weight=np.r_[1.0, np.zeros(9)])
    assert model.loss_curve_[0] > 0


@pytest.mark.parametrize("Estimator", REGRESSORS)
def test_missing_values_in_a_list_of_nullable_frames(Estimator):
    """pd.NA in a frame of a ragged list gets the NaN error a 2-D frame
    gets, naming the sequence."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(4, 2)), columns=["a", "b"]).astype("Float64")
    frame.iloc[0, 0] = pd.NA
    with pytest.raises(ValueError, match=r"Input X\[0\] contains NaN"):
        Estimator(**TINY).fit([frame, frame.iloc[:3]], rng.normal(size=2))
    clean = frame.fillna(0.5)
    model = Estimator(**TINY).fit([clean, clean.iloc[:3]], rng.normal(size=2))
    values = clean.to_numpy(float)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        expected = model.predict([values, values[:3]])
    assert_array_equal(model.predict([clean, clean.iloc[:3]]), expected)


@pytest.mark.parametrize("Estimator", REGRESSORS)
@pytest.mark.parametrize("order", ["C", "F"])
def test_feature_name_warning_on_every_path(Estimator, order):
    """A model fitted on frames with column names warns when it predicts
    an array without names, on the small-batch path as on the others."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(4)
    frames = [pd.DataFrame(rng.normal(size=(k, 2)), columns=["a", "b"]) for k in (3, 4)]
    model = Estimator(**TINY).fit(frames, rng.normal(size=2))
    X = np.asarray(rng.normal(size=(2, 4, 2)), order=order)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        named = model.predict(X)
    # Without names at fit, the small batch warns about nothing.
    plain = Estimator(**TINY).fit([f.to_numpy() for f in frames], rng.normal(size=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.predict(X)
    assert named.shape == (2,)


@pytest.mark.parametrize("Estimator", REGRESSORS)
def test_non_finite_state_is_named(Estimator):
    """A state holding NaN makes predict_step name the state, not the
    input's scale."""
    X, y = _data()
    model = Estimator(**TINY).fit(X, y)
    state = model.initial_state(len(X))
    _, good = model.predict_step(X[:, 0], state)
    name = [key for key in good if key != "cell"][-1]
    bad = dict(good)
    bad[name] = (np.full_like(good[name][0], np.nan),)
    with pytest.raises(ValueError, match=rf"state\['{name}'\]\[0\] contains NaN"):
        model.predict_step(X[:, 1], bad)
    # The rejected call changed nothing: the good state still steps on.
    model.predict_step(X[:, 1], good)


@pytest.mark.parametrize(
    "Estimator, scoring, n_classes",
    [
        (REGRESSORS[0], "r2", None),
        (REGRESSORS[1], "neg_mean_absolute_error", None),
        (CLASSIFIERS[0], "accuracy", 2),
        (CLASSIFIERS[1], "balanced_accuracy", 3),
        (CLASSIFIERS[2], "neg_log_loss", 3),
        (CLASSIFIERS[0], "roc_auc", 2),
    ],
)
def test_scorer_names_score_every_real_step(Estimator, scoring, n_classes):
    """A scorer name scores a per-step model's validation outputs with one
    sample per real step and its sequence's weight: the metric of the
    flattened steps of predict, whatever the padding."""
    from sklearn import metrics

    rng = np.random.default_rng(5)
    lengths = rng.integers(2, 7, size=40)
    X = [rng.normal(size=(k, 2)) for k in lengths]
    if n_classes is None:
        y = [rng.normal(size=k) for k in lengths]
    else:
        y = [rng.integers(0, n_classes, size=k) for k in lengths]
    X_val, y_val = X[30:], y[30:]
    weights = rng.uniform(0.5, 2.0, size=10)
    model = Estimator(
        return_sequences=True,
        early_stopping=True,
        scoring=scoring,
        hidden_layer_sizes=(3,),
        max_iter=1,
        random_state=0,
    ).fit(X[:30], y[:30], X_val=X_val, y_val=y_val, sample_weight_val=weights)
    w = np.repeat(weights, lengths[30:])
    truth = np.concatenate(y_val)
    if n_classes is not None:
        proba = np.concatenate(model.predict_proba(X_val))
    predicted = np.concatenate(model.predict(X_val))
    expected = {
        "r2": lambda: metrics.r2_score(truth, predicted, sample_weight=w),
        "neg_mean_absolute_error": lambda: (
            -metrics.mean_absolute_error(truth, predicted, sample_weight=w)
        ),
        "accuracy": lambda: metrics.accuracy_score(truth, predicted, sample_weight=w),
        "balanced_accuracy": lambda: metrics.balanced_accuracy_score(
            truth, predicted, sample_weight=w
        ),
        "neg_log_loss": lambda: (
            -metrics.log_loss(truth, proba, sample_weight=w, labels=model.classes_)
        ),
        "roc_auc": lambda: metrics.roc_auc_score(truth, proba[:, 1], sample_weight=w),
    }[scoring]()
    assert model.validation_scores_[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("ragged", [False, True])
def test_callable_scorer_gets_per_step_targets(ragged):
    """A callable scorer of a per-step model gets the validation samples as
    given (per-step targets, ragged ones as a list) and one weight per
    sequence; its value is the validation score."""
    rng = np.random.default_rng(6)
    lengths = rng.integers(2, 6, size=30) if ragged else np.full(30, 4)
    X = [rng.normal(size=(k, 2)) for k in lengths]
    y = [rng.normal(size=k) for k in lengths]
    if not ragged:
        X, y = np.stack(X), np.stack(y)
    weights = rng.uniform(0.5, 2.0, size=30)
    seen = []

    def scorer(estimator, X_val, y_val, sample_weight=None):
        predicted = estimator.predict(X_val)
        seen.append((len(X_val), [np.shape(t) for t in y_val], sample_weight))
        return -sum(
            float(np.sum((np.ravel(p) - np.ravel(t)) ** 2))
            for p, t in zip(predicted, y_val, strict=True)
        )

    model = REGRESSORS[0](
        return_sequences=True, early_stopping=True, scoring=scorer, **TINY
    ).fit(X, y, sample_weight=weights)
    assert len(seen) == model.n_iter_ == len(model.validation_scores_)
    n_val, step_shapes, seen_weights = seen[0]
    assert 0 < n_val < 30 and len(step_shapes) == n_val
    assert set(step_shapes) <= {(k,) for k in lengths}
    assert seen_weights.shape == (n_val,)
    assert set(seen_weights) <= set(weights.astype(seen_weights.dtype))


@pytest.mark.parametrize("Estimator", [REGRESSORS[1], CLASSIFIERS[1]])
def test_per_step_targets_without_return_sequences(Estimator):
    """Targets of different lengths, one array per sequence, name
    return_sequences instead of failing in NumPy."""
    rng = np.random.default_rng(7)
    X = [rng.normal(size=(k, 2)) for k in (3, 4, 5)]
    y = [rng.integers(0, 2, size=k) for k in (3, 4, 5)]
    with pytest.raises(ValueError, match="need return_sequences=True"):
        Estimator(**TINY).fit(X, y)
    # The same targets are taken with return_sequences=True.
    Estimator(return_sequences=True, **TINY).fit(X, y)


def test_non_finite_scores_blame_the_scorer():
    """A scorer that never returns a finite value on finite outputs is named
    as the cause, not the model's outputs."""
    X, y = _data(n=30)
    model = REGRESSORS[0](
        early_stopping=True, scoring=lambda *args, **kwargs: float("nan"), **TINY
    )
    with pytest.raises(ValueError, match="the scorer returns NaN or infinity"):
        model.fit(X, y)


def test_float32_weights_beyond_float32_range_are_refused():
    """float32 sample weights whose total float32 cannot hold are an error
    (the losses divide by the total weight), not overflowing sums."""
    X, y = _data(n=30)
    X = X.astype(np.float32)
    with pytest.raises(ValueError, match="beyond the range of float32"):
        REGRESSORS[0](**TINY).fit(X, y, sample_weight=np.full(30, 3e38))
    # In float64 the same weights are fine, and so are large float32 ones.
    REGRESSORS[0](**TINY).fit(X.astype(np.float64), y, sample_weight=np.full(30, 3e38))
    REGRESSORS[0](**TINY).fit(X, y, sample_weight=np.full(30, 1e30))


def test_scorer_needing_probabilities_fails_alike_per_step():
    """A scorer a regressor cannot serve fails as it does for one output
    per sequence, naming the estimator and the missing method."""
    X, y = _data(n=30)
    Y = np.repeat(y[:, None], X.shape[1], axis=1)
    for return_sequences, targets in ((False, y), (True, Y)):
        model = REGRESSORS[1](
            early_stopping=True, scoring="neg_log_loss",
            return_sequences=return_sequences, **TINY,
        )  # fmt: skip
        with pytest.raises(AttributeError, match="GRURegressor has none of"):
            model.fit(X, targets)


@pytest.mark.parametrize("Estimator", [REGRESSORS[2], CLASSIFIERS[2]])
@pytest.mark.parametrize("shuffle", [False, True])
def test_zero_weight_samples_are_absent_across_batches(Estimator, shuffle):
    """Samples of weight zero change nothing, in batches of their own or
    mixed with others: the fit equals the fit without them, bit for bit
    (weights, losses, epochs and the stall rule's patience)."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 4, 2))
    y = rng.integers(0, 2, size=30) if Estimator in CLASSIFIERS else rng.normal(size=30)
    weights = rng.uniform(0.5, 2.0, size=30)
    weights[:10] = 0.0  # one whole batch without shuffling
    weights[[15, 22]] = 0.0
    kept = weights > 0
    params = dict(hidden_layer_sizes=(3,), max_iter=30, batch_size=10,
                  shuffle=shuffle, tol=1e-2, random_state=0)  # fmt: skip
    with_zeros = Estimator(**params).fit(X, y, sample_weight=weights)
    without = Estimator(**params).fit(X[kept], y[kept], sample_weight=weights[kept])
    assert_array_equal(with_zeros.weights_, without.weights_)
    assert with_zeros.loss_curve_ == without.loss_curve_
    assert with_zeros.n_iter_ == without.n_iter_


def test_epoch_loss_is_the_weighted_mean_over_samples():
    """An epoch's loss is the mean over its samples weighted by
    sample_weight, however they fall into batches: with steps too small to
    move the weights, batches of 5 report the loss of one batch of all."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(20, 4, 2))
    y = rng.normal(size=20)
    weights = np.r_[np.full(5, 0.1), np.full(15, 3.0)]
    params = dict(hidden_layer_sizes=(3,), max_iter=1, solver="sgd", momentum=0.0,
                  learning_rate_init=1e-12, alpha=0.0, shuffle=False,
                  random_state=0)  # fmt: skip
    batches = REGRESSORS[0](batch_size=5, **params).fit(X, y, sample_weight=weights)
    whole = REGRESSORS[0](batch_size=20, **params).fit(X, y, sample_weight=weights)
    assert batches.loss_curve_[0] == pytest.approx(whole.loss_curve_[0], rel=1e-9)


@pytest.mark.parametrize("lengths", [(5, 5, 5, 5), (3, 4, 5, 6)])
@pytest.mark.parametrize("item_ndim", [1, 2])
def test_a_list_of_float32_arrays_stays_float32(lengths, item_ndim):
    """float32 sequences in a list are trained and predicted in float32,
    whether they share one length or not."""
    rng = np.random.default_rng(10)
    shape = (lambda k: (k,)) if item_ndim == 1 else (lambda k: (k, 2))
    X = [rng.normal(size=shape(k)).astype(np.float32) for k in lengths]
    model = REGRESSORS[1](**TINY).fit(X, rng.normal(size=len(X)))
    assert model.weights_.dtype == np.float32
    assert model.predict(X).dtype == np.float32
    # Mixed precisions are read as float64, as any list is.
    mixed = [*X[:-1], X[-1].astype(np.float64)]
    assert (
        REGRESSORS[1](**TINY).fit(mixed, np.ones(len(X))).weights_.dtype == np.float64
    )


@pytest.mark.parametrize("Estimator", REGRESSORS)
def test_a_list_of_1d_arrays_is_univariate_sequences_at_any_length(Estimator):
    """A list of 1-D arrays holds univariate sequences whether or not their
    lengths happen to agree, as the same arrays in an object array or a
    pandas Series do: the model learns one feature per step and later reads
    sequences of other lengths. A list of lists of numbers stays a table."""
    rng = np.random.default_rng(11)
    rows = list(rng.normal(size=(12, 6)))
    y = rng.normal(size=12)
    as_list = Estimator(**TINY).fit(rows, y)
    container = np.empty(len(rows), dtype=object)
    container[:] = rows
    as_object = Estimator(**TINY).fit(container, y)
    assert as_list.n_features_in_ == as_object.n_features_in_ == 1
    assert_array_equal(as_list.weights_, as_object.weights_)
    shorter = [row[:4] for row in rows]
    assert_array_equal(as_list.predict(shorter), as_object.predict(shorter))
    assert_array_equal(
        as_list.predict(shorter), as_list.predict(np.stack(shorter)[:, :, None])
    )
    table = Estimator(**TINY).fit([list(row) for row in rows], y)
    assert table.n_features_in_ == 6
    with pytest.raises(ValueError, match="X has 4 features, but"):
        table.predict([list(row) for row in shorter])


@pytest.mark.parametrize("Estimator", REGRESSORS)
@pytest.mark.parametrize(
    "X, named", [(None, "got None"), (2.5, "got the single value 2.5"),
                 ("abc", "got the single value 'abc'")],
)  # fmt: skip
def test_x_that_is_not_sequences_is_named(Estimator, X, named):
    """None, a number or a string as X is named in the error of fit and of
    predict (check_array would call None a missing value)."""
    with pytest.raises(ValueError, match=f"Expected sequences as a 3-D array.*{named}"):
        Estimator(**TINY).fit(X, np.ones(3))
    model = Estimator(**TINY).fit(*_data())
    with pytest.raises(ValueError, match=f"Expected sequences as a 3-D array.*{named}"):
        model.predict(X)


@pytest.mark.parametrize("Estimator", REGRESSORS)
@pytest.mark.parametrize("position", [0, -1])
@pytest.mark.parametrize("item", [None, 1.5])
def test_a_non_sequence_in_a_list_is_named(Estimator, position, item):
    """An item of a list of sequences that is not a sequence is named by its
    index, in fit and in predict, whatever the other sequences' lengths."""
    rng = np.random.default_rng(12)
    for lengths in ((3, 5, 4, 2), (4, 4, 4, 4)):
        X = [rng.normal(size=(k, 2)) for k in lengths]
        X[position] = item
        index = position % len(X)
        message = f"sequence {index} has 0 dimensions"
        with pytest.raises(ValueError, match=message):
            Estimator(**TINY).fit(X, np.ones(len(X)))
        model = Estimator(**TINY).fit(*_data())
        with pytest.raises(ValueError, match=message):
            model.predict(X)
