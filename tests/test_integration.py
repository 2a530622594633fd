"""Integration tests: skseq estimators inside the scikit-learn ecosystem.

Everything here runs the real things — pipelines, model selection with joblib
workers, threadpoolctl, pickling across processes, pandas — with no mocks.
Models are kept tiny so that the whole file runs in well under a minute on two
cores.
"""

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import threadpoolctl
from joblib import Parallel, delayed
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import r2_score, recall_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import compute_sample_weight

import skseq
from skseq import LSTMClassifier, LSTMRegressor
from skseq._network import threads_for
from skseq._threads import effective_n_threads
from skseq.timeseries import make_windows

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TINY = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.02, "batch_size": 32}


def _sequences(n_samples, n_timesteps, n_features, seed=0):
    return np.random.default_rng(seed).normal(size=(n_samples, n_timesteps, n_features))


def _easy_regression(n_samples=60, n_timesteps=8, seed=0):
    """3-D sequences whose target depends on the last two steps."""
    X = _sequences(n_samples, n_timesteps, 2, seed)
    y = X[:, -1, 0] + 0.5 * X[:, -2, 1]
    return X, y


# --------------------------------------------------------------- 1. pipeline


def test_pipeline_on_lag_windows_beats_the_mean():
    rng = np.random.default_rng(0)
    steps = np.arange(400)
    series = np.sin(2 * np.pi * steps / 25) + 0.1 * rng.normal(size=steps.size)
    X, y = make_windows(series, window=10)
    assert X.shape == (390, 10) and y.shape == (390,)
    X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]

    pipe = make_pipeline(
        StandardScaler(), LSTMRegressor(**TINY, max_iter=30, random_state=0)
    )
    pipe.fit(X_train, y_train)
    y_pred = pipe.predict(X_test)

    assert y_pred.shape == y_test.shape
    assert np.all(np.isfinite(y_pred))
    # R² compares with predicting the held-out mean (R² = 0); a noise level
    # of 0.1 on a unit sine leaves R² ≈ 0.98 reachable.
    mse_model = np.mean((y_test - y_pred) ** 2)
    mse_mean = np.mean((y_test - y_train.mean()) ** 2)
    assert mse_model < 0.2 * mse_mean
    assert pipe.score(X_test, y_test) > 0.8


# --------------------------------------------------- 2. model selection, threads


def test_grid_search_with_two_workers_on_3d_input():
    X, y = _easy_regression()
    grid = {"hidden_layer_sizes": [(4,), (8,)], "learning_rate_init": [1e-3, 1e-2]}
    search = GridSearchCV(
        LSTMRegressor(max_iter=30, batch_size=16, random_state=0),
        grid,
        cv=2,
        n_jobs=2,
    )
    search.fit(X, y)

    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["hidden_layer_sizes"] in grid["hidden_layer_sizes"]
    assert search.best_params_["learning_rate_init"] in grid["learning_rate_init"]
    # The larger step size learns this target within 30 epochs, the smaller
    # one does not: model selection must see the difference.
    assert search.best_params_["learning_rate_init"] == 1e-2
    assert search.best_score_ > 0.3
    best = search.best_estimator_
    assert best.hidden_layer_sizes == search.best_params_["hidden_layer_sizes"]
    assert best.n_features_in_ == 2
    assert search.predict(X).shape == (len(X),)


def test_cross_val_score_on_3d_input():
    X, y = _easy_regression(n_samples=90)
    scores = cross_val_score(
        LSTMRegressor(**TINY, max_iter=30, random_state=0), X, y, cv=3
    )
    assert scores.shape == (3,)
    assert np.all(np.isfinite(scores))
    assert scores.mean() > 0.5


def _thread_report_in_worker():
    """Runs in a loky worker: what skseq and threadpoolctl see there."""
    import threadpoolctl

    from skseq import LSTMRegressor, _openmp_helpers
    from skseq._threads import effective_n_threads

    X = np.random.default_rng(1).normal(size=(24, 6, 2))
    model = LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    model.fit(X, X[:, -1, 0])
    prediction = model.predict(X)
    return {
        "pid": os.getpid(),
        "effective_n_threads": effective_n_threads(),
        "core_openmp_max_threads": _openmp_helpers.openmp_max_threads(),
        "openmp_num_threads": [
            info["num_threads"]
            for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "openmp"
        ],
        "prediction_shape": prediction.shape,
        "prediction_finite": bool(np.all(np.isfinite(prediction))),
    }


