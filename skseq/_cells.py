"""The recurrent cells: what the network needs to know of each.

A cell is one compiled layer module (``_lstm_layer``, ``_gru_layer``,
``_rnn_layer``) with
entry points of the same form, and an object here that describes it: its gate
width, its bias layout and initialisation, the per-step buffers its layer
keeps, and the calls into its module. ``_network`` drives any cell through
this description and never branches on the cell type.

A layer's buffers, per direction: ``hidden`` (H values per step) for every
cell; ``gates`` (the cell's gate width G per step) and ``cells`` (H per
step) where the cell's layer uses them. The LSTM keeps its cell state in
``cells``, the GRU the recurrent part of its candidate; the simple RNN keeps
only its hidden states, and uses ``gates`` (H per step) for the gradients of
its pre-activations in training. Weights are in the
Keras layout: kernel (n_in, G), recurrent kernel (H, G) and a bias of
:meth:`Cell.bias_shape`.

Initial biases: the gates that keep the state start length-aware. On
training sequences of more than :data:`FIXED_BIAS_MAX_LENGTH` steps they start
from the chrono initialisation of Tallec & Ollivier (ICLR 2018,
:func:`chrono_gate_biases`) for the longest training sequence: the LSTM's
forget gates (their negatives on the input gates) with ``forget_bias="auto"``
(a number sets the forget gates to it instead), the GRU's update gates (input
row, z block: z = 1 keeps h). On shorter sequences they start at the fixed
value 1.0.
Every other gate bias starts at 0. The simple RNN has no gate; its biases
start at 0.
"""

import numpy as np

from . import _gru_layer, _lstm_layer, _rnn_layer


class Cell:
    """A gated cell: its layer keeps gates and per-step cell values.

    Parameters
    ----------
    name : str
        Short name ("lstm", "gru"), the key of :data:`CELLS`.
    n_gates : int
        Gate blocks per unit: the kernels have ``n_gates * H`` columns.
    gate_names : str
        The gate blocks in their order along the G axis, e.g. "i, f, g, o".
    bias_rows : int
        1 for a bias (G,), 2 for an input and a recurrent row (2, G).
    layer : module
        The compiled layer module: ``backward_workspace_size`` and the
        activation codes.
    entry_points : tuple
        The module's forward, backward and one-call predict functions.
    initial_bias : callable
        ``initial_bias(bias, hidden, **params)`` sets a fresh bias (zeros on
        entry) in place, from the estimator's cell parameters.
    drawn_bias : callable
        ``drawn_bias(bias, hidden, rng, max_length, **params)`` then sets the
        bias values drawn at random, the length-aware gate biases of
        :func:`chrono_gate_biases` for training sequences of up to
        ``max_length`` steps. The network calls it for every layer after all
        other weights are drawn, so that those do not depend on it.
    small_batch_predictor : type or None
        The module's compiled predictor for a few sequences of a one-layer,
        one-direction network, if it has one.
    step : callable
        The module's one-step function (streaming): ``step(x, kernel,
        recurrent_kernel, bias, *states, *new_states, activation)``.
    state_names : tuple of str
        What a layer carries from one step to the next, in the order of the
        step function's states: the hidden state "h", and the LSTM's cell
        state "c".
    reads_last_steps_only : bool
        Whether the module's backward takes ``last_steps_only`` (dL/dh from
        outside is zero but at each sequence's last step, and is read only
        there).
    """

    # The buffers (besides ``hidden``) the layer keeps per direction.
    training_buffers = ("gates", "cells")
    inference_buffers = ("gates", "cells")

    def __init__(
        self, name, n_gates, gate_names, bias_rows, layer, entry_points,
        initial_bias, drawn_bias, small_batch_predictor=None, step=None,
        state_names=("h",), reads_last_steps_only=False,
    ):  # fmt: skip
        self.name = name
        self.n_gates = n_gates
        self.gate_names = gate_names
        self.bias_rows = bias_rows
        self.layer = layer
        self._forward, self._backward, self.predict = entry_points
        self.initial_bias = initial_bias
        self.drawn_bias = drawn_bias
        self.small_batch_predictor = small_batch_predictor
        # The one-step function's compiled version per dtype: picking it
        # here saves the fused function's dispatch on every streamed step.
        self._steps = {}
        if step is not None:
            self._steps = {
                np.dtype(np.float32): step["float"],
                np.dtype(np.float64): step["double"],
            }
        self.state_names = state_names
        self.reads_last_steps_only = reads_last_steps_only
        self.activations = {
            "tanh": layer.ACTIVATION_TANH,
            "relu": layer.ACTIVATION_RELU,
        }

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"

    def gate_width(self, hidden):
        """G, the width of the gate axis for ``hidden`` units."""
        return self.n_gates * hidden

    def bias_shape(self, hidden):
        """The shape of one direction's bias."""
        width = self.gate_width(hidden)
        return (width,) if self.bias_rows == 1 else (self.bias_rows, width)

    def buffer_width(self, name, hidden):
        """Values per step of the buffer ``name`` for ``hidden`` units."""
        return self.gate_width(hidden) if name == "gates" else hidden

    def backward_workspace_size(self, n_rows, n_in, hidden, chunk_size):
        """Length of the scratch array of the backward pass."""
        return self.layer.backward_workspace_size(n_rows, n_in, hidden, chunk_size)

    def forward(self, unit, inputs, lengths, state, activation, chunk_size, threads,
                zero_slot):  # fmt: skip
        """The layer's forward pass of one direction, into ``state``."""
        self._forward(
            inputs, unit.kernel, unit.recurrent_kernel, unit.bias, lengths,
            state["gates"], state["cells"], state["hidden"], activation,
            chunk_size, threads, zero_slot,
        )  # fmt: skip

    def backward(self, unit, grads, inputs, d_inputs, lengths, state, activation,
                 chunk_size, threads, last_steps_only=False):  # fmt: skip
        """The layer's backward pass of one direction, after its forward pass
        into ``state``: the weight gradients into ``grads``, dL/d(inputs)
        into ``d_inputs`` (None: not wanted). The gate gradients overwrite
        the gates. ``last_steps_only``: the state's dL/dh from outside is
        zero but at each sequence's last step (the layer may then skip the
        rest)."""
        self._backward(
            inputs, unit.kernel, unit.recurrent_kernel, lengths, state["gates"],
            state["cells"], state["hidden"], state["dhidden"], state["gates"],
            d_inputs, grads.kernel, grads.recurrent_kernel, grads.bias,
            state["work"], activation, chunk_size, threads,
            *((last_steps_only,) if self.reads_last_steps_only else ()),
        )  # fmt: skip

    def step(self, unit, x, states, activation):
        """One step of the layer for independent rows: ``x`` (B, n_in) and
        the layer's states after the previous step (a tuple in the order of
        ``state_names``, each (B, H)) give the new states, new arrays."""
        new = tuple(np.empty_like(state) for state in states)
        self._steps[x.dtype](
            x, unit.kernel, unit.recurrent_kernel, unit.bias, *states, *new,
            activation,
        )  # fmt: skip
        return new


