"""Defaults that learn: the gate-bias initialisation scaled to the sequence
lengths (``forget_bias="auto"``) and the training-loss stall rule, which
keeps the weights of the lowest-loss epoch when it ends a fit.

Whether the defaults solve the long-lag tasks themselves (the adding problem
at T=100 and beyond, temporal order) takes minutes: see
benchmarks/bench_learning.py.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skseq import LSTMClassifier, LSTMRegressor
from skseq._cells import FIXED_BIAS_MAX_LENGTH, chrono_gate_biases

# Training that leaves the initial weights as they are, up to rounding.
FROZEN = dict(max_iter=1, learning_rate_init=1e-12, random_state=0)


def _sequences(lengths, n_features=2, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(n), n_features)) for n in lengths]
    y = np.array([x[0, 0] for x in X])
    return X, y


def _fit_frozen(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _gate_biases(layer, suffix=""):
    """(input, forget, cell, output) gate biases of one direction of a layer."""
    return np.split(layer["bias" + suffix], 4)


def test_auto_is_the_default():
    assert LSTMRegressor().forget_bias == "auto"
    assert LSTMClassifier().forget_bias == "auto"


@pytest.mark.parametrize("bidirectional", [False, True])
def test_auto_gate_biases_are_chrono_for_the_longest_sequence(bidirectional):
    # Ragged training data: the longest sequence (60 steps) sets the scale.
    X, y = _sequences([10, 60, 25, 7] * 5)
    model = LSTMRegressor(
        hidden_layer_sizes=(64, 48), bidirectional=bidirectional, **FROZEN
    )
    _fit_frozen(model, X, y)
    n_units = 0
    directions = ("", "_reverse") if bidirectional else ("",)
    for layer, suffix in [(lw, s) for lw in model.lstm_weights_ for s in directions]:
        i, f, g, o = _gate_biases(layer, suffix)
        n_units += 1
        assert_allclose(i, -f, atol=1e-9)
        assert_allclose(g, 0, atol=1e-9)
        assert_allclose(o, 0, atol=1e-9)
        # log of a uniform draw in [1, T_max - 1] = [1, 59]
        assert f.min() >= -1e-9 and f.max() <= np.log(59) + 1e-9
        # 48 or more draws: their largest is near the top of the interval
        # and they spread over it, not one value for every unit.
        assert f.max() > np.log(59) - 0.5
        assert f.std() > 0.3
    assert n_units == 2 * (2 if bidirectional else 1)


def test_auto_gate_biases_grow_with_the_sequence_length():
    largest = []
    for length in (FIXED_BIAS_MAX_LENGTH + 1, 100, 1000):
        X, y = _sequences([length] * 8, seed=1)
        model = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(200,), **FROZEN), X, y)
        _, f, _, _ = _gate_biases(model.lstm_weights_[0])
        assert f.max() <= np.log(length - 1) + 1e-9
        largest.append(f.max())
    assert largest[0] < largest[1] < largest[2]
    # Same seed, same kernels: only the bias scale follows the lengths.
    X5, y5 = _sequences([5] * 8, seed=1)
    X50, y50 = _sequences([50] * 8, seed=1)
    short = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(3,), **FROZEN), X5, y5)
    long = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(3,), **FROZEN), X50, y50)
    assert_allclose(
        short.lstm_weights_[0]["kernel"], long.lstm_weights_[0]["kernel"], atol=1e-9
    )


@pytest.mark.parametrize("length", [1, 2, 10, FIXED_BIAS_MAX_LENGTH])
def test_auto_is_a_forget_bias_of_one_on_short_sequences(length):
    """Up to FIXED_BIAS_MAX_LENGTH steps, "auto" starts as forget_bias=1.0:
    the same weights, bit for bit, for every layer and direction."""
    X, y = _sequences([length] * 10 + [max(length - 1, 1)] * 3)
    params = dict(hidden_layer_sizes=(8, 4), bidirectional=True, **FROZEN)
    auto = _fit_frozen(LSTMRegressor(**params), X, y)
    fixed = _fit_frozen(LSTMRegressor(forget_bias=1.0, **params), X, y)
    assert_array_equal(auto.weights_, fixed.weights_)
    for layer in auto.lstm_weights_:
        for suffix in ("", "_reverse"):
            i, f, g, o = _gate_biases(layer, suffix)
            assert_allclose(f, 1.0, atol=1e-9)
            assert_allclose(np.concatenate([i, g, o]), 0, atol=1e-9)


def test_auto_switches_to_chrono_above_the_fixed_bias_length():
    """One step more than FIXED_BIAS_MAX_LENGTH in any training sequence
    (ragged data: the longest counts) and the forget-gate biases spread."""
    X, y = _sequences([5] * 10 + [FIXED_BIAS_MAX_LENGTH + 1])
    model = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(64,), **FROZEN), X, y)
    i, f, _, _ = _gate_biases(model.lstm_weights_[0])
    assert f.std() > 0.3
    assert f.max() <= np.log(FIXED_BIAS_MAX_LENGTH) + 1e-9
    assert_allclose(i, -f, atol=1e-9)


def test_chrono_gate_biases_draws():
    rng = np.random.RandomState(0)
    biases = chrono_gate_biases(rng, 100_000, 101)
    assert biases.shape == (100_000,)
    assert biases.min() >= 0 and biases.max() <= np.log(100)
    # exp(b) is uniform on [1, 100]: its mean is 50.5, its median 50.5.
    assert_allclose(np.exp(biases).mean(), 50.5, rtol=0.01)
    assert_allclose(np.median(np.exp(biases)), 50.5, rtol=0.02)
    # The same draws again from the same seed.
    assert_array_equal(
        chrono_gate_biases(np.random.RandomState(0), 100_000, 101), biases
    )


def test_a_fixed_forget_bias_is_still_honoured():
    X, y = _sequences([30] * 12)
    fixed = _fit_frozen(
        LSTMRegressor(hidden_layer_sizes=(6,), forget_bias=2.5, **FROZEN), X, y
    )
    auto = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(6,), **FROZEN), X, y)
    i, f, g, o = _gate_biases(fixed.lstm_weights_[0])
    assert_allclose(f, 2.5, atol=1e-9)
    assert_allclose(np.concatenate([i, g, o]), 0, atol=1e-9)
    # The kernels are drawn before the biases: the choice leaves them alone.
    for name in ("kernel", "recurrent_kernel"):
        assert_allclose(
            fixed.lstm_weights_[0][name], auto.lstm_weights_[0][name], atol=1e-9
        )


def test_auto_in_float32_casts_the_float64_draws():
    X, y = _sequences([40] * 10)
    X = np.stack(X)
    X32 = X.astype(np.float32)
    m64 = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(8,), **FROZEN), X, y)
    m32 = _fit_frozen(LSTMRegressor(hidden_layer_sizes=(8,), **FROZEN), X32, y)
    assert m32.weights_.dtype == np.float32
    assert_allclose(
        m32.lstm_weights_[0]["bias"], m64.lstm_weights_[0]["bias"], atol=1e-6
    )


def test_bad_forget_bias_strings_are_refused():
    X, y = _sequences([5] * 6)
    with pytest.raises(ValueError, match="forget_bias"):
        LSTMRegressor(forget_bias="chrono").fit(X, y)


def test_partial_fit_keeps_the_initialisation_of_its_first_call():
    short_X, short_y = _sequences([6] * 10)
    long_X, long_y = _sequences([300] * 10, seed=1)
    model = LSTMRegressor(hidden_layer_sizes=(64,), learning_rate_init=1e-12)
    model.set_params(random_state=0)
    model.partial_fit(short_X, short_y)
    first = model.lstm_weights_[0]["bias"].copy()
    _, f, _, _ = _gate_biases(model.lstm_weights_[0])
    assert f.max() <= np.log(5) + 1e-9
    model.partial_fit(long_X, long_y)
    assert_allclose(model.lstm_weights_[0]["bias"], first, atol=1e-9)
    # The first call initialises as a fit on the same data does.
    fitted = _fit_frozen(
        LSTMRegressor(hidden_layer_sizes=(64,), **FROZEN), short_X, short_y
    )
    assert_allclose(first, fitted.lstm_weights_[0]["bias"], atol=1e-9)


# ------------------------------------------------------------- stall rule

SEED_X = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]], dtype=float)
SEED_Y = np.array([4, 5, 6], dtype=float)


@pytest.mark.parametrize("seed", range(5))
def test_seed_example_fits_within_a_tenth(seed):
    """The seed example as a Keras user writes it: three samples, one Adam
    step per epoch, a loss that oscillates from step to step."""
    model = LSTMRegressor(
        hidden_layer_sizes=(50,), activation="relu", max_iter=200, random_state=seed
    )
    model.fit(SEED_X, SEED_Y)
    assert np.abs(model.predict(SEED_X) - SEED_Y).max() < 0.1


def test_a_stall_keeps_the_weights_of_the_lowest_loss():
    # One step per epoch: n_iter_no_change=1 is a patience of ten epochs,
    # short enough to stop while the loss oscillates far above its minimum
    # (at this learning rate, it does).
    model = LSTMRegressor(
        hidden_layer_sizes=(50,), activation="relu", max_iter=200, random_state=0,
        n_iter_no_change=1, learning_rate_init=0.08,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(SEED_X, SEED_Y)
    curve = list(model.loss_curve_)
    assert model.n_iter_ < model.max_iter  # ended on a stall
    lowest = min(curve)
    assert curve[-1] > 2 * lowest  # the last epoch was far from the best
    # One sample batch per epoch: an epoch's loss is that of the weights at
    # its start. partial_fit records the loss of the weights the fit kept.
    model.partial_fit(SEED_X, SEED_Y)
    assert_allclose(model.loss_curve_[-1], lowest, rtol=1e-12)
    assert model.best_loss_ == lowest


def _stall_counts(losses, tol, n_iter_no_change=100):
    model = LSTMRegressor(tol=tol, n_iter_no_change=n_iter_no_change)
    model._start_training_state(first_call=True, incremental=False)
    counts = []
    for loss in losses:
        model.loss_ = loss
        model._update_no_improvement_count(None)
        counts.append(model._no_improvement_count)
    return counts


def test_a_slow_steady_fall_is_progress():
    # Falls by 0.4 tol per epoch: each epoch alone is less than tol, three
    # together more. The count resets every third epoch and stays below 3.
    losses = 1.0 - 0.4e-3 * np.arange(30)
    counts = _stall_counts(losses, tol=1e-3)
    assert max(counts) == 2
    assert counts[:7] == [0, 1, 2, 0, 1, 2, 0]


def test_a_flat_loss_with_a_lucky_dip_stalls():
    # Progress is measured from the dip, the last epoch that counted.
    losses = [1.0, 0.5, 0.2, 0.3, 0.3, 0.3, 0.3]
    assert _stall_counts(losses, tol=1e-3) == [0, 0, 0, 1, 2, 3, 4]
