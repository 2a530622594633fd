"""What the estimators learn at their default parameters.

Runs the learning tasks below over several seeds with every training
parameter at its default, except the size of the network
(``hidden_layer_sizes``), the training set and the number of epochs
(``max_iter``), fixed per task in ``TASKS`` (``airline_validated`` also sets
early stopping), and writes one JSON record:

- ``adding_T100``: the adding problem as Hochreiter & Schmidhuber (1997)
  define it (``make_adding_problem(variant="hochreiter1997")``, lengths 100 to
  110); the score is the share of 2560 test sequences predicted within 0.04
  of the target (the paper's criterion; target >= 0.95).
- ``temporal_order_6a``: the temporal order task 6a (``make_temporal_order``,
  lengths 100 to 110, four classes); test accuracy on 2560 sequences (target
  >= 0.99).
- ``airline``: one-step forecasts of the airline passengers' last 24 months
  from windows of 12 yearly log-growths, as in the gallery example but
  without its early stopping; RMSE in thousands of passengers (lower is
  better; the seasonal naive forecast, the same month a year earlier,
  scores 50.0). With 96 training windows and nothing to stop it before
  ``max_iter``, this measures how far a long fit overfits.
- ``airline_validated``: the same with ``early_stopping=True`` and
  ``shuffle=False`` (the last tenth of the training windows held out in
  time order), as the gallery example fits it.
- ``italy_power_demand``, ``gunpoint``, ``japanese_vowels``: accuracy on
  the archive's own test split, training on its training split.
- ``adding_T1000`` (only when named): the adding problem at T=1000, the
  paper's longest lag.

Each seed draws the synthetic data and the model's ``random_state``. Run it
once on the code to compare before and once after a change, e.g.::

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/bench_learning.py \\
        --label after --out benchmarks/results/learning_after.json

The script takes the estimators from whatever ``skseq`` is importable, so it
also runs on an older checkout (given the dataset loaders it needs).
"""

import argparse
import ast
import functools
import json
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skseq
from skseq import LSTMClassifier, LSTMRegressor
from skseq import datasets as ds

N_TEST = 2560

# Per task: hidden_layer_sizes, training sequences (None: the task's own
# training set), max_iter and, for airline_validated only, early_stopping and
# shuffle. Everything else stays at its default.
TASKS = {
    "adding_T100": dict(hidden=(16,), n_train=5000, max_iter=30),
    "temporal_order_6a": dict(hidden=(16,), n_train=5000, max_iter=30),
    "airline": dict(hidden=(32,), n_train=None, max_iter=300),
    "airline_validated": dict(
        hidden=(32,), n_train=None, max_iter=300, early_stopping=True, shuffle=False
    ),
    "italy_power_demand": dict(hidden=(32,), n_train=None, max_iter=200),
    "gunpoint": dict(hidden=(32,), n_train=None, max_iter=200),
    "japanese_vowels": dict(hidden=(32,), n_train=None, max_iter=200),
}
EXTRA_TASKS = {
    "adding_T1000": dict(hidden=(16,), n_train=5000, max_iter=60),
}
DEFAULT_TASKS = list(TASKS)


def _adding(seed, config, n_timesteps):
    n = config["n_train"]
    X, y = ds.make_adding_problem(
        n + N_TEST, n_timesteps, variant="hochreiter1997", random_state=seed
    )
    model = LSTMRegressor(
        hidden_layer_sizes=config["hidden"],
        max_iter=config["max_iter"],
        random_state=seed,
    )
    start = time.perf_counter()
    model.fit(X[:n], y[:n])
    elapsed = time.perf_counter() - start
    within = np.abs(model.predict(X[n:]) - y[n:]) < 0.04
    return float(np.mean(within)), model, elapsed


def adding_T100(seed, config):
    return _adding(seed, config, 100)


def adding_T1000(seed, config):
    return _adding(seed, config, 1000)


def temporal_order_6a(seed, config):
    n = config["n_train"]
    X, y = ds.make_temporal_order(n + N_TEST, n_classes=4, random_state=seed)
    model = LSTMClassifier(
        hidden_layer_sizes=config["hidden"],
        max_iter=config["max_iter"],
        random_state=seed,
    )
    start = time.perf_counter()
    model.fit(X[:n], y[:n])
    elapsed = time.perf_counter() - start
    return float(model.score(X[n:], y[n:])), model, elapsed


