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
        Whether to shuffle the sequences at every epoch. Without shuffling,
        early stopping holds out the last ``validation_fraction`` of the
        samples, as the order of windows of one series asks.

    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the shuffling and the validation
        split. An int gives the same model on every fit. See
        :term:`Glossary <random_state>`.

    tol : float, default=1e-4
        Minimum improvement of the training loss (or of the validation score
        with ``early_stopping``) that counts as progress, measured from the
        last epoch that made progress (see ``n_iter_no_change``).

    verbose : bool, default=False
        Print, for every epoch, ``Epoch k/max_iter``, the loss, the
        validation score, the time it took and an estimate of how long the
        remaining epochs up to ``max_iter`` will take. With scikit-learn 1.9
        or later, ``set_callbacks`` (for instance with
        :class:`sklearn.callback.ProgressBar`) reports progress too.

    warm_start : bool, default=False
        Reuse the weights and optimizer state of the previous fit as the
        starting point. See :term:`the Glossary <warm_start>`.

    momentum : float, default=0.9
        Momentum of SGD updates, in [0, 1].

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with SGD.

    early_stopping : bool, default=False
        Score a validation set after every epoch, stop when the score has not
        improved by ``tol`` for ``n_iter_no_change`` epochs (of at least ten
        optimizer steps, see ``n_iter_no_change``), and restore the weights
        and optimizer state of the best epoch. The validation set is
        ``fit``'s ``X_val`` and ``y_val`` when given; otherwise
        ``validation_fraction`` of the training data is held out: the last
        samples with ``shuffle=False``, otherwise samples chosen by content,
        per class for a classifier, so duplicates stay on one side. Data too
        few to hold out two distinct samples train without early stopping,
        with a warning. ``partial_fit`` ignores it.

    scoring : str, callable, "loss" or None, default="loss"
        Early-stopping score on the validation set, higher is better: "loss"
        for the negated validation loss (the default, as
        :class:`~sklearn.ensemble.HistGradientBoostingRegressor` has it), None
        for the estimator's :meth:`score` (R^2 or accuracy), a scorer name
        (see :ref:`scoring_string_names`) or a callable ``scorer(estimator,
        X, y)``. The loss is the default because it changes smoothly from
        epoch to epoch: on a small validation set, accuracy moves in steps of
        one sample, and a barely trained epoch can tie or beat the later ones.
        Used only with ``early_stopping=True``. With
        ``return_sequences=True`` a scorer name scores every real step as one
        sample (as :meth:`score` does); a callable gets the validation
        samples as given, with per-step targets, and one weight per sequence
        (:func:`skseq.metrics.per_step_scorer` makes one that scores the
        real steps).

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping when ``fit``
        is not given ``X_val``.

    beta_1 : float, default=0.9
        Decay rate of Adam's first moment (mean) estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second moment (uncentred variance) estimates,
        in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical-stability constant.

    n_iter_no_change : int or np.inf, default=10
        Epochs without progress by ``tol`` that the fit tolerates, in epochs
        of at least ten optimizer steps: it stops at the next one (as
        scikit-learn's MLP counts); ``np.inf`` switches the stall rule off.
        When an epoch is ``s < 10`` batches, the fit tolerates
        ``n_iter_no_change * ceil(10 / s)`` epochs without progress: 100 by
        default on a training set of one batch (up to 200 samples with
        ``batch_size="auto"``). The optimizer needs steps, not passes over
        the data, to leave a plateau or to make net progress through a loss
        that oscillates from step to step. Progress is counted from the last
        epoch that made progress, so a loss that falls by less than ``tol``
        per epoch but by ``tol`` over a few still counts. A fit that stops on
        a stall of the training loss keeps the weights (and optimizer state)
        of its lowest-loss epoch, as early stopping keeps the best validation
        epoch; ``loss_`` stays the last epoch's loss.

    max_grad_norm : float or None, default=1.0
        Clip the gradient of every step to this global L2 norm (the norm over
        all weights at once). Clipping keeps exploding gradients, common with
        long sequences and ``activation="relu"``, from wrecking a fit. None
        turns it off.

    forget_bias : "auto" or float, default="auto"
        Initial bias of the forget gates. ``"auto"`` follows the longest
        training sequence, ``T_max``. Up to 32 steps it is 1.0, the usual
        fixed choice (as in Keras), which carries information over such
        lengths. Beyond, it is the chrono initialisation (Tallec & Ollivier,
        "Can recurrent neural networks warp time?", ICLR 2018): each unit's
        forget-gate bias is ``log(u)``, ``u`` uniform in ``[1, T_max - 1]``,
        and its input-gate bias the negative, so the units start with memory
        spans spread from one step to the whole sequence. ``T_max`` is taken
        on the first ``fit`` or ``partial_fit`` call; later ``partial_fit``
        calls and ``warm_start`` fits keep the weights. A number sets every
        forget-gate bias to it and the input-gate biases to 0 (3 to 5 help
        when the information lies hundreds of steps back).

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

    return_sequences : bool, default=False
        Predict at every time step instead of once per sequence: the head
        reads the top layer at each step, ``y`` has one target per step
        (``(n_samples, n_timesteps)``, or ``(n_samples, n_timesteps,
        n_outputs)`` for several outputs or labels per step, or a list of
        per-sequence arrays for ragged ``X``),
        and :meth:`predict` returns the same layout. The loss and
        :meth:`score` average over all real steps (padding never counts);
        ``sample_weight`` weights whole sequences (``class_weight``, each
        step by its label). The prediction at step t of a one-direction
        model depends on steps 1 to t only; a bidirectional model's reverse
        direction has read the whole sequence at every step. In model
        selection, :func:`skseq.metrics.per_step_scorer` scores it step by
        step.
"""

SHARED_ATTRIBUTES = """
    loss_ : float
        Training loss of the last epoch: the mean over its samples (its real
        steps with ``return_sequences=True``), weighted by ``sample_weight``,
        penalty included.

    best_loss_ : float or None
        Lowest training loss seen; None when ``early_stopping=True``.

    loss_curve_ : list of float
        Training loss of every epoch.

    validation_scores_ : list of float or None
        Validation score (see ``scoring``) of every epoch with
        ``early_stopping=True``; -inf for an epoch whose validation outputs
        are not all finite.

    validation_loss_curve_ : list of float or None
        Validation loss of every epoch with ``early_stopping=True``: the
        training loss's data term (squared error or cross-entropy, without
        the ``alpha`` penalty) on the validation set; inf where its outputs
        are not all finite.

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
        Use ``lstm_weights_``, ``head_coef_`` and ``head_intercept_`` for the
        weights in the Keras layout (views, but a regressor's head, which is
        in the units of ``y``): per layer a kernel (n_in, 4H), a recurrent kernel
        (H, 4H) and a bias (4H,), gate blocks ordered i, f, g, o. PyTorch's
        ``weight_ih_l0`` is the transpose of the kernel.
