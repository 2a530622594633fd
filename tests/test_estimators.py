"""Behaviour of LSTMRegressor and LSTMClassifier: learning, numerics, input rules."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import r2_score

from skseq import LSTMClassifier, LSTMRegressor
from skseq._network import LSTMNetwork
from skseq._validation import check_sequences
from skseq.datasets import make_adding_problem

ESTIMATORS = [LSTMRegressor, LSTMClassifier]


def _regression_data(n=40, T=6, F=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F)).astype(dtype)
    y = X[:, :2, 0].sum(axis=1) - 0.5 * X[:, -1, 1]
    return X, y


def _event_order_data(n, seed, n_timesteps=30):
    """Label = which of two events comes first, and what they are.

    Each step is one-hot over 6 symbols: 4 distractors, then X and Y. Two
    events (X or Y each) sit at t1 in [2, 6] and t2 in [8, 12]; the class is
    the ordered pair ("XX", "XY", "YX", "YY"). Everything after step 12 is
    noise, so the network must carry both events to the end.
    """
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 4, size=(n, n_timesteps))
    t1 = rng.integers(2, 7, size=n)
    t2 = rng.integers(8, 13, size=n)
    first = rng.integers(0, 2, size=n)
    second = rng.integers(0, 2, size=n)
    rows = np.arange(n)
    symbols[rows, t1] = 4 + first
    symbols[rows, t2] = 4 + second
    X = np.eye(6)[symbols]
    names = np.array(["X", "Y"])
    y = np.char.add(names[first], names[second])
    return X, y


# ------------------------------------------------------------------ learning


def test_seed_example_fits_every_target():
    # The seed's Keras model (LSTM(50, relu), 200 epochs) ends at
    # [2.63, 4.43, 6.74]; skseq must get within 0.1 of each target.
    X = np.array([[1, 2, 3], [2, 3, 4], [3, 4, 5]], dtype=float).reshape(3, 3, 1)
    y = np.array([4.0, 5.0, 6.0])
    model = LSTMRegressor(
        hidden_layer_sizes=(50,), activation="relu", max_iter=1000,
        learning_rate_init=0.01, n_iter_no_change=1000, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.n_iter_ <= 1000
    assert np.max(np.abs(model.predict(X) - y)) < 0.1


def test_noisy_sine_one_step_forecast():
    rng = np.random.default_rng(0)
    t = np.arange(1200)
    series = np.sin(2 * np.pi * t / 40) + 0.05 * rng.normal(size=t.size)
    windows = np.lib.stride_tricks.sliding_window_view(series, 21)
    X, y = windows[:, :20], windows[:, 20]
    n_train = 900
    model = LSTMRegressor(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=30,
        batch_size=64, random_state=0,
    ).fit(X[:n_train], y[:n_train])  # fmt: skip
    assert r2_score(y[n_train:], model.predict(X[n_train:])) > 0.95


def test_adding_problem_T50():
    X, y = make_adding_problem(3000, n_timesteps=50, random_state=0)
    X_train, y_train, X_test, y_test = X[:2500], y[:2500], X[2500:], y[2500:]
    mean_mse = np.mean((y_test - y_train.mean()) ** 2)
    assert 0.14 < mean_mse < 0.2  # predicting the mean: about 1/6
    model = LSTMRegressor(
        hidden_layer_sizes=(32,), learning_rate_init=0.01, batch_size=64,
        max_iter=40, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    assert np.mean((model.predict(X_test) - y_test) ** 2) < 0.01


def test_event_order_classification():
    X, y = _event_order_data(1500, seed=0)
    clf = LSTMClassifier(
        hidden_layer_sizes=(24,), learning_rate_init=0.01, batch_size=32,
        max_iter=30, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:1200], y[:1200])
    assert set(clf.classes_) == {"XX", "XY", "YX", "YY"}
    assert clf.score(X[1200:], y[1200:]) > 0.95


# ------------------------------------------------------------------ numerics


def _relative_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)))


@pytest.mark.parametrize(
    "estimator, y_kind",
    [
        (LSTMRegressor, "single"),
        (LSTMRegressor, "multi"),
        (LSTMClassifier, "binary"),
        (LSTMClassifier, "multiclass"),
        (LSTMClassifier, "multilabel"),
    ],
)
@pytest.mark.parametrize(
    "hidden_layer_sizes, bidirectional, dropout",
    [
        ((3,), False, 0.0),
        ((4, 3), False, 0.0),
        ((3,), True, 0.0),
        ((4, 3), True, 0.4),
        ((4, 3), False, 0.4),
    ],
)
def test_batch_gradient_matches_finite_differences(
    estimator, y_kind, hidden_layer_sizes, bidirectional, dropout
):
    """The gradient an optimizer step uses is the derivative of the loss that
    is reported: head, penalty, sample weights and output activation included,
    for stacked, bidirectional and dropout networks on ragged sequences.
    """
    rng = np.random.default_rng(1)
    n, T, F = 7, 5, 2
    X = [rng.normal(size=(length, F)) for length in (5, 3, 5, 1, 4, 2, 5)]
    y = {
        "single": rng.normal(size=n),
        "multi": rng.normal(size=(n, 2)),
        "binary": np.array([0, 1, 1, 0, 1, 0, 0]),
        "multiclass": np.array([0, 1, 2, 0, 2, 1, 1]),
        "multilabel": rng.integers(0, 2, size=(n, 3)),
    }[y_kind]
    model = estimator(
        hidden_layer_sizes=hidden_layer_sizes,
        max_iter=1,
        alpha=0.3,
        bidirectional=bidirectional,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    sequences, _ = check_sequences(model, X, fitted=model._fitted_input())
    targets, _ = model._validate_targets(y, n, False, False, None)
    targets = targets.astype(float)
    sample_weight = rng.uniform(0.5, 2.0, size=n)
    network = model._network
    workspace = network.allocate(n, T, np.float64, training=True)
    batch = np.arange(n)
    weights = model.weights_.copy()
    # Move away from the fitted point so no gradient is accidentally ~0.
    weights += 0.3 * rng.normal(size=weights.shape)
    masks = network.draw_dropout_masks(np.random.RandomState(5), n, dropout, np.float64)
    if dropout:
        assert any(np.any(m == 0) for m in masks[1:])

    def loss_and_grad(w):
        grad = np.empty_like(w)
        loss, _ = model._batch_loss_and_grad(
            network, w, grad, workspace, sequences, targets, sample_weight, batch,
            1, masks,
        )  # fmt: skip
        return loss, grad

    def loss_at(w):
        return loss_and_grad(w)[0]

    grad = loss_and_grad(weights)[1]
    numeric = np.empty_like(weights)
    step = 1e-6
    for k in range(weights.size):
        plus, minus = weights.copy(), weights.copy()
        plus[k] += step
        minus[k] -= step
        numeric[k] = (loss_at(plus) - loss_at(minus)) / (2 * step)
    layers, head_coef, head_intercept = network.unpack(grad)
    assert np.any(head_coef != 0) and np.any(head_intercept != 0)
    for directions in layers:
        assert len(directions) == (2 if bidirectional else 1)
        for unit in directions:
            assert np.any(unit.kernel != 0) and np.any(unit.recurrent_kernel != 0)
    assert _relative_error(grad, numeric) < 1e-6


def test_float32_fit_agrees_with_float64():
    X, y = _regression_data(n=60, T=8)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m64 = LSTMRegressor(**kwargs).fit(X, y)
        m32 = LSTMRegressor(**kwargs).fit(X.astype(np.float32), y)
    assert m64.weights_.dtype == np.float64
    assert m32.weights_.dtype == np.float32
    p64 = m64.predict(X)
    p32 = m32.predict(X.astype(np.float32))
    assert p32.dtype == np.float32
    # Stated tolerance: after 15 epochs of Adam from identical initial weights,
    # float32 round-off moves predictions by well under 1e-3 (scale ~1).
    assert_allclose(p32, p64, atol=1e-3, rtol=0)
    assert_allclose(m32.loss_curve_, m64.loss_curve_, rtol=1e-4)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_same_random_state_same_model(estimator):
    X, y = _regression_data()
    if estimator is LSTMClassifier:
        y = (y > 0).astype(int)
    kwargs = dict(hidden_layer_sizes=(6,), max_iter=5, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = estimator(random_state=3, **kwargs).fit(X, y)
        b = estimator(random_state=3, **kwargs).fit(X, y)
        c = estimator(random_state=4, **kwargs).fit(X, y)
    assert_array_equal(a.weights_, b.weights_)
    out = "predict_proba" if estimator is LSTMClassifier else "predict"
    assert_array_equal(getattr(a, out)(X), getattr(b, out)(X))
    assert not np.array_equal(a.weights_, c.weights_)


def test_initialisation_follows_the_documented_scheme():
    model = LSTMRegressor(
        hidden_layer_sizes=(5, 4),
        forget_bias=3.0,
        max_iter=1,
        learning_rate_init=1e-12,
        random_state=0,
    )
    X, y = _regression_data(F=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    first, second = model.lstm_weights_
    assert first["kernel"].shape == (3, 20)
    assert first["recurrent_kernel"].shape == (5, 20)
    assert second["kernel"].shape == (5, 16)
    assert model.head_coef_.shape == (4, 1)
    for layer, hidden in ((first, 5), (second, 4)):
        rows = layer["recurrent_kernel"]
        assert_allclose(rows @ rows.T, np.eye(hidden), atol=1e-6)  # orthogonal rows
        bias = layer["bias"]
        assert_allclose(bias[hidden : 2 * hidden], 3.0, atol=1e-6)
        assert_allclose(np.delete(bias, np.s_[hidden : 2 * hidden]), 0, atol=1e-6)
        limit = np.sqrt(6 / sum(layer["kernel"].shape))
        assert np.abs(layer["kernel"]).max() <= limit + 1e-6


def test_network_layout_is_views_of_one_array():
    for bidirectional, n_dir in ((False, 1), (True, 2)):
        network = LSTMNetwork(3, (5, 4), 2, "tanh", bidirectional)
        flat = np.arange(network.n_weights, dtype=float)
        layers, head_coef, head_intercept = network.unpack(flat)
        units = [unit for directions in layers for unit in directions]
        assert len(units) == 2 * n_dir
        pieces = [p for unit in units for p in (unit.kernel, unit.recurrent_kernel)]
        pieces += [head_coef] + [unit.bias for unit in units] + [head_intercept]
        assert sum(p.size for p in pieces) == network.n_weights
        assert all(np.shares_memory(p, flat) for p in pieces)
        assert layers[1][0].kernel.shape == (5 * n_dir, 16)
        assert head_coef.shape == (4 * n_dir, 2)
        # Penalised weights come first: kernels, recurrent kernels, head coef.
        assert (
            network.n_penalised
            == n_dir * (3 * 20 + 5 * 20 + 5 * n_dir * 16 + 4 * 16) + 4 * n_dir * 2
        )


# ------------------------------------------------------------------ behaviour


def test_predict_accepts_other_numbers_of_timesteps():
    X, y = _regression_data(T=6)
    model = LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.predict(X[:, :3]).shape == (X.shape[0],)
    assert model.predict(np.concatenate([X, X], axis=1)).shape == (X.shape[0],)


def test_2d_input_is_univariate_and_enforces_columns():
    rng = np.random.default_rng(0)
    X2 = rng.normal(size=(30, 7))
    y = X2[:, 0]
    model = LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X2, y)
    assert model.n_features_in_ == 7
    # Same numbers as the equivalent 3-D input.
    assert_array_equal(model.predict(X2), model.predict(X2[:, :, None]))
    with pytest.raises(ValueError, match="7 features"):
        model.predict(X2[:, :5])


def test_ragged_prediction_equals_prediction_alone():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)) for length in (6, 2, 9, 4, 9, 1)]
    y = rng.normal(size=len(X))
    model = LSTMRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    together = model.predict(X)
    alone = np.array([model.predict(x[None])[0] for x in X])
    assert_allclose(together, alone, rtol=1e-10, atol=1e-12)


def test_partial_fit_runs_one_epoch_and_needs_classes():
    X, y = _regression_data()
    reg = LSTMRegressor(hidden_layer_sizes=(4,), random_state=0)
    reg.partial_fit(X, y)
    reg.partial_fit(X, y)
    assert reg.n_iter_ == 1 and len(reg.loss_curve_) == 2
    assert reg.t_ == 2 * len(X)
    clf = LSTMClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, (y > 0).astype(int))
    clf.partial_fit(X[:10], np.zeros(10, dtype=int), classes=[0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (X.shape[0], 3)


def test_predict_proba_is_a_distribution():
    X, y = _regression_data(n=60)
    labels = np.digitize(y, [-0.5, 0.5])
    clf = LSTMClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_divergence_stops_with_a_clear_error_and_finite_weights():
    X, y = _regression_data(n=30)
    model = LSTMRegressor(
        hidden_layer_sizes=(8,), activation="relu", learning_rate_init=1e3,
        solver="sgd", momentum=0.0, max_grad_norm=None, max_iter=50, random_state=0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(X, y * 1e6)
    assert np.all(np.isfinite(model.weights_))


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = _regression_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        LSTMRegressor(
            hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0
        ).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 3
    assert lines[0].startswith("Epoch 1/3, loss = ")


def test_max_iter_reached_warns():
    X, y = _regression_data()
    with pytest.warns(ConvergenceWarning, match="reached max_iter epochs"):
        LSTMRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)


# ------------------------------------------------------------------ bad input

BAD_INPUTS = {
    "nan": (
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X),
        ValueError,
        "NaN",
    ),
    "inf": (
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X),
        ValueError,
        "infinity",
    ),
    "empty": (lambda X: X[:0], ValueError, "0 sample"),
    "one_d": (lambda X: X[:, 0, 0], ValueError, "1 dimension"),
    "four_d": (lambda X: X[..., None], ValueError, "4 dimension"),
    "zero_timesteps": (lambda X: X[:, :0], ValueError, "zero time steps"),
    "complex": (lambda X: X + 1j, ValueError, "[Cc]omplex"),
    "object_strings": (
        lambda X: np.full(X.shape, "a", dtype=object),
        ValueError,
        "could not convert",
    ),
    "ragged_empty_sequence": (
        lambda X: [X[0], X[1][:0], X[2]],
        ValueError,
        "zero time steps",
    ),
    "ragged_feature_mismatch": (
        lambda X: [X[0], X[1][:, :1], X[2][:3]],
        ValueError,
        "same number of features",
    ),
}


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_at_fit_gets_a_clear_error(estimator, case):
    X, y = _regression_data(n=12, T=5, F=2)
    make_bad, error, message = BAD_INPUTS[case]
    bad = make_bad(X)
    y = (
        np.resize((y > 0).astype(int), len(bad))
        if estimator is LSTMClassifier
        else (np.resize(y, len(bad)))
    )
    with pytest.raises(error, match=message):
        estimator(hidden_layer_sizes=(3,), max_iter=1).fit(bad, y)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_bad_input_at_predict(estimator):
    X, y = _regression_data(n=12, T=5, F=2)
    if estimator is LSTMClassifier:
        y = (y > 0).astype(int)
    with pytest.raises(NotFittedError):
        estimator().predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = estimator(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="3 features per time step"):
        model.predict(np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((4, 5, 2), np.nan))
    with pytest.raises(TypeError, match="[Ss]parse"):
        model.predict(sparse.csr_matrix(np.ones((4, 5))))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_sparse_input_is_a_type_error(estimator):
    X = sparse.random(10, 5, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="[Ss]parse"):
        estimator(max_iter=1).fit(X, np.arange(10) % 2)


def test_bad_targets_and_parameters():
    X, y = _regression_data(n=12)
    with pytest.raises(ValueError, match="NaN"):
        LSTMRegressor(max_iter=1).fit(X, np.full(12, np.nan))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LSTMRegressor(max_iter=1).fit(X, y[:5])
    with pytest.raises(ValueError, match="Unknown label type"):
        LSTMClassifier(max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        LSTMRegressor(activation="sigmoid").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        LSTMRegressor(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        LSTMRegressor(max_iter=1).fit(X, y, sample_weight=-np.ones(12))
