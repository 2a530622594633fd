"""
==================================================
Model selection and persistence with scikit-learn
==================================================

The skseq estimators are ordinary scikit-learn estimators, so the usual
model-selection tools work on them unchanged, including on 3-D input
``(n_samples, n_timesteps, n_features)``:

* :func:`~sklearn.model_selection.cross_val_score` to estimate how well a
  configuration generalizes;
* :class:`~sklearn.model_selection.GridSearchCV` to choose the number of
  hidden units and the learning rate, with fits running in parallel
  (``n_jobs=2``);
* :mod:`joblib` to save the chosen model and load it back.

The data is the adding problem
(:func:`skseq.datasets.make_adding_problem`) with short sequences of 20
steps, so that the whole example runs in seconds.
"""

# %%
# Data, and a test set kept aside
# -------------------------------
#
# scikit-learn's splitters and cross-validation index the first axis, so a
# 3-D array is split into sequences just as a 2-D one is split into rows.
# The test set plays no part in model selection.
import tempfile
import time
import warnings
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_val_score,
    train_test_split,
)

from skseq import LSTMRegressor
from skseq.datasets import make_adding_problem

X, y = make_adding_problem(n_samples=800, n_timesteps=20, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, random_state=0
)
print(f"train: {X_train.shape}, test: {X_test.shape}")

# %%
# The fits below use up their 25 epochs before the loss settles and raise a
# :class:`~sklearn.exceptions.ConvergenceWarning`. That is expected here,
# since comparing such budgets is the point of the search. The warnings are
# silenced to keep the output short. scikit-learn passes the filter on to
# its parallel workers.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Cross-validation of one configuration
# -------------------------------------
#
# The score of a regressor is :math:`R^2`: 1 is perfect, 0 is no better
# than predicting the mean. With ``n_jobs=2`` two folds are fitted at a
# time, in separate worker processes. joblib limits each worker to its share
# of the cores, and skseq's threads follow that limit, so the workers do not
# compete for the same cores.
base = LSTMRegressor(
    hidden_layer_sizes=(16,), batch_size=32, max_iter=25, random_state=0
)
cv = KFold(n_splits=3, shuffle=True, random_state=0)
start = time.perf_counter()
scores = cross_val_score(base, X_train, y_train, cv=cv, n_jobs=2)
print(
    f"R^2 per fold: {np.round(scores, 3)}, mean {scores.mean():.3f} "
    f"({time.perf_counter() - start:.1f} s)"
)

# %%
# Grid search
# -----------
#
# Two sizes of the hidden layer and three initial learning rates, each
# scored by the same 3-fold cross-validation: 18 fits, then one refit of the
# best candidate on the whole training set.
param_grid = {
    "hidden_layer_sizes": [(8,), (32,)],
    "learning_rate_init": [1e-3, 3e-3, 1e-2],
}
search = GridSearchCV(base, param_grid, cv=cv, n_jobs=2)
start = time.perf_counter()
search.fit(X_train, y_train)
print(f"grid search: {time.perf_counter() - start:.1f} s")
print("best parameters:", search.best_params_)
print(f"best cross-validated R^2: {search.best_score_:.3f}")
print(
    f"R^2 of the refitted best model on the test set: "
    f"{search.score(X_test, y_test):.3f}"
)

results = pd.DataFrame(search.cv_results_)
columns = [
    "param_hidden_layer_sizes",
    "param_learning_rate_init",
    "mean_test_score",
    "std_test_score",
    "mean_fit_time",
    "rank_test_score",
]
print(results[columns].round(3).to_string(index=False))

# %%
# Mean cross-validated :math:`R^2` over the grid. With the same number of
# epochs, the small learning rates have not gone far yet. On this task the
# learning rate matters more than the width of the layer.
sizes = [str(size) for size in param_grid["hidden_layer_sizes"]]
rates = param_grid["learning_rate_init"]
grid_scores = results["mean_test_score"].to_numpy().reshape(len(sizes), len(rates))

fig, ax = plt.subplots(figsize=(5.5, 3.5))
image = ax.imshow(grid_scores, cmap="viridis", vmin=0, vmax=1)
for row in range(len(sizes)):
    for col in range(len(rates)):
        value = grid_scores[row, col]
        ax.text(
            col,
            row,
            f"{value:.2f}",
            ha="center",
            va="center",
            color="white" if value < 0.6 else "black",
        )
ax.set_xticks(range(len(rates)), [f"{rate:g}" for rate in rates])
ax.set_yticks(range(len(sizes)), sizes)
ax.set_xlabel("learning_rate_init")
ax.set_ylabel("hidden_layer_sizes")
ax.set_title("Mean cross-validated $R^2$")
fig.colorbar(image, ax=ax)
fig.tight_layout()
plt.show()

# %%
# Saving and loading
# ------------------
#
# :func:`joblib.dump` and :func:`joblib.load` (or :mod:`pickle`) store and
# restore a fitted estimator completely. The loaded copy predicts exactly what
# the original does. Loading a pickle can run any code the file names, so load
# only files you trust; ``skops.io`` is the safe format (see "Saving models" in
# the user guide). Loading a model saved by a different version of skseq emits an
# :class:`~skseq.exceptions.InconsistentVersionWarning`.
best = search.best_estimator_
with tempfile.TemporaryDirectory() as directory:
    path = Path(directory) / "lstm_adding.joblib"
    joblib.dump(best, path)
    size_kb = path.stat().st_size / 1024
    loaded = joblib.load(path)

same = np.array_equal(loaded.predict(X_test), best.predict(X_test))
print(f"saved {size_kb:.0f} kB; loaded model gives identical predictions: {same}")
