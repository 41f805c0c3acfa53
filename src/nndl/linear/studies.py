r"""Measurements behind claims L1 and L2: sign checks, boundary geometry, undecided regions.

- :func:`sign_agreement_cv` — over cross-validation folds, does every loss's
  :class:`LinearClassifier` predict :math:`+1` exactly where :math:`f(x) > 0` (L1)?
- :func:`pca_boundary` — a binary classifier on the first two principal components, and where
  its predicted class changes against :math:`f = 0` (:func:`~nndl.linear.boundary_geometry`).
- :func:`layout_ambiguity` — the undecided share of a 2-D box and of the training points for
  each strategy, and optionally the region maps as text (L2).
- :func:`expected_discriminants` — how many discriminants each strategy fits for C classes.
- :func:`encode_region_map` / :func:`decode_region_map` — class indices (−1 undecided) as one
  string per grid row (``"0"``, ``"1"`` …, ``"*"``) and back.
- :func:`sklearn_counterparts` / :func:`compare_with_sklearn` — nndl's strategies beside
  scikit-learn's linear classifiers at C = 1, cross-validated on named data sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .._validation import ValidationError, check_int
from ._losses import LOSSES
from ._strategies import STRATEGIES
from .analysis import ambiguity, boundary_geometry, grid_2d, region_labels
from .compare import cross_validate_linear
from .estimator import LinearClassifier

__all__ = [
    "UNDECIDED",
    "compare_with_sklearn",
    "decode_region_map",
    "encode_region_map",
    "expected_discriminants",
    "layout_ambiguity",
    "pca_boundary",
    "sign_agreement_cv",
    "sklearn_counterparts",
]

#: The character of an undecided point in a region map.
UNDECIDED = "*"


def _check_xy(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValidationError(f"X must be (N, D) and y (N,), got {X.shape} and {y.shape}")
    return X, y


def _check_losses(losses: Sequence[str]) -> None:
    unknown = [loss for loss in losses if loss not in LOSSES]
    if not losses or unknown:
        raise ValidationError(f"losses must be non-empty, among {', '.join(LOSSES)}, got {losses}")


def sign_agreement_cv(
    X: Any,
    y: Any,
    folds: Iterable[tuple[Any, Any]],
    *,
    losses: Sequence[str],
    max_iter: int = 300,
    random_state: int | None = None,
) -> dict[str, Any]:
    r"""Check :math:`\hat y = +1 \iff f(x) > 0` on every held-out point of every fold and loss.

    Each training fold is standardised (the test fold with its statistics); a
    :class:`LinearClassifier` per loss is fitted with :math:`\alpha = 1/N` (the objective of
    scikit-learn's C = 1), and scikit-learn's ``LogisticRegression(C=1)`` beside them.

    Args:
        X: Array[N, D]; y: Array[N] with two classes.
        folds: ``(train_indices, test_indices)`` pairs.
        losses: losses of :class:`LinearClassifier` (the first one's f(x) is kept).
        max_iter, random_state: passed to :class:`LinearClassifier`.

    Returns:
        ``held_out_predictions`` and ``sign_mismatches`` (counts over losses and folds),
        ``accuracy`` (loss → per-fold accuracies), ``sklearn_logistic_accuracy`` (per fold),
        ``held_out_f`` (the first loss's f(x), 4 decimals) and ``held_out_y``.

    Raises:
        ValidationError: bad shapes, unknown or no losses, not two classes, or no folds.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = _check_xy(X, y)
    _check_losses(losses)
    if len(np.unique(y)) != 2:
        raise ValidationError(f"y must hold two classes, got {len(np.unique(y))}")
    acc: dict[str, list[float]] = {loss: [] for loss in losses}
    ref_acc: list[float] = []
    mismatches, tested, f_first, y_first = 0, 0, [], []
    for train, test in folds:
        scaler = StandardScaler().fit(X[train])
        X_tr, X_te = scaler.transform(X[train]), scaler.transform(X[test])
        for loss in losses:
            clf = LinearClassifier(
                loss, alpha=1.0 / len(train), max_iter=max_iter, random_state=random_state
            ).fit(X_tr, y[train])
            f, pred = clf.decision_function(X_te), clf.predict(X_te)
            mismatches += int(np.sum((f > 0) != (pred == clf.classes_[1])))
            tested += len(test)
            acc[loss].append(float(np.mean(pred == y[test])))
            if loss == losses[0]:
                f_first += f.tolist()
                y_first += y[test].tolist()
        ref = LogisticRegression(C=1.0, max_iter=1000).fit(X_tr, y[train])
        ref_acc.append(float(ref.score(X_te, y[test])))
    if not ref_acc:
        raise ValidationError("folds must hold at least one (train, test) pair")
    return {
        "held_out_predictions": tested,
        "sign_mismatches": mismatches,
        "accuracy": acc,
        "sklearn_logistic_accuracy": ref_acc,
        "held_out_f": [round(v, 4) for v in f_first],
        "held_out_y": y_first,
    }


def pca_boundary(
    X: Any, y: Any, *, resolution: int = 300, max_iter: int = 300, random_state: int | None = None
) -> dict[str, Any]:
    r"""A logistic :class:`LinearClassifier` on the first two principal components of X.

    X is standardised, projected on two principal components Z (``PCA(random_state=...)``),
    and the classifier is fitted with :math:`\alpha = 1/N`; :func:`boundary_geometry` then
    locates its boundary on a ``resolution``² grid.

    Args:
        X: Array[N, D] (D ≥ 2); y: Array[N] with two classes.
        resolution: grid points per axis; max_iter: solver iterations.
        random_state: the PCA's seed.

    Returns:
        ``{"geometry": boundary_geometry(...), "plane": {"w": [w₁, w₂], "b", "z": Z (4
        decimals), "y", "positive_class"}}``.

    Raises:
        ValidationError: bad shapes, fewer than 2 features, or not two classes.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    X, y = _check_xy(X, y)
    if X.shape[1] < 2:
        raise ValidationError(f"X must have at least 2 features, got {X.shape[1]}")
    check_int(resolution, name="resolution", low=2)
    Z = PCA(2, random_state=random_state).fit_transform(StandardScaler().fit_transform(X))
    clf = LinearClassifier("logistic", alpha=1.0 / len(Z), max_iter=max_iter).fit(Z, y)
    if len(clf.classes_) != 2:
        raise ValidationError(f"y must hold two classes, got {len(clf.classes_)}")
    plane = {
        "w": clf.coef_[0].tolist(),
        "b": float(clf.intercept_[0]),
        "z": np.round(Z, 4).tolist(),
        "y": y.tolist(),
        "positive_class": int(clf.classes_[1]),
    }
    return {"geometry": boundary_geometry(clf, Z, resolution=resolution), "plane": plane}


def encode_region_map(labels: Any) -> list[str]:
    """Class indices ``int[H, W]`` (−1: undecided, else 0–9) as H strings of W characters."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or labels.min() < -1 or labels.max() > 9:
        raise ValidationError(f"labels must be a non-empty 2-D array in [-1, 9], got {labels}")
    return ["".join(UNDECIDED if v < 0 else str(v) for v in row) for row in labels]


def decode_region_map(rows: Sequence[str]) -> np.ndarray:
    """The inverse of :func:`encode_region_map`: ``int64[H, W]``, −1 where undecided.

    Raises:
        ValidationError: rows of different lengths or characters other than digits and ``*``.
    """
    if not rows or len({len(r) for r in rows}) != 1 or set("".join(rows)) - set("0123456789*"):
        raise ValidationError("rows must be equally long strings of digits and '*'")
    chars = np.array([list(row) for row in rows])
    return np.where(chars == UNDECIDED, "-1", chars).astype(np.int64)


def layout_ambiguity(
    X: Any,
    y: Any,
    *,
    loss: str = "logistic",
    resolution: int = 400,
    margin: float = 0.5,
    max_iter: int = 300,
    random_state: int | None = None,
    map_resolution: int | None = None,
) -> dict[str, Any]:
    r"""Where each multi-class strategy leaves a 2-D problem undecided.

    For each of :data:`STRATEGIES` a :class:`LinearClassifier` is fitted with
    :math:`\alpha = 1/N`; :func:`ambiguity` is measured on a ``resolution``² grid over the
    data's box widened by ``margin`` (:func:`grid_2d`), and on the training points.

    Args:
        X: Array[N, 2]; y: Array[N] labels (at most 10 classes for the maps).
        loss: loss of the classifiers; resolution, margin: the grid.
        max_iter, random_state: passed to :class:`LinearClassifier`.
        map_resolution: if given, also a coarser grid's region maps
            (:func:`encode_region_map`) for a figure.

    Returns:
        ``area``, ``points`` (strategy → undecided share) and ``discriminants`` (strategy →
        count); with ``map_resolution`` also ``map`` = ``{"box": [x0, x1, y0, y1], "x": X
        (3 decimals), "y", "regions": strategy → rows}``.

    Raises:
        ValidationError: bad shapes or an unknown loss.
    """
    X, y = _check_xy(X, y)
    _check_losses([loss])
    xx, yy = grid_2d(X, resolution=resolution, margin=margin)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    out: dict[str, Any] = {"area": {}, "points": {}, "discriminants": {}}
    if map_resolution is not None:
        mx, my = grid_2d(X, resolution=map_resolution, margin=margin)
        box = [float(mx.min()), float(mx.max()), float(my.min()), float(my.max())]
        out["map"] = {"box": box, "x": np.round(X, 3).tolist(), "y": y.tolist(), "regions": {}}
    for strategy in STRATEGIES:
        clf = LinearClassifier(
            loss, strategy, alpha=1.0 / len(X), max_iter=max_iter, random_state=random_state
        ).fit(X, y)
        out["area"][strategy] = ambiguity(clf, grid)
        out["points"][strategy] = ambiguity(clf, X)
        out["discriminants"][strategy] = int(clf.n_discriminants_)
        if map_resolution is not None:
            labels = region_labels(clf, np.column_stack([mx.ravel(), my.ravel()]))
            out["map"]["regions"][strategy] = encode_region_map(labels.reshape(mx.shape))
    return out


def expected_discriminants(strategy: str, n_classes: int) -> int:
    """C for one-vs-rest and argmax, C(C−1)/2 for one-vs-one.

    Raises:
        ValidationError: an unknown strategy or fewer than 2 classes.
    """
    if strategy not in STRATEGIES:
        raise ValidationError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    check_int(n_classes, name="n_classes", low=2)
    return n_classes * (n_classes - 1) // 2 if strategy == "ovo" else n_classes


def sklearn_counterparts(
    loss: str = "logistic", *, max_iter: int = 300, random_state: int | None = None
) -> list[tuple[str, str, Any]]:
    """``(name, strategy, unfitted model)``: nndl's per strategy, then scikit-learn's at C = 1.

    scikit-learn's: ``LogisticRegression`` (multinomial argmax), one-vs-rest and one-vs-one
    wrappers of it, ``LinearSVC`` and ``Perceptron`` (both one-vs-rest).
    """
    from sklearn.linear_model import LogisticRegression, Perceptron
    from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
    from sklearn.svm import LinearSVC

    _check_losses([loss])
    name = f"nndl LinearClassifier({loss})"
    ours = [
        (name, s, LinearClassifier(loss, s, max_iter=max_iter, random_state=random_state))
        for s in STRATEGIES
    ]
    lr = LogisticRegression(C=1.0, max_iter=1000)
    return [
        *ours,
        ("sklearn LogisticRegression", "argmax (multinomial)", lr),
        ("sklearn OneVsRestClassifier(LR)", "ovr", OneVsRestClassifier(lr)),
        ("sklearn OneVsOneClassifier(LR)", "ovo", OneVsOneClassifier(lr)),
        ("sklearn LinearSVC", "ovr", LinearSVC(C=1.0, max_iter=5000)),
        ("sklearn Perceptron", "ovr", Perceptron(random_state=random_state)),
    ]


def compare_with_sklearn(
    datasets: Iterable[str],
    *,
    loss: str = "logistic",
    folds: int = 5,
    max_iter: int = 300,
    random_state: int | None = None,
) -> list[dict[str, Any]]:
    """Cross-validated accuracy and discriminant counts of :func:`sklearn_counterparts`.

    Each named data set (:func:`nndl.data.load_tabular`) is split by a shuffled
    ``StratifiedKFold(folds, random_state=random_state)``; every model is scored by
    :func:`cross_validate_linear` (BLAS on one thread).

    Returns:
        One row per data set and model: ``dataset``, ``model``, ``strategy``, ``n_classes``,
        ``ours`` (an nndl model?) and the keys of :func:`cross_validate_linear`.

    Raises:
        ValidationError: fewer than 2 folds, an unknown data set or loss.
    """
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    from ..data import load_tabular

    check_int(folds, name="folds", low=2)
    _check_losses([loss])
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for name in datasets:
            data = load_tabular(name)
            splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
            splits = list(splitter.split(data.X, data.y))
            n_classes = len(np.unique(data.y))
            for label, strategy, proto in sklearn_counterparts(
                loss, max_iter=max_iter, random_state=random_state
            ):
                row: dict[str, Any] = {"dataset": name, "model": label, "strategy": strategy}
                row |= {"n_classes": n_classes, "ours": isinstance(proto, LinearClassifier)}
                rows.append(row | cross_validate_linear(proto, data.X, data.y, splits))
    return rows
