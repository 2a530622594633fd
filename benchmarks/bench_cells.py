#!/usr/bin/env python
"""Benchmark skseq's GRU and simple RNN against PyTorch's on the CPU, side by side.

Run from the repository root::

    python benchmarks/bench_cells.py --isolation  # full run (several minutes)
    python benchmarks/bench_cells.py --quick      # fewer repeats
    python benchmarks/bench_cells.py --cells gru,rnn,lstm --configs mid

The method and its machinery are ``bench_lstm.py``'s, imported from it: both
libraries in one process, float32, timed calls alternating within each repeat,
medians after warm-up, cells redone when other processes load the machine, all
threads and one thread in the same alternation. A training step is one
``partial_fit`` of ``GRURegressor`` / ``RNNRegressor`` on one batch (one Adam
step) against ``nn.GRU`` / ``nn.RNN`` + ``nn.Linear`` on the last step + MSE,
``backward()`` and ``Adam.step()``; predict is ``est.predict`` against the
forward pass under ``torch.inference_mode()``.

Before timing, the script loads each fitted estimator's weights (Keras layout,
``gru_weights_`` / ``rnn_weights_``) into the PyTorch module and reports the
largest difference of the two predictions, in float64 and float32: a check of
both the cells and the documented mapping between the layouts.

``--isolation`` also times each library alone in a fresh process (this file
re-invoked with a private ``--_child`` flag), which the prediction ratios need
on a machine where the two libraries' thread pools disturb each other.
"""

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_lstm as bl  # noqa: E402 - the shared machinery, beside this file

# name: (skseq estimator, torch.nn module, gate blocks, weights attribute,
# elementwise flops per unit and step, forward: about 5 per sigmoid or tanh)
CELLS = {
    "gru": ("GRURegressor", "GRU", 3, "gru_weights_", 25),
    "rnn": ("RNNRegressor", "RNN", 1, "rnn_weights_", 7),
    "lstm": ("LSTMRegressor", "LSTM", 4, "lstm_weights_", bl.ELEMENTWISE_FWD_FLOPS),
}

# The targets: ratio skseq / PyTorch, side by side, at most (judged on
# all threads and on one: see check_targets).
TARGETS = {"train": 0.6, "predict": 0.8}
TARGET_CELLS = ("gru", "rnn")
TARGET_CONFIGS = ("small", "mid", "large")


def cell_flops(cell, B, T, D, H):
    """(forward, training step) flops of one layer: the products
    2*B*T*G*(D+H) with G = gates * H, plus the gate math; a training step is
    three times the forward (as bench_lstm.lstm_flops)."""
    _, _, gates, _, elem = CELLS[cell]
    gemm = 2.0 * B * T * gates * H * (D + H)
    elem = float(elem) * B * T * H
    return gemm + elem, 3.0 * gemm + 3.0 * elem


def estimator_class(cell):
    """skseq's regressor of the cell, from its own module if skseq does not
    export it (yet)."""
    import importlib

    import skseq

    name = CELLS[cell][0]
    found = getattr(skseq, name, None)
    return found or getattr(importlib.import_module(f"skseq._{cell}"), name)


def make_runner(cell, lib, cfg, X, y, torch):
    if lib == "torch":
        return bl.TorchRunner(cfg, X, y, torch, module=CELLS[cell][1])
    return bl.SkseqRunner(cfg, X, y, estimator=estimator_class(cell))


# --------------------------------------------------------------------------
# agreement: the same weights in both libraries


def _keras_to_torch(cell, a):
    """Columns of a Keras-layout block (.., G) in PyTorch's gate order: the
    GRU's z, r, h become r, z, n; the LSTM's i, f, g, o and the RNN's single
    block are already in order."""
    import numpy as np

    if cell != "gru":
        return a
    H = a.shape[-1] // 3
    return np.concatenate([a[..., H : 2 * H], a[..., :H], a[..., 2 * H :]], axis=-1)


