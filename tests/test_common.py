"""scikit-learn's own estimator checks, over every public skseq estimator.

No expected failures and no weakening tags: every check that scikit-learn
runs for a regressor or classifier must pass as it stands.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skseq import LSTMClassifier, LSTMRegressor
from skseq.utils import all_estimators


def _instances():
    # The estimators exactly as users get them: default parameters.
    return [cls() for _, cls in all_estimators()]


def test_all_estimators_finds_the_public_estimators():
    assert dict(all_estimators()) == {
        "LSTMClassifier": LSTMClassifier,
        "LSTMRegressor": LSTMRegressor,
    }


@parametrize_with_checks(_instances(), legacy=True)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
