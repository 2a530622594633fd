"""The public estimators of each cell, for the tests that run them all."""

from skseq import (
    GRUClassifier,
    GRURegressor,
    LSTMClassifier,
    LSTMRegressor,
    RNNClassifier,
    RNNRegressor,
)

#: Per cell (the names of ``skseq._cells.CELLS``): its regressor and classifier.
CELL_ESTIMATORS = {
    "lstm": (LSTMRegressor, LSTMClassifier),
    "gru": (GRURegressor, GRUClassifier),
    "rnn": (RNNRegressor, RNNClassifier),
}
REGRESSORS = [regressor for regressor, _ in CELL_ESTIMATORS.values()]
CLASSIFIERS = [classifier for _, classifier in CELL_ESTIMATORS.values()]