class SimpleCell(Cell):
    """The Elman cell, h' = act(x W + h U + b): its layer keeps only the
    hidden states (and, in training, the pre-activations' gradients)."""

    training_buffers = ("gates",)
    inference_buffers = ()

    def forward(self, unit, inputs, lengths, state, activation, chunk_size, threads,
                zero_slot):  # fmt: skip
        hidden = state["hidden"]
        if not zero_slot and hidden.shape[1] != 2:
            # The layer reads inputs without the zero slot only when it keeps
            # two alternating hidden slots (the top layer in inference); a
            # lower layer of a stack, which keeps every step, gets them padded.
            padded = np.zeros(
                (inputs.shape[0], inputs.shape[1] + 1, inputs.shape[2]),
                dtype=inputs.dtype,
            )
            padded[:, 1:] = inputs
            inputs, zero_slot = padded, True
        self._forward(
            inputs, unit.kernel, unit.recurrent_kernel, unit.bias, lengths, hidden,
            activation, chunk_size, threads, zero_slot,
        )  # fmt: skip

    def backward(self, unit, grads, inputs, d_inputs, lengths, state, activation,
                 chunk_size, threads, last_steps_only=False):  # fmt: skip
        self._backward(
            inputs, unit.kernel, unit.recurrent_kernel, lengths, state["hidden"],
            state["dhidden"], state["gates"], d_inputs, grads.kernel,
            grads.recurrent_kernel, grads.bias, state["work"], activation,
            chunk_size, threads, last_steps_only,
        )  # fmt: skip


#: The longest training sequence, in steps, on which the length-aware gate
#: biases stay fixed (1.0 on the LSTM's forget gates and on the GRU's update
#: gates); chrono draws start above it. A fixed forget bias of 1.0 keeps
#: about 0.73 of a cell's content per step, and bridges lags of a few tens of
#: steps: measured, a 16-unit LSTM solves the adding problem up to 75 steps
#: with it, at 100 on one random state of three, and fails from 150 on (test
#: MSE about 0.17), where chrono solves them.
#: On short sequences the spread of long spans brings nothing and costs
#: accuracy: on scikit-learn's noisy 10-step regression check with early
#: stopping (random states 0-19, float32 and float64), chrono failed 4 of 40
#: fits for the LSTM, the fixed biases none; for the GRU, a fixed update-gate
#: bias of 1.0 failed 1 of 40 where 0 (z = 0.5) failed 2, one of them at the
#: check's own random state (0 scores a point higher on ItalyPowerDemand:
#: see the user guide). 32 keeps a margin below the 75 steps.
#: benchmarks/bench_gate_bias.py measures the rule against its alternatives.
FIXED_BIAS_MAX_LENGTH = 32


