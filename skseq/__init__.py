"""skseq: recurrent neural networks (LSTM, simple RNN) as scikit-learn estimators."""

# First: load the compiled core, with OpenMP's waiting threads bounded
# (_openmp), or fail with an ImportError that says how to build it
# (_check_build).
from . import _openmp  # noqa: F401
from ._lstm import LSTMClassifier, LSTMRegressor
from ._rnn import RNNClassifier, RNNRegressor
from ._version import __version__

__all__ = [
    "LSTMClassifier",
    "LSTMRegressor",
    "RNNClassifier",
    "RNNRegressor",
    "__version__",
]