def torch_twin(est, cell, torch, dtype):
    """A torch module (and head) holding ``est``'s weights: weight_ih is the
    kernel's transpose, weight_hh the recurrent kernel's; the GRU's two bias
    rows become b_ih and b_hh, the LSTM's and RNN's single bias b_ih (b_hh
    zero)."""
    layers = getattr(est, CELLS[cell][3])
    sizes = est.hidden_layer_sizes
    kw = {"nonlinearity": est.activation} if cell == "rnn" else {}
    module = getattr(torch.nn, CELLS[cell][1])(
        layers[0]["kernel"].shape[0],
        sizes[0],
        num_layers=len(sizes),
        bidirectional=est.bidirectional,
        batch_first=True,
        dtype=dtype,
        **kw,
    )

    def put(name, value):
        getattr(module, name).copy_(torch.from_numpy(value.copy()))

    with torch.no_grad():
        for k, w in enumerate(layers):
            for suffix in ("", "_reverse")[: 1 + bool(est.bidirectional)]:
                kernel = _keras_to_torch(cell, w["kernel" + suffix])
                put(f"weight_ih_l{k}{suffix}", kernel.T)
                recurrent = _keras_to_torch(cell, w["recurrent_kernel" + suffix])
                put(f"weight_hh_l{k}{suffix}", recurrent.T)
                bias = _keras_to_torch(cell, w["bias" + suffix])
                if bias.ndim == 2:
                    put(f"bias_ih_l{k}{suffix}", bias[0])
                    put(f"bias_hh_l{k}{suffix}", bias[1])
                else:
                    put(f"bias_ih_l{k}{suffix}", bias)
                    put(f"bias_hh_l{k}{suffix}", 0 * bias)
    return module


def torch_predict(module, est, X, torch):
    with torch.inference_mode():
        _, h_n = module(torch.from_numpy(X))
        if isinstance(h_n, tuple):  # the LSTM's (h_n, c_n)
            h_n = h_n[0]
        # the top layer's last states: forward, then (bidirectional) reverse
        last = torch.cat([h_n[-2], h_n[-1]], 1) if est.bidirectional else h_n[-1]
        return last.numpy() @ est.head_coef_ + est.head_intercept_


AGREEMENT_CASES = [  # (label, cell, hidden_layer_sizes, bidirectional, activation)
    ("1 layer", "gru", (32,), False, "tanh"),
    ("2 layers, bidirectional", "gru", (32, 32), True, "tanh"),
    ("1 layer", "rnn", (32,), False, "tanh"),
    ("1 layer, relu", "rnn", (32,), False, "relu"),
    ("2 layers, bidirectional", "rnn", (32, 32), True, "tanh"),
    ("1 layer", "lstm", (32,), False, "tanh"),
]


