"""Warnings and errors raised by skseq."""

from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning


class InconsistentVersionWarning(_SklearnVersionWarning):
    """A fitted estimator was unpickled by a different version of skseq.

    Its fitted attributes may be laid out differently in this version, so its
    predictions may be wrong. Refit it, or load it with the version that saved
    it.

    A subclass of scikit-learn's
    :class:`~sklearn.exceptions.InconsistentVersionWarning`, so one warnings
    filter on scikit-learn's class covers the estimators of both libraries.

    Attributes
    ----------
    estimator_name : str
        Class name of the estimator.
    current_skseq_version : str
        The version of skseq loading the estimator.
    original_skseq_version : str
        The version of skseq that saved it.
    current_sklearn_version, original_sklearn_version : str
        The attributes of scikit-learn's warning, for code written against it.
        They hold the same two versions as the skseq attributes: the versions
        of the library that defines the estimator, skseq here.
    """

    def __init__(
        self, *, estimator_name, current_skseq_version, original_skseq_version
    ):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_skseq_version,
            original_sklearn_version=original_skseq_version,
        )
        self.current_skseq_version = current_skseq_version
        self.original_skseq_version = original_skseq_version

    def __str__(self):
        return (
            f"Trying to unpickle estimator {self.estimator_name} from skseq "
            f"version {self.original_skseq_version} when using version "
            f"{self.current_skseq_version}. This might lead to breaking code or "
            "invalid results. Use at your own risk."
        )


class DataLayoutWarning(UserWarning):
    """The input's shape suggests a layout other than the one skseq reads.

    skseq reads a 3-D array as ``(n_samples, n_timesteps, n_features)``.
    Arrays laid out channel-first, ``(n_samples, n_channels, n_timepoints)``
    as aeon and sktime store them, must be transposed first:
    ``X.transpose(0, 2, 1)``.
    """
