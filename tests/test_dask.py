"""skseq on a real dask cluster: two worker processes on this machine.

The cluster is started once for the module. Its workers are separate
processes, so these tests show what the estimators need to run there: they
pickle, they import the installed skseq, and they give the same numbers as in
the test process.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

import skseq
from skseq import LSTMClassifier, LSTMRegressor
from skseq.parallel import partial_fit_blocks, predict_blocks, predict_ragged

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # Worker processes are spawned with this process's working directory.
    # Start them elsewhere, so that nothing there resolves "import skseq"
    # against the source tree of a clone (unbuilt in CI) instead of the
    # installed package; the first test checks which skseq they import.
    workdir = tmp_path_factory.mktemp("dask-workers")
    here = os.getcwd()
    # The nannies set OMP_NUM_THREADS, MKL_NUM_THREADS, ... to 1 in this
    # process's environment for the workers they spawn, and leave them set.
    # Later tests must see the environment they started with: a library
    # imported later (PyTorch, through skops) would otherwise set the OpenMP
    # budget of the whole test process to one thread.
    environment = dict(os.environ)
    os.chdir(workdir)
    try:
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            local_directory=str(workdir),
        )
    finally:
        os.chdir(here)
    try:
        with cluster, distributed.Client(cluster) as client:
            yield client
    finally:
        os.environ.clear()
        os.environ.update(environment)


def test_workers_import_the_tested_skseq_with_one_thread_each(client):
    # Defined here so that it is pickled by value: the workers cannot import
    # this test module.
    def _worker_setup():
        from threadpoolctl import threadpool_info

        import skseq as worker_skseq

        openmp = [
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "openmp"
        ]
        return worker_skseq.__file__, os.environ.get("OMP_NUM_THREADS"), openmp

    setups = client.run(_worker_setup)
    assert len(setups) == 2
    for path, omp_env, openmp in setups.values():
        assert Path(path).resolve() == Path(skseq.__file__).resolve()
        assert omp_env == "1"
        # skseq's OpenMP runtime (loaded with its core) runs one thread.
        assert openmp and set(openmp) == {1}


def test_grid_search_on_dask_equals_in_process(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 6, 2))
    y = X[:, :2, 0].sum(axis=1)
    search = GridSearchCV(
        LSTMRegressor(max_iter=8, batch_size=16, random_state=0),
        {"hidden_layer_sizes": [(3,), (6,)], "alpha": [1e-4, 1e-1]},
        cv=2,
    )
    local = search.fit(X, y).cv_results_
    local_best = search.best_params_
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            on_dask = search.set_params(n_jobs=-1).fit(X, y).cv_results_
    # The fits ran as tasks on the cluster's workers (joblib may batch
    # several fits into one task).
    assert tasks.data
    assert {task["worker"] for task in tasks.data} <= set(client.run(os.getpid))
    assert np.array_equal(on_dask["mean_test_score"], local["mean_test_score"])
    assert np.array_equal(on_dask["split1_test_score"], local["split1_test_score"])
    assert search.best_params_ == local_best


@pytest.mark.parametrize(
    "method, n_classes",
    [("predict", None), ("predict", 3), ("predict_proba", 3), ("predict", 0)],
)
def test_predict_blocks_on_workers_equals_predict(client, method, n_classes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 5, 2))
    if n_classes is None:  # one output
        model = LSTMRegressor((4,), max_iter=3, random_state=0)
        y = X[:, 0, 0]
    elif n_classes == 0:  # two outputs
        model = LSTMRegressor((4,), max_iter=3, random_state=0)
        y = X[:, :2, 0]
    else:
        model = LSTMClassifier((4,), max_iter=3, random_state=0)
        y = np.array(["low", "mid", "high"])[rng.integers(0, 3, size=len(X))]
    model.fit(X, y)
    # Blocks split the time steps too: predict_blocks merges them.
    X_dask = da.from_array(X, chunks=(25, 3, 2))
    result = predict_blocks(model, X_dask, method=method)
    assert result.numblocks[0] == 4
    expected = getattr(model, method)(X)
    assert result.shape == expected.shape
    assert result.dtype == expected.dtype
    computed = client.compute(result).result()
    assert np.array_equal(computed, expected)


def test_predict_blocks_univariate_2d(client):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 7))
    model = LSTMRegressor((3,), max_iter=3, random_state=0).fit(X, X[:, 0])
    result = predict_blocks(model, da.from_array(X, chunks=(20, 7)))
    assert np.array_equal(client.compute(result).result(), model.predict(X))


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_ragged_on_workers_equals_predict(client, method):
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(n, 2)) for n in rng.integers(2, 10, size=70)]
    y = np.array([x[-1, 0] > 0 for x in X])
    model = LSTMClassifier((4,), max_iter=3, random_state=0).fit(X, y)
    bag = predict_ragged(model, X, method, npartitions=3)
    assert bag.npartitions == 3
    computed = np.asarray(client.compute(bag).result())
    assert np.array_equal(computed, getattr(model, method)(X))


def test_predict_blocks_rejects_other_ranks():
    model = LSTMRegressor((3,), max_iter=2, random_state=0)
    X = np.zeros((10, 4, 2))
    model.fit(X, np.arange(10.0))
    with pytest.raises(ValueError, match="2-D or 3-D dask array"):
        predict_blocks(model, da.zeros((10, 4, 2, 1), chunks=5))
    with pytest.raises(ValueError, match="2-D or 3-D dask array"):
        predict_blocks(model, da.zeros(10, chunks=5))
    with pytest.raises(TypeError, match="dask.array.Array"):
        predict_blocks(model, X)


@pytest.mark.parametrize("classifier", [False, True])
def test_partial_fit_blocks_equals_partial_fit_on_each_block(client, classifier):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(100, 6, 2))
    if classifier:
        y = (X[:, -1, 0] > 0).astype(int)
        make = lambda: LSTMClassifier((4,), batch_size=10, random_state=0)  # noqa: E731
        kwargs = {"classes": [0, 1]}
    else:
        y = X[:, :3, 1].sum(axis=1)
        make = lambda: LSTMRegressor((4,), batch_size=10, random_state=0)  # noqa: E731
        kwargs = {}
    chunks = (30, 30, 30, 10)
    X_dask = da.from_array(X, chunks=(chunks, 6, 2))
    # y arrives split differently: it is rechunked to match X.
    y_dask = da.from_array(y, chunks=50)

    streamed = partial_fit_blocks(make(), X_dask, y_dask, n_epochs=2, **kwargs)

    by_hand = make()
    bounds = np.cumsum((0,) + chunks)
    for _ in range(2):
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            by_hand.partial_fit(X[start:stop], y[start:stop], **kwargs)
    for a, b in zip(streamed.lstm_weights_, by_hand.lstm_weights_, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert np.array_equal(a[name], b[name])
    assert np.array_equal(streamed.head_coef_, by_hand.head_coef_)
    assert streamed.loss_curve_ == by_hand.loss_curve_


@pytest.mark.parametrize(
    "ndim, method", [(3, "predict"), (3, "predict_proba"), (2, "predict_proba")]
)
def test_per_step_models_keep_their_layout_on_workers(client, ndim, method):
    """return_sequences=True: predictions with a time axis, (n, T) or (n, T,
    k), from 3-D and from univariate 2-D X; partial_fit_blocks takes the
    per-step targets."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 6, 2))[..., : 2 if ndim == 3 else 1]
    if ndim == 2:
        X = X[..., 0]
    steps = np.cumsum(X if ndim == 2 else X[..., 0], axis=1)
    labels = np.digitize(steps, [-1.0, 1.0])
    model = LSTMClassifier((4,), return_sequences=True, max_iter=3, random_state=0)
    model.fit(X, labels)
    X_dask = da.from_array(X, chunks=(20,) + X.shape[1:])
    result = predict_blocks(model, X_dask, method=method)
    expected = getattr(model, method)(X)
    assert result.shape == expected.shape
    assert np.array_equal(client.compute(result).result(), expected)

    streamed = partial_fit_blocks(
        LSTMClassifier((4,), return_sequences=True, random_state=0), X_dask, labels,
        classes=[0, 1, 2],
    )  # fmt: skip
    by_hand = LSTMClassifier((4,), return_sequences=True, random_state=0)
    for start in range(0, 60, 20):
        by_hand.partial_fit(X[start : start + 20], labels[start : start + 20],
                            classes=[0, 1, 2])  # fmt: skip
    assert np.array_equal(streamed.weights_, by_hand.weights_)


def test_bad_partition_counts_and_missing_y_are_named():
    """npartitions and n_epochs are positive integers, and y is required:
    each is named before dask runs anything (dask takes a negative count
    for an empty bag: no predictions and no error)."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(n, 2)) for n in (3, 4, 5, 2)]
    model = LSTMRegressor((3,), max_iter=2, random_state=0).fit(X, rng.normal(size=4))
    for bad, error in ((-1, ValueError), (0, ValueError), (1.5, TypeError),
                       (True, TypeError)):  # fmt: skip
        with pytest.raises(error, match="npartitions must be"):
            predict_ragged(model, X, npartitions=bad)
    assert len(predict_ragged(model, X, npartitions=2).compute()) == 4
    blocks = da.from_array(rng.normal(size=(8, 3, 2)), chunks=(4, 3, 2))
    with pytest.raises(ValueError, match="requires y"):
        partial_fit_blocks(LSTMRegressor((3,)), blocks, None)
    with pytest.raises(TypeError, match="n_epochs must be"):
        partial_fit_blocks(LSTMRegressor((3,)), blocks, blocks[:, 0, 0], n_epochs=2.0)