def test_no_thread_oversubscription_in_joblib_workers():
    # The test directory is not importable in loky's workers (pytest imports
    # test files by path), so this module's functions travel by value.
    # joblib >= 1.5 serialises with the cloudpickle package, older joblib with
    # its vendored copy, whichever else is installed: register with both.
    picklers = []
    try:
        import cloudpickle

        picklers.append(cloudpickle)
    except ImportError:
        pass
    try:
        from joblib.externals import cloudpickle as vendored

        picklers.append(vendored)
    except ImportError:
        pass
    assert picklers, "joblib serialises with cloudpickle, which is missing"
    for pickler in picklers:
        pickler.register_pickle_by_value(sys.modules[__name__])
    n_jobs = 2
    expected = max(1, joblib.cpu_count() // n_jobs)
    reports = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_thread_report_in_worker)() for _ in range(2 * n_jobs)
    )
    assert any(report["pid"] != os.getpid() for report in reports)
    for report in reports:
        assert report["effective_n_threads"] == expected
        assert report["core_openmp_max_threads"] == expected
        # skseq's OpenMP runtime is loaded in the worker and limited there.
        assert report["openmp_num_threads"], "no OpenMP runtime seen in the worker"
        assert all(n == expected for n in report["openmp_num_threads"])
        assert report["prediction_shape"] == (24,)
        assert report["prediction_finite"]


def test_threadpool_limits_bound_threads_and_leave_predictions_unchanged():
    X = _sequences(256, 30, 1, seed=2)
    model = LSTMRegressor(hidden_layer_sizes=(32,), max_iter=2, random_state=0)
    model.fit(X[:32], X[:32, -1, 0])
    assert model.weights_.dtype == np.float64

    n_threads = effective_n_threads()
    assert n_threads <= joblib.cpu_count()
    assert n_threads >= min(2, joblib.cpu_count())
    # The batch is big enough that the core splits it over two threads.
    assert threads_for(256, 31, 1, 32, max_threads=2) == 2

    unlimited = model.predict(X)
    with threadpoolctl.threadpool_limits(1):
        assert effective_n_threads() == 1
        limited = model.predict(X)
    assert effective_n_threads() == n_threads
    assert np.array_equal(limited, unlimited)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_fits_leave_the_blas_thread_count_as_it_was():
    """Fits in several Python threads share one BLAS limit: BLAS's thread
    count, which belongs to the process, is what it was once they are done
    (one-layer fits limit it to factorise the recurrent kernel, stacked ones
    for their whole training)."""
    from concurrent.futures import ThreadPoolExecutor

    controllers = threadpoolctl.ThreadpoolController().select(user_api="blas")
    before = [c.get_num_threads() for c in controllers.lib_controllers]
    X = np.random.default_rng(0).normal(size=(8, 3, 2))
    y = X.sum(axis=(1, 2))

    def fit(seed):
        sizes = (64,) if seed % 4 else (8, 8)
        LSTMRegressor(hidden_layer_sizes=sizes, max_iter=1, random_state=seed).fit(X, y)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fit, range(100)))
    assert [c.get_num_threads() for c in controllers.lib_controllers] == before


def test_a_forked_child_predicts_after_the_parent_ran_threads(tmp_path):
    """GCC's OpenMP runtime cannot start threads in a child forked after the
    parent ran a region of several: skseq runs such a child on one thread,
    with the parent's results, instead of waiting forever."""
    code = textwrap.dedent(
        """
        import json, multiprocessing, queue, warnings
        import numpy as np
        from skseq import LSTMRegressor
        from skseq._threads import effective_n_threads

        warnings.simplefilter("ignore")
        X = np.random.default_rng(0).normal(size=(256, 30, 3))
        model = LSTMRegressor(hidden_layer_sizes=(16,), max_iter=2, random_state=0)
        model.fit(X, X[:, :, 0].sum(axis=1))
        expected = model.predict(X)
        parent_threads = effective_n_threads()

        def child(results):
            results.put((effective_n_threads(), model.predict(X)))

        context = multiprocessing.get_context("fork")
        results = context.Queue()
        process = context.Process(target=child, args=(results,))
        process.start()
        try:
            child_threads, got = results.get(timeout=60)
        except queue.Empty:
            process.kill()
            raise SystemExit("the child hung")
        process.join(10)
        print(json.dumps({
            "parent_threads": parent_threads, "child_threads": child_threads,
            "same": bool(np.array_equal(got, expected)),
        }))
        """
    )
    env = dict(_subprocess_env(), OMP_NUM_THREADS="2")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["same"]
    assert report["child_threads"] == 1
    assert report["parent_threads"] == min(2, joblib.cpu_count())


