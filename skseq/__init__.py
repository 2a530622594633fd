"""skseq: recurrent neural networks (LSTM) as scikit-learn estimators."""

from ._lstm import LSTMClassifier, LSTMRegressor

__version__ = "0.1.0.dev0"

__all__ = ["LSTMClassifier", "LSTMRegressor", "__version__"]
