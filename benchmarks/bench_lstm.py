#!/usr/bin/env python
"""Benchmark skseq's LSTM against PyTorch on the CPU, side by side.

Run from the repository root::

    python benchmarks/bench_lstm.py            # full run (a few minutes)
    python benchmarks/bench_lstm.py --quick    # fewer repeats
    python benchmarks/bench_lstm.py --coretype-sweep

Both libraries run in the same process, float32, and their timed calls
alternate within each repeat (skseq, PyTorch, skseq, PyTorch, ...), so slow
drifts of the machine (frequency, noisy neighbours) hit both alike. Every
figure is a median over repeats that follow warm-up calls. PyTorch is optional:
without it only skseq's numbers are printed (and vice versa).

Memory and the end-to-end "seed example" run in fresh subprocesses (this same
file, re-invoked with a private ``--_child`` flag), so import costs and peak
resident memory are not polluted by the other library.

Only the standard library is imported at module level on purpose: the child
processes time their own ``import numpy`` / ``import torch`` / ``import skseq``.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from contextlib import nullcontext

# (batch B, time steps T, features D, hidden units H)
CONFIGS = {
    "small": (32, 50, 8, 32),
    "mid": (64, 100, 32, 128),
    "large": (256, 100, 64, 256),
    "one-seq": (1, 100, 8, 32),
}

# Keras figures quoted in the issue for the seed example (Keras is not installed
# here; these are constants, not measurements).
KERAS_IMPORT_S = 5.6
KERAS_FIT_S = 12.4

# The issue's targets, checked at the end of a run (and by --report on a saved
# one). Ratios are skseq / PyTorch medians, side by side, float32, all cores.
TARGET_RATIOS = [  # (config, kind, the ratio must be at most this)
    ("small", "train", 0.35),
    ("mid", "train", 0.8),
    ("large", "train", 1.0),
    ("mid", "predict", 0.8),
    ("large", "predict", 0.8),
    ("one-seq", "predict", 0.1),
]
TARGET_PEAK_SHARE = 0.70  # large training vs OpenBLAS's own sgemm peak
TARGET_SPEEDUP = 1.7  # 1 -> all threads, large training
TARGET_SEED_SHARE = 1 / 50  # seed example vs the issue's Keras figures

# Approximate floating-point operations of the LSTM cell's elementwise work per
# hidden unit, per sequence, per time step, forward: 4 adds (recurrent GEMM into
# the gates), 3 sigmoids and 2 tanh (~5 flops each), 3 for c_t, 1 for h_t.
ELEMENTWISE_FWD_FLOPS = 18

# Minimum warm-up time per timed cell, on top of the warm-up call count.
WARMUP_SECONDS = 0.5

LIBS = ("skseq", "torch")
LABEL = {"skseq": "skseq", "torch": "PyTorch"}


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def lstm_flops(B, T, D, H):
    """(forward flops, training-step flops) of one LSTM layer over a batch.

    Forward GEMMs: the input projection (B*T x D) @ (D x 4H) plus the
    recurrent product (B x H) @ (H x 4H) at each step, i.e. 2*B*T*4H*(D+H).
    Backward costs about twice the forward GEMMs (data gradients and weight
    gradients), so a training step is ~3x the forward GEMM flops. The
    elementwise cell work is counted once forward and twice backward. The
    output head (H -> 1) and the Adam update are negligible and not counted.
    """
    gemm = 2.0 * B * T * 4 * H * (D + H)
    elem = float(ELEMENTWISE_FWD_FLOPS) * B * T * H
    return gemm + elem, 3.0 * gemm + 3.0 * elem


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def iqr_rel(xs):
    """Inter-quartile range relative to the median (a noise indicator)."""
    if len(xs) < 4:
        return float("nan")
    q = statistics.quantiles(xs, n=4)
    return (q[2] - q[0]) / statistics.median(xs)


def fmt_ms(s):
    if s is None or s != s:
        return "-"
    ms = s * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt(x, spec=".2f", none="-"):
    if x is None or x != x:
        return none
    return format(x, spec)


def fx(x):
    """A factor such as a speed-up: '1.23x', or '-' when unknown."""
    return "-" if x is None or x != x else f"{x:.2f}x"


def ratio(a, b):
    if a is None or b is None or a != a or b != b or b == 0:
        return float("nan")
    return a / b


def print_table(rows, header, aligns=None, out=sys.stdout):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    aligns = aligns or (["<"] + [">"] * (len(header) - 1))
    line = "  ".join(
        f"{h:{a}{w}}" for h, a, w in zip(header, aligns, widths, strict=True)
    )
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print(
            "  ".join(
                f"{str(c):{a}{w}}" for c, a, w in zip(r, aligns, widths, strict=True)
            ),
            file=out,
        )


def read_status_kb(field):
    """A ``VmXXX`` field of /proc/self/status in kB (None when unavailable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0). True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def maxrss_kb():
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform == "darwin" else r  # bytes on macOS


# --------------------------------------------------------------------------
# library loading (lazy, optional)
# --------------------------------------------------------------------------


def try_import_torch():
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install
        return None, f"{type(exc).__name__}: {exc}"
    return torch, None


def try_import_skseq():
    try:
        import skseq
        from skseq import LSTMRegressor  # noqa: F401
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return skseq, None


def skseq_kwargs(cls, **wanted):
    """Keep only the keyword arguments the estimator actually accepts."""
    params = cls().get_params()
    return {k: v for k, v in wanted.items() if k in params}


# --------------------------------------------------------------------------
# timing machinery
# --------------------------------------------------------------------------


class ForeignLoad:
    """CPU used by *other* processes while the block runs, as a fraction of
    the machine (0.5 = one of two cores busy elsewhere). Steal time counts as
    foreign. NaN without psutil. Used to flag timings taken on a busy machine.
    """

    def __enter__(self):
        try:
            import psutil
        except ImportError:
            self.psutil = None
            return self
        self.psutil = psutil
        self.proc = psutil.Process()
        self.t = time.perf_counter()
        self.sys0 = psutil.cpu_times()
        self.me0 = self._own()
        return self

    def _own(self):
        c = self.proc.cpu_times()
        return c.user + c.system + c.children_user + c.children_system

    @staticmethod
    def _busy(ct):
        return (
            sum(ct)
            - ct.idle
            - getattr(ct, "iowait", 0.0)
            - getattr(ct, "guest", 0.0)
            - getattr(ct, "guest_nice", 0.0)
        )

    def __exit__(self, *exc):
        self.value = float("nan")
        if self.psutil is None:
            return False
        wall = time.perf_counter() - self.t
        busy = self._busy(self.psutil.cpu_times()) - self._busy(self.sys0)
        own = self._own() - self.me0
        self.value = (
            max(0.0, (busy - own) / (wall * n_cpus())) if wall > 0 else float("nan")
        )
        return False


