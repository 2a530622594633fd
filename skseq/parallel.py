"""Predict and train on data held in dask collections.

:func:`predict_blocks` runs a fitted estimator over a 2-D or 3-D
``dask.array`` block by block, on as many workers as the dask scheduler has;
:func:`predict_ragged` does the same for sequences of different lengths held
in a ``dask.bag``. :func:`partial_fit_blocks` streams the blocks of a dask
array through :meth:`partial_fit`, one at a time and in order, so a model can
learn from more data than fits in memory.

dask is imported only when one of these functions is called; install it with
``pip install "skseq[dask]"``. See the guide page "When one machine is not
enough" for recipes with ``GridSearchCV`` on a dask cluster.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["partial_fit_blocks", "predict_blocks", "predict_ragged"]

_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def _require_dask():
    """A clear ImportError, with the extra to install, when dask is missing."""
    try:
        import dask  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            'skseq.parallel needs dask: pip install "skseq[dask]".'
        ) from exc


def _check_method(estimator, method):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    if not hasattr(estimator, method):
        raise ValueError(f"{type(estimator).__name__} has no method {method!r}.")
    check_is_fitted(estimator)


def _check_dask_array(X, name, allowed_ndim):
    import dask.array as da

    if not isinstance(X, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(X).__name__}.")
    if X.ndim not in allowed_ndim:
        expected = " or ".join(f"{n}-D" for n in allowed_ndim)
        raise ValueError(
            f"{name} must be a {expected} dask array (samples along axis 0), got "
            f"ndim={X.ndim} with shape {X.shape}."
        )
    if any(np.isnan(size) for size in X.shape[1:]):
        raise ValueError(
            f"{name} must have known sizes along every axis but the first, got "
            f"shape {X.shape}; call X.compute_chunk_sizes() first."
        )
    # Only the samples may be split: each block must hold whole sequences.
    return X.rechunk({axis: -1 for axis in range(1, X.ndim)})


def _apply(block, estimator, method):
    return getattr(estimator, method)(block)


def predict_blocks(estimator, X, method="predict"):
    """Apply a fitted estimator's ``method`` to a dask array, block by block.

    Each block of samples is predicted by one task, so the work spreads over
    the workers of the dask scheduler in use. The blocks are predicted
    independently; the result equals calling ``method`` on the whole array
    computed in memory.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted :class:`~skseq.LSTMRegressor` or :class:`~skseq.LSTMClassifier`
        (any estimator that takes arrays of these shapes works).
    X : dask.array.Array of shape (n_samples, n_timesteps, n_features) or \
(n_samples, n_timesteps)
        Sequences, split into blocks along the samples only. Blocks along the
        other axes are merged first (a sequence cannot be split).
    method : {"predict", "predict_proba", "predict_log_proba", \
"decision_function"}, default="predict"
        The estimator's method to apply.

    Returns
    -------
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        The lazy result, chunked along the samples like ``X``; call
        ``.compute()`` for a NumPy array. A model fitted with
        ``return_sequences=True`` gives its per-step layout, (n_samples,
        n_timesteps) or (n_samples, n_timesteps, n_outputs).

    Raises
    ------
    TypeError
        If ``X`` is not a dask array.
    ValueError
        If ``X`` is not 2-D or 3-D, or ``method`` is not one of the above.

    Notes
    -----
    The shape and dtype of the output are found by applying ``method`` to one
    sequence of zeros in the calling process, so that dask knows them without
    computing a block.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skseq import LSTMRegressor
    >>> from skseq.parallel import predict_blocks
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 5, 2))
    >>> model = LSTMRegressor((4,), max_iter=5, random_state=0).fit(X, X[:, 0, 0])
    >>> y = predict_blocks(model, da.from_array(X, chunks=(10, 5, 2)))
    >>> y.chunks
    ((10, 10, 10, 10),)
    >>> bool(np.array_equal(y.compute(), model.predict(X)))
    True
    """
    _require_dask()
    _check_method(estimator, method)
    X = _check_dask_array(X, "X", (2, 3))
    probe = np.zeros((1, *X.shape[1:]), dtype=X.dtype)
    sample = np.asarray(_apply(probe, estimator, method))
    if sample.ndim not in (1, 2, 3):
        raise ValueError(
            f"{method} returned an array with ndim={sample.ndim}; only 1-D to "
            f"3-D outputs are supported."
        )
    meta = np.empty((0,) * sample.ndim, dtype=sample.dtype)
    # (n, T[, F]) -> (n,), (n, k), or per step (n, T) and (n, T, k): the axes
    # of X past the samples are one block each, and as many of them as the
    # output has become its axes, the rest are dropped (or added).
    kept = min(X.ndim, sample.ndim)
    return X.map_blocks(
        _apply,
        estimator,
        method,
        drop_axis=list(range(kept, X.ndim)),
        new_axis=list(range(kept, sample.ndim)),
        chunks=(X.chunks[0], *((size,) for size in sample.shape[1:])),
        dtype=sample.dtype,
        meta=meta,
    )


def _apply_partition(partition, estimator, method):
    sequences = list(partition)
    if not sequences:
        return []
    return list(getattr(estimator, method)(sequences))


def predict_ragged(estimator, sequences, method="predict", *, npartitions=None):
    """Apply a fitted estimator's ``method`` to sequences of different lengths.

    The sequences are held in a ``dask.bag``; each partition is passed to
    ``method`` as one list of 2-D arrays (skseq's ragged input), so one task
    predicts one partition.

    Parameters
    ----------
    estimator : fitted estimator
        A fitted :class:`~skseq.LSTMRegressor` or :class:`~skseq.LSTMClassifier`.
    sequences : dask.bag.Bag or list of array-like
        The sequences, each of shape (n_timesteps_i, n_features) or
        (n_timesteps_i,). A list is split into ``npartitions`` partitions
        first.
    method : {"predict", "predict_proba", "predict_log_proba", \
"decision_function"}, default="predict"
        The estimator's method to apply.
    npartitions : int, default=None
        Number of partitions when ``sequences`` is a list (dask's default
        when None). Ignored for a bag, whose partitions are kept.

    Returns
    -------
    y : dask.bag.Bag
        One item per sequence, in order: a scalar (a value or a label) or a
        1-D array (the outputs or class probabilities of that sequence); for a
        model fitted with ``return_sequences=True``, the array of that
        sequence's steps.
        ``np.asarray(y.compute())`` is what ``method`` returns for the whole
        list.

    Examples
    --------
    >>> import numpy as np
    >>> from skseq import LSTMRegressor
    >>> from skseq.parallel import predict_ragged
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(n, 2)) for n in rng.integers(3, 9, size=30)]
    >>> y = np.array([x[0, 0] for x in X])
    >>> model = LSTMRegressor((4,), max_iter=5, random_state=0).fit(X, y)
    >>> y_pred = predict_ragged(model, X, npartitions=3)
    >>> y_pred.npartitions
    3
    >>> bool(np.array_equal(np.asarray(y_pred.compute()), model.predict(X)))
    True
    """
    _require_dask()
    import dask.bag as db

    _check_method(estimator, method)
    if npartitions is not None:
        _check_positive_int(npartitions, "npartitions")
    if not isinstance(sequences, db.Bag):
        if isinstance(sequences, np.ndarray) and sequences.dtype != object:
            raise TypeError(
                "sequences must be a dask bag or a list of sequences; for a "
                "dense array use predict_blocks."
            )
        sequences = db.from_sequence(list(sequences), npartitions=npartitions)
    return sequences.map_partitions(_apply_partition, estimator, method)


def partial_fit_blocks(
    estimator, X, y, *, classes=None, sample_weight=None, n_epochs=1
):
    """Train an estimator on a dask array one block at a time.

    For each epoch, the blocks of ``X`` (and the matching rows of ``y``) are
    computed one at a time, in block order, and passed to
    ``estimator.partial_fit``. Only one block is in memory at once, so the
    data may be larger than memory (stored in Zarr or HDF5, or computed on
    the fly). The training itself is sequential, like any run of
    ``partial_fit``: the speed-up comes from the compiled core's threads
    within each call, not from the dask workers, which only load the blocks.

    The result is the same as calling ``partial_fit`` on the same blocks as
    NumPy arrays, in the same order.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Updated in place.
    X : dask.array.Array of shape (n_samples, n_timesteps, n_features) or \
