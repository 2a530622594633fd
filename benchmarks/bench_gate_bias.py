"""The evidence behind the default gate biases of the gated cells.

``forget_bias="auto"`` (LSTM) and the GRU's update gates use the chrono
initialisation on training sequences of more than
``_cells.FIXED_BIAS_MAX_LENGTH`` (32) steps and a fixed bias of 1.0 on
shorter ones. This script measures that rule against its alternatives, with
every other parameter at its default, on three kinds of task:

- ``check``: scikit-learn's training check with early stopping. Its data is
  200 rows of 10 standardised columns (univariate sequences of 10 steps)
  whose target is one column, 5 steps before the end, plus noise
  (``make_regression(n_informative=1, noise=20)``). The check sets
  ``alpha=0.01``, fits on the array and then on lists, and asks for a
  training R^2 above 0.5. The script counts the fits that fail, over
  random states and both precisions.
- ``short_real``: ItalyPowerDemand (24 steps) and JapaneseVowels (7 to 29
  steps), test accuracy of 32-unit classifiers.
- ``lags``: the modern adding problem at growing lengths. It shows how far a
  fixed bias carries information (16 units, 40 epochs, 2000 training
  sequences), as test MSE (solved below 0.01).
- ``paper``: the adding problem as Hochreiter & Schmidhuber (1997) define it
  (100 to 110 steps), as ``bench_learning.py`` runs it (16 units, 5000
  training sequences, 30 epochs): the share of 2560 test sequences within
  0.04 of the target.

The variants replace the cell's drawn biases for the whole run:

- ``rule`` is the default;
- ``chrono`` is chrono at every length;
- ``fixed`` is 1.0 at every length;
- ``zero`` is the GRU with zero biases, as in Keras.

Run::

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/bench_gate_bias.py \\
        --out benchmarks/results/gate_bias.json           # about 15 min

``--quick`` runs fewer random states and lengths (about 3 min).
"""

import argparse
import json
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler, scale

import skseq
from skseq import GRUClassifier, GRURegressor, LSTMClassifier, LSTMRegressor, _cells
from skseq import datasets as ds

CELLS = {
    "lstm": (LSTMRegressor, LSTMClassifier, _cells.LSTM),
    "gru": (GRURegressor, GRUClassifier, _cells.GRU),
}
VARIANTS = {
    "lstm": ["rule", "chrono", "fixed"],
    "gru": ["rule", "chrono", "fixed", "zero"],
}


def _lstm_biases(variant):
    def drawn(bias, hidden, rng, max_length, forget_bias):
        if not isinstance(forget_bias, str):
            return
        if variant == "chrono":
            keep = _cells.chrono_gate_biases(rng, hidden, max_length)
            bias[hidden : 2 * hidden] = keep
            bias[:hidden] = -keep
        else:
            bias[hidden : 2 * hidden] = 1.0

    return drawn


def _gru_biases(variant):
    def drawn(bias, hidden, rng, max_length):
        if variant == "chrono":
            bias[0, :hidden] = _cells.chrono_gate_biases(rng, hidden, max_length)
        elif variant == "fixed":
            bias[0, :hidden] = 1.0

    return drawn


class variant_biases:
    """Within the block, ``cell`` draws its gate biases as ``variant`` says."""

    def __init__(self, cell, variant):
        self.cell, self.variant = CELLS[cell][2], variant
        self.saved = self.cell.drawn_bias

    def __enter__(self):
        if self.variant != "rule":
            make = _lstm_biases if self.cell.name == "lstm" else _gru_biases
            self.cell.drawn_bias = make(self.variant)

    def __exit__(self, *exc):
        self.cell.drawn_bias = self.saved


