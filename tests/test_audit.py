"""The outside audit's reproducers (issue 17): each promise at the edges.

Labels against ``classes``, weights of every form, precision limits, MLP
parity, exception types, byte order, column names of ragged frames and the
channel-first layout. Each reproducer of the audit failed before its fix;
the neighbouring cases that already held are kept beside them as guards.
"""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skseq import LSTMClassifier, LSTMRegressor
from skseq.exceptions import DataLayoutWarning

TINY = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)


@pytest.fixture(autouse=True)
def _quiet_max_iter():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(n=20, T=5, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    return X, rng.normal(size=n), rng.integers(0, 2, n)


# ------------------------------------------------------------- 1. classes


def test_first_partial_fit_checks_labels_against_classes():
    X, _, yc = _data()
    model = LSTMClassifier(**TINY)
    with pytest.raises(ValueError, match=r"not in self.classes_: \[7\]"):
        model.partial_fit(X, np.where(yc, 7, 0), classes=[0, 1, 2])
    assert not hasattr(model, "weights_")
    # The model is still usable: a valid first call works.
    model.partial_fit(X, yc, classes=[0, 1, 2])
    assert_array_equal(model.classes_, [0, 1, 2])


def test_partial_fit_requires_classes_first_and_keeps_them():
    X, _, yc = _data()
    with pytest.raises(ValueError, match="classes must be passed"):
        LSTMClassifier(**TINY).partial_fit(X, yc)
    model = LSTMClassifier(**TINY).partial_fit(X, yc, classes=[0, 1])
    with pytest.raises(ValueError, match="not the same"):
        model.partial_fit(X, yc, classes=[0, 1, 2])


# ------------------------------------------------------------- 2. weights

BAD_SAMPLE_WEIGHTS = [
    (float("nan"), ValueError, "NaN"),
    (np.inf, ValueError, "infinite"),
    (-1.0, ValueError, "Negative"),
    (0.0, ValueError, "non-zero"),
    (np.float64(-0.5), ValueError, "Negative"),
    (1 + 2j, TypeError, "real number"),
    (np.complex128(1), TypeError, "real number"),
    ("a", ValueError, "convert"),
    (np.zeros(20), ValueError, "non-zero"),
    (np.r_[np.ones(19), np.nan], ValueError, "NaN"),
    (np.r_[np.ones(19), -1], ValueError, "Negative"),
    (np.ones(20) + 1j, ValueError, "Complex"),
    (np.ones(19), ValueError, "shape"),
]


@pytest.mark.parametrize("Estimator", [LSTMRegressor, LSTMClassifier])
@pytest.mark.parametrize("weight, error, message", BAD_SAMPLE_WEIGHTS)
def test_bad_sample_weight_is_refused_in_fit_and_score(
    Estimator, weight, error, message
):
    X, yr, yc = _data()
    y = yc if Estimator is LSTMClassifier else yr
    with pytest.raises(error, match=message):
        Estimator(**TINY).fit(X, y, sample_weight=weight)
    model = Estimator(**TINY).fit(X, y)
    with pytest.raises(error, match=message):
        model.score(X, y, sample_weight=weight)


def test_scalar_sample_weight_is_a_uniform_weight():
    X, yr, _ = _data()
    array = LSTMRegressor(**TINY).fit(X, yr, sample_weight=np.full(20, 2.5))
    for scalar in (2.5, np.float32(2.5), np.array(2.5)):
        model = LSTMRegressor(**TINY).fit(X, yr, sample_weight=scalar)
        assert_array_equal(array.weights_, model.weights_)


def test_sample_weight_beyond_float32_is_refused_for_float32_models():
    X, yr, _ = _data()
    with pytest.raises(ValueError, match="infinite"):
        LSTMRegressor(**TINY).fit(X.astype(np.float32), yr, sample_weight=1e39)


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({0: -1, 1: 1}, "non-negative"),
        ({0: np.nan, 1: 1}, "finite"),
        ({0: "a", 1: 1}, "real"),
        ({0: 0, 1: 0}, "non-zero"),
    ],
)
def test_bad_class_weight_is_refused(class_weight, message):
    X, _, yc = _data()
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(**TINY, class_weight=class_weight).fit(X, yc)


