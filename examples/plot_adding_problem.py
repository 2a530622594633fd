"""
=====================================
The adding problem: a long time lag
=====================================

The adding problem tests whether a network can hold on to information for
many steps. Each sequence has two channels: a value drawn uniformly from
[0, 1], and a marker that is 1 at exactly two steps (one in each half of the
sequence) and 0 elsewhere. The target is the sum of the two marked values.
It is known only once the whole sequence has been read, and it depends on
two inputs that may lie dozens of steps before the end, with noise
everywhere in between.

Always predicting the mean, 1, gives a mean squared error of
Var(U1 + U2) = 1/6, about 0.167. The task counts as solved when the error is
well below 0.01. This example generates sequences of 50 steps with
:func:`skseq.datasets.make_adding_problem`, fits an
:class:`~skseq.LSTMRegressor`, and looks at its training loss curve.
"""

# %%
# Data
# ----
#
# ``X`` is a 3-D array ``(n_samples, n_timesteps, n_features)``: time steps
# before features, as in Keras and PyTorch with ``batch_first=True``.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import mean_squared_error

from skseq import LSTMRegressor
from skseq.datasets import make_adding_problem

n_train, n_test, n_timesteps = 2000, 1000, 50
X, y = make_adding_problem(
    n_samples=n_train + n_test, n_timesteps=n_timesteps, random_state=0
)
X_train, y_train, X_test, y_test = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
print(f"X: {X.shape}, y: {y.shape}")
print(
    "first sequence, marked steps:", np.flatnonzero(X[0, :, 1]), f" target: {y[0]:.3f}"
)

# %%
# Fit
# ---
#
# One layer of 32 units and batches of 64 sequences. Training stops by
# itself once the loss no longer improves by ``tol`` for
# ``n_iter_no_change`` epochs; ``max_iter=60`` is only a safety cap.
model = LSTMRegressor(
    hidden_layer_sizes=(32,), batch_size=64, max_iter=60, random_state=0
)
start = time.perf_counter()
model.fit(X_train, y_train)
print(f"fit: {model.n_iter_} epochs in {time.perf_counter() - start:.2f} s")

# %%
# Test error
# ----------
#
# Besides the mean squared error, the share of sequences predicted within
# 0.04 of the target: the criterion Hochreiter & Schmidhuber (1997) used
# for their own version of the task.
predicted = model.predict(X_test)
mse = mean_squared_error(y_test, predicted)
mean_mse = mean_squared_error(y_test, np.full_like(y_test, y_train.mean()))
within = np.mean(np.abs(predicted - y_test) < 0.04)
print(f"test MSE: LSTM {mse:.4f}, predicting the mean {mean_mse:.3f}")
print(f"test sequences within 0.04 of the target: {within:.1%}")

# %%
# The loss curve
# --------------
#
# ``loss_curve_`` holds the training loss of every epoch. Like
# :class:`~sklearn.neural_network.MLPRegressor`, the estimator minimizes half
# the squared error (plus a small L2 penalty), so the dashed line, the loss
# of always predicting the mean, sits at half of 1/6. The curve shows the
# typical shape of this task. For several epochs the network does little
# better than the mean: it has not yet found which inputs matter. Then it
# learns to store the marked values, and within a few epochs the loss falls
# more than twentyfold.
fig, ax = plt.subplots(figsize=(7, 4))
epochs = np.arange(1, model.n_iter_ + 1)
ax.semilogy(epochs, model.loss_curve_, "o-", markersize=3, label="LSTM training loss")
ax.axhline(
    0.5 * np.var(y_train), color="gray", linestyle="--", label="predicting the mean"
)
ax.set_xlabel("epoch")
ax.set_ylabel("loss (half mean squared error)")
ax.set_title(f"Adding problem, T = {n_timesteps}")
ax.legend()
fig.tight_layout()
plt.show()
