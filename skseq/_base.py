"""The estimator machinery shared by LSTMRegressor and LSTMClassifier.

Validation, weight initialisation, the epoch loop (shuffle indices, batches,
optimizer steps, loss curve, stopping rules), prediction in blocks, and the
loss functions. The arithmetic of one batch lives in ``_network``; this module
never touches a pointer.
"""

import contextlib
import functools
import hashlib
import math
import os
import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import expit, xlogy
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from . import _lstm_layer, _numerics, _openmp_helpers
from ._network import LSTMNetwork, aligned_copy, is_aligned, usable_cores
from ._optimizers import AdamOptimizer, SGDOptimizer
from ._validation import cast_finite, check_sample_weight, check_sequences
from ._version import __version__
from .exceptions import InconsistentVersionWarning

# -------------------------------------------------------------- output & loss


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


OUTPUT_ACTIVATIONS = {"identity": lambda z: z, "logistic": expit, "softmax": _softmax}


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


# Each output activation is paired with its canonical loss, for which the
# gradient with respect to the raw output is (prediction - target) per sample.
# The identity's, the squared error, is computed with its gradient by
# _numerics.squared_error.
LOSSES = {"softmax": _log_loss, "logistic": _binary_log_loss}


# ------------------------------------------------------------------- threads


@functools.cache
def _blas_controllers():
    """threadpoolctl's handles on the BLAS libraries loaded in this process.

    The compiled core imports SciPy's BLAS, and NumPy's is loaded with NumPy,
    so both are known by the time this first runs.
    """
    return ThreadpoolController().select(user_api="blas").lib_controllers


def _batches(n_samples, batch_size):
    """Slices of consecutive batches, the last one possibly smaller (what
    ``sklearn.utils.gen_batches`` gives, without its per-call parameter
    validation, which costs more than a one-sequence prediction)."""
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


class _SingleThreadedBLAS:
    """Limit BLAS to one thread inside the block, then restore it.

    The core splits the work between its own threads, each calling BLAS on
    its chunk; BLAS threads of their own would oversubscribe the cores. This
    does what ``threadpool_limits(1, user_api="blas")`` does, with the
    library handles looked up once instead of on every call (which costs
    tens of microseconds, more than a one-sequence prediction).
    """

    __slots__ = ("_saved",)

    def __enter__(self):
        self._saved = []
        for controller in _blas_controllers():
            n_threads = controller.get_num_threads()
            if n_threads != 1:
                controller.set_num_threads(1)
                self._saved.append((controller, n_threads))
        return self

    def __exit__(self, *exc_info):
        for controller, n_threads in self._saved:
            controller.set_num_threads(n_threads)


_NO_LIMIT = contextlib.nullcontext()


def _blas_limit(stacked_training=False):
    """The BLAS limit a pass needs. With the packed kernels, a prediction and a
    one-layer network's training step call no BLAS (the head, the gradient
    norm and the losses included; BLAS only stands in when memory to pack a
    matrix is short), so there is nothing to limit and the threadpoolctl
    calls are saved. The core calls BLAS from its threads for the input
    gradient of stacked layers, and for every product without the kernels."""
    if _lstm_layer.packed_gemm_level() > 0 and not stacked_training:
        return _NO_LIMIT
    return _SingleThreadedBLAS()


def effective_n_threads():
    """Threads for the compiled core, following scikit-learn's OpenMP rule.

    All usable cores by default (cgroup quotas and CPU affinity respected via
    joblib), bounded by ``OMP_NUM_THREADS`` and by threadpoolctl limits on
    the OpenMP runtime. joblib's workers get ``cpu_count() // n_jobs``
    threads each, so parallel model selection does not oversubscribe.
    """
    return _openmp_helpers.openmp_effective_threads(usable_cores())


# See the stall rule in _fit_stochastic.
MIN_STEPS_PER_STALL_EPOCH = 10

# Early stopping needs at least this many distinct samples held out: a score
# of one sample says little, and R^2 is undefined for it.
MIN_VALIDATION_SAMPLES = 2

# Bytes of buffers a prediction may hold at once (it runs in blocks of rows).
PREDICT_MEMORY_BUDGET = 256 << 20

# partial_fit keeps its training buffers (and gradient) for the next call when
# they take at most this many bytes. For small batches, allocating and viewing
# them again costs a noticeable part of the step; for large ones, the kernel
# zeroes every fresh page on first touch, a cost more threads do not shrink:
# a step of 256 sequences x 100 steps, 256 units (~186 MB of buffers) took
# 174 ms on 2 threads with new buffers, 148 ms with kept ones (301 and 279 ms
# on one thread). Above this, the memory held between calls would outweigh
# that.
KEEP_WORKSPACE_BYTES = 256 << 20


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
    return LSTMNetwork(*config)


def _partial_fit_context(partial_fit):
    """scikit-learn's ``_fit_context`` for ``partial_fit``, entered until the
    estimator is fitted.

    On a fitted estimator scikit-learn's decorator validates nothing (it does
    not validate the parameters again in ``partial_fit``); it only enters a
    configuration and a callback context that skseq's training step never
    reads. Entering them costs about 10 microseconds per call, a few percent
    of a small batch's whole step, so later calls go straight to the method.
    """
    first_call = _fit_context(prefer_skip_nested_validation=True)(partial_fit)

    @functools.wraps(partial_fit)
    def wrapper(self, *args, **kwargs):
        if "weights_" in self.__dict__:
            return partial_fit(self, *args, **kwargs)
        return first_call(self, *args, **kwargs)

    return wrapper


# ----------------------------------------------------------------- estimator


