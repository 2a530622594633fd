"""Generators for the long-time-lag tasks of Hochreiter & Schmidhuber (1997).

Every generator returns ``(X, y)``. Fixed-length tasks give a 3-D array
``(n_samples, n_timesteps, n_features)``; tasks whose sequences differ in
length give a list of 2-D arrays ``(length_i, n_features)``, the ragged input
format accepted by the skseq estimators. All inputs are float64.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_scalar

# Column order of the one-hot encodings. The docstrings below repeat it, so
# the order is part of the public contract.
_TEMPORAL_ORDER_SYMBOLS = ("a", "b", "c", "d", "B", "E", "X", "Y")
_REBER_SYMBOLS = ("B", "T", "P", "S", "X", "V", "E")

# Reber grammar as a graph: state -> two equally likely (symbol, next state)
# edges. A string starts with B in state 1 and ends with E on reaching state 6.
_REBER_EDGES = {
    1: (("T", 2), ("P", 3)),
    2: (("S", 2), ("X", 4)),
    3: (("T", 3), ("V", 5)),
    4: (("X", 3), ("S", 6)),
    5: (("P", 4), ("V", 6)),
}
_REBER_FINAL_STATE = 6

# Temporal order task: inclusive ranges of the positions that hold X or Y.
_TEMPORAL_ORDER_SLOTS = {
    4: ((10, 20), (50, 60)),
    8: ((10, 20), (33, 43), (66, 76)),
}
_TEMPORAL_ORDER_MIN_LENGTH = 100
_TEMPORAL_ORDER_MAX_LENGTH = 110

_VARIANTS = ("modern", "hochreiter1997")
# The 1997 marking rule picks the first marker among the first ten pairs and
# the second among the first T/2 - 1 unmarked ones; T >= 20 keeps the first
# range inside the second.
_MIN_TIMESTEPS_1997 = 20


def _check_count(value, name, min_val):
    """An integer of at least ``min_val``; a bool is not a count, though
    Python makes it an Integral."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got the bool {value!r}.")
    check_scalar(value, name, numbers.Integral, min_val=min_val)


def _check_sample_count(n_samples):
    _check_count(n_samples, "n_samples", 1)


def _check_variant(variant, n_timesteps):
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}.")
    min_timesteps = _MIN_TIMESTEPS_1997 if variant == "hochreiter1997" else 2
    _check_count(n_timesteps, "n_timesteps", min_timesteps)


def _modern_marked_pairs(n_samples, n_timesteps, rng):
    """Fixed-length two-channel sequences with one marked step in each half.

    Returns the array ``(n_samples, n_timesteps, 2)`` and the two marked values
    of every sequence, in time order.
    """
    values = rng.uniform(0.0, 1.0, size=(n_samples, n_timesteps))
    half = n_timesteps // 2
    early = rng.randint(0, half, size=n_samples)
    late = rng.randint(half, n_timesteps, size=n_samples)
    rows = np.arange(n_samples)
    mask = np.zeros_like(values)
    mask[rows, early] = 1.0
    mask[rows, late] = 1.0
    X = np.stack((values, mask), axis=-1)
    return X, values[rows, early], values[rows, late]