# ------------------------------------------------------------ 3. params, clone


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_get_set_params_round_trip_and_clone(Estimator):
    est = Estimator(hidden_layer_sizes=(5, 3), alpha=1e-3, max_iter=7, random_state=4)
    params = est.get_params()
    assert params["hidden_layer_sizes"] == (5, 3)
    assert params["max_iter"] == 7
    if Estimator is LSTMClassifier:
        assert "class_weight" in params

    other = Estimator().set_params(**params)
    assert other.get_params() == params

    cloned = clone(est)
    assert cloned is not est
    assert cloned.get_params() == params

    est.set_params(hidden_layer_sizes=(4,), learning_rate_init=0.05)
    assert est.get_params()["hidden_layer_sizes"] == (4,)
    assert est.get_params()["learning_rate_init"] == 0.05
    assert cloned.get_params()["hidden_layer_sizes"] == (5, 3)

    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_parameter=1)


def test_set_params_nested_in_pipeline():
    pipe = make_pipeline(
        StandardScaler(), LSTMRegressor(hidden_layer_sizes=(8,), max_iter=3)
    )
    assert pipe.get_params()["lstmregressor__hidden_layer_sizes"] == (8,)

    pipe.set_params(
        lstmregressor__hidden_layer_sizes=(4,), lstmregressor__random_state=0
    )
    assert pipe.get_params()["lstmregressor__hidden_layer_sizes"] == (4,)
    assert pipe.named_steps["lstmregressor"].hidden_layer_sizes == (4,)

    cloned = clone(pipe)
    assert cloned.get_params()["lstmregressor__hidden_layer_sizes"] == (4,)

    X = _sequences(30, 6, 1)[:, :, 0]
    pipe.fit(X, X[:, -1])
    layer = pipe.named_steps["lstmregressor"].lstm_weights_[0]
    # The parameter set through the pipeline is the one the network was built with.
    assert layer["recurrent_kernel"].shape == (4, 16)
    assert layer["kernel"].shape == (1, 16)


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_clone_of_fitted_estimator_is_unfitted(Estimator):
    X = _sequences(30, 5, 2)
    y = X[:, -1, 0] if Estimator is LSTMRegressor else (X[:, -1, 0] > 0).astype(int)
    fitted = Estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    fitted.predict(X)

    cloned = clone(fitted)
    assert cloned.get_params() == fitted.get_params()
    assert not hasattr(cloned, "weights_")
    with pytest.raises(NotFittedError):
        cloned.predict(X)

    pipe = make_pipeline(StandardScaler(), clone(fitted))
    X_2d = X[:, :, 0]
    pipe.fit(X_2d, y)
    with pytest.raises(NotFittedError):
        clone(pipe).predict(X_2d)


# ------------------------------------------------------------- 4. persistence


def _fitted_models():
    X = _sequences(40, 7, 2, seed=3)
    regressor = LSTMRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    regressor.fit(X, X[:, -1, 0] - X[:, 0, 1])
    labels = np.array(["low", "mid", "high"])[np.digitize(X[:, -1, 0], [-0.4, 0.4])]
    classifier = LSTMClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    classifier.fit(X, labels)
    return X, {"regressor": regressor, "classifier": classifier}


