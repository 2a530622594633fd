"""Sequences in, padded array and lengths out.

Accepted forms of ``X`` (DESIGN §3):

* a 3-D array ``(n_samples, n_timesteps, n_features)``;
* a 2-D array or DataFrame ``(n_samples, n_timesteps)``: univariate sequences,
  one column per time step, oldest first; ``n_features_in_`` is the number of
  columns and feature names are recorded, as for any tabular estimator;
* a list (or 1-D object array) of 2-D arrays ``(n_timesteps_i, n_features)``
  of different lengths (1-D items are univariate sequences).

Every check happens here, before compiled code runs: the core trusts what it
is given.
"""

import numbers

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_array, validate_data

from . import _lstm_core

FLOAT_DTYPES = (np.float64, np.float32)


class Sequences:
    """A batch of sequences: ``data`` (n, T, F) zero-padded, ``lengths`` (n,).

    ``data[i, lengths[i]:]`` is zero. ``ragged`` says whether the lengths may
    differ (they are all ``T`` otherwise).
    """

    __slots__ = ("data", "lengths", "ragged")

    def __init__(self, data, lengths, ragged):
        self.data = data
        self.lengths = lengths
        self.ragged = ragged

    def __len__(self):
        return self.data.shape[0]

    @property
    def n_features(self):
        return self.data.shape[2]

    def take(self, indices):
        return Sequences(self.data[indices], self.lengths[indices], self.ragged)


def _is_ragged_list(X):
    """Whether X is a collection of sequences to pad: a 1-D object array of
    arrays (any lengths), or a list/tuple whose items differ in shape (a list
    of equal-shaped items is an ordinary 2-D or 3-D array)."""
    if isinstance(X, np.ndarray):
        return (
            X.dtype == object
            and X.ndim == 1
            and len(X) > 0
            and all(np.ndim(item) in (1, 2) for item in X)
        )
    if not isinstance(X, list | tuple) or len(X) == 0:
        return False
    shapes = set()
    for item in X:
        if sparse.issparse(item):
            raise TypeError("Sparse sequences are not supported; pass dense arrays.")
        if not hasattr(item, "__len__") and not hasattr(item, "shape"):
            return False
        shapes.add(np.shape(item))
    return len(shapes) > 1


def _check_ragged(X, dtype, estimator_name):
    items = []
    for index, item in enumerate(X):
        if sparse.issparse(item):
            raise TypeError("Sparse sequences are not supported; pass dense arrays.")
        array = np.asarray(item)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise ValueError(
                f"Each sequence must be a 2-D array (n_timesteps, n_features) or "
                f"1-D (univariate); sequence {index} has {array.ndim} dimensions."
            )
        if array.shape[0] == 0:
            raise ValueError(
                f"Sequence {index} has zero time steps; every sequence needs at "
                f"least one."
            )
        array = check_array(
            array, dtype=dtype, ensure_2d=True, ensure_all_finite=True,
            input_name=f"X[{index}]", estimator=estimator_name,
        )  # fmt: skip
        items.append(array)
    n_features = {item.shape[1] for item in items}
    if len(n_features) > 1:
        raise ValueError(
            f"All sequences must have the same number of features; got "
            f"{sorted(n_features)}."
        )
    result_dtype = np.result_type(*[item.dtype for item in items])
    lengths = np.array([item.shape[0] for item in items], dtype=np.intp)
    data = np.zeros((len(items), lengths.max(), items[0].shape[1]), dtype=result_dtype)
    for row, item in enumerate(items):
        data[row, : item.shape[0]] = item
    return data, lengths


