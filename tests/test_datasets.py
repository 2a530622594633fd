"""Tests for skseq.datasets: the definitions of the tasks are the spec."""

import re
from itertools import product

import numpy as np
import pytest

from skseq.datasets import (
    load_airline_passengers,
    make_adding_problem,
    make_embedded_reber,
    make_embedded_reber_next_symbols,
    make_multiplication_problem,
    make_temporal_order,
)
from skseq.datasets._generators import _next_symbol_sets

TEMPORAL_ORDER_SYMBOLS = "abcdBEXY"
REBER_SYMBOLS = "BTPSXVE"

# The inner Reber grammar written as a regular expression, independently of
# the state graph used by the generator. From state 3 the string can loop
# through 3 -> 5 -> 4 -> 3 ("T*VPX") before leaving via "T*VV" or "T*VPS".
_FROM_STATE_3 = r"(?:T*VPX)*T*V(?:V|PS)"
REBER = rf"B(?:TS*X(?:S|X{_FROM_STATE_3})|P{_FROM_STATE_3})E"
EMBEDDED_REBER = re.compile(rf"B([TP]){REBER}\1E")


def decode(one_hot, alphabet):
    assert np.all((one_hot == 0) | (one_hot == 1))
    assert np.all(one_hot.sum(axis=1) == 1)
    return "".join(alphabet[i] for i in one_hot.argmax(axis=1))


# --------------------------------------------------------------------------
# adding and multiplication problems


@pytest.mark.parametrize("n_timesteps", [2, 7, 50])
def test_adding_modern_definition(n_timesteps):
    X, y = make_adding_problem(n_samples=300, n_timesteps=n_timesteps, random_state=0)
    assert X.shape == (300, n_timesteps, 2)
    assert y.shape == (300,)
    assert X.dtype == np.float64 and y.dtype == np.float64

    values, mask = X[..., 0], X[..., 1]
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert set(np.unique(mask)) <= {0.0, 1.0}
    half = n_timesteps // 2
    # Exactly one mark in each half, hence exactly two in all.
    np.testing.assert_array_equal(mask[:, :half].sum(axis=1), 1)
    np.testing.assert_array_equal(mask[:, half:].sum(axis=1), 1)
    np.testing.assert_allclose(y, (values * mask).sum(axis=1))


def test_adding_modern_mean_predictor_error():
    # The docstring quotes Var(U1 + U2) = 1/6 as the error of the mean.
    _, y = make_adding_problem(n_samples=20000, n_timesteps=10, random_state=0)
    assert abs(np.mean((y - 1.0) ** 2) - 1 / 6) < 0.01


def check_hochreiter_layout(X, n_timesteps, low, high, first_pair_value):
    """Assert the 1997 marking rules; return the two marked values per row."""
    marked_values = []
    saw_first_pair_marked = False
    for sequence in X:
        assert sequence.ndim == 2 and sequence.shape[1] == 2
        assert sequence.dtype == np.float64
        length = sequence.shape[0]
        assert n_timesteps <= length <= n_timesteps + n_timesteps // 10

        values, markers = sequence[:, 0], sequence[:, 1]
        assert values.min() >= low and values.max() <= high
        assert set(np.unique(markers)) <= {-1.0, 0.0, 1.0}
        marked = np.flatnonzero(markers == 1.0)
        assert marked.size == 2
        # One mark among the first ten pairs, both among the first T/2.
        assert marked.min() < 10
        assert marked.max() < n_timesteps // 2

        expected_markers = np.zeros(length)
        expected_markers[[0, -1]] = -1.0
        expected_markers[marked] = 1.0
        np.testing.assert_array_equal(markers, expected_markers)

        if marked[0] == 0:
            saw_first_pair_marked = True
            assert values[0] == first_pair_value
        marked_values.append(values[marked])
    # With a few hundred sequences the 1-in-10 case must have come up.
    assert saw_first_pair_marked
    return np.array(marked_values)


@pytest.mark.parametrize("n_timesteps", [20, 100])
def test_adding_hochreiter1997_definition(n_timesteps):
    X, y = make_adding_problem(
        n_samples=300,
        n_timesteps=n_timesteps,
        variant="hochreiter1997",
        random_state=1,
    )
    assert isinstance(X, list) and len(X) == 300
    assert y.shape == (300,) and y.dtype == np.float64
    marked = check_hochreiter_layout(X, n_timesteps, -1.0, 1.0, 0.0)
    np.testing.assert_allclose(y, 0.5 + marked.sum(axis=1) / 4)
    assert y.min() >= 0.0 and y.max() <= 1.0
    lengths = {len(sequence) for sequence in X}
    assert min(lengths) == n_timesteps
    assert max(lengths) == n_timesteps + n_timesteps // 10


