"""Turn a time series into a supervised problem, and forecast from a fitted model.

:func:`make_windows` cuts a series into overlapping windows (the inputs) and
the values that follow each window (the targets), in the layouts the skseq
estimators and any scikit-learn regressor accept. :func:`recursive_forecast`
runs a fitted one-step (or few-step) model forward on its own predictions.
"""

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import is_classifier
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, check_scalar

from ._meta import inner_model, per_step_model

__all__ = ["make_windows", "recursive_forecast"]


def _check_series(series, name, allowed_ndim):
    """Return ``series`` as a finite float32/float64 array of an allowed rank."""
    if isinstance(series, (str, bytes)):
        raise TypeError(f"{name} must be array-like of numbers, got a string.")
    ndim = np.ndim(series)
    if ndim not in allowed_ndim:
        expected = " or ".join(f"{n}-D" for n in allowed_ndim)
        raise ValueError(f"{name} must be {expected}, got an array with ndim={ndim}.")
    values = check_array(
        series,
        ensure_2d=False,
        dtype=[np.float64, np.float32],
        ensure_all_finite=True,
        input_name=name,
    )
    return values


def _check_positive_integer(value, name):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got a bool.")
    check_scalar(value, name, numbers.Integral, min_val=1)
    return int(value)


def _target_columns(values, target):
    """Resolve ``target`` into column indices and whether ``y`` drops that axis.

    A 1-D series, or a single integer ``target``, forecasts one value per
    step; a list (or ``None`` on a 2-D series) keeps the column axis even
    when it has length one, as NumPy indexing does.
    """
    if values.ndim == 1:
        if target is not None:
            raise ValueError(
                "target selects columns of a 2-D series; for a 1-D series "
                f"leave it as None, got target={target!r}."
            )
        return np.array([0]), True
    n_features = values.shape[1]
    if target is None:
        return np.arange(n_features), False
    # A 0-d integer array is a single integer as much as np.int64 is.
    if isinstance(target, np.ndarray) and target.ndim == 0:
        target = target[()]
    single = isinstance(target, numbers.Integral) and not isinstance(target, bool)
    columns = np.atleast_1d(np.asarray(target))
    if columns.ndim != 1 or columns.size == 0:
        raise ValueError(
            "target must be an integer or a non-empty 1-D sequence of integers, "
            f"got {target!r}."
        )
    if columns.dtype == bool or not np.issubdtype(columns.dtype, np.integer):
        raise TypeError(f"target must hold integer column indices, got {target!r}.")
    out_of_range = (columns < -n_features) | (columns >= n_features)
    if out_of_range.any():
        raise ValueError(
            f"target {columns[out_of_range].tolist()} out of range for a series "
            f"with {n_features} features."
        )
    return columns % n_features, single


