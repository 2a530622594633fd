"""skseq.metrics.per_step_scorer: scikit-learn's scorers over the real steps
of a per-step model, against the same metrics computed by hand on the steps
put end to end."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    get_scorer,
    log_loss,
    make_scorer,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skseq import GRUClassifier, GRURegressor, LSTMClassifier, LSTMRegressor
from skseq._rnn import RNNClassifier, RNNRegressor
from skseq.metrics import per_step_scorer


def _fit(model, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **fit_params)


def _per_step_fit(cls, X, y, n_hidden, max_iter, **params):
    """A fitted ``cls`` with per-step outputs."""
    model = cls(hidden_layer_sizes=(n_hidden,), return_sequences=True,
                max_iter=max_iter, random_state=0, **params)  # fmt: skip
    return _fit(model, X, y)


def _labels(X):
    """Three labels per step, from the running sum of the first feature."""
    sums = [np.cumsum(np.asarray(x)[:, 0]) for x in X]
    return [np.digitize(s, [-1.0, 1.0]) for s in sums]


def _ragged(rng, n_samples=40, low=3, high=12):
    return [rng.normal(size=(n, 2)) for n in rng.integers(low, high, n_samples)]


def _ends(items):
    return np.concatenate([np.asarray(item) for item in items])


def test_multiclass_accuracy_and_f1_over_real_steps():
    """Ragged sequences and three labels per step: scikit-learn's own scorer
    refuses the list of label arrays; the per-step scorer gives the metric of
    every real step, weighted by its sequence when asked."""
    rng = np.random.default_rng(0)
    X = _ragged(rng)
    y = _labels(X)
    model = _per_step_fit(GRUClassifier, X, y, 8, 15)
    y_pred = _ends(model.predict(X))
    y_true = _ends(y)
    assert 0.4 < accuracy_score(y_true, y_pred) < 1.0  # a score that can move
    assert per_step_scorer("accuracy")(model, X, y) == pytest.approx(
        accuracy_score(y_true, y_pred)
    )
    assert per_step_scorer("accuracy")(model, X, y) == pytest.approx(model.score(X, y))
    assert per_step_scorer("f1_macro")(model, X, y) == pytest.approx(
        f1_score(y_true, y_pred, average="macro")
    )
    weight = rng.uniform(0.1, 3.0, size=len(X))
    per_step = np.repeat(weight, [len(x) for x in X])
    assert per_step_scorer("accuracy")(model, X, y, sample_weight=weight) == (
        pytest.approx(accuracy_score(y_true, y_pred, sample_weight=per_step))
    )
    assert per_step_scorer("neg_log_loss")(model, X, y) == pytest.approx(
        -log_loss(y_true, _ends(model.predict_proba(X)), labels=model.classes_)
    )
    with pytest.raises(ValueError):
        get_scorer("accuracy")(model, X, y)


def test_arrays_of_one_length_and_padded_targets():
    """X an array: the per-step layout (n_samples, n_timesteps); and a list X
    with y padded to the longest sequence (its padding ignored)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 10, 2))
    y = np.stack(_labels(X))
    model = _per_step_fit(LSTMClassifier, X, y, 8, 10)
    got = per_step_scorer("balanced_accuracy")(model, X, y)
    want = get_scorer("balanced_accuracy")._score_func(
        y.ravel(), model.predict(X).ravel()
    )
    assert got == pytest.approx(want)

    ragged = [x[: 4 + i % 6] for i, x in enumerate(X)]
    # The time axis of the longest sequence; 7 is no label: only padding holds it.
    padded = np.full((50, max(len(x) for x in ragged)), 7)
    for i, x in enumerate(ragged):
        padded[i, : len(x)] = y[i, : len(x)]
    y_pred = _ends(model.predict(ragged))
    assert per_step_scorer("accuracy")(model, ragged, padded) == pytest.approx(
        accuracy_score(
            _ends([padded[i, : len(x)] for i, x in enumerate(ragged)]), y_pred
        )
    )


def test_binary_probability_scorer_reads_the_positive_class():
    rng = np.random.default_rng(2)
    X = _ragged(rng, n_samples=60)
    y = [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]
    model = _per_step_fit(RNNClassifier, X, y, 8, 10)
    proba = _ends(model.predict_proba(X))
    assert proba.shape[1] == 2
    assert per_step_scorer("roc_auc")(model, X, y) == pytest.approx(
        roc_auc_score(_ends(y), proba[:, 1])
    )


