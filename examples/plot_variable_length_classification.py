"""
=============================================
Classifying sequences of different lengths
=============================================

Real sequences rarely have one length: sentences, user sessions, sensor
recordings between two events. :class:`~skseq.LSTMClassifier` accepts them as
they are, as a plain Python list of 2-D arrays ``(length_i, n_features)``.
It pads and masks internally, and reads each sequence's output at that
sequence's own last step. You do not pad, truncate or bucket anything.

This example trains on strings of the embedded Reber grammar
(:func:`skseq.datasets.make_embedded_reber`), the first experiment of
Hochreiter & Schmidhuber (1997). Each string starts with ``B`` and then ``T``
or ``P``, followed by an inner Reber string of 5 to 30 symbols. The class is
that second symbol, which the grammar repeats just before the end. A network
that reads the string from left to right must therefore keep one bit in
memory across the whole inner string, whatever its length.
"""

# %%
# The data: a list of one-hot encoded strings
# -------------------------------------------
#
# ``X`` is a list, not an array. Each element has 7 columns, one per symbol
# ``B, T, P, S, X, V, E``, and as many rows as the string has symbols.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skseq import LSTMClassifier
from skseq.datasets import make_embedded_reber

X, y = make_embedded_reber(n_samples=1500, random_state=0)
lengths = np.array([len(sequence) for sequence in X])
print(f"{type(X).__name__} of {len(X)} sequences, {X[0].shape[1]} features each")
print(f"lengths from {lengths.min()} to {lengths.max()}, median {np.median(lengths):g}")
print("first sequence:", X[0].shape, " label:", y[0])

# %%
# scikit-learn's :func:`~sklearn.model_selection.train_test_split` indexes
# lists as well as arrays, so the split needs no special handling. The two
# classes are balanced; stratifying keeps them balanced in both parts.
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)
lengths_test = np.array([len(sequence) for sequence in X_test])
print(f"train: {len(X_train)} sequences, test: {len(X_test)} sequences")

# %%
# Fit and score
# -------------
#
# A single layer of 32 units is plenty. Small batches give many optimizer
# steps per epoch; training stops on its own once the loss no longer
# improves.
classifier = LSTMClassifier(
    hidden_layer_sizes=(32,), batch_size=32, max_iter=30, random_state=0
)
start = time.perf_counter()
classifier.fit(X_train, y_train)
fit_seconds = time.perf_counter() - start

accuracy = classifier.score(X_test, y_test)
labels, counts = np.unique(y_train, return_counts=True)
majority_label = labels[np.argmax(counts)]
majority_accuracy = np.mean(y_test == majority_label)
print(f"fit: {classifier.n_iter_} epochs in {fit_seconds:.2f} s")
print(f"test accuracy: LSTM {accuracy:.3f}, majority class {majority_accuracy:.3f}")

# %%
# One sequence alone, or inside a ragged batch
# --------------------------------------------
#
# Padding is an internal detail: the steps added to a short sequence are
# masked, so they change neither its hidden state nor its prediction. A
# sequence predicted on its own therefore gets the same probabilities as
# inside a batch of sequences longer than itself.
proba_batch = classifier.predict_proba(X_test)
shortest, longest = np.argmin(lengths_test), np.argmax(lengths_test)
for name, index in [("shortest", shortest), ("longest", longest)]:
    alone = classifier.predict_proba([X_test[index]])[0]
    print(
        f"{name} test sequence ({lengths_test[index]} steps), "
        f"P({classifier.classes_[1]}): alone {alone[1]:.8f}, "
        f"in the batch {proba_batch[index, 1]:.8f}"
    )

largest_difference = max(
    np.abs(classifier.predict_proba([sequence])[0] - proba_batch[i]).max()
    for i, sequence in enumerate(X_test)
)
print(
    f"largest difference over all {len(X_test)} test sequences: "
    f"{largest_difference:.1e}"
)