class BaseLSTM(BaseEstimator):
    """Base class for LSTM estimators. Use LSTMRegressor or LSTMClassifier."""

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
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "forget_bias": [Interval(Real, None, None, closed="neither")],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
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
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_grad_norm,
        forget_bias,
        bidirectional,
        dropout,
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
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_grad_norm = max_grad_norm
        self.forget_bias = forget_bias
        self.bidirectional = bidirectional
        self.dropout = dropout

    # -------------------------------------------------------- persistence
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_workspace", None)  # scratch buffers, not fitted state
        state.pop("_weight_views", None)  # views of weights_, made again
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
                self._keep_weight_views()

    # ------------------------------------------------------------ weights
    @property
    def _network(self):
        return _cached_network(self._network_config)

    @property
    def lstm_weights_(self):
        """Per layer, a dict of views ``kernel`` (n_in, 4H), ``recurrent_kernel``
        (H, 4H) and ``bias`` (4H,), gate blocks in the order i, f, g, o; for a
        bidirectional network also ``kernel_reverse``, ``recurrent_kernel_reverse``
        and ``bias_reverse`` for the direction that reads sequences backwards."""
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
    def _fit(self, X, y, sample_weight, *, incremental, classes=None):
        hidden_sizes = self._hidden_sizes()
        first_call = not (
            (self.warm_start or incremental) and hasattr(self, "weights_")
        )
        sequences = check_sequences(
            self, X, reset=first_call,
            model_dtype=None if first_call else self.weights_.dtype,
        )  # fmt: skip
        dtype = sequences.data.dtype
        y, class_sample_weight = self._validate_targets(
            y, len(sequences), incremental, first_call, classes
        )
        y = cast_finite(y, dtype, "y")
        sample_weight = check_sample_weight(sample_weight, len(sequences), dtype)
        if class_sample_weight is not None:
            with np.errstate(over="ignore"):
                class_sample_weight = class_sample_weight.astype(dtype)
                if sample_weight is not None:
                    class_sample_weight *= sample_weight
            sample_weight = check_sample_weight(
                class_sample_weight, len(sequences), dtype,
                name="sample_weight * class_weight",
            )  # fmt: skip

        if first_call:
            _check_forget_bias(self.forget_bias, dtype)
            self._random_state = check_random_state(self.random_state)
            self.n_outputs_ = y.shape[1]
            self._network_config = (
                sequences.n_features,
                hidden_sizes,
                self.n_outputs_,
                self.activation,
                bool(self.bidirectional),
            )
            _check_memory(
                self._network.training_nbytes(
                    self._batch_rows(len(sequences)), sequences.data.shape[1],
                    np.dtype(dtype).itemsize,
                ),
                self.hidden_layer_sizes,
            )  # fmt: skip
            self.weights_ = self._network.initialize(
                self._random_state, dtype, self.forget_bias
            )
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self._solver_state = None
            if self.early_stopping and not incremental:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.validation_scores_ = None
                self.best_validation_score_ = None
                self.best_loss_ = np.inf
        else:
            config = (
                sequences.n_features,
                hidden_sizes,
                y.shape[1],
                self.activation,
                bool(self.bidirectional),
            )
            if config != self._network_config:
                raise ValueError(
                    "warm_start or partial_fit cannot change the network: it was "
                    f"built as (n_features, hidden_layer_sizes, n_outputs, "
                    f"activation, bidirectional) = {self._network_config}, now "
                    f"{config}. Refit from scratch (warm_start=False)."
                )
            if not incremental:
                # A warm-started fit is a new run of epochs from the current
                # weights: its stopping rule starts afresh.
                self._no_improvement_count = 0
                if self.early_stopping:
                    self.validation_scores_ = []
                    self.best_validation_score_ = -np.inf
                    self.best_loss_ = None
                elif self.best_loss_ is None:
                    self.best_loss_ = np.inf

        with _blas_limit(stacked_training=len(hidden_sizes) > 1):
            self._fit_stochastic(sequences, y, sample_weight, incremental)
        self._keep_weight_views()
        return self

    def _keep_weight_views(self):
        """Keep ``network.unpack(weights_)``, and the network's small-batch
        predictor bound to these views, for predictions (made here, not in
        predict, which must leave the estimator unchanged). The weights are
        updated in place, so both stay valid until ``weights_`` is another
        array; predictions check that it is not."""
        views = self.__dict__.get("_weight_views")
        weights = self.weights_
        if views is None or views[0] is not weights:
            network = self._network
            unpacked = network.unpack(weights)
            predictor = network.small_batch_predictor(weights, unpacked)
            self._weight_views = (weights, unpacked, predictor)

    def _batch_rows(self, n_samples):
        """Sequences per optimizer step for a training set of ``n_samples``."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        return max(1, min(int(self.batch_size), n_samples))

    def _make_optimizer(self, weights):
        if self.solver == "adam":
            return AdamOptimizer(
                weights, self.learning_rate_init, beta_1=self.beta_1,
                beta_2=self.beta_2, epsilon=self.epsilon, state=self._solver_state,
            )  # fmt: skip
        return SGDOptimizer(
            weights, self.learning_rate_init, learning_rate=self.learning_rate,
            momentum=self.momentum, nesterov=self.nesterovs_momentum,
            power_t=self.power_t, state=self._solver_state,
        )  # fmt: skip

    def _fit_stochastic(self, sequences, y, sample_weight, incremental):
        early_stopping = self.early_stopping and not incremental
        n_samples = len(sequences)
        split = (
            self._validation_split(sequences, y, sample_weight)
            if early_stopping
            else None
        )
        if early_stopping and split is None:
            warnings.warn(
                f"early_stopping=True needs a validation set of at least "
                f"{MIN_VALIDATION_SAMPLES} distinct samples and a training set beside "
                f"it; {n_samples} samples with validation_fraction="
                f"{self.validation_fraction} give none, so this fit trains on all "
                "samples without early stopping.",
                UserWarning,
                stacklevel=3,
            )
            early_stopping = False
            self.validation_scores_ = self.best_validation_score_ = None
        if not early_stopping and self.best_loss_ is None:
            # partial_fit after a fit with early stopping, or its fallback.
            self.best_loss_ = np.inf
        if early_stopping:
            train_idx, val_idx = split
            val_sequences, y_val = sequences.take(val_idx), y[val_idx]
            sw_val = None if sample_weight is None else sample_weight[val_idx]
            sequences, y = sequences.take(train_idx), y[train_idx]
            if sample_weight is not None:
                sample_weight = sample_weight[train_idx]
            n_samples = len(sequences)

        if (
            self.batch_size != "auto"
            and self.batch_size > n_samples
            and not incremental
        ):
            warnings.warn(
                f"Got batch_size={self.batch_size} larger than the number of "
                f"samples ({n_samples}); it is clipped to {n_samples}.",
                UserWarning,
                stacklevel=3,
            )
        batch_size = self._batch_rows(n_samples)
        # With early stopping, the patience of n_iter_no_change epochs counts
        # epochs of at least MIN_STEPS_PER_STALL_EPOCH optimizer steps: on
        # small data an epoch is one or two steps, too few for the validation
        # score to leave the plateau at the start of recurrent learning.
        patience = self.n_iter_no_change
        if early_stopping:
            steps_per_epoch = -(-n_samples // batch_size)
            patience *= -(-MIN_STEPS_PER_STALL_EPOCH // steps_per_epoch)

        network = self._network
        weights = self.weights_
        optimizer = self._make_optimizer(weights)
        workspace = self._training_workspace(
            network, batch_size, sequences.data.shape[1], weights.dtype, incremental
        )
        grad = workspace.gradient_like(weights)
        n_threads = effective_n_threads()
        sample_idx = np.arange(n_samples)
        # The weights and solver state of this run's best epoch, by validation
        # score with early stopping, otherwise by training loss: what the run
        # comes back to when it ends (early stopping) or diverges. A
        # partial_fit call runs one epoch and keeps none.
        best = None if incremental else _Snapshot()
        # As MLP: n_iter_ counts the epochs of this call; t_ and loss_curve_
        # keep counting across warm starts and partial_fit calls.
        self.n_iter_ = 0
        run_start = len(self.loss_curve_)

        for _epoch in range(self.max_iter):
            start_time = time.perf_counter()
            if self.shuffle:
                self._random_state.shuffle(sample_idx)
            accumulated_loss = 0.0
            try:
                for batch in _batches(n_samples, batch_size):
                    batch_idx = sample_idx[batch]
                    batch_loss = self._train_batch(
                        network, weights, grad, workspace, optimizer, sequences, y,
                        sample_weight, batch_idx, n_threads,
                    )  # fmt: skip
                    accumulated_loss += batch_loss * len(batch_idx)
                    # Per batch, so that it counts the samples of the steps
                    # taken when a refused step ends the fit mid-epoch.
                    self.t_ += len(batch_idx)
            except _RefusedStep as refused:
                self._solver_state = optimizer.state()
                where = (
                    "The weights and the solver's state were left at their last "
                    "finite values, those before that step"
                )
                if early_stopping and best.weights is not None:
                    self._solver_state = best.restore(weights)
                    epoch = int(np.argmax(self.validation_scores_)) + 1
                    where = (
                        "The weights and the solver's state of the epoch with the "
                        f"best validation score (epoch {epoch}) were restored"
                    )
                raise ValueError(
                    self._divergence_message(str(refused), where)
                ) from None
            self.n_iter_ += 1
            self.loss_ = float(accumulated_loss / n_samples)
            self.loss_curve_.append(self.loss_)

            if early_stopping:
                score = self._validation_score(val_sequences, y_val, sw_val)
                self.validation_scores_.append(score)
                # -inf (non-finite outputs) never improves, even on -inf.
                if score < self.best_validation_score_ + self.tol or score == -np.inf:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best.keep(weights, optimizer.state(), self.loss_)
            else:
                if best is not None and self.loss_ < best.loss:
                    best.keep(weights, optimizer.state(), self.loss_)
                if self.loss_ > self.best_loss_ - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                self.best_loss_ = min(self.best_loss_, self.loss_)

            if self.verbose:
                message = f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}"
                if early_stopping:
                    message += f", validation score = {score:.6f}"
                print(message + f", {time.perf_counter() - start_time:.3f} s")

            optimizer.iteration_ends(self.t_)
            self._solver_state = optimizer.state()
            if self._no_improvement_count > patience:
                what = "Validation score" if early_stopping else "Training loss"
                message = (
                    f"{what} did not improve more than tol={self.tol:f} for "
                    f"{patience} consecutive epochs."
                )
                if optimizer.trigger_stopping(message, self.verbose):
                    break
                self._no_improvement_count = 0
                self._solver_state = optimizer.state()
            if incremental:
                break
        else:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if best is not None:
            self._end_run(weights, best, self.loss_curve_[run_start:], early_stopping)

    def _end_run(self, weights, best, loss_curve, early_stopping):
        """Come back to the best epoch of a fit's run (``best``, a _Snapshot)
        when early stopping ends it, or when it diverged.

        Diverged: the last epoch's training loss is above the first's and more
        than DIVERGED_LOSS_RATIO times the lowest of the run. The weights and
        solver state of the best epoch are then restored (with early stopping,
        they already are) and a ConvergenceWarning says so, so that a fit
        never ends as if it had converged on a loss that exploded.
        """
        if early_stopping:
            if best.weights is None:
                raise ValueError(
                    self._divergence_message(
                        "The outputs on the validation data were non-finite at "
                        f"every epoch (the last {len(loss_curve)})",
                        "The weights and the solver's state are those of the last "
                        "epoch",
                    )
                )
            self._solver_state = best.restore(weights)
        last, lowest = loss_curve[-1], min(loss_curve)
        if not (last > loss_curve[0] and last > DIVERGED_LOSS_RATIO * lowest):
            return
        if not early_stopping:
            self._solver_state = best.restore(weights)
        kept = "best validation score" if early_stopping else "lowest training loss"
        warnings.warn(
            self._divergence_message(
                f"The training loss diverged: it ended at {last:.6g}, more than "
                f"{DIVERGED_LOSS_RATIO:g} times its lowest of this fit ({lowest:.6g}"
                f" at epoch {loss_curve.index(lowest) + 1} of {len(loss_curve)})",
                f"The weights and the solver's state of the epoch with the {kept} "
                "were restored",
            ),
            ConvergenceWarning,
            stacklevel=4,
        )

    def _divergence_message(self, what, where):
        return (
            f"{what}. {where}. Likely causes: a learning rate too large "
            f"(learning_rate_init={self.learning_rate_init}), unscaled targets or "
            "features (try a StandardScaler), or activation='relu' without "
            "gradient clipping (max_grad_norm)."
        )

    def _validation_score(self, sequences, y, sample_weight):
        """The early-stopping score of the current weights on the validation
        part; -inf, the worst there is, when an output is not finite (a
        diverging fit)."""
        raw = self._forward_raw(sequences)
        if not _numerics.all_finite(raw.reshape(-1)):
            return -np.inf
        # Outputs far from the targets can overflow the score's sums.
        with np.errstate(over="ignore", invalid="ignore"):
            score = float(self._score_outputs(raw, y, sample_weight))
        return score if math.isfinite(score) else -np.inf

    def _training_workspace(self, network, n_rows, n_timesteps, dtype, keep):
        """Training buffers for batches of ``n_rows`` sequences of at most
        ``n_timesteps`` steps: the ones kept by the previous partial_fit call
        if they are large enough, otherwise new ones (kept for the next call
        when ``keep`` and small)."""
        kept = self.__dict__.pop("_workspace", None)
        if (
            kept is not None
            and kept[0] == self._network_config
            and kept[1].fits(n_rows, n_timesteps, dtype)
        ):
            workspace = kept[1]
        else:
            workspace = network.allocate(n_rows, n_timesteps, dtype, training=True)
        # It will also hold a gradient array as large as the weights.
        held = workspace.nbytes + self.weights_.nbytes
        if keep and held <= KEEP_WORKSPACE_BYTES:
            self._workspace = (self._network_config, workspace)
        return workspace

    def _validation_split(self, sequences, y, sample_weight):
        """(train_idx, val_idx) for early stopping, or None when the data are
        too few to hold out a validation set.

        Each sample's side is decided by its content, not its position: the
        samples are ordered by a hash of their values keyed with a seed drawn
        from ``random_state``, and identical samples form one group that is
        never split. Groups are taken in that order into the validation set
        while its weight stays nearest ``validation_fraction`` of the total,
        separately for each class of a single-output classifier (a stratified
        split). So duplicated samples cannot leak from the training set into
        the validation set, and a sample of weight k is held out exactly when
        k copies of it would be, as fitting with sample weights must be
        equivalent to fitting on repeated samples.
        """
        n_samples = len(sequences)
        weights = np.ones(n_samples) if sample_weight is None else sample_weight
        seed = self._random_state.randint(np.iinfo(np.int32).max).to_bytes(8, "little")
        keys = np.empty(n_samples, dtype=np.uint64)
        for i in range(n_samples):
            digest = hashlib.blake2b(digest_size=8, key=seed)
            digest.update(sequences.data[i, : sequences.lengths[i]].tobytes())
            digest.update(y[i].tobytes())
            keys[i] = int.from_bytes(digest.digest(), "little")
        if self._is_classifier_single_output():
            strata = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0]
        else:
            strata = np.zeros(n_samples)
        in_validation = np.zeros(n_samples, dtype=bool)
        n_distinct = 0  # distinct samples of positive weight held out
        for stratum in np.unique(strata):
            members = np.flatnonzero(strata == stratum)
            members = members[np.argsort(keys[members], kind="stable")]
            _, starts = np.unique(keys[members], return_index=True)
            group_weights = np.add.reduceat(weights[members], starts)
            target = self.validation_fraction * group_weights.sum()
            held = 0.0
            ends = np.append(starts[1:], len(members))
            for start, end, weight in zip(starts, ends, group_weights, strict=True):
                if held + weight / 2 > target:
                    break
                in_validation[members[start:end]] = True
                held += weight
                n_distinct += weight > 0
        val_idx = np.flatnonzero(in_validation & (weights > 0))
        train_idx = np.flatnonzero(~in_validation)
        if n_distinct < MIN_VALIDATION_SAMPLES or not np.any(weights[train_idx] > 0):
            return None
        return train_idx, val_idx

    def _is_classifier_single_output(self):
        return False

    def _batch_loss_and_grad(
        self,
        network,
        weights,
        grad,
        workspace,
        sequences,
        y,
        sample_weight,
        batch_idx,
        n_threads,
        masks=None,
    ):
        """Loss of one batch (penalty included) and its gradient, into ``grad``.

        ``masks`` are the batch's dropout masks (rows in the order of
        ``batch_idx`` after ragged sorting), or None.

        Returns ``(loss, total_weight)``; ``total_weight`` is 0 for a batch
        whose sample weights are all zero (then ``grad`` is not written).
        """
        inputs, lengths, batch_idx = _fill_inputs(workspace, sequences, batch_idx)
        raw = network.forward(weights, inputs, lengths, workspace, n_threads, masks)
        y_batch = y[batch_idx]
        sw = None if sample_weight is None else sample_weight[batch_idx]
        if self.out_activation_ == "identity":
            # The squared error and its gradient (raw - target) * w / (n_outputs
            # * sum(w)) in one compiled pass.
            delta = np.empty_like(raw)
            loss, total_weight = _numerics.squared_error(raw, y_batch, sw, delta)
            if total_weight <= 0:
                return 0.0, 0.0
        else:
            output = OUTPUT_ACTIVATIONS[self.out_activation_](raw)
            total_weight = len(batch_idx) if sw is None else float(sw.sum())
            if total_weight <= 0:
                return 0.0, 0.0
            loss = LOSSES[self.out_activation_](y_batch, output, sw)
            # d loss / d raw output: (prediction - target), weighted, averaged.
            delta = output - y_batch
            if sw is not None:
                delta *= sw[:, None]
            delta /= total_weight
        network.backward(
            weights, inputs, lengths, delta, workspace, grad, n_threads, masks
        )

        if self.alpha > 0:
            squares = _numerics.penalise(
                grad[: network.n_penalised],
                weights[: network.n_penalised],
                self.alpha / total_weight,
            )
            loss += 0.5 * self.alpha * squares / total_weight
        return float(loss), total_weight

    def _train_batch(
        self,
        network,
        weights,
        grad,
        workspace,
        optimizer,
        sequences,
        y,
        sample_weight,
        batch_idx,
        n_threads,
    ):
        """One optimizer step on one batch; returns the batch loss.

        A step that the loss, its gradient or the update itself would make
        non-finite is not taken: the weights and the solver's state stay as
        they were, and _RefusedStep says why.
        """
        masks = network.draw_dropout_masks(
            self._random_state, len(batch_idx), self.dropout, weights.dtype
        )
        # A diverging fit is detected below and reported with its likely
        # cause; NumPy's overflow warnings on the way would only add noise.
        with np.errstate(over="ignore", invalid="ignore"):
            loss, total_weight = self._batch_loss_and_grad(
                network, weights, grad, workspace, sequences, y, sample_weight,
                batch_idx, n_threads, masks,
            )  # fmt: skip
            if total_weight == 0:
                return loss
            grad_norm = math.sqrt(_numerics.sum_of_squares(grad))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            what = f"The training loss or its gradient became non-finite (loss={loss})"
        else:
            if self.max_grad_norm is not None and grad_norm > self.max_grad_norm:
                grad *= self.max_grad_norm / grad_norm
            if optimizer.update(grad):
                return loss
            what = (
                "A step of the solver would have made the weights or its state "
                f"non-finite (loss={loss}, gradient norm={grad_norm:.6g})"
            )
        raise _RefusedStep(f"{what} at iteration {self.n_iter_ + 1}")

    # --------------------------------------------------------- prediction
    def _check_score_weight(self, X, sample_weight):
        """``score``'s sample weights, held to the rules of ``fit``'s."""
        if sample_weight is None:
            return None
        n_samples = len(X) if hasattr(X, "__len__") else np.asarray(X).shape[0]
        return check_sample_weight(sample_weight, n_samples, np.float64)

    def _forward_raw(self, sequences):
        """Raw outputs for validated sequences, in blocks of bounded memory."""
        network = self._network
        weights = self.weights_
        n_samples = len(sequences)
        n_steps = sequences.data.shape[1]
        block = n_samples
        if n_samples > 1:
            per_row = network.inference_row_size(n_steps + 1) * weights.dtype.itemsize
            # Blocks of rows bound the buffers' memory; within that, large
            # blocks keep the per-step GEMMs efficient.
            largest = min(max(PREDICT_MEMORY_BUDGET // max(per_row, 1), 1), 8192)
            n_blocks = -(-n_samples // largest)
            block = -(-n_samples // n_blocks)  # equal blocks: no small last one
        n_threads = effective_n_threads()
        views = self.__dict__.get("_weight_views")
        unpacked = views[1] if views is not None and views[0] is weights else None
        # Sequences of one length in a C-contiguous array are read where they
        # are, without a padded copy (a one-direction network reads each step
        # once, in order); a one-layer network's pass and head are then one
        # compiled call with buffers of its own.
        in_place = (
            not sequences.ragged
            and not network.bidirectional
            and sequences.data.flags.c_contiguous
        )
        workspace = None
        if not (in_place and network.one_layer_one_way):
            workspace = network.inference_workspace(block, n_steps, weights.dtype)

        def forward_in_place(rows):
            if workspace is None:
                return network.forward_dense(
                    weights, sequences.data[rows], n_threads, unpacked
                )
            return network.forward(
                weights, sequences.data[rows], sequences.lengths[rows], workspace,
                n_threads, zero_slot=False, unpacked=unpacked,
            )  # fmt: skip

        with _blas_limit():
            if in_place and block == n_samples:
                raw = forward_in_place(slice(None))  # one block: no copy out
            else:
                raw = np.empty((n_samples, network.n_outputs), dtype=weights.dtype)
                for batch in _batches(n_samples, block):
                    if in_place:
                        raw[batch] = forward_in_place(batch)
                        continue
                    batch_idx = np.arange(batch.start, batch.stop)
                    inputs, lengths, batch_idx = _fill_inputs(
                        workspace, sequences, batch_idx
                    )
                    raw[batch_idx] = network.forward(
                        weights, inputs, lengths, workspace, n_threads,
                        unpacked=unpacked,
                    )  # fmt: skip
        if workspace is not None:
            network.return_workspace(workspace)
        return raw

    def _predict_output(self, X):
        views = self.__dict__.get("_weight_views")
        if (
            views is not None
            and views[2] is not None
            and views[0] is self.__dict__.get("weights_")
        ):
            # A few equal-length sequences in a C-contiguous array of the
            # weights' dtype: one compiled call, which declines (None) any
            # other input; that is validated and run below.
            raw = views[2].predict(X)
            if raw is not None:
                _check_finite_output(raw)
                return OUTPUT_ACTIVATIONS[self.out_activation_](raw)
        if "weights_" not in self.__dict__:
            check_is_fitted(self)  # raises NotFittedError
        sequences = check_sequences(
            self, X, reset=False, model_dtype=self.weights_.dtype
        )
        raw = self._forward_raw(sequences)
        _check_finite_output(raw)
        return OUTPUT_ACTIVATIONS[self.out_activation_](raw)


def _check_finite_output(raw):
    """Finite input can still overflow inside the network (relu cells grow
    without bound); such an output is an error, never a NaN returned."""
    if not _numerics.all_finite(raw.reshape(-1)):
        raise ValueError(
            "The network's output overflowed for some of the input sequences: "
            "their values are too large for this model. Scale the input (e.g. "
            "with a StandardScaler fitted on the training data)."
        )


class _RefusedStep(Exception):
    """A training step not taken because it would have made the loss, its
    gradient, the weights or the solver's state non-finite."""


