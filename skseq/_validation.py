"""Sequences in, validated sequences and their lengths out.

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
import warnings
from typing import NamedTuple

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_array, validate_data

from . import _numerics
from .exceptions import DataLayoutWarning

FLOAT_DTYPES = (np.float64, np.float32)


class Sequences:
    """Validated sequences and their ``lengths`` (n,), in one of two stores.

    * Padded (``ragged`` False: sequences of one length, from an array):
      ``data`` (n, T, F), read in place where a pass can.
    * Packed (``ragged`` True: a list of sequences): ``data`` (n_steps, F)
      holds the sequences' steps end to end, sequence i being
      ``data[starts[i]:starts[i] + lengths[i]]``. A list costs its own size,
      not its number of sequences times the longest one; batches are padded
      when they are copied into a pass's buffers
      (``_inference.fill_inputs``), each to its own longest sequence.

    ``n_timesteps`` is the longest length (T of the padded store).
    """

    __slots__ = ("data", "lengths", "starts", "n_timesteps")

    def __init__(self, data, lengths, starts=None, n_timesteps=None):
        self.data = data
        self.lengths = lengths
        self.starts = starts
        if n_timesteps is None:
            n_timesteps = data.shape[1] if starts is None else int(lengths.max())
        self.n_timesteps = n_timesteps

    @classmethod
    def packed(cls, items):
        """The packed store of ``items``, 2-D arrays (length_i, F) of one
        width: one array of their common dtype."""
        lengths = np.fromiter((len(item) for item in items), np.intp, len(items))
        starts = np.zeros(len(items), dtype=np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        data = np.ascontiguousarray(np.concatenate(items, axis=0))
        return cls(data, lengths, starts)

    @property
    def ragged(self):
        """Whether the lengths may differ (the packed store)."""
        return self.starts is not None

    def __len__(self):
        return self.lengths.shape[0]

    @property
    def n_features(self):
        return self.data.shape[-1]

    @property
    def dtype(self):
        return self.data.dtype

    def with_data(self, data):
        """The same sequences with ``data`` in place of the store's array (of
        its shape: a cast or a copy)."""
        return Sequences(data, self.lengths, self.starts, self.n_timesteps)

    def with_dtype(self, dtype):
        """The sequences cast to ``dtype``; a packed store keeps only the
        steps of its sequences."""
        if self.starts is None:
            return self.with_data(self.data.astype(dtype))
        return Sequences.packed(
            [self.sequence(i).astype(dtype) for i in range(len(self))]
        )

    def sequence(self, index):
        """Sequence ``index``'s real steps, (length, F)."""
        if self.starts is None:
            return self.data[index, : self.lengths[index]]
        start = self.starts[index]
        return self.data[start : start + self.lengths[index]]

    def take(self, indices):
        """The sequences ``indices`` selects; a packed store is shared."""
        if self.starts is None:
            return Sequences(self.data[indices], self.lengths[indices])
        return Sequences(self.data, self.lengths[indices], self.starts[indices])


class InputForm(NamedTuple):
    """What validation learns about the form of an ``X``, which fit records
    and later calls are held to."""

    n_features: int  # features per time step
    tabular: bool  # a 2-D X: univariate sequences, one column per step
    feature_names: object  # column names of DataFrames (3-D / ragged), or None


def is_object_vector(X):
    """Whether X is one-dimensional with an object dtype (a 1-D object
    array, or a pandas Series of arrays): a container of sequences, or of
    per-step targets, rather than an array of numbers."""
    return (
        getattr(X, "ndim", None) == 1
        and getattr(getattr(X, "dtype", None), "kind", None) == "O"
    )


def _is_ragged_list(X):
    """Whether X is a collection of sequences to pad: a 1-D object array of
    arrays (any lengths); a list/tuple of 1-D arrays (univariate sequences,
    whatever their lengths, as in such an object array); or a list/tuple
    whose items differ in shape. Other lists of equal-shaped items are
    ordinary 2-D or 3-D arrays: a list of lists of numbers is a table, as it
    is to scikit-learn. A list mixing sequences with items that are not (such
    as None) counts as a list of sequences, so that the bad item is named."""
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
    n_sized = n_vectors = 0
    for item in X:
        if sparse.issparse(item):
            raise TypeError("Sparse sequences are not supported; pass dense arrays.")
        if hasattr(item, "__len__") or hasattr(item, "shape"):
            n_sized += 1
            # An array (or a pandas Series) of one dimension: one univariate
            # sequence, where a list of numbers would be a row of a table.
            n_vectors += getattr(item, "ndim", None) == 1
        shapes.add(np.shape(item))
    if n_sized == 0:
        return False
    return len(shapes) > 1 or n_vectors == len(X)


