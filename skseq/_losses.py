"""Output activations and the losses paired with them.

Each output activation is paired with its canonical loss, for which the
gradient with respect to the raw output is (prediction - target) per sample.
The identity's, the squared error, is computed with its gradient by
``_numerics.squared_error``.
"""

import numpy as np
from scipy.special import expit, log_expit, log_softmax, xlogy


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


OUTPUT_ACTIVATIONS = {"identity": lambda z: z, "logistic": expit, "softmax": _softmax}

# The log of the classifiers' output activations, computed from the raw
# outputs: finite and accurate where the activation rounds to 0 or 1.
LOG_OUTPUT_ACTIVATIONS = {
    "logistic": log_expit,
    "softmax": lambda z: log_softmax(z, axis=1),
}


def _log_loss(y_true, y_prob, sample_weight):
    """Categorical cross-entropy of a softmax output."""
    eps = np.finfo(y_prob.dtype).eps
    per_sample = -xlogy(y_true, np.clip(y_prob, eps, 1)).sum(axis=1)
    return np.average(per_sample, weights=sample_weight)


def _binary_log_loss(y_true, y_prob, sample_weight):
    """Logistic loss summed over independent outputs (binary, multilabel)."""
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    per_sample = -(xlogy(y_true, y_prob) + xlogy(1 - y_true, 1 - y_prob)).sum(axis=1)
    return np.average(per_sample, weights=sample_weight)


LOSSES = {"softmax": _log_loss, "logistic": _binary_log_loss}
