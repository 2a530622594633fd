"""Plain NumPy LSTM, the test oracle for ``skseq._lstm_layer``.

Written for clarity, not speed: one sequence at a time, one step at a time, with
the gradient of every intermediate quantity spelled out. It shares no code and no
algebraic shortcut with the compiled core, so agreement between the two means
something.

Sequences are ordinary (unpadded) arrays ``(n_samples, n_timesteps, n_features)``.
Sequence ``j`` uses only its first ``lengths[j]`` steps; whatever the arrays hold
after that is never read, and every returned quantity is zero there.

The cell, with gate blocks ordered i, f, g, o along the last axis (Keras layout)::

    z_t = x_t W_x + h_{t-1} W_h + b
    i_t = sigmoid(z_i)   f_t = sigmoid(z_f)   g_t = act(z_g)   o_t = sigmoid(z_o)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * act(c_t)

with ``h_0 = c_0 = 0`` and ``act`` either ``"tanh"`` or ``"relu"`` (derivative of
relu at 0 taken as 0). All arithmetic is float64 whatever the input dtype.

A stack of layers is a list of ``(W_x, W_h, b)`` tuples; layer ``k + 1`` reads the
hidden states of layer ``k`` as its inputs.
"""

import numpy as np


def _sigmoid(z):
    # exp of a non-positive number only, so large |z| cannot overflow.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _tanh_derivative(z):
    return 1.0 - np.tanh(z) ** 2


def _relu(z):
    return np.maximum(z, 0.0)


def _relu_derivative(z):
    return (z > 0).astype(np.float64)


# activation name -> (function, derivative with respect to its argument)
ACTIVATIONS = {
    "tanh": (np.tanh, _tanh_derivative),
    "relu": (_relu, _relu_derivative),
}


def step_mask(lengths, n_timesteps):
    """Boolean ``(n_samples, n_timesteps)``, True where step ``t`` is in sequence."""
    return np.arange(n_timesteps)[np.newaxis, :] < np.asarray(lengths)[:, np.newaxis]


