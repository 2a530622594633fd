"""
=====================================================
Anomaly detection with a one-step-ahead forecaster
=====================================================

A forecaster that has learnt how a series normally moves is also an anomaly
detector: where the next value lands far from what the model expected,
something unusual happened. This example builds such a detector from a
:class:`~skseq.LSTMRegressor` with ``return_sequences=True``, which predicts
at every time step of a sequence, so one pass over a series gives a
one-step-ahead forecast for each of its values.

The series is synthetic, so that the anomalies and their positions are known:
hourly readings with a daily cycle and noise, into which a spike, a dip, a
level shift and a stretch of changed seasonality are injected. The model is
trained on a clean first part only, the threshold is set on its errors there,
and the flagged steps of the second part are scored against the injected
anomalies. The last section runs the same fitted model on a live feed, one
value at a time, with :meth:`~skseq.LSTMRegressor.predict_step`.
"""

# %%
# A seasonal series with known anomalies
# --------------------------------------
#
# Seventy days of hourly values: a daily cycle with a second harmonic, which
# gives it a skewed shape, plus Gaussian noise of standard deviation 0.1. The
# first 35 days are left untouched and used for training. Four anomalies go
# into the last 35 days:
#
# * a spike, one hour 1.2 above the normal value;
# * a dip, one hour 0.9 below it;
# * a level shift: 36 hours (a day and a half) raised by 0.8;
# * changed seasonality: for two days the cycle runs twice as fast.
#
# Every hour inside these anomalies is labelled anomalous; all others are
# normal.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_score, recall_score

from skseq import LSTMRegressor
from skseq.timeseries import make_windows

rng = np.random.default_rng(0)
period, n_days, n_train_days = 24, 70, 35
n_steps, n_train = n_days * period, n_train_days * period
hours = np.arange(n_steps)


def daily_cycle(phase):
    return np.sin(phase) + 0.4 * np.sin(2 * phase + 1.0)


noise = 0.1 * rng.standard_normal(n_steps)
series = daily_cycle(2 * np.pi * hours / period) + noise

anomalies = {
    "spike": slice(n_train + 5 * period + 7, n_train + 5 * period + 8),
    "dip": slice(n_train + 9 * period + 15, n_train + 9 * period + 16),
    "level shift": slice(n_train + 14 * period + 3, n_train + 15 * period + 15),
    "fast cycle": slice(n_train + 24 * period, n_train + 26 * period),
}
series[anomalies["spike"]] += 1.2
series[anomalies["dip"]] -= 0.9
series[anomalies["level shift"]] += 0.8
fast = anomalies["fast cycle"]
series[fast] = daily_cycle(4 * np.pi * hours[fast] / period) + noise[fast]

is_anomaly = np.zeros(n_steps, dtype=bool)
for where in anomalies.values():
    is_anomaly[where] = True
print(f"{n_steps} hours; training: the first {n_train}, all normal")
print(f"test: {n_steps - n_train} hours, {is_anomaly.sum()} of them anomalous")

# %%
# Training windows: the input, and the same window one step later
# ----------------------------------------------------------------
#
# With ``return_sequences=True`` the target has one value per step. For a
# one-step-ahead forecaster, the target at every step is the next value of
# the series, so the targets are the input windows shifted by one hour.
# :func:`~skseq.timeseries.make_windows` cuts both: windows of 48 hours,
# starting every 2 hours, from the series (``X``, 3-D with one feature) and
# from the series one hour later (``y``, one column per step). Only the
# training part is cut.
window = 48
train = series[:n_train]
X_train, _ = make_windows(train[:-1, np.newaxis], window, step=2)
y_train, _ = make_windows(train[1:], window, step=2)
print(f"X_train: {X_train.shape}, y_train: {y_train.shape}")
print("window 0, last input steps: ", np.round(X_train[0, -3:, 0], 3))
print("window 0, last target steps:", np.round(y_train[0, -3:], 3))

# %%
# The forecaster
# --------------
#
# One layer of 16 units. The series is already close to unit scale, so it
# needs no standardization. Training stops on its own when the loss no
# longer improves.
#
# A model fitted on 3-D windows accepts sequences of any length, so it can
# forecast the whole series, 1680 hours, in one call to ``predict``. The
# prediction at step ``t`` reads the series up to ``t`` only (the model runs
# in one direction) and forecasts step ``t + 1``.
model = LSTMRegressor(
    hidden_layer_sizes=(16,), return_sequences=True, max_iter=400, random_state=0
)
start = time.perf_counter()
model.fit(X_train, y_train)
print(f"fit: {model.n_iter_} epochs in {time.perf_counter() - start:.1f} s")

