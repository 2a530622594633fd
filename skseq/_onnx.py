"""skl2onnx converters of skseq's estimators (imported by skseq.onnx.register).

A fitted estimator becomes one ONNX graph:

    X (N, T, F) or (N, T) float [+ lengths (N,) int32 or int64]
      -> float32, time-major (T, N, F)
      -> one recurrent node per layer (ONNX's LSTM, GRU or RNN operator),
         the layers between them flattened from (T, directions, N, H) to
         (T, N, 2H)
      -> the last layer's final hidden state Y_h, (N, directions * H), or
         with ``return_sequences=True`` its states at every step Y,
         (N, T, directions * H)
      -> head: MatMul + Add, then the output activation
      -> regressor: variable (N, n_outputs); classifier: label (N,) and
         probabilities (N, n_classes), in the input's float type; per step,
         (N, T, n_outputs), (N, T) and (N, T, n_classes), where the steps
         past a sequence's length hold values that mean nothing

ONNX Runtime runs its LSTM and RNN operators in float32 only (GRU also in
float64; every cell is exported alike), and only in the time-major layout
(``layout=0``), so the graph casts a float64 input to float32 and transposes
it; a float64 model's weights are stored as float32.

A cell adds only its operator: an ``_OnnxCell`` in ``_CELLS`` that maps one
direction of one layer's weights onto the operator's W, R, B and names its
activations and attributes; everything around the recurrent nodes is shared.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from onnx import TensorProto
from skl2onnx import update_registered_converter
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int32TensorType,
    Int64TensorType,
    StringTensorType,
)
from sklearn.base import ClassifierMixin, RegressorMixin

from ._gru import GRUClassifier, GRURegressor
from ._lstm import LSTMClassifier, LSTMRegressor
from ._rnn import RNNClassifier, RNNRegressor

# ONNX's names of skseq's activations.
_ONNX_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}

_NUMPY_TYPES = {
    TensorProto.FLOAT: np.float32,
    TensorProto.DOUBLE: np.float64,
    TensorProto.INT64: np.int64,
}

# Position in skseq's gate blocks (i, f, g, o, the Keras layout) of each of
# ONNX's LSTM blocks, which are ordered i, o, f, c (c is skseq's g).
_LSTM_BLOCKS = (0, 3, 1, 2)


# ------------------------------------------------------------------- cells
#
# Each cell maps one direction of one layer, in skseq's Keras layout, onto
# its ONNX operator's W, R, B (ONNX computes x W^T: W is the kernel
# transposed), and names the operator's activations for skseq's activation.


def _lstm_direction(kernel, recurrent, bias, hidden):
    blocks = [slice(b * hidden, (b + 1) * hidden) for b in _LSTM_BLOCKS]
    # ONNX's bias is the sum of an input (Wb) and a recurrent (Rb) part;
    # skseq's single bias is the input part.
    return (
        np.concatenate([kernel[:, b].T for b in blocks]),
        np.concatenate([recurrent[:, b].T for b in blocks]),
        np.concatenate([bias[b] for b in blocks] + [np.zeros(4 * hidden)]),
    )


def _gru_direction(kernel, recurrent, bias, hidden):
    # The gate blocks are z, r, h in both; skseq's bias rows are the input
    # (Wb) and the recurrent (Rb) biases, which linear_before_reset=1 keeps
    # apart, as the reset-after cell needs (r multiplies Rb_h too).
    return kernel.T, recurrent.T, np.concatenate([bias[0], bias[1]])


def _rnn_direction(kernel, recurrent, bias, hidden):
    # As for the LSTM: ONNX adds Wb and Rb; skseq's one bias is Wb.
    return kernel.T, recurrent.T, np.concatenate([bias, np.zeros(hidden)])


class _OnnxCell(NamedTuple):
    """A cell's ONNX operator: its type, the function that maps one direction
    of one layer onto its W, R, B, the function that gives the operator's
    activations of one direction for skseq's activation (ONNX's name), and
    the cell's own attributes."""

    op_type: str
    direction_weights: Callable
    activations: Callable
    attributes: dict


_CELLS = {
    "lstm": _OnnxCell("LSTM", _lstm_direction, lambda act: ["Sigmoid", act, act], {}),
    "gru": _OnnxCell(
        "GRU", _gru_direction, lambda act: ["Sigmoid", act], {"linear_before_reset": 1}
    ),
    "rnn": _OnnxCell("RNN", _rnn_direction, lambda act: [act], {}),
}

# The estimators the converters are registered for.
_ESTIMATORS = (
    LSTMRegressor,
    LSTMClassifier,
    GRURegressor,
    GRUClassifier,
    RNNRegressor,
    RNNClassifier,
)