def test_regression_scorers_and_multioutput_targets():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 8, 3))
    y = np.stack([np.cumsum(X[:, :, 0], axis=1), X[:, :, 1]], axis=-1)
    model = _per_step_fit(GRURegressor, X, y, 8, 10)
    y_pred = model.predict(X).reshape(-1, 2)
    assert per_step_scorer("r2")(model, X, y) == pytest.approx(
        r2_score(y.reshape(-1, 2), y_pred)
    )
    assert per_step_scorer("r2")(model, X, y) == pytest.approx(model.score(X, y))
    assert per_step_scorer("neg_mean_absolute_error")(model, X, y) == pytest.approx(
        -mean_absolute_error(y.reshape(-1, 2), y_pred)
    )
    custom = make_scorer(
        lambda t, p: float(np.max(np.abs(t - p))), greater_is_better=False
    )
    assert per_step_scorer(custom)(model, X, y) == pytest.approx(
        -np.max(np.abs(y.reshape(-1, 2) - y_pred))
    )


def test_a_callable_scorer_may_call_the_estimators_score():
    """A plain callable scorer gets a stand-in whose score is the model's own
    metric over the real steps: the model's score, and the named scorer's
    value, sequence weights included."""
    rng = np.random.default_rng(9)
    X = _ragged(rng, 36)
    labels = _labels(X)
    weights = rng.uniform(0.5, 2.0, size=len(X))

    def by_score(estimator, X, y, sample_weight=None):
        return estimator.score(X, y, sample_weight=sample_weight)

    sums = [np.cumsum(np.asarray(x)[:, 0]) for x in X]
    clf = _per_step_fit(GRUClassifier, X, labels, 6, 4)
    reg = _per_step_fit(RNNRegressor, X, sums, 6, 4)
    for model, name, y in ((clf, "accuracy", labels), (reg, "r2", sums)):
        scorer = per_step_scorer(by_score)
        assert scorer(model, X, y) == pytest.approx(model.score(X, y))
        assert scorer(model, X, y) == pytest.approx(per_step_scorer(name)(model, X, y))
        assert scorer(model, X, y, sample_weight=weights) == pytest.approx(
            per_step_scorer(name)(model, X, y, sample_weight=weights)
        )
        assert scorer(model, X, y, sample_weight=weights) != pytest.approx(
            scorer(model, X, y)
        )


def test_model_selection_and_pipelines():
    """cross_val_score, cross_validate with several metrics, GridSearchCV
    (which pickles nothing but clones), and a Pipeline ending in a per-step
    model: each fold's score is the metric of that fold's real steps."""
    rng = np.random.default_rng(4)
    X = _ragged(rng, n_samples=45)
    y = _labels(X)
    model = RNNClassifier(hidden_layer_sizes=(6,), return_sequences=True, max_iter=5,
                          random_state=0)  # fmt: skip
    scorer = per_step_scorer("accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(model, X, y, cv=3, scoring=scorer)
        by_hand = []
        for fold in range(3):
            test = np.arange(fold * 15, fold * 15 + 15)
            train = np.setdiff1d(np.arange(45), test)
            fitted = _fit(
                RNNClassifier(**model.get_params()),
                [X[i] for i in train], [y[i] for i in train],
            )  # fmt: skip
            X_test = [X[i] for i in test]
            by_hand.append(
                accuracy_score(
                    _ends([y[i] for i in test]), _ends(fitted.predict(X_test))
                )
            )
        assert_allclose(scores, by_hand)

        both = cross_validate(
            model, X, y, cv=3,
            scoring={"acc": scorer, "f1": per_step_scorer("f1_macro")},
        )  # fmt: skip
        assert_allclose(both["test_acc"], scores)
        assert both["test_f1"].shape == (3,)

        search = GridSearchCV(
            model, {"hidden_layer_sizes": [(2,), (6,)]}, cv=3, scoring=scorer
        ).fit(X, y)
        assert search.best_score_ == pytest.approx(
            max(search.cv_results_["mean_test_score"])
        )
        assert_allclose(search.cv_results_["split0_test_score"][1], scores[0])

        pipe = make_pipeline(FunctionTransformer(lambda items: items), model)
        assert_allclose(cross_val_score(pipe, X, y, cv=3, scoring=scorer), scores)


def test_as_the_early_stopping_score():
    """An estimator's ``scoring`` may be a per-step scorer: its validation
    score is the metric of the held-out steps."""
    rng = np.random.default_rng(5)
    X, X_val = _ragged(rng, n_samples=60), _ragged(rng, n_samples=20)
    y, y_val = _labels(X), _labels(X_val)
    model = _fit(
        LSTMClassifier(hidden_layer_sizes=(6,), return_sequences=True,
                       early_stopping=True, scoring=per_step_scorer("f1_macro"),
                       max_iter=6, random_state=0),
        X, y, X_val=X_val, y_val=y_val,
    )  # fmt: skip
    assert model.best_validation_score_ == pytest.approx(
        f1_score(_ends(y_val), _ends(model.predict(X_val)), average="macro")
    )


def test_models_without_per_step_outputs_get_the_scorer_itself():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 6, 2))
    y = X[:, :, 0].sum(axis=1)
    model = _fit(
        LSTMRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X, y
    )
    weight = rng.uniform(0.5, 2.0, size=40)
    assert per_step_scorer("r2")(model, X, y, sample_weight=weight) == (
        get_scorer("r2")(model, X, y, sample_weight=weight)
    )


