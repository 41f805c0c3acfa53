"""ambiguous_mask / ambiguity apply each strategy's own rule; decision_regions draws them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from nndl import ShapeError, ValidationError
from nndl._validation import DTypeError
from nndl.linear import LinearClassifier, ambiguity, ambiguous_mask, decision_regions, grid_2d

X3, Y3 = make_blobs(90, centers=3, n_features=2, random_state=0)


def _with_discriminants(strategy: str, coef, intercept) -> LinearClassifier:
    """A fitted 3-class estimator whose discriminants are then set by hand."""
    clf = LinearClassifier(strategy=strategy).fit(X3, Y3)
    clf.coef_ = np.asarray(coef, dtype=float)
    clf.intercept_ = np.asarray(intercept, dtype=float)
    return clf


def test_ovr_is_undecided_where_no_class_or_several_claim_the_point():
    # f_0 = x, f_1 = y, f_2 = -x - y - 1 (each claims its half-plane)
    clf = _with_discriminants("ovr", [[1, 0], [0, 1], [-1, -1]], [0, 0, -1])
    # only f_0 > 0 (decided); f_0, f_1 > 0 (undecided); none > 0 (f_2 = -0.5, undecided);
    # only f_2 > 0 (decided)
    pts = np.array([[1.0, -0.5], [1.0, 1.0], [-0.2, -0.3], [-3.0, -3.0]])
    np.testing.assert_array_equal(ambiguous_mask(clf, pts), [False, True, True, False])
    assert ambiguity(clf, pts) == 0.5


def test_ovr_undecided_area_matches_geometry():
    # f_0 = x, f_1 = -x - 1: on [-2, 2] the strip -1 < x < 0 is claimed by none, nothing by both
    clf = _with_discriminants("ovr", [[1, 0], [-1, 0], [0, 0]], [0, -1, -10])
    xx, yy = grid_2d(np.array([[-2.0, -1.0], [2.0, 1.0]]), resolution=801, margin=0.0)
    area = ambiguity(clf, np.column_stack([xx.ravel(), yy.ravel()]))
    # undecided: -1 <= x <= 0 (f_0 <= 0 and f_1 <= 0): a quarter of the box, up to one column
    assert abs(area - 0.25) <= 2 / 801


def test_ovo_is_undecided_only_on_tied_votes():
    # pairs (0,1), (0,2), (1,2); f > 0 votes for the second class
    clf = _with_discriminants("ovo", [[1, 0], [0, 1], [1, 1]], [0, 0, 0])
    # votes of (01, 02, 12): (1, 0, 1) class 1 wins twice; (1, 2, 2) decided;
    # (1, 0, 2) one vote each, tied; (0, 2, 1) the other cycle, tied
    pts = np.array([[1.0, -2.0], [1.0, 1.0], [2.0, -1.0], [-2.0, 1.0]])
    np.testing.assert_array_equal(ambiguous_mask(clf, pts), [False, False, True, True])


def test_argmax_is_undecided_only_on_exact_ties():
    clf = LinearClassifier().fit(X3, Y3)
    rng = np.random.default_rng(0)
    assert ambiguity(clf, rng.normal(scale=10, size=(5000, 2))) == 0.0
    clf = _with_discriminants("argmax", [[1, 0], [-1, 0], [0, 1]], [0, 0, 0])
    pts = np.array([[0.0, -1.0], [1.0, 1.0], [2.0, 0.0]])  # f_0 = f_1; f_0 = f_2; unique max
    np.testing.assert_array_equal(ambiguous_mask(clf, pts), [True, True, False])


def test_binary_is_undecided_only_on_the_hyperplane():
    keep = Y3 < 2
    clf = LinearClassifier().fit(X3[keep], Y3[keep])
    clf.coef_, clf.intercept_ = np.array([[1.0, 0.0]]), np.array([-1.0])
    np.testing.assert_array_equal(ambiguous_mask(clf, [[1.0, 5.0], [1.5, 0.0]]), [True, False])


def test_ambiguity_needs_a_fitted_linear_classifier():
    with pytest.raises(DTypeError, match="LinearClassifier, got LogisticRegression"):
        ambiguity(LogisticRegression().fit(X3, Y3), X3)


@pytest.mark.parametrize("strategy", ["ovr", "ovo", "argmax"])
def test_decision_regions_draws_regions_lines_and_measured_area(strategy):
    clf = LinearClassifier(strategy=strategy).fit(X3, Y3)
    ax = decision_regions(clf, X3, Y3, resolution=120)
    xx, yy = grid_2d(X3, resolution=120)
    area = ambiguity(clf, np.column_stack([xx.ravel(), yy.ravel()]))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == ["0", "1", "2"]
    assert labels[3] == f"undecided ({100 * area:.2f}%)"
    assert len(ax.collections) >= 1  # the scattered points, plus the f_k = 0 lines
    assert ax.get_xlim() == (xx[0, 0], xx[0, -1])
    plt.close(ax.figure)


def test_decision_regions_rejects_bad_input():
    clf = LinearClassifier().fit(X3, Y3)
    with pytest.raises(ShapeError, match=r"X must have shape \(N, 2\)"):
        decision_regions(clf, np.zeros((5, 3)))
    with pytest.raises(ValidationError, match="labels that are not in estimator.classes_"):
        decision_regions(clf, X3, Y3 + 7)
    clf4 = LinearClassifier().fit(np.c_[X3, X3], Y3)
    with pytest.raises(ValidationError, match="fitted on 2 features, got 4"):
        decision_regions(clf4, X3)
    with pytest.raises(ValidationError, match="resolution must be an int"):
        grid_2d(X3, resolution=1)
