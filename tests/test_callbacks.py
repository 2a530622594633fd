"""scikit-learn's fit callbacks (``sklearn.callback``, scikit-learn >= 1.9),
the verbose progress line and the once-only max_iter ConvergenceWarning.

The estimators open a fit task with one task per epoch inside it, as
scikit-learn's iterative estimators do; a callback sees the weights of each
epoch through ``fitted_estimator`` and can stop the fit. Every model is tiny.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skseq import LSTMClassifier, LSTMRegressor
from skseq._callbacks import HAVE_CALLBACKS

needs_callbacks = pytest.mark.skipif(
    not HAVE_CALLBACKS, reason="sklearn.callback is new in scikit-learn 1.9"
)

# tol=0 and a patience longer than the fit: every fit runs max_iter epochs.
# scoring=None: the early-stopping scores are score(), as the tests compare.
TINY = dict(hidden_layer_sizes=(4,), tol=0.0, n_iter_no_change=50, scoring=None)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5, 2))
    return X, X[:, :2, 0].sum(axis=1) - 0.5 * X[:, -1, 1]


def _quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


class Recorder:
    """A fit callback recording every hook, which asks to stop at the end
    of the epoch task ``stop_after`` (0-based), if given."""

    max_propagation_depth = None  # auto-propagated by meta-estimators

    def __init__(self, stop_after=None):
        self.stop_after = stop_after
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", type(estimator).__name__, context))

    def teardown(self, estimator, context):
        self.events.append(("teardown", type(estimator).__name__, context))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.events.append(("begin", type(estimator).__name__, context, X, metadata))

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, metadata=None,
        fitted_estimator=None,
    ):  # fmt: skip
        self.events.append(
            ("end", type(estimator).__name__, context, X, fitted_estimator)
        )
        return context.task_name == "epoch" and context.task_id == self.stop_after

    def epoch_ends(self, estimator_name="LSTMRegressor"):
        return [
            event
            for event in self.events
            if event[0] == "end"
            and event[1] == estimator_name
            and event[2].task_name == "epoch"
        ]


def test_set_callbacks_exists_exactly_with_sklearn_callbacks():
    """scikit-learn >= 1.9: set_callbacks returns the estimator; before, the
    method is absent (and importing skseq works)."""
    for Estimator in (LSTMRegressor, LSTMClassifier):
        assert hasattr(Estimator(), "set_callbacks") == HAVE_CALLBACKS


@needs_callbacks
def test_one_epoch_task_per_epoch_inside_the_fit_task():
    X, y = _data()
    weights = np.linspace(1, 2, len(y))
    recorder = Recorder()
    model = LSTMRegressor(**TINY, max_iter=5, random_state=0).set_callbacks(recorder)
    _quiet_fit(model, X, y, sample_weight=weights)
    kinds = [(event[0], event[2].task_name) for event in recorder.events]
    assert kinds == (
        [("setup", "fit"), ("begin", "fit")]
        + [("begin", "epoch"), ("end", "epoch")] * 5
        + [("end", "fit"), ("teardown", "fit")]
    )
    root = recorder.events[1][2]
    assert root.max_subtasks == 5 and root.parent is None
    epochs = [event[2] for event in recorder.epoch_ends()]
    assert [context.task_id for context in epochs] == [0, 1, 2, 3, 4]
    assert all(context.parent is root for context in epochs)
    # The callbacks get fit's arguments as given.
    for event in recorder.events[1:-1]:
        assert event[3] is X
    assert recorder.events[1][4]["sample_weight"] is weights


@needs_callbacks
def test_fitted_estimator_of_an_epoch_has_that_epochs_weights():
    """The estimator handed to a callback after epoch k predicts as a fit
    of k epochs does, and later epochs do not change it."""
    X, y = _data()
    recorder = Recorder()
    model = LSTMRegressor(**TINY, max_iter=4, random_state=0).set_callbacks(recorder)
    _quiet_fit(model, X, y)
    fitted = [event[4] for event in recorder.epoch_ends()]
    assert [estimator.n_iter_ for estimator in fitted] == [1, 2, 3, 4]
    two_epochs = _quiet_fit(LSTMRegressor(**TINY, max_iter=2, random_state=0), X, y)
    assert_array_equal(fitted[1].weights_, two_epochs.weights_)
    assert_array_equal(fitted[1].predict(X), two_epochs.predict(X))
    assert_array_equal(fitted[-1].weights_, model.weights_)
    assert not np.array_equal(fitted[1].weights_, model.weights_)


@needs_callbacks
@pytest.mark.parametrize("early_stopping", [False, True])
def test_callback_returning_true_stops_the_fit(early_stopping):
    """Stopped after the third epoch: n_iter_ is 3, the weights are those of
    a 3-epoch fit (without early stopping), and no ConvergenceWarning."""
    X, y = _data(n=60)
    params = dict(TINY, max_iter=20, random_state=0, early_stopping=early_stopping)
    model = LSTMRegressor(**params).set_callbacks(Recorder(stop_after=2))
    validation = {"X_val": X[40:], "y_val": y[40:]} if early_stopping else {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X[:40], y[:40], **validation)
    assert model.n_iter_ == 3 == len(model.loss_curve_)
    if early_stopping:
        # The best of the three epochs is restored.
        assert len(model.validation_scores_) == 3
        assert model.score(X[40:], y[40:]) == pytest.approx(
            max(model.validation_scores_), rel=1e-12
        )
    else:
        three = _quiet_fit(LSTMRegressor(**dict(params, max_iter=3)), X[:40], y[:40])
        assert_array_equal(model.weights_, three.weights_)


@needs_callbacks
def test_progress_bar_shows_the_fit_and_scoring_monitor_logs_each_epoch(capsys):
    from sklearn.callback import ProgressBar, ScoringMonitor

    X, y = _data(n=60)
    X_val, y_val = X[40:], y[40:]
    monitor = ScoringMonitor(
        scoring=lambda estimator, X, y: {"val_r2": estimator.score(X_val, y_val)}
    )
    model = LSTMRegressor(**TINY, max_iter=4, random_state=0)
    _quiet_fit(model.set_callbacks(ProgressBar(), monitor), X[:40], y[:40])
    assert "LSTMRegressor - fit" in capsys.readouterr().out
    rows = monitor.get_logs().data
    epochs = [row for row in rows if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in epochs] == [0, 1, 2, 3]
    assert epochs[-1]["val_r2"] == pytest.approx(model.score(X_val, y_val))
    assert len({row["val_r2"] for row in epochs}) == 4  # one score per epoch


@needs_callbacks
def test_validation_scores_are_the_scores_of_each_epochs_weights_on_X_val():
    """validation_scores_ with X_val given: the score on X_val of the weights
    of each epoch, as a callback sees them."""
    X, y = _data(n=60)
    recorder = Recorder()
    model = LSTMRegressor(
        **TINY, max_iter=5, early_stopping=True, random_state=0
    ).set_callbacks(recorder)
    _quiet_fit(model, X[:40], y[:40], X_val=X[40:], y_val=y[40:])
    seen = [event[4].score(X[40:], y[40:]) for event in recorder.epoch_ends()]
    assert_allclose(model.validation_scores_, seen, rtol=1e-12)


@needs_callbacks
def test_epoch_tasks_in_pipeline_and_grid_search():
    """A callback set on a GridSearchCV of a Pipeline reaches every LSTM fit
    (4 cross-validation fits and the refit), with its epoch tasks inside the
    LSTM's fit task, inside the pipeline's, inside the search's."""
    X, y = _data()
    recorder = Recorder()
    pipeline = make_pipeline(
        StandardScaler(), LSTMRegressor(**TINY, max_iter=3, random_state=0)
    )
    search = GridSearchCV(
        pipeline, {"lstmregressor__alpha": [1e-4, 1e-2]}, cv=2
    ).set_callbacks(recorder)
    _quiet_fit(search, X[:, :, 0], y)
    epochs = recorder.epoch_ends()
    assert len(epochs) == 5 * 3
    for event in epochs:
        context, path = event[2], []
        while context is not None:
            path.append(context.estimator_name)
            context = context.parent
        assert path[:2] == ["LSTMRegressor", "LSTMRegressor"]
        assert "Pipeline" in path and path[-1] == "GridSearchCV"
    assert search.best_estimator_[-1].n_iter_ == 3


