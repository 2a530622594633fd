"""scikit-learn's fit callbacks for the epoch loop.

scikit-learn 1.9 added ``sklearn.callback``: an estimator that mixes in
``CallbackSupportMixin`` gets ``set_callbacks``, opens a task for its fit and
reports to the callbacks when each task begins and ends. Iterative estimators
open one subtask per iteration inside the fit task; a callback returning True
at the end of an iteration stops the fit there. ``FitTasks`` does this for
the epoch loop, one task per epoch, so that every estimator built on
``EpochLoop`` has the same task tree.

Before scikit-learn 1.9 there is no ``sklearn.callback``: the mixin below is
empty (no ``set_callbacks``) and ``FitTasks`` does nothing.
"""

try:
    from sklearn.callback import CallbackSupportMixin

    HAVE_CALLBACKS = True
except ImportError:  # scikit-learn < 1.9

    class CallbackSupportMixin:  # noqa: D101 (an empty stand-in)
        pass

    HAVE_CALLBACKS = False


class FitTasks:
    """The callback tasks of one ``fit`` or ``partial_fit`` call: the fit task
    and, inside it, one task per epoch.

    ``X``, ``y`` and ``sample_weight`` are the arguments of the call, as the
    user gave them; the callbacks receive them with every task (as
    scikit-learn's own estimators pass their training data), and a
    ``fitted_estimator`` holding the weights of that moment when they ask for
    one. ``max_epochs`` bounds the number of epoch tasks.
    """

    def __init__(self, estimator, X, y, sample_weight, max_epochs):
        self._estimator = estimator
        self._data = {
            "X": X,
            "y": y,
            "metadata": None if sample_weight is None else {
                "sample_weight": sample_weight
            },
        }  # fmt: skip
        self._epoch = None
        self._root = None
        if HAVE_CALLBACKS:
            self._root = estimator._init_callback_context(max_subtasks=max_epochs)
            self._root.call_on_fit_task_begin(estimator=estimator, **self._data)

    def _fitted_state(self):
        """The attributes that make a copy of the estimator predict as it
        would if the fit ended now (the weights are updated in place, so the
        copy gets its own)."""
        estimator = self._estimator
        return {"weights_": estimator.weights_.copy(), "n_iter_": estimator.n_iter_}

    def begin_epoch(self):
        if self._root is None:
            return
        self._epoch = self._root.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(
            estimator=self._estimator,
            reconstruction_attributes=self._fitted_state,
            **self._data,
        )

    def end_epoch(self):
        """Report the end of the epoch; True when a callback asks the fit to
        stop."""
        if self._root is None:
            return False
        return self._epoch.call_on_fit_task_end(
            estimator=self._estimator,
            reconstruction_attributes=self._fitted_state,
            **self._data,
        )

    def end(self):
        """Report the end of the fit task, once the fitted state is final."""
        if self._root is not None:
            self._root.call_on_fit_task_end(
                estimator=self._estimator, reconstruction_attributes={}, **self._data
            )
