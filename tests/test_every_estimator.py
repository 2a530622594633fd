"""The input forms and guarantees of the data conventions, for every public
estimator (each cell's regressor and classifier): the estimators share one
implementation, and these tests hold each of them to it."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning

from skseq.utils import all_estimators

ESTIMATORS = [cls for _, cls in all_estimators()]


def _data(cls, n=24, T=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T))
    y = X[:, 0] + X[:, -1]
    if is_classifier(cls()):
        y = np.where(y > 0, "up", "down")
    return X, y


def _fit(cls, X, y, **params):
    model = cls(hidden_layer_sizes=(6,), max_iter=3, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _outputs(model, X):
    if is_classifier(model):
        return model.predict_proba(X)
    return model.predict(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_univariate_forms_are_one_model(cls):
    """2-D (n, T), 3-D (n, T, 1) and a list of (T, 1) arrays are the same
    sequences: the same fitted weights and outputs."""
    X, y = _data(cls)
    forms = [X, X[:, :, None], [row[:, None] for row in X]]
    models = [_fit(cls, form, y) for form in forms]
    for model, form in zip(models[1:], forms[1:], strict=True):
        assert_allclose(model.weights_, models[0].weights_, rtol=1e-12, atol=1e-14)
        assert_allclose(_outputs(model, form), _outputs(models[0], X), atol=1e-12)
    assert models[0].n_features_in_ == X.shape[1]
    assert models[1].n_features_in_ == 1


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_ragged_sequences_are_read_at_their_own_last_step(cls):
    """A sequence predicts the same alone, inside a ragged list, and padded
    with anything past its end in a list of its own length."""
    X, y = _data(cls)
    model = _fit(cls, X[:, :, None], y)
    rng = np.random.default_rng(1)
    ragged = [rng.normal(size=(int(n), 1)) for n in (2, 6, 4, 9, 1)]
    together = _outputs(model, ragged)
    for i, sequence in enumerate(ragged):
        assert_allclose(together[i], _outputs(model, [sequence])[0], atol=1e-12)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_float32_stays_float32_and_agrees_with_float64(cls):
    X, y = _data(cls)
    m64 = _fit(cls, X, y)
    m32 = _fit(cls, X.astype(np.float32), y)
    assert m32.weights_.dtype == np.float32
    out32 = _outputs(m32, X.astype(np.float32))
    assert out32.dtype == np.float32
    # Three epochs from the same start: float32 follows float64 closely.
    assert_allclose(out32, _outputs(m64, X), atol=2e-4)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_random_state_decides_the_model(cls):
    X, y = _data(cls)
    first, again = _fit(cls, X, y), _fit(cls, X, y)
    assert_array_equal(first.weights_, again.weights_)
    other = cls(hidden_layer_sizes=(6,), max_iter=3, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        other.fit(X, y)
    assert not np.array_equal(first.weights_, other.weights_)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_a_dataframe_records_and_checks_its_columns(cls):
    pd = pytest.importorskip("pandas")
    X, y = _data(cls)
    frame = pd.DataFrame(X, columns=[f"t{k}" for k in range(X.shape[1])])
    model = _fit(cls, frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = _outputs(model, X)
    assert_array_equal(_outputs(model, frame), from_array)
    renamed = frame.rename(columns={"t0": "first"})
    with pytest.raises(ValueError, match="feature names"):
        model.predict(renamed)


def _log_sigmoid(z):
    return -np.logaddexp(0, -z)


@pytest.mark.parametrize(
    "cls", [c for c in ESTIMATORS if is_classifier(c())], ids=lambda c: c.__name__
)
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_probabilities_stay_finite_where_probabilities_saturate(cls, kind, dtype):
    """predict_log_proba is the log of the probabilities computed from the
    logits: scaling the output layer by s scales the logits by s, so the
    log-probabilities of the scaled model follow from the unscaled model's
    probabilities; they stay finite and accurate where the probabilities
    round to 0 or 1 (logits of a hundred and more)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 5, 2)).astype(dtype)
    s = X[:, :, 0].sum(axis=1)
    y = {
        "binary": (s > 0).astype(int),
        "multiclass": np.digitize(s, [-1.0, 1.0]),
        "multilabel": np.stack([s > 0, X[:, -1, 1] > 0], axis=1).astype(int),
    }[kind]
    model = _fit(cls, X, y)
    p = model.predict_proba(X).astype(np.float64)
    scale = 1000.0
    model.head_coef_[...] *= scale
    model.head_intercept_[...] *= scale
    if kind == "multiclass":
        z = scale * np.log(p)
        want = z - z.max(axis=1, keepdims=True)
        want -= np.log(np.exp(want).sum(axis=1, keepdims=True))
    else:
        logit = np.log(p) - np.log1p(-p)
        want = _log_sigmoid(scale * logit)
    got = model.predict_log_proba(X)
    assert got.dtype == dtype
    assert np.all(np.isfinite(got))
    assert np.min(got) < -40  # saturated: probabilities that round to 0 or 1
    tolerance = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-8)
    assert_allclose(got, want, **tolerance)
    with np.errstate(divide="ignore"):
        log_of_proba = np.log(model.predict_proba(X))
    finite = np.isfinite(log_of_proba) & (log_of_proba > -10)
    assert_allclose(got[finite], log_of_proba[finite], rtol=1e-5, atol=1e-6)
