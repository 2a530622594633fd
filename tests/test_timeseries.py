"""Tests for skseq.timeseries: windowing and recursive forecasting."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, Ridge

from skseq.datasets import load_airline_passengers
from skseq.timeseries import make_windows, recursive_forecast


def windows_by_loop(series, window, horizon, step, columns):
    """Reference implementation: one window at a time, no stride tricks."""
    X, y = [], []
    start = 0
    while start + window + horizon <= len(series):
        X.append(series[start : start + window])
        future = series[start + window : start + window + horizon]
        if series.ndim == 2:
            future = future[:, columns]
        y.append(np.ravel(future))
        start += step
    return np.array(X), np.array(y)


# --------------------------------------------------------------------------
# make_windows


@pytest.mark.parametrize("window", [1, 3, 12])
@pytest.mark.parametrize("horizon", [1, 4])
@pytest.mark.parametrize("step", [1, 2, 5])
def test_windows_of_1d_series_match_loop(window, horizon, step):
    series = np.random.RandomState(0).normal(size=40)
    X, y = make_windows(series, window, horizon=horizon, step=step)
    X_expected, y_expected = windows_by_loop(series, window, horizon, step, None)

    n_windows = (40 - window - horizon) // step + 1
    assert X.shape == (n_windows, window)
    assert y.shape == ((n_windows,) if horizon == 1 else (n_windows, horizon))
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y.reshape(n_windows, -1), y_expected)


@pytest.mark.parametrize("window", [1, 5])
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("step", [1, 3])
@pytest.mark.parametrize("target", [None, 0, 2, -1, [2, 0], [1]])
def test_windows_of_2d_series_match_loop(window, horizon, step, target):
    series = np.random.RandomState(1).normal(size=(30, 3))
    X, y = make_windows(series, window, horizon=horizon, step=step, target=target)
    columns = [0, 1, 2] if target is None else target
    X_expected, y_expected = windows_by_loop(series, window, horizon, step, columns)

    n_windows = (30 - window - horizon) // step + 1
    n_targets = len(np.atleast_1d(columns))
    assert X.shape == (n_windows, window, 3)
    np.testing.assert_array_equal(X, X_expected)
    if isinstance(target, int) and horizon == 1:
        assert y.shape == (n_windows,)
    else:
        assert y.shape == (n_windows, horizon * n_targets)
    # Step-major layout: all targets of step 1, then of step 2, ...
    np.testing.assert_array_equal(y.reshape(n_windows, -1), y_expected)


def test_windows_target_shape_rules():
    series = np.arange(40.0).reshape(20, 2)
    assert make_windows(series, 4)[1].shape == (16, 2)
    assert make_windows(series, 4, target=1)[1].shape == (16,)
    # A single integer, whatever its type: a 0-d array is one too.
    assert make_windows(series, 4, target=np.int64(1))[1].shape == (16,)
    assert make_windows(series, 4, target=np.array(1))[1].shape == (16,)
    assert make_windows(series, 4, target=[1])[1].shape == (16, 1)
    assert make_windows(series, 4, horizon=3)[1].shape == (14, 6)
    assert make_windows(series, 4, horizon=3, target=0)[1].shape == (14, 3)
    # A 2-D series with one column keeps its feature axis.
    assert make_windows(series[:, :1], 4)[0].shape == (16, 4, 1)
    assert make_windows(series[:, :1], 4)[1].shape == (16, 1)


def test_windows_multistep_column_order():
    series = np.column_stack([np.arange(10.0), 100 + np.arange(10.0)])
    X, y = make_windows(series, 3, horizon=2)
    # First window covers t = 0, 1, 2; the targets are t = 3 then t = 4.
    np.testing.assert_array_equal(X[0], [[0, 100], [1, 101], [2, 102]])
    np.testing.assert_array_equal(y[0], [3, 103, 4, 104])


def test_windows_dtype_and_ownership():
    series32 = np.arange(20, dtype=np.float32)
    X, y = make_windows(series32, 5)
    assert X.dtype == np.float32 and y.dtype == np.float32

    integers = np.arange(20)
    X, y = make_windows(integers, 5)
    assert X.dtype == np.float64 and y.dtype == np.float64

    series = np.arange(20.0)
    X, y = make_windows(series, 1)
    assert X.flags.writeable and y.flags.writeable
    assert X.flags.c_contiguous
    assert not np.shares_memory(X, series) and not np.shares_memory(y, series)
    X[0, 0] = -1.0
    assert series[0] == 0.0


def test_windows_accept_pandas_and_lists():
    pd = pytest.importorskip("pandas")
    values = np.arange(12.0)
    X_ref, y_ref = make_windows(values, 3)
    X, y = make_windows(pd.Series(values), 3)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)
    X, y = make_windows(values.tolist(), 3)
    np.testing.assert_array_equal(X, X_ref)

    frame = pd.DataFrame({"a": values, "b": -values})
    X, y = make_windows(frame, 3, target=1)
    np.testing.assert_array_equal(X[:, :, 0], X_ref)
    np.testing.assert_array_equal(y, -y_ref)


def test_windows_of_airline_series():
    passengers = load_airline_passengers().data
    X, y = make_windows(passengers, 12)
    assert X.shape == (132, 12) and y.shape == (132,)
    np.testing.assert_array_equal(X[0], passengers[:12])
    assert y[0] == 115.0 and y[-1] == 432.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"window": 0}, ValueError, "window"),
        ({"window": 2.5}, TypeError, "window"),
        ({"window": True}, TypeError, "window"),
        ({"window": 3, "horizon": 0}, ValueError, "horizon"),
        ({"window": 3, "step": -1}, ValueError, "step"),
        ({"window": 8, "horizon": 3}, ValueError, "too few"),
        ({"window": 10}, ValueError, "too few"),
        ({"window": 3, "target": 0}, ValueError, "1-D series"),
    ],
)
def test_windows_reject_bad_parameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_windows(np.arange(10.0), **kwargs)


@pytest.mark.parametrize(
    "series, error, message",
    [
        (np.array([1.0, np.nan, 3.0, 4.0]), ValueError, "NaN"),
        (np.array([1.0, np.inf, 3.0, 4.0]), ValueError, "infinity"),
        (np.zeros((5, 2, 2)), ValueError, "ndim=3"),
        (3.0, ValueError, "ndim=0"),
        (np.array([]), ValueError, "0 sample"),
        ("abcdef", TypeError, "string"),
        (np.array(["a", "b", "c", "d"]), ValueError, "convert"),
        (np.array([1 + 1j, 2, 3, 4]), ValueError, "Complex"),
    ],
)
def test_windows_reject_bad_series(series, error, message):
    with pytest.raises(error, match=message):
        make_windows(series, 1)


@pytest.mark.parametrize(
    "target, error, message",
    [
        (3, ValueError, "out of range"),
        ([0, -4], ValueError, "out of range"),
        (1.0, TypeError, "integer"),
        ([], ValueError, "non-empty"),
        ([[0, 1]], ValueError, "1-D"),
    ],
)
def test_windows_reject_bad_target(target, error, message):
    with pytest.raises(error, match=message):
        make_windows(np.zeros((10, 3)), 2, target=target)


# --------------------------------------------------------------------------
# recursive_forecast


def ramp(n_timesteps, dtype=np.float64):
    return (2.0 + 0.5 * np.arange(n_timesteps)).astype(dtype)


def test_recursive_forecast_extrapolates_a_ramp():
    series = ramp(60)
    X, y = make_windows(series, 6)
    model = Ridge(alpha=1e-8).fit(X, y)
    forecast = recursive_forecast(model, series, 15)
    assert forecast.shape == (15,) and forecast.dtype == np.float64
    np.testing.assert_allclose(forecast, ramp(75)[60:], atol=1e-4)


def test_recursive_forecast_uses_only_the_last_window():
    series = ramp(60)
    model = LinearRegression().fit(*make_windows(series, 4))
    noisy_past = series.copy()
    noisy_past[:-4] = np.random.RandomState(0).normal(size=56)
    np.testing.assert_allclose(
        recursive_forecast(model, noisy_past, 5),
        recursive_forecast(model, series[-4:], 5),
    )


@pytest.mark.parametrize("n_steps", [1, 3, 7])
def test_recursive_forecast_with_multistep_model(n_steps):
    # A model with 3 outputs contributes 3 values per call; the surplus of
    # the last call is dropped.
    series = ramp(50)
    X, y = make_windows(series, 5, horizon=3)
    model = LinearRegression().fit(X, y)
    forecast = recursive_forecast(model, series, n_steps)
    np.testing.assert_allclose(forecast, ramp(50 + n_steps)[50:], atol=1e-8)


class LinearTrendSequenceModel(RegressorMixin, BaseEstimator):
    """Continue a univariate 3-D sequence by its last difference."""

    def fit(self, X, y):
        self.n_features_in_ = 1
        return self

    def predict(self, X):
        assert X.ndim == 3 and X.shape[2] == 1
        self.last_input_shape_ = X.shape
        return 2 * X[:, -1, 0] - X[:, -2, 0]


def test_recursive_forecast_with_sequence_layout():
    series = ramp(30)
    model = LinearTrendSequenceModel().fit(series.reshape(1, -1, 1), None)
    forecast = recursive_forecast(model, series, 4, window=8)
    assert model.last_input_shape_ == (1, 8, 1)
    np.testing.assert_allclose(forecast, ramp(34)[30:])


def test_recursive_forecast_keeps_float32():
    series = ramp(40, dtype=np.float32)
    model = LinearRegression().fit(*make_windows(series, 3))
    forecast = recursive_forecast(model, series, 5)
    assert forecast.dtype == np.float32
    np.testing.assert_allclose(forecast, ramp(45)[40:], rtol=1e-4)


def test_recursive_forecast_after_fitting_on_a_dataframe():
    pd = pytest.importorskip("pandas")
    series = ramp(40)
    X, y = make_windows(series, 3)
    frame = pd.DataFrame(X, columns=["lag3", "lag2", "lag1"])
    model = LinearRegression().fit(frame, y)
    with warnings.catch_warnings():
        # No "X does not have valid feature names" warning.
        warnings.simplefilter("error")
        forecast = recursive_forecast(model, series, 3)
    np.testing.assert_allclose(forecast, ramp(43)[40:])


def test_recursive_forecast_airline_1960():
    log_passengers = np.log(load_airline_passengers().data)
    train, test = log_passengers[:-12], log_passengers[-12:]
    model = Ridge(alpha=1e-3).fit(*make_windows(train, 12))
    forecast = recursive_forecast(model, train, 12)
    relative_error = np.abs(np.exp(forecast) - np.exp(test)) / np.exp(test)
    assert relative_error.mean() < 0.1


class NoFeatureCountModel(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.coef_ = np.zeros(1)
        return self

    def predict(self, X):
        return np.zeros(len(X))


class NaNModel(NoFeatureCountModel):
    def predict(self, X):
        return np.full(len(X), np.nan)


def test_recursive_forecast_validation():
    series = ramp(30)
    model = Ridge().fit(*make_windows(series, 5))

    with pytest.raises(NotFittedError):
        recursive_forecast(Ridge(), series, 3)
    with pytest.raises(ValueError, match="n_steps"):
        recursive_forecast(model, series, 0)
    with pytest.raises(TypeError, match="n_steps"):
        recursive_forecast(model, series, 2.0)
    with pytest.raises(ValueError, match="fewer than window=5"):
        recursive_forecast(model, series[:4], 3)
    with pytest.raises(ValueError, match="ndim=2"):
        recursive_forecast(model, series.reshape(-1, 1), 3)
    with pytest.raises(ValueError, match="NaN"):
        recursive_forecast(model, np.r_[series, np.nan], 3)
    with pytest.raises(ValueError, match="fitted on 5 features"):
        recursive_forecast(model, series, 3, window=4)

    unknown_width = NoFeatureCountModel().fit(None, None)
    with pytest.raises(ValueError, match="window cannot be inferred"):
        recursive_forecast(unknown_width, series, 3)
    np.testing.assert_array_equal(
        recursive_forecast(unknown_width, series, 3, window=2), np.zeros(3)
    )

    with pytest.raises(ValueError, match="non-finite"):
        recursive_forecast(NaNModel().fit(None, None), series, 3, window=2)


def test_recursive_forecast_refuses_models_that_do_not_forecast_values():
    """A classifier, a model with one output per step (alone or in a
    pipeline) and a sequence model without its window are named, rather
    than forecasting labels, per-step outputs or windows of one step."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skseq import GRUClassifier, GRURegressor

    series = np.sin(np.arange(80) / 5)
    X, y = make_windows(series, 8)
    tiny = dict(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classifier = GRUClassifier(**tiny).fit(X, (y > 0).astype(int))
        per_step = GRURegressor(return_sequences=True, **tiny).fit(X, X)
        piped = make_pipeline(
            StandardScaler(), GRURegressor(return_sequences=True, **tiny)
        )
        piped.fit(X, X)
        sequences = GRURegressor(**tiny).fit(X[:, :, None], y)
    with pytest.raises(TypeError, match="needs a regressor"):
        recursive_forecast(classifier, series, 3)
    for model in (per_step, piped):
        with pytest.raises(ValueError, match="one output per time step"):
            recursive_forecast(model, series, 3)
    with pytest.raises(ValueError, match="Pass window explicitly"):
        recursive_forecast(sequences, series, 3)
    forecast = recursive_forecast(sequences, series, 3, window=8)
    expected = sequences.predict(series[-8:].reshape(1, 8, 1))
    assert forecast[0] == pytest.approx(float(expected[0]))


def test_recursive_forecast_sees_through_meta_estimators():
    """A skseq model in a transformed-target regressor or a fitted search is
    judged as the model itself: fitted on 3-D sequences it needs its window,
    and with one output per step it does not forecast; a wrapped forecaster
    forecasts as the bare one."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.model_selection import GridSearchCV

    from skseq import GRURegressor

    series = np.sin(np.arange(80) / 5)
    X, y = make_windows(series, 8)
    tiny = dict(hidden_layer_sizes=(3,), max_iter=2, random_state=0)

    def wrapped(model, X, y):
        negated = TransformedTargetRegressor(
            model, func=np.negative, inverse_func=np.negative, check_inverse=False
        )
        search = GridSearchCV(model, {"alpha": [1e-4]}, cv=2)
        return negated.fit(X, y), search.fit(X, y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_sequences = wrapped(GRURegressor(**tiny), X[:, :, None], y)
        per_step = wrapped(GRURegressor(return_sequences=True, **tiny), X, X)
        on_windows = wrapped(GRURegressor(**tiny), X, y)
    for model in on_sequences:
        with pytest.raises(ValueError, match="Pass window explicitly"):
            recursive_forecast(model, series, 3)
        forecast = recursive_forecast(model, series, 2, window=8)
        context = np.r_[series[-7:], forecast[0]].reshape(1, 8, 1)
        assert forecast[1] == pytest.approx(float(model.predict(context)[0]))
    for model in per_step:
        with pytest.raises(ValueError, match="one output per time step"):
            recursive_forecast(model, series, 3, window=8)
    for model in on_windows:
        forecast = recursive_forecast(model, series, 2)
        context = np.r_[series[-7:], forecast[0]].reshape(1, 8)
        assert forecast[1] == pytest.approx(float(model.predict(context)[0]))
