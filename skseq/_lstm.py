"""LSTMRegressor and LSTMClassifier: parameters, docstrings, targets, tags."""

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

from ._base import BaseLSTM
from ._losses import OUTPUT_ACTIVATIONS
from ._validation import (
    check_class_weight,
    check_regression_targets,
    check_targets_given,
)

_SHARED_PARAMETERS = """
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Number of units H of each stacked LSTM layer, from the input up.
        ``(64, 32)`` stacks two layers; the output head reads the last layer
        at each sequence's last step.

    activation : {"tanh", "relu"}, default="tanh"
        Activation of the candidate values and of the cell output
        (``h = o * activation(c)``). The gates always use the logistic
        sigmoid.

    solver : {"adam", "sgd"}, default="adam"
        Optimizer of the weights: Adam, or stochastic gradient descent with
        optional (Nesterov) momentum.

    alpha : float, default=1e-4
        Strength of the L2 penalty on the input, recurrent and output weights
        (not on biases), divided by the sample weight of the batch, as in
        :class:`~sklearn.neural_network.MLPRegressor`.

    batch_size : int or "auto", default="auto"
        Sequences per optimizer step; "auto" is ``min(200, n_samples)``.

    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Step-size schedule, for ``solver="sgd"`` only (Adam adapts its own).

    learning_rate_init : float, default=1e-2
        Initial step size. Ten times MLPRegressor's default: a recurrent
        network trained on a few hundred sequences takes few optimizer steps
        per epoch, and with gradient clipping on by default, 1e-2 is stable on
        every task in skseq's test suite while 1e-3 often stops short.

    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.

    max_iter : int, default=200
        Maximum number of epochs (passes over the training sequences).

    shuffle : bool, default=True
        Whether to shuffle the sequences at every epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling and the validation
        split. An int gives the same model on every fit. See
        :term:`Glossary <random_state>`.

    tol : float, default=1e-4
        Minimum improvement of the training loss (or of the validation score
        with ``early_stopping``) that counts as progress.

    verbose : bool, default=False
        Print the loss, the validation score and the time of every epoch.

    warm_start : bool, default=False
        Reuse the weights and optimizer state of the previous fit as the
        starting point. See :term:`the Glossary <warm_start>`.

    momentum : float, default=0.9
        Momentum of SGD updates, in [0, 1].

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with SGD.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        score has not improved by ``tol`` for ``n_iter_no_change`` epochs (of
        at least ten optimizer steps each), and restore the weights and
        optimizer state of the best epoch. Samples are held out by content,
        per class for a classifier, so duplicates stay on one side; data too
        few to hold out two distinct samples train without early stopping,
        with a warning. ``partial_fit`` ignores it.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's first and second moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical-stability constant.

    n_iter_no_change : int or np.inf, default=10
        Epochs without improvement by ``tol`` before stopping; ``np.inf``
        switches the stall rule off.

    max_grad_norm : float or None, default=1.0
        Clip the gradient of every step to this global L2 norm (the norm over
        all weights at once). Clipping keeps exploding gradients, common with
        long sequences and ``activation="relu"``, from wrecking a fit. None
        turns it off.

    forget_bias : float, default=1.0
        Initial bias of the forget gates. Larger values (3 to 5) make the
        cells keep their content longer at the start of training, which helps
        on tasks whose information lies hundreds of steps back.

    bidirectional : bool, default=False
        Run every layer a second time over each sequence reversed (within its
        own length) and concatenate both hidden states, so the layer above
        and the head see 2H features per step. The head reads the forward
        direction at the last step and the reverse direction at the first.

    dropout : float, default=0.0
        Dropout rate, during training only, on the input of every layer but
        the first and on the input of the head. One mask per sequence and
        feature is shared by all time steps; kept values are scaled by
        ``1 / (1 - dropout)`` so nothing changes at prediction time. Masks are
        drawn from ``random_state``. With dropout, a sample weight of 2 is
        not the same as the sample repeated twice (each copy draws its own
        mask): the one scikit-learn convention that cannot hold.
"""