(n_samples, n_timesteps)
        Sequences, split into blocks along the samples (other axes are merged
        first). Each block is one call to ``partial_fit``.
    y : dask.array.Array or array-like of shape (n_samples,) or \
(n_samples, n_outputs)
        Targets, split like ``X`` along the samples (rechunked if needed); for
        ``return_sequences=True``, (n_samples, n_timesteps) or (n_samples,
        n_timesteps, n_outputs).
    classes : array-like, default=None
        All the classes, for a classifier's first call to ``partial_fit``;
        passed to every call (as scikit-learn allows). Leave None for
        regressors.
    sample_weight : dask.array.Array or array-like of shape (n_samples,), \
default=None
        Weights of the samples, split like ``X``.
    n_epochs : int, default=1
        Passes over all the blocks.

    Returns
    -------
    estimator : estimator
        The updated estimator.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skseq import LSTMRegressor
    >>> from skseq.parallel import partial_fit_blocks
    >>> rng = np.random.default_rng(0)
    >>> X = da.from_array(rng.normal(size=(60, 5, 2)), chunks=(20, 5, 2))
    >>> y = X[:, 0, 0]
    >>> model = partial_fit_blocks(LSTMRegressor((4,), random_state=0), X, y)
    >>> model.predict(X[:2].compute()).shape
    (2,)
    """
    _require_dask()
    import dask

    if not hasattr(estimator, "partial_fit"):
        raise TypeError(f"{type(estimator).__name__} has no partial_fit method.")
    _check_positive_int(n_epochs, "n_epochs")
    if y is None:
        raise ValueError("partial_fit_blocks requires y; it is None.")
    X = _check_dask_array(X, "X", (2, 3))
    y = _split_like(X, y, "y", (1, 2, 3))
    sample_weight = _split_like(X, sample_weight, "sample_weight", (1,))
    kwargs = {} if classes is None else {"classes": classes}
    for _ in range(n_epochs):
        for i in range(X.numblocks[0]):
            parts = [X.blocks[i], y.blocks[i]]
            if sample_weight is not None:
                parts.append(sample_weight.blocks[i])
            X_block, y_block, *weight = dask.compute(*parts)
            estimator.partial_fit(
                X_block,
                y_block,
                sample_weight=weight[0] if weight else None,
                **kwargs,
            )
    return estimator


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}.")


def _split_like(X, values, name, allowed_ndim):
    """``values`` (a dask array or array-like, or None) as a dask array whose
    blocks along the samples are those of ``X``."""
    import dask.array as da

    if values is None:
        return None
    if not isinstance(values, da.Array):
        values = da.from_array(np.asarray(values), chunks=-1)
    if values.ndim not in allowed_ndim:
        expected = " or ".join(f"{n}-D" for n in allowed_ndim)
        raise ValueError(f"{name} must be {expected}, got ndim={values.ndim}.")
    if values.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {values.shape[0]} rows but X has {X.shape[0]} samples."
        )
    rest = {axis: -1 for axis in range(1, values.ndim)}
    return values.rechunk({0: X.chunks[0], **rest})