def check_sequences(estimator, X, *, reset, dtype=FLOAT_DTYPES):
    """Validate ``X`` for ``estimator`` and return :class:`Sequences`.

    With ``reset=True`` (fit) the input form, ``n_features_in_`` and, for
    DataFrames, ``feature_names_in_`` are recorded; otherwise they are checked
    against what was recorded. ``dtype`` is passed to ``check_array``: a list
    keeps float32 as float32 and makes everything else float64.
    """
    name = type(estimator).__name__
    if (
        not reset
        and type(X) is np.ndarray
        and X.ndim == 3
        and X.dtype in FLOAT_DTYPES
        and 0 not in X.shape
    ):
        return _check_float_3d_fast(estimator, X, name)
    if _is_ragged_list(X):
        data, lengths = _check_ragged(X, dtype, name)
        _check_sequence_features(estimator, data.shape[2], reset, name)
        return Sequences(np.ascontiguousarray(data), lengths, ragged=True)

    if sparse.issparse(X):
        raise TypeError(
            f"Sparse input is not supported by {name}: sequences must be dense."
        )
    if not hasattr(X, "shape") and not isinstance(X, list | tuple):
        # Any other array-like (e.g. an object with __array__): let NumPy read it.
        X = np.asarray(X)
    n_dims = len(X.shape) if hasattr(X, "shape") else np.asarray(X).ndim
    if n_dims == 2:
        # Tabular univariate sequences: scikit-learn's own rules apply.
        X = validate_data(
            estimator, X, reset=reset, dtype=dtype, order="C",
            ensure_all_finite=True,
        )  # fmt: skip
        if reset:
            estimator._sequence_n_features = 1
            estimator._fitted_on_2d = True
        elif estimator._sequence_n_features != 1:
            raise ValueError(
                f"{name} was fitted on sequences with "
                f"{estimator._sequence_n_features} features per step; a 2-D X "
                f"holds univariate sequences. Pass a 3-D array "
                f"(n_samples, n_timesteps, {estimator._sequence_n_features})."
            )
        data = X.reshape(X.shape[0], X.shape[1], 1)
        return Sequences(data, _equal_lengths(X.shape[0], X.shape[1]), ragged=False)

    X = check_array(
        X, dtype=dtype, allow_nd=True, ensure_2d=False, ensure_all_finite=True,
        order="C", estimator=name, ensure_min_features=1,
    )  # fmt: skip
    if X.ndim != 3:
        raise ValueError(
            f"Expected sequences as a 3-D array (n_samples, n_timesteps, "
            f"n_features), a 2-D array (n_samples, n_timesteps) or a list of 2-D "
            f"arrays; got an array with {X.ndim} dimension(s) of shape {X.shape}. "
            "Reshape your data: X.reshape(1, -1) for one univariate sequence, "
            "X.reshape(-1, 1) for sequences of a single step."
        )
    if X.shape[1] == 0:
        raise ValueError(
            f"Found sequences with zero time steps (shape {X.shape}); every "
            f"sequence needs at least one."
        )
    if X.shape[2] == 0:
        raise ValueError(
            f"Found sequences with zero features per step (shape {X.shape}); at "
            f"least one is required."
        )
    _check_sequence_features(estimator, X.shape[2], reset, name)
    return Sequences(X, _equal_lengths(X.shape[0], X.shape[1]), ragged=False)


def _equal_lengths(n_samples, n_steps):
    """Lengths of ``n_samples`` sequences of ``n_steps`` steps each (what
    ``np.full`` gives, without its Python-level overhead, which shows on
    one-sequence predictions)."""
    lengths = np.empty(n_samples, dtype=np.intp)
    lengths.fill(n_steps)
    return lengths


def _check_float_3d_fast(estimator, X, name):
    """What ``check_array`` would do for a plain float 3-D array, at a fraction
    of its fixed cost (which exceeds a one-sequence prediction)."""
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    check_all_finite(X, "X")
    _check_sequence_features(estimator, X.shape[2], False, name)
    return Sequences(X, _equal_lengths(X.shape[0], X.shape[1]), ragged=False)


def check_all_finite(array, name):
    """Raise ``check_array``'s error unless every value of the C-contiguous
    float ``array`` is finite (one compiled pass when they are)."""
    if not _lstm_core.all_finite(array.reshape(-1)):
        what = "NaN" if np.isnan(array).any() else "infinity"
        raise ValueError(f"Input {name} contains {what}.")


def _check_sequence_features(estimator, n_features, reset, name):
    """Record or check the number of features per time step (3-D / ragged)."""
    if reset:
        estimator.n_features_in_ = n_features
        estimator._sequence_n_features = n_features
        estimator._fitted_on_2d = False
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    expected = estimator._sequence_n_features
    if n_features != expected:
        raise ValueError(
            f"X has {n_features} features per time step, but {name} is "
            f"expecting {expected} features per time step as input."
        )


def check_sample_weight_array(sample_weight, n_samples, dtype):
    """Non-negative finite sample weights of shape (n_samples,), or None."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        return np.full(n_samples, sample_weight, dtype=dtype)
    sample_weight = check_array(
        sample_weight, ensure_2d=False, dtype=dtype, input_name="sample_weight"
    )
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({n_samples},)!"
        )
    if np.any(sample_weight < 0):
        raise ValueError("Negative values in sample_weight are not allowed.")
    if not np.any(sample_weight > 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight
