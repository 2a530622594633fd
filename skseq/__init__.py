"""skseq: recurrent neural networks (LSTM) as scikit-learn estimators."""

# First: it loads the compiled core (and with it the OpenMP runtime).
from . import _openmp  # noqa: F401
from ._lstm import LSTMClassifier, LSTMRegressor
from ._version import __version__

__all__ = ["LSTMClassifier", "LSTMRegressor", "__version__"]
