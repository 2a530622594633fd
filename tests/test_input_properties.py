"""Property-based tests of the input rules: odd and bad input of every kind.

For fit, partial_fit, predict, predict_proba and score, generated inputs
(shapes, dtypes, magnitudes, memory layouts, ragged lists, weights, labels)
must give either a ValueError/TypeError or a correct, finite result of the
documented shape: never another exception, a crash or NaN. Fixed seed and a
small example budget keep this within a few seconds.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy import sparse

from skseq import LSTMClassifier, LSTMRegressor

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TINY = dict(hidden_layer_sizes=(3,), max_iter=1, batch_size=4, random_state=0)
REFUSED = (ValueError, TypeError)

MAGNITUDES = [1.0, 1e-300, 1e-30, 1e30, 1e38, 1e39, 1e300, 1e308]
SPECIALS = [np.nan, np.inf, -np.inf]
DTYPES = [
    np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, bool,
    np.complex128, object, ">f8", ">f4", str,
]  # fmt: skip


def _cast(values, dtype):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return values.astype(dtype)


def _relayout(array, layout):
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided" and array.ndim >= 1:
        return np.repeat(array, 2, axis=0)[::2]
    if layout == "readonly":
        array = array.copy()
        array.setflags(write=False)
    return array


@st.composite
def mutated_array(draw, values):
    """``values`` (a valid float64 array), as it is half of the time, or
    with one change: another scale, a non-finite value, another dtype or
    another memory layout."""
    change = draw(
        st.sampled_from(["none", "none", "none", "scale", "special", "dtype", "layout"])
    )
    if change == "scale":
        with np.errstate(all="ignore"):
            values = values * draw(st.sampled_from(MAGNITUDES))
    elif change == "special" and values.size:
        values = values.copy()
        values.flat[draw(st.integers(0, values.size - 1))] = draw(
            st.sampled_from(SPECIALS)
        )
    elif change == "dtype":
        values = _cast(values, draw(st.sampled_from(DTYPES)))
    elif change == "layout":
        values = _relayout(values, draw(st.sampled_from(["F", "strided", "readonly"])))
    return values


@st.composite
def sequences(draw, n_samples=None, n_features=2):
    """X in any accepted or refused form: mostly a valid 3-D array, 2-D array
    or ragged list, mutated; sometimes the wrong rank, an empty axis, nested
    lists with huge integers or strings, a sparse matrix."""
    n = n_samples if n_samples is not None else draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(
        st.sampled_from(
            ["3d", "3d", "3d", "2d", "ragged", "ragged", "rank", "empty", "list",
             "sparse"]
        )
    )  # fmt: skip
    if kind == "3d":
        T = draw(st.integers(1, 4))
        return draw(mutated_array(rng.normal(size=(n, T, n_features))))
    if kind == "2d":
        return draw(mutated_array(rng.normal(size=(n, draw(st.integers(1, 4))))))
    if kind == "ragged":
        items = [
            rng.normal(size=(int(rng.integers(1, 5)), n_features)) for _ in range(n)
        ]
        defect = draw(st.sampled_from(["none", "none", "item", "width", "frames"]))
        index = draw(st.integers(0, n - 1))
        if defect == "item":
            items[index] = draw(mutated_array(items[index]))
        elif defect == "width":
            items[index] = rng.normal(size=(2, n_features + 1))
        elif defect == "frames":
            pd = pytest.importorskip("pandas")
            items = [
                pd.DataFrame(item, columns=[f"f{i}" for i in range(n_features)])
                for item in items
            ]
        return items
    if kind == "rank":
        shape = [n] + [2] * draw(st.sampled_from([0, 3]))
        return rng.normal(size=shape)
    if kind == "empty":
        shape = [n, 3, n_features]
        shape[draw(st.integers(0, 2))] = 0
        return np.empty(shape)
    if kind == "list":
        value = draw(st.sampled_from([1, 10**400, -(10**400), 1.5, "x", None]))
        return [[[value] * n_features] * 2 for _ in range(n)]
    return sparse.random(n, 3, density=0.5, format="csr", random_state=rng)


@st.composite
def targets(draw, n_samples, classifier):
    """y of a random form: mostly valid, sometimes of the wrong length, rank,
    or with non-finite values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = n_samples if draw(st.integers(0, 7)) else max(n_samples - 1, 0)
    if classifier:
        labels = draw(
            st.sampled_from(
                [
                    np.array([0, 1]), np.array(["a", "b", "c"]), np.array([0.5, 2.5]),
                    np.array([np.nan, 1.0]), np.array([True, False]),
                    np.array([0, 1, 2]),
                ]
            )
        )  # fmt: skip
        if draw(st.integers(0, 5)) == 0:
            return rng.integers(0, 2, (n, 3))  # multilabel indicator
        return rng.choice(labels, n)
    shape = (n,) if draw(st.booleans()) else (n, draw(st.integers(1, 2)))
    if draw(st.integers(0, 9)) == 0:
        shape = (n, 2, 2)
    return draw(mutated_array(rng.normal(size=shape)))


