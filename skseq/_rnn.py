"""RNNRegressor and RNNClassifier: the simple (Elman) cell, its weights and
its docs; the rest is the shared regressor and classifier of
``_estimators``."""

from ._docstrings import (
    CLASSIFIER_PARAMETERS_AND_ATTRIBUTES,
    FORGET_BIAS,
    INPUT_NOTES,
    LSTM_ACTIVATION,
    LSTM_CELL,
    LSTM_LAYERS,
    LSTM_WEIGHTS,
    REGRESSOR_TARGETS,
    SHARED_ATTRIBUTES,
    SHARED_PARAMETERS,
    for_cell,
)
from ._estimators import BaseRecurrentClassifier, BaseRecurrentRegressor

_PARAMETERS = for_cell(
    SHARED_PARAMETERS,
    [
        (LSTM_LAYERS, "Number of units H of each stacked simple RNN layer"),
        (
            LSTM_ACTIVATION,
            """\
        Activation of the hidden state, ``h' = activation(x W + h U + b)``.
""",
        ),
        (FORGET_BIAS, ""),
    ],
)

_ATTRIBUTES = for_cell(
    SHARED_ATTRIBUTES,
    [
        (
            LSTM_WEIGHTS,
            """\
        Use ``rnn_weights_``, ``head_coef_`` and ``head_intercept_`` for the
        weights in the Keras layout (views, but a regressor's head, which is
        in the units of ``y``): per layer a kernel (n_in, H), a recurrent kernel
        (H, H) and a bias (H,). PyTorch's ``weight_ih_l0`` is the transpose
        of the kernel (and its two biases add up to this one).
""",
        )
    ],
)

_NOTES = for_cell(
    INPUT_NOTES,
    [
        (
            LSTM_CELL,
            """\
    The cell is the simple recurrent network of Elman (1990)::

        h' = act(x W + h U + b)

    with a bias starting at zero. Without gates its memory of early steps
    fades quickly, and its gradients through long sequences vanish or
    explode: the LSTM and GRU estimators learn long lags it cannot.

""",
        )
    ],
)

_REFERENCES = """
    References
    ----------
    J. L. Elman, "Finding Structure in Time", Cognitive Science 14(2):179-211,
    1990.
"""


class _RNNCell:
    """What the simple RNN estimators add to the shared ones: the cell and
    ``rnn_weights_``."""

    _cell = "rnn"

    @property
    def rnn_weights_(self):
        """Per layer, a dict of views ``kernel`` (n_in, H), ``recurrent_kernel``
        (H, H) and ``bias`` (H,); for a bidirectional network also
        ``kernel_reverse``, ``recurrent_kernel_reverse`` and ``bias_reverse``
        for the direction that reads sequences backwards."""
        return self._layer_weights()


class RNNRegressor(_RNNCell, BaseRecurrentRegressor):
    __doc__ = (
        """Simple (Elman) recurrent network regressor.

    Reads each input sequence with one or more simple recurrent layers and
    maps the last hidden state of the top layer to the targets with a linear
    head, trained on the squared error.
"""
        + REGRESSOR_TARGETS
        + """
    Parameters
    ----------"""
        + _PARAMETERS
        + """
    Attributes
    ----------"""
        + _ATTRIBUTES
        + """
    See Also
    --------
    RNNClassifier : The same network for classification.
    GRURegressor : The same estimator with gated (GRU) layers.
    LSTMRegressor : The same estimator with LSTM layers.

    Notes
    -----"""
        + _NOTES
        + _REFERENCES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skseq import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 6, 1))
    >>> y = X[:, -3:, 0].sum(axis=1)   # depends on the last steps
    >>> model = RNNRegressor(hidden_layer_sizes=(16,), max_iter=100,
    ...                      random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.8   # R^2
    True
    """
    )


class RNNClassifier(_RNNCell, BaseRecurrentClassifier):
    __doc__ = (
        """Simple (Elman) recurrent network classifier.

    Reads each input sequence with one or more simple recurrent layers and
    maps the last hidden state of the top layer to class probabilities: a
    logistic output for binary and multilabel problems, a softmax for
    multiclass ones, trained on the cross-entropy.

    Parameters
    ----------"""
        + _PARAMETERS
        + CLASSIFIER_PARAMETERS_AND_ATTRIBUTES
        + _ATTRIBUTES
        + """
    See Also
    --------
    RNNRegressor : The same network for regression.
    GRUClassifier : The same estimator with gated (GRU) layers.
    LSTMClassifier : The same estimator with LSTM layers.

    Notes
    -----"""
        + _NOTES
        + _REFERENCES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skseq import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 6, 1))
    >>> y = (X[:, -3:, 0].sum(axis=1) > 0).astype(int)   # the last steps
    >>> clf = RNNClassifier(hidden_layer_sizes=(16,), max_iter=100,
    ...                     random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.85   # chance is 0.5
    True
    """
    )
