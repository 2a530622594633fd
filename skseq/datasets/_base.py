"""Loaders for the small real datasets shipped with skseq."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_DATA_PACKAGE = "skseq.datasets"
_AIRLINE_FILE = "airline_passengers.csv"

_AIRLINE_DESCR = """\
.. _airline_passengers_dataset:

International airline passengers, monthly, 1949-1960
----------------------------------------------------

**Dataset characteristics:**

:Number of observations: 144 (January 1949 to December 1960)
:Frequency: monthly
:Variable: total number of international airline passengers in the month,
    in thousands
:Missing values: none

The series grows steadily and has a strong yearly cycle whose amplitude grows
with the level (peaks in July and August), which makes it the standard first
test of a seasonal forecasting model. A log transform makes the seasonal
swings roughly constant in size.

It is series G of Box & Jenkins, who used it to introduce the "airline
model", a seasonal ARIMA(0, 1, 1)(0, 1, 1)_12 fitted to the logarithm of
the series; an earlier printing is attributed to R. G. Brown (1962). The
series has been reprinted in many textbooks and is distributed with R (as
``AirPassengers``) and with most statistics packages; the 144 numbers are a
long-published factual record that is treated as public domain.

The values bundled here were transcribed from two independent public copies
of the series, which agree exactly (total 40,363, minimum 104, maximum 622).

.. topic:: References

  - G. E. P. Box, G. M. Jenkins and G. C. Reinsel (1994), "Time Series
    Analysis: Forecasting and Control", 3rd edition, Prentice Hall,
    Series G. (First edition: Box & Jenkins, Holden-Day, 1970.)
  - R. G. Brown (1962), "Smoothing, Forecasting and Prediction of Discrete
    Time Series", Prentice-Hall.
"""


def load_airline_passengers(*, as_frame=False):
    """Load the monthly international airline passengers series, 1949-1960.

    The classic series G of Box, Jenkins & Reinsel: 144 monthly totals of
    international airline passengers, in thousands, from January 1949 to
    December 1960. It is small, real, trending and seasonal, which makes it a
    convenient first forecasting example.

    ============================  ======================
    Observations                  144
    Frequency                     monthly
    Period                        1949-01 to 1960-12
    Unit                          thousands of passengers
    ============================  ======================

    Parameters
    ----------
    as_frame : bool, default=False
        If True, also return the series as a pandas DataFrame with columns
        ``month`` (datetime64) and ``passengers`` (float), in ``frame``.
        Requires pandas, which skseq otherwise does not need.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (144,), dtype float64
            Passengers per month, in thousands, oldest first.
        dates : ndarray of shape (144,), dtype datetime64[M]
            The month of each value.
        frame : pandas.DataFrame of shape (144, 2) or None
            The same data as a DataFrame; None unless ``as_frame=True``.
        DESCR : str
            Description of the dataset, its source and its status.

    Notes
    -----
    Source: G. E. P. Box, G. M. Jenkins and G. C. Reinsel, "Time Series
    Analysis: Forecasting and Control", 3rd edition, Prentice Hall, 1994,
    Series G (already in the 1970 first edition; an earlier printing is
    attributed to R. G. Brown, "Smoothing, Forecasting and Prediction of
    Discrete Time Series", 1962). These long-published figures are
    distributed with R and with most statistics packages and are treated as
    public domain. The bundled values were checked against two independent
    public copies.

    Examples
    --------
    >>> from skseq.datasets import load_airline_passengers
    >>> airline = load_airline_passengers()
    >>> airline.data.shape
    (144,)
    >>> airline.data[:3]
    array([112., 118., 132.])
    >>> str(airline.dates[0]), str(airline.dates[-1])
    ('1949-01', '1960-12')
    """
    text = (
        resources.files(_DATA_PACKAGE)
        .joinpath("data", _AIRLINE_FILE)
        .read_text(encoding="utf-8")
    )
    header, *rows = text.strip().splitlines()
    if header.split(",") != ["month", "passengers"]:
        raise RuntimeError(f"Unexpected header in bundled file {_AIRLINE_FILE}.")
    months, counts = zip(*(row.split(",") for row in rows), strict=True)
    dates = np.array(months, dtype="datetime64[M]")
    passengers = np.array(counts, dtype=np.float64)

    frame = None
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(
            {"month": dates.astype("datetime64[ns]"), "passengers": passengers}
        )
    return Bunch(data=passengers, dates=dates, frame=frame, DESCR=_AIRLINE_DESCR)