def _frame_feature_names(item):
    """The string column names of a DataFrame-like ``item``, or None."""
    columns = getattr(item, "columns", None)
    if columns is None or sparse.issparse(item):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) == 0 or not all(isinstance(n, str) for n in names):
        return None
    return names


def _check_ragged(X, dtype, estimator_name):
    """Validate a list of sequences: returns (Sequences, feature_names), the
    sequences in the packed store, the names being the columns shared by
    every item when all are DataFrames with string column names, and None
    otherwise."""
    items = []
    names = []
    for index, item in enumerate(X):
        names.append(_frame_feature_names(item))
        items.append(_check_ragged_item(index, item, dtype, estimator_name))
    n_features = {item.shape[1] for item in items}
    if len(n_features) > 1:
        raise ValueError(
            f"All sequences must have the same number of features; got "
            f"{sorted(n_features)}."
        )
    feature_names = _shared_feature_names(names)
    return Sequences.packed(items), feature_names


def _check_ragged_item(index, item, dtype, estimator_name):
    """Sequence ``index`` of a list, as a validated 2-D array."""
    fast = _plain_float_item(item, dtype)
    if fast is not None:
        return fast
    if sparse.issparse(item):
        raise TypeError("Sparse sequences are not supported; pass dense arrays.")
    # A DataFrame goes to check_array as it is: converted first, its missing
    # values (pd.NA) would be objects, not the NaN that check_array reports.
    n_dims = np.ndim(item)
    if n_dims not in (1, 2):
        raise ValueError(
            f"Each sequence must be a 2-D array (n_timesteps, n_features) or "
            f"1-D (univariate); sequence {index} has {n_dims} dimensions."
        )
    array = check_array(
        item, dtype=dtype, ensure_2d=False, ensure_all_finite=True,
        ensure_min_samples=0, input_name=f"X[{index}]", estimator=estimator_name,
    )  # fmt: skip
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.shape[0] == 0:
        raise ValueError(
            f"Sequence {index} has zero time steps; every sequence needs at least one."
        )
    return array


def _plain_float_item(item, dtype):
    """A float ndarray of a type ``dtype`` admits, 1-D or 2-D with at least
    one step and one feature, and finite: the array itself (2-D), which is
    what check_array would return for it, at a fraction of its per-call
    cost (a list of many short sequences calls it once per sequence).
    None for anything else, which check_array then validates and, when it
    is wrong, names."""
    if type(item) is not np.ndarray or item.ndim not in (1, 2) or 0 in item.shape:
        return None
    admitted = dtype if isinstance(dtype, tuple | list) else (dtype,)
    if item.dtype not in admitted or not item.dtype.isnative:
        return None
    if not _numerics.all_finite(item.ravel()):
        return None
    return item.reshape(-1, 1) if item.ndim == 1 else item


def _shared_feature_names(names):
    """The column names shared by every sequence of a list (``names``, per
    sequence, None where it has none), or None unless all have names; the
    names must then be the same."""
    if not all(n is not None for n in names):
        return None
    for index, item_names in enumerate(names):
        if not np.array_equal(item_names, names[0]):
            raise ValueError(
                "All sequences must have the same columns, in the same order: "
                f"sequence 0 has {names[0].tolist()}, sequence {index} has "
                f"{item_names.tolist()}."
            )
    return names[0]


def check_sequences(estimator, X, *, fitted=None, dtype=FLOAT_DTYPES, model_dtype=None):
    """Validate ``X`` for ``estimator``: returns ``(Sequences, InputForm)``.

    ``fitted`` is the :class:`InputForm` recorded by fit, which ``X`` is
    checked against; None at fit, which records the form returned. For a 2-D
    ``X`` scikit-learn's ``validate_data`` applies, which records (at fit)
    and checks ``n_features_in_`` and ``feature_names_in_`` itself. ``dtype``
    is passed to ``check_array``: a list keeps float32 as float32 and makes
    everything else float64. ``model_dtype``, when given, is the precision the
    model computes in: the data is cast to it and its finiteness checked
    after the cast, so that a float64 value beyond float32's range is an error
    for a float32 model rather than an infinity inside it. The data returned
    is in native byte order.
    """
    name = type(estimator).__name__
    try:
        sequences, form = _check_sequences(estimator, X, fitted, dtype, name)
    except OverflowError as exc:
        # Python integers too large for a float64 (NumPy raises OverflowError).
        raise ValueError(
            f"Input X holds a number too large to be represented as a float64 ({exc})."
        ) from None
    data = sequences.data
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    if model_dtype is not None and data.dtype != model_dtype:
        data = cast_finite(data, model_dtype, "X")
    sequences.data = data
    return sequences, form