predicted = model.predict(series[np.newaxis, :-1, np.newaxis])
print(f"predict on the whole series: input (1, {n_steps - 1}, 1), output", end=" ")
print(predicted.shape)
forecast = np.full(n_steps, np.nan)
forecast[1:] = predicted[0]
residual = series - forecast

# %%
# A threshold from the training residuals
# ---------------------------------------
#
# The first day of the series is skipped: the model starts from an empty
# state and needs some context before its forecasts settle. On the rest of
# the training part, the residuals show what normal forecast errors look
# like. Their centre and spread are measured robustly (median, and the
# median absolute deviation scaled to match a standard deviation for
# Gaussian errors), and a step is flagged when its residual lies more than
# ``k = 5`` such standard deviations from the centre. Nothing in the test
# part is used to set the threshold.
normal = residual[period:n_train]
centre = np.median(normal)
spread = 1.4826 * np.median(np.abs(normal - centre))
k = 5.0
threshold = k * spread
score = np.abs(residual - centre)
flagged = score > threshold
print(f"training residuals: centre {centre:+.3f}, robust std {spread:.3f}")
print(f"noise standard deviation in the data: {noise.std():.3f}")
print(f"threshold: |residual - centre| > {threshold:.3f}")
print(f"training steps flagged: {flagged[period:n_train].sum()} of {normal.size}")

# %%
# How well the flags match the injected anomalies
# -----------------------------------------------
#
# Precision is the share of flagged test hours that are anomalous, recall the
# share of anomalous test hours that are flagged. Per anomaly, the table
# shows how many of its hours were flagged and which of them was flagged
# first (1 for the anomaly's first hour).
test = slice(n_train, n_steps)
precision = precision_score(is_anomaly[test], flagged[test])
recall = recall_score(is_anomaly[test], flagged[test])
print(f"test hours flagged: {flagged[test].sum()}")
print(f"precision {precision:.2f}, recall {recall:.2f}")
print()
print("anomaly        hours  flagged  first flagged hour")
for name, where in anomalies.items():
    hits = flagged[where]
    first = f"{np.argmax(hits) + 1}" if hits.any() else "never"
    print(f"{name:<13} {hits.size:6d} {hits.sum():8d}  {first:>18}")
false_alarms = np.flatnonzero(flagged[test] & ~is_anomaly[test]) + n_train
print()
print("false alarms, and the anomaly that ended last before each:")
for hour in false_alarms:
    before = [(where.stop, name) for name, where in anomalies.items()]
    before = [(stop, name) for stop, name in before if stop <= hour]
    if before:
        stop, name = max(before)
        print(f"  hour {hour}: hour {hour - stop + 1} after the {name}")
    else:
        print(f"  hour {hour}: before any anomaly")

# %%
# The choice of ``k`` trades missed anomalies for false alarms. For a few
# other values, the number of training hours each would flag, and the test
# scores:
print("   k  training flags  precision  recall")
for other_k in (3, 4, 5, 6):
    other = score > other_k * spread
    prec = precision_score(is_anomaly[test], other[test])
    rec = recall_score(is_anomaly[test], other[test])
    print(f"{other_k:4d}  {other[period:n_train].sum():14d}  {prec:9.2f}  {rec:6.2f}")

# %%
# The figure
# ----------
#
# Top, the test part of the series and the model's one-step forecasts, the
# injected anomalies shaded and the flagged hours marked. Bottom, the
# residuals' distance from the training centre, and the threshold.
test_hours = hours[test]
fig, (ax_series, ax_score) = plt.subplots(
    2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 2]
)
for ax in (ax_series, ax_score):
    for i, where in enumerate(anomalies.values()):
        ax.axvspan(
            where.start - 0.5,
            where.stop - 0.5,
            color="tab:orange",
            alpha=0.25,
            linewidth=0,
            label="injected anomaly" if i == 0 else None,
        )
ax_series.plot(test_hours, series[test], color="black", linewidth=0.8, label="series")
ax_series.plot(
    test_hours, forecast[test], color="tab:blue", linewidth=0.8, label="forecast"
)
marks = test_hours[flagged[test]]
ax_series.plot(marks, series[marks], "o", color="tab:red", ms=4, label="flagged")
ax_series.set_ylabel("value")
ax_series.set_ylim(top=2.8)  # room for the legend
ax_series.set_title(
    f"One-step-ahead LSTM forecaster: precision {precision:.2f}, recall {recall:.2f}"
)
ax_series.legend(loc="upper left", ncol=4, fontsize="small")
ax_score.plot(test_hours, score[test], color="black", linewidth=0.8)
ax_score.axhline(
    threshold, color="tab:red", linestyle="--", label=f"threshold (k={k:g})"
)
ax_score.set_xlabel("hour")
ax_score.set_ylabel("|residual - centre|")
ax_score.legend(loc="upper left", fontsize="small")
fig.tight_layout()
plt.show()