def airline(seed, config):
    from skseq.timeseries import make_windows

    passengers = ds.load_airline_passengers().data
    season, window, n_test = 12, 12, 24
    growth = np.log(passengers[season:]) - np.log(passengers[:-season])
    X, y = make_windows(growth, window)
    model = TransformedTargetRegressor(
        regressor=make_pipeline(
            StandardScaler(),
            LSTMRegressor(
                hidden_layer_sizes=config["hidden"],
                max_iter=config["max_iter"],
                random_state=seed,
                **{
                    key: config[key]
                    for key in ("early_stopping", "shuffle")
                    if key in config
                },
            ),
        ),
        transformer=StandardScaler(),
    )
    start = time.perf_counter()
    model.fit(X[:-n_test], y[:-n_test])
    elapsed = time.perf_counter() - start
    last_year = passengers[-n_test - season : -season]
    forecast = last_year * np.exp(model.predict(X[-n_test:]))
    rmse = float(np.sqrt(np.mean((forecast - passengers[-n_test:]) ** 2)))
    return rmse, model.regressor_[-1], elapsed


def _archive(loader):
    def task(seed, config):
        X_train, y_train = loader(split="train", return_X_y=True)
        X_test, y_test = loader(split="test", return_X_y=True)
        model = LSTMClassifier(
            hidden_layer_sizes=config["hidden"],
            max_iter=config["max_iter"],
            random_state=seed,
        )
        start = time.perf_counter()
        model.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
        return float(model.score(X_test, y_test)), model, elapsed

    return task


RUNNERS = {
    "adding_T100": adding_T100,
    "adding_T1000": adding_T1000,
    "temporal_order_6a": temporal_order_6a,
    "airline": airline,
    "airline_validated": airline,
    "italy_power_demand": _archive(getattr(ds, "load_italy_power_demand", None)),
    "gunpoint": _archive(getattr(ds, "load_gunpoint", None)),
    "japanese_vowels": _archive(getattr(ds, "load_japanese_vowels", None)),
}
METRICS = {
    "adding_T100": "share of test sequences within 0.04",
    "adding_T1000": "share of test sequences within 0.04",
    "temporal_order_6a": "test accuracy",
    "airline": "one-step RMSE, last 24 months (thousands; lower is better)",
    "airline_validated": "one-step RMSE, last 24 months (thousands; lower is better)",
    "italy_power_demand": "test accuracy",
    "gunpoint": "test accuracy",
    "japanese_vowels": "test accuracy",
}


def run(task, seeds, max_iter=None):
    config = {**TASKS, **EXTRA_TASKS}[task]
    if max_iter is not None:
        config = {**config, "max_iter": max_iter}
    per_seed = []
    for seed in seeds:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            score, model, elapsed = RUNNERS[task](seed, config)
        record = {
            "seed": seed,
            "score": score,
            "n_iter": int(model.n_iter_),
            "fit_seconds": round(elapsed, 2),
            "final_loss": float(model.loss_curve_[-1]),
            "lowest_loss": float(min(model.loss_curve_)),
            "max_iter_reached": int(model.n_iter_) == config["max_iter"],
            "convergence_warnings": sum(
                issubclass(w.category, ConvergenceWarning) for w in caught
            ),
        }
        per_seed.append(record)
        print(task, record, flush=True)
    scores = [r["score"] for r in per_seed]
    return {
        "metric": METRICS[task],
        "hidden_layer_sizes": list(config["hidden"]),
        "n_train": config["n_train"],
        "max_iter": config["max_iter"],
        "mean": float(np.mean(scores)),
        "per_seed": per_seed,
    }


def _set_parameters(params):
    """Make the runners build every estimator with ``params`` (strings, read
    as Python literals where they are one) instead of those defaults."""
    global LSTMClassifier, LSTMRegressor
    values = {}
    for name, text in params.items():
        try:
            values[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            values[name] = text
    LSTMClassifier = functools.partial(LSTMClassifier, **values)
    LSTMRegressor = functools.partial(LSTMRegressor, **values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--max-iter", type=int, default=None, help="override every task's epochs"
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="for ablations: set these parameters of every estimator, e.g. "
        "forget_bias=1.0 (recorded under 'defaults')",
    )
    args = parser.parse_args()
    _set_parameters(dict(item.split("=", 1) for item in args.set))
    defaults = LSTMRegressor().get_params()
    result = {
        "label": args.label,
        "skseq": skseq.__version__,
        "skseq_path": skseq.__file__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "defaults": {
            key: defaults[key]
            for key in ("forget_bias", "n_iter_no_change", "tol", "learning_rate_init")
        },
        "tasks": {},
    }
    for task in args.tasks:
        result["tasks"][task] = run(task, args.seeds, args.max_iter)
        with open(args.out, "w") as stream:
            json.dump(result, stream, indent=1)


if __name__ == "__main__":
    main()
