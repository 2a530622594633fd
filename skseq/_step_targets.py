"""Targets with one value per time step (``return_sequences=True``).

The user's ``y`` holds one target per step of each sequence: an array
``(n_samples, n_timesteps[, n_outputs])`` whose time axis is that of ``X``
(values past a ragged sequence's length are ignored), or a list of
per-sequence arrays ``(length_i[, n_outputs])``. Inside skseq the real
steps are handled in one order, sequence by sequence and oldest step first,
one row per real step (validation, losses, scores), which
:class:`StepTargets` indexes by sample for training.
"""

import numpy as np

from ._validation import is_object_vector


def step_mask(lengths, n_timesteps):
    """(n_samples, n_timesteps) booleans: True at each sequence's real steps."""
    return np.arange(n_timesteps) < np.asarray(lengths)[:, None]


def flatten_steps(y, sequences, *, multi_output, name="y"):
    """The real steps' targets of ``y``, one row per step: (n_steps,), or
    (n_steps, n_outputs) when ``y`` has an output axis (``multi_output``
    estimators only). Raises ValueError for any other form or a length that
    does not match the sequence's."""
    lengths = sequences.lengths
    n_samples, n_timesteps = len(sequences), sequences.n_timesteps
    forms = (
        "(n_samples, n_timesteps) or (n_samples, n_timesteps, n_outputs)"
        if multi_output
        else "(n_samples, n_timesteps)"
    )
    expected = (
        f"return_sequences=True needs one target per time step: {name} of shape "
        f"{forms}, or a list of one array per sequence for ragged X"
    )
    if isinstance(y, list | tuple) or is_object_vector(y):
        # A list, or a 1-D object array or pandas Series of arrays.
        return _flatten_items(list(y), lengths, multi_output, expected, name)
    y = np.asarray(y)
    max_ndim = 3 if multi_output else 2
    if not 2 <= y.ndim <= max_ndim:
        raise ValueError(f"{expected}; got {name} of shape {y.shape}.")
    # For a list of sequences, a padded y may be longer than the longest of
    # them: a part of the data (a fold, a hold-out) need not hold the longest
    # sequence that y was padded to.
    if y.shape[0] != n_samples or not (
        y.shape[1] == n_timesteps or (sequences.ragged and y.shape[1] > n_timesteps)
    ):
        least = " at least" if sequences.ragged else ""
        raise ValueError(
            f"{expected}: {name}'s first two axes must be (n_samples, n_timesteps) "
            f"= ({n_samples},{least} {n_timesteps}) as in X; got {name} of shape "
            f"{y.shape}."
        )
    return y[:, :n_timesteps][step_mask(lengths, n_timesteps)]


def _flatten_items(items, lengths, multi_output, expected, name):
    if len(items) != len(lengths):
        raise ValueError(
            f"X and {name} have inconsistent numbers of samples: {len(lengths)} "
            f"and {len(items)}."
        )
    arrays = []
    for index, (item, length) in enumerate(zip(items, lengths, strict=True)):
        array = np.asarray(item)
        if not 1 <= array.ndim <= (2 if multi_output else 1):
            raise ValueError(f"{expected}; got {name}[{index}] of shape {array.shape}.")
        if array.shape[0] != length:
            raise ValueError(
                f"{name}[{index}] has {array.shape[0]} steps, but sequence {index} "
                f"of X has {length}: return_sequences=True needs one target per "
                "time step."
            )
        if arrays and array.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(
                f"Every item of {name} must have the same shape past its time "
                f"axis: {name}[0] has {arrays[0].shape}, {name}[{index}] has "
                f"{array.shape}."
            )
        arrays.append(array)
    return np.concatenate(arrays)


def per_step_weights(sample_weight, lengths):
    """Each sequence's weight at each of its real steps (None: unweighted)."""
    if sample_weight is None:
        return None
    return np.repeat(sample_weight, lengths)