_SHARED_ATTRIBUTES = """
    loss_ : float
        Training loss of the last epoch (mean over samples, penalty included).

    best_loss_ : float or None
        Lowest training loss seen; None when ``early_stopping=True``.

    loss_curve_ : list of float
        Training loss of every epoch.

    validation_scores_ : list of float or None
        Validation score of every epoch with ``early_stopping=True``; -inf
        for an epoch whose validation outputs are not all finite.

    best_validation_score_ : float or None
        Best validation score with ``early_stopping=True``.

    n_iter_ : int
        Number of epochs run by the last call to ``fit`` or ``partial_fit``
        (as for MLPRegressor); ``t_`` and ``loss_curve_`` keep counting across
        warm starts and ``partial_fit`` calls.

    t_ : int
        Number of training samples seen by the optimizer.

    n_features_in_ : int
        Number of features per time step for 3-D or ragged input; number of
        columns (time steps) for 2-D input.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when fitted on a DataFrame with string column names.

    n_outputs_ : int
        Number of outputs of the head.

    out_activation_ : str
        Output activation: "identity", "logistic" or "softmax".

    weights_ : ndarray of shape (n_weights,)
        All weights in one flat array (float32 when fitted on float32 input).
        Use ``lstm_weights_``, ``head_coef_`` and ``head_intercept_`` for views
        in the Keras layout: per layer a kernel (n_in, 4H), a recurrent kernel
        (H, 4H) and a bias (4H,), gate blocks ordered i, f, g, o. PyTorch's
        ``weight_ih_l0`` is the transpose of the kernel.
"""

_INPUT_NOTES = """
    Input sequences ``X`` may be a 3-D array ``(n_samples, n_timesteps,
    n_features)``; a 2-D array or DataFrame ``(n_samples, n_timesteps)`` of
    univariate sequences (columns are time steps, oldest first); or a list of
    2-D arrays ``(n_timesteps_i, n_features)`` of different lengths, which are
    padded and masked internally. float32 input is computed in float32,
    anything else in float64. The number of time steps may differ between
    fit and predict for 3-D and list input.

    The cell is the LSTM of Hochreiter & Schmidhuber (1997) with the forget
    gate of Gers, Schmidhuber & Cummins (2000)::

        i = sigmoid(x W_xi + h W_hi + b_i)     f = sigmoid(x W_xf + h W_hf + b_f)
        g = act(x W_xg + h W_hg + b_g)         o = sigmoid(x W_xo + h W_ho + b_o)
        c' = f * c + i * g                     h' = o * act(c')

    Training runs forward and back-propagation through time in a compiled
    core that calls BLAS and splits each batch across OpenMP threads. Results
    do not depend on the number of threads or cores. The thread count follows
    scikit-learn's convention: all usable cores, limited by ``OMP_NUM_THREADS``
    or :func:`threadpoolctl.threadpool_limits`.
"""