# A run diverged when its last epoch's training loss is above its first
# epoch's and more than this many times its lowest (see BaseLSTM._end_run).
# Ending above the start means the run made no net progress at all, which
# epoch-to-epoch noise does not cause in a run that learns; the ratio keeps a
# run that stayed flat (a loss near its floor from the first epoch on) from
# counting as diverged for a small rise at its end.
DIVERGED_LOSS_RATIO = 10.0


class _Snapshot:
    """A copy of the weights, the solver's state and the training loss at one
    epoch, in buffers allocated by the first copy."""

    def __init__(self):
        self.weights = None
        self.state = None
        self.loss = math.inf

    def keep(self, weights, state, loss):
        if self.weights is None:
            self.weights = weights.copy()
            self.state = {
                key: value.copy() if isinstance(value, np.ndarray) else value
                for key, value in state.items()
            }
        else:
            np.copyto(self.weights, weights)
            for key, value in state.items():
                if isinstance(value, np.ndarray):
                    np.copyto(self.state[key], value)
                else:
                    self.state[key] = value
        self.loss = loss

    def restore(self, weights):
        """Copy the weights back into ``weights``; return the solver's state,
        whose arrays the caller takes over."""
        weights[...] = self.weights
        return self.state


def _check_forget_bias(forget_bias, dtype):
    """Refuse a forget-gate bias beyond the range of the model's precision,
    before it becomes an infinite initial weight."""
    largest = float(np.finfo(dtype).max)
    if abs(forget_bias) > largest:
        raise ValueError(
            f"forget_bias={forget_bias!r} is beyond the range of "
            f"{np.dtype(dtype).name} (largest finite value {largest:.6g}), the "
            "precision of the model (that of the input X). A forget_bias of a "
            "few units is enough to keep the memory of long sequences."
        )


def _fill_inputs(workspace, sequences, batch_idx):
    """Copy a batch into the workspace's padded input buffer.

    Ragged batches are reordered by decreasing length, as the core requires;
    the returned ``batch_idx`` is in the order of the rows.
    """
    lengths = sequences.lengths[batch_idx]
    if sequences.ragged:
        order = np.argsort(-lengths, kind="stable")
        batch_idx, lengths = batch_idx[order], lengths[order]
        n_steps = int(lengths[0])
    else:
        n_steps = sequences.data.shape[1]
    inputs = workspace.inputs(len(batch_idx), n_steps + 1)
    inputs[:, 0] = 0
    np.take(
        sequences.data[:, :n_steps], batch_idx, axis=0, out=inputs[:, 1:], mode="clip"
    )
    return inputs, np.ascontiguousarray(lengths, dtype=np.intp), batch_idx
