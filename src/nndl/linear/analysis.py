r"""Where a multi-class strategy leaves the class undecided, and the 2-D picture of it.

Each strategy has its own rule, and :func:`ambiguous_mask` applies it literally:

* two classes: undecided only where :math:`f(x) = 0` exactly;
* ``"ovr"``: class :math:`c` is claimed where :math:`f_c(x) > 0`; undecided where no class or
  more than one class claims the point;
* ``"ovo"``: undecided where two or more classes share the largest number of pairwise votes;
* ``"argmax"``: undecided only where the largest :math:`f_c(x)` is attained twice (exact ties,
  a set of measure zero).

``LinearClassifier.predict`` always returns a class (ties broken as documented there); these
functions measure how often it had to fall back on a tie-break.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array, check_is_fitted

from .._validation import DTypeError, ShapeError, ValidationError, check_in_range, check_int
from ._strategies import ovo_votes
from .estimator import LinearClassifier

__all__ = [
    "ambiguity",
    "ambiguous_mask",
    "boundary_geometry",
    "decision_regions",
    "grid_2d",
    "region_labels",
]


def _check_estimator(estimator: Any) -> LinearClassifier:
    if not isinstance(estimator, LinearClassifier):
        raise DTypeError(
            f"estimator must be a fitted nndl.linear.LinearClassifier, got "
            f"{type(estimator).__name__}"
        )
    check_is_fitted(estimator)
    return estimator


def ambiguous_mask(estimator: LinearClassifier, X: Any) -> np.ndarray:
    """Which samples the strategy's own rule leaves undecided (see the module docstring).

    Args:
        estimator: a fitted :class:`LinearClassifier`.
        X: array-like ``(N, D)``.

    Returns:
        ``bool[N]``.

    Raises:
        DTypeError: ``estimator`` is not a :class:`LinearClassifier`.
        NotFittedError: it is not fitted.
    """
    est = _check_estimator(estimator)
    F = est.discriminants(X)
    n_classes = len(est.classes_)
    if n_classes == 2:
        return F[:, 0] == 0
    if est.strategy == "ovr":
        return (F > 0).sum(axis=1) != 1
    if est.strategy == "ovo" and est.pairs_ is not None:
        votes = ovo_votes(F, est.pairs_, n_classes)
        return (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1
    return (F.max(axis=1, keepdims=True) == F).sum(axis=1) > 1


def ambiguity(estimator: LinearClassifier, X: Any) -> float:
    """Fraction of the samples in ``X`` whose class the strategy leaves undecided.

    On a regular grid over a 2-D box (:func:`grid_2d`) this is the ambiguous share of the
    box's area.

    Example:
        >>> from sklearn.datasets import make_blobs
        >>> X, y = make_blobs(300, centers=3, random_state=0)
        >>> clf = LinearClassifier(strategy="argmax").fit(X, y)
        >>> ambiguity(clf, X)
        0.0
    """
    return float(np.mean(ambiguous_mask(estimator, X)))


def region_labels(estimator: LinearClassifier, X: Any) -> np.ndarray:
    """The predicted class *index* of each sample, −1 where the strategy leaves it undecided.

    Args:
        estimator: a fitted :class:`LinearClassifier`.
        X: array-like ``(N, D)``.

    Returns:
        ``int64[N]``: positions in ``classes_``, or −1 where :func:`ambiguous_mask` holds.
    """
    est = _check_estimator(estimator)
    idx = np.searchsorted(est.classes_, est.predict(X)).astype(np.int64)
    idx[ambiguous_mask(est, X)] = -1
    return idx


def boundary_geometry(
    estimator: LinearClassifier, X: Any, *, resolution: int = 300
) -> dict[str, Any]:
    r"""Where a binary classifier's *predicted class* changes on a 2-D grid, against f = 0.

    On the :func:`grid_2d` grid over ``X`` (margin 0.1), every pair of neighbours (along either
    axis) predicted differently marks a boundary point at their midpoint m; its distance to the
    line :math:`f(x) = w^\top x + b = 0` is :math:`|w^\top m + b| / \lVert w \rVert`. For a
    linear discriminant the distance is at most one grid step, and each class fills one
    connected (4-neighbour) region: a half-plane cut by the box.

    Args:
        estimator: a :class:`LinearClassifier` fitted on two classes and two features.
        X: array-like ``(N, 2)``, the points the grid spans.
        resolution: grid points per axis.

    Returns:
        ``boundary_points`` (int), ``max_distance_to_line`` (float, None without a class change
        on the grid), ``grid_step`` (the larger of the two axis steps) and
        ``components_positive`` / ``components_negative`` (connected regions of each class).

    Raises:
        ValidationError: more than two classes, or not fitted on 2 features.
    """
    from scipy import ndimage

    est = _check_estimator(estimator)
    if len(est.classes_) != 2 or est.n_features_in_ != 2:
        raise ValidationError(
            f"boundary_geometry needs a binary estimator on 2 features, got "
            f"{len(est.classes_)} classes and {est.n_features_in_} features"
        )
    xx, yy = grid_2d(X, resolution=resolution)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    positive = (est.predict(points) == est.classes_[1]).reshape(xx.shape)
    mids = []
    for axis in (0, 1):  # midpoints of neighbours (along each axis) predicted differently
        a: list[slice] = [slice(None), slice(None)]
        b: list[slice] = [slice(None), slice(None)]
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        change = positive[tuple(a)] != positive[tuple(b)]
        mx = 0.5 * (xx[tuple(a)] + xx[tuple(b)])[change]
        my = 0.5 * (yy[tuple(a)] + yy[tuple(b)])[change]
        mids.append(np.column_stack([mx, my]))
    mid = np.concatenate(mids)
    w, b0 = est.coef_[0], est.intercept_[0]
    dist = np.abs(mid @ w + b0) / np.linalg.norm(w)
    return {
        "boundary_points": len(mid),
        "max_distance_to_line": float(dist.max()) if len(dist) else None,
        "grid_step": float(max(xx[0, 1] - xx[0, 0], yy[1, 0] - yy[0, 0])),
        "components_positive": int(ndimage.label(positive)[1]),
        "components_negative": int(ndimage.label(~positive)[1]),
    }


def grid_2d(X: Any, *, resolution: int = 300, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A ``resolution × resolution`` grid over the bounding box of 2-D points.

    Args:
        X: array-like ``(N, 2)``.
        resolution: points per axis (≥ 2).
        margin: the box is widened by this fraction of its extent on every side (≥ 0).

    Returns:
        ``(xx, yy)``, each ``float[resolution, resolution]`` (``np.meshgrid`` layout); the grid
        points are ``np.column_stack([xx.ravel(), yy.ravel()])``.
    """
    check_int(resolution, name="resolution", low=2)
    check_in_range(margin, name="margin", low=0.0)
    X = check_array(X, dtype=np.float64)
    if X.shape[1] != 2:
        raise ShapeError(f"X must have shape (N, 2), got {X.shape}", ("N", 2), X.shape)
    low, high = X.min(axis=0), X.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-12)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    return np.meshgrid(xs, ys)