@needs_callbacks
def test_partial_fit_is_a_fit_task_with_one_epoch():
    X, y = _data()
    recorder = Recorder()
    model = LSTMClassifier(**TINY, random_state=0).set_callbacks(recorder)
    labels = (y > 0).astype(int)
    model.partial_fit(X, labels, classes=[0, 1])
    model.partial_fit(X, labels)
    kinds = [(event[0], event[2].task_name) for event in recorder.events]
    one_call = [("setup", "fit"), ("begin", "fit"), ("begin", "epoch")]
    one_call += [("end", "epoch"), ("end", "fit"), ("teardown", "fit")]
    assert kinds == one_call * 2
    assert recorder.events[1][2].max_subtasks == 1


def test_verbose_partial_fit_counts_epochs_over_calls(capsys):
    X, y = _data()
    model = LSTMRegressor(**TINY, verbose=True, random_state=0)
    for _ in range(3):
        model.partial_fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        f"Epoch {k} (partial_fit)" for k in (1, 2, 3)
    ]
    assert all(" left" not in line for line in lines)


def test_validation_set_through_grid_search_and_pipeline():
    """X_val passed to GridSearchCV.fit reaches every candidate; in a
    Pipeline with metadata routing, transform_input scales it as X is."""
    from sklearn import config_context
    from sklearn.pipeline import Pipeline

    X, y = _data(n=80)
    X2 = 10 * X[:, :, 0] + 3
    params = dict(TINY, max_iter=4, early_stopping=True, random_state=0)
    search = GridSearchCV(LSTMRegressor(**params), {"alpha": [1e-4, 1e-2]}, cv=2)
    _quiet_fit(search, X[:60], y[:60], X_val=X[60:], y_val=y[60:])
    best = search.best_estimator_
    assert best.t_ == 60 * best.n_iter_  # all of X trains: X_val validates
    assert best.score(X[60:], y[60:]) == pytest.approx(best.best_validation_score_)
    with config_context(enable_metadata_routing=True):
        lstm = LSTMRegressor(**params).set_fit_request(X_val=True, y_val=True)
        pipeline = Pipeline(
            [("scale", StandardScaler()), ("lstm", lstm)], transform_input=["X_val"]
        )
        _quiet_fit(pipeline, X2[:60], y[:60], X_val=X2[60:], y_val=y[60:])
    assert pipeline.score(X2[60:], y[60:]) == pytest.approx(
        lstm.best_validation_score_, rel=1e-12
    )


