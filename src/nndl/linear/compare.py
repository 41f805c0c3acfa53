r"""Cross-validated comparison of linear classifiers, nndl's and scikit-learn's (claim L2).

:func:`cross_validate_linear` standardises each training fold (the test fold with the training
fold's statistics), fits a fresh clone, and reports held-out accuracy, the number of linear
discriminants (:func:`count_discriminants`) and, for :class:`LinearClassifier`, the share of
held-out points its strategy's own rule leaves undecided (settled by a tie-break in
``predict``).

Penalties are matched to scikit-learn's ``C``: scikit-learn minimises
:math:`\tfrac12\lVert w\rVert^2 + C\sum_n \ell_n`, nndl :math:`\tfrac{\alpha}{2}\lVert w
\rVert^2 + \tfrac1N \sum_n \ell_n`, so :math:`\alpha = 1/(C N)`. One-vs-one fits each pair on
about :math:`2N/C_{\text{classes}}` points and scikit-learn penalises pair by pair, so there
:math:`N` is that pair size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from .._validation import ValidationError
from .analysis import ambiguity
from .estimator import LinearClassifier

__all__ = ["count_discriminants", "cross_validate_linear"]


def count_discriminants(model: Any) -> int:
    """How many linear discriminants a fitted classifier uses.

    :class:`LinearClassifier`: ``n_discriminants_``; ``OneVsRestClassifier`` /
    ``OneVsOneClassifier``: one per fitted estimator; any other linear model: rows of
    ``coef_``.

    Raises:
        ValidationError: the model has none of these (not fitted, or not linear).
    """
    from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier

    if isinstance(model, LinearClassifier):
        return int(model.n_discriminants_)
    if isinstance(model, OneVsOneClassifier | OneVsRestClassifier):
        return len(model.estimators_)
    coef = getattr(model, "coef_", None)
    if coef is None:
        raise ValidationError(
            f"model must be a fitted linear classifier, got {type(model).__name__} without coef_"
        )
    return int(np.atleast_2d(coef).shape[0])


def cross_validate_linear(
    model: Any, X: Any, y: Any, folds: Iterable[tuple[Any, Any]], *, C: float | None = 1.0
) -> dict[str, Any]:
    """Held-out accuracy, discriminant count and undecided share of a classifier over folds.

    Args:
        model: an unfitted scikit-learn classifier or :class:`LinearClassifier` (cloned per
            fold).
        X: Array[N, D]; y: Array[N] labels.
        folds: ``(train_indices, test_indices)`` pairs, e.g. ``StratifiedKFold.split(X, y)``.
        C: scikit-learn's inverse penalty, matched for a :class:`LinearClassifier` by setting
            its ``alpha`` (see the module docstring); None keeps the model's own ``alpha``.

    Returns:
        ``{"accuracy": mean over folds, "discriminants": of the last fold's model,
        "undecided_test_points_pct": mean % (None for scikit-learn models)}``.

    Raises:
        ValidationError: no folds, X and y of different lengths, or C ≤ 0.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValidationError(f"X must be (N, D) and y (N,), got {X.shape} and {y.shape}")
    if C is not None and not C > 0:
        raise ValidationError(f"C must be > 0 or None, got {C}")
    n_classes = len(np.unique(y))
    accs, undecided, k = [], [], 0
    for train, test in folds:
        scaler = StandardScaler().fit(X[train])
        X_tr, X_te = scaler.transform(X[train]), scaler.transform(X[test])
        fitted = clone(model)
        if isinstance(fitted, LinearClassifier) and C is not None:
            n_fit = len(train) if fitted.strategy != "ovo" else 2 * len(train) / n_classes
            fitted.set_params(alpha=1.0 / (C * n_fit))
        fitted.fit(X_tr, y[train])
        accs.append(float(fitted.score(X_te, y[test])))
        k = count_discriminants(fitted)
        if isinstance(fitted, LinearClassifier):
            undecided.append(100 * ambiguity(fitted, X_te))
    if not accs:
        raise ValidationError("folds must hold at least one (train, test) pair")
    return {
        "accuracy": float(np.mean(accs)),
        "discriminants": k,
        "undecided_test_points_pct": float(np.mean(undecided)) if undecided else None,
    }