def unflatten_steps(flat, lengths, n_timesteps, ragged):
    """Per-step rows back in the user's layout: an (n_samples, n_timesteps,
    ...) array for sequences of one length, a list of one array per sequence
    for ragged ones."""
    if not ragged:
        return flat.reshape(len(lengths), n_timesteps, *flat.shape[1:])
    return np.split(flat, np.cumsum(lengths)[:-1])


class StepTargets:
    """Encoded per-step targets, indexed by sample as a 2-D target array is.

    ``values`` (n_steps, n_outputs) holds the targets of the real steps, a
    sequence's steps in a run of rows; sequence i's run starts at row
    ``starts[i]`` and has ``lengths[i]`` rows. ``weights`` (n_steps,), or
    None, are per-step class weights. Selecting samples shares the rows.
    ``n_timesteps`` is the time axis of the sequences (their longest).
    """

    __slots__ = ("values", "weights", "starts", "lengths", "n_timesteps")

    def __init__(self, values, weights, starts, lengths, n_timesteps):
        self.values = values
        self.weights = weights
        self.starts = starts
        self.lengths = lengths
        self.n_timesteps = n_timesteps

    @classmethod
    def from_flat(cls, flat, lengths, n_timesteps, weights=None):
        """The targets of the rows of ``flat`` (n_steps, n_outputs) and
        ``weights`` (n_steps,), sequence by sequence, of sequences of
        ``lengths`` steps."""
        lengths = np.asarray(lengths, dtype=np.intp)
        starts = np.zeros(len(lengths), dtype=np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        return cls(flat, weights, starts, lengths, n_timesteps)

    def with_values(self, values):
        """The same steps with ``values`` (of the shape of ``values``) as
        their targets."""
        return StepTargets(
            values, self.weights, self.starts, self.lengths, self.n_timesteps
        )

    def __len__(self):
        return self.starts.shape[0]

    @property
    def n_outputs(self):
        return self.values.shape[1]

    def __getitem__(self, index):
        """One sample's targets padded with zeros to ``n_timesteps`` steps
        (an integer index), or the targets of the samples ``index``
        selects."""
        if np.ndim(index) == 0 and not isinstance(index, slice):
            start, length = self.starts[index], self.lengths[index]
            padded = np.zeros((self.n_timesteps, self.n_outputs), self.values.dtype)
            padded[:length] = self.values[start : start + length]
            return padded
        return StepTargets(
            self.values, self.weights, self.starts[index], self.lengths[index],
            self.n_timesteps,
        )  # fmt: skip

    def at(self, samples, times, sample_weight):
        """Targets and weights (None: unweighted) of the steps ``times``
        (0 for a sequence's first) of the samples ``samples`` (arrays of
        equal length), each step weighted by its sample's ``sample_weight``
        and its own class weight."""
        rows = self.starts[samples] + times
        weights = None if sample_weight is None else sample_weight[samples]
        if self.weights is not None:
            step = self.weights[rows]
            weights = step if weights is None else weights * step
        return self.values[rows], weights

    def check_weights(self, sample_weight):
        """The checks ``sample_weight * class_weight`` gets per sequence,
        here per real step: finite, and not zero at every step."""
        if self.weights is None:
            return
        with np.errstate(over="ignore"):
            _, steps = self.flat(sample_weight)
        name = "sample_weight * class_weight"
        if not np.all(np.isfinite(steps)):
            raise ValueError(
                f"{name} contains infinite values (in {steps.dtype.name}); "
                "weights must be finite."
            )
        if not np.any(steps > 0):
            raise ValueError(
                f"{name} must contain at least one non-zero number at the real "
                "steps of the sequences."
            )

    def flat(self, sample_weight):
        """Targets and weights of every real step, one row per step, sequence
        by sequence."""
        lengths = self.lengths
        # The rows of each sequence's run, in sample order.
        ends = np.cumsum(lengths)
        rows = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.intp)
        rows += np.repeat(self.starts - (ends - lengths), lengths)
        weights = per_step_weights(sample_weight, lengths)
        if self.weights is not None:
            step = self.weights[rows]
            weights = step if weights is None else weights * step
        return self.values[rows], weights
