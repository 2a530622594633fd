"""Stochastic optimizers updating one flat weight array in place.

Each optimizer keeps its state in plain NumPy arrays and numbers, returned by
``state()`` and accepted back by the constructor, so an estimator can store it
as ordinary fitted data (joblib, skops and dask carry it without trusting any
class) and resume training with ``warm_start`` or ``partial_fit``.
Updates work in place, each in one compiled call: nothing is allocated per
step. A step that would make any weight or state value NaN or infinite (the
update itself overflowing) is refused whole: ``update`` then changes nothing
and returns False, so the caller keeps the last finite weights and a state
that matches them.
"""

import math

import numpy as np

from ._numerics import adam_update, sgd_update


def matches(state, keys):
    """Whether ``state`` (a dict, or None) is an optimizer state with these
    keys: one saved by the other solver (``solver`` changed between a fit
    and a warm-started fit or partial_fit) is not, and the new solver then
    starts afresh from the current weights."""
    return state is not None and set(state) == set(keys)


class SGDOptimizer:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ``learning_rate`` schedules follow scikit-learn's MLP: "constant",
    "invscaling" (``learning_rate_init / t**power_t``, t counting samples seen)
    and "adaptive" (divide by 5 when the loss stalls).
    """

    STATE_KEYS = ("velocity", "learning_rate")

    def __init__(
        self,
        weights,
        learning_rate_init,
        *,
        learning_rate="constant",
        momentum=0.9,
        nesterov=True,
        power_t=0.5,
        state=None,
    ):
        self.weights = weights
        self.learning_rate_init = learning_rate_init
        self.schedule = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        if not matches(state, self.STATE_KEYS):
            state = None
        if state is None:
            self.velocity = np.zeros_like(weights)
            self.learning_rate = float(learning_rate_init)
        else:
            self.velocity = np.ascontiguousarray(state["velocity"], dtype=weights.dtype)
            self.learning_rate = float(state["learning_rate"])

    def state(self):
        # The live velocity, not a copy (see AdamOptimizer.state).
        return {"velocity": self.velocity, "learning_rate": self.learning_rate}

    def update(self, grad):
        """One step in place; False (nothing changed) if it would leave a
        non-finite value."""
        # v <- mu v - lr g ; w <- w + v  (Nesterov: w <- w + mu v - lr g)
        return sgd_update(
            self.weights, grad, self.velocity, self.learning_rate, self.momentum,
            self.nesterov,
        )  # fmt: skip

    def iteration_ends(self, n_samples_seen):
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (
                (n_samples_seen + 1) ** self.power_t
            )

    def trigger_stopping(self, message, verbose):
        """Return True to stop; with "adaptive", first shrink the step."""
        if self.schedule != "adaptive":
            if verbose:
                print(message + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(message + f" Setting learning rate to {self.learning_rate:f}")
        return False


class AdamOptimizer:
    """Adam (Kingma & Ba, 2015), bias-corrected, updating weights in place."""

    STATE_KEYS = ("t", "first_moment", "second_moment")

    def __init__(
        self,
        weights,
        learning_rate_init,
        *,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        state=None,
    ):
        self.weights = weights
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        if not matches(state, self.STATE_KEYS):
            state = None
        if state is None:
            self.t = 0
            self.first_moment = np.zeros_like(weights)
            self.second_moment = np.zeros_like(weights)
        else:
            self.t = int(state["t"])
            # The state's own arrays, updated in place from here on.
            self.first_moment = np.ascontiguousarray(
                state["first_moment"], dtype=weights.dtype
            )
            self.second_moment = np.ascontiguousarray(
                state["second_moment"], dtype=weights.dtype
            )

    def state(self):
        # The live moment arrays, not copies: whoever keeps the state keeps
        # it in step with the weights, which are updated in place as well.
        return {
            "t": self.t,
            "first_moment": self.first_moment,
            "second_moment": self.second_moment,
        }

    def update(self, grad):
        """One step in place; False (nothing changed, ``t`` included) if it
        would leave a non-finite value."""
        t = self.t + 1
        step = (
            self.learning_rate
            * math.sqrt(1.0 - self.beta_2**t)
            / (1.0 - self.beta_1**t)
        )
        if not adam_update(
            self.weights, grad, self.first_moment, self.second_moment,
            step, self.beta_1, self.beta_2, self.epsilon,
        ):  # fmt: skip
            return False
        self.t = t
        return True

    def iteration_ends(self, n_samples_seen):
        pass

    def trigger_stopping(self, message, verbose):
        if verbose:
            print(message + " Stopping.")
        return True
