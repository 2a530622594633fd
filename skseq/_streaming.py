"""Streaming inference: a fitted one-direction network run one step at a time.

A stream's state is plain NumPy, owned by the caller: a dict with the cell's
name (``"cell"``) and, per state the cell carries (``"h"``, and ``"c"`` for
the LSTM), a tuple with one (n_streams, H) array per layer, of the model's
dtype. :func:`step_output` reads the state and returns a new one, so a
state can be pickled, copied, kept to resume from, or used by several
threads at once; the estimator is never changed.

Each step runs the compiled one-step function of the cell's layer module
(``lstm_step``, ``gru_step``, ``rnn_step``), the same products and row
kernels as one step of the whole-sequence inference pass, and the head of
``predict``: a sequence fed one step at a time gets what ``predict`` gives
for it (bit for bit where the packed kernels run, ``_dispatch.level() > 0``).

A step is one time step of the sequences ``predict`` reads: one row of
``n_features`` values per stream. A model fitted on 2-D ``X`` reads each row
of ``X`` as a univariate sequence, so its step is one value per stream:
``X_t`` of shape (n_streams, 1).
"""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _numerics
from ._validation import cast_finite


def _check_streamable(estimator):
    """The fitted network, unless it cannot stream."""
    if "weights_" not in estimator.__dict__:
        check_is_fitted(estimator)  # raises NotFittedError
    network = estimator._network
    if network.bidirectional:
        raise ValueError(
            f"This {type(estimator).__name__} is bidirectional: its backward "
            "direction reads every sequence from its end, so it cannot run one "
            "step at a time. Use predict on whole sequences, or fit with "
            "bidirectional=False to stream."
        )
    return network


def initial_state(estimator, n_streams):
    """The state of ``n_streams`` streams before their first step: zeros."""
    network = _check_streamable(estimator)
    if (
        not isinstance(n_streams, Integral)
        or isinstance(n_streams, bool)
        or n_streams < 1
    ):
        raise ValueError(f"n_streams must be a positive integer; got {n_streams!r}.")
    dtype = estimator.weights_.dtype
    state = {"cell": network.cell.name}
    for name in network.cell.state_names:
        state[name] = tuple(
            np.zeros((int(n_streams), hidden), dtype=dtype)
            for hidden in network.hidden_layer_sizes
        )
    return state


def _state_error(estimator, message):
    return ValueError(
        f"state is not a state of this {type(estimator).__name__}: {message}. "
        "Make one with initial_state(n_streams) and pass on the state that "
        "predict_step returns."
    )


def _check_state(estimator, network, state, dtype):
    """The per-layer tuples of states in ``state`` (see the module's
    docstring), checked against the network, and the number of streams."""
    cell = network.cell
    if not isinstance(state, dict):
        raise TypeError(
            "state must be the dict returned by initial_state or predict_step; "
            f"got {type(state).__name__}."
        )
    names = cell.state_names
    if (
        len(state) != len(names) + 1
        or state.get("cell") != cell.name
        or not all(name in state for name in names)
    ):
        raise _state_error(
            estimator,
            f"it has keys {sorted(map(str, state))} and cell "
            f"{state.get('cell')!r}, expected keys "
            f"{sorted(['cell', *names])} and cell {cell.name!r}",
        )
    sizes = network.hidden_layer_sizes
    n_streams = None
    columns = []
    for name in names:
        arrays = state[name]
        if not isinstance(arrays, tuple | list) or len(arrays) != len(sizes):
            raise _state_error(
                estimator, f"state[{name!r}] must hold one array per layer "
                f"({len(sizes)})",
            )  # fmt: skip
        column = []
        for layer, hidden in enumerate(sizes):
            array = arrays[layer]
            if not isinstance(array, np.ndarray) or array.dtype != dtype:
                raise _state_error(
                    estimator, f"state[{name!r}][{layer}] must be a NumPy array "
                    f"of dtype {dtype}",
                )  # fmt: skip
            if n_streams is None and array.ndim == 2:
                n_streams = array.shape[0]
            if array.shape != (n_streams, hidden):
                raise _state_error(
                    estimator, f"state[{name!r}][{layer}] has shape "
                    f"{array.shape}, expected ({n_streams}, {hidden})",
                )  # fmt: skip
            # The core reads the rows in place.
            if not array.flags.c_contiguous:
                array = np.ascontiguousarray(array)
            column.append(array)
        columns.append(column)
    if n_streams == 0:
        # initial_state makes none, as predict refuses an empty X.
        raise _state_error(estimator, "it holds no stream (its arrays have 0 rows)")
    return list(zip(*columns, strict=True)), n_streams


def check_state_finite(state):
    """A ValueError naming the first array of a checked ``state`` that holds
    NaN or infinity."""
    for name, arrays in state.items():
        if name == "cell":
            continue
        for layer, array in enumerate(arrays):
            if not np.all(np.isfinite(array)):
                raise ValueError(f"state[{name!r}][{layer}] contains NaN or infinity.")


def _contiguous(array):
    """``array``, or a C-contiguous copy of it (the core reads rows)."""
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _check_step_input(estimator, X_t, n_streams, dtype):
    """``X_t`` as a C-contiguous (n_streams, n_features) array of ``dtype``,
    finite; TypeError or ValueError otherwise."""
    x = np.asarray(X_t)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"X_t must hold real numbers; got an array of dtype {x.dtype}.")
    n_features = estimator._sequence_n_features
    if x.ndim != 2 or x.shape != (n_streams, n_features):
        step = (
            "one value per stream (the model was fitted on 2-D X: each row a "
            "univariate sequence)"
            if estimator._fitted_on_2d
            else f"{n_features} features per stream"
        )
        raise ValueError(
            f"X_t must have shape (n_streams, n_features) = ({n_streams}, "
            f"{n_features}): {step}, for the {n_streams} streams of the state; "
            f"got shape {x.shape}."
        )
    step = np.ascontiguousarray(x, dtype=dtype)
    if not _numerics.all_finite(step.reshape(-1)):
        if x.dtype != step.dtype and np.isfinite(x).all():
            # Finite values that the model's dtype cannot hold: named as
            # predict names them (cast_finite raises).
            cast_finite(x, dtype, "X_t")
        raise ValueError("X_t contains NaN or infinity.")
    return step


def step_raw(estimator, X_t, state):
    """The raw head outputs (before the output activation) after one more
    step of each stream, and the new state."""
    network = _check_streamable(estimator)
    engine = estimator._inference_engine()
    dtype = engine.weights.dtype
    layers, n_streams = _check_state(estimator, network, state, dtype)
    x = _check_step_input(estimator, X_t, n_streams, dtype)
    raw, new_layers = network.step(engine.unpacked, x, layers)
    new_state = {"cell": network.cell.name}
    for index, name in enumerate(network.cell.state_names):
        new_state[name] = tuple(states[index] for states in new_layers)
    return raw, new_state
