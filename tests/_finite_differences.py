"""Central finite differences, the reference every gradient test compares
the compiled backward passes with (float64)."""

import numpy as np

FD_STEP = 1e-6


def finite_difference(f, array, step=FD_STEP):
    """Central differences of the scalar ``f()`` with respect to every entry
    of ``array``, which is perturbed in place one entry at a time and
    restored."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        up = f()
        array[index] = saved - step
        down = f()
        array[index] = saved
        grad[index] = (up - down) / (2 * step)
    return grad