def quiet_wait(opts):
    """Wait (at most ``opts.quiet_wait`` s) until other processes leave the CPU.

    Two consecutive 0.5 s samples with a foreign load at or below
    ``opts.max_other_load`` count as quiet. All waits of a run together are
    capped by ``opts.max_wait_total``. Returns the seconds waited.
    """
    t0 = time.perf_counter()
    if opts.max_other_load >= 1 or opts.wait_left <= 0:
        return 0.0
    calm = 0
    limit = min(opts.quiet_wait, opts.wait_left)
    while time.perf_counter() - t0 < limit:
        with ForeignLoad() as load:
            time.sleep(0.5)
        if load.psutil is None:
            break
        calm = calm + 1 if load.value <= opts.max_other_load else 0
        if calm >= 2:
            break
    waited = time.perf_counter() - t0
    opts.wait_left -= waited
    return waited


def guarded(fn, opts):
    """Run the measurement ``fn()``, redoing it if the machine was busy.

    Returns (result, foreign load during the kept attempt, attempts made). A
    timing taken while another process held a core says more about the
    scheduler than about the library (OpenMP barriers wait on a preempted
    thread), so it is redone, up to ``opts.retries`` times, after waiting for
    quiet. The last attempt is kept in any case and its load is reported.
    """
    attempt = 0
    for attempt in range(1, opts.retries + 2):  # noqa: B007 - used after the loop
        quiet_wait(opts)
        with ForeignLoad() as load:
            out = fn()
        v = load.value
        if not (v == v and v > opts.max_other_load) or opts.wait_left <= 0:
            break
    return out, load.value, attempt


class ThreadSwitch:
    """Set every library's thread count between timed calls.

    ``use(n)`` caps BLAS and every OpenMP runtime loaded in the process at
    ``n`` threads with threadpoolctl (skseq's prange and its BLAS calls follow
    it) and sets torch's intra-op pool with ``torch.set_num_threads``;
    ``use(None)`` restores the defaults. Switching costs a few library calls,
    so it is done outside the timed calls (``alternate``'s ``setups``).
    """

    def __init__(self, torch=None):
        from threadpoolctl import ThreadpoolController

        self.controller = ThreadpoolController()
        self.torch = torch
        self.torch_default = torch.get_num_threads() if torch is not None else None
        self.limiter = None
        self.current = None

    def use(self, n):
        """Switch to ``n`` threads; return whether the count changed."""
        if n == self.current:
            return False
        if self.limiter is not None:
            self.limiter.restore_original_limits()
            self.limiter = None
        if n is not None:
            self.limiter = self.controller.limit(limits=n)
        if self.torch is not None:
            self.torch.set_num_threads(self.torch_default if n is None else n)
        self.current = n
        return True


def alternate(funcs, budget, min_reps, max_reps, warmup, setups=None):
    """Time callables in alternation; return {name: [seconds, ...]}.

    Each repeat calls every function once, in the given order. The number of
    repeats is chosen from the cost of one round so a cell takes ~``budget``
    seconds, clamped to [min_reps, max_reps]. ``setups`` maps a name to a
    callable run, untimed, just before each call of that function.
    """
    names = list(funcs)
    setups = setups or {}

    def call(name):
        setup = setups.get(name)
        if setup is not None:
            setup()
        f = funcs[name]
        t = time.perf_counter()
        f()
        return time.perf_counter() - t

    t0 = time.perf_counter()
    n = 0
    # warm-up: at least ``warmup`` rounds and WARMUP_SECONDS (allocators, thread
    # pools and caches of both libraries settle over the first dozen calls)
    while n < warmup or time.perf_counter() - t0 < WARMUP_SECONDS:
        for name in names:
            call(name)
        n += 1
    one_round = sum(call(name) for name in names)
    reps = int(budget / max(one_round, 1e-9))
    reps = max(min_reps, min(max_reps, reps))
    times = {name: [] for name in names}
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(reps):
            for name in names:
                times[name].append(call(name))
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


# --------------------------------------------------------------------------
# sgemm peak
# --------------------------------------------------------------------------


def sgemm_peak(n=2048, reps=7, n_threads=None):
    """Median GFLOP/s of an n x n float32 GEMM: numpy matmul and SciPy's sgemm.

    skseq's core calls SciPy's BLAS (scipy.linalg.cython_blas), which may be a
    different OpenBLAS build from numpy's, so both are measured.
    """
    import numpy as np
    from scipy.linalg.blas import sgemm
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a_f, b_f = np.asfortranarray(a), np.asfortranarray(b)
    flops = 2.0 * n**3
    ctx = threadpool_limits(limits=n_threads) if n_threads else nullcontext()
    out = {}
    with ctx:
        for name, f in (
            ("numpy", lambda: a @ b),
            ("scipy", lambda: sgemm(1.0, a_f, b_f)),
        ):
            f()
            f()
            ts = []
            for _ in range(reps):
                t = time.perf_counter()
                f()
                ts.append(time.perf_counter() - t)
            out[name] = flops / median(ts) / 1e9
    return out


def blas_description():
    """OpenBLAS libraries loaded by numpy/scipy and the core type each picked."""
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    rows = []
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            rows.append(
                f"{os.path.basename(info['filepath'])} "
                f"{info.get('internal_api')} {info.get('version')} "
                f"core={info.get('architecture')} threads={info.get('num_threads')}"
            )
    return rows


# --------------------------------------------------------------------------
# the two contestants
# --------------------------------------------------------------------------


def make_batch(B, T, D, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, D), dtype=np.float32)
    y = (X[:, -5:, 0].mean(axis=1) + 0.1 * rng.standard_normal(B)).astype(np.float32)
    return X, y


class SkseqRunner:
    """Estimator-level skseq: partial_fit on exactly one batch = one Adam step.

    ``estimator`` is the regressor class (default ``LSTMRegressor``;
    ``bench_cells.py`` passes the other cells')."""

    def __init__(self, cfg, X, y, estimator=None):
        if estimator is None:
            from skseq import LSTMRegressor as estimator

        B, T, D, H = cfg
        kw = skseq_kwargs(
            estimator,
            hidden_layer_sizes=(H,),
            batch_size=B,
            max_iter=1,
            solver="adam",
            random_state=0,
        )
        self.est = estimator(**kw)
        self.X, self.y = X, y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.est.partial_fit(X, y)  # initialises the weights and buffers

    def train(self):
        self.est.partial_fit(self.X, self.y)

    def predict(self):
        self.est.predict(self.X)


