#!/usr/bin/env python
"""skseq's predict against its ONNX export in ONNX Runtime, side by side.

Run from the repository root, in an environment with skseq[onnx] and
onnxruntime::

    python benchmarks/bench_onnx.py                 # about 1 minute
    python benchmarks/bench_onnx.py --quick         # about 20 seconds
    python benchmarks/bench_onnx.py --json benchmarks/results/onnx.json

Two parts:

* **Agreement.** For each cell (LSTM, GRU, simple RNN; ``--cells``) and each
  kind of model the guide lists, the largest absolute difference between the
  estimator's ``predict`` (regressors) or ``predict_proba`` (classifiers) and
  the exported graph, over held-out sequences, and whether the labels are
  identical.
* **Latency.** One LSTM layer in the "small" and "mid" configurations of
  bench_lstm.py, float32, three inputs to ``predict``: one sequence of T
  steps, one step (a sequence of a single time step, no state carried), and
  a batch of 64 sequences. Then streaming: ``predict_step`` of one step for
  one stream and for 64 streams, each carrying its state, against ONNX
  Runtime on the same step twice: the exported graph on a length-1 sequence
  (it has no ``initial_h``/``initial_c`` inputs, so it carries no state:
  every call starts from zeros), and that graph with the LSTM node's initial
  states and final states made graph inputs and outputs (``_stateful``), the
  state fed back after each call. The libraries alternate in blocks of calls
  (see ``_time_alternating``), on all usable cores and again on one thread
  (threadpoolctl for skseq, ``intra_op_num_threads=1`` for a second ONNX
  Runtime session); figures are medians of single calls. Each cell also
  reports the CPU share that other processes used while it ran.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

# (time steps T, features D, hidden units H), as in bench_lstm.py
CONFIGS = {"small": (50, 8, 32), "mid": (100, 32, 128)}
BATCH = 64
CASES = ("step", "one", "batch")  # (1, 1, D), (1, T, D), (BATCH, T, D)
STREAMS = (1, BATCH)  # predict_step: one step for this many streams
BLOCK_SECONDS = 0.25  # the libraries alternate in blocks of calls this long,
SETTLE_SECONDS = 0.05  # with a pause this long before each block


def n_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class OtherLoad:
    """Share of the machine's CPU time that other processes used between
    construction and ``share()`` (Linux's /proc/stat; NaN elsewhere)."""

    def __init__(self):
        self.wall = time.perf_counter()
        self.own = self._own()
        self.busy = self._busy()

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except OSError:
            return None
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own():
        t = os.times()
        return t.user + t.system

    def share(self):
        busy = self._busy()
        if busy is None or self.busy is None:
            return float("nan")
        wall = time.perf_counter() - self.wall
        other = (busy - self.busy) - (self._own() - self.own)
        return max(0.0, other / (wall * os.cpu_count()))


# ------------------------------------------------------------------ agreement


def _fit(model, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _estimators(cell):
    from skseq import GRUClassifier, GRURegressor, LSTMClassifier, LSTMRegressor
    from skseq._rnn import RNNClassifier, RNNRegressor

    return {
        "lstm": (LSTMRegressor, LSTMClassifier),
        "gru": (GRURegressor, GRUClassifier),
        "rnn": (RNNRegressor, RNNClassifier),
    }[cell]


def agreement(quick, cells):
    """Largest |estimator - ONNX Runtime| per cell and model kind."""
    results = []
    for cell in cells:
        for row in _agreement(quick, *_estimators(cell)):
            results.append({"cell": cell, **row})
    return results


def _agreement(quick, regressor_class, classifier_class):
    """Largest |estimator - ONNX Runtime| per model kind, for one cell."""
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, Int32TensorType
    from sklearn.base import ClassifierMixin
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skseq.onnx import pad_sequences

    rng = np.random.default_rng(0)
    n_train, n_test, T, D, H = 400, 256, 20, 4, 16
    epochs = 5 if quick else 20
    X = rng.normal(size=(n_train + n_test, T, D)).astype(np.float32)
    y = X[:, :5, 0].sum(axis=1) - X[:, -3:, 1].sum(axis=1)
    train, test = slice(0, n_train), slice(n_train, None)
    lengths = rng.integers(1, T + 1, size=n_train + n_test)
    ragged = [x[:n] for x, n in zip(X, lengths, strict=True)]
    y_ragged = np.array([s[:, 0].sum() for s in ragged])
    ragged_types = [
        ("X", FloatTensorType([None, None, D])),
        ("lengths", Int32TensorType([None])),
    ]
    three = np.digitize(y_ragged, np.quantile(y_ragged, [1 / 3, 2 / 3]))
    names = np.array(["low", "mid", "high"])[np.digitize(y, [-1.0, 1.0])]

    def regressor(**params):
        params = {"hidden_layer_sizes": H, "max_iter": epochs, **params}
        return regressor_class(random_state=0, **params)

    def classifier(**params):
        params = {"hidden_layer_sizes": H, "max_iter": epochs, **params}
        return classifier_class(random_state=0, **params)

    bidirectional2 = dict(hidden_layer_sizes=(H, H // 2), bidirectional=True)
    X64 = X.astype(np.float64)
    univariate = X[:, :, 0] * 10 + 3
    kinds = [
        # name, model, X fit, y fit, X test, (initial types | None), ragged test
        ("1-layer regressor", regressor(), X, y, X, None),
        (
            "2-layer bidirectional regressor, equal lengths",
            regressor(**bidirectional2), X, y, X, None,
        ),
        (
            "2-layer bidirectional regressor, ragged",
            regressor(**bidirectional2), ragged, y_ragged, ragged, ragged_types,
        ),
        ("relu binary classifier", classifier(activation="relu"), X, y > 0, X, None),
        (
            "ragged 3-class classifier",
            classifier(), ragged, three, ragged, ragged_types,
        ),
        ("string-label classifier", classifier(), X, names, X, None),
        (
            "pipeline: StandardScaler + regressor on 2-D input",
            make_pipeline(StandardScaler(), regressor()), univariate, y, univariate,
            None,
        ),
        ("float64 1-layer regressor", regressor(), X64, y, X64, None),
        (
            "float64 2-layer bidirectional classifier",
            classifier(**bidirectional2), X64, y > 0, X64, None,
        ),
    ]  # fmt: skip
    results = []
    for name, model, X_fit, y_fit, X_all, types in kinds:
        _fit(model, X_fit[: n_train] if isinstance(X_fit, list) else X_fit[train],
             y_fit[train])  # fmt: skip
        X_test = X_all[n_train:] if isinstance(X_all, list) else X_all[test]
        estimator = model[-1] if hasattr(model, "steps") else model
        is_classifier = isinstance(estimator, ClassifierMixin)
        options = {"zipmap": False} if is_classifier else None
        if types is None:
            onx = to_onnx(model, X_test[:1], options=options)
            feeds = {"X": X_test}
        else:
            onx = to_onnx(model, initial_types=types, options=options)
            padded, seq_lengths = pad_sequences(X_test)
            feeds = {"X": padded, "lengths": seq_lengths}
        session = ort.InferenceSession(
            onx.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        outputs = session.run(None, feeds)
        if is_classifier:
            label, proba = outputs
            diff = np.abs(proba - model.predict_proba(X_test)).max()
            labels_equal = bool(np.array_equal(label, model.predict(X_test)))
        else:
            diff = np.abs(outputs[0][:, 0] - model.predict(X_test)).max()
            labels_equal = None
        results.append(
            {
                "model": name,
                "dtype": str(estimator.weights_.dtype),
                "max_abs_diff": float(diff),
                "labels_identical": labels_equal,
                "n_test": len(X_test),
            }
        )
    return results


# -------------------------------------------------------------------- latency


def _time_alternating(calls, seconds, min_calls):
    """Time each of ``calls`` for about ``seconds`` in total, alternating
    between them in blocks of about ``BLOCK_SECONDS``; returns per call the
    list of the times of its single calls.

    Blocks with a pause between them, rather than single calls in turn: after
    each run, ONNX Runtime's thread pool keeps spinning on the other cores
    for some tens of milliseconds (its default, ``allow_spinning``), and an
    OpenMP call made meanwhile waits for those cores (skseq's batch of 64 on
    two cores took 4-15 ms instead of 0.25 ms). The pause lets each
    library's threads go idle before the other one runs.
    """
    once = []
    for call in calls:
        time.sleep(SETTLE_SECONDS)
        for _ in range(3):  # warm-up
            call()
        t = time.perf_counter()
        for _ in range(3):
            call()
        once.append(max((time.perf_counter() - t) / 3, 1e-7))
    block = [max(1, round(BLOCK_SECONDS / t)) for t in once]
    rounds = max(
        2,
        round(seconds / (BLOCK_SECONDS * len(calls))),
        -(-min_calls // min(block)),
    )
    times = [[] for _ in calls]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for call, size, out in zip(calls, block, times, strict=True):
                time.sleep(SETTLE_SECONDS)
                for _ in range(size):
                    t = time.perf_counter()
                    call()
                    out.append(time.perf_counter() - t)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def _stateful(onx):
    """A copy of the exported one-layer LSTM graph that carries a state: the
    LSTM node's ``initial_h`` and ``initial_c`` become graph inputs of those
    names, its final ``Y_h`` and ``Y_c`` graph outputs (after the prediction),
    each (1, batch, H)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.ModelProto()
    model.CopyFrom(onx)
    graph = model.graph
    (node,) = [n for n in graph.node if n.op_type == "LSTM"]
    hidden = next(a.i for a in node.attribute if a.name == "hidden_size")
    inputs = list(node.input) + [""] * (5 - len(node.input))
    del node.input[:]
    node.input.extend(inputs[:5] + ["initial_h", "initial_c"])
    outputs = list(node.output) + [""] * (3 - len(node.output))
    outputs[1] = outputs[1] or "final_h"
    outputs[2] = "final_c"
    del node.output[:]
    node.output.extend(outputs)
    for name in ("initial_h", "initial_c"):
        graph.input.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, hidden])
        )
    for name in outputs[1:]:
        graph.output.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, hidden])
        )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _stream_calls(model, session, stateful, X_t):
    """The three timed calls of one streamed step for ``len(X_t)`` streams:
    skseq's ``predict_step`` carrying its state, ONNX Runtime on a length-1
    sequence (no state), and the stateful graph with its state fed back."""
    n, H = len(X_t), model.hidden_layer_sizes[0]
    carried = {"skseq": model.initial_state(n)}
    zeros = np.zeros((1, n, H), np.float32)
    carried["ort"] = {"initial_h": zeros, "initial_c": zeros.copy()}
    X_seq = X_t[:, None, :]

    def skseq_step():
        carried["skseq"] = model.predict_step(X_t, carried["skseq"])[1]

    def ort_step():
        session.run(None, {"X": X_seq})

    def ort_stateful_step():
        _, h, c = stateful.run(None, {"X": X_seq, **carried["ort"]})
        carried["ort"] = {"initial_h": h, "initial_c": c}

    return [skseq_step, ort_step, ort_stateful_step]


def _check_streaming(model, stateful, X_t):
    """Three streamed steps of both libraries give the same outputs (1e-4)."""
    n, H = len(X_t), model.hidden_layer_sizes[0]
    state = model.initial_state(n)
    h = c = np.zeros((1, n, H), np.float32)
    for _ in range(3):
        ours, state = model.predict_step(X_t, state)
        theirs, h, c = stateful.run(
            None, {"X": X_t[:, None, :], "initial_h": h, "initial_c": c}
        )
        assert np.abs(theirs[:, 0] - ours).max() < 1e-4, n


def latency(quick, configs):
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from threadpoolctl import threadpool_limits

    from skseq import LSTMRegressor

    seconds = 1.0 if quick else 3.0
    min_calls = 15 if quick else 30
    rows = []
    for config in configs:
        T, D, H = CONFIGS[config]
        rng = np.random.default_rng(0)
        X_fit = rng.normal(size=(BATCH, T, D)).astype(np.float32)
        model = _fit(
            LSTMRegressor(hidden_layer_sizes=(H,), max_iter=1, random_state=0),
            X_fit,
            X_fit[:, -1, 0],
        )
        exported = to_onnx(model, X_fit[:1])
        graphs = {"plain": exported.SerializeToString(), "state": _stateful(exported)}
        sessions, stateful = {}, {}
        for threads in ("all", 1):
            options = ort.SessionOptions()
            if threads == 1:
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
            sessions[threads], stateful[threads] = (
                ort.InferenceSession(
                    graphs[kind], options, providers=["CPUExecutionProvider"]
                )
                for kind in ("plain", "state")
            )
        inputs = {
            "step": rng.normal(size=(1, 1, D)).astype(np.float32),
            "one": rng.normal(size=(1, T, D)).astype(np.float32),
            "batch": rng.normal(size=(BATCH, T, D)).astype(np.float32),
        }
        for case in CASES:
            X = inputs[case]
            for threads in ("all", 1):
                session = sessions[threads]
                expected = model.predict(X)
                got = session.run(None, {"X": X})[0][:, 0]
                assert np.abs(got - expected).max() < 1e-4, (config, case)
                limit = threadpool_limits(limits=1) if threads == 1 else None
                try:
                    load = OtherLoad()
                    skseq_times, ort_times = _time_alternating(
                        [
                            lambda X=X, m=model: m.predict(X),
                            lambda X=X, s=session: s.run(None, {"X": X}),
                        ],
                        seconds,
                        min_calls,
                    )
                    other = load.share()
                finally:
                    if limit is not None:
                        limit.unregister()
                skseq_ms = statistics.median(skseq_times) * 1e3
                ort_ms = statistics.median(ort_times) * 1e3
                rows.append(
                    {
                        "config": config,
                        "T": T,
                        "D": D,
                        "H": H,
                        "case": case,
                        "shape": list(X.shape),
                        "threads": threads,
                        "skseq_ms": skseq_ms,
                        "onnxruntime_ms": ort_ms,
                        "ratio": skseq_ms / ort_ms,
                        "skseq_calls": len(skseq_times),
                        "onnxruntime_calls": len(ort_times),
                        "other_load": other,
                    }
                )
                print(
                    f"{config:6s} {case:6s} threads={threads!s:3s} skseq "
                    f"{skseq_ms:8.3f} ms  onnxruntime {ort_ms:8.3f} ms  "
                    f"ratio {skseq_ms / ort_ms:5.2f}  (calls {len(skseq_times)}/"
                    f"{len(ort_times)}, other load {other:.0%})",
                    flush=True,
                )
        for n_streams in STREAMS:
            X_t = rng.normal(size=(n_streams, D)).astype(np.float32)
            for threads in ("all", 1):
                _check_streaming(model, stateful[threads], X_t)
                pair = (sessions[threads], stateful[threads])
                row = _time_streaming(model, pair, X_t, threads, seconds, min_calls)
                rows.append({"config": config, "T": T, "D": D, "H": H, **row})
                _print_streaming(rows[-1])
    return rows


def _time_streaming(model, sessions, X_t, threads, seconds, min_calls):
    """One row of the streaming table: medians of the three calls of
    ``_stream_calls`` alternating; ``sessions`` the plain and the stateful
    ONNX Runtime sessions."""
    from threadpoolctl import threadpool_limits

    limit = threadpool_limits(limits=1) if threads == 1 else None
    try:
        load = OtherLoad()
        times = _time_alternating(
            _stream_calls(model, *sessions, X_t), seconds, min_calls
        )
        other = load.share()
    finally:
        if limit is not None:
            limit.unregister()
    skseq_ms, ort_ms, ort_state_ms = (statistics.median(t) * 1e3 for t in times)
    return {
        "case": f"predict_step x{len(X_t)}",
        "shape": list(X_t.shape),
        "threads": threads,
        "skseq_ms": skseq_ms,
        "onnxruntime_ms": ort_ms,
        "ratio": skseq_ms / ort_ms,
        "onnxruntime_stateful_ms": ort_state_ms,
        "ratio_stateful": skseq_ms / ort_state_ms,
        "skseq_calls": len(times[0]),
        "onnxruntime_calls": len(times[1]),
        "other_load": other,
    }


def _print_streaming(row):
    print(
        f"{row['config']:6s} {row['case']:17s} threads={row['threads']!s:3s} "
        f"skseq {row['skseq_ms']:8.4f} ms  onnxruntime 1 step, no state "
        f"{row['onnxruntime_ms']:8.4f} ms (ratio {row['ratio']:5.2f}), with state "
        f"{row['onnxruntime_stateful_ms']:8.4f} ms (ratio "
        f"{row['ratio_stateful']:5.2f})  (other load {row['other_load']:.0%})",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings")
    parser.add_argument("--configs", default="small,mid")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument(
        "--cells", default="lstm,gru,rnn", help="cells of the agreement part"
    )
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import skl2onnx

    import skseq
    import skseq.onnx

    skseq.onnx.register()
    started = time.perf_counter()
    info = {
        "skseq": skseq.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "usable_cores": n_cpus(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
    }
    print(" ".join(f"{k}={v}" for k, v in info.items() if k != "command"))
    result = {"info": info}
    if not args.skip_agreement:
        print("\nagreement (max |estimator - onnxruntime|, held-out sequences)")
        result["agreement"] = agreement(args.quick, args.cells.split(","))
        for row in result["agreement"]:
            labels = {True: "labels identical", False: "LABELS DIFFER", None: ""}[
                row["labels_identical"]
            ]
            print(
                f"  {row['cell']:4s} {row['model']:52s} {row['dtype']:8s} "
                f"{row['max_abs_diff']:.2e}  {labels}"
            )
    print("\nlatency (medians; ratio = skseq / onnxruntime, below 1: skseq faster)")
    result["latency"] = latency(args.quick, args.configs.split(","))
    result["seconds"] = time.perf_counter() - started
    print(f"\ntotal {result['seconds']:.0f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