@st.composite
def weights(draw, n_samples):
    kind = draw(st.sampled_from(["none", "none", "scalar", "array", "wrong"]))
    if kind == "none":
        return None
    if kind == "scalar":
        return draw(
            st.sampled_from([1.0, 0.0, -1.0, np.nan, np.inf, 2, 1 + 1j, "w", 1e39])
        )
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "array":
        return draw(mutated_array(rng.uniform(0, 2, n_samples)))
    return rng.uniform(
        0, 2, (n_samples + 1,) if draw(st.booleans()) else (n_samples, 2)
    )


def _n_samples(X):
    try:
        return len(X) if not sparse.issparse(X) else X.shape[0]
    except TypeError:
        return 0


def _check_result(result, n_samples):
    result = np.asarray(result)
    assert result.shape[0] == n_samples
    if result.dtype.kind in "fc":
        assert np.all(np.isfinite(result))


def _run(call, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = call(*args, **kwargs)
        except REFUSED as exc:
            event(f"refused: {type(exc).__name__}: {str(exc)[:60]}")
            return None, exc
        event("accepted")
        return result, None


def _assert_fitted_state_finite(model):
    if hasattr(model, "weights_"):
        assert np.all(np.isfinite(model.weights_))


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "regressor64": LSTMRegressor(**TINY).fit(X, rng.normal(size=12)),
            "regressor32": LSTMRegressor(**TINY).fit(
                X.astype(np.float32), rng.normal(size=12)
            ),
            "classifier": LSTMClassifier(**TINY).fit(X, rng.integers(0, 3, 12)),
            "univariate": LSTMRegressor(**TINY).fit(X[:, :, 0], rng.normal(size=12)),
        }
    return models


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
@SETTINGS
@given(data=st.data())
def test_fit_refuses_or_fits_finite(Estimator, data):
    X = data.draw(sequences())
    n = _n_samples(X)
    y = data.draw(targets(n, Estimator is LSTMClassifier))
    sample_weight = data.draw(weights(n))
    model = Estimator(**TINY)
    fitted, error = _run(model.fit, X, y, sample_weight=sample_weight)
    _assert_fitted_state_finite(model)
    if error is None:
        prediction, error = _run(fitted.predict, X)
        assert error is None, f"fit accepted X that predict refuses: {error}"
        _check_result(prediction, n)


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
@SETTINGS
@given(data=st.data())
def test_partial_fit_refuses_or_trains_finite(Estimator, data):
    X = data.draw(sequences())
    n = _n_samples(X)
    y = data.draw(targets(n, Estimator is LSTMClassifier))
    kwargs = {}
    if Estimator is LSTMClassifier:
        labels = np.unique(y) if np.ndim(y) == 1 and len(y) else [0, 1, 2]
        kwargs["classes"] = data.draw(
            st.sampled_from([labels, labels, labels, [0, 1], ["a", "b"], None])
        )
    model = Estimator(**TINY)
    _run(model.partial_fit, X, y, sample_weight=data.draw(weights(n)), **kwargs)
    _assert_fitted_state_finite(model)


@pytest.mark.parametrize(
    "name", ["regressor64", "regressor32", "classifier", "univariate"]
)
@SETTINGS
@given(data=st.data())
def test_predict_refuses_or_predicts_finite(fitted, name, data):
    model = fitted[name]
    if name == "univariate" and data.draw(st.booleans()):
        rows = data.draw(st.integers(1, 5))
        X = data.draw(mutated_array(np.random.default_rng(rows).normal(size=(rows, 4))))
    else:
        X = data.draw(sequences(n_features=data.draw(st.sampled_from([2, 2, 2, 3]))))
    n = _n_samples(X)
    methods = [model.predict]
    if name == "classifier":
        methods.append(model.predict_proba)
    before = model.weights_.copy()
    for method in methods:
        result, error = _run(method, X)
        if error is None:
            _check_result(result, n)
    np.testing.assert_array_equal(model.weights_, before)


@pytest.mark.parametrize("name", ["regressor64", "classifier"])
@SETTINGS
@given(data=st.data())
def test_score_refuses_or_scores_finite(fitted, name, data):
    model = fitted[name]
    X = data.draw(sequences())
    n = _n_samples(X)
    y = data.draw(targets(n, name == "classifier"))
    score, error = _run(model.score, X, y, sample_weight=data.draw(weights(n)))
    if error is None:
        assert np.isfinite(score) or np.isnan(score) and n < 2