def test_multiplication_hochreiter1997_definition():
    X, y = make_multiplication_problem(
        n_samples=300, n_timesteps=60, variant="hochreiter1997", random_state=2
    )
    assert isinstance(X, list) and len(X) == 300
    marked = check_hochreiter_layout(X, 60, 0.0, 1.0, 1.0)
    np.testing.assert_allclose(y, marked.prod(axis=1))


def test_multiplication_modern_definition():
    X, y = make_multiplication_problem(n_samples=200, n_timesteps=12, random_state=3)
    assert X.shape == (200, 12, 2)
    values, mask = X[..., 0], X[..., 1]
    np.testing.assert_array_equal(mask.sum(axis=1), 2)
    marked = values[mask == 1.0].reshape(200, 2)
    np.testing.assert_allclose(y, marked.prod(axis=1))


@pytest.mark.parametrize(
    "generator", [make_adding_problem, make_multiplication_problem]
)
@pytest.mark.parametrize("variant", ["modern", "hochreiter1997"])
def test_marked_pair_generators_are_reproducible(generator, variant):
    X_a, y_a = generator(20, 30, variant=variant, random_state=7)
    X_b, y_b = generator(20, 30, variant=variant, random_state=7)
    X_c, y_c = generator(20, 30, variant=variant, random_state=8)
    np.testing.assert_array_equal(y_a, y_b)
    for sequence_a, sequence_b in zip(X_a, X_b, strict=True):
        np.testing.assert_array_equal(sequence_a, sequence_b)
    assert not np.array_equal(y_a, y_c)

    rng = np.random.RandomState(7)
    _, y_from_rng = generator(20, 30, variant=variant, random_state=rng)
    np.testing.assert_array_equal(y_a, y_from_rng)


@pytest.mark.parametrize(
    "generator", [make_adding_problem, make_multiplication_problem]
)
def test_marked_pair_generators_reject_bad_parameters(generator):
    with pytest.raises(ValueError, match="variant"):
        generator(10, 30, variant="1997")
    with pytest.raises(ValueError, match="n_timesteps"):
        generator(10, 19, variant="hochreiter1997")
    with pytest.raises(ValueError, match="n_timesteps"):
        generator(10, 1)
    with pytest.raises(ValueError, match="n_samples"):
        generator(0, 30)
    with pytest.raises(TypeError, match="n_timesteps"):
        generator(10, 30.0)
    with pytest.raises(TypeError, match="n_timesteps must be an integer, got the bool"):
        generator(10, np.True_)


@pytest.mark.parametrize(
    "generator",
    [
        make_adding_problem,
        make_multiplication_problem,
        make_temporal_order,
        make_embedded_reber,
        make_embedded_reber_next_symbols,
    ],
)
def test_generators_refuse_bool_sample_counts(generator):
    """A bool is an Integral to Python but not a count: True is refused,
    naming the parameter, rather than read as one sample."""
    with pytest.raises(TypeError, match="n_samples must be an integer, got the bool"):
        generator(True)
    assert len(generator(np.int64(2), random_state=0)[0]) == 2


@pytest.mark.parametrize("n_classes", [[4], 4.0, True, "4"])
def test_temporal_order_n_classes_is_4_or_8(n_classes):
    with pytest.raises(ValueError, match="n_classes must be 4 or 8"):
        make_temporal_order(3, n_classes=n_classes)


# --------------------------------------------------------------------------
# temporal order


