"""skseq: recurrent neural networks (LSTM) as scikit-learn estimators."""

# First: a clear ImportError when the compiled core is not built.
from . import _check_build  # noqa: F401
from ._lstm import LSTMClassifier, LSTMRegressor
from ._version import __version__

__all__ = ["LSTMClassifier", "LSTMRegressor", "__version__"]
