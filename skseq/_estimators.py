"""The regressor and the classifier of every cell: parameters, targets,
outputs, scores and tags, in one place. A cell's estimators (``_lstm``,
``_gru``) subclass these and add their cell, its parameters and docs."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_array, column_or_1d

from . import _numerics
from ._base import BaseRecurrent, _output_overflow
from ._losses import LOG_OUTPUT_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ._step_targets import StepTargets, flatten_steps, per_step_weights
from ._validation import (
    check_class_weight,
    check_regression_targets,
    check_targets_given,
)


class BaseRecurrentRegressor(RegressorMixin, BaseRecurrent):
    """The regressor of every cell: squared error on the targets, the
    identity as output activation, R^2 as score. A cell's regressor adds its
    cell (``_cell``) and its weights property."""

    # With return_sequences, a step's target may have several outputs.
    _per_step_outputs = True

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        activation="tanh",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-2,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        scoring="loss",
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_grad_norm=1.0,
        bidirectional=False,
        dropout=0.0,
        return_sequences=False,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle,
            random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            scoring=scoring,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm,
            bidirectional=bidirectional, dropout=dropout,
            return_sequences=return_sequences,
        )  # fmt: skip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, sample_weight=None, *, X_val=None, y_val=None,
        sample_weight_val=None,
    ):  # fmt: skip
        """Fit the network to sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or \
                (n_samples, n_timesteps), or list of 2-D arrays
            Training sequences (see Notes of the class).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.
        X_val : array-like or list of 2-D arrays, default=None
            Validation sequences for early stopping, in a form ``X`` could
            take (held to the same rules); they replace the share of ``X``
            otherwise held out. Needs ``early_stopping=True``.
        y_val : array-like, default=None
            Targets of ``X_val``, as ``y``; given with ``X_val`` only.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the samples of ``X_val`` in the validation score and
            loss (``class_weight`` does not apply to them).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
            sample_weight_val=sample_weight_val,
        )  # fmt: skip

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predict targets for sequences ``X``.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs), or list
            Predicted values, 1-D when ``y`` was 1-D at fit time. With
            ``return_sequences=True``, one per time step: shape (n_samples,
            n_timesteps) or (n_samples, n_timesteps, n_outputs), or for ragged
            ``X`` a list of one array per sequence.
        """
        if self._per_step():
            y_pred, sequences = self._predict_steps(X)
            return self._per_step_form(
                y_pred.ravel() if self._y_1d else y_pred, sequences
            )
        y_pred = self._predict_output(X)
        return y_pred.ravel() if self._y_1d else y_pred

    def predict_step(self, X_t, state):
        """Feed one time step of each stream; predict for the steps so far.

        After the steps ``X_1, ..., X_t`` fed from :meth:`initial_state`,
        ``y_t`` is what :meth:`predict` gives for the sequences ``X_1 ...
        X_t`` (bit for bit where skseq's vector kernels run). A model fitted
        on 2-D ``X`` (each row a univariate sequence) takes one value per
        stream and step. Not for bidirectional models.

        Parameters
        ----------
        X_t : array-like of shape (n_streams, n_features)
            The next step of each stream (``n_features`` is 1 for a model
            fitted on 2-D ``X``).
        state : dict
            The state after the previous step: from :meth:`initial_state`
            or the previous call. It is not changed.

        Returns
        -------
        y_t : ndarray of shape (n_streams,) or (n_streams, n_outputs)
            Predicted values, as :meth:`predict` gives them.
        state : dict
            The new state, to pass to the next call.
        """
        y_pred, state = self._step_output(X_t, state)
        return (y_pred.ravel() if self._y_1d else y_pred), state

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of :meth:`predict` on ``(X, y)``.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets of ``X``.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Weights of the samples: finite, non-negative, not all zero.

        Returns
        -------
        score : float
            R^2, as :func:`sklearn.metrics.r2_score` computes it; with
            ``return_sequences=True``, over all real steps at once (each
            step weighted by its sequence's weight).
        """
        sample_weight = self._check_score_weight(X, sample_weight)
        if not self._per_step():
            return super().score(X, y, sample_weight=sample_weight)
        from sklearn.metrics import r2_score

        y_pred, sequences = self._predict_steps(X)
        y_true = flatten_steps(y, sequences, multi_output=True)
        y_true = check_regression_targets(y_true, len(y_true))
        weights = per_step_weights(sample_weight, sequences.lengths)
        return float(
            r2_score(
                y_true,
                y_pred.ravel() if y_true.ndim == 1 else y_pred,
                sample_weight=weights,
            )
        )

    def _validate_targets(self, y, n_samples, incremental, first_call, classes):
        check_targets_given(self, y)
        y = check_regression_targets(y, n_samples)
        if first_call:
            self._y_1d = y.ndim == 1
            self.out_activation_ = "identity"
        return (y.reshape(-1, 1) if y.ndim == 1 else y), None

    def _encode_validation_targets(self, y, n_samples):
        y = check_regression_targets(y, n_samples)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def __setstate__(self, state):
        # A regressor's output activation is always the identity, also for
        # models saved without the attribute.
        if "weights_" in state:
            state.setdefault("out_activation_", "identity")
        super().__setstate__(state)

    def _score_outputs(self, raw, y, sample_weight):
        # R^2 of the scaled targets: each output's R^2 does not change when
        # the output and its targets are scaled and shifted alike.
        from sklearn.metrics import r2_score  # early stopping only

        return r2_score(y, raw, sample_weight=sample_weight)

    # ------------------------------------------------ scaled targets
    # The network learns each output's targets minus their (weighted) mean,
    # divided by their (weighted) standard deviation where it exceeds 1,
    # both taken from the first fit (or partial_fit) call's data and kept
    # with the model; its outputs are scaled and shifted back. A zero output
    # is then the targets' mean, and outputs of unit size (the head reads
    # hidden states of that size) span targets of any spread: fitting
    # y * a + b predicts what fitting y predicts, times a, plus b, for any
    # b and as long as both spreads are above 1. A spread below 1 is kept:
    # dividing by it would enlarge the loss and its gradient, which then
    # meet the default gradient clipping far more often than the data
    # warrant (on the 1997 adding problem, standard deviation 0.2, two fits
    # of ten fell short of the paper's criterion that way).

    def _target_scaling_of(self, y, sample_weight):
        # (shift, scale), in the model's precision, which every use is in.
        if isinstance(y, StepTargets):
            y, sample_weight = y.flat(sample_weight)
        shift, scale = _scaling_statistics(y, sample_weight)
        return shift.astype(y.dtype), scale.astype(y.dtype)

    def _keep_target_scaling(self, scaling):
        self._target_shift, self._target_scale = scaling

    def _scale_targets(self, y, scaling=None):
        if scaling is None:
            if "_target_shift" not in self.__dict__:
                return y  # a model saved without target scaling
            scaling = self._target_shift, self._target_scale
        if isinstance(y, StepTargets):
            return y.with_values(self._scale_targets(y.values, scaling))
        shift, scale = scaling
        values = y.astype(np.float64)
        with np.errstate(over="ignore"):
            scaled = (values - shift) / scale
        if not np.all(np.isfinite(scaled)):
            # Targets and shift near the largest float of opposite signs:
            # the difference overflows, each quotient does not.
            scaled = values / scale - shift / scale
        return scaled.astype(y.dtype)

    def _unscale_targets(self, rows):
        return self._activate(rows)

    def _activate(self, raw):
        # On the path of every prediction (a one-sequence one, or a streaming
        # step, takes a few microseconds): one compiled call.
        scale = self.__dict__.get("_target_scale")
        if scale is None:  # a model saved without target scaling
            return raw
        if not raw.flags.c_contiguous:
            raw = np.ascontiguousarray(raw)
        outputs = _numerics.scale_columns(raw, scale, self._target_shift)
        if outputs is None:
            # Finite raw outputs whose scaling back overflows the dtype: an
            # error, as an overflow inside the network is.
            raise _output_overflow()
        return outputs

    @property
    def head_coef_(self):
        """Weights of the output layer, shape (n_directions * H_last,
        n_outputs), in the units of ``y``: rows for the forward direction
        first, then (bidirectional) the reverse. The network learns scaled
        targets; this is its output layer with that scaling folded in (a
        read-only array made on each access), so that ``last_hidden @
        head_coef_ + head_intercept_`` is the prediction."""
        coef = super().head_coef_
        if "_target_scale" not in self.__dict__:
            return coef
        coef = coef * self._target_scale
        coef.flags.writeable = False
        return coef

    @property
    def head_intercept_(self):
        """Bias of the output layer, shape (n_outputs,), in the units of
        ``y`` (see ``head_coef_``; read-only)."""
        intercept = super().head_intercept_
        if "_target_scale" not in self.__dict__:
            return intercept
        intercept = self._activate(intercept.reshape(1, -1))[0]
        intercept.flags.writeable = False
        return intercept

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True
        return tags


class BaseRecurrentClassifier(ClassifierMixin, BaseRecurrent):
    """The classifier of every cell: labels binarised, a logistic or softmax
    output, cross-entropy, accuracy as score, ``partial_fit`` with
    ``classes``. A cell's classifier adds its cell (``_cell``) and its
    weights property."""

    # With return_sequences, a step's target is a label or (multilabel) an
    # indicator row.
    _per_step_outputs = True

    _parameter_constraints: dict = {
        **BaseRecurrent._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        activation="tanh",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-2,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        scoring="loss",
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_grad_norm=1.0,
        bidirectional=False,
        dropout=0.0,
        return_sequences=False,
        class_weight=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle,
            random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            scoring=scoring,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm,
            bidirectional=bidirectional, dropout=dropout,
            return_sequences=return_sequences,
        )  # fmt: skip
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, sample_weight=None, *, X_val=None, y_val=None,
        sample_weight_val=None,
    ):  # fmt: skip
        """Fit the network to sequences ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or \
                (n_samples, n_timesteps), or list of 2-D arrays
            Training sequences (see Notes of the class).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a binary indicator matrix for multilabel
            classification.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.
        X_val : array-like or list of 2-D arrays, default=None
            Validation sequences for early stopping, in a form ``X`` could
            take (held to the same rules); they replace the share of ``X``
            otherwise held out. Needs ``early_stopping=True``.
        y_val : array-like, default=None
            Targets of ``X_val``, as ``y``; given with ``X_val`` only.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the samples of ``X_val`` in the validation score and
            loss (``class_weight`` does not apply to them).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(
            X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
            sample_weight_val=sample_weight_val,
        )  # fmt: skip

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Run one epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.
        classes : array-like of shape (n_classes,), default=None
            All the classes that ``y`` may hold over all calls. Required on
            the first call, ignored afterwards.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if "weights_" not in self.__dict__:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
        elif classes is not None and not np.array_equal(
            self.classes_, unique_labels(classes)
        ):
            raise ValueError(
                f"classes={classes!r} is not the same as on the first call to "
                f"partial_fit, which was {self.classes_!r}."
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``(X, y)``.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            True labels of ``X``.
        sample_weight : float or array-like of shape (n_samples,), default=None
            Weights of the samples: finite, non-negative, not all zero.

        Returns
        -------
        score : float
            Accuracy (for multilabel targets, the share of samples whose
            labels are all right; with ``return_sequences=True``, the share
            of all real steps, each weighted by its sequence's weight).
        """
        sample_weight = self._check_score_weight(X, sample_weight)
        if not self._per_step():
            return super().score(X, y, sample_weight=sample_weight)
        from sklearn.metrics import accuracy_score

        proba, sequences = self._predict_steps(X)
        y_true = flatten_steps(y, sequences, multi_output=True)
        weights = per_step_weights(sample_weight, sequences.lengths)
        y_pred = self._label_binarizer.inverse_transform(proba)
        return float(accuracy_score(y_true, y_pred, sample_weight=weights))

    def _validate_targets(self, y, n_samples, incremental, first_call, classes):
        check_targets_given(self, y)
        multilabel = type_of_target(y) == "multilabel-indicator"
        if multilabel:
            y = check_array(y, ensure_2d=True, dtype=None, input_name="y")
        else:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if y.shape[0] != n_samples:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n_samples} and "
                f"{y.shape[0]}."
            )
        if first_call:
            binarizer = LabelBinarizer()
            # partial_fit's first call learns the classes from ``classes`` (y
            # may hold only some of them); a multilabel indicator matrix names
            # its labels by column, so the binarizer learns them from y.
            binarizer.fit(classes if incremental and not multilabel else y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            n_outputs = len(self.classes_)
            self.out_activation_ = (
                "softmax" if n_outputs > 2 and not multilabel else "logistic"
            )
        fitted_multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        if multilabel != fitted_multilabel:
            kind = "a multilabel indicator matrix" if fitted_multilabel else "labels"
            raise ValueError(
                f"{type(self).__name__} was fitted on {kind}; y must be of the "
                "same kind."
            )
        if incremental or first_call:
            self._check_known_labels(y, classes if incremental else None)
        else:
            seen = unique_labels(y)
            if set(seen) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where y has the same classes as "
                    f"in the previous call to fit. Previously got {self.classes_}, "
                    f"y has {seen}."
                )
        Y = self._label_binarizer.transform(y)
        class_sample_weight = None
        if self.class_weight is not None:
            if fitted_multilabel:
                raise ValueError("class_weight is not supported for multilabel y.")
            if incremental and self.class_weight == "balanced":
                raise ValueError(
                    "class_weight='balanced' is not supported by partial_fit: the "
                    "class frequencies of future chunks are unknown. Pass a dict."
                )
            check_class_weight(self.class_weight)
            class_sample_weight = compute_sample_weight(self.class_weight, y)
        return Y, class_sample_weight

    def _encode_validation_targets(self, y, n_samples):
        """``y_val`` as the binarized targets of training: labels of the
        kind ``y`` had, all of them in ``classes_``."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            y = check_array(y, ensure_2d=True, dtype=None, input_name="y")
        else:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if y.shape[0] != n_samples:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n_samples} and "
                f"{y.shape[0]}."
            )
        self._check_known_labels(y, None)
        return self._label_binarizer.transform(y)

    def _check_known_labels(self, y, classes):
        """Every label of ``y`` must be one of ``classes_`` (for a multilabel
        indicator matrix: one column per label, and ``classes``, if given,
        the label indices)."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            n_labels = len(self.classes_)
            if y.shape[1] != n_labels:
                raise ValueError(
                    f"y has {y.shape[1]} labels (columns), but {type(self).__name__} "
                    f"was fitted with {n_labels}."
                )
            # Compared as lists: NumPy < 1.25 warns on comparing the arrays
            # of labels of another kind (strings against indices).
            if (
                classes is not None
                and unique_labels(classes).tolist() != self.classes_.tolist()
            ):
                raise ValueError(
                    "For a multilabel indicator matrix y, classes must be the label "
                    f"indices {self.classes_.tolist()}; got {classes!r}."
                )
            return
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if len(unknown):
            raise ValueError(
                f"y has classes not in self.classes_: {unknown}. "
                f"self.classes_ is {self.classes_}."
            )

    def _is_classifier_single_output(self):
        return self._label_binarizer.y_type_ != "multilabel-indicator"

    def _score_outputs(self, raw, Y, sample_weight):
        from sklearn.metrics import accuracy_score  # early stopping only

        predicted = self._label_binarizer.inverse_transform(
            OUTPUT_ACTIVATIONS[self.out_activation_](raw)
        )
        truth = self._label_binarizer.inverse_transform(Y)
        return accuracy_score(truth, predicted, sample_weight=sample_weight)

    def predict(self, X):
        """Predict the class of each sequence of ``X``.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels), or list
            Predicted classes (an indicator matrix for multilabel targets).
            With ``return_sequences=True``, one per time step: shape
            (n_samples, n_timesteps), or for ragged ``X`` a list of one array
            per sequence.
        """
        if self._per_step():
            proba, sequences = self._predict_steps(X)
            labels = self._label_binarizer.inverse_transform(proba)
            return self._per_step_form(labels, sequences)
        proba = self._predict_output(X)
        return self._label_binarizer.inverse_transform(proba)

    def predict_proba(self, X):
        """Probability of each class for each sequence of ``X``.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), or list
            Class probabilities in the order of ``classes_`` (for multilabel
            targets, the probability of each label independently). With
            ``return_sequences=True``, at every time step: shape (n_samples,
            n_timesteps, n_classes), or for ragged ``X`` a list of one
            (n_timesteps_i, n_classes) array per sequence.
        """
        if self._per_step():
            proba, sequences = self._predict_steps(X)
            return self._per_step_form(self._class_columns(proba), sequences)
        return self._class_columns(self._predict_output(X))

    def _class_columns(self, proba):
        """One probability column per class: a binary problem's single
        logistic output becomes two."""
        if self.out_activation_ == "logistic" and self._is_classifier_single_output():
            return np.hstack([1 - proba, proba])
        return proba

    def predict_step(self, X_t, state):
        """Feed one time step of each stream; predict for the steps so far.

        After the steps ``X_1, ..., X_t`` fed from :meth:`initial_state`,
        ``y_t`` is what :meth:`predict` gives for the sequences ``X_1 ...
        X_t`` (bit for bit where skseq's vector kernels run). A model fitted
        on 2-D ``X`` (each row a univariate sequence) takes one value per
        stream and step. Not for bidirectional models.

        Parameters
        ----------
        X_t : array-like of shape (n_streams, n_features)
            The next step of each stream (``n_features`` is 1 for a model
            fitted on 2-D ``X``).
        state : dict
            The state after the previous step: from :meth:`initial_state`
            or the previous call. It is not changed.

        Returns
        -------
        y_t : ndarray of shape (n_streams,) or (n_streams, n_labels)
            Predicted classes, as :meth:`predict` gives them.
        state : dict
            The new state, to pass to the next call.
        """
        proba, state = self._step_output(X_t, state)
        return self._label_binarizer.inverse_transform(proba), state

    def predict_proba_step(self, X_t, state):
        """:meth:`predict_step` with class probabilities, as
        :meth:`predict_proba` gives them.

        Parameters
        ----------
        X_t : array-like of shape (n_streams, n_features)
            The next step of each stream.
        state : dict
            The state after the previous step. It is not changed.

        Returns
        -------
        proba : ndarray of shape (n_streams, n_classes)
            Class probabilities in the order of ``classes_``.
        state : dict
            The new state, to pass to the next call.
        """
        proba, state = self._step_output(X_t, state)
        return self._class_columns(proba), state

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Computed from the output layer's values before their activation, so
        it stays finite and accurate where a probability rounds to 0 or 1.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes), or list
            Log-probabilities in the order of ``classes_``, in the layout of
            :meth:`predict_proba`.
        """
        # From the output layer's raw values, not the log of predict_proba:
        # a probability that rounds to 0 or 1 has a finite, accurate log.
        if self._per_step():
            raw, sequences = self._predict_steps(X, activate=False)
            return self._per_step_form(self._log_class_columns(raw), sequences)
        return self._log_class_columns(self._predict_raw(X))

    def _log_class_columns(self, raw):
        """The log of :meth:`_class_columns` of the activated ``raw``."""
        log_p = LOG_OUTPUT_ACTIVATIONS[self.out_activation_](raw)
        if self.out_activation_ == "logistic" and self._is_classifier_single_output():
            # log(1 - sigmoid(z)) = log(sigmoid(-z))
            return np.hstack([LOG_OUTPUT_ACTIVATIONS["logistic"](-raw), log_p])
        return log_p

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_label = True
        return tags


def _scaling_statistics(y, sample_weight):
    """The (shift, scale) of each column of the targets ``y`` (n, n_outputs):
    their weighted mean, and their weighted standard deviation where it
    exceeds 1 (1 elsewhere), in float64, sample weights counting as
    repetitions (zero-weight samples as absent). Computed on the columns
    divided by their largest magnitude, so that finite targets of any size
    give finite statistics."""
    y = np.asarray(y, dtype=np.float64)
    weights = None
    if sample_weight is not None:
        # A sample of weight zero is absent: it takes no part, not even in
        # the magnitude.
        weights = np.asarray(sample_weight, np.float64)
        y, weights = y[weights > 0], weights[weights > 0]
    magnitude = np.max(np.abs(y), axis=0)
    magnitude[magnitude == 0] = 1.0
    z = y / magnitude
    mean = np.average(z, axis=0, weights=weights)
    spread = np.sqrt(np.average((z - mean) ** 2, axis=0, weights=weights))
    return mean * magnitude, np.maximum(spread * magnitude, 1.0)