# %%
# Longer test sequences than any seen in training
# -----------------------------------------------
#
# The network applies the same cell at every step, so nothing ties it to
# the lengths seen during training. Here it is trained only on strings of
# at most 10 symbols and tested on all of them.
short = np.array([len(sequence) <= 10 for sequence in X_train])
X_short = [sequence for sequence, keep in zip(X_train, short, strict=True) if keep]
short_classifier = LSTMClassifier(
    hidden_layer_sizes=(32,), batch_size=32, max_iter=30, random_state=0
).fit(X_short, y_train[short])

longer = lengths_test > 10
X_longer = [X_test[i] for i in np.flatnonzero(longer)]
longer_accuracy = short_classifier.score(X_longer, y_test[longer])
print(
    f"trained on {len(X_short)} strings of length <= 10; accuracy on the "
    f"{len(X_longer)} test strings longer than 10: {longer_accuracy:.3f}"
)


# %%
# A fixed-width model for comparison
# ----------------------------------
#
# The usual way to give sequences of different lengths to a tabular model
# is to keep a fixed number of steps (here the last 8), pad shorter
# sequences with zeros and flatten. Whenever a string is longer than the
# window, the symbol that decides the class falls out of it, and the model
# can only guess.
#
# (This many-to-one version of the task has a shortcut: a tabular model
# given the *first* two symbols would solve it at once. It is a test of
# memory only for a model that reads from left to right, like an LSTM or a
# streaming system that must decide at the end of the string.)
def last_steps(sequences, width):
    """Last ``width`` steps of every sequence, zero-padded on the left, flat."""
    n_features = sequences[0].shape[1]
    windows = np.zeros((len(sequences), width, n_features))
    for row, sequence in enumerate(sequences):
        tail = sequence[-width:]
        windows[row, width - len(tail) :] = tail
    return windows.reshape(len(sequences), -1)


width = 8
window_model = LogisticRegression(max_iter=1000)
window_model.fit(last_steps(X_train, width), y_train)
window_accuracy = window_model.score(last_steps(X_test, width), y_test)
print(
    f"test accuracy of logistic regression on the last {width} steps: "
    f"{window_accuracy:.3f}"
)

# %%
# Accuracy against sequence length
# --------------------------------
#
# Test accuracy per group of lengths. The lengths have a long tail, so the
# longer strings are pooled into a few groups with enough sequences each.
edges = [7, 8, 9, 10, 11, 12, 13, 15, 18, lengths.max() + 1]
group_names = [
    str(low) if high - low == 1 else f"{low}-{high - 1}"
    for low, high in zip(edges[:-1], edges[1:], strict=True)
]
group_names[-1] = f"{edges[-2]}+"
groups = np.digitize(lengths_test, edges[1:-1])

predictions = {
    "LSTM": classifier.predict(X_test),
    "LSTM trained on lengths <= 10": short_classifier.predict(X_test),
    f"logistic regression, last {width} steps": window_model.predict(
        last_steps(X_test, width)
    ),
}
group_sizes = np.bincount(groups, minlength=len(group_names))

fig, (ax_accuracy, ax_count) = plt.subplots(
    2, 1, figsize=(7, 5.5), sharex=True, height_ratios=(3, 1)
)
positions = np.arange(len(group_names))
styles = ["o-", "s--", "^-"]
for (name, predicted), style in zip(predictions.items(), styles, strict=True):
    per_group = [
        np.mean(predicted[groups == g] == y_test[groups == g])
        for g in range(len(group_names))
    ]
    ax_accuracy.plot(positions, per_group, style, label=name)
ax_accuracy.axhline(
    majority_accuracy, color="gray", linestyle=":", label="majority class"
)
ax_accuracy.set_ylabel("test accuracy")
ax_accuracy.set_ylim(0.3, 1.05)
ax_accuracy.legend(loc="upper right", bbox_to_anchor=(1.0, 0.88))
ax_accuracy.set_title("Embedded Reber grammar: accuracy by string length")

ax_count.bar(positions, group_sizes, color="tab:gray")
ax_count.set_ylabel("test strings")
ax_count.set_xlabel("string length (symbols)")
ax_count.set_xticks(positions, group_names)
fig.tight_layout()
plt.show()

# %%
# The LSTM is right at every length, including lengths it never saw during
# training, while the fixed window falls to chance as soon as the string no
# longer fits in it.
print(f"LSTM test accuracy: {accuracy:.3f}")