def _as_float64(*arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _split_gates(v, n_hidden):
    """The four gate blocks i, f, g, o of a vector of length ``4 * n_hidden``."""
    return (
        v[0:n_hidden],
        v[n_hidden : 2 * n_hidden],
        v[2 * n_hidden : 3 * n_hidden],
        v[3 * n_hidden : 4 * n_hidden],
    )


def _forward_sequence(x, W_x, W_h, b, activation):
    """One sequence ``x`` of shape ``(n_steps, n_in)``, every step used.

    Returns pre-activations ``z``, activated gates ``[i f g o]`` (both
    ``(n_steps, 4H)``), cell states and hidden states (both ``(n_steps, H)``).
    """
    act, _ = ACTIVATIONS[activation]
    n_steps = x.shape[0]
    n_hidden = W_h.shape[0]
    z = np.zeros((n_steps, 4 * n_hidden))
    gates = np.zeros((n_steps, 4 * n_hidden))
    cells = np.zeros((n_steps, n_hidden))
    hidden = np.zeros((n_steps, n_hidden))

    h_prev = np.zeros(n_hidden)
    c_prev = np.zeros(n_hidden)
    for t in range(n_steps):
        z[t] = x[t] @ W_x + h_prev @ W_h + b
        z_i, z_f, z_g, z_o = _split_gates(z[t], n_hidden)
        i = _sigmoid(z_i)
        f = _sigmoid(z_f)
        g = act(z_g)
        o = _sigmoid(z_o)
        c = f * c_prev + i * g
        h = o * act(c)

        gates[t] = np.concatenate([i, f, g, o])
        cells[t] = c
        hidden[t] = h
        h_prev, c_prev = h, c
    return z, gates, cells, hidden


def _backward_sequence(x, W_x, W_h, b, dh_external, activation):
    """Backpropagation through time for one sequence, every step used.

    ``dh_external[t]`` is dL/dh_t coming from outside the layer (the layer above
    or the loss). Returns dL/dW_x, dL/dW_h, dL/db, dL/dx and dL/dz for each step.
    """
    act, act_derivative = ACTIVATIONS[activation]
    z, gates, cells, hidden = _forward_sequence(x, W_x, W_h, b, activation)
    n_steps = x.shape[0]
    n_hidden = W_h.shape[0]

    dW_x = np.zeros_like(W_x)
    dW_h = np.zeros_like(W_h)
    db = np.zeros_like(b)
    dx = np.zeros_like(x)
    dz_all = np.zeros_like(z)

    # Gradients reaching h_t and c_t through their use at step t + 1.
    dh_from_next = np.zeros(n_hidden)
    dc_from_next = np.zeros(n_hidden)
    for t in reversed(range(n_steps)):
        i, f, g, o = _split_gates(gates[t], n_hidden)
        _, _, z_g, _ = _split_gates(z[t], n_hidden)
        c = cells[t]
        c_prev = cells[t - 1] if t > 0 else np.zeros(n_hidden)
        h_prev = hidden[t - 1] if t > 0 else np.zeros(n_hidden)

        # h_t is read by the loss (or the layer above) and by step t + 1.
        dh = dh_external[t] + dh_from_next

        # h_t = o * act(c_t)
        do = dh * act(c)
        dc = dh * o * act_derivative(c) + dc_from_next

        # c_t = f * c_{t-1} + i * g
        di = dc * g
        df = dc * c_prev
        dg = dc * i
        dc_prev = dc * f

        # gates from their pre-activations; sigmoid'(z) = s (1 - s)
        dz_i = di * i * (1.0 - i)
        dz_f = df * f * (1.0 - f)
        dz_g = dg * act_derivative(z_g)
        dz_o = do * o * (1.0 - o)
        dz = np.concatenate([dz_i, dz_f, dz_g, dz_o])
        dz_all[t] = dz

        # z_t = x_t W_x + h_{t-1} W_h + b
        dW_x += np.outer(x[t], dz)
        dW_h += np.outer(h_prev, dz)
        db += dz
        dx[t] = W_x @ dz
        dh_from_next = W_h @ dz
        dc_from_next = dc_prev
    return dW_x, dW_h, db, dx, dz_all


def reference_forward(X, lengths, W_x, W_h, b, activation):
    """One LSTM layer over a batch of sequences.

    Parameters
    ----------
    X : array of shape (n_samples, n_timesteps, n_in)
    lengths : array of shape (n_samples,), 1 <= lengths[j] <= n_timesteps
    W_x : array of shape (n_in, 4H)
    W_h : array of shape (H, 4H)
    b : array of shape (4H,)
    activation : {"tanh", "relu"}

    Returns
    -------
    gates : (n_samples, n_timesteps, 4H) activated gates [i f g o]
    cells : (n_samples, n_timesteps, H)
    hidden : (n_samples, n_timesteps, H)
        All three are zero at steps beyond a sequence's length.
    """
    _, gates, cells, hidden = _forward_with_preactivations(
        X, lengths, W_x, W_h, b, activation
    )
    return gates, cells, hidden


def reference_preactivations(X, lengths, W_x, W_h, b, activation):
    """Pre-activations ``z`` (n_samples, n_timesteps, 4H), zero beyond lengths."""
    return _forward_with_preactivations(X, lengths, W_x, W_h, b, activation)[0]


def _forward_with_preactivations(X, lengths, W_x, W_h, b, activation):
    X, W_x, W_h, b = _as_float64(X, W_x, W_h, b)
    n_samples, n_timesteps, _ = X.shape
    n_hidden = W_h.shape[0]
    z = np.zeros((n_samples, n_timesteps, 4 * n_hidden))
    gates = np.zeros((n_samples, n_timesteps, 4 * n_hidden))
    cells = np.zeros((n_samples, n_timesteps, n_hidden))
    hidden = np.zeros((n_samples, n_timesteps, n_hidden))
    for j in range(n_samples):
        n = int(lengths[j])
        z[j, :n], gates[j, :n], cells[j, :n], hidden[j, :n] = _forward_sequence(
            X[j, :n], W_x, W_h, b, activation
        )
    return z, gates, cells, hidden


def reference_backward(X, lengths, W_x, W_h, b, dhidden, activation):
    """Gradients of one layer given dL/dh_t for every step.

    ``dhidden`` has shape (n_samples, n_timesteps, H); entries beyond a sequence's
    length are ignored. Gradients are summed over the batch.

    Returns
    -------
    dict with keys
        ``"kernel"`` (n_in, 4H), ``"recurrent_kernel"`` (H, 4H), ``"bias"`` (4H,),
        ``"inputs"`` (n_samples, n_timesteps, n_in) and ``"dgates"``
        (n_samples, n_timesteps, 4H), the last two zero beyond lengths.
    """
    X, W_x, W_h, b, dhidden = _as_float64(X, W_x, W_h, b, dhidden)
    n_samples, n_timesteps, _ = X.shape
    n_hidden = W_h.shape[0]
    grads = {
        "kernel": np.zeros_like(W_x),
        "recurrent_kernel": np.zeros_like(W_h),
        "bias": np.zeros_like(b),
        "inputs": np.zeros_like(X),
        "dgates": np.zeros((n_samples, n_timesteps, 4 * n_hidden)),
    }
    for j in range(n_samples):
        n = int(lengths[j])
        dW_x, dW_h, db, dx, dz = _backward_sequence(
            X[j, :n], W_x, W_h, b, dhidden[j, :n], activation
        )
        grads["kernel"] += dW_x
        grads["recurrent_kernel"] += dW_h
        grads["bias"] += db
        grads["inputs"][j, :n] = dx
        grads["dgates"][j, :n] = dz
    return grads


def stack_forward(X, lengths, layers, activation):
    """Hidden states of every layer of a stack, a list of (n_samples, T, H_k)."""
    hidden_states = []
    inputs = X
    for W_x, W_h, b in layers:
        _, _, hidden = reference_forward(inputs, lengths, W_x, W_h, b, activation)
        hidden_states.append(hidden)
        inputs = hidden
    return hidden_states


def loss(X, lengths, layers, R, activation):
    """Test loss ``L = sum_{j, t < lengths[j]} R[j, t] . h_top[j, t]``."""
    top = stack_forward(X, lengths, layers, activation)[-1]
    mask = step_mask(lengths, X.shape[1])
    return float(np.sum(np.asarray(R, dtype=np.float64)[mask] * top[mask]))


def loss_and_grad(X, lengths, layers, R, activation):
    """The test loss of :func:`loss` and its gradients by backpropagation.

    ``R`` has the shape of the top layer's hidden states, so dL/dh_top = R
    (masked by lengths).

    Returns
    -------
    value : float
    layer_grads : list of dicts, one per layer, as returned by
        :func:`reference_backward`
    dX : (n_samples, n_timesteps, n_in) gradient with respect to ``X``
    """
    mask = step_mask(lengths, X.shape[1])
    dhidden = np.where(mask[:, :, np.newaxis], np.asarray(R, dtype=np.float64), 0.0)

    layer_inputs = [X] + stack_forward(X, lengths, layers, activation)[:-1]
    value = loss(X, lengths, layers, R, activation)

    layer_grads = [None] * len(layers)
    for k in reversed(range(len(layers))):
        W_x, W_h, b = layers[k]
        layer_grads[k] = reference_backward(
            layer_inputs[k], lengths, W_x, W_h, b, dhidden, activation
        )
        # The gradient with respect to this layer's inputs is what the layer
        # below receives for its hidden states.
        dhidden = layer_grads[k]["inputs"]
    return value, layer_grads, dhidden