def _cell_layers(model):
    """The recurrent nodes of ``model``: per layer, the operator type, its
    weight inputs W, R, B (each with a leading direction axis) and its
    attributes."""
    # The network as fitted (the parameters may have been set since).
    network = model._network
    cell = _CELLS[network.cell.name]
    suffixes = ("", "_reverse") if network.bidirectional else ("",)
    activations = cell.activations(_ONNX_ACTIVATIONS[network.activation])
    layers = []
    for weights in model._layer_weights():
        hidden = weights["recurrent_kernel"].shape[0]
        W, R, B = zip(
            *(
                cell.direction_weights(
                    weights["kernel" + suffix],
                    weights["recurrent_kernel" + suffix],
                    weights["bias" + suffix],
                    hidden,
                )
                for suffix in suffixes
            ),
            strict=True,
        )
        attributes = {
            "hidden_size": hidden,
            "direction": "bidirectional" if network.bidirectional else "forward",
            "activations": activations * len(suffixes),
            **cell.attributes,
        }
        layers.append(
            (cell.op_type, [np.stack(W), np.stack(R), np.stack(B)], attributes)
        )
    return layers


# ---------------------------------------------------------- shapes, checks


def _step_features(model):
    return model._layer_weights()[0]["kernel"].shape[0]


def _is_multilabel(model):
    return not model._is_classifier_single_output()


def _per_step(model):
    """Whether the model predicts at every step (``return_sequences``)."""
    return model._network.per_step


def _check_inputs(operator):
    """Raise a clear error for graph inputs the converter cannot take."""
    model = operator.raw_operator
    name = type(model).__name__
    if len(operator.inputs) not in (1, 2):
        raise RuntimeError(
            f"The ONNX converter of {name} takes the sequences X and, optionally, "
            f"their lengths as a second input; got {len(operator.inputs)} inputs. "
            "A DataFrame sample gives one input per column: convert with a NumPy "
            "sample (df.to_numpy()) instead."
        )
    x_type = operator.inputs[0].type
    if not isinstance(x_type, FloatTensorType | DoubleTensorType):
        raise RuntimeError(
            f"The sequences input of {name} must be a float or double tensor; "
            f"got {x_type}."
        )
    shape = list(x_type.shape or [])
    n_step_features = _step_features(model)
    if len(shape) == 2:
        if n_step_features != 1:
            raise RuntimeError(
                f"{name} was fitted on sequences with {n_step_features} features per "
                "step; a 2-D input holds univariate sequences. Give a 3-D sample "
                f"(n_samples, n_timesteps, {n_step_features})."
            )
        if getattr(model, "_fitted_on_2d", False) and shape[1] not in (
            None,
            model.n_features_in_,
        ):
            raise RuntimeError(
                f"{name} was fitted on {model.n_features_in_} columns (time steps); "
                f"the input has {shape[1]}."
            )
    elif len(shape) == 3:
        if shape[2] not in (None, n_step_features):
            raise RuntimeError(
                f"{name} was fitted on {n_step_features} features per step; the "
                f"input has {shape[2]}."
            )
    else:
        raise RuntimeError(
            f"The sequences input of {name} must be 2-D (n_samples, n_timesteps) or "
            f"3-D (n_samples, n_timesteps, n_features); got shape {shape or None}."
        )
    if len(operator.inputs) == 2:
        lengths_type = operator.inputs[1].type
        if not isinstance(lengths_type, Int32TensorType | Int64TensorType) or (
            lengths_type.shape is not None and len(lengths_type.shape) != 1
        ):
            raise RuntimeError(
                f"The second input of {name} is the length of each sequence, a 1-D "
                f"int32 or int64 tensor; got {lengths_type}."
            )


def _label_classes(model, scope):
    """``classes_`` as the values of the label output: int64 or strings (with
    skl2onnx's option ``nocl``, the class indices)."""
    if scope.get_options(model, dict(nocl=False))["nocl"]:
        return np.arange(len(model.classes_), dtype=np.int64)
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        if np.all(classes == np.round(classes)):
            return classes.astype(np.int64)
        raise RuntimeError(
            f"ONNX labels are integers or strings; {type(model).__name__} was "
            f"fitted on float labels that are not integers: {classes}."
        )
    return classes.astype(str)


