"""The bundled UCR/UEA classification datasets: shapes, labels and class
counts as the archives publish them, and the loaders' interface."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skseq.datasets import (
    load_gunpoint,
    load_italy_power_demand,
    load_japanese_vowels,
)

# Per loader and split: the class counts the archive lists for it.
CLASS_COUNTS = {
    (load_italy_power_demand, "train"): [34, 33],
    (load_italy_power_demand, "test"): [513, 516],
    (load_gunpoint, "train"): [24, 26],
    (load_gunpoint, "test"): [76, 74],
    (load_japanese_vowels, "train"): [30] * 9,
    (load_japanese_vowels, "test"): [31, 35, 88, 44, 29, 24, 40, 50, 29],
}


@pytest.mark.parametrize("loader, split", list(CLASS_COUNTS))
def test_labels_and_class_counts(loader, split):
    data = loader(split=split)
    counts = CLASS_COUNTS[loader, split]
    assert data.target.dtype == np.int64
    assert_array_equal(data.target_names, np.arange(1, len(counts) + 1))
    assert_array_equal(np.bincount(data.target)[1:], counts)
    assert len(data.data) == sum(counts)


@pytest.mark.parametrize(
    "loader, length", [(load_italy_power_demand, 24), (load_gunpoint, 150)]
)
@pytest.mark.parametrize("split", ["train", "test"])
def test_univariate_sets_are_z_normalised_rows(loader, length, split):
    X, _ = loader(split=split, return_X_y=True)
    assert X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == length
    assert np.all(np.isfinite(X))
    # The archive z-normalises every series: a misread value breaks this.
    assert_allclose(X.mean(axis=1), 0, atol=1e-5)
    assert_allclose(X.std(axis=1, ddof=1), 1, atol=1e-3)


@pytest.mark.parametrize("split", ["train", "test"])
def test_japanese_vowels_is_ragged_with_twelve_features(split):
    X, _ = load_japanese_vowels(split=split, return_X_y=True)
    assert isinstance(X, list)
    lengths = [len(x) for x in X]
    assert min(lengths) == 7
    assert max(lengths) == (26 if split == "train" else 29)
    for x in X:
        assert x.dtype == np.float64 and x.shape[1] == 12
        assert np.all(np.isfinite(x))
    # First value of the first training utterance, as in the archive file.
    if split == "train":
        assert X[0][0, 0] == 1.860936


def test_first_italy_power_demand_row():
    X, y = load_italy_power_demand(return_X_y=True)
    assert X[0, 0] == -0.71051757 and X[0, -1] == -0.26923494
    assert y[0] == 1


@pytest.mark.parametrize(
    "loader", [load_italy_power_demand, load_gunpoint, load_japanese_vowels]
)
def test_bunch_and_return_x_y_agree_and_cite(loader):
    bunch = loader(split="test")
    X, y = loader(split="test", return_X_y=True)
    assert_array_equal(y, bunch.target)
    for a, b in zip(X, bunch.data, strict=True):
        assert_array_equal(a, b)
    assert "Dau" in bunch.DESCR and "References" in bunch.DESCR
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        loader(split="validation")


def test_a_classifier_fits_a_bundled_set_as_loaded():
    from skseq import LSTMClassifier

    X, y = load_japanese_vowels(return_X_y=True)
    model = LSTMClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:60], y[:60])
    assert set(model.predict(X[:5])) <= set(y[:60])