def agreement(cells, torch):
    """Largest |skseq - PyTorch| of the predictions of the small batch, per
    case and dtype, after one Adam step of the estimator (so that no bias is
    still at its initial value), with PyTorch given the same weights."""
    import numpy as np

    B, T, D, _ = bl.CONFIGS["small"]
    X32, y32 = bl.make_batch(B, T, D)
    out = []
    for label, cell, sizes, bidirectional, activation in AGREEMENT_CASES:
        if cell not in cells:
            continue
        row = {"cell": cell, "case": label}
        for name, np_dtype, dtype in (
            ("float64", np.float64, torch.float64),
            ("float32", np.float32, torch.float32),
        ):
            X, y = X32.astype(np_dtype), y32.astype(np_dtype)
            est = estimator_class(cell)(
                hidden_layer_sizes=sizes,
                bidirectional=bidirectional,
                activation=activation,
                batch_size=B,
                max_iter=1,
                random_state=0,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.partial_fit(X, y)
            ours = np.asarray(est.predict(X)).reshape(B, -1)
            theirs = torch_predict(torch_twin(est, cell, torch, dtype), est, X, torch)
            row[name] = float(np.max(np.abs(ours - theirs)))
            row[name + "_scale"] = float(np.max(np.abs(theirs)))
        out.append(row)
    return out


def print_agreement(rows):
    print(
        "\n== agreement: skseq's fitted weights loaded into PyTorch, max |skseq - "
        "PyTorch| of predict on the small batch (largest |prediction| in brackets)"
    )
    bl.print_table(
        [
            [
                r["cell"],
                r["case"],
                f"{r['float64']:.2e} ({r['float64_scale']:.2f})",
                f"{r['float32']:.2e} ({r['float32_scale']:.2f})",
            ]
            for r in rows
        ],
        ["cell", "network", "float64", "float32"],
        ["<", "<", ">", ">"],
    )


# --------------------------------------------------------------------------
# timing


def bench_cell(cell, name, libs, torch, opts, peak):
    cfg = bl.CONFIGS[name]
    B, T, D, H = cfg
    X, y = bl.make_batch(B, T, D)
    runners = {lib: make_runner(cell, lib, cfg, X, y, torch) for lib in libs}
    res = bl.bench_config(
        name, cfg, libs, torch, opts, peak, runners, cell_flops(cell, B, T, D, H)
    )
    res["cell"] = cell
    return res


def bench_all(cells, configs, libs, torch, opts, peak):
    """Every cell on every configuration, printed as they come."""
    results = []
    for cell in cells:
        for name in configs:
            res = bench_cell(cell, name, libs, torch, opts, peak)
            results.append(res)
            shown = {**res, "config": f"{cell} {name}"}
            bl.print_config(shown, libs, peak, None, bl.n_cpus())
            sys.stdout.flush()
    return results


def child_time(cell, lib, name, opts):
    """Train and predict of one library alone in this fresh process."""
    cfg = bl.CONFIGS[name]
    B, T, D, _ = cfg
    torch = None
    if lib == "torch":
        import torch
    runner = make_runner(cell, lib, cfg, *bl.make_batch(B, T, D), torch)
    out = {}
    for kind in ("train", "predict"):
        ts = bl.alternate(
            {lib: getattr(runner, kind)},
            opts.budget / 2,
            opts.min_reps,
            opts.max_reps,
            opts.warmup,
        )[lib]
        out[kind] = {"median": bl.median(ts), "iqr_rel": bl.iqr_rel(ts), "n": len(ts)}
    return out


def bench_isolation(cells, configs, libs, opts):
    out = {}
    for cell in cells:
        for name in configs:
            for lib in libs:
                args = ["--_child", "time", "--cells", cell, "--lib", lib]
                args += ["--configs", name] + bl.child_flags(opts)
                (r, _), load, attempts = bl.guarded(
                    lambda args=args: bl.run_child(args, script=__file__), opts
                )
                r.update(other_load=load, attempts=attempts)
                out.setdefault(cell, {}).setdefault(name, {})[lib] = r
    return out


# --------------------------------------------------------------------------
# summary and targets


def _median(res, lib, key):
    return res.get(lib, {}).get(key, {}).get("median")


def _alone(report, cell, name, kind):
    iso = report.get("isolation", {}).get(cell, {}).get(name, {})
    return bl.ratio(
        iso.get("skseq", {}).get(kind, {}).get("median"),
        iso.get("torch", {}).get(kind, {}).get("median"),
    )


def print_summary(report):
    libs = report["libs"]
    print(
        f"\n== summary (medians, ms, on {report['threads']} threads and on 1; ratio "
        "= skseq / PyTorch, below 1 skseq faster; 'alone': each library in a fresh "
        "process)"
    )
    header = ["cell", "config", "kind"]
    for phase in ("all", "one"):
        header += [f"{bl.LABEL[lib]} {phase}" for lib in libs]
        header += ["ratio " + phase] if len(libs) == 2 else []
    header += ["ratio alone"] if len(libs) == 2 else []
    header += ["other load"]
    rows = []
    for res in report["results"]:
        for kind in ("train", "predict"):
            row = [res["cell"], res["config"], kind]
            for phase in ("all", "one"):
                vals = [_median(res, lib, f"{kind}_{phase}") for lib in libs]
                row += [bl.fmt_ms(v) for v in vals]
                row += [bl.fmt(bl.ratio(*vals))] if len(libs) == 2 else []
            if len(libs) == 2:
                row.append(bl.fmt(_alone(report, res["cell"], res["config"], kind)))
            load = res.get("foreign_load", float("nan"))
            rows.append(row + [bl.fmt(load * 100, ".0f") + "%"])
    bl.print_table(rows, header)


def check_targets(report):
    """(target, measured side by side on all threads, on one thread, measured
    alone, verdict) per target; the verdict judges both side-by-side ratios
    ("met / MISSED": met on all threads, missed on one). On a machine whose
    other processes hold a core, PyTorch's threads wait for each other far
    longer than skseq's, and only the one-thread ratio compares the kernels."""
    found = {(r["cell"], r["config"]): r for r in report.get("results", [])}
    out = []
    for cell in TARGET_CELLS:
        for name in TARGET_CONFIGS:
            for kind, limit in TARGETS.items():
                res = found.get((cell, name), {})
                r = bl.ratio(
                    _median(res, "skseq", f"{kind}_all"),
                    _median(res, "torch", f"{kind}_all"),
                )
                one = bl.ratio(
                    _median(res, "skseq", f"{kind}_one"),
                    _median(res, "torch", f"{kind}_one"),
                )
                label = f"{cell} {kind} {name} <= {limit:g} x PyTorch"
                alone = bl.fmt(_alone(report, cell, name, kind), ".3f")
                measured = (bl.fmt(r, ".3f"), bl.fmt(one, ".3f"), alone)
                verdicts = [
                    "met" if v <= limit else "MISSED" for v in (r, one) if v == v
                ]
                verdict = " / ".join(verdicts) if verdicts else "not measured"
                out.append((label, *measured, verdict))
    return out


def print_rates(report):
    """Each library's training and prediction GFLOP/s (the flops of
    cell_flops) on all threads and on one, and skseq's as a share of the
    sgemm peak on as many threads."""
    peaks = {"all": report.get("sgemm_peak"), "one": report.get("sgemm_peak_one")}
    rows = []
    for res in report.get("results", []):
        for kind in ("train", "predict"):
            row = [res["cell"], res["config"], kind]
            for lib in ("skseq", "torch"):
                for threads in ("all", "one"):
                    t = _median(res, lib, f"{kind}_{threads}")
                    rate = res["flops"][kind] / t / 1e9 if t else None
                    row.append(bl.fmt(rate, ".0f"))
                    if lib == "skseq":
                        peak = peaks[threads]
                        row.append(bl.fmt(rate / peak if rate and peak else None))
            rows.append(row)
    print("\n== GFLOP/s (share: of the sgemm peak on as many threads)")
    bl.print_table(
        rows,
        ["cell", "config", "kind", "skseq all", "share", "skseq one", "share",
         "PyTorch all", "PyTorch one"],
        ["<", "<", "<", ">", ">", ">", ">", ">", ">"],
    )  # fmt: skip


def print_targets(report):
    rows = check_targets(report)
    print("\n== the issue's targets (ratios skseq/PyTorch, medians)")
    bl.print_table(
        [list(r) for r in rows],
        ["target", "all threads", "1 thread", "alone", "verdict"],
        ["<", ">", ">", ">", "<"],
    )
    return rows


# --------------------------------------------------------------------------
# main


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--cells", default="gru,rnn", help="subset of gru,rnn,lstm")
    p.add_argument("--configs", default=",".join(bl.CONFIGS))
    p.add_argument("--libs", default="skseq,torch")
    p.add_argument("--budget", type=float, help="s per timed cell (6, quick 1.5)")
    p.add_argument("--min-reps", type=int, help="default 9, quick 4")
    p.add_argument("--max-reps", type=int, help="default 300, quick 60")
    p.add_argument("--warmup", type=int, help="warm-up rounds (3, quick 2)")
    p.add_argument("--max-other-load", type=float, default=0.10)
    p.add_argument("--retries", type=int, help="default 3, quick 1")
    p.add_argument("--quiet-wait", type=float, help="default 30, quick 10")
    p.add_argument("--max-wait-total", type=float, help="default 180, quick 40")
    p.add_argument("--skip-threads", action="store_true", help="no 1-thread runs")
    p.add_argument("--skip-agreement", action="store_true")
    p.add_argument(
        "--isolation",
        action="store_true",
        help="also time each library alone in a fresh process",
    )
    p.add_argument("--json", metavar="PATH", help="also write all raw results")
    p.add_argument("--report", metavar="PATH", help="targets of a saved run")
    p.add_argument("--skseq-src", metavar="DIR", help="as for bench_lstm.py")
    p.add_argument("--_child", choices=["time"], help=argparse.SUPPRESS)
    p.add_argument("--lib", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    for key, full, quick in (
        ("budget", 6.0, 1.5),
        ("min_reps", 9, 4),
        ("max_reps", 300, 60),
        ("warmup", 3, 2),
        ("retries", 3, 1),
        ("quiet_wait", 30.0, 10.0),
        ("max_wait_total", 180.0, 40.0),
    ):
        if getattr(a, key) is None:
            setattr(a, key, quick if q else full)
    a.wait_left = a.max_wait_total
    return a


def _split(text, choices, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    for item in items:
        if item not in choices:
            raise SystemExit(f"unknown {what} {item!r}; choose from {list(choices)}")
    return items


def git_commit():
    """The commit of the tree this script is in, or None."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def use_source_tree(src):
    """Import skseq from ``src`` (built in place), here and in the children."""
    src = os.path.abspath(src)
    sys.path.insert(0, src)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )


def import_libs(wanted):
    """The libraries to compare, torch imported first (as in bench_lstm.py's
    default), and torch or None."""
    libs, torch = [], None
    if "torch" in wanted:
        torch = bl.torch_import(libs)
    if "skseq" in wanted:
        bl.skseq_import(libs)
    return [lib for lib in bl.LIBS if lib in libs], torch


def main(argv=None):
    opts = parse_args(argv)
    if opts.skseq_src:
        use_source_tree(opts.skseq_src)
    if opts.report:
        with open(opts.report) as f:
            saved = json.load(f)
        print_rates(saved)
        print_targets(saved)
        return 0
    cells = _split(opts.cells, CELLS, "cell")
    configs = _split(opts.configs, bl.CONFIGS, "config")
    if opts._child:
        print(json.dumps(child_time(cells[0], opts.lib, configs[0], opts)))
        return 0

    t_start = time.perf_counter()
    wanted = _split(opts.libs, bl.LIBS, "library")
    print("skseq vs PyTorch GRU / simple RNN benchmark (float32, CPU)")
    print(f"{bl.n_cpus()} usable CPUs | {bl.cpu_model()}")
    libs, torch = import_libs(wanted)
    if not libs:
        print("nothing to benchmark")
        return 1
    report = {"libs": libs, "threads": bl.n_cpus(), "cells": cells, "results": []}
    report.update(
        commit=git_commit(),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        machine=bl.cpu_model(),
    )
    report["opts"] = {k: v for k, v in vars(opts).items() if not k.startswith("_")}

    if len(libs) == 2 and not opts.skip_agreement:
        report["agreement"] = agreement(cells, torch)
        print_agreement(report["agreement"])

    peak = bl.sgemm_peak(reps=5)["numpy"]
    report["sgemm_peak"] = peak
    report["sgemm_peak_one"] = bl.sgemm_peak(reps=5, n_threads=1)["numpy"]
    print(
        f"\nsgemm peak (2048x2048 float32, numpy): {peak:.1f} GFLOP/s on all threads, "
        f"{report['sgemm_peak_one']:.1f} on one; "
        f"~{opts.budget:g} s per timed cell, >= {opts.min_reps} repeats"
    )
    report["results"] = bench_all(cells, configs, libs, torch, opts, peak)
    if opts.isolation:
        report["isolation"] = bench_isolation(cells, configs, libs, opts)
    print_summary(report)
    print_rates(report)
    if len(libs) == 2:
        report["targets"] = print_targets(report)
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
        print("raw results written to", opts.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