def _hochreiter_marked_pairs(n_samples, n_timesteps, low, high, first_pair_value, rng):
    """Variable-length marked sequences of Experiments 4 and 5 (1997).

    Returns a list of ``(length_i, 2)`` arrays and the two marked values of
    every sequence (after the first-pair substitution).
    """
    lengths = rng.randint(
        n_timesteps, n_timesteps + n_timesteps // 10 + 1, size=n_samples
    )
    values = rng.uniform(low, high, size=(n_samples, lengths.max()))
    first = rng.randint(0, 10, size=n_samples)
    # The second mark goes to one of the first T/2 - 1 pairs that are still
    # unmarked: draw a rank in that reduced list, then skip over `first`.
    rank = rng.randint(0, n_timesteps // 2 - 1, size=n_samples)
    second = rank + (rank >= first)

    rows = np.arange(n_samples)
    markers = np.zeros_like(values)
    markers[:, 0] = -1.0
    markers[rows, lengths - 1] = -1.0
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    first_pair_marked = markers[:, 0] == 1.0
    values[first_pair_marked, 0] = first_pair_value

    X = [
        np.column_stack((values[i, :length], markers[i, :length]))
        for i, length in enumerate(lengths)
    ]
    return X, values[rows, first], values[rows, second]


def make_adding_problem(
    n_samples=1000, n_timesteps=50, *, variant="modern", random_state=None
):
    """Generate the adding problem, a regression task with a long time lag.

    Each sequence is a series of (value, marker) pairs; exactly two pairs are
    marked, and the target, known only at the end, depends on the two marked
    values alone. A model has to store them until the sequence ends.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.

    n_timesteps : int, default=50
        Sequence length ``T``. With ``variant="hochreiter1997"`` this is the
        minimal length, and it must be at least 20.

    variant : {"modern", "hochreiter1997"}, default="modern"
        Which definition to follow; see Notes.

    random_state : int, RandomState instance or None, default=None
        Seed or generator for the random draws. Pass an int for reproducible
        output across calls. See :term:`Glossary <random_state>`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 2) or list of ndarray
        The sequences. Channel 0 holds the values, channel 1 the markers.
        With ``variant="hochreiter1997"``, a list of ``n_samples`` float
        arrays of shape ``(length_i, 2)``.

    y : ndarray of shape (n_samples,)
        The regression target.

    See Also
    --------
    make_multiplication_problem : The same sequences with a product target.

    Notes
    -----
    ``variant="modern"`` is the form used by Le, Jaitly & Hinton (2015) and
    most later papers. Values are uniform on [0, 1]; the marker channel is 0
    everywhere except for two ones, one at a uniformly chosen step of the
    first half (steps ``0 .. T//2 - 1``) and one in the second half. The
    target is the sum of the two marked values. Always predicting the mean
    target, 1, gives a mean squared error of Var(U1 + U2) = 1/6 (about
    0.167); the task is usually called solved when the error is well below
    0.01.

    ``variant="hochreiter1997"`` is Experiment 4 of Hochreiter & Schmidhuber
    (1997):

    - the length of each sequence is drawn uniformly from the integers
      ``T .. T + T//10``;
    - values are uniform on [-1, 1];
    - a first pair is marked with 1, chosen uniformly among the first ten
      pairs; a second pair is marked with 1, chosen uniformly among the first
      ``T//2 - 1`` pairs that are not marked yet (so among steps
      ``0 .. T//2 - 1`` minus the first mark);
    - the first and the last pair carry the marker -1 unless marked with 1;
      all other markers are 0;
    - if the first pair of the sequence is marked, its value is replaced by
      0 in ``X`` (the paper's rule "X1 = 0"), so the target still follows
      from ``X`` alone;
    - the target is ``0.5 + (X1 + X2) / 4``, where X1 and X2 are the two
      marked values; it lies in [0, 1].

    The paper counts a sequence as correct when the absolute error is below
    0.04. Its LSTM (two memory blocks of two cells, 93 weights, no forget
    gate, trained online on fresh sequences) reached the stopping criterion,
    averaged over 10 trials and tested on 2560 sequences, after 74,000
    training sequences for T=100 (1 test sequence wrong), 209,000 for T=500
    (none wrong) and 853,000 for T=1000 (1 wrong).

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory",
       Neural Computation 9(8):1735-1780, 1997, Section 5.4.
       doi:10.1162/neco.1997.9.8.1735
    .. [2] Q. V. Le, N. Jaitly and G. E. Hinton, "A Simple Way to Initialize
       Recurrent Networks of Rectified Linear Units", arXiv:1504.00941, 2015.

    Examples
    --------
    >>> from skseq.datasets import make_adding_problem
    >>> X, y = make_adding_problem(n_samples=5, n_timesteps=20, random_state=0)
    >>> X.shape, y.shape
    ((5, 20, 2), (5,))
    >>> X_1997, y_1997 = make_adding_problem(
    ...     n_samples=5, n_timesteps=100, variant="hochreiter1997", random_state=0
    ... )
    >>> all(100 <= len(sequence) <= 110 for sequence in X_1997)
    True
    """
    _check_sample_count(n_samples)
    _check_variant(variant, n_timesteps)
    rng = check_random_state(random_state)
    if variant == "modern":
        X, first_value, second_value = _modern_marked_pairs(n_samples, n_timesteps, rng)
        return X, first_value + second_value
    X, first_value, second_value = _hochreiter_marked_pairs(
        n_samples, n_timesteps, -1.0, 1.0, 0.0, rng
    )
    return X, 0.5 + (first_value + second_value) / 4.0


def make_multiplication_problem(
    n_samples=1000, n_timesteps=50, *, variant="modern", random_state=None
):
    """Generate the multiplication problem, the product twin of the adding problem.

    Sequences are laid out exactly as in :func:`make_adding_problem`; the
    target is the product of the two marked values. Unlike a sum, a product
    cannot be accumulated by simply adding inputs into a memory cell, which
    is why the 1997 paper included it.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.

    n_timesteps : int, default=50
        Sequence length ``T``. With ``variant="hochreiter1997"`` this is the
        minimal length, and it must be at least 20.

    variant : {"modern", "hochreiter1997"}, default="modern"
        Which layout to follow; see Notes.

    random_state : int, RandomState instance or None, default=None
        Seed or generator for the random draws. Pass an int for reproducible
        output across calls. See :term:`Glossary <random_state>`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_timesteps, 2) or list of ndarray
        The sequences. Channel 0 holds the values, channel 1 the markers.
        With ``variant="hochreiter1997"``, a list of ``n_samples`` float
        arrays of shape ``(length_i, 2)``.

    y : ndarray of shape (n_samples,)
        The product of the two marked values, in [0, 1].

    See Also
    --------
    make_adding_problem : The same sequences with a sum target.

    Notes
    -----
    ``variant="modern"`` uses the two-channel layout of the modern adding
    problem (values uniform on [0, 1], one mark in each half of a
    fixed-length sequence) with the product as target. It is a convenience
    analogue, not a task from the literature.

    ``variant="hochreiter1997"`` is Experiment 5 of Hochreiter & Schmidhuber
    (1997). Lengths, markers and the choice of the two marked pairs follow
    the 1997 adding problem (see :func:`make_adding_problem`), with two
    differences: values are uniform on [0, 1], and a marked first pair gets
    the value 1 instead of 0 (the neutral element of the product). The target
    is ``X1 * X2``.

    For T=100 the paper reports that its LSTM needed 482,000 training
    sequences on average to reach 139 wrong answers out of 2560 test
    sequences (mean squared error 0.0223).

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory",
       Neural Computation 9(8):1735-1780, 1997, Section 5.5.
       doi:10.1162/neco.1997.9.8.1735

    Examples
    --------
    >>> from skseq.datasets import make_multiplication_problem
    >>> X, y = make_multiplication_problem(
    ...     n_samples=4, n_timesteps=100, variant="hochreiter1997", random_state=0
    ... )
    >>> len(X), X[0].shape[1], y.shape
    (4, 2, (4,))
    """
    _check_sample_count(n_samples)
    _check_variant(variant, n_timesteps)
    rng = check_random_state(random_state)
    if variant == "modern":
        X, first_value, second_value = _modern_marked_pairs(n_samples, n_timesteps, rng)
    else:
        X, first_value, second_value = _hochreiter_marked_pairs(
            n_samples, n_timesteps, 0.0, 1.0, 1.0, rng
        )
    return X, first_value * second_value


def make_temporal_order(n_samples=1000, *, n_classes=4, random_state=None):
    """Generate the temporal order task: classify the order of distant symbols.

    Each sequence is mostly noise symbols; two (or three) positions far apart
    hold an X or a Y, and the class is the order in which they occur. The
    distractors between them make the task a test of long-term storage of
    ordered information.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.

    n_classes : {4, 8}, default=4
        4 for Experiment 6a (two relevant positions, classes ``"XX"``,
        ``"XY"``, ``"YX"``, ``"YY"``); 8 for Experiment 6b (three relevant
        positions, classes ``"XXX"`` to ``"YYY"``).

    random_state : int, RandomState instance or None, default=None
        Seed or generator for the random draws. Pass an int for reproducible
        output across calls. See :term:`Glossary <random_state>`.

    Returns
    -------
    X : list of ndarray of shape (length_i, 8)
        One-hot encoded sequences of length 100 to 110. The columns stand for
        the symbols ``a, b, c, d, B, E, X, Y``, in this order.

    y : ndarray of shape (n_samples,), dtype str
        The X/Y symbols in the order they appear, for instance ``"XY"``.

    Notes
    -----
    Following Experiment 6 of Hochreiter & Schmidhuber (1997), counting
    positions from 0:

    - the length L is drawn uniformly from the integers 100 .. 110;
    - position 0 holds E and position L - 1 holds the trigger symbol B;
    - with ``n_classes=4``, positions t1 in 10 .. 20 and t2 in 50 .. 60
      (uniform) each hold X or Y with equal probability;
    - with ``n_classes=8``, positions t1 in 10 .. 20, t2 in 33 .. 43 and
      t3 in 66 .. 76 do;
    - every other position holds one of a, b, c, d, drawn uniformly.

    The paper trained with one output unit per class and counted a sequence
    as correct when every output was within 0.3 of its target at the end.
    Its LSTM solved 6a after 31,390 training sequences on average (1 of 2560
    test sequences wrong) and 6b after 571,100 (2 wrong).

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory",
       Neural Computation 9(8):1735-1780, 1997, Section 5.6.
       doi:10.1162/neco.1997.9.8.1735

    Examples
    --------
    >>> from skseq.datasets import make_temporal_order
    >>> X, y = make_temporal_order(n_samples=3, random_state=0)
    >>> len(X), X[0].shape[1]
    (3, 8)
    >>> sorted(set(make_temporal_order(200, random_state=0)[1].tolist()))
    ['XX', 'XY', 'YX', 'YY']
    """
    _check_sample_count(n_samples)
    if (
        isinstance(n_classes, bool | np.bool_)
        or not isinstance(n_classes, numbers.Integral)
        or n_classes not in _TEMPORAL_ORDER_SLOTS
    ):
        raise ValueError(f"n_classes must be 4 or 8, got {n_classes!r}.")
    rng = check_random_state(random_state)
    symbol_index = {symbol: i for i, symbol in enumerate(_TEMPORAL_ORDER_SYMBOLS)}

    lengths = rng.randint(
        _TEMPORAL_ORDER_MIN_LENGTH, _TEMPORAL_ORDER_MAX_LENGTH + 1, size=n_samples
    )
    # Noise symbols a..d are the first four columns.
    symbols = rng.randint(0, 4, size=(n_samples, _TEMPORAL_ORDER_MAX_LENGTH))
    rows = np.arange(n_samples)
    symbols[:, 0] = symbol_index["E"]
    symbols[rows, lengths - 1] = symbol_index["B"]

    letters_per_slot = []
    for earliest, latest in _TEMPORAL_ORDER_SLOTS[n_classes]:
        positions = rng.randint(earliest, latest + 1, size=n_samples)
        is_y = rng.randint(0, 2, size=n_samples)
        symbols[rows, positions] = symbol_index["X"] + is_y
        letters_per_slot.append(np.where(is_y == 1, "Y", "X"))
    labels = np.array(
        ["".join(letters) for letters in zip(*letters_per_slot, strict=True)]
    )

    one_hot = np.eye(len(_TEMPORAL_ORDER_SYMBOLS))
    X = [one_hot[symbols[i, :length]] for i, length in enumerate(lengths)]
    return X, labels


def _reber_string(rng):
    """Draw one string of the (inner) Reber grammar, from B to E inclusive."""
    symbols = ["B"]
    state = 1
    while state != _REBER_FINAL_STATE:
        symbol, state = _REBER_EDGES[state][rng.randint(2)]
        symbols.append(symbol)
    symbols.append("E")
    return symbols


def make_embedded_reber(n_samples=1000, *, random_state=None):
    """Generate embedded Reber strings as a many-to-one classification task.

    An embedded Reber string is ``B``, then ``T`` or ``P``, then a string of
    the Reber grammar, then the same ``T`` or ``P`` again, then ``E``. This
    generator returns each string cut off right after the inner Reber string
    ends; the label is the symbol that would come next, i.e. the second
    symbol of the string. Both labels occur in both halves of the embedding,
    so the only way to predict it is to remember the second symbol across
    the whole inner string.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of strings.

    random_state : int, RandomState instance or None, default=None
        Seed or generator for the random draws. Pass an int for reproducible
        output across calls. See :term:`Glossary <random_state>`.

    Returns
    -------
    X : list of ndarray of shape (length_i, 7)
        One-hot encoded strings (the outer ``B``, the outer ``T``/``P`` and
        the complete inner Reber string). The columns stand for the symbols
        ``B, T, P, S, X, V, E``, in this order. The shortest inner string has
        5 symbols, so every length is at least 7.

    y : ndarray of shape (n_samples,), dtype str
        ``"T"`` or ``"P"``, the symbol that must come before the final ``E``.

    See Also
    --------
    make_embedded_reber_next_symbols : The same strings with a target at
        every step, the paper's form of the task.

    Notes
    -----
    The inner Reber grammar is a graph with six states. From state 1 (entered
    after the initial ``B``), each step emits one of two symbols with equal
    probability and moves on:

    ======  =============  =============
    state   first edge     second edge
    ======  =============  =============
    1       T -> 2         P -> 3
    2       S -> 2         X -> 4
    3       T -> 3         V -> 5
    4       X -> 3         S -> 6
    5       P -> 4         V -> 6
    ======  =============  =============

    Reaching state 6 ends the string with ``E``. The outer ``T``/``P`` is also
    drawn with equal probability.

    Hochreiter & Schmidhuber (1997, Experiment 1) used these strings for
    next-symbol prediction: the network reads one symbol at a time and must
    predict the set of possible successors at every step, with 256 training
    and 256 test strings. Their LSTM learned to predict every symbol
    correctly in 97-100 % of trials, after 8,440 to 39,740 training strings,
    whereas RTRL, Elman networks and other methods of the time mostly
    failed. The many-to-one form here keeps only the hard part of that task,
    the prediction of the symbol before last, so that it fits ``fit(X, y)``;
    :func:`make_embedded_reber_next_symbols` gives the whole task.

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory",
       Neural Computation 9(8):1735-1780, 1997, Section 5.1.
       doi:10.1162/neco.1997.9.8.1735
    .. [2] A. S. Reber, "Implicit learning of artificial grammars", Journal
       of Verbal Learning and Verbal Behavior 6(6):855-863, 1967.

    Examples
    --------
    >>> from skseq.datasets import make_embedded_reber
    >>> X, y = make_embedded_reber(n_samples=4, random_state=0)
    >>> X[0].shape[1], sorted(set(make_embedded_reber(50, random_state=0)[1].tolist()))
    (7, ['P', 'T'])
    """
    _check_sample_count(n_samples)
    rng = check_random_state(random_state)
    symbol_index = {symbol: i for i, symbol in enumerate(_REBER_SYMBOLS)}
    one_hot = np.eye(len(_REBER_SYMBOLS))

    X = []
    labels = np.empty(n_samples, dtype="<U1")
    for i in range(n_samples):
        outer = "TP"[rng.randint(2)]
        symbols = ["B", outer, *_reber_string(rng)]
        X.append(one_hot[[symbol_index[symbol] for symbol in symbols]])
        labels[i] = outer
    return X, labels


def _successors(state):
    """The symbols that may be emitted from a state of the inner grammar."""
    if state == _REBER_FINAL_STATE:
        return ("E",)
    return tuple(symbol for symbol, _ in _REBER_EDGES[state])


def _next_symbol_sets(symbols):
    """For an embedded Reber string (a list of symbols from ``B`` to ``E``),
    the symbols that may follow each of its prefixes: entry t is the set of
    possible successors of ``symbols[:t + 1]``, for t up to the symbol
    before last."""
    outer = symbols[1]
    # Outer B, outer T/P, inner B (state 1), ...
    sets = [("T", "P"), ("B",), _successors(1)]
    state = 1
    # ... each inner symbol between the inner B and the inner E, ...
    for symbol in symbols[3:-3]:
        state = dict(_REBER_EDGES[state])[symbol]
        sets.append(_successors(state))
    # ... the inner E (then the embedded symbol must come) and the second
    # outer T/P (then the final E).
    sets += [(outer,), ("E",)]
    return sets


def make_embedded_reber_next_symbols(n_samples=1000, *, random_state=None):
    """Generate embedded Reber strings as a next-symbol prediction task.

    The paper's own form of the embedded Reber task: a network reads an
    embedded Reber string one symbol at a time and predicts, at every step,
    the set of symbols that may come next. Most steps only test knowledge of
    the grammar; the step after the inner string's final ``E`` tests memory,
    since its only possible successor is the second symbol of the string,
    read many steps earlier. For a per-step regressor or classifier
    (``return_sequences=True``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of strings.

    random_state : int, RandomState instance or None, default=None
        Seed or generator for the random draws. Pass an int for reproducible
        output across calls. See :term:`Glossary <random_state>`. The same
        seed gives the same strings as :func:`make_embedded_reber`.

    Returns
    -------
    X : list of ndarray of shape (length_i, 7)
        The one-hot encoded strings without their final ``E`` (which has no
        successor to predict): the outer ``B``, the outer ``T``/``P``, the
        inner Reber string and the second outer ``T``/``P``. Columns stand
        for the symbols ``B, T, P, S, X, V, E``, in this order. Every length
        is at least 8.

    Y : list of ndarray of shape (length_i, 7)
        Per-step targets: ``Y[i][t]`` is 1 in the columns of the symbols that
        may follow ``X[i][:t + 1]`` and 0 elsewhere (one or two ones per
        row). ``Y[i][-2]``, after the inner ``E``, holds exactly the embedded
        symbol ``X[i][1]``; ``Y[i][-1]`` holds ``E``.

    See Also
    --------
    make_embedded_reber : The same strings as a many-to-one task.

    Notes
    -----
    The strings are those of :func:`make_embedded_reber` (whose Notes give
    the grammar), with the embedded symbol repeated at the end. Each step's
    successor set follows from the grammar alone: two symbols where the
    grammar branches, one elsewhere.

    Hochreiter & Schmidhuber (1997, Experiment 1) trained on 256 strings and
    tested on 256 others, with one output unit per symbol. A string counts
    as predicted correctly when at every step the output units of the
    possible successors are the most active (with a 0.5 threshold on
    sigmoid outputs, for instance: exactly the target set is above it).
    Their LSTM got every symbol of every string right in 97-100 % of
    trials, after 8,440 to 39,740 training strings.

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory",
       Neural Computation 9(8):1735-1780, 1997, Section 5.1.
       doi:10.1162/neco.1997.9.8.1735

    Examples
    --------
    >>> from skseq.datasets import make_embedded_reber_next_symbols
    >>> X, Y = make_embedded_reber_next_symbols(n_samples=2, random_state=0)
    >>> X[0].shape == Y[0].shape
    True
    >>> bool((Y[0][-2] == X[0][1]).all())
    True
    """
    _check_sample_count(n_samples)
    rng = check_random_state(random_state)
    column = {symbol: i for i, symbol in enumerate(_REBER_SYMBOLS)}
    one_hot = np.eye(len(_REBER_SYMBOLS))

    X, Y = [], []
    for _ in range(n_samples):
        outer = "TP"[rng.randint(2)]
        symbols = ["B", outer, *_reber_string(rng), outer, "E"]
        X.append(one_hot[[column[symbol] for symbol in symbols[:-1]]])
        targets = np.zeros_like(X[-1])
        for t, successors in enumerate(_next_symbol_sets(symbols)):
            targets[t, [column[symbol] for symbol in successors]] = 1
        Y.append(targets)
    return X, Y