def _calculate_output_shapes(operator):
    _check_inputs(operator)
    model = operator.raw_operator
    x = operator.inputs[0]
    if len(x.type.shape) == 3 and x.is_root:
        # Like the estimator, the graph takes any number of time steps; the
        # sample it was converted with fixes only the number of features.
        # (A new type: the one given in initial_types is the caller's.)
        x.type = type(x.type)([x.type.shape[0], None, x.type.shape[2]])
    # Per step, every output has a time axis after the rows.
    rows = [x.type.shape[0], None] if _per_step(model) else [x.type.shape[0]]
    float_type = type(x.type)
    if isinstance(model, RegressorMixin):
        operator.outputs[0].type = float_type([*rows, model.n_outputs_])
        return
    n_classes = len(model.classes_)
    label, probabilities = operator.outputs[:2]
    what = None
    if _is_multilabel(model):
        what = "an indicator matrix"
        label.type = Int64TensorType([*rows, n_classes])
    elif _label_classes(model, operator.scope_inst).dtype.kind == "U":
        label.type = StringTensorType(rows)
    else:
        label.type = Int64TensorType(rows)
    if _per_step(model):
        what = "a label at every step"
    options = operator.scope_inst.get_options(model, dict(zipmap=True))
    if what is not None and options["zipmap"] is not False:
        raise RuntimeError(
            f"This {type(model).__name__} predicts {what}, which ZipMap cannot "
            "label: convert with options={'zipmap': False}."
        )
    probabilities.type = float_type([*rows, n_classes])


# --------------------------------------------------------------- converter


class _Graph:
    """Adds nodes and constants to skl2onnx's container under unique names."""

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container

    def constant(self, seed, array, onnx_type=TensorProto.FLOAT):
        name = self.scope.get_unique_variable_name(seed)
        if onnx_type == TensorProto.STRING:
            array = np.asarray(array)
            values = [s.encode("utf-8") for s in array.ravel()]
        else:
            array = np.asarray(array, dtype=_NUMPY_TYPES[onnx_type])
            values = array.ravel()
        self.container.add_initializer(name, onnx_type, list(array.shape), values)
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        """Add a node with one output (named after it unless given); returns
        the output's name."""
        if output is None:
            output = self.scope.get_unique_variable_name(op_type.lower())
        self.node_n(op_type, inputs, [output], **attributes)
        return output

    def node_n(self, op_type, inputs, outputs, **attributes):
        self.container.add_node(
            op_type,
            inputs,
            outputs,
            name=self.scope.get_unique_operator_name(op_type),
            **attributes,
        )


def _recurrent_layers(graph, model, x, lengths):
    """The recurrent nodes over time-major float32 ``x`` (T, N, F); returns
    the final hidden state of the last layer, (N, directions * H), or for a
    per-step model its states at every step, (N, T, directions * H),
    forward direction first."""
    layers = _cell_layers(model)
    for index, (op_type, weights, attributes) in enumerate(layers):
        names = [
            graph.constant(f"{op_type}{index}_{part}", w)
            for part, w in zip("WRB", weights, strict=True)
        ]
        inputs = [x, *names] + ([lengths] if lengths is not None else [])
        sequence = graph.scope.get_unique_variable_name(f"{op_type}{index}_Y")
        final = graph.scope.get_unique_variable_name(f"{op_type}{index}_Y_h")
        # Y (T, directions, N, H) holds the hidden state of every step, zeros
        # past each sequence's length; Y_h (directions, N, H) the state at each
        # sequence's last step, which for the reverse direction is the state
        # after reading the sequence back to its first step.
        graph.node_n(op_type, inputs, [sequence, final], **attributes)
        if index + 1 < len(layers):
            # The next layer reads both directions at every step, forward first.
            by_step = graph.node("Transpose", [sequence], perm=[0, 2, 1, 3])
            x = graph.node(
                "Reshape",
                [by_step, graph.constant("shape", [0, 0, -1], TensorProto.INT64)],
            )
    if _per_step(model):
        by_row = graph.node("Transpose", [sequence], perm=[2, 0, 1, 3])
        shape = [0, 0, -1]
    else:
        by_row = graph.node("Transpose", [final], perm=[1, 0, 2])
        shape = [0, -1]
    return graph.node(
        "Reshape", [by_row, graph.constant("shape", shape, TensorProto.INT64)]
    )


def _graph_inputs(graph, operator):
    """The sequences as ONNX's recurrent operators read them, float32 and
    time-major (T, B, F), and their lengths as int32 (None when not given)."""
    x_var = operator.inputs[0]
    x = x_var.full_name
    if isinstance(x_var.type, DoubleTensorType):
        x = graph.node("Cast", [x], to=TensorProto.FLOAT)
    if len(x_var.type.shape) == 2:
        x = graph.node(
            "Reshape", [x, graph.constant("shape", [0, 0, 1], TensorProto.INT64)]
        )
    x = graph.node("Transpose", [x], perm=[1, 0, 2])
    lengths = None
    if len(operator.inputs) == 2:
        lengths = operator.inputs[1].full_name
        if isinstance(operator.inputs[1].type, Int64TensorType):
            lengths = graph.node("Cast", [lengths], to=TensorProto.INT32)
    return x, lengths


