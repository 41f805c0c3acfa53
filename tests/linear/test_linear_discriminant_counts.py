"""expected_discriminants: C for one-vs-rest and argmax, C(C−1)/2 for one-vs-one."""

from __future__ import annotations

import pytest

from nndl import ValidationError
from nndl.linear import STRATEGIES, LinearClassifier, expected_discriminants


def test_expected_counts_per_strategy():
    assert [expected_discriminants(s, 4) for s in ("ovr", "ovo", "argmax")] == [4, 6, 4]
    assert [expected_discriminants(s, 2) for s in ("ovr", "ovo", "argmax")] == [2, 1, 2]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_expected_counts_match_a_fitted_classifier(strategy):
    import numpy as np

    X = np.random.default_rng(0).normal(size=(60, 2))
    y = np.repeat([0, 1, 2, 3], 15)
    clf = LinearClassifier("logistic", strategy, max_iter=20, random_state=0).fit(X, y)
    assert clf.n_discriminants_ == expected_discriminants(strategy, 4)


def test_expected_counts_refuse_bad_input():
    with pytest.raises(ValidationError, match="strategy"):
        expected_discriminants("ova", 3)
    with pytest.raises(ValidationError, match="n_classes"):
        expected_discriminants("ovr", 1)
