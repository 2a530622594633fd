"""GRURegressor and GRUClassifier: the GRU cell, its weights and its docs;
the rest is the shared regressor and classifier of ``_estimators``."""

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
        (LSTM_LAYERS, "Number of units H of each stacked GRU layer"),
        (
            LSTM_ACTIVATION,
            """\
        Activation of the candidate values ``n``. The update and reset gates
        always use the logistic sigmoid.
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
        Use ``gru_weights_``, ``head_coef_`` and ``head_intercept_`` for the
        weights in the Keras layout (views, but a regressor's head, which is
        in the units of ``y``): per layer a kernel (n_in, 3H), a recurrent kernel
        (H, 3H) and a bias (2, 3H) (input row, then recurrent row), gate
        blocks ordered z, r, h. PyTorch's ``weight_ih_l0`` is the transpose
        of the kernel, with its blocks ordered r, z, n.
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
    The cell is the gated recurrent unit of Cho et al. (2014), in the
    ``reset_after`` form of PyTorch, cuDNN and Keras 3 (the reset gate
    multiplies the recurrent product, bias included)::

        z = sigmoid(x W_z + b_xz + h U_z + b_hz)
        r = sigmoid(x W_r + b_xr + h U_r + b_hr)
        n = act(x W_h + b_xh + r * (h U_h + b_hh))
        h' = z * h + (1 - z) * n

    On training sequences of more than 32 steps, the update gate's input
    biases b_xz start from the chrono initialisation of Tallec & Ollivier
    (2018), as the LSTM's forget gates do with ``forget_bias="auto"``:
    ``log(u)`` with ``u`` drawn uniformly in ``[1, T - 1]``, T the longest
    training sequence. z = 1 keeps the state, so each unit starts out
    keeping what early steps wrote for about ``u`` steps, spans spread up to
    T (with z = 0.5 it would halve at every step). On shorter sequences they
    start at 1.0 (z = 0.73), as the LSTM's forget gates do. All other biases
    start at zero (r = 0.5).

""",
        )
    ],
)

_REFERENCES = """
    References
    ----------
    K. Cho, B. van Merrienboer, C. Gulcehre, D. Bahdanau, F. Bougares,
    H. Schwenk and Y. Bengio, "Learning Phrase Representations using RNN
    Encoder-Decoder for Statistical Machine Translation", EMNLP 2014.

    C. Tallec and Y. Ollivier, "Can Recurrent Neural Networks Warp Time?",
    ICLR 2018.
"""


class _GRUCell:
    """What the GRU estimators add to the shared ones: the cell and
    ``gru_weights_``."""

    _cell = "gru"

    @property
    def gru_weights_(self):
        """Per layer, a dict of views ``kernel`` (n_in, 3H), ``recurrent_kernel``
        (H, 3H) and ``bias`` (2, 3H) (input row, then recurrent row), gate
        blocks in the order z, r, h; for a bidirectional network also
        ``kernel_reverse``, ``recurrent_kernel_reverse`` and ``bias_reverse``
        for the direction that reads sequences backwards."""
        return self._layer_weights()


class GRURegressor(_GRUCell, BaseRecurrentRegressor):
    __doc__ = (
        """Gated recurrent unit network regressor.

    Reads each input sequence with one or more GRU layers and maps the last
    hidden state of the top layer to the targets with a linear head, trained
    on the squared error.
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
    GRUClassifier : The same network for classification.
    LSTMRegressor : The same estimator with LSTM layers.

    Notes
    -----"""
        + _NOTES
        + _REFERENCES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skseq import GRURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 10, 1))
    >>> y = X[:, :3, 0].sum(axis=1)   # depends on the early steps
    >>> model = GRURegressor(hidden_layer_sizes=(16,), max_iter=100,
    ...                      random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.8   # R^2
    True
    """
    )


class GRUClassifier(_GRUCell, BaseRecurrentClassifier):
    __doc__ = (
        """Gated recurrent unit network classifier.

    Reads each input sequence with one or more GRU layers and maps the last
    hidden state of the top layer to class probabilities: a logistic output
    for binary and multilabel problems, a softmax for multiclass ones, trained
    on the cross-entropy.

    Parameters
    ----------"""
        + _PARAMETERS
        + CLASSIFIER_PARAMETERS_AND_ATTRIBUTES
        + _ATTRIBUTES
        + """
    See Also
    --------
    GRURegressor : The same network for regression.
    LSTMClassifier : The same estimator with LSTM layers.

    Notes
    -----"""
        + _NOTES
        + _REFERENCES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skseq import GRUClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 12, 1))
    >>> y = (X[:, :3, 0].sum(axis=1) > 0).astype(int)   # depends on early steps
    >>> clf = GRUClassifier(hidden_layer_sizes=(16,), max_iter=100,
    ...                     random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.85   # chance is 0.5
    True
    """
    )
