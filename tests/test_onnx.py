"""Export to ONNX through skl2onnx: the graphs ONNX Runtime runs give the
estimators' predictions."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skseq import LSTMClassifier, LSTMRegressor
from skseq.onnx import pad_sequences
from skseq.utils import all_estimators

from ._estimators import CELL_ESTIMATORS

# CI installs these through the test extra; the guard is for environments
# without it.
skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto  # noqa: E402
from onnx import helper as onnx_helper  # noqa: E402
from skl2onnx.common.data_types import (  # noqa: E402
    DoubleTensorType,
    FloatTensorType,
    Int32TensorType,
    Int64TensorType,
)

import skseq.onnx  # noqa: E402

# A model fitted in float32 and its graph compute the same operations in the
# same precision; they differ only in the order of the sums.
FLOAT32_TOLERANCE = 1e-5
# A float64 model runs in the graph with its weights rounded to float32.
FLOAT64_TOLERANCE = 1e-4

# Per cell: its regressor, its classifier and its ONNX operator.
CELLS = {name: (*pair, name.upper()) for name, pair in CELL_ESTIMATORS.items()}
# The operator's activations of one direction for skseq's activation "relu".
RELU_ACTIVATIONS = {
    "lstm": [b"Sigmoid", b"Relu", b"Relu"],
    "gru": [b"Sigmoid", b"Relu"],
    "rnn": [b"Relu"],
}


@pytest.fixture(scope="module", autouse=True)
def registered():
    skseq.onnx.register()


@pytest.fixture(params=list(CELLS))
def cell(request):
    return request.param


def _node_attributes(onx, op_type):
    """Per node of ``op_type``, its attributes by name."""
    return [
        {a.name: onnx_helper.get_attribute_value(a) for a in node.attribute}
        for node in onx.graph.node
        if node.op_type == op_type
    ]


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _session(onx):
    return ort.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def _run(onx, **inputs):
    return _session(onx).run(None, inputs)


def _data(n_samples=30, n_timesteps=6, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_timesteps, n_features)).astype(np.float32)
    return X, X[:, :, 0].sum(axis=1) + X[:, -1, -1]


def _ragged(n_features=3, lengths=(1, 4, 9, 2, 6, 9, 3), seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, n_features)).astype(np.float32) for n in lengths]


def _ragged_types(n_features, lengths_type=Int32TensorType):
    return [
        ("X", FloatTensorType([None, None, n_features])),
        ("lengths", lengths_type([None])),
    ]


def test_import_skseq_does_not_import_skl2onnx(tmp_path):
    """skseq, skseq.onnx and the estimator listing (which imports every
    public module) leave skl2onnx and onnx unimported."""
    code = (
        "import sys, skseq, skseq.onnx\n"
        "from skseq.utils import all_estimators\n"
        "all_estimators()\n"
        "assert 'skl2onnx' not in sys.modules, 'skl2onnx'\n"
        "assert 'onnx' not in sys.modules, 'onnx'\n"
    )
    # From a directory other than a checkout's root, so the installed skseq
    # is the one imported.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_register_without_skl2onnx_says_what_to_install(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['skl2onnx'] = None\n"
        "import skseq.onnx\n"
        "skseq.onnx.register()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "pip install skseq[onnx]" in result.stderr


def test_every_public_estimator_has_a_registered_converter():
    """What skseq exports is what these tests convert, and register() gives
    skl2onnx a converter for each of them."""
    public = {cls for _, cls in all_estimators()}
    tested = {cls for cells in CELLS.values() for cls in cells[:2]}
    assert public <= tested
    registered = set(skl2onnx.supported_converters())
    assert {"Skseq" + cls.__name__ for cls in public} <= registered


def test_regressor_matches_predict_for_any_number_of_steps(cell):
    """The sample fixes the features, not the time steps, as for predict."""
    X, y = _data()
    regressor = CELLS[cell][0]
    model = _fit(regressor(hidden_layer_sizes=5, max_iter=3, random_state=0), X, y)
    onx = skl2onnx.to_onnx(model, X[:1])
    dims = onx.graph.input[0].type.tensor_type.shape.dim
    assert [d.HasField("dim_value") for d in dims] == [False, False, True]
    X_longer = np.random.default_rng(5).normal(size=(7, 11, 3)).astype(np.float32)
    for X_test in (X, X_longer):
        (output,) = _run(onx, X=X_test)
        assert output.shape == (len(X_test), 1)
        np.testing.assert_allclose(
            output[:, 0], model.predict(X_test), rtol=0, atol=FLOAT32_TOLERANCE
        )


def test_multi_output_regressor_has_one_column_per_output():
    X, y = _data()
    Y = np.column_stack([y, -2 * y])
    model = _fit(LSTMRegressor(hidden_layer_sizes=4, max_iter=2, random_state=0), X, Y)
    (output,) = _run(skl2onnx.to_onnx(model, X[:1]), X=X)
    assert output.shape == (len(X), 2)
    np.testing.assert_allclose(output, model.predict(X), atol=FLOAT32_TOLERANCE)


@pytest.mark.parametrize("lengths_type", [Int32TensorType, Int64TensorType])
def test_stacked_bidirectional_regressor_equal_and_ragged_lengths(cell, lengths_type):
    """Two bidirectional layers, on sequences of one length and on padded
    sequences of different lengths given with their lengths."""
    X, y = _data()
    regressor = CELLS[cell][0]
    model = _fit(
        regressor(
            hidden_layer_sizes=(5, 4), bidirectional=True, max_iter=3, random_state=0
        ),
        X,
        y,
    )
    (output,) = _run(skl2onnx.to_onnx(model, X[:1]), X=X)
    np.testing.assert_allclose(
        output[:, 0], model.predict(X), rtol=0, atol=FLOAT32_TOLERANCE
    )

    sequences = _ragged()
    padded, lengths = pad_sequences(sequences)
    onx = skl2onnx.to_onnx(model, initial_types=_ragged_types(3, lengths_type))
    dtype = np.int64 if lengths_type is Int64TensorType else np.int32
    (output,) = _run(onx, X=padded, lengths=lengths.astype(dtype))
    expected = model.predict(sequences)
    np.testing.assert_allclose(output[:, 0], expected, rtol=0, atol=FLOAT32_TOLERANCE)
    # Without the lengths the padding would be read as data: the test data
    # is such that this changes the result.
    (unmasked,) = _run(skl2onnx.to_onnx(model, padded[:1]), X=padded)
    assert np.abs(unmasked[:, 0] - expected).max() > 1e-3


def test_relu_binary_classifier_labels_and_probabilities(cell):
    X, y = _data()
    labels = np.where(y > 0, 7, -3)  # integer labels that are not indices
    _, classifier, op_type = CELLS[cell]
    model = _fit(
        classifier(hidden_layer_sizes=6, activation="relu", max_iter=5, random_state=0),
        X,
        labels,
    )
    # The graph is the network as fitted, whatever the parameters say now.
    model.set_params(activation="tanh", bidirectional=True)
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    (attributes,) = _node_attributes(onx, op_type)
    assert attributes["activations"] == RELU_ACTIVATIONS[cell]
    assert attributes["direction"] == b"forward"
    label, proba = _run(onx, X=X)
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, model.predict(X))
    assert len(set(label)) == 2  # both classes are predicted
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(
        proba, model.predict_proba(X), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_classifier_default_output_is_skl2onnx_zipmap():
    """By default skl2onnx's parser maps the probabilities to one dict per
    sample, keyed by class, as for its own classifiers."""
    X, y = _data()
    model = _fit(
        LSTMClassifier(hidden_layer_sizes=4, max_iter=2, random_state=0), X, y > 0
    )
    label, proba = _run(skl2onnx.to_onnx(model, X[:1]), X=X)
    np.testing.assert_array_equal(label, model.predict(X).astype(np.int64))
    expected = model.predict_proba(X)
    assert set(proba[0]) == {0, 1}
    np.testing.assert_allclose(
        [[p[0], p[1]] for p in proba], expected, rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_ragged_three_class_classifier(cell):
    X, y = _data()
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    classifier = CELLS[cell][1]
    model = _fit(
        classifier(hidden_layer_sizes=5, max_iter=5, random_state=0), X, labels
    )
    assert model.out_activation_ == "softmax"
    sequences = _ragged()
    padded, lengths = pad_sequences(sequences)
    onx = skl2onnx.to_onnx(
        model, initial_types=_ragged_types(3), options={"zipmap": False}
    )
    label, proba = _run(onx, X=padded, lengths=lengths)
    np.testing.assert_array_equal(label, model.predict(sequences))
    np.testing.assert_allclose(
        proba, model.predict_proba(sequences), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_every_weight_reaches_the_graph(cell):
    """With every weight, bias and head value random (a fitted model's biases
    are still near their start after a few epochs), a stacked bidirectional
    model's graph gives predict on ragged sequences: each weight is mapped
    onto the operator at its place."""
    X, y = _data()
    regressor, _, op_type = CELLS[cell]
    model = _fit(
        regressor(
            hidden_layer_sizes=(4, 3), bidirectional=True, max_iter=1, random_state=0
        ),
        X,
        y,
    )
    rng = np.random.default_rng(3)
    model.weights_ = rng.normal(scale=0.5, size=model.weights_.shape).astype(
        model.weights_.dtype
    )
    onx = skl2onnx.to_onnx(model, initial_types=_ragged_types(3))
    attributes = _node_attributes(onx, op_type)
    assert [a["hidden_size"] for a in attributes] == [4, 3]
    assert all(a["direction"] == b"bidirectional" for a in attributes)
    if cell == "gru":
        # skseq's GRU applies the reset gate after the recurrent product.
        assert all(a["linear_before_reset"] == 1 for a in attributes)
    sequences = _ragged()
    padded, lengths = pad_sequences(sequences)
    (output,) = _run(onx, X=padded, lengths=lengths)
    np.testing.assert_allclose(
        output[:, 0], model.predict(sequences), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_string_label_classifier():
    X, y = _data()
    names = np.array(["low", "mid", "high"])[np.digitize(y, [-1.0, 1.0])]
    model = _fit(
        LSTMClassifier(
            hidden_layer_sizes=5, bidirectional=True, max_iter=5, random_state=0
        ),
        X,
        names,
    )
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    label, proba = _run(onx, X=X)
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(
        proba, model.predict_proba(X), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_option_nocl_gives_class_indices():
    X, y = _data()
    names = np.where(y > 0, "up", "down")
    model = _fit(
        LSTMClassifier(hidden_layer_sizes=4, max_iter=2, random_state=0), X, names
    )
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False, "nocl": True})
    label, _ = _run(onx, X=X)
    np.testing.assert_array_equal(model.classes_[label], model.predict(X))


def test_multilabel_classifier_needs_zipmap_off():
    X, y = _data()
    Y = np.column_stack([y > 0, X[:, 0, 2] > 0, y > 1]).astype(int)
    model = _fit(LSTMClassifier(hidden_layer_sizes=5, max_iter=5, random_state=0), X, Y)
    with pytest.raises(RuntimeError, match="zipmap"):
        skl2onnx.to_onnx(model, X[:1])
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    label, proba = _run(onx, X=X)
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(
        proba, model.predict_proba(X), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_pipeline_with_scaler_on_univariate_2d_input(cell):
    """A 2-D input holds univariate sequences, one column per time step."""
    X, y = _data(n_features=1)
    X2 = X[:, :, 0] * 10 + 3
    pipeline = make_pipeline(
        StandardScaler(),
        CELLS[cell][0](hidden_layer_sizes=5, max_iter=3, random_state=0),
    )
    pipeline = _fit(pipeline, X2, y)
    assert pipeline[-1].weights_.dtype == np.float32
    (output,) = _run(skl2onnx.to_onnx(pipeline, X2[:1]), X=X2)
    np.testing.assert_allclose(
        output[:, 0], pipeline.predict(X2), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_float64_model_runs_in_float32():
    """A float64 model converted with a float64 sample takes and returns
    doubles; inside, the graph computes in float32."""
    X, y = _data()
    X64 = X.astype(np.float64)
    model = _fit(
        LSTMClassifier(
            hidden_layer_sizes=(5, 3), bidirectional=True, max_iter=5, random_state=0
        ),
        X64,
        y > 0,
    )
    assert model.weights_.dtype == np.float64
    onx = skl2onnx.to_onnx(model, X64[:1], options={"zipmap": False})
    assert onx.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    label, proba = _run(onx, X=X64)
    assert proba.dtype == np.float64
    np.testing.assert_array_equal(label, model.predict(X64).astype(np.int64))
    np.testing.assert_allclose(
        proba, model.predict_proba(X64), rtol=0, atol=FLOAT64_TOLERANCE
    )
    # Converted with a float32 sample, the same model takes float32.
    (output,) = _run(
        skl2onnx.to_onnx(
            model,
            initial_types=[("X", FloatTensorType([None, None, 3]))],
            options={"zipmap": False},
        ),
        X=X,
    )[1:]
    np.testing.assert_allclose(
        output, model.predict_proba(X64), rtol=0, atol=FLOAT64_TOLERANCE
    )


@pytest.mark.parametrize(
    "sample, message",
    [
        (np.zeros((1, 6, 2), dtype=np.float32), "3 features per step"),
        (np.zeros((1, 6), dtype=np.float32), "univariate"),
        (np.zeros((1, 6, 3, 1), dtype=np.float32), "2-D .* or 3-D"),
    ],
)
def test_input_that_does_not_fit_the_model_is_refused(sample, message):
    X, y = _data()
    model = _fit(LSTMRegressor(hidden_layer_sizes=3, max_iter=1, random_state=0), X, y)
    with pytest.raises(RuntimeError, match=message):
        skl2onnx.to_onnx(model, sample)


def test_lengths_must_be_integers():
    X, y = _data()
    model = _fit(LSTMRegressor(hidden_layer_sizes=3, max_iter=1, random_state=0), X, y)
    types = [("X", FloatTensorType([None, None, 3])), ("lengths", DoubleTensorType())]
    with pytest.raises(RuntimeError, match="length of each sequence"):
        skl2onnx.to_onnx(model, initial_types=types)


def test_pad_sequences():
    padded, lengths = pad_sequences([np.ones((2, 3)), np.full((4, 3), 2.0)])
    assert padded.dtype == np.float32 and lengths.dtype == np.int32
    np.testing.assert_array_equal(lengths, [2, 4])
    np.testing.assert_array_equal(padded[0, 2:], 0)
    np.testing.assert_array_equal(padded[1], 2)
    with pytest.raises(ValueError, match="same number of features"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="zero time steps"):
        pad_sequences([np.ones((0, 3))])


@pytest.mark.parametrize(
    "sequences, dtype, message",
    [
        ([[1.0, np.nan]], np.float32, "contains NaN"),
        ([[1.0, np.inf]], np.float64, "contains infinity"),
        ([[1e300, 1.0]], np.float32, "beyond the range of float32"),
        ([np.ones((3, 0))], np.float32, "0 feature"),
        ([[1.5, 2.7]], np.int32, "dtype must be float32 or float64"),
        ([np.array([1 + 2j, 3])], np.float32, "Complex data not supported"),
        ([np.ones((2, 2, 2))], np.float32, "2-D array"),
        ([], np.float32, "at least one sequence"),
    ],
)
def test_pad_sequences_checks_values(sequences, dtype, message):
    """pad_sequences refuses what predict refuses: values that are not
    finite in the graph's float type, no features, other dtypes."""
    with pytest.raises(ValueError, match=message):
        pad_sequences(sequences, dtype=dtype)


