"""scikit-learn's estimator contract for every loss × strategy of ``LinearClassifier``."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from nndl.linear import LOSSES, STRATEGIES, LinearClassifier

ESTIMATORS = [LinearClassifier(loss=loss, strategy=s) for loss in LOSSES for s in STRATEGIES]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
