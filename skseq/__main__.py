"""``python -m skseq``: train both estimators on built-in data and report.

1. Forecasting: monthly airline passengers 1949-1960 (Box & Jenkins, series
   G, bundled). An LSTMRegressor reads the last 12 months of the seasonally
   differenced log series and forecasts the next month; the last 24 months
   are held out and compared with the seasonal naive forecast ("same month
   last year").
2. Sequence classification: the embedded Reber grammar (Hochreiter &
   Schmidhuber 1997, experiment 1, many-to-one form), generated in code. The
   label is the symbol seen at the second step, needed again at the end of a
   variable-length inner string; the baseline predicts the majority class.
"""

import time
import warnings


def _forecasting():
    import numpy as np

    from skseq import LSTMRegressor
    from skseq.datasets import load_airline_passengers
    from skseq.timeseries import make_windows

    passengers = load_airline_passengers().data
    n_test, window = 24, 12
    # Seasonal log-differences: log p_t - log p_{t-12}.
    change = np.log(passengers[12:]) - np.log(passengers[:-12])
    X, y = make_windows(change, window)
    mean, std = change[:-n_test].mean(), change[:-n_test].std()
    X, y = (X - mean) / std, (y - mean) / std
    start = time.perf_counter()
    # About a hundred windows: a fit run until its training loss stalls
    # overfits them. Early stopping on the last tenth of the windows, held
    # out in time order (shuffle=False), keeps the epoch that forecasts best.
    model = LSTMRegressor(
        hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300,
        early_stopping=True, shuffle=False, random_state=0,
    ).fit(X[:-n_test], y[:-n_test])  # fmt: skip
    seconds = time.perf_counter() - start
    predicted_change = model.predict(X[-n_test:]) * std + mean
    actual = passengers[-n_test:]
    last_year = passengers[-n_test - 12 : -12]
    forecast = last_year * np.exp(predicted_change)
    rmse = float(np.sqrt(np.mean((forecast - actual) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((last_year - actual) ** 2)))
    print("1. Forecasting airline passengers (thousands/month), 1959-1960 held out")
    print(
        f"   LSTMRegressor(32 units), {model.n_iter_} epochs on "
        f"{len(y) - n_test} windows of {window} months: {seconds:.2f} s"
    )
    print(f"   one-step RMSE: LSTM {rmse:.1f}   seasonal naive {naive_rmse:.1f}")
    return rmse, naive_rmse


def _classification():
    import numpy as np

    from skseq import LSTMClassifier
    from skseq.datasets import make_embedded_reber

    X, y = make_embedded_reber(1500, random_state=0)
    X_train, y_train, X_test, y_test = X[:1000], y[:1000], X[1000:], y[1000:]
    start = time.perf_counter()
    model = LSTMClassifier(
        hidden_layer_sizes=(32,), learning_rate_init=0.01, batch_size=32,
        max_iter=30, random_state=0,
    ).fit(X_train, y_train)  # fmt: skip
    seconds = time.perf_counter() - start
    accuracy = model.score(X_test, y_test)
    labels, counts = np.unique(y_train, return_counts=True)
    majority = labels[np.argmax(counts)]
    baseline = float(np.mean(np.asarray(y_test) == majority))
    lengths = [len(x) for x in X]
    print("2. Embedded Reber grammar: remember the 2nd symbol to the end")
    print(
        f"   LSTMClassifier(32 units), {model.n_iter_} epochs on 1000 "
        f"sequences of {min(lengths)}-{max(lengths)} steps: {seconds:.2f} s"
    )
    print(f"   test accuracy: LSTM {accuracy:.3f}   majority class {baseline:.3f}")
    return accuracy, baseline


def main(argv=None):
    """Run the demo; ``argv`` (default: the command line) takes no options
    but ``--help``."""
    import argparse

    argparse.ArgumentParser(
        prog="python -m skseq",
        description="Train skseq's estimators on two built-in tasks (airline "
        "forecasting, the embedded Reber grammar) and report their scores "
        "against simple baselines.",
    ).parse_args(argv)
    start = time.perf_counter()
    import skseq

    print(f"skseq {skseq.__version__}: LSTM estimators for scikit-learn\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        _forecasting()
        print()
        _classification()
    print(f"\nTotal wall time: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
