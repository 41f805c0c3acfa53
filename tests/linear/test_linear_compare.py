"""Boundary geometry, region labels, discriminant counts and the cross-validated comparison."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsOneClassifier
from sklearn.preprocessing import StandardScaler

from nndl import ValidationError
from nndl.linear import (
    LinearClassifier,
    ambiguous_mask,
    boundary_geometry,
    count_discriminants,
    cross_validate_linear,
    region_labels,
)


def two_blobs():
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))])
    return Z, np.repeat([0, 1], 60)


def test_boundary_geometry_of_a_fitted_classifier_lies_on_the_line():
    Z, y = two_blobs()
    geo = boundary_geometry(LinearClassifier("logistic").fit(Z, y), Z, resolution=80)
    assert geo["boundary_points"] > 0
    assert geo["max_distance_to_line"] <= geo["grid_step"]
    assert (geo["components_positive"], geo["components_negative"]) == (1, 1)


def test_boundary_geometry_without_a_class_change_reports_none():
    Z, y = two_blobs()
    clf = LinearClassifier("logistic").fit(Z, y)
    far = Z[y == 1] + 50.0  # a box far on the positive side: no change of class on its grid
    geo = boundary_geometry(clf, far, resolution=20)
    assert geo["boundary_points"] == 0 and geo["max_distance_to_line"] is None
    assert (geo["components_positive"], geo["components_negative"]) == (1, 0)


def test_boundary_geometry_refuses_more_classes_or_features():
    X, y = make_blobs(90, centers=3, random_state=0)
    with pytest.raises(ValidationError, match="binary"):
        boundary_geometry(LinearClassifier().fit(X, y), X)
    X3, y3 = make_blobs(90, n_features=3, centers=2, random_state=0)
    with pytest.raises(ValidationError, match="2 features"):
        boundary_geometry(LinearClassifier().fit(X3, y3), X3)


def test_region_labels_mark_undecided_points():
    X, y = make_blobs(300, centers=3, random_state=0)
    grid = np.random.default_rng(1).uniform(X.min(0) - 3, X.max(0) + 3, (2000, 2))
    ovr = LinearClassifier(strategy="ovr").fit(X, y + 10)  # labels 10, 11, 12
    labels = region_labels(ovr, grid)
    undecided = ambiguous_mask(ovr, grid)
    assert undecided.any() and np.array_equal(labels < 0, undecided)
    assert set(np.unique(labels[~undecided])) <= {0, 1, 2}
    assert np.array_equal(ovr.classes_[labels[~undecided]], ovr.predict(grid)[~undecided])


def test_count_discriminants_of_ours_and_scikit_learns():
    X, y = make_blobs(120, centers=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    assert count_discriminants(LinearClassifier(strategy="ovo").fit(X, y)) == 6
    assert count_discriminants(LinearClassifier(strategy="ovr").fit(X, y)) == 4
    assert count_discriminants(OneVsOneClassifier(LogisticRegression()).fit(X, y)) == 6
    assert count_discriminants(LogisticRegression().fit(X, y)) == 4
    with pytest.raises(ValidationError, match="coef_"):
        count_discriminants(LogisticRegression())


def test_cross_validate_linear_matches_scikit_learns_penalty():
    X, y = make_blobs(150, centers=3, cluster_std=2.5, random_state=0)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    model = LinearClassifier("logistic", "ovr", max_iter=200, random_state=0)
    out = cross_validate_linear(model, X, y, folds)
    accs = []
    for train, test in folds:  # by hand: standardise, alpha = 1/N, fit, score
        scaler = StandardScaler().fit(X[train])
        clf = LinearClassifier(
            "logistic", "ovr", alpha=1.0 / len(train), max_iter=200, random_state=0
        )
        clf.fit(scaler.transform(X[train]), y[train])
        accs.append(clf.score(scaler.transform(X[test]), y[test]))
    assert out["accuracy"] == pytest.approx(float(np.mean(accs)))
    assert out["discriminants"] == 3 and out["undecided_test_points_pct"] >= 0.0
    other = cross_validate_linear(model, X, y, folds, C=1e-4)  # a heavy penalty fits worse
    assert other["accuracy"] < out["accuracy"]
    sk = cross_validate_linear(LogisticRegression(), X, y, folds)
    assert sk["undecided_test_points_pct"] is None and sk["discriminants"] == 3


def test_cross_validate_linear_checks_its_inputs():
    X, y = make_blobs(60, centers=2, random_state=0)
    with pytest.raises(ValidationError, match="folds"):
        cross_validate_linear(LinearClassifier(), X, y, [])
    with pytest.raises(ValidationError, match="C must"):
        cross_validate_linear(LinearClassifier(), X, y, [(np.arange(30), np.arange(30, 60))], C=0)
    with pytest.raises(ValidationError, match="y"):
        cross_validate_linear(LinearClassifier(), X, y[:10], [])