def cast_finite(array, dtype, name):
    """``array`` (finite, already checked) cast to ``dtype``, raising a
    ValueError when a finite value becomes infinite because ``dtype`` cannot
    hold it. Only a narrowing cast can do that: other casts are not checked
    again."""
    if np.can_cast(array.dtype, dtype, casting="safe"):
        return np.ascontiguousarray(array, dtype=dtype)
    with np.errstate(over="ignore"):
        cast = np.ascontiguousarray(array, dtype=dtype)
    if not _numerics.all_finite(cast.reshape(-1)):
        largest = float(np.max(np.abs(array)))
        raise ValueError(
            f"Input {name} holds values beyond the range of {np.dtype(dtype).name} "
            f"(largest magnitude {largest:.3g}; {np.dtype(dtype).name} holds up to "
            f"{float(np.finfo(dtype).max):.3g}). The model computes in "
            f"{np.dtype(dtype).name}: scale the input, or fit the model on float64 "
            "data."
        )
    return cast


def _check_sequences(estimator, X, fitted, dtype, name):
    if (
        fitted is not None
        and type(X) is np.ndarray
        and X.ndim == 3
        and X.dtype in FLOAT_DTYPES
        and 0 not in X.shape
    ):
        return _check_float_3d_fast(fitted, X, name)
    if not isinstance(X, np.ndarray) and is_object_vector(X):
        # Such as a pandas Series of arrays: read as the object array it holds.
        X = np.asarray(X, dtype=object)
    if _is_ragged_list(X):
        sequences, feature_names = _check_ragged(X, dtype, name)
        form = InputForm(sequences.n_features, False, feature_names)
        _check_sequence_features(fitted, form, name)
        return sequences, form

    if (
        isinstance(X, list | tuple)
        and len(X) > 0
        and all(isinstance(item, np.ndarray) and item.dtype == np.float32 for item in X)
    ):
        # Equal-shaped float32 arrays: stacked, they stay float32, as a ragged
        # list of them does (check_array reads any list as float64).
        X = np.stack(X)
    if sparse.issparse(X):
        raise TypeError(
            f"Sparse input is not supported by {name}: sequences must be dense."
        )
    if not hasattr(X, "shape") and not isinstance(X, list | tuple):
        # Any other array-like (e.g. an object with __array__): let NumPy read it.
        X = np.asarray(X)
    n_dims = len(X.shape) if hasattr(X, "shape") else np.asarray(X).ndim
    if n_dims == 0:
        # None, a number or a string: named as it is, where check_array would
        # report None as a missing value.
        value = X.item() if hasattr(X, "item") else X
        got = "None" if value is None else f"the single value {value!r}"
        raise ValueError(f"{_EXPECTED_SEQUENCES}; got {got}.")
    if n_dims == 2:
        if fitted is not None and fitted.n_features != 1:
            raise ValueError(
                f"{name} was fitted on sequences with "
                f"{fitted.n_features} features per step; a 2-D X "
                f"holds univariate sequences. Pass a 3-D array "
                f"(n_samples, n_timesteps, {fitted.n_features})."
            )
        if fitted is None or fitted.tabular:
            # Tabular univariate sequences: scikit-learn's own rules apply.
            X = validate_data(
                estimator, X, reset=fitted is None, dtype=dtype, order="C",
                ensure_all_finite=True,
            )  # fmt: skip
        else:
            # A model fitted on 3-D or ragged univariate sequences: the
            # columns of a 2-D X (an array, or a list of equal-length 1-D
            # sequences) are its steps, not features to count against fit.
            X = check_array(
                X, dtype=dtype, order="C", ensure_all_finite=True, estimator=name
            )
            _check_sequence_features(fitted, InputForm(1, False, None), name)
        data = X.reshape(X.shape[0], X.shape[1], 1)
        lengths = _equal_lengths(X.shape[0], X.shape[1])
        return Sequences(data, lengths), InputForm(1, True, None)

    X = _check_3d(X, dtype, name)
    if fitted is None:
        _warn_if_channels_first(X.shape, name)
    form = InputForm(X.shape[2], False, None)
    _check_sequence_features(fitted, form, name)
    return Sequences(X, _equal_lengths(X.shape[0], X.shape[1])), form