# ------------------------------------------------------- ConvergenceWarning


def test_max_iter_warning_names_what_to_change_in_one_line():
    X, y = _data()
    for early_stopping in (False, True):
        model = LSTMRegressor(**TINY, max_iter=2, early_stopping=early_stopping)
        with pytest.warns(ConvergenceWarning) as record:
            model.fit(X, y)
        (message,) = [str(warning.message) for warning in record]
        assert "\n" not in message
        assert "max_iter" in message and "tol" in message
        assert ("early_stopping=True" in message) != early_stopping


def test_max_iter_warning_follows_an_always_filter():
    """Under an "always" filter every fit warns, as Python's rule says."""
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for seed in range(3):
            LSTMRegressor(**TINY, max_iter=2, random_state=seed).fit(X, y)
    assert len(caught) == 3


def test_grid_search_shows_the_max_iter_warning_once():
    """12 fits of a grid search in a fresh process under Python's default
    filters: one warning (two stderr lines: the message and its source
    line), not one per fit."""
    code = textwrap.dedent(
        """
        import numpy as np
        from sklearn.model_selection import GridSearchCV
        from skseq import LSTMRegressor

        X = np.random.default_rng(0).normal(size=(60, 6, 2))
        y = X[:, :2, 0].sum(axis=1)
        search = GridSearchCV(
            LSTMRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
            {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}, cv=3, refit=False,
        ).fit(X, y)
        print(len(search.cv_results_["params"]) * 3)
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [*sys.path] if p)
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True,
        timeout=300, cwd=os.path.dirname(os.path.abspath(__file__)),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["12"]
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert "ConvergenceWarning: The fit reached max_iter epochs" in lines[0]