def chrono_gate_biases(rng, n_units, max_length):
    """Chrono initialisation (Tallec & Ollivier, ICLR 2018): ``n_units`` gate
    biases ``log(u)``, ``u`` uniform in ``[1, max(max_length - 1, 2)]``.

    A cell whose keep gate stays near ``sigmoid(b)`` holds its content for
    about ``1 + exp(b)`` steps: the units' memory spans spread from one step
    to the longest training sequence, ``max_length`` (below 3 steps the
    interval would be empty). An LSTM takes them as forget-gate biases and
    their negatives as input-gate biases (keeping long, writing little); a
    gate that keeps the state when open (a GRU's update gate where ``z = 1``
    keeps ``h``) takes them as they are, one that keeps it when closed their
    negatives.
    """
    upper = max(float(max_length) - 1.0, 2.0)
    return np.log(rng.uniform(1.0, upper, size=n_units))


def _lstm_bias(bias, hidden, forget_bias):
    """A fixed ``forget_bias`` on the forget gates, the others zero; with
    ``"auto"``, all zero until :func:`_lstm_drawn_bias`."""
    if not isinstance(forget_bias, str):
        bias[hidden : 2 * hidden] = forget_bias


def _lstm_drawn_bias(bias, hidden, rng, max_length, forget_bias):
    """With ``forget_bias="auto"``: on sequences longer than
    :data:`FIXED_BIAS_MAX_LENGTH`, chrono biases on the forget gates and their
    negatives on the input gates (keep long, write little); on shorter ones,
    1.0 on the forget gates."""
    if not isinstance(forget_bias, str):
        return
    if max_length > FIXED_BIAS_MAX_LENGTH:
        keep = chrono_gate_biases(rng, hidden, max_length)
        bias[hidden : 2 * hidden] = keep
        bias[:hidden] = -keep
    else:
        bias[hidden : 2 * hidden] = 1.0


def _zero_bias(bias, hidden, *args, **params):
    """Zero biases, which a fresh bias already is."""


def _gru_drawn_bias(bias, hidden, rng, max_length):
    """The update gate's input bias b_xz: chrono draws on sequences longer
    than :data:`FIXED_BIAS_MAX_LENGTH`, 1.0 on shorter ones; every other
    bias zero.

    z = 1 keeps the state (h' = z h + (1 - z) n), so the update gate keeps
    it when open, as the LSTM's forget gate does: it takes the draws as they
    are, and the units' memory spans spread up to the longest training
    sequence; on short sequences it takes the LSTM's fixed forget bias, 1.0
    (z = 0.73 keeps 73 % of the state per step, where z = 0.5 would halve
    it). The reset gate's bias stays 0 (r = 0.5 at first)."""
    if max_length > FIXED_BIAS_MAX_LENGTH:
        bias[0, :hidden] = chrono_gate_biases(rng, hidden, max_length)
    else:
        bias[0, :hidden] = 1.0


LSTM = Cell(
    "lstm", 4, "i, f, g, o", 1, _lstm_layer,
    (_lstm_layer.lstm_forward, _lstm_layer.lstm_backward, _lstm_layer.lstm_predict),
    _lstm_bias, _lstm_drawn_bias, _lstm_layer.SmallBatchPredictor,
    _lstm_layer.lstm_step, ("h", "c"),
)  # fmt: skip

GRU = Cell(
    "gru", 3, "z, r, h", 2, _gru_layer,
    (_gru_layer.gru_forward, _gru_layer.gru_backward, _gru_layer.gru_predict),
    _zero_bias, _gru_drawn_bias, None, _gru_layer.gru_step,
    reads_last_steps_only=True,
)  # fmt: skip

RNN = SimpleCell(
    "rnn", 1, "h", 1, _rnn_layer,
    (_rnn_layer.rnn_forward, _rnn_layer.rnn_backward, _rnn_layer.rnn_predict),
    _zero_bias, _zero_bias, _rnn_layer.SmallBatchPredictor, _rnn_layer.rnn_step,
)  # fmt: skip

CELLS = {cell.name: cell for cell in (LSTM, GRU, RNN)}