def decision_regions(
    estimator: LinearClassifier,
    X: Any,
    y: Any = None,
    *,
    ax: Any = None,
    resolution: int = 300,
    margin: float = 0.1,
    shade_ambiguous: bool = True,
    boundaries: bool = True,
) -> Any:
    """Draw the predicted regions of a 2-D problem, the lines :math:`f_k = 0` and the data.

    Regions are coloured by the predicted class; where :func:`ambiguous_mask` holds they are
    shaded dark grey (and outlined), and the legend gives that share of the drawn box. Each
    discriminant's zero line is dashed (in its class's colour for ``ovr``/``argmax``, black
    for pairs).

    Args:
        estimator: a fitted :class:`LinearClassifier` with ``n_features_in_ == 2``.
        X: the points to draw and to size the box, array-like ``(N, 2)``.
        y: their labels (values of ``classes_``), or None to draw them uncoloured.
        ax: a matplotlib Axes; a new figure is made when None.
        resolution: grid points per axis.
        margin: box margin, as a fraction of the data's extent.
        shade_ambiguous: shade the ambiguous regions.
        boundaries: draw :math:`f_k = 0`.

    Returns:
        The matplotlib Axes.

    Raises:
        ShapeError: ``X`` is not ``(N, 2)``.
        ValidationError: the estimator was not fitted on two features, or ``y`` has labels
            outside ``classes_`` or a length other than N.
    """
    est = _check_estimator(estimator)
    if est.n_features_in_ != 2:
        raise ValidationError(
            f"decision_regions needs an estimator fitted on 2 features, got {est.n_features_in_}"
        )
    xx, yy = grid_2d(X, resolution=resolution, margin=margin)
    X = check_array(X, dtype=np.float64)
    classes = est.classes_
    y_idx = None
    if y is not None:
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ShapeError(f"y must have shape ({X.shape[0]},), got {y.shape}", ("N",), y.shape)
        y_idx = np.searchsorted(classes, y)
        if np.any(y_idx >= len(classes)) or np.any(
            classes[np.minimum(y_idx, len(classes) - 1)] != y
        ):
            raise ValidationError("y has labels that are not in estimator.classes_")

    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, to_rgb
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    points = np.column_stack([xx.ravel(), yy.ravel()])
    pred = np.searchsorted(classes, est.predict(points)).reshape(xx.shape)
    colours = [to_rgb(f"C{i % 10}") for i in range(len(classes))]
    light = ListedColormap([tuple(0.55 + 0.45 * c for c in rgb) for rgb in colours])
    extent = (xx[0, 0], xx[0, -1], yy[0, 0], yy[-1, 0])
    ax.imshow(
        pred,
        origin="lower",
        extent=extent,
        cmap=light,
        vmin=-0.5,
        vmax=len(classes) - 0.5,
        interpolation="nearest",
        aspect="auto",
    )
    handles = [Patch(color=light(i), label=str(c)) for i, c in enumerate(classes)]
    if shade_ambiguous:
        mask = ambiguous_mask(est, points).reshape(xx.shape)
        shade = np.zeros((*mask.shape, 4))
        shade[mask] = (0.2, 0.2, 0.2, 0.55)  # an RGBA overlay: cheap at any resolution
        ax.imshow(shade, origin="lower", extent=extent, interpolation="nearest", aspect="auto")
        if mask.any():
            ax.contour(xx, yy, mask.astype(float), levels=[0.5], colors=["0.1"], linewidths=0.6)
        handles.append(
            Patch(facecolor=(0.2, 0.2, 0.2, 0.55), label=f"undecided ({100 * mask.mean():.2f}%)")
        )
    if boundaries:
        F = est.discriminants(points)
        per_class = len(classes) > 2 and est.strategy in ("ovr", "argmax")
        for k in range(F.shape[1]):
            Fk = F[:, k].reshape(xx.shape)
            if Fk.min() < 0 < Fk.max():
                ax.contour(
                    xx,
                    yy,
                    Fk,
                    levels=[0.0],
                    linestyles="--",
                    linewidths=1.0,
                    colors=[colours[k] if per_class else "k"],
                )
    if y_idx is None:
        ax.scatter(X[:, 0], X[:, 1], s=10, c="k")
    else:
        ax.scatter(
            X[:, 0], X[:, 1], s=12, c=[colours[i] for i in y_idx], edgecolors="k", linewidths=0.4
        )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.8)
    return ax
