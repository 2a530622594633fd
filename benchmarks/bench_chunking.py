#!/usr/bin/env python
"""Time skseq's training step and prediction under different batch chunkings.

skseq cuts every batch into chunks of a fixed number of rows per layer
(``skseq._network.chunk_rows``), whatever the machine, so that a fit gives the
same bits on any number of cores. This script compares that layout ("skseq")
with the layout that follows the machine's cores ("cores": as many chunks as
usable cores, each of at least 16 rows, skseq's rule before chunks had a
fixed size) and, with ``--rows``, other fixed row counts, on the small, mid
and large configurations of ``bench_lstm.py``, float32, on all threads and
on one. Run from the repository root::

    python benchmarks/bench_chunking.py                    # about 3 minutes
    python benchmarks/bench_chunking.py --quick --rows 32,64 --configs mid

A cell during which other processes used more than ``--max-other-load`` of
the machine is redone after waiting for quiet (as in ``bench_lstm.py``).
Each configuration's layouts are timed in one alternation (every repeat calls
each layout once, on all threads and then on one), so drifts of the machine
hit them alike; the figures are medians. A layout is set by replacing
skseq's rule between calls; each layout has its own estimator, built under
it.
"""

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_lstm import (  # noqa: E402
    CONFIGS,
    ThreadSwitch,
    alternate,
    fmt_ms,
    guarded,
    iqr_rel,
    make_batch,
    median,
    n_cpus,
    print_table,
)

SKSEQ_RULE = None  # skseq._network.chunk_rows, once imported


