"""The estimator machinery shared by the estimators of every cell.

Parameters, the fitted state and its persistence, the first call of a fit
(network, weights, stopping counters) and prediction: validate, run the
inference engine, apply the output activation. The epoch loop lives in
``_training``, the inference path in ``_inference``, the regressor and
classifier logic in ``_estimators``; a cell's estimators (``_lstm``,
``_gru``) add only their cell, its parameters and its weights property.
"""

import functools
import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _doc_links, _numerics, _streaming
from ._callbacks import CallbackSupportMixin
from ._inference import InferenceEngine
from ._losses import OUTPUT_ACTIVATIONS
from ._network import RecurrentNetwork, aligned_copy, is_aligned
from ._step_targets import StepTargets, flatten_steps, unflatten_steps
from ._threads import _blas_limit
from ._training import EpochLoop
from ._validation import (
    InputForm,
    cast_finite,
    check_one_target_per_sequence,
    check_sample_weight,
    check_sequences,
    check_targets_given,
)
from ._validation_set import ValidationSet, check_validation_arguments
from ._version import __version__
from .exceptions import InconsistentVersionWarning


def _physical_memory():
    """Bytes of physical memory of this machine, or None where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _format_bytes(n_bytes):
    value = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _check_memory(n_bytes, hidden_layer_sizes):
    """Refuse, before allocating anything, a fit whose weights and training
    buffers cannot fit in this machine's memory."""
    available = _physical_memory()
    if available is not None and n_bytes > available:
        raise ValueError(
            f"This network (hidden_layer_sizes={hidden_layer_sizes!r}) needs at "
            f"least {_format_bytes(n_bytes)} for its weights and training "
            f"buffers, more than this machine's {_format_bytes(available)} of "
            "memory. Use fewer or smaller layers, a smaller batch_size or "
            "shorter sequences."
        )


@functools.lru_cache(maxsize=64)
def _cached_network(config):
    """The (stateless) network for a configuration tuple, built once."""
    return RecurrentNetwork(*config)