def make_windows(series, window, *, horizon=1, step=1, target=None):
    """Cut a time series into input windows and the values that follow them.

    Window ``i`` covers time steps ``i * step`` to ``i * step + window - 1``
    (oldest first); its target is the next ``horizon`` values of the
    forecast column(s). Every window has a complete target, so the last
    ``horizon`` steps only ever appear as targets.

    Parameters
    ----------
    series : array-like of shape (n_timesteps,) or (n_timesteps, n_features)
        The series, oldest value first. A pandas Series or DataFrame is
        accepted. Values must be finite; float32 is kept, anything else
        becomes float64.

    window : int
        Number of consecutive time steps in each input window, at least 1.

    horizon : int, default=1
        Number of future steps forecast from each window, at least 1.

    step : int, default=1
        Distance between the starts of consecutive windows, at least 1.
        ``step=window`` gives windows that do not overlap.

    target : int, sequence of int or None, default=None
        For a 2-D series, the column(s) to forecast; negative indices count
        from the end. ``None`` forecasts every column. Must be ``None`` for
        a 1-D series.

    Returns
    -------
    X : ndarray of shape (n_windows, window) or (n_windows, window, n_features)
        The input windows: 2-D for a 1-D series (each row is a window, the
        univariate lag layout of the skseq estimators and of any tabular
        model), 3-D for a 2-D series. ``n_windows`` is
        ``(n_timesteps - window - horizon) // step + 1``.

    y : ndarray of shape (n_windows,) or (n_windows, horizon * n_targets)
        The targets. ``y`` is 1-D when a single value is forecast, that is
        ``horizon == 1`` and either the series is 1-D or ``target`` is a
        single integer. Otherwise ``y`` is 2-D, ready for a multi-output
        regressor, with the steps in time order and the target columns
        within each step: column ``h * n_targets + j`` holds target column
        ``j`` at ``h + 1`` steps after the window.

    Raises
    ------
    ValueError
        If the series is empty, not 1-D or 2-D, contains NaN or infinity, is
        shorter than ``window + horizon``, or ``target`` is out of range.
    TypeError
        If ``window``, ``horizon`` or ``step`` is not an integer, or
        ``target`` does not hold integers.

    See Also
    --------
    recursive_forecast : Forecast further ahead with a model fitted on these
        windows.

    Notes
    -----
    The windows come in time order. To early-stop a skseq estimator on the
    most recent part of the series rather than on a random share of
    overlapping windows, fit it with ``early_stopping=True`` and
    ``shuffle=False`` (the last ``validation_fraction`` of the windows is
    held out), or pass the last windows as ``X_val``, ``y_val``.

    Examples
    --------
    Lag windows of a year of monthly airline passengers, to forecast the
    next month:

    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skseq.datasets import load_airline_passengers
    >>> from skseq.timeseries import make_windows
    >>> passengers = load_airline_passengers().data
    >>> X, y = make_windows(passengers, window=12)
    >>> X.shape, y.shape
    ((132, 12), (132,))
    >>> X[0, -2:].tolist(), float(y[0])
    ([104.0, 118.0], 115.0)
    >>> Ridge().fit(X, y).predict(X[:1]).shape
    (1,)

    Several steps ahead, and a 2-D series with a chosen target column:

    >>> make_windows(passengers, window=12, horizon=3)[1].shape
    (130, 3)
    >>> series = np.column_stack([passengers, np.log(passengers)])
    >>> X, y = make_windows(series, window=12, horizon=3, target=1)
    >>> X.shape, y.shape
    ((130, 12, 2), (130, 3))
    """
    values = _check_series(series, "series", allowed_ndim=(1, 2))
    window = _check_positive_integer(window, "window")
    horizon = _check_positive_integer(horizon, "horizon")
    step = _check_positive_integer(step, "step")
    columns, single_target = _target_columns(values, target)

    n_timesteps = values.shape[0]
    if n_timesteps < window + horizon:
        raise ValueError(
            f"series has {n_timesteps} time steps, too few for window={window} "
            f"and horizon={horizon}: at least {window + horizon} are needed."
        )

    # sliding_window_view puts the window axis last; for a 2-D series it is
    # moved next to the window index to get (n_windows, window, n_features).
    inputs = sliding_window_view(values[: n_timesteps - horizon], window, axis=0)
    X = inputs[::step]
    if values.ndim == 2:
        X = np.moveaxis(X, -1, 1)

    targets = values.reshape(n_timesteps, -1)[:, columns]
    futures = sliding_window_view(targets[window:], horizon, axis=0)[::step]
    # (n_windows, n_targets, horizon) -> step-major (n_windows, horizon * n_targets)
    y = np.swapaxes(futures, 1, 2).reshape(futures.shape[0], -1)
    if single_target and horizon == 1:
        y = y[:, 0]
    # Copies: the strided views are read-only and share memory with `series`.
    return X.copy(), y.copy()


def _check_forecaster(estimator):
    """A regressor with one output per window: a classifier's labels are not
    values of the series, and a model with one output per step predicts
    ``window`` values for each window, not the next ones."""
    if is_classifier(estimator):
        raise TypeError(
            f"recursive_forecast needs a regressor; {type(estimator).__name__} is a "
            "classifier, whose labels are not values of the series."
        )
    if per_step_model(estimator) is not None:
        raise ValueError(
            "recursive_forecast needs one forecast per window, but the estimator "
            "predicts one output per time step (return_sequences=True). Fit it "
            "with return_sequences=False on make_windows' targets."
        )


def _model_input(context, layout, feature_names):
    if layout == "sequences":
        return context.reshape(1, -1, 1)
    row = context.reshape(1, -1)
    if feature_names is not None:
        import pandas as pd

        return pd.DataFrame(row, columns=feature_names)
    return row


