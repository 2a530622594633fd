"""Per-step outputs (``return_sequences=True``) on every estimator.

The head reads the top layer at every real step: the predictions are
checked against a NumPy oracle built from the public Keras-layout weights,
against the last-step model on every prefix, and against streaming; the
per-step loss's gradient against finite differences; and the targets,
weights, scores and layouts against what the docs promise.
"""

import pickle
import warnings

import numpy as np
import pytest
import threadpoolctl
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV

from skseq import GRUClassifier, GRURegressor, LSTMClassifier, LSTMRegressor, _dispatch
from skseq._inference import fill_inputs
from skseq._network import RecurrentNetwork, StepIndex, threads_for
from skseq._rnn import RNNClassifier, RNNRegressor
from skseq._threads import effective_n_threads
from skseq._validation import Sequences
from skseq.datasets import make_embedded_reber_next_symbols

from ._finite_differences import finite_difference
from ._gru_reference import gru_sequence
from ._reference import ACTIVATIONS, _forward_sequence

REGRESSORS = [LSTMRegressor, GRURegressor, RNNRegressor]
CLASSIFIERS = [LSTMClassifier, GRUClassifier, RNNClassifier]


def _fit(model, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **fit_params)


def _ragged(rng, n_samples=12, n_features=2, low=2, high=9):
    return [rng.normal(size=(n, n_features)) for n in rng.randint(low, high, n_samples)]


def _running_sums(X):
    return [0.5 * np.cumsum(x[:, 0]) for x in X]


# ----------------------------------------------------------------- oracle
def _states(cell, x, weights, suffix, activation):
    """Hidden states (n_steps, H) of one direction of one layer."""
    W = weights["kernel" + suffix]
    U = weights["recurrent_kernel" + suffix]
    b = weights["bias" + suffix]
    if cell == "lstm":
        return _forward_sequence(x, W, U, b, activation)[3]
    if cell == "gru":
        return gru_sequence(x, W, U, b, activation)
    act, _ = ACTIVATIONS[activation]
    h, out = np.zeros(U.shape[0]), []
    for x_t in x:
        h = act(x_t @ W + h @ U + b)
        out.append(h)
    return np.array(out)


def _oracle(model, x):
    """Raw per-step outputs (n_steps, n_outputs) of one sequence."""
    cell = model._cell
    layers = getattr(model, f"{cell}_weights_")
    for weights in layers:
        outputs = [_states(cell, x, weights, "", model.activation)]
        if model.bidirectional:
            # The reverse direction reads the sequence from its end; at step
            # t it has read steps t..L.
            reverse = _states(cell, x[::-1], weights, "_reverse", model.activation)
            outputs.append(reverse[::-1])
        x = np.hstack(outputs)
    return x @ model.head_coef_ + model.head_intercept_