# %%
# A closer look at each anomaly
# -----------------------------
#
# Each anomaly with a day on either side: the series in black, the forecast
# in blue, flagged hours in red.
fig, axes = plt.subplots(1, len(anomalies), figsize=(12, 3), sharey=True)
for ax, (name, where) in zip(axes, anomalies.items(), strict=True):
    around = slice(where.start - period, where.stop + period)
    shown = hours[around]
    ax.axvspan(where.start - 0.5, where.stop - 0.5, color="tab:orange", alpha=0.25)
    ax.plot(shown, series[around], color="black", linewidth=0.8)
    ax.plot(shown, forecast[around], color="tab:blue", linewidth=0.8)
    marks = shown[flagged[around]]
    ax.plot(marks, series[marks], "o", color="tab:red", ms=4)
    ax.set_title(name)
    ax.set_xlabel("hour")
axes[0].set_ylabel("value")
fig.tight_layout()
plt.show()

# %%
# The same detector on a live feed
# --------------------------------
#
# In production the values arrive one at a time.
# :meth:`~skseq.LSTMRegressor.initial_state` gives the state of a stream
# before its first value (zeros), and
# :meth:`~skseq.LSTMRegressor.predict_step` takes the next value and the
# current state and returns the forecast for the following hour together
# with a new state. The state is plain NumPy held by the caller; the fitted
# model is not changed. Streaming needs a one-direction model: a
# bidirectional one reads each sequence from its end as well.
#
# The stream starts at hour 0, so the training part warms the state up and
# the test part is monitored: each arriving value is compared with the
# forecast made one hour earlier, and flagged at once if it is too far off.
state = model.initial_state(1)
streamed = np.full(n_steps, np.nan)
live_flags = np.zeros(n_steps, dtype=bool)
seconds = []
for hour in range(n_steps - 1):
    value = series[hour : hour + 1]  # the value that just arrived, shape (1,)
    if hour >= n_train:
        live_flags[hour] = abs(value[0] - streamed[hour] - centre) > threshold
    start = time.perf_counter()
    next_value, state = model.predict_step(value[np.newaxis, :], state)
    seconds.append(time.perf_counter() - start)
    streamed[hour + 1] = next_value[0]
live_flags[-1] = abs(series[-1] - streamed[-1] - centre) > threshold

# %%
# Fed one value at a time from the same empty state, the model gives the
# forecasts that ``predict`` gave for the whole series, and so the same
# flags. The latency printed is the median time of one ``predict_step`` call
# for one stream, Python overhead included, on the machine that ran this
# example.
same = np.allclose(streamed[1:], forecast[1:], rtol=0, atol=1e-12)
print(f"streamed forecasts equal predict's per-step outputs: {same}")
print(f"largest difference: {np.max(np.abs(streamed[1:] - forecast[1:])):.1e}")
same_flags = np.array_equal(live_flags[test], flagged[test])
print(f"same flags on the test part: {same_flags}")
assert same and same_flags
print(f"predict_step, median latency: {np.median(seconds) * 1e6:.1f} microseconds")

# %%
# What this shows, and what it does not
# -------------------------------------
#
# The detector needs no labelled anomalies: it learns what normal looks like
# from a clean stretch of the series, and its threshold is a statement about
# normal forecast errors only. The printed table shows how each kind of
# anomaly looks to it. An isolated spike or dip is caught at once, because
# the value lands far from its forecast. A level shift is caught from its
# first hour, and for most of its length, since the model has never seen the
# series at that level. Changed seasonality is the hardest: where the fast
# cycle happens to cross the normal one, the values look ordinary, and only
# part of the stretch is flagged.
#
# The false alarms printed above come right after anomalies. Once the model
# has read an abnormal value, its next forecasts are off until its state has
# recovered, and the return to normal surprises it as well. Labelling only
# the anomalies themselves, as here, counts these echoes against precision.
#
# The sweep over ``k`` shows the usual trade: a lower threshold catches more
# of the anomalous hours and raises more false alarms, among the echoes and
# in ordinary noise. Here the training part is clean by construction. With
# real data it has to be chosen with care: the robust spread tolerates a
# few odd values in it, but the model also learns from what it is trained
# on, and an anomaly it has learnt to forecast is one it will not flag.
