"""Docstring parts shared by the estimators, written for the LSTM's; the
other cells' estimators adapt them with :func:`for_cell`."""

SHARED_PARAMETERS = """
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

SHARED_ATTRIBUTES = """
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

INPUT_NOTES = """
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


# The LSTM-only passages of the parts above, which the other cells replace.
LSTM_LAYERS = "Number of units H of each stacked LSTM layer"
LSTM_ACTIVATION = """\
        Activation of the candidate values and of the cell output
        (``h = o * activation(c)``). The gates always use the logistic
        sigmoid.
"""
FORGET_BIAS = SHARED_PARAMETERS[
    SHARED_PARAMETERS.index("    forget_bias :") : SHARED_PARAMETERS.index(
        "    bidirectional :"
    )
]
LSTM_WEIGHTS = """\
        Use ``lstm_weights_``, ``head_coef_`` and ``head_intercept_`` for views
        in the Keras layout: per layer a kernel (n_in, 4H), a recurrent kernel
        (H, 4H) and a bias (4H,), gate blocks ordered i, f, g, o. PyTorch's
        ``weight_ih_l0`` is the transpose of the kernel.
"""
LSTM_CELL = INPUT_NOTES[
    INPUT_NOTES.index("    The cell is the LSTM") : INPUT_NOTES.index(
        "    Training runs"
    )
]


def for_cell(text, replacements):
    """``text`` with each (old, new) of ``replacements`` done; every old
    passage must occur in it exactly once."""
    for old, new in replacements:
        if text.count(old) != 1:
            raise ValueError(f"Expected the passage {old[:40]!r}... exactly once.")
        text = text.replace(old, new)
    return text
