#!/usr/bin/env python
"""How much slower skseq gets when another process keeps one core busy.

Times workloads in fresh processes, with skseq's default threads and with
``OMP_NUM_THREADS=1``, on an otherwise idle machine and while a busy loop
(another process, pinned to the last usable CPU) runs:

- ``demo``: ``python -m skseq``, its reported total wall time (imports,
  two small fits, predictions);
- ``mid``: one training step (``partial_fit`` of one batch, one Adam step)
  of the mid configuration of ``bench_lstm.py`` (64 sequences of 100 steps,
  32 features, 128 units, float32), the median over a few seconds of steps.

Each round runs every combination once, in a shuffled order, so slow drifts
of the machine affect them alike; the table gives medians over the rounds
and each figure as a multiple of the idle one-thread figure of the same
setup. Run from the repository root::

    python benchmarks/bench_busy_machine.py                # about 3 minutes
    python benchmarks/bench_busy_machine.py --rounds 3 --workloads mid
    python benchmarks/bench_busy_machine.py --env-set GOMP_SPINCOUNT=300000 \\
        --env-set ""                                       # compare settings
    python benchmarks/bench_busy_machine.py --skseq-src /path/to/old/tree \\
        --skseq-src .                                      # compare trees
    python benchmarks/bench_busy_machine.py --sweep        # threads vs work

A setup is a tree (``--skseq-src``, built in place; default: the installed
skseq) with environment variables (``--env-set``, comma-separated
``NAME=VALUE``; default: none). ``--sweep`` instead times training steps of
growing size on one and on two threads (forced, whatever their work), idle
and busy: where a second thread starts to pay is what
``MIN_WORK_PER_THREAD`` in ``skseq/_network.py`` is set from.

The busy loop is killed after each measurement and ends by itself after 15
minutes in any case. Other processes' load is measured as in
``bench_lstm.py``: a measurement during which other processes (besides the
busy loop) used more than ``--max-other-load`` of the machine is redone
after waiting for quiet, up to ``--retries`` times.
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_lstm import (  # noqa: E402
    CONFIGS,
    ForeignLoad,
    n_cpus,
    print_table,
    quiet_wait,
)

THREADS = {"default": None, "1 thread": "1"}

# (B, T, D, H) of the --sweep, from a pass of a few million multiply-adds
# (the demo's fits) to the mid configuration.
SWEEP_CASES = [
    (64, 12, 1, 32),
    (64, 30, 7, 32),
    (64, 50, 8, 32),
    (64, 50, 8, 64),
    (64, 50, 16, 128),
    (64, 100, 32, 128),
]


def busy_loop(cpu, seconds=900):
    """Start another process that spins on ``cpu`` for ``seconds``."""
    code = (
        "import os, time\n"
        f"os.sched_setaffinity(0, {{{cpu}}})\n"
        f"end = time.monotonic() + {seconds}\n"
        "while time.monotonic() < end:\n"
        "    pass\n"
    )
    busy = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.2)  # let it start spinning
    return busy


def measure(fn, loaded, opts):
    """``fn()`` (idle, or with a busy loop on the last CPU), redone up to
    ``opts.retries`` times after waiting for quiet while other processes
    used more than ``opts.max_other_load`` of the machine. Returns (value,
    other processes' load)."""
    cpu = sorted(os.sched_getaffinity(0))[-1]
    for _ in range(opts.retries + 1):
        quiet_wait(opts)
        busy = busy_loop(cpu) if loaded else None
        try:
            with ForeignLoad() as load:
                value = fn()
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        # The busy loop is not this process's (waited-for) child while it
        # runs: it counts as foreign, one CPU's worth.
        other = load.value - (1 / n_cpus() if loaded else 0)
        if not other > opts.max_other_load or opts.wait_left <= 0:
            break
    return value, max(other, 0.0)


class Setup:
    """A skseq tree (None: the installed one) and environment variables."""

    def __init__(self, src, env_set):
        self.src = src
        self.variables = dict(
            item.split("=", 1) for item in env_set.split(",") if item.strip()
        )
        parts = [src or "installed"] + [f"{k}={v}" for k, v in self.variables.items()]
        self.label = " ".join(parts)

    def env(self, threads):
        env = dict(os.environ)
        env.pop("OMP_NUM_THREADS", None)
        env.update(self.variables)
        if threads is not None:
            env["OMP_NUM_THREADS"] = threads
        if self.src is not None:
            paths = [os.path.abspath(self.src), env.get("PYTHONPATH")]
            env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
        return env


def run(args, setup, threads, opts):
    return subprocess.run(
        [sys.executable, *args],
        env=setup.env(threads),
        cwd=opts.workdir,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout


def run_demo(setup, threads, opts):
    """Seconds of ``python -m skseq`` (its own total), run outside the tree."""
    out = run(["-m", "skseq"], setup, threads, opts)
    return float(re.search(r"Total wall time: ([0-9.]+) s", out).group(1))


def run_mid(setup, threads, opts):
    """Median seconds of a mid training step, in a fresh process."""
    out = run([__file__, "--_child", "mid", str(opts.seconds)], setup, threads, opts)
    return json.loads(out.strip().splitlines()[-1])["mid"]


WORKLOADS = {"demo": run_demo, "mid": run_mid}


def _step_timer(B, T, D, H):
    import warnings

    import numpy as np

    from skseq import LSTMRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((B, T, D), dtype=np.float32)
    y = X[:, -5:, 0].mean(axis=1)
    model = LSTMRegressor(hidden_layer_sizes=(H,), batch_size=B, random_state=0)

    def step():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            model.partial_fit(X, y)
            return time.perf_counter() - t

    for _ in range(3):  # the first call builds the model and its buffers
        step()
    return step


def child(kind, seconds):
    if kind == "mid":
        step = _step_timer(*CONFIGS["mid"])
        times = []
        start = time.perf_counter()
        while len(times) < 5 or time.perf_counter() - start < seconds:
            times.append(step())
        print(json.dumps({"mid": statistics.median(times), "n": len(times)}))
        return
    # sweep: one and two threads, alternating, whatever the work
    from threadpoolctl import ThreadpoolController

    from skseq import _network

    _network.MIN_WORK_PER_THREAD = 1
    _network.threads_for.cache_clear()
    controller = ThreadpoolController()
    out = {}
    for case in SWEEP_CASES:
        step = _step_timer(*case)
        times = {1: [], 2: []}
        start = time.perf_counter()
        while len(times[2]) < 5 or time.perf_counter() - start < seconds:
            for n in (1, 2):
                with controller.limit(limits=n):
                    step()  # untimed, after the switch
                    times[n].append(step())
        out[str(case)] = {n: statistics.median(ts) for n, ts in times.items()}
    print(json.dumps(out))


def bench(setups, opts):
    workloads = opts.workloads.split(",")
    cells = [
        (setup, workload, threads, loaded)
        for setup in setups
        for workload in workloads
        for threads in THREADS
        for loaded in (False, True)
    ]
    times = {(s.label, w, t, b): [] for s, w, t, b in cells}
    foreign = []
    for round_ in range(opts.rounds):
        order = cells[:]
        random.Random(round_).shuffle(order)
        for setup, workload, threads, loaded in order:
            seconds, other = measure(
                lambda s=setup, w=workload, t=threads: WORKLOADS[w](
                    s, THREADS[t], opts
                ),
                loaded,
                opts,
            )
            times[setup.label, workload, threads, loaded].append(seconds)
            foreign.append(other)
        print(f"round {round_ + 1}/{opts.rounds} done", file=sys.stderr)
    rows = []
    for setup in setups:
        for workload in workloads:
            base = statistics.median(times[setup.label, workload, "1 thread", False])
            for threads in THREADS:
                row = [setup.label, workload, threads]
                for loaded in (False, True):
                    m = statistics.median(times[setup.label, workload, threads, loaded])
                    value = f"{m:.2f} s" if workload == "demo" else f"{m * 1e3:.1f} ms"
                    row.append(f"{value} ({m / base:.2f}x)")
                rows.append(row)
    print("\nmedians over rounds; in brackets: multiple of idle, 1 thread")
    print_table(rows, ["setup", "workload", "threads", "idle", "one CPU busy"])
    report_foreign(foreign)
    return {"|".join(map(str, key)): value for key, value in times.items()}


def sweep(setups, opts):
    results = {}
    foreign = []
    for round_ in range(opts.rounds):
        order = [(s, b) for s in setups for b in (False, True)]
        random.Random(round_).shuffle(order)
        for setup, loaded in order:
            out, other = measure(
                lambda setup=setup: run(
                    [__file__, "--_child", "sweep", str(opts.seconds)],
                    setup,
                    None,
                    opts,
                ),
                loaded,
                opts,
            )
            for case, medians in json.loads(out.strip().splitlines()[-1]).items():
                for n, value in medians.items():
                    key = (setup.label, case, int(n), loaded)
                    results.setdefault(key, []).append(value)
            foreign.append(other)
        print(f"round {round_ + 1}/{opts.rounds} done", file=sys.stderr)
    rows = []
    for setup in setups:
        for case in SWEEP_CASES:
            B, T, D, H = case
            work = B * (T + 1) * 4 * H * (D + H)
            m = {
                (n, b): statistics.median(results[setup.label, str(case), n, b])
                for n in (1, 2)
                for b in (False, True)
            }
            base = m[1, False]
            row = [setup.label, f"{B} x {T} x {D}, {H}", f"{work / 1e6:.1f}"]
            row += [f"{m[key] * 1e3:.2f} ({m[key] / base:.2f}x)" for key in sorted(m)]
            rows.append(row)
    print("\ntraining step, ms (multiple of idle, 1 thread); work: M multiply-adds")
    header = ["setup", "B x T x D, H", "work/pass"]
    header += ["1 thr idle", "1 thr busy", "2 thr idle", "2 thr busy"]
    print_table(rows, header)
    report_foreign(foreign)
    return {"|".join(map(str, key)): value for key, value in results.items()}


def report_foreign(foreign):
    if foreign and foreign[0] == foreign[0]:
        print(
            "other processes' load (besides the busy loop) during the "
            f"measurements: median {statistics.median(foreign):.0%}, "
            f"max {max(foreign):.0%}"
        )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--workloads", default="demo,mid")
    p.add_argument("--seconds", type=float, default=3.0, help="per mid measurement")
    p.add_argument("--sweep", action="store_true", help="threads against work size")
    p.add_argument(
        "--skseq-src",
        action="append",
        help="import skseq from this tree (built in place); repeatable",
    )
    p.add_argument(
        "--env-set",
        action="append",
        metavar="NAME=VALUE,...",
        help="environment variables of a setup; repeatable ('' for none)",
    )
    p.add_argument("--workdir", default="/tmp", help="where the timed processes run")
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.1,
        help="redo a measurement while other processes used more than this "
        "share of the machine (1: never)",
    )
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--quiet-wait", type=float, default=30.0, help="seconds, per wait")
    p.add_argument(
        "--max-wait-total", type=float, default=900.0, help="seconds, whole run"
    )
    p.add_argument("--json", help="also write the raw numbers here")
    p.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    opts = parse_args(argv)
    opts.wait_left = opts.max_wait_total
    if opts._child is not None:
        return child(opts._child[0], float(opts._child[1]))
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs at least 2 usable CPUs")
    setups = [
        Setup(src, env_set)
        for src in opts.skseq_src or [None]
        for env_set in opts.env_set or [""]
    ]
    print(f"{n_cpus()} usable CPUs; the busy loop runs on the last one")
    raw = (sweep if opts.sweep else bench)(setups, opts)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