def test_bad_arguments_are_named():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 5, 2))
    y = np.stack(_labels(X))
    model = _per_step_fit(GRUClassifier, X, y, 4, 2)
    scorer = per_step_scorer("accuracy")
    with pytest.raises(TypeError, match="scorer name or a callable"):
        per_step_scorer(3)
    with pytest.raises(ValueError, match="not a valid scoring value"):
        per_step_scorer("no such metric")
    with pytest.raises(ValueError, match="one target per time step"):
        scorer(model, X, y[:, :4])
    with pytest.raises(ValueError, match=r"expected \(20,\)"):
        scorer(model, X, y, sample_weight=np.ones(7))
    with pytest.raises(ValueError, match="needs sequences"):
        scorer(model, X.reshape(-1), y)
    with pytest.raises(ValueError, match="has none"):
        scorer(model, [], [])
    with pytest.raises(ValueError, match="looks like a metric function"):
        per_step_scorer(accuracy_score)
    with pytest.raises(NotFittedError):
        scorer(clone(model), X, y)
    # Weights follow the estimators' rules: a scalar is every sequence's.
    assert scorer(model, X, y, sample_weight=2.0) == scorer(model, X, y)
    with pytest.raises(ValueError, match="Negative"):
        scorer(model, X, y, sample_weight=-np.ones(20))
    assert repr(scorer) == "per_step_scorer('accuracy')"
    assert pickle.loads(pickle.dumps(scorer))(model, X, y) == scorer(model, X, y)