@pytest.mark.parametrize(
    "n_classes, slots",
    [
        (4, [(10, 20), (50, 60)]),
        (8, [(10, 20), (33, 43), (66, 76)]),
    ],
)
def test_temporal_order_definition(n_classes, slots):
    X, y = make_temporal_order(n_samples=400, n_classes=n_classes, random_state=0)
    assert isinstance(X, list) and len(X) == 400
    assert y.shape == (400,)

    for sequence, label in zip(X, y, strict=True):
        assert sequence.dtype == np.float64 and sequence.shape[1] == 8
        assert 100 <= sequence.shape[0] <= 110
        text = decode(sequence, TEMPORAL_ORDER_SYMBOLS)
        assert text[0] == "E" and text[-1] == "B"

        relevant = [i for i, symbol in enumerate(text) if symbol in "XY"]
        assert len(relevant) == len(slots)
        for position, (earliest, latest) in zip(relevant, slots, strict=True):
            assert earliest <= position <= latest
        assert label == "".join(text[i] for i in relevant)
        # Everything else is noise from a..d.
        noise = set(text[1:-1]) - {"X", "Y"}
        assert noise <= set("abcd")

    all_orders = {"".join(order) for order in product("XY", repeat=len(slots))}
    assert len(all_orders) == n_classes
    assert set(y.tolist()) == all_orders
    lengths = {len(sequence) for sequence in X}
    assert min(lengths) == 100 and max(lengths) == 110


def test_temporal_order_reproducible_and_validated():
    X_a, y_a = make_temporal_order(30, random_state=5)
    X_b, y_b = make_temporal_order(30, random_state=5)
    np.testing.assert_array_equal(y_a, y_b)
    for sequence_a, sequence_b in zip(X_a, X_b, strict=True):
        np.testing.assert_array_equal(sequence_a, sequence_b)
    with pytest.raises(ValueError, match="n_classes"):
        make_temporal_order(10, n_classes=6)
    with pytest.raises(ValueError, match="n_samples"):
        make_temporal_order(-1)


# --------------------------------------------------------------------------
# embedded Reber grammar


@pytest.mark.parametrize(
    "string, accepted",
    [
        ("BTBTXSETE", True),
        ("BPBPVVEPE", True),
        ("BTBTSSXXTVVETE", True),
        ("BPBPTVPSEPE", True),
        ("BTBTXXVPXVVETE", True),
        ("BTBTXSEPE", False),  # outer symbols differ
        ("BTBTXVETE", False),  # no V edge out of state 4
        ("BTBPVSETE", False),  # no S edge out of state 5
        ("BTBTSXSETE", True),
        ("BPBTSSXSEPE", True),
        ("BPBPVPSEPE", True),
    ],
)
def test_reference_grammar_regex(string, accepted):
    # Guards the test oracle itself against typos.
    assert bool(EMBEDDED_REBER.fullmatch(string)) is accepted


def test_embedded_reber_definition():
    X, y = make_embedded_reber(n_samples=500, random_state=0)
    assert isinstance(X, list) and len(X) == 500
    assert y.shape == (500,)
    assert set(y.tolist()) == {"T", "P"}

    for sequence, label in zip(X, y, strict=True):
        assert sequence.dtype == np.float64 and sequence.shape[1] == 7
        assert sequence.shape[0] >= 7
        text = decode(sequence, REBER_SYMBOLS)
        # The input stops right after the inner string's E; the label is the
        # symbol before last of the full embedded string.
        assert text.endswith("E") and text.count("E") == 1
        assert label == text[1]
        assert EMBEDDED_REBER.fullmatch(text + label + "E")

    # Each edge of the inner graph is taken somewhere in 500 strings.
    inner_strings = [decode(sequence, REBER_SYMBOLS)[2:] for sequence in X]
    for fragment in ["BT", "BP", "SS", "XX", "TT", "VP", "XS", "VV", "PS"]:
        assert any(fragment in inner for inner in inner_strings)


def test_embedded_reber_reproducible():
    X_a, y_a = make_embedded_reber(40, random_state=3)
    X_b, y_b = make_embedded_reber(40, random_state=3)
    np.testing.assert_array_equal(y_a, y_b)
    for sequence_a, sequence_b in zip(X_a, X_b, strict=True):
        np.testing.assert_array_equal(sequence_a, sequence_b)
    with pytest.raises(ValueError, match="n_samples"):
        make_embedded_reber(0)


@pytest.mark.parametrize(
    "string, successors",
    [
        # After B: T or P; after the outer T: the inner B; after the inner B:
        # T or P (state 1); T -> state 2: S or X; X -> state 4: X or S;
        # S -> state 6: E; after the inner E: the embedded T; then E.
        ("BTBTXSETE", ["TP", "B", "TP", "SX", "XS", "E", "T", "E"]),
        # P -> state 3: T or V; V -> state 5: P or V; V -> state 6.
        ("BPBPVVEPE", ["TP", "B", "TP", "TV", "PV", "E", "P", "E"]),
        ("BTBPTVPSETE", ["TP", "B", "TP", "TV", "TV", "PV", "XS", "E", "T", "E"]),
    ],
)
def test_next_symbol_sets_worked_examples(string, successors):
    """Successor sets worked out by hand from the grammar's table."""
    got = _next_symbol_sets(list(string))
    assert [set(s) for s in got] == [set(s) for s in successors]