_EXPECTED_SEQUENCES = (
    "Expected sequences as a 3-D array (n_samples, n_timesteps, n_features), a "
    "2-D array (n_samples, n_timesteps) or a list of 2-D arrays"
)


def _check_3d(X, dtype, name):
    """``X`` as a validated 3-D array of sequences of at least one step and
    one feature."""
    X = check_array(
        X, dtype=dtype, allow_nd=True, ensure_2d=False, ensure_all_finite=True,
        order="C", estimator=name, ensure_min_features=1,
    )  # fmt: skip
    if X.ndim != 3:
        raise ValueError(
            f"{_EXPECTED_SEQUENCES}; got an array with {X.ndim} dimension(s) of "
            f"shape {X.shape}. Reshape your data: X.reshape(1, -1) for one "
            "univariate sequence, X.reshape(-1, 1) for sequences of a single step."
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
    return X


# A 3-D array with at least this many "features" per step, and at least this
# many times more "features" than "time steps", is more likely laid out
# channel-first (n_samples, n_channels, n_timepoints), as aeon and sktime do.
_CHANNELS_FIRST_MIN_FEATURES = 16
_CHANNELS_FIRST_RATIO = 4


def _warn_if_channels_first(shape, name):
    _, n_timesteps, n_features = shape
    if (
        n_features >= _CHANNELS_FIRST_MIN_FEATURES
        and n_features >= _CHANNELS_FIRST_RATIO * n_timesteps
    ):
        warnings.warn(
            f"{name} reads a 3-D X as (n_samples, n_timesteps, n_features), so "
            f"this X of shape {shape} holds sequences of {n_timesteps} time "
            f"step(s) with {n_features} features each. If it is laid out "
            "channel-first, (n_samples, n_channels, n_timepoints) as aeon and "
            "sktime do, pass X.transpose(0, 2, 1) instead. If the layout is "
            "intended, silence this with warnings.simplefilter('ignore', "
            "skseq.exceptions.DataLayoutWarning).",
            DataLayoutWarning,
            stacklevel=4,
        )


def _equal_lengths(n_samples, n_steps):
    """Lengths of ``n_samples`` sequences of ``n_steps`` steps each (what
    ``np.full`` gives, without its Python-level overhead, which shows on
    one-sequence predictions)."""
    lengths = np.empty(n_samples, dtype=np.intp)
    lengths.fill(n_steps)
    return lengths


def _check_float_3d_fast(fitted, X, name):
    """What ``check_array`` would do for a plain float 3-D array, at a fraction
    of its fixed cost (which exceeds a one-sequence prediction)."""
    if not X.flags.c_contiguous:
        X = np.ascontiguousarray(X)
    check_all_finite(X, "X")
    form = InputForm(X.shape[2], False, None)
    _check_sequence_features(fitted, form, name)
    return Sequences(X, _equal_lengths(X.shape[0], X.shape[1])), form


def check_all_finite(array, name):
    """Raise ``check_array``'s error unless every value of the C-contiguous
    float ``array`` is finite (one compiled pass when they are)."""
    if not _numerics.all_finite(array.reshape(-1)):
        what = "NaN" if np.isnan(array).any() else "infinity"
        raise ValueError(f"Input {name} contains {what}.")


def _check_sequence_features(fitted, form, name):
    """Check the number of features per time step of a 3-D or ragged X
    (``form``) against the ``fitted`` form (nothing to check at fit), and
    the feature names of a list of DataFrames, as scikit-learn does for
    tabular input: a mismatch is an error, names present on one side only a
    warning."""
    if fitted is None:
        return
    if form.n_features != fitted.n_features:
        raise ValueError(
            f"X has {form.n_features} features per time step, but {name} is "
            f"expecting {fitted.n_features} features per time step as input."
        )
    if fitted.tabular:
        # Fitted on 2-D input, whose names are those of time steps.
        return
    fitted_names, feature_names = fitted.feature_names, form.feature_names
    if fitted_names is None and feature_names is None:
        return
    if fitted_names is None:
        warnings.warn(
            f"X has feature names, but {name} was fitted without feature names",
            UserWarning,
            stacklevel=5,
        )
    elif feature_names is None:
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with "
            "feature names",
            UserWarning,
            stacklevel=5,
        )
    elif not np.array_equal(fitted_names, feature_names):
        raise ValueError(
            "The feature names should match those that were passed during fit: "
            f"fitted with {fitted_names.tolist()}, got {feature_names.tolist()}."
        )