def test_class_weight_zero_for_every_weighted_sample_is_refused():
    X, _, yc = _data()
    weights = (yc == 0).astype(float)  # only class 0 carries weight ...
    model = LSTMClassifier(**TINY, class_weight={0: 0, 1: 1})  # ... and it is 0
    with pytest.raises(ValueError, match="sample_weight \\* class_weight"):
        model.fit(X, yc, sample_weight=weights)


# ------------------------------------------------------- 3. float32 range


def test_float32_model_refuses_input_beyond_float32():
    X, yr, yc = _data()
    reg = LSTMRegressor(**TINY).fit(X.astype(np.float32), yr)
    clf = LSTMClassifier(**TINY).fit(X.astype(np.float32), yc)
    huge = np.full((1, 5, 2), 1e39)
    for call in (reg.predict, clf.predict, clf.predict_proba):
        with pytest.raises(ValueError, match="beyond the range of float32"):
            call(huge)
        with pytest.raises(ValueError, match="beyond the range of float32"):
            call([huge[0], np.ones((2, 2))])
    with pytest.raises(ValueError, match="beyond the range of float32"):
        LSTMRegressor(**TINY, warm_start=True).fit(X.astype(np.float32), yr).fit(
            np.full_like(X, 1e39), yr
        )
    with pytest.raises(ValueError, match="beyond the range of float32"):
        reg.partial_fit(X, np.full(20, 1e39))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_input_never_gives_nan(activation, dtype):
    X, yr, yc = _data()
    reg = LSTMRegressor(**TINY, activation=activation).fit(X.astype(dtype), yr)
    clf = LSTMClassifier(**TINY, activation=activation).fit(X.astype(dtype), yc)
    big = float(np.finfo(dtype).max) / 2
    for value in (big, -big, 1e30, 1e-30):
        Z = np.full((3, 5, 2), value, dtype=dtype)
        Z[1, :, 1] *= -1
        for call in (reg.predict, clf.predict_proba):
            try:
                out = call(Z)
            except ValueError as exc:
                assert "overflowed" in str(exc)
            else:
                assert np.all(np.isfinite(out))


# ------------------------------------------------------------ 6-8. parity


def test_n_iter_no_change_inf_switches_stall_stopping_off():
    X, yr, _ = _data()
    model = LSTMRegressor(
        hidden_layer_sizes=(4,), max_iter=30, tol=1e9, n_iter_no_change=np.inf,
        random_state=0,
    )  # fmt: skip
    model.fit(X, yr)
    assert model.n_iter_ == 30


def test_multilabel_partial_fit_learns_labels_from_y():
    X, _, _ = _data()
    Y = np.random.default_rng(1).integers(0, 2, (20, 3))
    model = LSTMClassifier(**TINY).partial_fit(X, Y, classes=[0, 1, 2])
    assert_array_equal(model.classes_, [0, 1, 2])
    model.partial_fit(X, Y)
    assert model.predict(X).shape == (20, 3)
    with pytest.raises(ValueError, match="label indices"):
        LSTMClassifier(**TINY).partial_fit(X, Y, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="fitted with 3"):
        model.partial_fit(X, Y[:, :2])


# ------------------------------------------------------- 9. exception types


def test_integer_too_large_for_float64_is_a_value_error():
    X, yr, _ = _data()
    model = LSTMRegressor(**TINY).fit(X, yr)
    with pytest.raises(ValueError, match="too large"):
        model.predict([[[10**400, 1.0]]])
    with pytest.raises(ValueError, match="too large"):
        LSTMRegressor(**TINY).fit([[10**400, 1.0], [1.0, 2.0]], [1.0, 2.0])


def test_negative_weights_in_score_are_a_value_error():
    X, _, yc = _data()
    model = LSTMClassifier(**TINY).fit(X, yc)
    with pytest.raises(ValueError, match="Negative"):
        model.score(X, yc, sample_weight=np.r_[np.ones(10), -np.ones(10)])