def test_embedded_reber_next_symbols_definition():
    X, Y = make_embedded_reber_next_symbols(n_samples=500, random_state=0)
    assert isinstance(X, list) and isinstance(Y, list)
    assert len(X) == len(Y) == 500
    texts = []
    for sequence, targets in zip(X, Y, strict=True):
        assert sequence.dtype == targets.dtype == np.float64
        assert sequence.shape == targets.shape and sequence.shape[1] == 7
        assert sequence.shape[0] >= 8
        text = decode(sequence, REBER_SYMBOLS)
        texts.append(text)
        # The input is the whole embedded string but its final E.
        assert EMBEDDED_REBER.fullmatch(text + "E")
        assert np.all((targets == 0) | (targets == 1))
        assert set(targets.sum(axis=1).tolist()) <= {1, 2}
        # Every target set holds the symbol that actually comes next ...
        following = np.vstack([sequence[1:], np.eye(7)[REBER_SYMBOLS.index("E")]])
        assert np.all(targets[following == 1] == 1)
        # ... and after the inner E exactly the embedded symbol may come.
        np.testing.assert_array_equal(targets[-2], sequence[1])
        assert text[-2] == "E"

    # Every set is the grammar's: the successors seen after a prefix anywhere
    # in the sample are among the ones given, and for the short prefixes,
    # which the sample covers, they are all of them.
    seen = {}
    for text in texts:
        full = text + "E"
        for t in range(len(text)):
            seen.setdefault(full[: t + 1], set()).add(full[t + 1])
    for text, targets in zip(texts, Y, strict=True):
        for t in range(len(text)):
            given = {REBER_SYMBOLS[k] for k in np.flatnonzero(targets[t])}
            assert seen[text[: t + 1]] <= given
            if t < 5:
                assert seen[text[: t + 1]] == given


def test_embedded_reber_next_symbols_reproducible():
    """The same seed gives the same data, and the strings of
    make_embedded_reber (which stops after the inner string)."""
    X_a, Y_a = make_embedded_reber_next_symbols(40, random_state=3)
    X_b, Y_b = make_embedded_reber_next_symbols(40, random_state=3)
    X_c, _ = make_embedded_reber_next_symbols(40, random_state=4)
    X_m2o, y_m2o = make_embedded_reber(40, random_state=3)
    for a, b, ya, yb, m2o in zip(X_a, X_b, Y_a, Y_b, X_m2o, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(a[:-1], m2o)
    assert [decode(a, REBER_SYMBOLS) for a in X_a] != [
        decode(c, REBER_SYMBOLS) for c in X_c
    ]
    assert [decode(a, REBER_SYMBOLS)[-1] for a in X_a] == y_m2o.tolist()
    with pytest.raises(ValueError, match="n_samples"):
        make_embedded_reber_next_symbols(0)


# --------------------------------------------------------------------------
# airline passengers


def test_load_airline_passengers():
    airline = load_airline_passengers()
    assert airline.data.shape == (144,)
    assert airline.data.dtype == np.float64
    np.testing.assert_array_equal(airline.data[:3], [112.0, 118.0, 132.0])
    assert airline.data[-1] == 432.0
    # Published summary of the series: total, extremes, and the 1960 peak.
    assert airline.data.sum() == 40363.0
    assert airline.data.min() == 104.0 and airline.data.max() == 622.0
    assert airline.data[-6] == 622.0

    assert airline.dates.dtype == np.dtype("datetime64[M]")
    expected_dates = np.arange("1949-01", "1961-01", dtype="datetime64[M]")
    np.testing.assert_array_equal(airline.dates, expected_dates)

    assert airline.frame is None
    assert "Box" in airline.DESCR and "public domain" in airline.DESCR


def test_load_airline_passengers_as_frame():
    pd = pytest.importorskip("pandas")
    airline = load_airline_passengers(as_frame=True)
    frame = airline.frame
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["month", "passengers"]
    assert frame.shape == (144, 2)
    np.testing.assert_array_equal(frame["passengers"].to_numpy(), airline.data)
    assert frame["month"].iloc[0] == pd.Timestamp("1949-01-01")
    assert frame["month"].iloc[-1] == pd.Timestamp("1960-12-01")
