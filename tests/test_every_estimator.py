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


REGRESSORS = [cls for cls in ESTIMATORS if not is_classifier(cls())]


def _fit_regressor(cls, X, y, sample_weight=None, **params):
    model = cls(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, sample_weight=sample_weight)


@pytest.mark.parametrize("cls", REGRESSORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_regressors_do_not_depend_on_the_units_of_y(cls, return_sequences):
    """A regressor learns scaled targets: fitting y * a + b (a and b per
    output, every spread above 1) gives the network of fitting y, which
    predicts a * (what fitting y predicts) + b, with the same training loss
    and score. Targets of a spread below 1 are only shifted: y / 10 + b
    gives the network of y / 10. The output layer, in the units of y, is
    read-only."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 6, 2))
    y = np.cumsum(X, axis=1) if return_sequences else X[:, :3].sum(axis=1)
    assert np.all(np.std(y.reshape(-1, 2), axis=0) > 1)
    a, b = np.array([1e4, 3.0]), np.array([5e3, -2.0])
    params = dict(
        hidden_layer_sizes=(5,), max_iter=5, return_sequences=return_sequences
    )
    weights = rng.uniform(0.5, 2.0, size=30)
    plain = _fit_regressor(cls, X, y, weights, **params)
    scaled = _fit_regressor(cls, X, y * a + b, weights, **params)
    assert_allclose(scaled.weights_, plain.weights_, rtol=1e-6, atol=1e-9)
    assert_allclose(scaled.predict(X), plain.predict(X) * a + b, rtol=1e-6, atol=1e-9)
    assert_allclose(scaled.loss_curve_, plain.loss_curve_, rtol=1e-6)
    assert scaled.score(X, y * a + b) == pytest.approx(plain.score(X, y), rel=1e-6)
    assert not scaled.head_coef_.flags.writeable
    assert not scaled.head_intercept_.flags.writeable
    assert_allclose(scaled.head_coef_, plain.head_coef_ * a, rtol=1e-6, atol=1e-9)
    assert_allclose(
        scaled.head_intercept_, plain.head_intercept_ * a + b, rtol=1e-6, atol=1e-9
    )
    small = _fit_regressor(cls, X, y / 10, weights, **params)
    shifted = _fit_regressor(cls, X, y / 10 + b, weights, **params)
    assert_allclose(shifted.weights_, small.weights_, rtol=1e-6, atol=1e-9)
    assert_allclose(shifted.predict(X), small.predict(X) + b, rtol=1e-6, atol=1e-9)
    # Only shifted, not divided by their spread: a different network.
    assert not np.allclose(small.weights_, plain.weights_, rtol=1e-3)


@pytest.mark.parametrize("cls", REGRESSORS, ids=lambda c: c.__name__)
def test_regressors_fit_targets_far_from_zero(cls):
    """Targets of the order of thousands, offset far from zero, as raw
    measurements come: the model starts at their mean and learns their
    variation; constant targets are predicted from the first epochs on."""
    rng = np.random.default_rng(6)
    X = rng.normal(size=(200, 5, 1))
    y = 5000.0 + 300.0 * X[:, :2, 0].sum(axis=1)
    model = _fit_regressor(cls, X, y, hidden_layer_sizes=(16,), max_iter=60)
    assert model.score(X, y) > 0.8
    constant = _fit_regressor(cls, X, np.full(200, 5000.0), max_iter=20)
    assert_allclose(constant.predict(X), 5000.0, rtol=1e-4)


@pytest.mark.parametrize("cls", REGRESSORS, ids=lambda c: c.__name__)
def test_a_regressor_saved_without_target_scaling_predicts_as_it_did(cls):
    """A model pickled before targets were standardized has no scaling: its
    output layer's raw values are its predictions, and head_coef_ is a view
    of its weights again."""
    X, y = _data(cls)
    model = _fit_regressor(cls, X, 100.0 * y + 7.0, max_iter=2)
    state = model.__getstate__()
    del state["_target_shift"], state["_target_scale"]
    old = cls.__new__(cls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InconsistentVersionWarning, if any
        old.__setstate__(state)
    assert_array_equal(old.predict(X), old._predict_raw(X).ravel())
    assert old.head_coef_.flags.writeable
    assert np.shares_memory(old.head_coef_, old.weights_)


@pytest.mark.parametrize("cls", REGRESSORS, ids=lambda c: c.__name__)
def test_a_failed_refit_leaves_the_regressor_as_it_was(cls):
    """The scaling of a refit's targets is kept only with its weights: a refit
    that fails a later check changes nothing of the fitted model."""
    X, y = _data(cls)
    model = _fit_regressor(cls, X, 3 * y + 9, max_iter=2)
    before = model.predict(X)
    with pytest.raises(ValueError, match="validation set"):
        model.set_params(early_stopping=True).fit(
            X, 1000 * y - 5e5, X_val=X[:5], y_val=y[:4]
        )
    assert_array_equal(model.predict(X), before)


@pytest.mark.parametrize("cls", REGRESSORS, ids=lambda c: c.__name__)
def test_targets_at_the_edge_of_float64_fit_and_overflow_clearly(cls):
    """Targets of +-1.7e308 (their difference overflows) train on finite
    scaled targets; an output scaled back beyond the float range is the
    network-overflow error, never an infinity."""
    X, _ = _data(cls)
    y = np.where(np.arange(len(X)) % 3 == 0, -1.7e308, 1.7e308)
    model = _fit_regressor(cls, X, y, max_iter=3)
    assert np.all(np.isfinite(model.loss_curve_))
    X_far = X * 1e3  # saturates the units: raw outputs at their extremes
    assert np.all(np.isfinite(model._predict_raw(X_far)))
    try:
        predictions = model.predict(X_far)
    except ValueError as error:
        assert "overflowed" in str(error)
    else:
        assert np.all(np.isfinite(predictions))