class TorchRunner:
    """nn.LSTM(batch_first) + nn.Linear on the last step + MSE + Adam
    (``module`` names another recurrent module of ``torch.nn``: "GRU", "RNN")."""

    def __init__(self, cfg, X, y, torch, module="LSTM"):
        B, T, D, H = cfg
        nn = torch.nn
        torch.manual_seed(0)
        self.torch = torch
        self.lstm = getattr(nn, module)(D, H, batch_first=True)
        self.head = nn.Linear(H, 1)
        self.params = list(self.lstm.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(self.params, lr=1e-3)
        self.loss = nn.MSELoss()
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y)

    def train(self):
        self.opt.zero_grad(set_to_none=True)
        out, _ = self.lstm(self.X)
        pred = self.head(out[:, -1]).squeeze(-1)
        loss = self.loss(pred, self.y)
        loss.backward()
        self.opt.step()

    def predict(self):
        with self.torch.inference_mode():
            out, _ = self.lstm(self.X)
            self.head(out[:, -1]).squeeze(-1).numpy()


# --------------------------------------------------------------------------
# subprocess children
# --------------------------------------------------------------------------


def run_child(args_list, env=None, timeout=600, script=__file__):
    cmd = [sys.executable, os.path.abspath(script)] + args_list
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {p.returncode}: " + " | ".join(tail)}, wall
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line), wall
    return {"error": "no JSON from child: " + p.stdout[-200:]}, wall


def child_mem(lib, config, epochs=2, n_batches=4):
    """Peak RSS growth during a fit, above the state after imports + data."""
    B, T, D, H = CONFIGS[config]
    import numpy as np

    if lib == "torch":
        import torch
    else:
        from skseq import LSTMRegressor
    rng = np.random.default_rng(0)
    n = B * n_batches
    X = rng.standard_normal((n, T, D), dtype=np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    gc.collect()
    if reset_peak_rss():
        method = "VmHWM after clear_refs"
        base = read_status_kb("VmRSS")
    else:
        method = "ru_maxrss"
        base = maxrss_kb()
    if lib == "torch":
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(D, H, batch_first=True)
        head = torch.nn.Linear(H, 1)
        opt = torch.optim.Adam(
            list(lstm.parameters()) + list(head.parameters()), lr=1e-3
        )
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        for _ in range(epochs):
            for s in range(0, n, B):
                opt.zero_grad(set_to_none=True)
                out, _ = lstm(Xt[s : s + B])
                loss = torch.nn.functional.mse_loss(
                    head(out[:, -1]).squeeze(-1), yt[s : s + B]
                )
                loss.backward()
                opt.step()
    else:
        kw = skseq_kwargs(
            LSTMRegressor,
            hidden_layer_sizes=(H,),
            batch_size=B,
            max_iter=epochs,
            solver="adam",
            random_state=0,
            n_iter_no_change=epochs + 1,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            LSTMRegressor(**kw).fit(X, y)
    peak = read_status_kb("VmHWM") if method.startswith("VmHWM") else maxrss_kb()
    return {
        "base_mb": base / 1024,
        "peak_mb": peak / 1024,
        "delta_mb": (peak - base) / 1024,
        "method": method,
        "data_mb": X.nbytes / 2**20,
    }


def child_seed(lib, epochs=200):
    """The issue's seed example end to end: import, fit 200 epochs, predict."""
    t0 = time.perf_counter()
    import numpy as np

    if lib == "torch":
        import torch
    else:
        from skseq import LSTMRegressor
    t_import = time.perf_counter() - t0

    X = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]], dtype=np.float32).reshape(3, 3, 1)
    y = np.array([4, 5, 6], dtype=np.float32)
    X_new = np.array([4, 5, 6], dtype=np.float32).reshape(1, 3, 1)
    info = {}

    if lib == "torch":
        nn = torch.nn
        torch.manual_seed(0)
        H = 50

        class HandLSTM(nn.Module):
            """Keras LSTM(50, activation='relu') by hand: relu for g and c."""

            def __init__(self, n_in, H):
                super().__init__()
                self.Wx = nn.Parameter(torch.empty(n_in, 4 * H))
                self.Wh = nn.Parameter(torch.empty(H, 4 * H))
                self.b = nn.Parameter(torch.zeros(4 * H))
                nn.init.xavier_uniform_(self.Wx)
                nn.init.orthogonal_(self.Wh)
                with torch.no_grad():
                    self.b[H : 2 * H] = 1.0  # unit forget bias
                self.head = nn.Linear(H, 1)
                self.H = H

            def forward(self, x):
                Bn, T, _ = x.shape
                h = x.new_zeros(Bn, self.H)
                c = x.new_zeros(Bn, self.H)
                xp = x @ self.Wx + self.b
                for t in range(T):
                    z = xp[:, t] + h @ self.Wh
                    i, f, g, o = z.chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.relu(g)
                    h = torch.sigmoid(o) * torch.relu(c)
                return self.head(h).squeeze(-1)

        model = HandLSTM(1, H)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        t = time.perf_counter()
        for _ in range(epochs):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(Xt), yt)
            loss.backward()
            opt.step()
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        with torch.inference_mode():
            pred = model(torch.from_numpy(X_new)).numpy()
        t_pred = time.perf_counter() - t
        info["epochs"] = epochs
    else:
        wanted = dict(
            hidden_layer_sizes=(50,),
            activation="relu",
            solver="adam",
            batch_size=3,
            max_iter=epochs,
            random_state=0,
            n_iter_no_change=epochs + 1,
            early_stopping=False,
        )
        kw = skseq_kwargs(LSTMRegressor, **wanted)
        info["ignored_params"] = sorted(set(wanted) - set(kw))
        est = LSTMRegressor(**kw)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        pred = est.predict(X_new)
        t_pred = time.perf_counter() - t
        info["epochs"] = getattr(est, "n_iter_", None)
    info.update(
        import_s=t_import,
        fit_s=t_fit,
        predict_s=t_pred,
        total_s=time.perf_counter() - t0,
        prediction=float(np.ravel(pred)[0]),
    )
    return info


def child_time(lib, config, opts):
    """Per-batch train and predict of ONE library alone in this fresh process."""
    cfg = CONFIGS[config]
    B, T, D, _ = cfg
    if lib == "torch":
        import torch

        runner = TorchRunner(cfg, *make_batch(B, T, D), torch)
    else:
        runner = SkseqRunner(cfg, *make_batch(B, T, D))
    out = {}
    if opts.busy:  # the oversubscription check: train unloaded, then loaded
        for key in ("unloaded", "loaded"):
            busy = start_busy_loop() if key == "loaded" else None
            try:
                ts = alternate(
                    {lib: runner.train},
                    opts.budget / 2,
                    opts.min_reps,
                    opts.max_reps,
                    opts.warmup,
                )[lib]
            finally:
                stop_busy_loop(busy)
            out[key] = {"median": median(ts), "iqr_rel": iqr_rel(ts), "n": len(ts)}
        return out
    for kind in ("train", "predict"):
        ts = alternate(
            {lib: getattr(runner, kind)},
            opts.budget / 2,
            opts.min_reps,
            opts.max_reps,
            opts.warmup,
        )[lib]
        out[kind] = {"median": median(ts), "iqr_rel": iqr_rel(ts), "n": len(ts)}
    return out