def test_wrapped_models_are_scored_over_their_steps():
    """Nested cross-validation (a search scored by an outer loop), a fitted
    search, a transformed-target regressor: the steps of the model inside."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(36, 6, 2))
    y = np.cumsum(X[:, :, 0], axis=1)
    model = GRURegressor(hidden_layer_sizes=(4,), return_sequences=True, max_iter=4,
                         random_state=0)  # fmt: skip
    scorer = per_step_scorer("r2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(model, {"alpha": [1e-4, 1e-2]}, cv=2, scoring=scorer)
        nested = cross_val_score(search, X, y, cv=3, scoring=scorer)
        by_hand = []
        for fold in range(3):
            test = np.arange(fold * 12, fold * 12 + 12)
            train = np.setdiff1d(np.arange(36), test)
            fitted = clone(search).fit(X[train], y[train])
            by_hand.append(
                r2_score(y[test].reshape(-1), fitted.predict(X[test]).reshape(-1))
            )
        assert_allclose(nested, by_hand)
        fitted = search.fit(X, y)
        assert scorer(fitted, X, y) == pytest.approx(
            scorer(fitted.best_estimator_, X, y)
        )
        assert scorer(fitted, X, y) == pytest.approx(fitted.best_estimator_.score(X, y))
        wrapped = TransformedTargetRegressor(
            regressor=model, transformer=StandardScaler()
        ).fit(X, y)
    assert scorer(wrapped, X, y) == pytest.approx(
        r2_score(y.reshape(-1), wrapped.predict(X).reshape(-1))
    )


def test_the_fitted_network_decides_not_the_parameter():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(30, 6, 2))
    y = np.cumsum(X[:, :, 0], axis=1)
    model = _per_step_fit(GRURegressor, X, y, 4, 3)
    want = model.score(X, y)
    model.set_params(return_sequences=False)
    assert per_step_scorer("r2")(model, X, y) == pytest.approx(want)


def test_pipeline_steps_are_those_of_its_predictions():
    """A pipeline whose first step makes the sequences (flat rows of T * k
    values into (T, k) steps): the steps are counted on what the model
    predicts, not on the rows given to the pipeline."""
    rng = np.random.default_rng(10)
    X = rng.normal(size=(30, 6, 2))
    y = np.cumsum(X[:, :, 0], axis=1)
    pipe = make_pipeline(
        FunctionTransformer(lambda flat: np.asarray(flat).reshape(len(flat), 6, 2)),
        GRURegressor(hidden_layer_sizes=(4,), return_sequences=True, max_iter=3,
                     random_state=0),
    )  # fmt: skip
    flat = X.reshape(30, 12)
    _fit(pipe, flat, y)
    assert per_step_scorer("r2")(pipe, flat, y) == pytest.approx(pipe.score(flat, y))


def test_padded_targets_of_ragged_folds():
    """y padded to the longest sequence of all the data, X a list: a fold or
    a hold-out without that sequence still fits and scores."""
    rng = np.random.default_rng(11)
    X = _ragged(rng, n_samples=30, low=3, high=8)
    X[0] = rng.normal(size=(20, 2))  # only the first sequence is this long
    padded = np.zeros((30, 20))
    for i, x in enumerate(X):
        padded[i, : len(x)] = np.cumsum(x[:, 0])
    model = GRURegressor(hidden_layer_sizes=(4,), return_sequences=True, max_iter=3,
                         random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(model, X, padded, cv=3, scoring=per_step_scorer("r2"))
        assert np.all(np.isfinite(scores))
        rest = _fit(clone(model), X[1:], padded[1:])
        stopped = _fit(
            clone(model).set_params(early_stopping=True, shuffle=False,
                                    scoring=per_step_scorer("r2")),
            X, padded,
        )  # fmt: skip
    listed = [row[: len(x)] for row, x in zip(padded[1:], X[1:], strict=True)]
    assert per_step_scorer("r2")(rest, X[1:], padded[1:]) == pytest.approx(
        rest.score(X[1:], listed)
    )
    assert len(stopped.validation_scores_) == stopped.n_iter_
    with pytest.raises(ValueError, match="at least 7"):
        per_step_scorer("r2")(rest, X[1:], padded[1:, :4])


def test_class_weights_count_in_early_stopping_as_for_the_name():
    """As an estimator's scoring, a per-step scorer scores the held-out steps
    exactly as the scorer's name does, class weights included."""
    rng = np.random.default_rng(12)
    X = rng.normal(size=(60, 6, 2))
    y = np.stack(_labels(X))
    scores = []
    for scoring in ("accuracy", per_step_scorer("accuracy")):
        model = _per_step_fit(
            GRUClassifier, X, y, 5, 3, early_stopping=True, shuffle=False,
            scoring=scoring, class_weight="balanced",
        )  # fmt: skip
        scores.append(model.validation_scores_)
    assert_allclose(scores[0], scores[1])


def test_metadata_routing_passes_the_test_weights():
    rng = np.random.default_rng(13)
    X = _ragged(rng, n_samples=30)
    y = _labels(X)
    weight = rng.uniform(0.1, 3.0, size=30)
    model = RNNClassifier(hidden_layer_sizes=(4,), return_sequences=True, max_iter=3,
                          random_state=0)  # fmt: skip
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = per_step_scorer("accuracy").set_score_request(sample_weight=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.set_fit_request(sample_weight=False)
            scores = cross_validate(
                model, X, y, cv=3, scoring=scorer, params={"sample_weight": weight},
                return_estimator=True,
            )  # fmt: skip
    by_hand = []
    for fold, fitted in enumerate(scores["estimator"]):
        test = np.arange(fold * 10, fold * 10 + 10)
        steps = np.repeat(weight[test], [len(X[i]) for i in test])
        predicted = _ends(fitted.predict([X[i] for i in test]))
        by_hand.append(
            accuracy_score(_ends([y[i] for i in test]), predicted, sample_weight=steps)
        )
    assert_allclose(scores["test_score"], by_hand)
    with pytest.raises(TypeError, match="no metadata requests"):
        per_step_scorer(lambda est, X, y: 0.0).set_score_request(sample_weight=True)