class LSTMRegressor(RegressorMixin, BaseLSTM):
    __doc__ = (
        """Long short-term memory network regressor.

    Reads each input sequence with one or more LSTM layers and maps the last
    hidden state of the top layer to the targets with a linear head, trained
    on the squared error.

    Parameters
    ----------"""
        + _SHARED_PARAMETERS
        + """
    Attributes
    ----------"""
        + _SHARED_ATTRIBUTES
        + """
    See Also
    --------
    LSTMClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : A feed-forward network on flat input.

    Notes
    -----"""
        + _INPUT_NOTES
        + """
    References
    ----------
    S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", Neural
    Computation 9(8):1735-1780, 1997.

    F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to Forget: Continual
    Prediction with LSTM", Neural Computation 12(10):2451-2471, 2000.

    Examples
    --------
    >>> import numpy as np
    >>> from skseq import LSTMRegressor
    >>> X = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]], dtype=float)[..., None]
    >>> y = np.array([4.0, 5.0, 6.0])
    >>> model = LSTMRegressor(hidden_layer_sizes=(50,), activation="relu",
    ...                       max_iter=200, random_state=0).fit(X, y)
    >>> model.predict(X).shape
    (3,)
    >>> bool(np.abs(model.predict(X) - y).max() < 0.2)   # close to every target
    True
    """
    )

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
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_grad_norm=1.0,
        forget_bias=1.0,
        bidirectional=False,
        dropout=0.0,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle,
            random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm, forget_bias=forget_bias,
            bidirectional=bidirectional, dropout=dropout,
        )  # fmt: skip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
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

        Returns
        -------
        self : LSTMRegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

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
        self : LSTMRegressor
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
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values, 1-D when ``y`` was 1-D at fit time.
        """
        y_pred = self._predict_output(X)
        return y_pred.ravel() if self._y_1d else y_pred

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
            R^2, as :func:`sklearn.metrics.r2_score` computes it.
        """
        sample_weight = self._check_score_weight(X, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

    def _validate_targets(self, y, n_samples, incremental, first_call, classes):
        check_targets_given(self, y)
        y = check_regression_targets(y, n_samples)
        if first_call:
            self._y_1d = y.ndim == 1
            self.out_activation_ = "identity"
        return (y.reshape(-1, 1) if y.ndim == 1 else y), None

    def __setstate__(self, state):
        # A regressor's output activation is always the identity, also for
        # models saved without the attribute.
        if "weights_" in state:
            state.setdefault("out_activation_", "identity")
        super().__setstate__(state)

    def _score_outputs(self, raw, y, sample_weight):
        from sklearn.metrics import r2_score  # early stopping only

        return r2_score(y, raw, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True
        return tags


class LSTMClassifier(ClassifierMixin, BaseLSTM):
    __doc__ = (
        """Long short-term memory network classifier.

    Reads each input sequence with one or more LSTM layers and maps the last
    hidden state of the top layer to class probabilities: a logistic output
    for binary and multilabel problems, a softmax for multiclass ones, trained
    on the cross-entropy.

    Parameters
    ----------"""
        + _SHARED_PARAMETERS
        + """
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, multiplied with ``sample_weight``.
        "balanced" weighs each class inversely to its frequency in ``y``.
        Not available for multilabel targets.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel ``y``, the label indices).
"""
        + _SHARED_ATTRIBUTES
        + """
    See Also
    --------
    LSTMRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : A feed-forward network on flat input.

    Notes
    -----"""
        + _INPUT_NOTES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skseq import LSTMClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 12, 1))
    >>> y = (X[:, :3, 0].sum(axis=1) > 0).astype(int)   # depends on early steps
    >>> clf = LSTMClassifier(hidden_layer_sizes=(16,), max_iter=100,
    ...                      random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.85   # chance is 0.5
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseLSTM._parameter_constraints,
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
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_grad_norm=1.0,
        forget_bias=1.0,
        bidirectional=False,
        dropout=0.0,
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
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_grad_norm=max_grad_norm, forget_bias=forget_bias,
            bidirectional=bidirectional, dropout=dropout,
        )  # fmt: skip
        self.class_weight = class_weight

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
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

        Returns
        -------
        self : LSTMClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

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
        self : LSTMClassifier
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
            labels are all right).
        """
        sample_weight = self._check_score_weight(X, sample_weight)
        return super().score(X, y, sample_weight=sample_weight)

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
            if classes is not None and not np.array_equal(
                unique_labels(classes), self.classes_
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
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted classes (an indicator matrix for multilabel targets).
        """
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
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities in the order of ``classes_`` (for multilabel
            targets, the probability of each label independently).
        """
        proba = self._predict_output(X)
        if self.out_activation_ == "logistic" and self._is_classifier_single_output():
            return np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like or list of 2-D arrays
            Sequences, as for :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.classifier_tags.multi_label = True
        return tags