class BaseRecurrent(CallbackSupportMixin, EpochLoop, BaseEstimator):
    """Base class of the recurrent estimators.

    A subclass names its cell in ``_cell`` (a key of ``_cells.CELLS``) and
    may add parameters of the cell, passed to the network's initialisation
    by :meth:`_cell_params`.
    """

    _cell = None

    # The notebook representation's links to the API pages (see _doc_links).
    _doc_link_module = "skseq"

    @property
    def _doc_link_template(self):
        url = _doc_links.documentation_url()
        return getattr(self, "__doc_link_template", _doc_links.doc_link_template(url))

    @_doc_link_template.setter
    def _doc_link_template(self, value):
        setattr(self, "__doc_link_template", value)

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions({"tanh", "relu"})],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "scoring": [str, callable, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "return_sequences": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        scoring,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_grad_norm,
        bidirectional,
        dropout,
        return_sequences,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_grad_norm = max_grad_norm
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.return_sequences = return_sequences

    # -------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_workspace", None)  # scratch buffers, not fitted state
        state.pop("_engine", None)  # made again from weights_
        state["_skseq_version"] = __version__
        return state

    def __setstate__(self, state):
        saved_version = state.pop("_skseq_version", "pre-0.1")
        if saved_version != __version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_skseq_version=__version__,
                    original_skseq_version=saved_version,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)
        weights = self.__dict__.get("weights_")
        if isinstance(weights, np.ndarray) and weights.ndim == 1:
            if not is_aligned(weights):
                # As fit leaves them (see _network.WEIGHT_ALIGNMENT); unpickled
                # arrays are aligned to 16 bytes at most.
                self.weights_ = aligned_copy(weights, weights.dtype)
            if "_network_config" in self.__dict__:
                if len(self._network_config) == 5:
                    # Saved before the network named its cell.
                    self._network_config = (*self._network_config, self._cell)
                if len(self._network_config) == 6:
                    # Saved before per-step outputs.
                    self._network_config = (*self._network_config, False)
                self._keep_inference_engine()

    # ------------------------------------------------------------ weights
    @property
    def _network(self):
        return _cached_network(self._network_config)

    def _cell_params(self, dtype):
        """Parameters of the cell for the network's initialisation, checked
        for a model of ``dtype``."""
        return {}

    def _layer_weights(self):
        """Per layer, a dict of views ``kernel``, ``recurrent_kernel`` and
        ``bias`` in the Keras layout of the cell; for a bidirectional network
        also ``kernel_reverse``, ``recurrent_kernel_reverse`` and
        ``bias_reverse`` for the direction that reads sequences backwards.
        The cells' weights properties (``lstm_weights_``, ...) return it."""
        check_is_fitted(self)
        layers, _, _ = self._network.unpack(self.weights_)
        result = []
        for directions in layers:
            weights = {}
            for suffix, unit in zip(
                ("", "_reverse")[: len(directions)], directions, strict=True
            ):
                weights["kernel" + suffix] = unit.kernel
                weights["recurrent_kernel" + suffix] = unit.recurrent_kernel
                weights["bias" + suffix] = unit.bias
            result.append(weights)
        return result

    @property
    def head_coef_(self):
        """Weights of the output layer, shape (n_directions * H_last, n_outputs):
        rows for the forward direction first, then (bidirectional) the reverse."""
        check_is_fitted(self)
        return self._network.unpack(self.weights_)[1]

    @property
    def head_intercept_(self):
        """Bias of the output layer, shape (n_outputs,)."""
        check_is_fitted(self)
        return self._network.unpack(self.weights_)[2]

    def __sklearn_is_fitted__(self):
        # check_is_fitted would otherwise scan every attribute on each call.
        return hasattr(self, "weights_")

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if (
            type(sizes) is tuple
            and sizes
            and all(type(s) is int for s in sizes)
            and min(sizes) >= 1
        ):
            return sizes  # the common case, without the checks below
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        sizes = tuple(sizes)
        if len(sizes) == 0 or not all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a positive integer or a non-empty "
                f"sequence of positive integers; got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    # ------------------------------------------------------------ fitting
    def _record_input(self, form):
        """Record the form of fit's ``X`` (an ``InputForm``), which later
        calls are held to. For a 2-D X, scikit-learn's ``validate_data`` has
        recorded ``n_features_in_`` and ``feature_names_in_`` itself."""
        self._sequence_n_features = form.n_features
        self._fitted_on_2d = form.tabular
        if form.tabular:
            return
        self.n_features_in_ = form.n_features
        if form.feature_names is not None:
            self.feature_names_in_ = form.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _fitted_input(self):
        """The ``InputForm`` recorded by fit."""
        return InputForm(
            self._sequence_n_features,
            self._fitted_on_2d,
            getattr(self, "feature_names_in_", None),
        )

    def _fit(
        self, X, y, sample_weight, *, incremental, classes=None, X_val=None,
        y_val=None, sample_weight_val=None,
    ):  # fmt: skip
        given_validation = check_validation_arguments(
            self, X_val, y_val, sample_weight_val
        )
        arguments = (X, y, sample_weight)
        hidden_sizes = self._hidden_sizes()
        first_call = not (
            (self.warm_start or incremental) and hasattr(self, "weights_")
        )
        sequences, input_form = check_sequences(
            self, X, fitted=None if first_call else self._fitted_input(),
            model_dtype=None if first_call else self.weights_.dtype,
        )  # fmt: skip
        dtype = sequences.dtype
        if self.return_sequences:
            y = self._validate_step_targets(
                y, sequences, incremental, first_call, classes, dtype
            )
            class_sample_weight = None  # in the per-step weights of y
        else:
            check_one_target_per_sequence(y)
            y, class_sample_weight = self._validate_targets(
                y, len(sequences), incremental, first_call, classes
            )
            y = cast_finite(y, dtype, "y")
        n_outputs = y.n_outputs if self.return_sequences else y.shape[1]
        sample_weight = check_sample_weight(sample_weight, len(sequences), dtype)
        if self.return_sequences:
            y.check_weights(sample_weight)
        if class_sample_weight is not None:
            with np.errstate(over="ignore"):
                class_sample_weight = class_sample_weight.astype(dtype)
                if sample_weight is not None:
                    class_sample_weight *= sample_weight
            sample_weight = check_sample_weight(
                class_sample_weight, len(sequences), dtype,
                name="sample_weight * class_weight",
            )  # fmt: skip
        # Learnt from a first call's targets; kept only once every check has
        # passed, with the weights it belongs to.
        scaling = self._target_scaling_of(y, sample_weight) if first_call else None
        validation = None
        if given_validation:
            validation = self._check_validation_set(
                X_val, y_val, sample_weight_val,
                input_form if first_call else self._fitted_input(), dtype, n_outputs,
                scaling,
            )  # fmt: skip

        if first_call:
            self._record_input(input_form)
            cell_params = self._cell_params(dtype)
            self._random_state = check_random_state(self.random_state)
            self.n_outputs_ = n_outputs
            self._network_config = (
                sequences.n_features,
                hidden_sizes,
                self.n_outputs_,
                self.activation,
                bool(self.bidirectional),
                self._cell,
                bool(self.return_sequences),
            )
            _check_memory(
                self._network.training_nbytes(
                    self._batch_rows(len(sequences)), sequences.n_timesteps,
                    np.dtype(dtype).itemsize,
                ),
                self.hidden_layer_sizes,
            )  # fmt: skip
            self.weights_ = self._network.initialize(
                self._random_state,
                dtype,
                max_length=int(sequences.lengths.max()),
                **cell_params,
            )
            self._keep_target_scaling(scaling)
        else:
            config = (
                sequences.n_features,
                hidden_sizes,
                n_outputs,
                self.activation,
                bool(self.bidirectional),
                self._cell,
                bool(self.return_sequences),
            )
            if config != self._network_config:
                raise ValueError(
                    "warm_start or partial_fit cannot change the network: it was "
                    f"built as (n_features, hidden_layer_sizes, n_outputs, "
                    f"activation, bidirectional, cell, return_sequences) = "
                    f"{self._network_config}, now {config}. Refit from scratch "
                    "(warm_start=False)."
                )
        self._start_training_state(first_call, incremental)
        # The early-stopping scores of the loop and later predictions use it.
        self._keep_inference_engine()
        with _blas_limit(stacked_training=len(hidden_sizes) > 1):
            self._fit_stochastic(
                sequences, y, sample_weight, incremental, arguments, validation
            )
        return self

    def _validate_step_targets(
        self, y, sequences, incremental, first_call, classes, dtype
    ):
        """``y`` with one target per time step (``return_sequences``) as
        StepTargets: each real step's target validated and encoded as
        ``_validate_targets`` does a sample's, class weights per step."""
        check_targets_given(self, y)
        flat = flatten_steps(y, sequences, multi_output=self._per_step_outputs)
        Y, class_weight = self._validate_targets(
            flat, len(flat), incremental, first_call, classes
        )
        Y = cast_finite(Y, dtype, "y")
        if class_weight is not None:
            class_weight = class_weight.astype(dtype)
        return StepTargets.from_flat(
            Y, sequences.lengths, sequences.n_timesteps, class_weight
        )

    def _encode_targets_of(self, y, sequences, dtype, name, per_step):
        """Targets of validation or scoring data, encoded as in training:
        a 2-D array, or StepTargets for a ``per_step`` model."""
        if not per_step:
            return cast_finite(
                self._encode_validation_targets(y, len(sequences)), dtype, name
            )
        flat = flatten_steps(
            y, sequences, multi_output=self._per_step_outputs, name=name
        )
        Y = cast_finite(self._encode_validation_targets(flat, len(flat)), dtype, name)
        return StepTargets.from_flat(Y, sequences.lengths, sequences.n_timesteps)

    def _check_validation_set(
        self, X_val, y_val, sample_weight_val, form, dtype, n_outputs, scaling=None
    ):
        """The ValidationSet of ``X_val``, ``y_val`` and ``sample_weight_val``,
        held to the rules of fit's ``X`` (``form``, the model's ``dtype``),
        ``y`` (``n_outputs`` columns once encoded) and ``sample_weight``."""
        try:
            sequences, _ = check_sequences(self, X_val, fitted=form, model_dtype=dtype)
            Y = self._encode_targets_of(
                y_val, sequences, dtype, "y_val", bool(self.return_sequences)
            )
            given = Y.n_outputs if isinstance(Y, StepTargets) else Y.shape[1]
            if given != n_outputs:
                raise ValueError(
                    f"y has {n_outputs} outputs (columns), but y_val has {given}."
                )
            Y = self._scale_targets(Y, scaling)
            weights = check_sample_weight(
                sample_weight_val, len(sequences), dtype, name="sample_weight_val"
            )
        except (TypeError, ValueError) as exc:
            if type(exc) not in (TypeError, ValueError):
                raise
            raise type(exc)(f"In the validation set (X_val, y_val): {exc}") from exc
        return ValidationSet(sequences, Y, weights, source=(X_val, y_val, None))

    # --------------------------------------------------------- prediction
    def _check_score_weight(self, X, sample_weight):
        """``score``'s sample weights, held to the rules of ``fit``'s."""
        if sample_weight is None:
            return None
        n_samples = len(X) if hasattr(X, "__len__") else np.asarray(X).shape[0]
        return check_sample_weight(sample_weight, n_samples, np.float64)

    def _inference_engine(self):
        """The inference engine of the fitted network and ``weights_``: the
        one kept by fit (or unpickling) while it serves them, otherwise a new
        one for this call (predict leaves the estimator unchanged)."""
        network = self._network
        weights = self.weights_
        engine = self.__dict__.get("_engine")
        if engine is not None and engine.serves(network, weights):
            return engine
        return InferenceEngine(network, weights)

    def _keep_inference_engine(self):
        """Keep an inference engine for ``weights_``, unless the kept one
        still serves them (training updates the weights in place)."""
        self._engine = self._inference_engine()

    def _forward_raw(self, sequences):
        """Raw outputs for validated sequences; of a per-step model, one row
        per real step (sequence by sequence, oldest step first)."""
        return self._inference_engine().forward(sequences)

    def _per_step(self):
        """Whether the fitted model predicts at every step."""
        if "weights_" not in self.__dict__:
            check_is_fitted(self)  # raises NotFittedError
        return self._network.per_step

    def _predict_steps(self, X, activate=True):
        """The outputs (activated, or raw if not ``activate``) of a per-step
        model at every real step of ``X``, one row per step, and the
        validated sequences."""
        sequences, _ = check_sequences(
            self, X, fitted=self._fitted_input(), model_dtype=self.weights_.dtype
        )
        raw = self._forward_raw(sequences)
        _check_finite_output(raw)
        if not activate:
            return raw, sequences
        return self._activate(raw), sequences

    def _per_step_form(self, flat, sequences):
        """Per-step rows in the layout of ``X``: (n_samples, n_timesteps,
        ...) for sequences of one length, a list of per-sequence arrays for
        ragged ``X``."""
        return unflatten_steps(
            flat, sequences.lengths, sequences.n_timesteps, sequences.ragged
        )

    def _predict_output(self, X):
        return self._activate(self._predict_raw(X))

    def _activate(self, raw):
        """The model's outputs from the output layer's raw values."""
        return OUTPUT_ACTIVATIONS[self.out_activation_](raw)

    # Training targets as the network learns them: the regressors scale
    # theirs (see BaseRecurrentRegressor); a classifier's are its encoded
    # labels as they are.
    def _target_scaling_of(self, y, sample_weight):
        """The scaling of the targets learnt from a first call's encoded
        ``y``, which :meth:`_keep_target_scaling` keeps."""
        return None

    def _keep_target_scaling(self, scaling):
        pass

    def _scale_targets(self, y, scaling=None):
        """Encoded targets (an array or StepTargets) as the network learns
        them, by ``scaling`` (None: the model's own)."""
        return y

    def _unscale_targets(self, rows):
        """Rows of scaled targets back in the units of the encoded targets."""
        return rows

    def _predict_raw(self, X):
        """The output layer's values before its activation, one row per
        sequence of ``X``."""
        if "weights_" not in self.__dict__:
            check_is_fitted(self)  # raises NotFittedError
        engine = self._inference_engine()
        # A few equal-length sequences in a C-contiguous array of the weights'
        # dtype: one compiled call, which declines (None) any other input;
        # that is validated and run below. A model fitted on sequences with
        # feature names skips it: an array has none, which validation warns
        # about.
        raw = None
        if self._fitted_on_2d or "feature_names_in_" not in self.__dict__:
            raw = engine.predict_small(X)
        if raw is None:
            sequences, _ = check_sequences(
                self, X, fitted=self._fitted_input(), model_dtype=self.weights_.dtype
            )
            raw = engine.forward(sequences)
        _check_finite_output(raw)
        return raw

    # ---------------------------------------------------------- streaming
    def initial_state(self, n_streams):
        """The state of ``n_streams`` streams before their first step.

        Streaming runs a fitted one-direction model one time step at a time
        (see :meth:`predict_step`). The state is plain NumPy: a dict with
        the cell's name under ``"cell"`` and, per state the cell carries
        (``"h"``, and ``"c"`` for the LSTM), a tuple of one array of shape
        (n_streams, H) per layer, of the model's dtype; zeros here. It can
        be pickled and copied; the estimator never changes it.

        Parameters
        ----------
        n_streams : int
            Number of sequences to run side by side, >= 1.

        Returns
        -------
        state : dict
            The state to pass to the first :meth:`predict_step`.

        Raises
        ------
        ValueError
            If the model is bidirectional (its backward direction needs the
            whole sequence).
        """
        return _streaming.initial_state(self, n_streams)

    def _step_output(self, X_t, state):
        """The output (activated) after one more step, and the new state."""
        raw, new_state = _streaming.step_raw(self, X_t, state)
        if not _numerics.all_finite(raw.reshape(-1)):
            # The state's values are not checked on the way in (that would
            # double the cost of a small step): a non-finite one shows here.
            _streaming.check_state_finite(state)
            _check_finite_output(raw)
        return self._activate(raw), new_state


def _check_finite_output(raw):
    """Finite input can still overflow inside the network (relu cells grow
    without bound); such an output is an error, never a NaN returned."""
    if not _numerics.all_finite(raw.reshape(-1)):
        raise _output_overflow()


def _output_overflow():
    """The error of outputs that overflow: inside the network, or when a
    regressor scales them back to the units of its targets."""
    return ValueError(
        "The network's output overflowed for some of the input sequences: "
        "their values are too large for this model. Scale the input (e.g. "
        "with a StandardScaler fitted on the training data)."
    )


# The name the LSTM-only code and tests knew; it is the same class.
BaseLSTM = BaseRecurrent