def check_task(cell, seeds):
    """Failures of scikit-learn's training check with early stopping, and
    the training R^2 of every fit."""
    X, y = make_regression(
        n_samples=200, n_features=10, n_informative=1, bias=5.0, noise=20,
        random_state=42,
    )  # fmt: skip
    X, y = StandardScaler().fit_transform(X), scale(y)
    scores = []
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        for seed in seeds:
            model = CELLS[cell][0](early_stopping=True, alpha=0.01, random_state=seed)
            model.fit(Xd, y)
            model.fit(Xd.tolist(), y.tolist())
            scores.append(float(model.score(Xd, y)))
    scores = np.array(scores)
    return {
        "fails": int(np.sum(scores <= 0.5)),
        "fits": len(scores),
        "min_r2": float(scores.min()),
        "failing": [
            {"dtype": ("float32", "float64")[k // len(seeds)],
             "random_state": seeds[k % len(seeds)], "r2": float(scores[k])}
            for k in np.flatnonzero(scores <= 0.5)
        ],
    }  # fmt: skip


def short_real_task(cell, seeds):
    """Test accuracy of a 32-unit classifier per archive set and seed."""
    result = {}
    for name in ("italy_power_demand", "japanese_vowels"):
        loader = getattr(ds, "load_" + name)
        X_train, y_train = loader(split="train", return_X_y=True)
        X_test, y_test = loader(split="test", return_X_y=True)
        scores = [
            float(
                CELLS[cell][1](hidden_layer_sizes=(32,), random_state=seed)
                .fit(X_train, y_train)
                .score(X_test, y_test)
            )
            for seed in seeds
        ]
        result[name] = {"mean": float(np.mean(scores)), "per_seed": scores}
    return result


def lags_task(cell, lengths, seeds):
    """Test MSE on the modern adding problem per length and seed."""
    result = {}
    for T in lengths:
        X, y = ds.make_adding_problem(n_samples=3000, n_timesteps=T, random_state=T)
        mse = []
        for seed in seeds:
            model = CELLS[cell][0](
                hidden_layer_sizes=(16,), max_iter=40, n_iter_no_change=40,
                random_state=seed,
            )  # fmt: skip
            model.fit(X[:2000], y[:2000])
            mse.append(float(np.mean((model.predict(X[2000:]) - y[2000:]) ** 2)))
        result[str(T)] = mse
    return result


def paper_task(cell, seeds):
    """Share of test sequences within 0.04 on the 1997 adding problem."""
    shares = []
    for seed in seeds:
        X, y = ds.make_adding_problem(
            5000 + 2560, 100, variant="hochreiter1997", random_state=seed
        )
        model = CELLS[cell][0](hidden_layer_sizes=(16,), max_iter=30, random_state=seed)
        model.fit(X[:5000], y[:5000])
        shares.append(float(np.mean(np.abs(model.predict(X[5000:]) - y[5000:]) < 0.04)))
    return shares


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the results to this JSON file")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cells", default="lstm,gru")
    opts = parser.parse_args()
    check_seeds = list(range(5 if opts.quick else 20))
    real_seeds = list(range(3 if opts.quick else 10))
    lengths = [10, 50, 75] if opts.quick else [10, 20, 30, 50, 75, 100]
    lag_seeds = [0] if opts.quick else [0, 1]
    record = {
        "skseq": skseq.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "fixed_bias_max_length": _cells.FIXED_BIAS_MAX_LENGTH,
        "results": {},
    }
    start = time.perf_counter()
    for cell in opts.cells.split(","):
        for variant in VARIANTS[cell]:
            with variant_biases(cell, variant), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", UserWarning)
                entry = {
                    "check": check_task(cell, check_seeds),
                    "short_real": short_real_task(cell, real_seeds),
                    "lags": lags_task(cell, lengths, lag_seeds),
                    "paper": paper_task(cell, lag_seeds),
                }
            record["results"][f"{cell}/{variant}"] = entry
            check, real = entry["check"], entry["short_real"]
            lags = "  ".join(
                f"T={T}: " + "/".join(f"{v:.4f}" for v in mse)
                for T, mse in entry["lags"].items()
            )
            paper = "/".join(f"{v:.3f}" for v in entry["paper"])
            print(
                f"{cell:4s} {variant:6s} check fails {check['fails']}/{check['fits']}"
                f" (min R2 {check['min_r2']:.2f})"
                f"  Italy {real['italy_power_demand']['mean']:.3f}"
                f"  JV {real['japanese_vowels']['mean']:.3f}  adding MSE {lags}"
                f"  1997 adding within 0.04: {paper}"
                f"  [{time.perf_counter() - start:.0f} s]",
                flush=True,
            )
    if opts.out:
        with open(opts.out, "w") as stream:
            json.dump(record, stream, indent=1)


if __name__ == "__main__":
    main()
