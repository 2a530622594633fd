#!/usr/bin/env python
"""What a dask cluster of worker processes buys on this machine.

Starts a ``dask.distributed.LocalCluster`` (``--workers`` processes of one
thread each) and times, over ``--rounds`` rounds in alternating order:

- ``grid search``: ``GridSearchCV`` over 2 hidden sizes x 2 alphas, cv=2
  (8 fits of an LSTMRegressor, 512 sequences of 40 steps, 4 features), in
  this process with ``n_jobs=1`` against the same search under
  ``joblib.parallel_backend("dask")`` (one fit per worker, one thread each);
- ``batch prediction``: ``predict`` of 40,000 sequences (40 steps, 4
  features, 64 units) held in this process against
  :func:`skseq.parallel.predict_blocks` on the same array held on the
  workers (``persist``-ed in one block per worker, as data already on a
  cluster is).

In this process, each runs twice: on one OpenMP thread (threadpoolctl), and
with skseq's default threads (every usable core). Prints the medians and the
speed-ups of dask against both. The
machine may be shared: medians, and the spread, are what to quote. Run from
a directory where ``import skseq`` finds the installed package::

    python benchmarks/bench_dask.py
    python benchmarks/bench_dask.py --rounds 5 --json benchmarks/results/dask.json
"""

import argparse
import json
import os
import statistics
import subprocess
import time
import warnings

import numpy as np


def git_commit():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args()

    import dask.array as da
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.model_selection import GridSearchCV
    from threadpoolctl import threadpool_limits

    from skseq import LSTMRegressor
    from skseq.parallel import predict_blocks

    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 40, 4))
    y = X[:, :5, 0].sum(axis=1)
    search = GridSearchCV(
        LSTMRegressor(max_iter=10, batch_size=64, tol=0, random_state=0),
        {"hidden_layer_sizes": [(24,), (48,)], "alpha": [1e-4, 1e-2]},
        cv=2,
    )

    model = LSTMRegressor((64,), max_iter=2, random_state=0).fit(X[:256], y[:256])

    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    client = Client(cluster)
    client.wait_for_workers(args.workers)
    n_pred = 40_000
    X_cluster = client.persist(
        da.random.default_rng(1).normal(
            size=(n_pred, 40, 4), chunks=(-(-n_pred // args.workers), 40, 4)
        )
    )
    X_pred = X_cluster.compute()

    def grid_local():
        search.set_params(n_jobs=1).fit(X, y)

    def grid_one_thread():
        with threadpool_limits(1, user_api="openmp"):
            grid_local()

    def grid_dask():
        with joblib.parallel_backend("dask"):
            search.set_params(n_jobs=-1).fit(X, y)

    def predict_local():
        model.predict(X_pred)

    def predict_one_thread():
        with threadpool_limits(1, user_api="openmp"):
            predict_local()

    def predict_dask():
        predict_blocks(model, X_cluster).compute()

    labels = ("1 thread", "in-process", "dask")
    cases = {
        "grid search": (grid_one_thread, grid_local, grid_dask),
        "batch prediction": (predict_one_thread, predict_local, predict_dask),
    }
    times = {name: {label: [] for label in labels} for name in cases}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid_dask()  # the workers import skseq and warm up once
        predict_dask()
        for round_ in range(args.rounds):
            for name, functions in cases.items():
                order = list(zip(labels, functions, strict=True))
                for label, function in order[:: 1 if round_ % 2 else -1]:
                    times[name][label].append(timed(function))
    client.close()
    cluster.close()

    result = {
        "commit": git_commit(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "rounds": args.rounds,
        "cases": {},
    }
    print(f"{os.cpu_count()} CPUs, {args.workers} workers x 1 thread, medians")
    print(
        f"{'':<18}{'1 thread':>10}{'in-process':>12}{'dask':>9}"
        f"{'vs 1 thread':>13}{'vs in-process':>15}"
    )
    for name, by_label in times.items():
        one, local, remote = (statistics.median(by_label[k]) for k in labels)
        print(
            f"{name:<18}{one:>9.2f}s{local:>11.2f}s{remote:>8.2f}s"
            f"{one / remote:>12.2f}x{local / remote:>14.2f}x"
        )
        result["cases"][name] = {
            **by_label,
            "speed_up_vs_one_thread": one / remote,
            "speed_up_vs_in_process": local / remote,
        }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
