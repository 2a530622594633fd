#!/usr/bin/env python
"""Streaming inference: one ``predict_step`` of one stream, side by side with
a one-step call of PyTorch's recurrent layers on the CPU.

Run from the repository root::

    python benchmarks/bench_streaming.py            # full run
    python benchmarks/bench_streaming.py --quick    # fewer repeats

Float32, one stream, one layer of H units on D features. skseq's step is the
estimator's public ``predict_step(x_t, state)`` (input and state checks, the
layer's compiled step, the head and the output activation); PyTorch's is
``layer(x_t, state)`` under ``torch.inference_mode()`` followed by the linear
head, the state carried from call to call as a stream would, on one thread
as skseq's step. The timed calls
alternate (a block of skseq calls, a block of PyTorch calls, ...), and each
figure is the median over blocks of the time per call. The issue's target:
one ``predict_step`` of one stream <= 0.2x a one-step ``torch.nn.LSTM`` call.
"""

import argparse
import statistics
import time
import warnings

import numpy as np

from skseq import GRURegressor, LSTMRegressor
from skseq._rnn import RNNRegressor

D, H, T_FIT = 8, 32, 20
TARGET_VS_TORCH_LSTM = 0.2


def _fitted(Regressor):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, T_FIT, D)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Regressor(hidden_layer_sizes=(H,), max_iter=2, random_state=0).fit(
            X, X[:, :, 0].sum(axis=1)
        )


def _skseq_block(model, xs):
    state = model.initial_state(1)
    start = time.perf_counter()
    for x in xs:
        _, state = model.predict_step(x, state)
    return (time.perf_counter() - start) / len(xs)


def _torch_block(torch, layer, head, xs, with_cell):
    h = torch.zeros(1, 1, H)
    state = (h, torch.zeros(1, 1, H)) if with_cell else h
    start = time.perf_counter()
    with torch.inference_mode():
        for x in xs:
            out, state = layer(x, state)
            head(out[:, -1])
    return (time.perf_counter() - start) / len(xs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats, calls = (7, 200) if args.quick else (21, 1000)
    rng = np.random.default_rng(1)
    xs = [x[None] for x in rng.normal(size=(calls, D)).astype(np.float32)]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        # One stream's step is far too small to share between threads, and
        # skseq's runs on the calling thread: PyTorch's too, so that its
        # figure is not its threads' wake-ups on a busy machine.
        torch.set_num_threads(1)
        torch.manual_seed(0)
        txs = [torch.from_numpy(x[None]) for x in xs]  # (1, 1, D)
        head = torch.nn.Linear(H, 1)
        layers = {
            "lstm": torch.nn.LSTM(D, H, batch_first=True),
            "gru": torch.nn.GRU(D, H, batch_first=True),
            "rnn": torch.nn.RNN(D, H, batch_first=True),
        }
    cells = {"lstm": LSTMRegressor, "gru": GRURegressor, "rnn": RNNRegressor}
    skseq_times, torch_times = {}, {}
    for name, Regressor in cells.items():
        model = _fitted(Regressor)
        _skseq_block(model, xs)  # warm-up
        if torch is not None:
            _torch_block(torch, layers[name], head, txs, name == "lstm")
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(_skseq_block(model, xs))
            if torch is not None:
                theirs.append(
                    _torch_block(torch, layers[name], head, txs, name == "lstm")
                )
        skseq_times[name] = statistics.median(ours)
        if torch is not None:
            torch_times[name] = statistics.median(theirs)
    _print_table(list(cells), skseq_times, torch_times)


def _print_table(cells, skseq_times, torch_times):
    """The medians per call, the ratios and the issue's target."""
    print(f"one stream, one step, float32, D={D}, H={H}; median us per call")
    print(f"{'cell':6}{'skseq':>10}{'torch':>10}{'ratio':>8}{'vs torch LSTM':>15}")
    for name in cells:
        ours = skseq_times[name] * 1e6
        if not torch_times:
            print(f"{name:6}{ours:10.2f}")
            continue
        theirs = torch_times[name] * 1e6
        vs_lstm = skseq_times[name] / torch_times["lstm"]
        print(f"{name:6}{ours:10.2f}{theirs:10.2f}{ours / theirs:8.2f}{vs_lstm:15.2f}")
    if torch_times:
        ratio = skseq_times["lstm"] / torch_times["lstm"]
        verdict = "met" if ratio <= TARGET_VS_TORCH_LSTM else "NOT met"
        print(
            f"target: skseq LSTM step <= {TARGET_VS_TORCH_LSTM}x torch.nn.LSTM "
            f"step: {ratio:.2f} ({verdict})"
        )


if __name__ == "__main__":
    main()