"""

# Between a classifier's shared parameters and its shared attributes.
CLASSIFIER_PARAMETERS_AND_ATTRIBUTES = """
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, multiplied with ``sample_weight``.
        "balanced" weighs each class inversely to its frequency in ``y``.
        Not available for multilabel targets.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel ``y``, the label indices).
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
        Use ``lstm_weights_``, ``head_coef_`` and ``head_intercept_`` for the
        weights in the Keras layout (views, but a regressor's head, which is
        in the units of ``y``): per layer a kernel (n_in, 4H), a recurrent kernel
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


# After a regressor's first paragraph: what the network learns.
REGRESSOR_TARGETS = """
    The network learns scaled targets: each output minus its mean, divided
    by its standard deviation where that exceeds 1 (both weighted by
    ``sample_weight``, from the data of the first ``fit`` or
    ``partial_fit`` call, and kept with the model). So targets far from
    zero, or spread over thousands, train as targets near unit size do,
    and the network starts out predicting about their mean. Predictions,
    ``head_coef_`` and ``head_intercept_`` are in the units of ``y`` (the
    latter two are read-only arrays with the scaling folded in, not views
    of ``weights_``); the losses (``loss_``, ``loss_curve_``,
    ``validation_loss_curve_``) are those of the scaled targets.
"""
