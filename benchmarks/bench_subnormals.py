#!/usr/bin/env python
"""Training on long sequences, where the gradient carried back through time
fades below the smallest normal float: skseq against PyTorch, side by side.

Run from the repository root::

    python benchmarks/bench_subnormals.py            # full run, about 3 minutes
    python benchmarks/bench_subnormals.py --quick    # fewer repeats
    python benchmarks/bench_subnormals.py --json out.json

A training step is one ``partial_fit`` of a regressor on one batch (one Adam
step: forward, back-propagation through time, update) against the recurrent
module of ``torch.nn`` with a linear head on the last step, MSE and Adam: the
runners of ``bench_lstm.py``. Float32, one layer, B = 64 sequences of D = 8
standard normal features, H = 64 units, on one thread.

Through a tanh recurrence the gradient shrinks at every step back, so after a
few hundred steps it is subnormal (below 1.2e-38), and every x86 operation on
such a value runs through a microcode assist. The first figure is the time of
a step per time step, for T = 100 (no subnormal values) and T = 1000; their
ratio shows what the assists cost. PyTorch runs twice: with its default mode
(subnormal numbers kept) and with ``torch.set_flush_denormal(True)``, set
around its own calls only. The second is predict and a training step on
inputs scaled into the subnormal range, against the same inputs at their
normal scale (B = 256, T = 50; PyTorch in its default mode). skseq's compiled
core counts subnormal numbers as zero in its time loops, always.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_lstm as bl  # noqa: E402 - the shared machinery, beside this file
from bench_cells import git_commit  # noqa: E402

B, D, H = 64, 8, 64
LENGTHS = (100, 1000)
CELLS = {"rnn": ("RNNRegressor", "RNN"), "lstm": ("LSTMRegressor", "LSTM"),
         "gru": ("GRURegressor", "GRU")}  # fmt: skip


class FlushingTorchRunner:
    """A PyTorch runner whose calls run with flush-to-zero set, and the mode
    put back after each."""

    def __init__(self, runner, torch):
        self.runner, self.torch = runner, torch

    def train(self):
        self.torch.set_flush_denormal(True)
        try:
            self.runner.train()
        finally:
            self.torch.set_flush_denormal(False)


def bench_cell(cell, T, torch, opts):
    import skseq

    X, y = bl.make_batch(B, T, D)
    cfg = (B, T, D, H)
    estimator = getattr(skseq, CELLS[cell][0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runners = {"skseq": bl.SkseqRunner(cfg, X, y, estimator=estimator)}
    if torch is not None:
        runners["torch"] = bl.TorchRunner(cfg, X, y, torch, module=CELLS[cell][1])
        flushing = bl.TorchRunner(cfg, X, y, torch, module=CELLS[cell][1])
        runners["torch_flush"] = FlushingTorchRunner(flushing, torch)
    funcs = {name: runner.train for name, runner in runners.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = bl.alternate(funcs, opts.budget, opts.min_reps, opts.max_reps, 2)
    return {
        name: {
            "us_per_step": statistics.median(ts) / T * 1e6,
            "iqr_rel": bl.iqr_rel(ts),
            "n": len(ts),
        }
        for name, ts in times.items()
    }


def bench_inputs(cell, torch, opts, T=50):
    """predict and one training step on inputs scaled into the subnormal
    range (1e-39 times standard normal values) against the same inputs at
    their normal scale: ms per call."""
    import numpy as np

    import skseq

    X, y = bl.make_batch(4 * B, T, D)
    tiny = (X * np.float32(1e-39)).astype(np.float32)
    cfg = (4 * B, T, D, H)
    estimator = getattr(skseq, CELLS[cell][0])
    funcs = {}
    for scale, data in (("normal", X), ("subnormal", tiny)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner = bl.SkseqRunner(cfg, data, y, estimator=estimator)
        funcs[f"skseq predict {scale}"] = runner.predict
        funcs[f"skseq train {scale}"] = runner.train
        if torch is not None:
            runner = bl.TorchRunner(cfg, data, y, torch, module=CELLS[cell][1])
            funcs[f"torch predict {scale}"] = runner.predict
            funcs[f"torch train {scale}"] = runner.train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = bl.alternate(funcs, opts.budget, opts.min_reps, opts.max_reps, 2)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--json", help="write the results here")
    opts = parser.parse_args(argv)
    opts.budget, opts.min_reps, opts.max_reps = (
        (2.0, 4, 20) if opts.quick else (8.0, 8, 60)
    )
    torch, why = bl.try_import_torch()
    if torch is None:
        print(f"PyTorch not available ({why}): skseq alone.")
    switch = bl.ThreadSwitch(torch)
    switch.use(1)
    results = []
    load_before = os.getloadavg()[0]
    for cell in opts.cells.split(","):
        for T in LENGTHS:
            row = {"cell": cell, "T": T, **bench_cell(cell, T, torch, opts)}
            results.append(row)
            print(json.dumps(row), flush=True)
    inputs = {}
    for cell in opts.cells.split(","):
        inputs[cell] = bench_inputs(cell, torch, opts)
        print(json.dumps({"cell": cell, "inputs_ms": inputs[cell]}), flush=True)
    switch.use(None)

    libs = [name for name in ("skseq", "torch", "torch_flush") if name in results[0]]
    print(f"\nus per time step of a training step, median (B={B}, D={D}, H={H}, "
          "float32, 1 thread)")  # fmt: skip
    header = ["cell", "T"] + libs + [f"skseq / {lib}" for lib in libs[1:]]
    rows = []
    for row in results:
        cells = [row["cell"], str(row["T"])]
        cells += [f"{row[lib]['us_per_step']:.1f}" for lib in libs]
        skseq = row["skseq"]["us_per_step"]
        cells += [f"{skseq / row[lib]['us_per_step']:.2f}" for lib in libs[1:]]
        rows.append(cells)
    bl.print_table(rows, header)
    print("\nT = 1000 per step over T = 100 per step (1.0: no cost from subnormals)")
    by_key = {(r["cell"], r["T"]): r for r in results}
    slow_rows = []
    for cell in opts.cells.split(","):
        long, short = by_key[(cell, LENGTHS[1])], by_key[(cell, LENGTHS[0])]
        slow_rows.append([cell] + [
            f"{long[lib]['us_per_step'] / short[lib]['us_per_step']:.2f}"
            for lib in libs
        ])  # fmt: skip
    bl.print_table(slow_rows, ["cell"] + libs)
    print(f"\nSubnormal inputs: ms per call, normal / subnormal inputs (B={4 * B}, "
          f"T=50, D={D}, H={H}, float32, 1 thread)")  # fmt: skip
    in_libs = ["skseq", "torch"] if torch is not None else ["skseq"]
    in_rows = []
    for cell, ms in inputs.items():
        row = [cell]
        for lib in in_libs:
            for task in ("predict", "train"):
                normal, tiny = ms[f"{lib} {task} normal"], ms[f"{lib} {task} subnormal"]
                row.append(f"{normal:.2f} / {tiny:.2f} ({tiny / normal:.2f})")
        in_rows.append(row)
    bl.print_table(
        in_rows,
        ["cell"]
        + [f"{lib} {task}" for lib in in_libs for task in ("predict", "train")],
    )
    if opts.json:
        report = {
            "results": results,
            "inputs_ms": inputs,
            "config": {"B": B, "D": D, "H": H, "threads": 1, "dtype": "float32"},
            "load_average": [load_before, os.getloadavg()[0]],
            "commit": git_commit(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": bl.cpu_model(),
            "torch": getattr(torch, "__version__", None),
        }
        with open(opts.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