def test_network_too_large_for_memory_is_refused_up_front():
    X, yr, _ = _data()
    with pytest.raises(ValueError, match=r"needs at least .*TiB.*memory"):
        LSTMRegressor(hidden_layer_sizes=(10**6,), max_iter=1).fit(X, yr)


# ----------------------------------------------------------- 10. byte order


def test_big_endian_input_is_read_in_native_order():
    pd = pytest.importorskip("pandas")
    X, yr, _ = _data()
    native = LSTMRegressor(**TINY).fit(X[:, :, 0], yr)
    frame = pd.DataFrame(X[:, :, 0].astype(">f8"))
    swapped = LSTMRegressor(**TINY).fit(frame, yr)
    assert_array_equal(native.weights_, swapped.weights_)
    assert_array_equal(native.predict(X[:, :, 0]), swapped.predict(frame))
    assert_array_equal(
        native.predict(X[:, :, 0]), native.predict(X[:, :, 0].astype(">f8"))
    )
    model3d = LSTMRegressor(**TINY).fit(X, yr)
    assert_array_equal(model3d.predict(X), model3d.predict(X.astype(">f8")))


# ------------------------------------------------ 11. names of ragged frames


def _frames(columns=("a", "b"), seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    return [
        pd.DataFrame(rng.normal(size=(n, 2)), columns=list(columns))
        for n in (3, 4, 5, 3, 4)
    ]


def test_ragged_frames_record_and_check_feature_names():
    frames = _frames()
    y = np.arange(5.0)
    model = LSTMRegressor(**TINY).fit(frames, y)
    assert_array_equal(model.feature_names_in_, ["a", "b"])
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict([f[["b", "a"]] for f in frames])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict([f.to_numpy() for f in frames])
    assert_array_equal(model.predict(frames), model.predict(frames))
    # Pickled and loaded, the names still guard predictions.
    loaded = pickle.loads(pickle.dumps(model))
    with pytest.raises(ValueError, match="feature names should match"):
        loaded.predict([f[["b", "a"]] for f in frames])


def test_ragged_frames_must_share_their_columns():
    frames = _frames()
    frames[2] = frames[2].rename(columns={"a": "c"})
    with pytest.raises(ValueError, match="same columns"):
        LSTMRegressor(**TINY).fit(frames, np.arange(5.0))


def test_fit_on_arrays_then_frames_warns():
    model = LSTMRegressor(**TINY).fit([f.to_numpy() for f in _frames()], np.arange(5.0))
    assert not hasattr(model, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        model.predict(_frames())


# ------------------------------------------------- 12. channel-first layout


def test_channel_first_layout_warns_at_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6, 100))  # aeon/sktime: 6 channels, 100 points
    with pytest.warns(DataLayoutWarning, match=r"transpose\(0, 2, 1\)"):
        LSTMClassifier(**TINY).fit(X, rng.integers(0, 2, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataLayoutWarning)
        LSTMClassifier(**TINY).fit(X.transpose(0, 2, 1), rng.integers(0, 2, 20))
        # Univariate series the usual way round: many steps, one feature.
        LSTMRegressor(**TINY).fit(rng.normal(size=(20, 24, 1)), rng.normal(size=20))


# ------------------------------------------- 13. the same model on any threads


@pytest.mark.parametrize("hidden", [8, 300])
def test_initial_weights_do_not_depend_on_blas_threads(hidden):
    """The orthogonal recurrent kernels come from a QR factorisation, which a
    threaded BLAS rounds differently on different thread counts (it did for
    300 units on two threads)."""
    from threadpoolctl import threadpool_limits

    from skseq._network import LSTMNetwork

    network = LSTMNetwork(3, (hidden,), 1, "tanh")
    weights = []
    for n_threads in (1, 2, 4):
        with threadpool_limits(limits=n_threads, user_api="blas"):
            weights.append(
                network.initialize(np.random.RandomState(6), np.float64, 1.0)
            )
    assert_array_equal(weights[0], weights[1])
    assert_array_equal(weights[0], weights[2])
