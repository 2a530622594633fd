"""The epoch loop of a fit and its stopping rule.

Shuffle indices, run the batches through optimizer steps, record the loss
curve, hold out a validation set for early stopping, count the epochs without
improvement, keep the best epoch's weights and come back to them when early
stopping ends a run or the run diverged. The arithmetic of one batch lives in
``_network``; this module never touches a pointer.
"""

import hashlib
import math
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from . import _numerics
from ._callbacks import FitTasks
from ._inference import batches, fill_inputs
from ._losses import LOSSES, OUTPUT_ACTIVATIONS
from ._network import StepIndex
from ._optimizers import AdamOptimizer, SGDOptimizer
from ._step_targets import StepTargets
from ._threads import effective_n_threads
from ._validation_set import ValidationSet, resolve_scoring, time_order_split
from ._warnings import warn_once

# The stall rule's patience of n_iter_no_change epochs counts epochs of at
# least this many optimizer steps (see EpochLoop._patience).
MIN_STEPS_PER_STALL_EPOCH = 10

# Early stopping needs at least this many distinct samples held out: a score
# of one sample says little, and R^2 is undefined for it.
MIN_VALIDATION_SAMPLES = 2

# partial_fit keeps its training buffers (and gradient) for the next call when
# they take at most this many bytes. For small batches, allocating and viewing
# them again costs a noticeable part of the step; for large ones, the kernel
# zeroes every fresh page on first touch, a cost more threads do not shrink.
# Above this, the memory held between calls would outweigh that.
KEEP_WORKSPACE_BYTES = 256 << 20


