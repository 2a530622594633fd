"""Export fitted skseq estimators to ONNX, through skl2onnx.

skseq never imports skl2onnx (nor onnx) by itself. :func:`register` imports
it and registers skseq's converters with it; from then on
``skl2onnx.to_onnx(model, X_sample)`` converts a fitted skseq estimator, alone
or as the last step of a :class:`~sklearn.pipeline.Pipeline`. The graphs run
the recurrent layers on ONNX's own ``LSTM``, ``GRU`` or ``RNN`` operator, in
float32 (the only precision ONNX Runtime implements them in). See the guide
"Export to ONNX" for the graph's inputs and outputs and what each attribute
of the operators means.

Install the optional dependencies with ``pip install skseq[onnx]`` (skl2onnx
and onnx), plus ``onnxruntime`` to run the exported models.
"""

import numpy as np

__all__ = ["pad_sequences", "register"]


def register():
    """Register skseq's converters with skl2onnx.

    After this call, :func:`skl2onnx.to_onnx` and
    :func:`skl2onnx.convert_sklearn` convert every fitted skseq estimator
    (LSTM, GRU and simple RNN regressors and classifiers), also inside a
    :class:`~sklearn.pipeline.Pipeline`. Calling it
    again is harmless. skl2onnx offers no plug-in mechanism that would find
    the converters by itself, so the call is needed once per process.

    Raises
    ------
    ImportError
        If skl2onnx is not installed (``pip install skseq[onnx]``).

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> import skseq.onnx
    >>> from skl2onnx import to_onnx
    >>> from skseq import LSTMRegressor
    >>> X = np.random.default_rng(0).normal(size=(20, 5, 2)).astype(np.float32)
    >>> model = LSTMRegressor(hidden_layer_sizes=4, random_state=0)
    >>> model = model.fit(X, X[:, -1, 0])
    >>> skseq.onnx.register()
    >>> onx = to_onnx(model, X[:1])
    >>> [node.op_type for node in onx.graph.node]
    ['Transpose', 'LSTM', 'Transpose', 'Reshape', 'MatMul', 'Add', 'Mul', 'Add']
    >>> session = onnxruntime.InferenceSession(
    ...     onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> (y_onnx,) = session.run(None, {"X": X})
    >>> y_onnx.shape
    (20, 1)
    >>> bool(np.abs(y_onnx[:, 0] - model.predict(X)).max() < 1e-5)
    True
    """
    try:
        import skl2onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "Exporting skseq models to ONNX needs skl2onnx and onnx: "
            "pip install skseq[onnx] (and onnxruntime to run the exported models)."
        ) from exc
    from ._onnx import register_converters

    register_converters()


def pad_sequences(sequences, dtype=np.float32):
    """Pad sequences of different lengths into the exported graph's input.

    Parameters
    ----------
    sequences : list of array-like of shape (n_timesteps_i, n_features) or \
(n_timesteps_i,)
        Sequences as skseq's estimators take them; 1-D items are univariate.
    dtype : dtype, default=np.float32
        Type of the padded array.

    Returns
    -------
    X : ndarray of shape (n_sequences, max_timesteps, n_features)
        The sequences, each from the first time step, followed by zeros.
    lengths : ndarray of shape (n_sequences,), dtype int32
        The number of time steps of each sequence: the ``sequence_lens`` that
        ONNX's recurrent operators take, as int32.

    Examples
    --------
    >>> from skseq.onnx import pad_sequences
    >>> X, lengths = pad_sequences([[1.0, 2.0, 3.0], [4.0]])
    >>> X[:, :, 0]
    array([[1., 2., 3.],
           [4., 0., 0.]], dtype=float32)
    >>> lengths
    array([3, 1], dtype=int32)
    """
    from ._validation import FLOAT_DTYPES, _check_ragged_item, cast_finite

    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(
            "dtype must be float32 or float64, the input types of an exported "
            f"graph; got {dtype}."
        )
    # The checks of skseq's estimators: finite real values, in ``dtype``.
    arrays = [
        cast_finite(
            _check_ragged_item(index, item, FLOAT_DTYPES, "pad_sequences"),
            dtype,
            f"sequences[{index}]",
        )
        for index, item in enumerate(sequences)
    ]
    if not arrays:
        raise ValueError("pad_sequences needs at least one sequence.")
    n_features = {a.shape[1] for a in arrays}
    if len(n_features) != 1:
        raise ValueError(
            "All sequences must have the same number of features per time step; "
            f"got {sorted(n_features)}."
        )
    lengths = np.array([len(a) for a in arrays], dtype=np.int32)
    if lengths.min() == 0:
        raise ValueError("Every sequence needs at least one time step.")
    X = np.zeros((len(arrays), lengths.max(), n_features.pop()), dtype=dtype)
    for row, array in zip(X, arrays, strict=True):
        row[: len(array)] = array
    return X, lengths