def check_targets_given(estimator, y):
    """A ValueError when fit or partial_fit gets no ``y``."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            "is None."
        )


def check_one_target_per_sequence(y):
    """A ValueError pointing to ``return_sequences`` when ``y`` is a list of
    arrays of different lengths: per-step targets of ragged sequences, which
    a model with one output per sequence cannot take."""
    if not isinstance(y, list | tuple) or len(y) < 2 or np.ndim(y[0]) == 0:
        return
    if len({np.shape(item)[:1] for item in y}) > 1:
        raise ValueError(
            "y holds arrays of different lengths, one per sequence: per-step "
            "targets need return_sequences=True. Without it, y has one target "
            "(or one row of targets) per sequence."
        )


def check_regression_targets(y, n_samples):
    """Regression targets: a finite numeric 1-D or 2-D array of ``n_samples``
    rows."""
    if (
        type(y) is np.ndarray
        and y.dtype in FLOAT_DTYPES
        and y.ndim in (1, 2)
        and y.size
    ):
        # Plain float arrays: check_array's fixed cost is a sizeable share of a
        # small partial_fit step, and finiteness is all it would check here.
        check_all_finite(np.ascontiguousarray(y), "y")
    else:
        y = check_array(
            y, ensure_2d=False, dtype="numeric", ensure_all_finite=True, input_name="y"
        )
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: {n_samples} and "
            f"{y.shape[0]}."
        )
    return y


def check_sample_weight(sample_weight, n_samples, dtype, *, name="sample_weight"):
    """Sample weights of every accepted form, validated: None, or an array of
    shape (n_samples,) in ``dtype``.

    A real scalar gives every sample that weight; an array-like must be 1-D
    of length ``n_samples``. The weights must be real, finite in ``dtype``,
    non-negative and not all zero (scikit-learn's rules for sample weights).
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number | np.generic) or (
        isinstance(sample_weight, np.ndarray) and sample_weight.ndim == 0
    ):
        value = (
            sample_weight.item() if hasattr(sample_weight, "item") else sample_weight
        )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"{name} must be a real number or an array-like of shape "
                f"(n_samples,); got {sample_weight!r} of type "
                f"{type(sample_weight).__name__}."
            )
        with np.errstate(over="ignore"):
            sample_weight = np.full(n_samples, value, dtype=dtype)
    else:
        try:
            sample_weight = check_array(
                sample_weight, ensure_2d=False, dtype=dtype, input_name=name,
                ensure_all_finite=False, order="C",
            )  # fmt: skip
        except OverflowError as exc:
            raise ValueError(
                f"{name} holds a number too large to be represented ({exc})."
            ) from None
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
            raise ValueError(
                f"{name}.shape == {sample_weight.shape}, expected ({n_samples},)!"
            )
    if not _numerics.all_finite(sample_weight):
        what = "NaN" if np.isnan(sample_weight).any() else "infinite values"
        raise ValueError(
            f"{name} contains {what} (after conversion to "
            f"{sample_weight.dtype.name}); weights must be finite."
        )
    if np.any(sample_weight < 0):
        raise ValueError(f"Negative values in {name} are not allowed.")
    if not np.any(sample_weight > 0):
        raise ValueError(f"{name} must contain at least one non-zero number.")
    total = float(np.sum(sample_weight, dtype=np.float64))
    largest = float(np.finfo(sample_weight.dtype).max)
    if total > largest:
        # The losses divide by the total weight, computed in the model's type.
        raise ValueError(
            f"{name} sums to {total:.3g}, beyond the range of "
            f"{sample_weight.dtype.name} (up to {largest:.3g}), the type the "
            "model computes in: scale the weights down (their scale sets the "
            "strength of the penalty alpha)."
        )
    return sample_weight


def check_class_weight(class_weight):
    """Validate the weights of a ``class_weight`` dict: real, finite and
    non-negative (which classes it names is checked when the labels are
    known)."""
    if not isinstance(class_weight, dict):
        return class_weight
    for label, weight in class_weight.items():
        if (
            isinstance(weight, bool)
            or not isinstance(weight, numbers.Real)
            or not np.isfinite(weight)
            or weight < 0
        ):
            raise ValueError(
                "class_weight values must be finite non-negative real numbers; "
                f"got {weight!r} for class {label!r}."
            )
    return class_weight