def cores_chunk_rows(n_rows, cores):
    """Rows per chunk under the rule that follows the machine: as many chunks
    as usable cores, each of at least 16 rows."""
    n_chunks = max(1, min(cores, n_rows // 16))
    return -(-n_rows // n_chunks)


class Layout:
    """A chunk layout, applied by replacing skseq's rule for rows per chunk
    (``rows`` None: skseq's own rule)."""

    def __init__(self, name, rows, one_chunk_rows):
        self.name, self.rows, self.one_chunk_rows = name, rows, one_chunk_rows

    def apply(self):
        from skseq import _network

        rule = SKSEQ_RULE if self.rows is None else (lambda hidden: self.rows)
        if _network.chunk_rows is not rule:
            _network.chunk_rows = rule
            _network.ONE_CHUNK_ROWS = self.one_chunk_rows
            _network.threads_for.cache_clear()


def layouts_for(B, H, rows_list, cores):
    from skseq import _network

    out = [
        Layout(f"cores ({cores})", cores_chunk_rows(B, cores), 31),
        Layout("skseq", None, _network.ONE_CHUNK_ROWS),
    ]
    out += [Layout(f"fixed {rows}", rows, min(rows, 31)) for rows in rows_list]
    for layout in out:
        layout.rows_used = layout.rows or SKSEQ_RULE(H)
    return out


class Runner:
    """partial_fit on exactly one batch (one Adam step), and predict, with
    an estimator built under ``layout``."""

    def __init__(self, cfg, X, y, layout):
        from skseq import LSTMRegressor

        B, _, _, H = cfg
        self.layout = layout
        layout.apply()
        self.est = LSTMRegressor(
            hidden_layer_sizes=(H,), batch_size=B, max_iter=1, random_state=0
        )
        self.X, self.y = X, y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.est.partial_fit(X, y)

    def train(self):
        self.est.partial_fit(self.X, self.y)

    def predict(self):
        self.est.predict(self.X)


def bench_config(name, rows_list, opts):
    import skseq._network as _network

    cfg = CONFIGS[name]
    B, H = cfg[0], cfg[3]
    X, y = make_batch(*cfg[:3])
    cores = _network.usable_cores()
    saved = _network.ONE_CHUNK_ROWS
    layouts = layouts_for(B, H, rows_list, cores)
    switch = ThreadSwitch()
    result = {"config": name, "B": B, "cores": cores, "layouts": {}}
    try:
        runners = [Runner(cfg, X, y, layout) for layout in layouts]
        phases = [("all", None)] + ([("one", 1)] if n_cpus() > 1 else [])
        for kind in ("train", "predict"):
            funcs, setups = {}, {}
            for phase, n_threads in phases:
                for runner in runners:
                    key = (runner.layout.name, phase)
                    funcs[key] = getattr(runner, kind)

                    def setup(runner=runner, n_threads=n_threads, f=funcs[key]):
                        runner.layout.apply()
                        if switch.use(n_threads):
                            f()  # one untimed call after a thread switch

                    setups[key] = setup
            times, load, attempts = guarded(
                lambda funcs=funcs, setups=setups: alternate(
                    funcs,
                    opts.budget * len(phases) * len(layouts),
                    opts.min_reps,
                    opts.max_reps,
                    opts.warmup,
                    setups,
                ),
                opts,
            )
            for (layout_name, phase), ts in times.items():
                cell = result["layouts"].setdefault(layout_name, {})
                layout = next(x for x in layouts if x.name == layout_name)
                cell["rows"] = layout.rows_used
                cell[f"{kind}_{phase}"] = {
                    "median": median(ts),
                    "iqr_rel": iqr_rel(ts),
                    "n": len(ts),
                    "other_load": load,
                    "attempts": attempts,
                }
    finally:
        switch.use(None)
        _network.chunk_rows, _network.ONE_CHUNK_ROWS = SKSEQ_RULE, saved
        _network.threads_for.cache_clear()
    return result


def print_config(result):
    B = result["B"]
    print(f"\n== {result['config']} (B = {B}), ms, medians; ratio to the cores rule")
    layouts = result["layouts"]
    base = next(iter(layouts.values()))
    keys = [k for k in ("train_all", "train_one", "predict_all", "predict_one")
            if k in base]  # fmt: skip
    header = ["layout", "rows", "chunks"] + [k.replace("_", ", ") for k in keys]
    rows = []
    for name, cell in layouts.items():
        row = [name, str(cell["rows"]), str(-(-B // cell["rows"]))]
        for key in keys:
            value = cell[key]["median"]
            row.append(f"{fmt_ms(value)} ({value / base[key]['median']:.2f})")
        rows.append(row)
    print_table(rows, header)
    load = max(cell[k]["other_load"] for cell in layouts.values() for k in keys)
    if load == load:
        print(f"other processes' load during the cells: up to {load:.0%}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="small,mid,large")
    p.add_argument(
        "--rows", default="", help="fixed rows per chunk to time too, e.g. 32,64"
    )
    p.add_argument("--quick", action="store_true", help="shorter cells")
    p.add_argument("--skseq-src", help="import skseq from this source tree")
    p.add_argument("--json", help="also write the raw numbers here")
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.1,
        help="redo a cell while other processes used more than this share of "
        "the machine (1: never)",
    )
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--quiet-wait", type=float, default=30.0, help="seconds, per wait")
    p.add_argument(
        "--max-wait-total", type=float, default=600.0, help="seconds, whole run"
    )
    opts = p.parse_args(argv)
    opts.budget = 1.0 if opts.quick else 3.0  # seconds per layout and thread count
    opts.min_reps, opts.max_reps = (5, 100) if opts.quick else (9, 300)
    opts.warmup = 2 if opts.quick else 3
    opts.wait_left = opts.max_wait_total
    return opts


def main(argv=None):
    opts = parse_args(argv)
    if opts.skseq_src:
        sys.path.insert(0, os.path.abspath(opts.skseq_src))
    global SKSEQ_RULE
    import skseq
    from skseq import _network

    SKSEQ_RULE = _network.chunk_rows
    rows_list = [int(r) for r in opts.rows.split(",") if r]
    print(f"skseq {skseq.__version__} from {os.path.dirname(skseq.__file__)}")
    print(f"usable cores: {n_cpus()}; float32; one LSTM layer; train = one Adam step")
    results = []
    for name in opts.configs.split(","):
        results.append(bench_config(name, rows_list, opts))
        print_config(results[-1])
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