def start_busy_loop():
    """Another process that keeps one core busy (pure Python spin)."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    return busy


def stop_busy_loop(busy):
    if busy is not None:
        busy.kill()
        busy.wait()


def child_flags(opts):
    return [
        "--budget",
        str(opts.budget),
        "--min-reps",
        str(opts.min_reps),
        "--max-reps",
        str(opts.max_reps),
        "--warmup",
        str(opts.warmup),
    ]


def bench_isolation(libs, configs, opts, results):
    """Time each library alone in a fresh process, to expose co-location effects."""
    flags = child_flags(opts)
    out = {}
    for name in configs:
        out[name] = {}
        for lib in libs:
            (r, _), load, attempts = guarded(
                lambda lib=lib, name=name: run_child(
                    ["--_child", "time", "--lib", lib, "--config", name] + flags
                ),
                opts,
            )
            r.update(other_load=load, attempts=attempts)
            out[name][lib] = r
    return out


def print_isolation(iso, libs, results):
    print(
        "\n== isolation check: each library ALONE in a fresh process vs side by "
        "side in this process (medians, ms)"
    )
    header = ["config"]
    for kind in ("train", "predict"):
        for lib in libs:
            header += [f"{kind} {LABEL[lib]} together", f"{kind} {LABEL[lib]} alone"]
        if len(libs) == 2:
            header += [f"{kind} ratio alone"]
    header += ["other load"]
    rows = []
    for res in results:
        name = res["config"]
        if name not in iso:
            continue
        r = [name]
        loads = []
        for kind in ("train", "predict"):
            alone = []
            for lib in libs:
                a = iso[name][lib]
                loads.append(a.get("other_load", float("nan")))
                v = a.get(kind, {}).get("median") if "error" not in a else None
                alone.append(v)
                r += [fmt_ms(res[lib][f"{kind}_all"]["median"]), fmt_ms(v)]
            if len(libs) == 2:
                r.append(fmt(ratio(*alone), ".2f"))
        r.append(fmt(max(loads) * 100, ".0f") + "%")
        rows.append(r)
    print_table(rows, header)
    for name in iso:
        for lib in libs:
            if "error" in iso[name][lib]:
                print(f"  {LABEL[lib]} {name} failed: {iso[name][lib]['error']}")


def child_sgemm(reps):
    out = {
        "all": sgemm_peak(reps=reps),
        "one": sgemm_peak(reps=reps, n_threads=1),
        "blas": blas_description(),
        "coretype": os.environ.get("OPENBLAS_CORETYPE", "(default)"),
    }
    return out


# --------------------------------------------------------------------------
# the benchmark sections
# --------------------------------------------------------------------------


def bench_config(name, cfg, libs, torch, opts, peak, runners=None, flops=None):
    """Time train and predict of the runners (default: the LSTM's, built here)
    in one alternation; ``flops`` is their (forward, training step) count."""
    B, T, D, H = cfg
    if runners is None:
        X, y = make_batch(B, T, D)
        runners = {}
        if "skseq" in libs:
            runners["skseq"] = SkseqRunner(cfg, X, y)
        if "torch" in libs:
            runners["torch"] = TorchRunner(cfg, X, y, torch)
    res = {"config": name, "B": B, "T": T, "D": D, "H": H}
    fwd_flops, train_flops = flops or lstm_flops(B, T, D, H)
    res["flops"] = {"predict": fwd_flops, "train": train_flops}
    threads_all = n_cpus()
    # All threads and one thread are timed in the same alternation (a repeat
    # runs skseq and PyTorch on all threads, then both on one), so the
    # speed-up compares calls made under the same conditions of the machine.
    # After each switch one untimed call runs first: the first two-thread call
    # after one-thread ones is slower than the next (mid predict: median 3.08
    # against 3.01 ms), a cost no steady run of either count pays.
    phases = [("all", None)]
    if not opts.skip_threads and threads_all > 1:
        phases.append(("one", 1))
    switch = ThreadSwitch(torch)

    def setup(n, f):
        def switch_to_n():
            if switch.use(n):
                f()  # the untimed call after a switch

        return switch_to_n

    loads = []
    try:
        for kind in ("train", "predict"):
            funcs, setups = {}, {}
            for phase, n in phases:
                for lib, r in runners.items():
                    funcs[lib, phase] = getattr(r, kind)
                    setups[lib, phase] = setup(n, funcs[lib, phase])
            times, load, attempts = guarded(
                lambda funcs=funcs, setups=setups: alternate(
                    funcs,
                    opts.budget * len(phases),
                    opts.min_reps,
                    opts.max_reps,
                    opts.warmup,
                    setups,
                ),
                opts,
            )
            loads.append(load)
            for phase, _ in phases:
                res.setdefault("cells", {})[f"{kind}_{phase}"] = {
                    "other_load": load,
                    "attempts": attempts,
                }
            for (lib, phase), ts in times.items():
                res.setdefault(lib, {})[f"{kind}_{phase}"] = {
                    "median": median(ts),
                    "iqr_rel": iqr_rel(ts),
                    "n": len(ts),
                }
    finally:
        switch.use(None)
    res["foreign_load"] = max(loads) if loads else float("nan")
    return res


def print_config(res, libs, peak, mem, threads_all):
    B, T, D, H = res["B"], res["T"], res["D"], res["H"]
    fl = res["flops"]
    print(
        f"\n== {res['config']}: B={B} T={T} D={D} H={H}   "
        f"(train step ~{fl['train'] / 1e9:.3g} GFLOP, "
        f"predict ~{fl['predict'] / 1e9:.3g} GFLOP)"
    )
    cols = [LABEL[lib] for lib in libs]
    both = len(libs) == 2
    header = (
        ["metric"] + cols + (["skseq/PyTorch"] if both else []) + ["other load (tries)"]
    )
    rows = []

    def get(lib, key):
        return res.get(lib, {}).get(key, {}).get("median")

    def row(label, values, r=None, f=lambda v: fmt_ms(v), cell=None):
        cells = [f(v) for v in values]
        c = res.get("cells", {}).get(cell) if cell else None
        note = f"{fmt(c['other_load'] * 100, '.0f')}% ({c['attempts']})" if c else ""
        rows.append([label] + cells + ([fx(r)] if both else []) + [note])

    for kind, lab in (("train", "train step, ms"), ("predict", "predict, ms")):
        vals = [get(lib, f"{kind}_all") for lib in libs]
        row(
            f"{lab} (median, {threads_all} thr)",
            vals,
            ratio(*vals) if both else None,
            cell=f"{kind}_all",
        )
        gfs = [fl[kind] / v / 1e9 if v else float("nan") for v in vals]

        def blank_ratio():
            if both:
                rows[-1][-2] = ""

        row("  GFLOP/s", gfs, None, lambda v: fmt(v, ".1f"))
        blank_ratio()
        pct = [g / peak * 100 if peak else float("nan") for g in gfs]
        row("  % of sgemm peak", pct, None, lambda v: fmt(v, ".1f") + "%")
        blank_ratio()
        noise = [res.get(lib, {}).get(f"{kind}_all", {}) for lib in libs]
        rows.append(
            ["  iqr / n"]
            + [
                f"{fmt(d.get('iqr_rel', float('nan')) * 100, '.0f')}% / {d.get('n', 0)}"
                for d in noise
            ]
            + ([""] if both else [])
            + [""]
        )
        one = [get(lib, f"{kind}_one") for lib in libs]
        if any(v is not None for v in one):
            row(
                f"{lab.split(',')[0]}, 1 thread, ms",
                one,
                ratio(*one) if both else None,
                cell=f"{kind}_one",
            )
            sp = [ratio(o, a) for o, a in zip(one, vals, strict=True)]
            row(f"  speed-up 1 -> {threads_all} threads", sp, None, fx)
            blank_ratio()
    if mem:
        vals = [mem.get(lib, {}).get("delta_mb") for lib in libs]
        row(
            "fit peak memory, MB",
            vals,
            ratio(*vals) if both else None,
            lambda v: fmt(v, ".1f"),
        )
    print_table(rows, header)
    fl_ = res.get("foreign_load", float("nan"))
    if fl_ == fl_ and fl_ > 0.1:
        print(
            f"  WARNING: other processes used up to {fl_ * 100:.0f}% of the machine "
            "during this config even after retries; its timings are unreliable"
        )
    for lib in libs:
        if mem and "error" in mem.get(lib, {}):
            print(f"  ({LABEL[lib]} memory child failed: {mem[lib]['error']})")


def bench_memory(libs, configs):
    out = {}
    for name in configs:
        out[name] = {}
        for lib in libs:
            r, _ = run_child(["--_child", "mem", "--lib", lib, "--config", name])
            out[name][lib] = r
    return out


def bench_seed(libs, n_runs, opts):
    runs = {lib: [] for lib in libs}
    for _ in range(n_runs):
        for lib in libs:  # alternate fresh processes
            (r, wall), load, attempts = guarded(
                lambda lib=lib: run_child(["--_child", "seed", "--lib", lib]), opts
            )
            r.update(process_wall_s=wall, other_load=load, attempts=attempts)
            runs[lib].append(r)
    return runs


def print_seed(runs, libs):
    keras_total = KERAS_IMPORT_S + KERAS_FIT_S
    print(
        f"\n== seed example end to end (fresh processes, median of "
        f"{max(len(v) for v in runs.values())} runs): LSTM(50, relu) on "
        f"X=[[1,2,3],[2,3,4],[3,4,5]] "
        f"(3,3,1), y=[4,5,6], 200 epochs full-batch Adam"
    )
    header = [
        "",
        "import s",
        "fit s",
        "predict ms",
        "import+fit s",
        "process wall s",
        "vs Keras import",
        "vs Keras fit",
        "vs Keras total",
        "pred(4,5,6)",
        "other load",
    ]
    rows = [
        [
            "Keras (issue)",
            fmt(KERAS_IMPORT_S, ".1f"),
            fmt(KERAS_FIT_S, ".1f"),
            "-",
            fmt(keras_total, ".1f"),
            "-",
            "1",
            "1",
            "1",
            "-",
            "",
        ]
    ]
    notes = []
    for lib in libs:
        ok = [r for r in runs[lib] if "error" not in r]
        if not ok:
            rows.append([LABEL[lib]] + ["failed"] + [""] * (len(header) - 2))
            notes.append(f"{LABEL[lib]}: {runs[lib][0]['error']}")
            continue
        imp = median([r["import_s"] for r in ok])
        fit = median([r["fit_s"] for r in ok])
        pred = median([r["predict_s"] for r in ok])
        wall = median([r["process_wall_s"] for r in ok])
        rows.append(
            [
                LABEL[lib],
                fmt(imp, ".2f"),
                fmt(fit, ".3f"),
                fmt(pred * 1e3, ".2f"),
                fmt(imp + fit, ".2f"),
                fmt(wall, ".2f"),
                fmt(imp / KERAS_IMPORT_S, ".3f"),
                fmt(fit / KERAS_FIT_S, ".4f"),
                fmt((imp + fit) / keras_total, ".3f"),
                fmt(ok[0]["prediction"], ".2f"),
                fmt(max(r["other_load"] for r in ok) * 100, ".0f") + "%",
            ]
        )
        if ok[0].get("ignored_params"):
            notes.append(
                f"{LABEL[lib]} ignored unsupported params: {ok[0]['ignored_params']}"
            )
        if ok[0].get("epochs") not in (None, 200):
            notes.append(f"{LABEL[lib]} ran {ok[0]['epochs']} epochs (n_iter_)")
    print_table(rows, header)
    print(
        "  ratios are library / Keras (below 1 = faster than the issue's Keras "
        "figures); Keras not installed, its figures are constants from the issue"
    )
    for n in notes:
        print("  note:", n)


def bench_oversubscription(libs, torch, opts, baseline):
    B, T, D, H = CONFIGS["mid"]
    X, y = make_batch(B, T, D)
    runners = {}
    if "skseq" in libs:
        runners["skseq"] = SkseqRunner(CONFIGS["mid"], X, y)
    if "torch" in libs:
        runners["torch"] = TorchRunner(CONFIGS["mid"], X, y, torch)
    funcs = {lib: r.train for lib, r in runners.items()}
    for f in funcs.values():  # warm the fresh runners before the load starts
        f()
    quiet_wait(opts)
    busy = start_busy_loop()
    try:
        with ForeignLoad() as load:
            times = alternate(
                funcs, opts.budget, opts.min_reps, opts.max_reps, opts.warmup
            )
    finally:
        stop_busy_loop(busy)
    out = {"foreign_load": load.value}
    for lib in libs:
        m = median(times[lib])
        out[lib] = {
            "median": m,
            "iqr_rel": iqr_rel(times[lib]),
            "n": len(times[lib]),
            "unloaded": baseline.get(lib),
            "slowdown": ratio(m, baseline.get(lib)),
        }
    # the same, each library alone in a fresh process (its own OpenMP settings)
    for lib in libs:  # the busy loop is the child's child: its CPU counts as ours
        (r, _), load, attempts = guarded(
            lambda lib=lib: run_child(
                ["--_child", "time", "--lib", lib, "--config", "mid", "--busy"]
                + child_flags(opts)
            ),
            opts,
        )
        r.update(other_load=load, attempts=attempts)
        out[lib + "_alone"] = r
    return out


def print_oversub(out, libs):
    print(
        "\n== oversubscription: mid train step while one other process busy-loops "
        "on one core "
        f"({n_cpus()} usable cores, default thread counts; other processes incl. the "
        f"busy loop used {fmt(out['foreign_load'] * 100, '.0f')}% of the machine)"
    )
    header = [
        "",
        "unloaded ms",
        "loaded ms",
        "slowdown",
        "loaded iqr / n",
        "other load",
    ]
    rows = []
    for lib in libs:
        o = out[lib]
        rows.append(
            [
                f"{LABEL[lib]} (together, alternating)",
                fmt_ms(o["unloaded"]),
                fmt_ms(o["median"]),
                fx(o["slowdown"]),
                f"{fmt(o['iqr_rel'] * 100, '.0f')}% / {o['n']}",
                "(busy loop)",
            ]
        )
    if len(libs) == 2:
        rows.append(
            [
                "  skseq/PyTorch",
                fx(ratio(out["skseq"]["unloaded"], out["torch"]["unloaded"])),
                fx(ratio(out["skseq"]["median"], out["torch"]["median"])),
                "",
                "",
                "",
            ]
        )
    alone = {}
    for lib in libs:
        a = out.get(lib + "_alone", {})
        if "error" in a or not a:
            rows.append(
                [f"{LABEL[lib]} (alone, fresh process)", "failed", "", "", "", ""]
            )
            continue
        u, lo = a["unloaded"]["median"], a["loaded"]["median"]
        alone[lib] = (u, lo)
        rows.append(
            [
                f"{LABEL[lib]} (alone, fresh process)",
                fmt_ms(u),
                fmt_ms(lo),
                fx(ratio(lo, u)),
                f"{fmt(a['loaded']['iqr_rel'] * 100, '.0f')}% / {a['loaded']['n']}",
                fmt(a.get("other_load", float("nan")) * 100, ".0f") + "%",
            ]
        )
    if len(alone) == 2:
        rows.append(
            [
                "  skseq/PyTorch",
                fx(ratio(alone["skseq"][0], alone["torch"][0])),
                fx(ratio(alone["skseq"][1], alone["torch"][1])),
                "",
                "",
                "",
            ]
        )
    print_table(rows, header)


def print_summary(results, libs, peak, mem, threads_all):
    both = len(libs) == 2
    print("\n== summary (medians, ms; ratio = skseq/PyTorch, below 1 = skseq faster)")
    header = ["config"]
    for kind in ("train", "predict"):
        header += [f"{kind} {LABEL[lib]}" for lib in libs] + (
            [f"{kind} ratio"] if both else []
        )
    if "skseq" in libs:
        header += ["skseq train GFLOP/s (%peak)"]
    header += [f"{LABEL[lib]} 1->{threads_all}thr train" for lib in libs]
    if mem:
        header += [f"{LABEL[lib]} fit MB" for lib in libs]
    header += ["other load"]
    rows = []
    for res in results:
        r = [res["config"]]
        for kind in ("train", "predict"):
            vals = [
                res.get(lib, {}).get(f"{kind}_all", {}).get("median") for lib in libs
            ]
            r += [fmt_ms(v) for v in vals] + (
                [fmt(ratio(*vals), ".2f")] if both else []
            )
        if "skseq" in libs:
            t = res["skseq"]["train_all"]["median"]
            g = res["flops"]["train"] / t / 1e9
            r.append(f"{g:.1f} ({g / peak * 100:.0f}%)" if peak else f"{g:.1f}")
        for lib in libs:
            d = res.get(lib, {})
            r.append(
                fx(
                    ratio(
                        d.get("train_one", {}).get("median"),
                        d.get("train_all", {}).get("median"),
                    )
                )
            )
        if mem:
            for lib in libs:
                r.append(
                    fmt(mem.get(res["config"], {}).get(lib, {}).get("delta_mb"), ".1f")
                )
        r.append(fmt(res.get("foreign_load", float("nan")) * 100, ".0f") + "%")
        rows.append(r)
    print_table(rows, header)


def check_targets(report):
    """The issue's targets against a run's results (the dict written by --json):
    a list of (target, measured, verdict), verdict "met", "MISSED" or "not
    measured" when the run left out what the target needs."""
    configs = {res["config"]: res for res in report.get("configs", [])}
    rows = []  # (target, value, format, limit, value must be at most the limit)

    def median_of(config, lib, key):
        return configs.get(config, {}).get(lib, {}).get(key, {}).get("median")

    for config, kind, limit in TARGET_RATIOS:
        r = ratio(
            median_of(config, "skseq", f"{kind}_all"),
            median_of(config, "torch", f"{kind}_all"),
        )
        rows.append((f"{kind} {config} <= {limit:g} x PyTorch", r, ".3f", limit, True))

    # Large training against the sgemm peak OpenBLAS reaches with the kernels it
    # picks by itself (OPENBLAS_CORETYPE unset), as SciPy's BLAS, which skseq
    # calls. Without a --coretype-sweep only the in-process peak is known, and it
    # may come from a core type forced by the environment.
    large = configs.get("large", {})
    sweep = report.get("coretype_sweep", {}).get("(unset: autodetect)", {})
    peak = sweep.get("all", {}).get("scipy")
    label = "autodetected"
    if peak is None:
        peak = report.get("sgemm_peak", {}).get("all", {}).get("scipy")
        label = "in-process"
    train = median_of("large", "skseq", "train_all")
    share = None
    if train and peak and large.get("flops"):
        share = large["flops"]["train"] / train / 1e9 / peak
    name = f"large train >= {TARGET_PEAK_SHARE:.0%} of the {label} sgemm peak"
    rows.append((name, share, ".0%", TARGET_PEAK_SHARE, False))

    speedup = ratio(
        median_of("large", "skseq", "train_one"),
        median_of("large", "skseq", "train_all"),
    )
    name = f"large train 1 -> {report.get('threads', '?')} threads"
    rows.append(
        (f"{name} >= {TARGET_SPEEDUP:g}x", speedup, ".2f", TARGET_SPEEDUP, False)
    )

    memory = [
        ratio(
            libs.get("skseq", {}).get("delta_mb"), libs.get("torch", {}).get("delta_mb")
        )
        for libs in (report.get("memory") or {}).values()
    ]
    memory = [r for r in memory if r == r]
    worst = max(memory) if memory else None
    rows.append(
        ("fit peak memory <= PyTorch's (worst config)", worst, ".2f", 1.0, True)
    )

    ok = [r for r in (report.get("seed") or {}).get("skseq", []) if "error" not in r]
    seed_share = None
    if ok:
        total = median([r["import_s"] + r["fit_s"] + r["predict_s"] for r in ok])
        seed_share = total / (KERAS_IMPORT_S + KERAS_FIT_S)
    name = f"seed example end to end <= 1/{1 / TARGET_SEED_SHARE:.0f} of Keras"
    rows.append((name, seed_share, ".3f", TARGET_SEED_SHARE, True))

    out = []
    for name, value, spec, limit, at_most in rows:
        if value is None or value != value:
            out.append((name, "-", "not measured"))
            continue
        met = value <= limit if at_most else value >= limit
        out.append((name, format(value, spec), "met" if met else "MISSED"))
    return out


def print_targets(report):
    rows = check_targets(report)
    print("\n== the issue's targets (ratios skseq/PyTorch, side by side, medians)")
    print_table(
        [list(r) for r in rows], ["target", "measured", "verdict"], ["<", ">", "<"]
    )
    print(
        "  (the gate math's vectorisation is not timed here: benchmarks/bench_gates.py)"
    )
    return rows


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats and subprocess runs (about a minute or two)",
    )
    p.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated subset of {','.join(CONFIGS)}",
    )
    p.add_argument(
        "--libs",
        default="skseq,torch",
        help="comma-separated subset of skseq,torch (missing ones are skipped)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds per timed cell, both libraries together (default 6, quick 1.5)",
    )
    p.add_argument("--min-reps", type=int, default=None, help="default 9, quick 4")
    p.add_argument("--max-reps", type=int, default=None, help="default 300, quick 60")
    p.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up rounds per timed cell, and at least 0.5 s (default 3, quick 2)",
    )
    p.add_argument(
        "--seed-runs",
        type=int,
        default=None,
        help="fresh processes per library for the seed example (default 3, quick 1)",
    )
    p.add_argument(
        "--coretype-sweep",
        action="store_true",
        help="re-measure the sgemm peak in subprocesses with OPENBLAS_CORETYPE set",
    )
    p.add_argument(
        "--coretypes",
        default="SkylakeX,Haswell",
        help="core types for --coretype-sweep (default SkylakeX,Haswell)",
    )
    p.add_argument(
        "--max-other-load",
        type=float,
        default=0.10,
        help="redo a timed cell when other processes used more than this fraction "
        "of the machine's CPU during it (default 0.10; 1 disables the check)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=None,
        help="redos per cell on a busy machine (default 3, quick 1)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        help=(
            "seconds to wait for a quiet machine before each cell "
            "(default 30, quick 10)"
        ),
    )
    p.add_argument(
        "--max-wait-total",
        type=float,
        default=None,
        help="cap on all quiet-waiting of a run, seconds (default 180, quick 40); "
        "once spent, cells are kept as measured and flagged",
    )
    p.add_argument(
        "--import-order",
        choices=["torch-first", "skseq-first"],
        default="torch-first",
        help="which library is imported first in the benchmark process. Both use "
        "an OpenMP runtime named libgomp.so.1, so the second one shares the "
        "first one's copy and settings (default torch-first: PyTorch gets "
        "its bundled libgomp as in a PyTorch-only program)",
    )
    p.add_argument(
        "--skip-isolation",
        action="store_true",
        help="skip the check that times each library alone in a fresh process",
    )
    p.add_argument("--skip-threads", action="store_true", help="skip the 1-thread runs")
    p.add_argument(
        "--skip-memory", action="store_true", help="skip the peak-memory subprocesses"
    )
    p.add_argument("--skip-seed", action="store_true", help="skip the seed example")
    p.add_argument(
        "--skip-oversub", action="store_true", help="skip the oversubscription run"
    )
    p.add_argument("--json", metavar="PATH", help="also write all raw results to PATH")
    p.add_argument(
        "--report",
        metavar="PATH",
        help="measure nothing: print the targets check of a run saved with --json",
    )
    p.add_argument(
        "--skseq-src",
        metavar="DIR",
        help="import skseq from this source tree (with its extension built in "
        "place) instead of the installed package; children inherit it",
    )
    # private: used when this file re-invokes itself in a fresh process
    p.add_argument(
        "--_child", choices=["mem", "seed", "sgemm", "time"], help=argparse.SUPPRESS
    )
    p.add_argument("--lib", help=argparse.SUPPRESS)
    p.add_argument("--busy", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.budget = a.budget if a.budget is not None else (1.5 if q else 6.0)
    a.min_reps = a.min_reps if a.min_reps is not None else (4 if q else 9)
    a.max_reps = a.max_reps if a.max_reps is not None else (60 if q else 300)
    a.warmup = a.warmup if a.warmup is not None else (2 if q else 3)
    a.seed_runs = a.seed_runs if a.seed_runs is not None else (1 if q else 3)
    a.sgemm_reps = 5 if q else 9
    a.retries = a.retries if a.retries is not None else (1 if q else 3)
    a.quiet_wait = a.quiet_wait if a.quiet_wait is not None else (10.0 if q else 30.0)
    a.max_wait_total = (
        a.max_wait_total if a.max_wait_total is not None else (40.0 if q else 180.0)
    )
    a.wait_left = a.max_wait_total
    return a


def main(argv=None):
    opts = parse_args(argv)
    if opts.skseq_src:
        src = os.path.abspath(opts.skseq_src)
        sys.path.insert(0, src)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
    if opts.report:
        with open(opts.report) as f:
            print_targets(json.load(f))
        return 0
    if opts._child:
        if opts._child == "mem":
            out = child_mem(opts.lib, opts.config)
        elif opts._child == "seed":
            out = child_seed(opts.lib)
        elif opts._child == "time":
            out = child_time(opts.lib, opts.config, opts)
        else:
            out = child_sgemm(opts.sgemm_reps)
        print(json.dumps(out))
        return 0

    t_start = time.perf_counter()
    import numpy as np  # noqa: F401

    wanted = [s.strip() for s in opts.libs.split(",") if s.strip()]
    configs = [s.strip() for s in opts.configs.split(",") if s.strip()]
    for c in configs:
        if c not in CONFIGS:
            raise SystemExit(f"unknown config {c!r}; choose from {list(CONFIGS)}")

    libs, torch = [], None
    print("skseq vs PyTorch LSTM benchmark (float32, CPU)")
    print(
        f"python {platform.python_version()} | {platform.machine()} | "
        f"{n_cpus()} usable CPUs | {cpu_model()}"
    )
    order = (
        ["skseq", "torch"] if opts.import_order == "skseq-first" else ["torch", "skseq"]
    )
    for lib in order:
        if lib not in wanted:
            continue
        if lib == "skseq":
            skseq_import(libs)
        else:
            torch = torch_import(libs)
    libs = [lib for lib in LIBS if lib in libs]  # fixed order: skseq first
    if not libs:
        print("nothing to benchmark")
        return 1
    print(
        f"import order: {opts.import_order} | OpenMP runtimes loaded: "
        + "; ".join(openmp_description())
    )
    for line in blas_description():
        print("BLAS:", line)
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    coretype_label = (
        f"OPENBLAS_CORETYPE={coretype} from the environment"
        if coretype
        else "OPENBLAS_CORETYPE unset: OpenBLAS autodetects"
    )
    print("BLAS core type:", coretype_label)
    threads_all = n_cpus()

    # sgemm peak in this very process (the reference for "% of peak")
    pk_all, pk_load, _ = guarded(lambda: sgemm_peak(reps=opts.sgemm_reps), opts)
    pk_one, _, _ = guarded(lambda: sgemm_peak(reps=opts.sgemm_reps, n_threads=1), opts)
    peak = pk_all["numpy"]
    print(
        f"\nsgemm peak, 2048x2048 float32, median ({coretype_label}): "
        f"numpy {pk_all['numpy']:.1f} GFLOP/s on {threads_all} threads, "
        f"{pk_one['numpy']:.1f} on 1 | scipy BLAS (what skseq calls) "
        f"{pk_all['scipy']:.1f} / {pk_one['scipy']:.1f}"
    )
    print(
        f"timing: median of >= {opts.min_reps} alternating repeats, "
        f"~{opts.budget:g} s per cell, {opts.warmup} warm-up calls each; a cell is "
        f"redone (up to {opts.retries}x, after waiting <= {opts.quiet_wait:g} s for "
        f"quiet) when other processes used more than "
        f"{opts.max_other_load * 100:.0f}% of the machine during it"
    )
    report = {
        "libs": libs,
        "threads": threads_all,
        "sgemm_peak": {"all": pk_all, "one": pk_one},
        "configs": [],
        "opts": {k: v for k, v in vars(opts).items() if not k.startswith("_")},
    }

    mem = {}
    if not opts.skip_memory:
        mem = bench_memory(libs, configs)
        report["memory"] = mem

    results = []
    for name in configs:
        res = bench_config(name, CONFIGS[name], libs, torch, opts, peak)
        results.append(res)
        print_config(res, libs, peak, mem.get(name), threads_all)
        sys.stdout.flush()
    report["configs"] = results

    if not opts.skip_isolation:
        iso = bench_isolation(libs, configs, opts, results)
        report["isolation"] = iso
        print_isolation(iso, libs, results)

    if not opts.skip_oversub:
        base = {}
        for res in results:
            if res["config"] == "mid":
                base = {lib: res[lib]["train_all"]["median"] for lib in libs}
        if not base:  # mid not among the configs: measure it unloaded first
            r = bench_config(
                "mid",
                CONFIGS["mid"],
                libs,
                torch,
                argparse.Namespace(**{**vars(opts), "skip_threads": True}),
                peak,
            )
            base = {lib: r[lib]["train_all"]["median"] for lib in libs}
        over = bench_oversubscription(libs, torch, opts, base)
        report["oversubscription"] = over
        print_oversub(over, libs)

    if not opts.skip_seed:
        seed = bench_seed(libs, opts.seed_runs, opts)
        report["seed"] = seed
        print_seed(seed, libs)

    if opts.coretype_sweep:
        print(
            "\n== sgemm peak by OpenBLAS core type "
            "(fresh subprocesses, 2048x2048 float32, GFLOP/s)"
        )
        header = [
            "OPENBLAS_CORETYPE",
            f"numpy {threads_all}thr",
            "numpy 1thr",
            f"scipy {threads_all}thr",
            "scipy 1thr",
            "core types reported",
            "other load",
        ]
        rows, sweep = [], {}
        sweep_list = ["(unset: autodetect)"]
        if coretype:
            sweep_list.append(f"{coretype} (inherited)")
        sweep_list += [
            c.strip()
            for c in opts.coretypes.split(",")
            if c.strip() and c.strip() != coretype
        ]
        for ct in sweep_list:
            env = dict(os.environ)
            env.pop("OPENBLAS_CORETYPE", None)
            if not ct.startswith("("):
                env["OPENBLAS_CORETYPE"] = ct.split()[0]
            (r, _), load, _ = guarded(
                lambda env=env: run_child(
                    ["--_child", "sgemm"] + (["--quick"] if opts.quick else []), env=env
                ),
                opts,
            )
            sweep[ct] = r
            if "error" in r:
                rows.append([ct, "failed", "", "", "", r["error"][:60], ""])
                continue
            cores = sorted({line.split("core=")[1].split()[0] for line in r["blas"]})
            rows.append(
                [
                    ct,
                    fmt(r["all"]["numpy"], ".1f"),
                    fmt(r["one"]["numpy"], ".1f"),
                    fmt(r["all"]["scipy"], ".1f"),
                    fmt(r["one"]["scipy"], ".1f"),
                    ",".join(cores),
                    fmt(load * 100, ".0f") + "%",
                ]
            )
        print_table(rows, header)
        report["coretype_sweep"] = sweep

    print_summary(results, libs, peak, mem, threads_all)
    if len(libs) == 2:
        report["targets"] = print_targets(report)
    print(f"\ntotal benchmark time {time.perf_counter() - t_start:.0f} s")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
        print("raw results written to", opts.json)
    return 0


def skseq_import(libs):
    skseq, err = try_import_skseq()
    if skseq is None:
        print(f"skseq: NOT AVAILABLE ({err}) -> PyTorch-only numbers")
        return None
    libs.append("skseq")
    extra = ""
    try:
        from skseq import _lstm_layer, _openmp_helpers

        extra = (
            f" | core OpenMP={_openmp_helpers.openmp_enabled()}"
            f" max_threads={_openmp_helpers.openmp_max_threads()}"
        )
        level = getattr(_lstm_layer, "packed_gemm_level", None)
        if level is not None:
            names = {0: "none, BLAS", 1: "AVX2", 2: "AVX-512"}
            extra += f" | packed kernels: {names.get(level(), level())}"
    except Exception:
        pass
    print(
        f"skseq {getattr(skseq, '__version__', '?')} from "
        f"{os.path.dirname(skseq.__file__)}{extra}"
    )
    return skseq


def torch_import(libs):
    torch, err = try_import_torch()
    if torch is None:
        print(f"torch: NOT AVAILABLE ({err}) -> skseq-only numbers")
        return None
    libs.append("torch")
    print(
        f"torch {torch.__version__} | threads={torch.get_num_threads()} | "
        f"mkl={torch.backends.mkl.is_available()} "
        f"mkldnn={torch.backends.mkldnn.is_available()}"
    )
    return torch


def openmp_description():
    from threadpoolctl import threadpool_info

    out = []
    for info in threadpool_info():
        if info.get("user_api") == "openmp":
            path = info["filepath"]
            where = (
                "torch"
                if "/torch/" in path
                else "scikit-learn"
                if "scikit_learn" in path
                else "system"
                if path.startswith(("/lib", "/usr"))
                else "?"
            )
            out.append(f"{os.path.basename(path)} ({where})")
    return out or ["none"]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