@pytest.mark.parametrize("cls", REGRESSORS)
@pytest.mark.parametrize(
    "params",
    [
        dict(hidden_layer_sizes=(5,)),
        dict(hidden_layer_sizes=(4, 3), bidirectional=True),
        dict(hidden_layer_sizes=(3,), activation="relu"),
    ],
)
def test_per_step_predictions_match_a_numpy_oracle(cls, params):
    rng = np.random.RandomState(0)
    X = _ragged(rng)
    model = _fit(
        cls(return_sequences=True, max_iter=3, random_state=0, **params),
        X, _running_sums(X),
    )  # fmt: skip
    predictions = model.predict(X)
    assert isinstance(predictions, list) and len(predictions) == len(X)
    for x, predicted in zip(X, predictions, strict=True):
        assert predicted.shape == (len(x),)
        assert_allclose(predicted, _oracle(model, x)[:, 0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", REGRESSORS)
def test_one_direction_step_outputs_are_the_prefix_predictions(cls):
    """Step t of a one-direction model sees steps 1..t only: its output is
    what the same weights give, predicting once per sequence, for the
    prefix of t steps. Padding never reaches a real step."""
    rng = np.random.RandomState(1)
    X = rng.normal(size=(6, 7, 3))
    y = np.cumsum(X[..., 0], axis=1)
    per_step = _fit(
        cls(hidden_layer_sizes=(4, 5), return_sequences=True, max_iter=2,
            random_state=0),
        X, y,
    )  # fmt: skip
    last_step = _fit(
        cls(hidden_layer_sizes=(4, 5), max_iter=1, random_state=0), X, y[:, -1]
    )
    last_step.weights_[...] = per_step.weights_
    # The same model: its weights and the scaling of its targets.
    last_step._target_shift = per_step._target_shift
    last_step._target_scale = per_step._target_scale
    predictions = per_step.predict(X)
    assert predictions.shape == (6, 7)
    for t in range(1, 8):
        expected = last_step.predict(np.ascontiguousarray(X[:, :t]))
        assert_allclose(predictions[:, t - 1], expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_per_step_loss_gradients_match_finite_differences(cell, bidirectional):
    rng = np.random.RandomState(2)
    lengths = np.array([5, 3, 5, 1, 4], dtype=np.intp)
    sequences = Sequences.packed([rng.normal(size=(n, 2)) for n in lengths])
    network = RecurrentNetwork(2, (3, 2), 2, "tanh", bidirectional, cell, True)
    bias = {"forget_bias": "auto"} if cell == "lstm" else {}
    weights = network.initialize(rng, np.float64, max_length=5, **bias)
    workspace = network.allocate(5, 5, np.float64, training=True)
    inputs, batch_lengths, _ = fill_inputs(workspace, sequences, np.arange(5))
    steps = StepIndex(batch_lengths)
    targets = rng.normal(size=(len(steps), 2))
    step_weights = rng.uniform(0.5, 2.0, size=(len(steps), 1))

    def loss(w):
        raw = network.forward(w, inputs, batch_lengths, workspace, 1, steps=steps)
        return 0.5 * np.sum(step_weights * (raw - targets) ** 2), raw

    _, raw = loss(weights)
    grad = np.zeros_like(weights)
    network.backward(
        weights, inputs, batch_lengths, step_weights * (raw - targets), workspace,
        grad, 1, steps=steps,
    )  # fmt: skip
    numeric = finite_difference(lambda: loss(weights)[0], weights)
    assert np.max(np.abs(grad - numeric)) <= 1e-6 * max(1.0, np.abs(numeric).max())
    # The top layer's dL/dh buffer is left all zeros for the next batch.
    top = workspace.layer_buffers(1, 5, 6)
    for state in top["directions"]:
        assert not np.any(state["dhidden"])


# ------------------------------------------------------------ training
@pytest.mark.parametrize("cls", REGRESSORS)
def test_regressors_learn_a_per_step_target(cls):
    rng = np.random.RandomState(3)
    X = rng.normal(size=(200, 12, 2))
    y = 0.3 * np.cumsum(X[..., 0], axis=1)  # needs memory of every past step
    model = _fit(
        cls(hidden_layer_sizes=(16,), return_sequences=True, max_iter=150,
            random_state=0),
        X, y,
    )  # fmt: skip
    assert model.predict(X).shape == y.shape
    assert model.score(X, y) > 0.95


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifiers_label_every_step(cls):
    rng = np.random.RandomState(4)
    X = _ragged(rng, n_samples=150, n_features=1, low=4, high=14)
    y = [np.where(np.cumsum(x[:, 0]) > 0, "up", "down") for x in X]
    model = _fit(
        cls(hidden_layer_sizes=(16,), return_sequences=True, max_iter=60,
            random_state=0),
        X, y,
    )  # fmt: skip
    labels = model.predict(X)
    proba = model.predict_proba(X)
    log_proba = model.predict_log_proba(X)
    assert_array_equal(model.classes_, ["down", "up"])
    for x, label, p, log_p in zip(X, labels, proba, log_proba, strict=True):
        assert label.shape == (len(x),) and p.shape == (len(x), 2)
        assert_allclose(p.sum(axis=1), 1.0)
        assert_array_equal(label, model.classes_[p.argmax(axis=1)])
        assert_allclose(np.exp(log_p), p)
    assert model.score(X, y) > 0.9


def test_classifier_takes_per_step_indicator_rows():
    """Multilabel steps, as the 1997 paper's next-symbol Reber task has
    them: y is a list of (length_i, n_labels) indicator arrays."""
    rng = np.random.RandomState(5)
    X = _ragged(rng, n_samples=60, n_features=1, low=3, high=8)
    y = [np.column_stack([x[:, 0] > 0, np.cumsum(x[:, 0]) > 0]).astype(int) for x in X]
    model = _fit(
        LSTMClassifier(hidden_layer_sizes=(8,), return_sequences=True,
                       max_iter=5, random_state=0),
        X, y,
    )  # fmt: skip
    predictions = model.predict(X)
    assert [p.shape for p in predictions] == [(len(x), 2) for x in X]
    assert set(np.unique(np.concatenate(predictions))) <= {0, 1}


def test_multiclass_per_step_probabilities():
    rng = np.random.RandomState(6)
    X = rng.normal(size=(40, 6, 1))
    y = np.digitize(np.cumsum(X[..., 0], axis=1), [-1.0, 1.0])  # classes 0, 1, 2
    model = _fit(
        GRUClassifier(hidden_layer_sizes=(8,), return_sequences=True, max_iter=5,
                      random_state=0),
        X, y,
    )  # fmt: skip
    proba = model.predict_proba(X)
    assert proba.shape == (40, 6, 3)
    assert_allclose(proba.sum(axis=2), 1.0)
    assert_array_equal(model.predict(X), proba.argmax(axis=2))


# ------------------------------------------------ scores, weights, padding
def test_score_averages_over_real_steps_only():
    rng = np.random.RandomState(7)
    X = _ragged(rng, n_samples=30)
    y = _running_sums(X)
    model = _fit(
        LSTMRegressor(hidden_layer_sizes=(6,), return_sequences=True, max_iter=5,
                      random_state=0),
        X, y,
    )  # fmt: skip
    weights = rng.uniform(0.5, 2, size=len(X))
    flat_true = np.concatenate(y)
    flat_pred = np.concatenate(model.predict(X))
    step_weights = np.repeat(weights, [len(x) for x in X])
    assert model.score(X, y) == pytest.approx(r2_score(flat_true, flat_pred))
    assert model.score(X, y, sample_weight=weights) == pytest.approx(
        r2_score(flat_true, flat_pred, sample_weight=step_weights)
    )
    # The same sequences padded into one array, with junk past each length
    # in y: the padding changes nothing.
    padded_y = np.full((len(X), max(map(len, X))), 1e6)
    for i, target in enumerate(y):
        padded_y[i, : len(target)] = target
    assert model.score(X, padded_y) == pytest.approx(model.score(X, y))

    labels = [(t > 0).astype(int) for t in y]
    clf = _fit(
        LSTMClassifier(hidden_layer_sizes=(6,), return_sequences=True, max_iter=5,
                       random_state=0),
        X, labels,
    )  # fmt: skip
    assert clf.score(X, labels, sample_weight=weights) == pytest.approx(
        accuracy_score(
            np.concatenate(labels), np.concatenate(clf.predict(X)),
            sample_weight=step_weights,
        )
    )  # fmt: skip


@pytest.mark.parametrize("cls", [LSTMRegressor, RNNClassifier])
def test_sample_weight_weights_whole_sequences(cls):
    """A weight of 2 on a sequence is that sequence twice: every one of its
    steps counts twice."""
    rng = np.random.RandomState(8)
    X = rng.normal(size=(10, 5, 2))
    y = np.cumsum(X[..., 0], axis=1)
    if cls is RNNClassifier:
        y = (y > 0).astype(int)
    weights = rng.randint(0, 3, size=10)
    params = dict(hidden_layer_sizes=(4,), return_sequences=True, max_iter=5,
                  random_state=0, shuffle=False)  # fmt: skip
    weighted = _fit(cls(**params), X, y, sample_weight=weights)
    repeated = _fit(
        cls(**params), np.repeat(X, weights, axis=0), np.repeat(y, weights, axis=0)
    )
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-7, atol=1e-9)


def test_step_targets_select_samples_without_copying_their_steps():
    """Per-step targets are stored one row per real step; selecting samples
    shares the rows, and every way of reading them finds each sample's own
    steps and class weights."""
    from skseq._step_targets import StepTargets

    lengths = np.array([2, 3, 1])
    flat = np.arange(12.0).reshape(6, 2)  # rows 0-1, 2-4 and 5
    class_weight = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    targets = StepTargets.from_flat(flat, lengths, 3, class_weight)
    assert len(targets) == 3 and targets.n_outputs == 2
    assert_array_equal(targets[0], [[0, 1], [2, 3], [0, 0]])  # padded to 3 steps
    part = targets[np.array([2, 0])]
    assert part.values is targets.values and len(part) == 2
    values, weights = part.at(np.array([1, 0, 1]), np.array([1, 0, 0]), None)
    assert_array_equal(values, flat[[1, 5, 0]])
    assert_array_equal(weights, [2.0, 6.0, 1.0])
    values, weights = part.flat(np.array([10.0, 100.0]))
    assert_array_equal(values, flat[[5, 0, 1]])
    assert_array_equal(weights, [60.0, 100.0, 200.0])


def test_class_weight_weights_each_step_by_its_label():
    rng = np.random.RandomState(9)
    X = rng.normal(size=(20, 6, 1))
    y = (X[..., 0] > 0.5).astype(int)  # class 1 is rare
    params = dict(hidden_layer_sizes=(4,), return_sequences=True, max_iter=3,
                  random_state=0)  # fmt: skip
    model = LSTMClassifier(class_weight="balanced", **params)
    sequences = Sequences(X, np.full(20, 6, dtype=np.intp))
    targets = model._validate_step_targets(y, sequences, False, True, None, float)
    counts = np.bincount(y.ravel())
    # One weight per step, sequence by sequence.
    assert_allclose(targets.weights, (y.size / (2 * counts))[y].ravel())
    params["max_iter"] = 20
    weighted = _fit(LSTMClassifier(class_weight={0: 1, 1: 10}, **params), X, y)
    unweighted = _fit(LSTMClassifier(**params), X, y)
    # Weighting the rare class's steps raises its predicted probability.
    assert (
        weighted.predict_proba(X)[..., 1].mean()
        > unweighted.predict_proba(X)[..., 1].mean() + 0.05
    )


# ----------------------------------------------------------- interfaces
def test_early_stopping_scores_the_held_out_steps():
    rng = np.random.RandomState(10)
    X = _ragged(rng, n_samples=80)
    y = _running_sums(X)
    X_val = _ragged(rng, n_samples=20)
    y_val = _running_sums(X_val)
    model = _fit(
        GRURegressor(hidden_layer_sizes=(8,), return_sequences=True,
                     early_stopping=True, scoring=None, max_iter=8, random_state=0),
        X, y, X_val=X_val, y_val=y_val,
    )  # fmt: skip
    best = int(np.argmax(model.validation_scores_))
    assert model.best_validation_score_ == model.validation_scores_[best]
    # The restored weights are those of the best epoch: their score on the
    # validation set is the one recorded.
    assert model.score(X_val, y_val) == pytest.approx(model.best_validation_score_)
    # Held out of the training data in time order, too.
    held = _fit(
        LSTMClassifier(hidden_layer_sizes=(4,), return_sequences=True,
                       early_stopping=True, shuffle=False, max_iter=3,
                       random_state=0),
        X, [(t > 0).astype(int) for t in y],
    )  # fmt: skip
    assert len(held.validation_scores_) == held.n_iter_


def test_partial_fit_and_warm_start_keep_per_step_outputs():
    rng = np.random.RandomState(11)
    X = rng.normal(size=(20, 5, 1))
    y = (np.cumsum(X[..., 0], axis=1) > 0).astype(int)
    model = RNNClassifier(hidden_layer_sizes=(4,), return_sequences=True)
    for _ in range(3):
        model.partial_fit(X, y, classes=[0, 1])
    assert model.predict(X).shape == (20, 5)
    model.set_params(warm_start=True, return_sequences=False, max_iter=2)
    with pytest.raises(ValueError, match="one target per time step|cannot change"):
        _fit(model, X, y[:, -1])


@pytest.mark.parametrize(
    "y, message",
    [
        (np.zeros(8), r"one target per time step.*shape \(8,\)"),
        (np.zeros((8, 4)), r"\(n_samples, n_timesteps\) = \(8, 5\)"),
        (np.zeros((7, 5)), r"\(n_samples, n_timesteps\) = \(8, 5\)"),
        ([np.zeros(5)] * 7, "inconsistent numbers of samples: 8 and 7"),
        ([np.zeros(5)] * 7 + [np.zeros(4)], r"y\[7\] has 4 steps.*has 5"),
        ([np.zeros((5, 2))] * 7 + [np.zeros((5, 3))], "same shape past its time"),
        (np.full((8, 5), np.nan), "NaN"),
    ],
)
def test_per_step_targets_are_validated(y, message):
    X = np.zeros((8, 5, 1))
    with pytest.raises(ValueError, match=message):
        LSTMRegressor(return_sequences=True, max_iter=1).fit(X, y)


def test_per_step_model_pickles_clones_and_searches():
    rng = np.random.RandomState(12)
    X = rng.normal(size=(30, 5, 1))
    y = np.cumsum(X[..., 0], axis=1)
    model = _fit(
        LSTMRegressor(hidden_layer_sizes=(4,), return_sequences=True, max_iter=3,
                      random_state=0),
        X, y,
    )  # fmt: skip
    assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))
    assert clone(model).get_params()["return_sequences"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(
            clone(model), {"hidden_layer_sizes": [(2,), (4,)]}, cv=2
        ).fit(X, y)
    assert search.best_estimator_.predict(X).shape == y.shape


@pytest.mark.parametrize("cls", REGRESSORS)
def test_streaming_gives_the_per_step_predictions(cls):
    rng = np.random.RandomState(13)
    X = rng.normal(size=(5, 9, 2))
    y = np.cumsum(X[..., 0], axis=1)
    model = _fit(
        cls(hidden_layer_sizes=(6, 4), return_sequences=True, max_iter=3,
            random_state=0),
        X, y,
    )  # fmt: skip
    state = model.initial_state(5)
    streamed = []
    for t in range(9):
        y_t, state = model.predict_step(X[:, t], state)
        streamed.append(y_t)
    streamed, whole = np.stack(streamed, axis=1), model.predict(X)
    if _dispatch.level() > 0:
        assert_array_equal(streamed, whole)
    else:
        assert_allclose(streamed, whole, rtol=1e-13, atol=1e-13)


def test_float32_per_step_model_agrees_with_float64():
    rng = np.random.RandomState(14)
    X = rng.normal(size=(40, 8, 2))
    y = 0.3 * np.cumsum(X[..., 0], axis=1)
    params = dict(hidden_layer_sizes=(8,), return_sequences=True, max_iter=5,
                  random_state=0)  # fmt: skip
    single = _fit(LSTMRegressor(**params), X.astype(np.float32), y)
    double = _fit(LSTMRegressor(**params), X, y)
    assert single.predict(X.astype(np.float32)).dtype == np.float32
    # Five epochs of Adam carry float32 rounding into the weights.
    assert_allclose(single.predict(X.astype(np.float32)), double.predict(X), atol=2e-4)


def test_next_symbol_embedded_reber_is_learned():
    """The 1997 paper's Exp. 1 in its own per-step form: at every step the
    set of possible next symbols (an indicator row). The step after the
    inner string's end needs the symbol read at the start. Solved on five
    of five random states in measurements; the test runs one."""
    X, Y = make_embedded_reber_next_symbols(500, random_state=0)
    X_test, Y_test = make_embedded_reber_next_symbols(500, random_state=1)
    model = _fit(
        LSTMClassifier(hidden_layer_sizes=(16,), return_sequences=True,
                       batch_size=32, random_state=0),
        X, Y,
    )  # fmt: skip
    predicted = model.predict(X_test)
    assert all(np.array_equal(p, y) for p, y in zip(predicted, Y_test, strict=True))


@pytest.mark.parametrize("cls", [GRURegressor, LSTMClassifier])
def test_per_step_fit_does_not_depend_on_the_thread_count(cls):
    rng = np.random.RandomState(15)
    X = [rng.normal(size=(n, 1)) for n in rng.randint(20, 31, 64)]
    y = [np.cumsum(x[:, 0]) for x in X]
    if cls is LSTMClassifier:
        y = [(t > 0).astype(int) for t in y]
    # Batches of 64 sequences of up to 30 steps and 48 units are split over
    # two threads when two are allowed.
    assert threads_for(64, 31, 1, 48, max_threads=2, n_gates=3) == 2
    params = dict(hidden_layer_sizes=(48,), return_sequences=True, max_iter=2,
                  batch_size=64, random_state=0)  # fmt: skip
    unlimited = _fit(cls(**params), X, y)
    with threadpoolctl.threadpool_limits(1):
        assert effective_n_threads() == 1
        limited = _fit(cls(**params), X, y)
        limited_prediction = limited.predict(X)
    assert_array_equal(limited.weights_, unlimited.weights_)
    for a, b in zip(limited_prediction, unlimited.predict(X), strict=True):
        assert_array_equal(a, b)