def _convert(scope, operator, container):
    model = operator.raw_operator
    graph = _Graph(scope, container)
    is_double = isinstance(operator.inputs[0].type, DoubleTensorType)
    x, lengths = _graph_inputs(graph, operator)
    hidden = _recurrent_layers(graph, model, x, lengths)
    if isinstance(model, RegressorMixin) and "_target_scale" in model.__dict__:
        _regression_output(graph, model, hidden, operator.outputs[0], is_double)
        return
    coef = graph.constant("coef", model.head_coef_)
    intercept = graph.constant("intercept", model.head_intercept_)
    projected = graph.node("MatMul", [hidden, coef])

    def target(variable):
        """Where the float32 value of output ``variable`` is written: the
        output itself, or (double input) a tensor cast into it later."""
        if is_double:
            return scope.get_unique_variable_name(variable.onnx_name + "_float")
        return variable.full_name

    def cast_back(value, variable):
        if is_double:
            graph.node("Cast", [value], variable.full_name, to=TensorProto.DOUBLE)

    if isinstance(model, RegressorMixin):
        variable = operator.outputs[0]
        cast_back(graph.node("Add", [projected, intercept], target(variable)), variable)
        return

    label, probabilities = operator.outputs[:2]
    raw = graph.node("Add", [projected, intercept])
    proba_out = target(probabilities)
    # The class axis: after the rows, and per step after the time steps.
    axis = 2 if _per_step(model) else 1
    if model.out_activation_ == "softmax":
        proba = graph.node("Softmax", [raw], proba_out, axis=axis)
    elif _is_multilabel(model):
        proba = graph.node("Sigmoid", [raw], proba_out)
        cast_back(proba, probabilities)
        positive = graph.node("Greater", [proba, graph.constant("half", 0.5)])
        graph.node("Cast", [positive], label.full_name, to=TensorProto.INT64)
        return
    else:
        # One logistic output: the probability of classes_[1].
        positive = graph.node("Sigmoid", [raw])
        negative = graph.node("Sub", [graph.constant("one", 1.0), positive])
        proba = graph.node("Concat", [negative, positive], proba_out, axis=axis)
    cast_back(proba, probabilities)
    # The first of equal probabilities wins, as in NumPy's argmax; for one
    # logistic output that is classes_[1] only where its probability is above
    # 1/2, as in the estimator.
    index = graph.node("ArgMax", [proba], axis=axis, keepdims=0)
    classes = _label_classes(model, scope)
    onnx_type = TensorProto.STRING if classes.dtype.kind == "U" else TensorProto.INT64
    graph.node(
        "Gather",
        [graph.constant("classes", classes, onnx_type), index],
        label.full_name,
        axis=0,
    )


def _regression_output(graph, model, hidden, variable, is_double):
    """A regressor's output: the network's own head (scaled targets) in
    float32, then the scaling back in the output's precision, so that a
    float64 graph keeps targets far from zero as the estimator does (the
    head with the shift folded in would round them to float32)."""
    _, coef, intercept = model._network.unpack(model.weights_)
    projected = graph.node("MatMul", [hidden, graph.constant("coef", coef)])
    raw = graph.node("Add", [projected, graph.constant("intercept", intercept)])
    precision = TensorProto.FLOAT
    if is_double:
        precision = TensorProto.DOUBLE
        raw = graph.node("Cast", [raw], to=precision)
    scaled = graph.node(
        "Mul", [raw, graph.constant("scale", model._target_scale, precision)]
    )
    graph.node(
        "Add",
        [scaled, graph.constant("shift", model._target_shift, precision)],
        variable.full_name,
    )


def register_converters():
    """Register the shape calculator and converter of every estimator; the
    classifiers with skl2onnx's classifier options, so that its own parser
    declares their two outputs (label, probabilities) and applies ZipMap."""
    for estimator in _ESTIMATORS:
        options = None
        if issubclass(estimator, ClassifierMixin):
            options = {
                "zipmap": [True, False, "columns"],
                "output_class_labels": [False, True],
                "nocl": [False, True],
            }
        update_registered_converter(
            estimator,
            "Skseq" + estimator.__name__,
            _calculate_output_shapes,
            _convert,
            overwrite=True,
            options=options,
        )