def recursive_forecast(estimator, history, n_steps, *, window=None):
    """Forecast a univariate series by feeding a model its own predictions.

    The model predicts from the last ``window`` values of ``history``; its
    prediction is appended to the context and the oldest value dropped, and
    so on until ``n_steps`` values are forecast. A model fitted on
    multi-step targets (``make_windows(..., horizon=h)``) contributes ``h``
    values per call; the last call's surplus is discarded.

    Parameters
    ----------
    estimator : fitted regressor
        A regressor fitted on windows of a univariate series, in either
        layout: 2-D lag windows ``(n_windows, window)``, as returned by
        :func:`make_windows` for a 1-D series, or 3-D univariate sequences
        ``(n_windows, window, 1)``. Its ``predict`` must return one value
        (or ``h`` consecutive values) per window.

    history : array-like of shape (n_timesteps,)
        The observed series, oldest first, with at least ``window`` finite
        values. Only the last ``window`` are used.

    n_steps : int
        Number of future steps to forecast, at least 1.

    window : int, default=None
        Length of the windows the estimator was fitted on. By default it is
        read from ``estimator.n_features_in_``, which is right for 2-D lag
        windows. For a sequence model fitted on 3-D windows
        (``n_features_in_ == 1``) pass it explicitly.

    Returns
    -------
    forecast : ndarray of shape (n_steps,)
        The forecast values, for the ``n_steps`` steps after ``history``, in
        the dtype of ``history`` (float32 or float64).

    Raises
    ------
    TypeError
        If the estimator is a classifier.
    ValueError
        If ``history`` is not 1-D, not finite or shorter than ``window``, if
        ``window`` cannot be inferred (as for a skseq model fitted on 3-D
        sequences) or does not match the estimator, if the estimator predicts
        one output per time step (``return_sequences=True``), or if it
        returns a non-finite prediction.

    See Also
    --------
    make_windows : Build the training windows.

    Notes
    -----
    Errors compound: every step after the first is predicted from inputs
    that are themselves predictions. A model fitted directly on the full
    horizon (``make_windows(..., horizon=n_steps)``) avoids this at the cost
    of one output per step.

    The input layout sent to ``predict`` is chosen from ``n_features_in_``:
    2-D ``(1, window)`` when it equals ``window`` (or is absent), 3-D
    ``(1, window, 1)`` when it is 1 and ``window`` is larger. If the
    estimator was fitted on a DataFrame, the 2-D rows are passed as a
    DataFrame with its ``feature_names_in_``.

    Examples
    --------
    Fit a linear autoregression on the log of the airline series up to the
    end of 1959, then forecast the twelve months of 1960:

    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skseq.datasets import load_airline_passengers
    >>> from skseq.timeseries import make_windows, recursive_forecast
    >>> log_passengers = np.log(load_airline_passengers().data)
    >>> train, test = log_passengers[:-12], log_passengers[-12:]
    >>> X, y = make_windows(train, window=12)
    >>> model = Ridge(alpha=1e-3).fit(X, y)
    >>> forecast = np.exp(recursive_forecast(model, train, n_steps=12))
    >>> forecast.shape
    (12,)
    >>> relative_error = np.abs(forecast - np.exp(test)) / np.exp(test)
    >>> bool(relative_error.mean() < 0.1)
    True
    """
    check_is_fitted(estimator)
    _check_forecaster(estimator)
    n_steps = _check_positive_integer(n_steps, "n_steps")
    history = _check_series(history, "history", allowed_ndim=(1,))

    n_features_in = getattr(estimator, "n_features_in_", None)
    if window is None:
        if n_features_in is None:
            raise ValueError(
                "window cannot be inferred: the estimator has no n_features_in_ "
                "attribute. Pass window explicitly."
            )
        if getattr(inner_model(estimator), "_fitted_on_2d", True) is False:
            # A skseq model fitted on 3-D or ragged sequences: n_features_in_
            # counts the features per step, not the steps of a window.
            raise ValueError(
                "window cannot be inferred for a model fitted on 3-D sequences "
                "(its n_features_in_ counts features per step). Pass window "
                "explicitly."
            )
        window = n_features_in
    window = _check_positive_integer(window, "window")

    if n_features_in is None or n_features_in == window:
        layout = "lags"
    elif n_features_in == 1:
        layout = "sequences"
    else:
        raise ValueError(
            f"The estimator was fitted on {n_features_in} features, which matches "
            f"neither window={window} (2-D lag windows) nor 1 (3-D univariate "
            "sequences)."
        )
    if history.shape[0] < window:
        raise ValueError(
            f"history has {history.shape[0]} values, fewer than window={window}."
        )
    feature_names = getattr(estimator, "feature_names_in_", None)
    if layout == "sequences":
        feature_names = None

    context = history[-window:].copy()
    chunks = []
    n_forecast = 0
    while n_forecast < n_steps:
        predicted = np.ravel(
            estimator.predict(_model_input(context, layout, feature_names))
        ).astype(history.dtype)
        if predicted.size == 0 or not np.all(np.isfinite(predicted)):
            raise ValueError(
                "The estimator returned an empty or non-finite prediction after "
                f"{n_forecast} forecast steps."
            )
        chunks.append(predicted)
        n_forecast += predicted.size
        context = np.concatenate((context, predicted))[-window:]
    return np.concatenate(chunks)[:n_steps]
