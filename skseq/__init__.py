"""skseq: recurrent neural networks (LSTM) as scikit-learn estimators."""

from ._lstm import LSTMClassifier, LSTMRegressor
from ._version import __version__

__all__ = ["LSTMClassifier", "LSTMRegressor", "__version__"]