def _subprocess_env():
    env = dict(os.environ)
    paths = [env.get("PYTHONPATH", "")] + sys.path
    env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
    return env


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_joblib_dump_then_load_in_fresh_process_predicts_identically(kind, tmp_path):
    X, models = _fitted_models()
    model = models[kind]
    expected = model.predict(X)
    model_path = tmp_path / "model.joblib"
    joblib.dump(model, model_path)
    np.save(tmp_path / "X.npy", X)

    code = textwrap.dedent(
        f"""
        import json, warnings
        import joblib
        import numpy as np
        import skseq

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = joblib.load({str(model_path)!r})
        X = np.load({str(tmp_path / "X.npy")!r})
        np.save({str(tmp_path / "predicted.npy")!r}, model.predict(X))
        print(json.dumps({{
            "skseq_file": skseq.__file__,
            "type": type(model).__name__,
            "warnings": [f"{{w.category.__name__}}: {{w.message}}" for w in caught],
        }}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=_subprocess_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["skseq_file"] == skseq.__file__
    assert report["type"] == type(model).__name__
    assert report["warnings"] == []

    predicted = np.load(tmp_path / "predicted.npy", allow_pickle=True)
    assert predicted.dtype == expected.dtype
    assert np.array_equal(predicted, expected)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_unpickling_state_of_another_version_warns(kind):
    from skseq.exceptions import InconsistentVersionWarning

    X, models = _fitted_models()
    est = models[kind]
    state = est.__getstate__()
    assert state["_skseq_version"] == skseq.__version__

    state["_skseq_version"] = "0.0.1"
    new = type(est).__new__(type(est))
    with pytest.warns(InconsistentVersionWarning) as record:
        new.__setstate__(state)
    warning = next(
        w.message for w in record if isinstance(w.message, InconsistentVersionWarning)
    )
    assert issubclass(InconsistentVersionWarning, UserWarning)
    assert warning.estimator_name == type(est).__name__
    assert warning.current_skseq_version == skseq.__version__
    assert warning.original_skseq_version == "0.0.1"
    # The state is restored in spite of the warning.
    assert np.array_equal(new.predict(X), est.predict(X))


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_unpickling_state_of_same_version_does_not_warn(kind):
    from skseq.exceptions import InconsistentVersionWarning

    X, models = _fitted_models()
    est = models[kind]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = pickle.loads(pickle.dumps(est))
    assert not [w for w in caught if issubclass(w.category, InconsistentVersionWarning)]
    assert np.array_equal(restored.predict(X), est.predict(X))


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_sklearn_version_warning_filter_catches_skseq_version_mismatch(
    kind, monkeypatch
):
    """One filter on scikit-learn's InconsistentVersionWarning covers skseq's."""
    from sklearn.exceptions import InconsistentVersionWarning as SklearnWarning

    from skseq.exceptions import InconsistentVersionWarning

    X, models = _fitted_models()
    est = models[kind]
    monkeypatch.setattr(skseq._base, "__version__", "0.0.1")
    saved_by_other_version = pickle.dumps(est)
    monkeypatch.undo()

    with warnings.catch_warnings():
        warnings.simplefilter("error", SklearnWarning)
        with pytest.raises(SklearnWarning) as raised:
            pickle.loads(saved_by_other_version)
    warning = raised.value
    assert isinstance(warning, InconsistentVersionWarning)
    assert warning.estimator_name == type(est).__name__
    assert warning.original_skseq_version == "0.0.1"
    assert warning.current_skseq_version == skseq.__version__
    assert warning.original_sklearn_version == "0.0.1"
    assert warning.current_sklearn_version == skseq.__version__
    assert str(warning).startswith(
        f"Trying to unpickle estimator {type(est).__name__} from skseq version 0.0.1 "
        f"when using version {skseq.__version__}."
    )


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_skops_round_trip_trusts_only_skseq_classes(kind):
    """skops.io, the safe format, needs only skseq's own classes trusted."""
    import skops.io

    X, models = _fitted_models()
    est = models[kind]
    data = skops.io.dumps(est)
    untrusted = skops.io.get_untrusted_types(data=data)
    assert untrusted == [f"skseq._lstm.{type(est).__name__}"]
    with pytest.raises(skops.io.exceptions.UntrustedTypesFoundException):
        skops.io.loads(data)

    loaded = skops.io.loads(data, trusted=untrusted)
    assert np.array_equal(loaded.predict(X), est.predict(X))
    # The whole fitted state came back (random state, optimizer moments):
    # one more epoch on each gives the same weights.
    target = est.predict(X)
    loaded.partial_fit(X, target)
    est.partial_fit(X, target)
    assert np.array_equal(loaded.weights_, est.weights_)


# ------------------------------------------------------------------ 5. pandas


def test_dataframe_input_records_and_checks_feature_names():
    values = _sequences(40, 6, 1, seed=5)[:, :, 0]
    columns = [f"lag_{k}" for k in range(6, 0, -1)]
    frame = pd.DataFrame(values, columns=columns)
    y = values[:, -1] - values[:, -2]

    model = LSTMRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    model.fit(frame, y)
    assert isinstance(model.feature_names_in_, np.ndarray)
    assert model.feature_names_in_.tolist() == columns
    assert model.n_features_in_ == 6
    from_frame = model.predict(frame)
    assert from_frame.shape == (40,)

    renamed = pd.DataFrame(values, columns=[f"step_{k}" for k in range(6)])
    with pytest.raises(ValueError, match="The feature names should match"):
        model.predict(renamed)

    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        from_array = model.predict(values)
    assert np.array_equal(from_array, from_frame)


# ------------------------------------------------------------ 6. determinism


def _determinism_problem(Estimator):
    X = _sequences(128, 30, 1, seed=6)
    if Estimator is LSTMRegressor:
        y = X[:, -1, 0] + X[:, 0, 0]
    else:
        y = (X[:, -1, 0] + X[:, 0, 0] > 0).astype(int)
    params = {
        "hidden_layer_sizes": (32,),
        "batch_size": 64,
        "max_iter": 3,
        "learning_rate_init": 0.01,
        "random_state": 0,
    }
    return X, y, params


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_same_random_state_gives_identical_fits(Estimator):
    X, y, params = _determinism_problem(Estimator)
    first = Estimator(**params).fit(X, y)
    second = Estimator(**params).fit(X, y)
    assert first.weights_.dtype == np.float64
    assert np.array_equal(first.weights_, second.weights_)
    assert np.array_equal(first.predict(X), second.predict(X))
    # The fit moved the weights away from a fit with another seed.
    third = Estimator(**{**params, "random_state": 1}).fit(X, y)
    assert not np.array_equal(first.weights_, third.weights_)


# Run in a fresh process: restricts the process to the CPUs given (before the
# OpenMP runtime starts, as `taskset` would) or makes joblib report a larger
# machine, then fits and prints hashes of the weights and predictions.
_FIT_ELSEWHERE = """
import hashlib, json, os, sys
cpus, cores = json.loads(sys.argv[1])
if cpus is not None:
    os.sched_setaffinity(0, cpus)
if cores is not None:  # a machine with more cores than this one
    import joblib
    joblib.cpu_count = lambda *args, **kwargs: cores
import numpy as np
import joblib
from skseq import LSTMClassifier, LSTMRegressor
from skseq._threads import effective_n_threads

def digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 12, 3))
y = X[:, -1, 0] - X[:, 0, 1]
# Batches of 200 and 100 rows, one layer.
regressor = LSTMRegressor((32,), batch_size=200, max_iter=2, random_state=0)
regressor.fit(X, y)
# Ragged sequences, two bidirectional layers, batches of 150 rows.
ragged = [x[: 4 + i % 9] for i, x in enumerate(X)]
labels = (X[:, 0, 0] > 0).astype(int)
classifier = LSTMClassifier(
    (16, 8), bidirectional=True, batch_size=150, max_iter=2, random_state=0
)
classifier.fit(ragged, labels)
print(json.dumps({
    "cores": joblib.cpu_count(),
    "threads": effective_n_threads(),
    "hashes": [
        digest(regressor.weights_), digest(regressor.predict(X)),
        digest(classifier.weights_), digest(classifier.predict_proba(ragged)),
    ],
}))
"""


def _start_python(arguments, env, cwd):
    """Python in a subprocess, outside the checkout's root (whose skseq/ may be
    the unbuilt source tree), its output captured."""
    return subprocess.Popen(
        [sys.executable, *arguments], env=env, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _outputs_of(processes, timeout):
    """(stdout, stderr) of each process, which must have succeeded."""
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        assert process.returncode == 0, stderr
        outputs.append((stdout, stderr))
    return outputs


def test_fit_is_bit_identical_on_any_number_of_cores(tmp_path):
    """The same data and random_state give the same bits whatever the number
    of usable cores (one CPU, as under `taskset -c 0`; all of them; a machine
    of 64 cores) and threads (OMP_NUM_THREADS unset, 2, 3): the batch chunks,
    which fix the order of the gradient sums, depend on the batch alone."""
    one_cpu = sorted(os.sched_getaffinity(0))[:1]
    runs = [  # (CPUs allowed, cores joblib reports, OMP_NUM_THREADS)
        (one_cpu, None, None),
        (one_cpu, None, "2"),
        (None, None, None),
        (None, 64, "3"),
    ]
    processes = []
    for cpus, cores, omp_threads in runs:
        env = _subprocess_env()
        env.pop("OMP_NUM_THREADS", None)
        if omp_threads is not None:
            env["OMP_NUM_THREADS"] = omp_threads
        processes.append(
            _start_python(
                ["-c", _FIT_ELSEWHERE, json.dumps([cpus, cores])], env, tmp_path
            )
        )
    reports = [
        json.loads(stdout.strip().splitlines()[-1])
        for stdout, _ in _outputs_of(processes, timeout=300)
    ]
    # The runs saw different machines and thread budgets.
    assert reports[0]["cores"] == 1 and reports[0]["threads"] == 1
    assert reports[1]["threads"] == 2
    assert reports[3]["cores"] == 64 and reports[3]["threads"] == 3
    if len(os.sched_getaffinity(0)) > 1:
        assert reports[2]["cores"] > 1
    for report in reports[1:]:
        assert report["hashes"] == reports[0]["hashes"], (report, reports[0])


def test_openmp_runtime_stops_polling_soon_unless_the_user_chose(tmp_path):
    """The OpenMP runtime that skseq's core starts makes waiting threads sleep
    after SPIN_COUNT polls (GCC's default polls for milliseconds, which stalls
    parallel regions on a busy machine), unless the user set GOMP_SPINCOUNT or
    OMP_WAIT_POLICY; the variable does not stay in the environment. libgomp
    prints the settings it started with under OMP_DISPLAY_ENV=VERBOSE."""
    from skseq import _openmp_helpers
    from skseq._openmp import SPIN_COUNT

    if not _openmp_helpers.openmp_enabled():
        pytest.skip("a serial build of the core starts no OpenMP runtime")
    code = "import os, skseq; print('GOMP_SPINCOUNT' in os.environ)"
    settings = [{}, {"GOMP_SPINCOUNT": "123"}, {"OMP_WAIT_POLICY": "ACTIVE"}]
    processes = []
    for variables in settings:
        env = _subprocess_env()
        for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
            env.pop(name, None)
        env.update(variables, OMP_DISPLAY_ENV="VERBOSE")
        processes.append(_start_python(["-c", code], env, tmp_path))
    results = [
        (stdout.strip(), re.findall(r"GOMP_SPINCOUNT = '(\d+)'", stderr))
        for stdout, stderr in _outputs_of(processes, timeout=120)
    ]
    (left, counts), (_, user_counts), (_, active_counts) = results
    assert left == "False"
    assert SPIN_COUNT in counts
    assert "123" in user_counts and SPIN_COUNT not in user_counts
    assert active_counts and SPIN_COUNT not in active_counts


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_fit_does_not_depend_on_thread_count(Estimator):
    X, y, params = _determinism_problem(Estimator)
    # Batches of 64 sequences of 30 steps (31 slots) and 32 units are split
    # over two threads when two are allowed.
    assert threads_for(64, 31, 1, 32, max_threads=2) == 2
    assert effective_n_threads() >= min(2, joblib.cpu_count())

    unlimited = Estimator(**params).fit(X, y)
    with threadpoolctl.threadpool_limits(1):
        assert effective_n_threads() == 1
        limited = Estimator(**params).fit(X, y)
        limited_prediction = limited.predict(X)
    assert np.array_equal(limited.weights_, unlimited.weights_)
    assert np.array_equal(limited_prediction, unlimited.predict(X))
    if Estimator is LSTMClassifier:
        assert np.array_equal(limited.predict_proba(X), unlimited.predict_proba(X))


# ------------------------------------------------------------ 7. targets


def test_multi_output_regression():
    X = _sequences(300, 5, 1, seed=7)
    Y = np.column_stack([X[:, -1, 0], X[:, -2, 0], X[:, -1, 0] - X[:, -2, 0]])
    model = LSTMRegressor(**TINY, max_iter=40, random_state=0).fit(X, Y)
    assert model.n_outputs_ == 3
    Y_pred = model.predict(X)
    assert Y_pred.shape == (300, 3)
    assert np.all(r2_score(Y, Y_pred, multioutput="raw_values") > 0.5)
    assert model.predict(X[:1]).shape == (1, 3)


def test_multilabel_classification():
    X = _sequences(300, 5, 1, seed=8)
    Y = (X[:, [-1, -2, -3], 0] > 0).astype(int)
    assert Y.shape == (300, 3)
    model = LSTMClassifier(**TINY, max_iter=30, random_state=0).fit(X, Y)

    predicted = model.predict(X)
    assert predicted.shape == (300, 3)
    assert set(np.unique(predicted)) <= {0, 1}
    proba = model.predict_proba(X)
    assert proba.shape == (300, 3)
    assert np.all((proba >= 0) & (proba <= 1))
    # Each label is learned on its own: not a softmax over the three labels.
    assert not np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(predicted, (proba > 0.5).astype(int))
    assert model.score(X, Y) > 0.8  # subset accuracy


@pytest.mark.parametrize(
    "names", [["no", "yes"], ["bird", "cat", "dog"]], ids=["binary", "multiclass"]
)
def test_string_class_labels_round_trip(names):
    X = _sequences(200, 5, 1, seed=9)
    thresholds = np.linspace(-0.5, 0.5, len(names) - 1)
    labels = np.array(names)[np.digitize(X[:, -1, 0], thresholds)]
    model = LSTMClassifier(**TINY, max_iter=30, random_state=0).fit(X, labels)

    assert model.classes_.tolist() == sorted(names)
    predicted = model.predict(X)
    assert predicted.shape == (200,)
    assert set(predicted) <= set(names)
    assert np.mean(predicted == labels) > 0.8
    proba = model.predict_proba(X)
    assert proba.shape == (200, len(names))
    assert_allclose(proba.sum(axis=1), 1)
    assert np.array_equal(predicted, model.classes_[proba.argmax(axis=1)])


def _imbalanced_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5, 1))
    # Overlapping classes, ~18% positives: an unweighted fit favours "0".
    y = (X[:, -1, 0] + rng.normal(size=300) > 1.6).astype(int)
    return X, y