def test_per_step_regressor_gives_every_step(cell):
    """return_sequences=True: the graph's output has a time axis, (N, T,
    n_outputs), and matches predict at every real step, for a stacked
    bidirectional model on padded ragged sequences as on equal lengths."""
    regressor = CELLS[cell][0]
    sequences = _ragged()
    targets = [np.cumsum(x, axis=0)[:, :2] for x in sequences]
    model = _fit(
        regressor(
            hidden_layer_sizes=(5, 4), bidirectional=True, return_sequences=True,
            max_iter=3, random_state=0,
        ),
        sequences,
        targets,
    )  # fmt: skip
    padded, lengths = pad_sequences(sequences)
    onx = skl2onnx.to_onnx(model, initial_types=_ragged_types(3))
    (output,) = _run(onx, X=padded, lengths=lengths)
    assert output.shape == (len(sequences), padded.shape[1], 2)
    for row, expected in zip(output, model.predict(sequences), strict=True):
        np.testing.assert_allclose(
            row[: len(expected)], expected, rtol=0, atol=FLOAT32_TOLERANCE
        )
    X = padded[lengths == lengths.max()]
    (output,) = _run(skl2onnx.to_onnx(model, X[:1]), X=X)
    np.testing.assert_allclose(output, model.predict(X), rtol=0, atol=FLOAT32_TOLERANCE)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_per_step_classifier_labels_every_step(cell, n_classes):
    classifier = CELLS[cell][1]
    X, _ = _data()
    labels = np.digitize(np.cumsum(X[..., 0], axis=1), [0.0, 1.0][: n_classes - 1])
    model = _fit(
        classifier(hidden_layer_sizes=5, return_sequences=True, max_iter=5,
                   random_state=0),
        X, labels,
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="zipmap"):
        skl2onnx.to_onnx(model, X[:1])
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    label, proba = _run(onx, X=X)
    assert label.shape == X.shape[:2] and proba.shape == (*X.shape[:2], n_classes)
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(
        proba, model.predict_proba(X), rtol=0, atol=FLOAT32_TOLERANCE
    )


@pytest.mark.parametrize("return_sequences", [False, True])
def test_regressor_targets_far_from_zero_keep_float64_resolution(
    cell, return_sequences
):
    """A regressor's graph applies the head to the scaled targets in float32
    and scales back in the output's precision: a float64 model whose targets
    sit at 1e7 with a spread of a few units gives predict's values to float32
    rounding of the scaled outputs, not of the targets (whose float32
    resolution is 1)."""
    X, y = _data()
    X, y = X.astype(np.float64), y.astype(np.float64)
    if return_sequences:
        y = 1e7 + np.cumsum(X[:, :, 0], axis=1)
    else:
        y = 1e7 + y
    Regressor = CELLS[cell][0]
    model = Regressor(
        hidden_layer_sizes=(5,), max_iter=3, random_state=0,
        return_sequences=return_sequences,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    onx = skl2onnx.to_onnx(model, X[:1])
    (got,) = _run(onx, X=X)
    expected = model.predict(X)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=0, atol=1e-4)
