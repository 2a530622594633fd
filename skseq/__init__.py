"""skseq: recurrent neural networks (LSTM) as scikit-learn estimators."""

# First: load the compiled core, with OpenMP's waiting threads bounded
# (_openmp), or fail with an ImportError that says how to build it
# (_check_build).
from . import _openmp  # noqa: F401
from ._lstm import LSTMClassifier, LSTMRegressor
from ._version import __version__

__all__ = ["LSTMClassifier", "LSTMRegressor", "__version__"]