def test_class_weight_balanced_raises_minority_recall():
    X, y = _imbalanced_problem()
    assert 0.1 < y.mean() < 0.25
    params = {**TINY, "max_iter": 20, "random_state": 0}
    plain = LSTMClassifier(**params).fit(X, y)
    balanced = LSTMClassifier(**params, class_weight="balanced").fit(X, y)
    recall_plain = recall_score(y, plain.predict(X))
    recall_balanced = recall_score(y, balanced.predict(X))
    assert recall_balanced > recall_plain + 0.2


def test_class_weight_balanced_is_the_balanced_sample_weight():
    X, y = _imbalanced_problem()
    params = {**TINY, "max_iter": 5, "random_state": 0}
    balanced = LSTMClassifier(**params, class_weight="balanced").fit(X, y)
    weighted = LSTMClassifier(**params).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)
    )
    plain = LSTMClassifier(**params).fit(X, y)
    assert_allclose(balanced.weights_, weighted.weights_, rtol=1e-12, atol=0)
    assert not np.allclose(balanced.weights_, plain.weights_)


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
def test_zero_sample_weight_equals_dropping_the_samples(Estimator):
    n_samples = 40
    X = _sequences(n_samples, 6, 2, seed=10)
    y = X[:, -1, 0] + X[:, 0, 1]
    if Estimator is LSTMClassifier:
        y = (y > 0).astype(int)
    kept = np.arange(n_samples) % 2 == 0
    assert Estimator is LSTMRegressor or len(np.unique(y[kept])) == 2
    sample_weight = kept.astype(float)
    params = {
        "hidden_layer_sizes": (8,),
        "learning_rate_init": 0.01,
        "max_iter": 10,
        "shuffle": False,
        "random_state": 0,
    }
    # One batch per epoch in both fits: the same optimizer steps on the same
    # gradients, the zero-weight samples contributing exact zeros.
    weighted = Estimator(**params, batch_size=n_samples).fit(
        X, y, sample_weight=sample_weight
    )
    dropped = Estimator(**params, batch_size=int(kept.sum())).fit(X[kept], y[kept])
    assert weighted.n_iter_ == dropped.n_iter_
    assert_allclose(weighted.weights_, dropped.weights_, rtol=1e-10, atol=1e-14)
    unweighted = Estimator(**params, batch_size=n_samples).fit(X, y)
    assert not np.allclose(weighted.weights_, unweighted.weights_)