class EpochLoop:
    """The training part of BaseLSTM: the epoch loop, its stopping rule and
    one batch's step. Its methods read the estimator's parameters and write
    its training state (``n_iter_``, ``t_``, ``loss_curve_``, the stopping
    counters and the solver's state)."""

    def _start_training_state(self, first_call, incremental):
        """Set up the training state on a first call: no epochs, no samples
        seen, no solver state, the stopping rule at its start. A warm-started
        fit is a new run of epochs from the current weights: its stopping
        rule starts afresh. A partial_fit call continues it."""
        if first_call:
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self._solver_state = None
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf
        elif incremental:
            return
        self._no_improvement_count = 0
        self._stall_reference = np.inf
        if self.early_stopping and not incremental:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf

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

    def _fit_stochastic(
        self, sequences, y, sample_weight, incremental, arguments, validation=None
    ):
        """Run the epochs of a fit (``incremental`` False) or partial_fit
        call. ``arguments`` are the call's ``(X, y, sample_weight)`` as the
        user gave them; ``validation``, a ValidationSet given to fit."""
        tasks = FitTasks(
            self, *arguments, max_epochs=1 if incremental else self.max_iter
        )
        train, validation = self._hold_out(
            sequences, y, sample_weight, self.early_stopping and not incremental,
            arguments, validation,
        )  # fmt: skip
        # Scaled after the split, which reads the targets as given.
        train = (train[0], self._scale_targets(train[1]), train[2])
        train = _without_zero_weights(*train)
        n_samples = len(train[0])
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
        network = self._network
        weights = self.weights_
        workspace = self._training_workspace(
            network, batch_size, train[0].n_timesteps, weights.dtype, incremental
        )
        run = _Run(
            network=network,
            weights=weights,
            grad=workspace.gradient_like(weights),
            workspace=workspace,
            optimizer=self._make_optimizer(weights),
            n_threads=effective_n_threads(),
            validation=validation,
            scorer=None if validation is None else resolve_scoring(self),
            # The weights and solver state of this run's best epoch, by
            # validation score with early stopping, otherwise by training
            # loss: what the run comes back to when it ends (early stopping)
            # or diverges. A partial_fit call runs one epoch and keeps none.
            best=None if incremental else _Snapshot(),
            patience=self._patience(n_samples, batch_size),
        )
        sample_idx = np.arange(n_samples)
        # As MLP: n_iter_ counts the epochs of this call; t_ and loss_curve_
        # keep counting across warm starts and partial_fit calls.
        self.n_iter_ = 0
        run_start = len(self.loss_curve_)

        run_start_time = time.perf_counter()
        for _epoch in range(self.max_iter):
            start_time = time.perf_counter()
            tasks.begin_epoch()
            if self.shuffle:
                self._random_state.shuffle(sample_idx)
            loss = self._run_epoch(run, train, sample_idx, batch_size)
            score = self._end_epoch(run, loss)
            self._report_epoch(score, start_time, run_start_time, incremental)
            run.optimizer.iteration_ends(self.t_)
            self._solver_state = run.optimizer.state()
            # A callback returning True ends the fit as early stopping would.
            stop = tasks.end_epoch()
            if self._stalled_too_long(run) or incremental or stop:
                break
        else:
            warn_once(_max_iter_message(validation is not None), ConvergenceWarning, 3)
        if run.best is not None:
            self._end_run(
                weights, run.best, self.loss_curve_[run_start:], validation is not None
            )
        tasks.end()

    def _hold_out(self, sequences, y, sample_weight, early_stopping, arguments, given):
        """The part to train on, a tuple ``(sequences, y, sample_weight)``,
        and the validation part, a ValidationSet: ``given`` if not None,
        otherwise held out of the data (the last samples without shuffling,
        a share chosen by content with it); None without early stopping, or
        when the data are too few to hold one out (then with a warning)."""
        if given is not None:
            return (sequences, y, sample_weight), given
        split = None
        if early_stopping and not self.shuffle:
            split = time_order_split(
                len(sequences), sample_weight, self.validation_fraction,
                MIN_VALIDATION_SAMPLES,
            )  # fmt: skip
        elif early_stopping:
            split = self._validation_split(sequences, y, sample_weight)
        if early_stopping and split is None:
            warnings.warn(
                f"early_stopping=True needs a validation set of at least "
                f"{MIN_VALIDATION_SAMPLES} distinct samples and a training set beside "
                f"it; {len(sequences)} samples with validation_fraction="
                f"{self.validation_fraction} give none, so this fit trains on all "
                "samples without early stopping.",
                UserWarning,
                stacklevel=4,
            )
            self.validation_scores_ = self.best_validation_score_ = None
        if split is None:
            if self.best_loss_ is None:
                # partial_fit after a fit with early stopping, or its fallback.
                self.best_loss_ = np.inf
            return (sequences, y, sample_weight), None

        def part(indices):
            weights = None if sample_weight is None else sample_weight[indices]
            return sequences.take(indices), y[indices], weights

        train_idx, val_idx = split
        X, y_given, _ = arguments
        val_sequences, val_y, val_weights = part(val_idx)
        return part(train_idx), ValidationSet(
            val_sequences, self._scale_targets(val_y), val_weights,
            source=(X, y_given, val_idx),
        )  # fmt: skip

    def _patience(self, n_samples, batch_size):
        """Epochs without progress that end a run: ``n_iter_no_change``
        epochs of at least MIN_STEPS_PER_STALL_EPOCH optimizer steps each.

        The stall rule judges the optimizer's progress, and the optimizer
        progresses by steps, not by passes over the data. On a training set of
        a few batches an epoch is one or two steps: n_iter_no_change of them
        are too few for a recurrent network to leave a plateau (at the start
        of learning, or between two things learnt), and for a loss that
        oscillates from step to step to make net progress. So an epoch of
        ``s`` steps counts as ``1 / ceil(MIN_STEPS_PER_STALL_EPOCH / s)`` of
        one: the patience is then at least ``n_iter_no_change *
        MIN_STEPS_PER_STALL_EPOCH`` steps, with or without early stopping,
        and stays n_iter_no_change epochs on data of ten batches or more.
        """
        steps_per_epoch = -(-n_samples // batch_size)
        return self.n_iter_no_change * -(-MIN_STEPS_PER_STALL_EPOCH // steps_per_epoch)

    def _run_epoch(self, run, train, sample_idx, batch_size):
        """One pass over the batches; returns the mean training loss over
        the epoch's samples (real steps, for a per-step model), weighted as
        each batch's loss is: a sample of weight zero counts as absent."""
        sequences, y, sample_weight = train
        accumulated_loss = accumulated_weight = 0.0
        try:
            for batch in batches(len(sample_idx), batch_size):
                batch_idx = sample_idx[batch]
                batch_loss, batch_weight = self._train_batch(
                    run.network, run.weights, run.grad, run.workspace,
                    run.optimizer, sequences, y, sample_weight, batch_idx,
                    run.n_threads,
                )  # fmt: skip
                accumulated_loss += batch_loss * batch_weight
                accumulated_weight += batch_weight
                # Per batch, so that it counts the samples of the steps taken
                # when a refused step ends the fit mid-epoch.
                self.t_ += len(batch_idx)
        except _RefusedStep as refused:
            raise self._refused_step_error(refused, run) from None
        if accumulated_weight <= 0:
            return 0.0
        return float(accumulated_loss / accumulated_weight)

    def _refused_step_error(self, refused, run):
        """The error that ends a fit at a refused step, once the weights and
        the solver's state are those the message names."""
        self._solver_state = run.optimizer.state()
        where = (
            "The weights and the solver's state were left at their last "
            "finite values, those before that step"
        )
        if run.validation is not None and run.best.weights is not None:
            self._solver_state = run.best.restore(run.weights)
            epoch = run.best.epoch
            where = (
                "The weights and the solver's state of the epoch with the "
                f"best validation score (epoch {epoch}) were restored"
            )
        return ValueError(self._divergence_message(str(refused), where))

    def _end_epoch(self, run, loss):
        """Record an epoch's training loss and validation score (returned;
        None without early stopping), count it towards the stopping rule and
        keep the weights when it is the best epoch so far."""
        self.n_iter_ += 1
        self.loss_ = loss
        self.loss_curve_.append(loss)
        score = None
        if run.validation is not None:
            score, validation_loss = run.validation.evaluate(self, run.scorer)
            self.validation_scores_.append(score)
            self.validation_loss_curve_.append(validation_loss)
        self._update_no_improvement_count(score)
        if score is None:
            if run.best is not None:
                run.best.keep_lowest_loss(run.weights, run.optimizer.state(), loss)
            self.best_loss_ = min(self.best_loss_, loss)
        elif score > self.best_validation_score_ or (
            score == self.best_validation_score_ > -np.inf and loss < run.best.loss
        ):
            # An epoch that ties the best validation score and lowers the
            # training loss is kept: otherwise a score saturated from the
            # first epoch on (every held-out sample right) would return the
            # model of that epoch, barely trained.
            self.best_validation_score_ = score
            run.best.keep(run.weights, run.optimizer.state(), loss)
            run.best.epoch = self.n_iter_
        return score

    def _update_no_improvement_count(self, score):
        """Count an epoch that brings no progress: its training loss (without
        early stopping, ``score`` None) is not at least ``tol`` below the loss
        of the last epoch that counted as progress, or its validation
        ``score`` not at least ``tol`` above that epoch's score. A
        progressing epoch resets the count and becomes the new reference.

        The reference moves only on progress, not with every new best, so a
        loss that falls steadily by less than ``tol`` per epoch still counts
        as progress once its fall adds up to ``tol`` within the patience.
        This is what small data need: an epoch of a few samples is one
        optimizer step, whose gain is small, and a loss that oscillates
        between steps would otherwise stall a fit that is still learning.
        """
        # Lower is better; a score of -inf (non-finite outputs), here +inf,
        # never counts as progress, not even on the starting reference.
        value = self.loss_ if score is None else -score
        reference = getattr(self, "_stall_reference", np.inf)
        if value <= reference - self.tol and value != np.inf:
            self._stall_reference = value
            self._no_improvement_count = 0
        else:
            self._no_improvement_count += 1

    def _stalled_too_long(self, run):
        """Whether the run ends for lack of improvement. The solver may
        decline (SGD with an adaptive learning rate divides it instead); the
        count then starts again."""
        if self._no_improvement_count <= run.patience:
            return False
        what = "Validation score" if run.validation is not None else "Training loss"
        message = (
            f"{what} did not improve more than tol={self.tol:f} for "
            f"{self._no_improvement_count} consecutive epochs."
        )
        if run.optimizer.trigger_stopping(message, self.verbose):
            best = run.best
            if run.validation is None and best is not None and best.weights is not None:
                # As early stopping does with the best validation score: a
                # fit that ends on a stall keeps its lowest-loss epoch, not
                # wherever the last steps left it.
                self._solver_state = best.restore(run.weights)
            return True
        self._no_improvement_count = 0
        self._solver_state = run.optimizer.state()
        return False

    def _report_epoch(self, score, start_time, run_start_time, incremental):
        """With ``verbose``, one line per epoch: its number, loss,
        validation score and time, and (fit) an estimate of how long the
        remaining epochs will take at the mean pace so far."""
        if not self.verbose:
            return
        now = time.perf_counter()
        if incremental:
            where = f"Epoch {len(self.loss_curve_)} (partial_fit)"
        else:
            where = f"Epoch {self.n_iter_}/{self.max_iter}"
        message = f"{where}, loss = {self.loss_:.8f}"
        if score is not None:
            message += f", validation score = {score:.6f}"
        message += f", {now - start_time:.3f} s"
        remaining = 0 if incremental else self.max_iter - self.n_iter_
        if remaining:
            left = (now - run_start_time) / self.n_iter_ * remaining
            message += f", up to {_format_duration(left)} left"
        print(message)

    def _check_scores_were_finite(self, n_epochs):
        """When no epoch of the run scored a finite validation score although
        the outputs were finite (finite validation losses), the scorer is
        at fault, not the model: say so."""
        losses = self.validation_loss_curve_[-n_epochs:]
        if any(math.isfinite(loss) for loss in losses):
            raise ValueError(
                f"The validation score (scoring={self.scoring!r}) was not finite "
                f"at any of the last {n_epochs} epochs, although the model's "
                "outputs on the validation data were: the scorer returns NaN or "
                "infinity on these data."
            )

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
                self._check_scores_were_finite(len(loss_curve))
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
            digest.update(sequences.sequence(i).tobytes())
            digest.update(y[i].tobytes())
            keys[i] = int.from_bytes(digest.digest(), "little")
        if self._is_classifier_single_output() and not isinstance(y, StepTargets):
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
        inputs, lengths, batch_idx = fill_inputs(
            workspace, sequences, batch_idx, n_threads
        )
        steps = None
        if network.per_step:
            # One loss term per real step, each step weighted by its sequence.
            steps = StepIndex(lengths)
            y_batch, sw = y.at(batch_idx[steps.rows], steps.slots - 1, sample_weight)
        else:
            y_batch = y[batch_idx]
            sw = None if sample_weight is None else sample_weight[batch_idx]
        raw = network.forward(
            weights, inputs, lengths, workspace, n_threads, masks, steps=steps
        )
        if self.out_activation_ == "identity":
            # The squared error and its gradient (raw - target) * w / (n_outputs
            # * sum(w)) in one compiled pass.
            delta = np.empty_like(raw)
            loss, total_weight = _numerics.squared_error(raw, y_batch, sw, delta)
            if total_weight <= 0:
                return 0.0, 0.0
        else:
            output = OUTPUT_ACTIVATIONS[self.out_activation_](raw)
            total_weight = len(y_batch) if sw is None else float(sw.sum())
            if total_weight <= 0:
                return 0.0, 0.0
            loss = LOSSES[self.out_activation_](y_batch, output, sw)
            # d loss / d raw output: (prediction - target), weighted, averaged.
            delta = output - y_batch
            if sw is not None:
                delta *= sw[:, None]
            delta /= total_weight
        network.backward(
            weights, inputs, lengths, delta, workspace, grad, n_threads, masks, steps
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
        """One optimizer step on one batch; returns the batch loss and the
        batch's total weight (its samples, or real steps, when unweighted).

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
                return loss, 0.0
            grad_norm = math.sqrt(_numerics.sum_of_squares(grad))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            what = f"The training loss or its gradient became non-finite (loss={loss})"
        else:
            if self.max_grad_norm is not None and grad_norm > self.max_grad_norm:
                grad *= self.max_grad_norm / grad_norm
            if optimizer.update(grad):
                return loss, float(total_weight)
            what = (
                "A step of the solver would have made the weights or its state "
                f"non-finite (loss={loss}, gradient norm={grad_norm:.6g})"
            )
        raise _RefusedStep(f"{what} at iteration {self.n_iter_ + 1}")


def _without_zero_weights(sequences, y, sample_weight):
    """The training part without its samples of weight zero: such a sample
    is absent, as scikit-learn's convention has it, so it takes no place in
    a batch, no share of an epoch's loss and no step of the stall rule."""
    if sample_weight is None or np.all(sample_weight > 0):
        return sequences, y, sample_weight
    kept = np.flatnonzero(sample_weight > 0)
    return sequences.take(kept), y[kept], sample_weight[kept]


class _Run:
    """What the epochs of one fit call share: the network and its weights,
    the buffers, the solver, the validation part (or None), the best epoch's
    snapshot (or None) and the patience of the stopping rule."""

    __slots__ = (
        "network", "weights", "grad", "workspace", "optimizer", "n_threads",
        "validation", "scorer", "best", "patience",
    )  # fmt: skip

    def __init__(self, **values):
        for name, value in values.items():
            setattr(self, name, value)


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
        self.epoch = None  # with early stopping: the epoch kept (from 1)
        self._epoch_start = None

    def keep_lowest_loss(self, weights, state, loss):
        """At the end of an epoch of training ``loss``: keep the weights that
        loss was measured on when it is the lowest so far.

        An epoch's loss is the mean of its batches' losses, each taken before
        that batch's step, so it belongs to the weights at the start of the
        epoch more than to those at its end: with one batch per epoch, it is
        exactly the start's loss, and the end of an epoch that overshot (the
        loss of a small full-batch fit oscillates) can be much worse. So the
        weights and state at the end of every epoch are kept as the start of
        the next one (of the first epoch, its end stands for its start).
        """
        start = self._epoch_start
        if loss < self.loss:
            if start is None or start.weights is None:
                self.keep(weights, state, loss)
            else:
                self.weights, start.weights = start.weights, self.weights
                self.state, start.state = start.state, self.state
                self.loss = loss
        if start is None:
            start = self._epoch_start = _Snapshot()
        start.keep(weights, state, loss)

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


def _max_iter_message(early_stopping):
    """The ConvergenceWarning of a fit that ran max_iter epochs: the same
    text for every fit (shown once, see ``_warnings``), naming what to change."""
    what = "validation score" if early_stopping else "training loss"
    advice = "" if early_stopping else ", or set early_stopping=True"
    return (
        f"The fit reached max_iter epochs before its {what} stopped improving "
        f"by more than tol: raise max_iter or tol{advice} (n_iter_ and "
        "loss_curve_ show where it ended; shown once per process)."
    )


def _format_duration(seconds):
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
