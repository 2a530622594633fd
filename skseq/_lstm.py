"""LSTMRegressor and LSTMClassifier: the LSTM cell, its forget_bias, its
weights and its docs; the rest is the shared regressor and classifier of
``_estimators``."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._docstrings import (
    CLASSIFIER_PARAMETERS_AND_ATTRIBUTES,
    INPUT_NOTES,
    REGRESSOR_TARGETS,
    SHARED_ATTRIBUTES,
    SHARED_PARAMETERS,
)
from ._estimators import BaseRecurrentClassifier, BaseRecurrentRegressor


class _LSTMCell:
    """What the LSTM estimators add to the shared ones: the cell, the
    ``forget_bias`` parameter and ``lstm_weights_``."""

    _cell = "lstm"
    _cell_constraints: dict = {
        "forget_bias": [
            StrOptions({"auto"}),
            Interval(Real, None, None, closed="neither"),
        ],
    }

    def _cell_params(self, dtype):
        _check_forget_bias(self.forget_bias, dtype)
        return {"forget_bias": self.forget_bias}

    @property
    def lstm_weights_(self):
        """Per layer, a dict of views ``kernel`` (n_in, 4H), ``recurrent_kernel``
        (H, 4H) and ``bias`` (4H,), gate blocks in the order i, f, g, o; for a
        bidirectional network also ``kernel_reverse``, ``recurrent_kernel_reverse``
        and ``bias_reverse`` for the direction that reads sequences backwards."""
        return self._layer_weights()


class LSTMRegressor(_LSTMCell, BaseRecurrentRegressor):
    __doc__ = (
        """Long short-term memory network regressor.

    Reads each input sequence with one or more LSTM layers and maps the last
    hidden state of the top layer to the targets with a linear head, trained
    on the squared error.
"""
        + REGRESSOR_TARGETS
        + """
    Parameters
    ----------"""
        + SHARED_PARAMETERS
        + """
    Attributes
    ----------"""
        + SHARED_ATTRIBUTES
        + """
    See Also
    --------
    LSTMClassifier : The same network for classification.
    sklearn.neural_network.MLPRegressor : A feed-forward network on flat input.

    Notes
    -----"""
        + INPUT_NOTES
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

    With ``return_sequences=True`` the model predicts at every time step, here
    the running sum of each sequence:

    >>> y_steps = np.cumsum(X[:, :, 0], axis=1)
    >>> per_step = LSTMRegressor(return_sequences=True, max_iter=5,
    ...                          random_state=0).fit(X, y_steps)
    >>> per_step.predict(X).shape
    (3, 3)
    """
    )

    _parameter_constraints: dict = {
        **BaseRecurrentRegressor._parameter_constraints,
        **_LSTMCell._cell_constraints,
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
        forget_bias="auto",
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
        self.forget_bias = forget_bias


class LSTMClassifier(_LSTMCell, BaseRecurrentClassifier):
    __doc__ = (
        """Long short-term memory network classifier.

    Reads each input sequence with one or more LSTM layers and maps the last
    hidden state of the top layer to class probabilities: a logistic output
    for binary and multilabel problems, a softmax for multiclass ones, trained
    on the cross-entropy.

    Parameters
    ----------"""
        + SHARED_PARAMETERS
        + CLASSIFIER_PARAMETERS_AND_ATTRIBUTES
        + SHARED_ATTRIBUTES
        + """
    See Also
    --------
    LSTMRegressor : The same network for regression.
    sklearn.neural_network.MLPClassifier : A feed-forward network on flat input.

    Notes
    -----"""
        + INPUT_NOTES
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
        **BaseRecurrentClassifier._parameter_constraints,
        **_LSTMCell._cell_constraints,
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
        forget_bias="auto",
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
            return_sequences=return_sequences, class_weight=class_weight,
        )  # fmt: skip
        self.forget_bias = forget_bias


def _check_forget_bias(forget_bias, dtype):
    """Refuse a forget-gate bias beyond the range of the model's precision,
    before it becomes an infinite initial weight."""
    if isinstance(forget_bias, str):
        return  # "auto": logs of sequence lengths, always in range
    largest = float(np.finfo(dtype).max)
    if abs(forget_bias) > largest:
        raise ValueError(
            f"forget_bias={forget_bias!r} is beyond the range of "
            f"{np.dtype(dtype).name} (largest finite value {largest:.6g}), the "
            "precision of the model (that of the input X). A forget_bias of a "
            "few units is enough to keep the memory of long sequences."
        )