def test_thread_budget_follows_omp_num_threads_set_at_run_time(monkeypatch):
    """The budget is capped at the usable cores only while OMP_NUM_THREADS is
    unset (scikit-learn's rule). The check runs in compiled code; it must see
    the variable set or removed through os.environ after import."""
    from skseq import _openmp_helpers

    budget = _openmp_helpers.openmp_max_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _openmp_helpers.openmp_effective_threads(1) == 1
    assert _openmp_helpers.openmp_effective_threads(budget + 5) == budget
    monkeypatch.setenv("OMP_NUM_THREADS", str(budget))
    assert _openmp_helpers.openmp_effective_threads(1) == budget
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _openmp_helpers.openmp_effective_threads(1) == 1


def test_one_layer_training_does_not_depend_on_blas_threads():
    """A one-layer network trains without a BLAS thread limit where the packed
    kernels run, because its step calls no BLAS: the head's products and the
    sums of squares (penalty, gradient norm) are compiled. The BLAS thread
    count then must not change a bit of the result. Over 10 000 weights
    (OpenBLAS threads its dot products above that), with the penalty, gradient
    clipping and sample weights."""
    X = _sequences(64, 20, 8, seed=5)
    y = X[:, -1, 0] - X[:, 0, 1]
    sample_weight = np.random.default_rng(5).uniform(0.5, 2.0, size=len(X))
    model = LSTMRegressor(
        hidden_layer_sizes=(64,), alpha=1e-3, max_grad_norm=0.05, batch_size=32,
        max_iter=3, random_state=0,
    )  # fmt: skip
    weights = []
    for blas_threads in (1, 2):
        with threadpoolctl.threadpool_limits(blas_threads, user_api="blas"):
            fitted = clone(model).fit(X, y, sample_weight=sample_weight)
        weights.append(fitted.weights_)
    assert weights[0].size > 10_000
    np.testing.assert_array_equal(weights[0], weights[1])


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_skops_load_across_skseq_versions_warns(kind, monkeypatch):
    """A model saved with skops by another skseq version loads with skseq's
    version warning, as a joblib file does."""
    import skops.io

    import skseq._base
    from skseq.exceptions import InconsistentVersionWarning

    X, models = _fitted_models()
    est = models[kind]
    monkeypatch.setattr(skseq._base, "__version__", "0.0.1")
    data = skops.io.dumps(est)
    monkeypatch.undo()
    trusted = skops.io.get_untrusted_types(data=data)
    with pytest.warns(InconsistentVersionWarning, match="version 0.0.1"):
        loaded = skops.io.loads(data, trusted=trusted)
    assert np.array_equal(loaded.predict(X), est.predict(X))


def test_demo_takes_no_options(capsys):
    """``python -m skseq`` documents itself under --help and refuses options
    it does not have, before any training."""
    from skseq.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "usage: python -m skseq" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-such-option"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_parallel_without_dask_names_the_extra(monkeypatch):
    """Without dask, skseq.parallel's functions say which extra to install."""
    import sys

    from skseq import parallel

    for name in ("dask", "dask.array", "dask.bag"):
        monkeypatch.setitem(sys.modules, name, None)
    calls = (
        lambda: parallel.predict_ragged(None, [np.zeros((2, 1))]),
        lambda: parallel.predict_blocks(None, np.zeros((2, 2, 1))),
        lambda: parallel.partial_fit_blocks(None, np.zeros((2, 2, 1)), None),
    )
    for call in calls:
        with pytest.raises(ImportError, match=r'pip install "skseq\[dask\]"'):
            call()
