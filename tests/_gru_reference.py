"""Plain NumPy GRU, the test oracle for ``skseq._gru_layer``.

Written for clarity, not speed: one sequence and one step at a time, in
float64 whatever the input dtype. It shares no code with the compiled core.

The cell is the ``reset_after`` GRU, gate blocks z, r, h along the last axis
(Keras layout), kernel ``W`` (n_in, 3H), recurrent kernel ``U`` (H, 3H), bias
``b`` (2, 3H) (input row, then recurrent row)::

    z_t = sigmoid(x_t W_z + b_xz + h_{t-1} U_z + b_hz)
    r_t = sigmoid(x_t W_r + b_xr + h_{t-1} U_r + b_hr)
    n_t = act(x_t W_h + b_xh + r_t * (h_{t-1} U_h + b_hh))
    h_t = z_t * h_{t-1} + (1 - z_t) * n_t

with ``h_0 = 0``. Sequence ``j`` uses its first ``lengths[j]`` steps; hidden
states past that are zero.
"""

import numpy as np

from ._reference import ACTIVATIONS, _sigmoid


def gru_sequence(x, W, U, b, activation):
    """Hidden states ``(n_steps, H)`` of one sequence ``x`` ``(n_steps, n_in)``."""
    act, _ = ACTIVATIONS[activation]
    x, W, U, b = (np.asarray(a, dtype=np.float64) for a in (x, W, U, b))
    H = U.shape[0]
    h = np.zeros(H)
    states = []
    for x_t in x:
        a = x_t @ W + b[0]
        c = h @ U + b[1]
        z = _sigmoid(a[:H] + c[:H])
        r = _sigmoid(a[H : 2 * H] + c[H : 2 * H])
        n = act(a[2 * H :] + r * c[2 * H :])
        h = z * h + (1 - z) * n
        states.append(h)
    return np.array(states).reshape(len(x), H)


def gru_layer(X, lengths, W, U, b, activation):
    """Hidden states ``(n_samples, n_timesteps, H)`` of a batch, zero past
    each sequence's end."""
    X = np.asarray(X, dtype=np.float64)
    out = np.zeros(X.shape[:2] + (np.shape(U)[0],))
    for j, length in enumerate(lengths):
        out[j, :length] = gru_sequence(X[j, :length], W, U, b, activation)
    return out
