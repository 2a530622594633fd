"""skseq: recurrent networks (LSTM, GRU, simple RNN) as scikit-learn estimators."""

# First: load the compiled core, with OpenMP's waiting threads bounded
# (_openmp), or fail with an ImportError that says how to build it
# (_check_build).
from . import _openmp  # noqa: F401
from ._gru import GRUClassifier, GRURegressor
from ._lstm import LSTMClassifier, LSTMRegressor
from ._rnn import RNNClassifier, RNNRegressor
from ._version import __version__

__all__ = [
    "GRUClassifier",
    "GRURegressor",
    "LSTMClassifier",
    "LSTMRegressor",
    "RNNClassifier",
    "RNNRegressor",
    "__version__",
]
