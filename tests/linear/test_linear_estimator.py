"""LinearClassifier against scikit-learn references, closed forms and its own conventions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from nndl.linear import STRATEGIES, LinearClassifier


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _lr(C: float = 1.0) -> LogisticRegression:
    return LogisticRegression(C=C, tol=1e-10, max_iter=10_000)


def test_argmax_logistic_is_sklearns_multinomial_logistic_regression(iris):
    X, y = iris
    ours = LinearClassifier(alpha=1 / len(X), tol=1e-10, max_iter=10_000).fit(X, y)
    ref = _lr().fit(X, y)
    # softmax discriminants are defined up to a common shift: compare centred coefficients
    np.testing.assert_allclose(
        ours.coef_ - ours.coef_.mean(0), ref.coef_ - ref.coef_.mean(0), atol=2e-4
    )
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-5)


def test_ovr_logistic_is_one_vs_rest_logistic_regression(iris):
    X, y = iris
    ours = LinearClassifier(strategy="ovr", alpha=1 / len(X), tol=1e-10, max_iter=10_000)
    ref = OneVsRestClassifier(_lr()).fit(X, y)
    ours.fit(X, y)
    for c, est in enumerate(ref.estimators_):
        np.testing.assert_allclose(ours.coef_[c], est.coef_[0], atol=2e-4)
        np.testing.assert_allclose(ours.intercept_[c], est.intercept_[0], atol=2e-4)


def test_ovo_discriminant_is_the_pairs_own_logistic_regression(iris):
    X, y = iris  # 50 samples per class: every pair has N_k = 100, so alpha = 1/100 is C = 1
    ours = LinearClassifier(strategy="ovo", alpha=1 / 100, tol=1e-10, max_iter=10_000).fit(X, y)
    assert ours.pairs_.tolist() == [[0, 1], [0, 2], [1, 2]]
    for k, (i, j) in enumerate(ours.pairs_):
        keep = (y == i) | (y == j)
        ref = _lr().fit(X[keep], y[keep] == j)  # class j is the +1 side
        np.testing.assert_allclose(ours.coef_[k], ref.coef_[0], atol=2e-4)
        np.testing.assert_allclose(ours.intercept_[k], ref.intercept_[0], atol=2e-4)


@pytest.mark.parametrize("strategy", ["ovr", "argmax"])
def test_squared_loss_is_ridge_closed_form(iris, strategy):
    X, y = iris
    a = 3.0  # RidgeClassifier: sum (t - f)^2 + a |w|^2  <=>  ours with alpha = 2a/N
    ours = LinearClassifier(
        "squared", strategy, alpha=2 * a / len(X), tol=1e-12, max_iter=10_000
    ).fit(X, y)
    ref = RidgeClassifier(alpha=a).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)


def _hinge_objective(coef: np.ndarray, X: np.ndarray, y: np.ndarray, alpha: float) -> float:
    """mean max(0, 1 - y f) + alpha/2 |w|^2, labels ±1, no intercept."""
    f = X @ coef.ravel()
    return float(np.mean(np.maximum(0, 1 - y * f)) + 0.5 * alpha * coef.ravel() @ coef.ravel())


def _crammer_singer_objective(coef: np.ndarray, X: np.ndarray, y: np.ndarray, alpha: float):
    F = X @ coef.T
    true = F[np.arange(len(y)), y]
    wrong = F.copy()
    wrong[np.arange(len(y)), y] = -np.inf
    return float(np.mean(np.maximum(0, 1 + wrong.max(1) - true)) + 0.5 * alpha * (coef**2).sum())


def test_hinge_objective_is_no_worse_than_liblinear(cancer):
    # the smoothing schedule ends at mu = 1e-3: the hinge objective is within 2·mu/2 of optimal
    X, y = cancer
    C, n = 1.0, len(X)
    ours = LinearClassifier("hinge", alpha=1 / (C * n), fit_intercept=False, max_iter=5000)
    ours.fit(X, y)
    ref = LinearSVC(loss="hinge", C=C, fit_intercept=False, tol=1e-8, max_iter=200_000)
    ref.fit(X, y)
    pm = 2 * y - 1
    j_ours = _hinge_objective(ours.coef_, X, pm, 1 / (C * n))
    j_ref = _hinge_objective(ref.coef_, X, pm, 1 / (C * n))
    assert j_ours <= j_ref + 1e-3, (j_ours, j_ref)


def test_crammer_singer_objective_is_no_worse_than_liblinear(iris):
    X, y = iris
    C, n = 1.0, len(X)
    ours = LinearClassifier(
        "hinge", "argmax", alpha=1 / (C * n), fit_intercept=False, max_iter=5000
    ).fit(X, y)
    ref = LinearSVC(
        multi_class="crammer_singer", C=C, fit_intercept=False, tol=1e-8, max_iter=200_000
    ).fit(X, y)
    j_ours = _crammer_singer_objective(ours.coef_, X, y, 1 / (C * n))
    j_ref = _crammer_singer_objective(ref.coef_, X, y, 1 / (C * n))
    assert j_ours <= j_ref + 1e-3 * np.log(3) * 2, (j_ours, j_ref)


def test_sgd_reaches_the_lbfgs_solution(iris):
    X, y = iris
    exact = LinearClassifier(alpha=0.05, tol=1e-10, max_iter=10_000).fit(X, y)
    sgd = LinearClassifier(
        alpha=0.05,
        solver="sgd",
        learning_rate=0.1,
        batch_size=16,
        max_iter=100,
        tol=0.0,
        n_iter_no_change=100,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # runs all 100 epochs on purpose
        sgd.fit(X, y)
    np.testing.assert_allclose(
        sgd.coef_ - sgd.coef_.mean(0), exact.coef_ - exact.coef_.mean(0), atol=0.05
    )
    assert np.mean(sgd.predict(X) == exact.predict(X)) >= 0.98


def test_sgd_is_reproducible_with_random_state(iris):
    X, y = iris
    a = LinearClassifier("perceptron", "ovr", random_state=3).fit(X, y)
    b = LinearClassifier("perceptron", "ovr", random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_two_classes_use_one_discriminant_with_labels_plus_minus_one(cancer, strategy):
    X, y = cancer
    names = np.array(["malignant", "benign"])[y]  # any two labels, strings included
    clf = LinearClassifier("logistic", strategy, alpha=1e-2).fit(X, names)
    assert list(clf.classes_) == ["benign", "malignant"]
    assert clf.n_discriminants_ == 1 and clf.coef_.shape == (1, X.shape[1])
    f = clf.decision_function(X)
    assert f.shape == (len(X),)
    np.testing.assert_array_equal(clf.predict(X) == "malignant", f > 0)  # classes_[1] is +1
    # relabelling so the other class is +1 flips the sign of the discriminant
    flipped = LinearClassifier("logistic", strategy, alpha=1e-2).fit(
        X, np.where(names == "benign", "z_benign", names)
    )
    np.testing.assert_allclose(flipped.coef_, -clf.coef_, atol=1e-6)


def test_discriminant_counts_per_strategy():
    X, y = make_blobs(200, centers=5, random_state=0)
    counts = {s: LinearClassifier(strategy=s).fit(X, y).n_discriminants_ for s in STRATEGIES}
    assert counts == {"ovr": 5, "ovo": 10, "argmax": 5}


def _fitted_ovo() -> LinearClassifier:
    X, y = make_blobs(60, centers=3, n_features=2, random_state=0)
    return LinearClassifier(strategy="ovo").fit(X, y)


def test_ovo_tie_is_broken_by_summed_confidence():
    clf = _fitted_ovo()
    # pairs (0,1), (0,2), (1,2); f > 0 votes for the second class. Make every class win one duel
    # at x = (1, 0): f01 = +2 (class 1), f02 = -0.5 (class 0), f12 = +1 (class 2).
    clf.coef_ = np.array([[2.0, 0.0], [-0.5, 0.0], [1.0, 0.0]])
    clf.intercept_ = np.zeros(3)
    x = np.array([[1.0, 0.0]])
    scores = clf.decision_function(x)[0]
    np.testing.assert_array_less(np.abs(scores - 1.0), 1 / 3)  # one vote each
    # summed confidence: class 0: -2 + 0.5 = -1.5; class 1: +2 - 1 = +1; class 2: -0.5 + 1 = 0.5
    assert clf.predict(x)[0] == 1
    # an exact tie in votes and confidence goes to the lowest class index
    clf.coef_ = np.zeros((3, 2))
    assert clf.predict(x)[0] == 0


def test_ovr_predicts_the_largest_discriminant_even_where_no_class_claims_the_point():
    X, y = make_blobs(90, centers=3, random_state=0)
    clf = LinearClassifier(strategy="ovr").fit(X, y)
    clf.intercept_ = clf.intercept_ - 100.0  # now no f_c is positive anywhere nearby
    F = clf.discriminants(X)
    assert (F < 0).all()
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[F.argmax(1)])


@pytest.mark.parametrize(
    ("loss", "strategy", "has_proba"),
    [
        ("logistic", "argmax", True),
        ("logistic", "ovr", True),
        ("logistic", "ovo", False),
        ("hinge", "argmax", False),
        ("squared", "ovr", False),
    ],
)
def test_predict_proba_only_where_the_loss_gives_probabilities(iris, loss, strategy, has_proba):
    X, y = iris
    clf = LinearClassifier(loss, strategy)
    assert hasattr(clf, "predict_proba") == has_proba
    clf.fit(X, y)
    if has_proba:
        p = clf.predict_proba(X)
        np.testing.assert_allclose(p.sum(1), 1.0)
        np.testing.assert_array_equal(clf.classes_[p.argmax(1)], clf.predict(X))
        np.testing.assert_allclose(clf.predict_log_proba(X), np.log(p))


def test_works_in_pipeline_and_grid_search(iris):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LinearClassifier())
    search = GridSearchCV(
        pipe,
        {"linearclassifier__strategy": list(STRATEGIES), "linearclassifier__alpha": [1e-3, 1e-1]},
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.9
    assert search.best_estimator_[-1].n_features_in_ == 4


def test_accepts_torch_tensors_and_float32(iris):
    X, y = iris
    ref = LinearClassifier(alpha=1e-2).fit(X, y)
    clf = LinearClassifier(alpha=1e-2, dtype="float32").fit(
        torch.from_numpy(X), torch.from_numpy(y)
    )
    assert clf.coef_.dtype == np.float32
    np.testing.assert_allclose(clf.coef_, ref.coef_, atol=1e-3)
    np.testing.assert_array_equal(clf.predict(torch.from_numpy(X)), ref.predict(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_matches_cpu(iris):
    X, y = iris
    cpu = LinearClassifier(alpha=1e-2).fit(X, y)
    gpu = LinearClassifier(alpha=1e-2, device="cuda").fit(X, y)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, atol=1e-6)
