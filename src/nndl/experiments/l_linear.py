r"""L1–L2: linear discriminants, for two classes and for many.

**L1.** A linear discriminant :math:`f(x; w) = w^\top x + b` with the decision function
:math:`g(x) = +1 \iff f(x) > 0` (labels :math:`\pm 1`) splits the input space by the hyperplane
:math:`f = 0`. The experiment trains :class:`~nndl.linear.LinearClassifier` with each loss on
breast_cancer (30 standardised features; ``benign`` is :math:`+1`, ``malignant`` :math:`-1`)
under stratified k-fold cross-validation and checks, on every held-out point, that the predicted
class is :math:`+1` exactly when :math:`f(x) > 0`. On the data's first two principal components
it then locates the boundary *from the predictions alone* (grid neighbours whose predicted class
differs) and checks that it lies on the line :math:`f = 0` (within one grid step) and that each
class's region is a single connected half-plane. These are properties of every fit, so one
seeded split decides; the seed only moves the folds.

**L2.** With :math:`C` classes, one-vs-rest trains :math:`C` discriminants, one-vs-one
:math:`C(C-1)/2` (majority vote) and argmax :math:`C` jointly, predicting
:math:`\arg\max_c f_c`. Read literally, one-vs-rest leaves a point undecided where no
:math:`f_c` or several are positive, and one-vs-one where votes tie; argmax only on exact ties,
a set of measure zero. The experiment measures the undecided share of a 2-D box for each
strategy on seeded draws of two 3-class layouts (:func:`~nndl.linear.ambiguity` on a grid),
then compares the strategies' accuracy and discriminant counts with scikit-learn's
counterparts on iris and wine (and digits at full scale).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.model_selection import StratifiedKFold

from nndl.data import load_tabular
from nndl.linear import (
    LOSSES,
    STRATEGIES,
    compare_with_sklearn,
    decode_region_map,
    expected_discriminants,
    grid_2d,
    layout_ambiguity,
    pca_boundary,
    sign_agreement_cv,
)

from . import Canvas, ConfigError, Context, Verdict, as_float, register, rule


def _check_common(folds: int, losses: tuple[str, ...], what: str) -> None:
    """The checks both configs share: at least 2 folds, known losses."""
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}")
    unknown = [loss for loss in losses if loss not in LOSSES]
    if unknown:
        raise ConfigError(f"{what} must be among {', '.join(LOSSES)}, got {unknown}")


# ------------------------------------------------------------------------------------------- L1


@dataclass
class L1Config:
    """Settings of ``l1_binary_hyperplane``."""

    folds: int = 5  # stratified folds of breast_cancer (each held-out point checked per loss)
    losses: tuple[str, ...] = LOSSES  # losses of nndl.linear.LinearClassifier to train
    resolution: int = 300  # grid points per axis on which the 2-D boundary is located
    max_iter: int = 300  # solver iterations

    def __post_init__(self) -> None:
        _check_common(self.folds, self.losses, "losses")


L1_RULE = rule("l1_binary_hyperplane", "L1")


def measure_l1(cfg: L1Config, ctx: Context) -> dict[str, Any]:
    """Sign checks over the folds; the 2-D boundary's geometry on a grid."""
    data = load_tabular("breast_cancer")
    folds = StratifiedKFold(cfg.folds, shuffle=True, random_state=ctx.seed)
    splits = ctx.track(list(folds.split(data.X, data.y)), "L1 folds")
    kw = {"max_iter": cfg.max_iter, "random_state": ctx.seed}
    return {
        **sign_agreement_cv(data.X, data.y, splits, losses=cfg.losses, **kw),
        **pca_boundary(data.X, data.y, resolution=cfg.resolution, **kw),
        "target_names": list(data.target_names),
    }


def judge_l1(metrics: Mapping[str, Any], cfg: L1Config) -> list[Verdict]:
    """L1 by :data:`L1_RULE`."""
    geo = metrics["geometry"]
    mismatches, tested = int(metrics["sign_mismatches"]), int(metrics["held_out_predictions"])
    step = as_float(geo["grid_step"])
    distance = geo["max_distance_to_line"]
    regions = (int(geo["components_positive"]), int(geo["components_negative"]))
    evidence = (
        f"ŷ = +1 ⇔ f(x) > 0 on {tested - mismatches}/{tested} held-out predictions "
        f"({len(cfg.losses)} losses × {cfg.folds} folds); on a {cfg.resolution}² grid "
        f"{geo['boundary_points']} class changes lie at most "
        f"{'—' if distance is None else f'{as_float(distance):.3g}'} from f = 0 (grid step "
        f"{step:.3g}); the classes fill {regions[0]} and {regions[1]} connected region(s)."
    )
    key = f"{mismatches} sign mismatches, regions {regions[0]}+{regions[1]}"
    if mismatches > 0:
        return [Verdict("L1", "does not hold", evidence, key)]
    if distance is None:
        reason = "guard: f = 0 does not cross the drawn box, so the boundary cannot be located"
        return [Verdict("L1", "inconclusive", evidence, key, reason)]
    on_line = as_float(distance) <= L1_RULE["max_distance_in_grid_steps"] * step
    halves = regions == (L1_RULE["regions_per_class"],) * 2
    return [Verdict.from_check("L1", on_line and halves, evidence, key)]


def draw_l1(metrics: Mapping[str, Any], cfg: L1Config, canvas: Canvas) -> None:
    """Regions of the 2-D problem with f = 0; held-out f(x) by class; accuracy table."""
    plane = metrics["plane"]
    z, y = np.asarray(plane["z"]), np.asarray(plane["y"])
    w, b = np.asarray(plane["w"]), float(plane["b"])
    fig, (ax0, ax1) = canvas.subplots(1, 2, figsize=(10, 4.3))
    xx, yy = grid_2d(z, resolution=200)
    f_grid = xx * w[0] + yy * w[1] + b
    colors = ["#f4c7c3", "#c6dbef"]
    ax0.contourf(xx, yy, (f_grid > 0).astype(float), levels=[-0.5, 0.5, 1.5], colors=colors)
    ax0.contour(xx, yy, f_grid, levels=[0.0], colors="k", linestyles="--")
    ax0.scatter(z[:, 0], z[:, 1], c=y, cmap="coolwarm_r", s=6, edgecolors="none")
    plane_eq = f"f(x) = {w[0]:.2f}·z₁ + {w[1]:.2f}·z₂ + {b:.2f}"
    ax0.set_title(f"breast_cancer, 2 principal components\n{plane_eq}; dashed: f = 0", fontsize=9)
    ax0.set(xlabel="z₁ (PC 1)", ylabel="z₂ (PC 2)")
    f, yf = np.asarray(metrics["held_out_f"]), np.asarray(metrics["held_out_y"])
    bins = np.linspace(np.percentile(f, 0.5), np.percentile(f, 99.5), 50)
    for cls, name in enumerate(metrics["target_names"]):
        label = f"{name} (y = {'+1' if cls == 1 else '−1'})"
        ax1.hist(f[yf == cls], bins=bins, alpha=0.6, color=f"C{cls}", label=label)
    ax1.axvline(0.0, color="k", ls="--", lw=1)
    ax1.set(xlabel=f"f(x) on held-out points ({cfg.losses[0]} loss, 30 features)", ylabel="count")
    ax1.set_title("ŷ = +1 ⇔ f(x) > 0", fontsize=9)
    ax1.legend(fontsize=8)
    caption = (
        "Left: regions of a linear classifier on breast_cancer's first two principal components, "
        "the line f = 0 dashed. Right: held-out f(x) by true class; the prediction is +1 exactly "
        "right of 0."
    )
    canvas.save(fig, "hyperplane", caption)
    acc, ref = metrics["accuracy"], metrics["sklearn_logistic_accuracy"]
    rows = [[loss, float(np.mean(v)), float(np.std(v))] for loss, v in acc.items()]
    rows.append(["sklearn LogisticRegression (C=1)", float(np.mean(ref)), float(np.std(ref))])
    title = f"breast_cancer, stratified {cfg.folds}-fold accuracy (standardised, α = 1/N)"
    canvas.table(title, ["loss", "accuracy", "std over folds"], rows)


register("l1_binary_hyperplane", L1Config, measure=measure_l1, judge=judge_l1, draw=draw_l1)


# ------------------------------------------------------------------------------------------- L2

#: Two 3-class layouts: the textbook triangle of blobs, and a chain in which the pairwise
#: boundaries are far from meeting at one point.
LAYOUTS: dict[str, list[list[float]]] = {
    "triangle": [[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]],
    "chain": [[0.0, 0.0], [3.0, 0.0], [7.0, 1.5]],
}


@dataclass
class L2Config:
    """Settings of ``l2_ambiguous_regions``."""

    n_samples: int = 300  # points per blob draw
    cluster_std: float = 1.0  # spread of each blob
    layouts: tuple[str, ...] = ("triangle", "chain")  # names in LAYOUTS
    draws: int = 5  # seeded draws of each layout
    resolution: int = 400  # grid points per axis for the undecided share
    map_resolution: int = 150  # grid points per axis of the stored region maps (figure)
    margin: float = 0.5  # the box: the data's bounding box widened by this fraction
    loss: str = "logistic"  # loss of nndl.linear.LinearClassifier
    folds: int = 5  # stratified folds of the accuracy comparison
    datasets: tuple[str, ...] = ("iris", "wine", "digits")  # comparison with scikit-learn
    max_iter: int = 300  # solver iterations

    def __post_init__(self) -> None:
        bad = [lay for lay in self.layouts if lay not in LAYOUTS]
        if bad:
            raise ConfigError(f"layouts must be among {', '.join(LAYOUTS)}, got {bad}")
        _check_common(self.folds, (self.loss,), "loss")


L2_RULE = rule("l2_ambiguous_regions", "L2")


def measure_l2(cfg: L2Config, ctx: Context) -> dict[str, Any]:
    """Undecided shares per layout, draw and strategy; the comparison with scikit-learn."""
    kw: dict[str, Any] = {"loss": cfg.loss, "max_iter": cfg.max_iter, "margin": cfg.margin}
    draws: dict[str, list[dict[str, Any]]] = {lay: [] for lay in cfg.layouts}
    for lay, ds in draws.items():
        for d in ctx.track(range(cfg.draws), f"L2 {lay} draws"):
            seed = (ctx.seed * 1000 + d) % 2**32
            blobs = {"centers": np.array(LAYOUTS[lay]), "cluster_std": cfg.cluster_std}
            X, y = make_blobs(cfg.n_samples, random_state=seed, **blobs)
            maps = cfg.map_resolution if d == 0 else None
            ds.append(
                layout_ambiguity(
                    X, y, resolution=cfg.resolution, random_state=seed, map_resolution=maps, **kw
                )
            )
    names = ctx.track(cfg.datasets, "L2 data sets")
    kw = {"loss": cfg.loss, "folds": cfg.folds, "max_iter": cfg.max_iter}
    return {"draws": draws, "comparison": compare_with_sklearn(names, random_state=ctx.seed, **kw)}


def judge_l2(metrics: Mapping[str, Any], cfg: L2Config) -> list[Verdict]:
    """L2 by :data:`L2_RULE`."""
    draws = metrics["draws"]
    areas = {
        s: {lay: [as_float(d["area"][s]) for d in ds] for lay, ds in draws.items()}
        for s in STRATEGIES
    }
    hits = {s: {lay: sum(a > 0 for a in v) for lay, v in areas[s].items()} for s in STRATEGIES}
    counts = [
        (int(r["discriminants"]), r["strategy"], int(r["n_classes"]))
        for r in metrics["comparison"]
        if r["ours"]
    ] + [(d["discriminants"][s], s, 3) for ds in draws.values() for d in ds for s in STRATEGIES]
    counts_ok = all(k == expected_discriminants(s, c) for k, s, c in counts)
    ovr, ovo, arg = (sum(hits[s].values()) for s in STRATEGIES)
    largest = {s: max(max(v) for v in areas[s].values()) for s in STRATEGIES}
    per_strategy = "; ".join(
        f"{s}: "
        + ", ".join(f"{lay} {k}/{len(draws[lay])}" for lay, k in hits[s].items())
        + f" (largest share {100 * largest[s]:.2f}%)"
        for s in STRATEGIES
    )
    evidence = (
        f"draws with an undecided region — {per_strategy}; discriminant counts C, C(C−1)/2, C: "
        f"{'as expected' if counts_ok else 'NOT as expected'}."
    )
    key = " / ".join(f"{s} ≤{100 * largest[s]:.2f}%" for s in STRATEGIES)
    if arg > 0 or not counts_ok or ovr == 0 or ovo == 0:
        return [Verdict("L2", "does not hold", evidence, key)]
    total = sum(len(ds) for ds in draws.values())
    if ovr < total:
        reason = (
            f"one-vs-rest left an undecided region in {ovr} of {total} draws, not all; "
            "more draws or a finer grid would settle it"
        )
        return [Verdict("L2", "inconclusive", evidence, key, reason)]
    holds = ovo >= L2_RULE["ovo_min_draws_with_region"]
    return [Verdict.from_check("L2", holds, evidence, key)]


#: Colours of the region maps: one per class, grey for undecided points.
_MAP_COLOURS = np.array([[0.78, 0.86, 0.94], [0.99, 0.82, 0.64], [0.78, 0.91, 0.75]])
_MAP_UNDECIDED = np.array([0.45, 0.45, 0.45])


def _map_rgb(rows: list[str]) -> np.ndarray:
    """A stored region map as an RGB image float[H, W, 3] (grey where undecided)."""
    idx = decode_region_map(rows)
    return np.where((idx < 0)[..., None], _MAP_UNDECIDED, _MAP_COLOURS[idx % len(_MAP_COLOURS)])


def draw_l2(metrics: Mapping[str, Any], cfg: L2Config, canvas: Canvas) -> None:
    """Region maps of the first draw per layout; the two tables."""
    draws = metrics["draws"]
    size = (4.2 * len(STRATEGIES), 4.2 * len(draws))
    fig, axes = canvas.subplots(len(draws), len(STRATEGIES), squeeze=False, figsize=size)
    rows = []
    for axes_row, (layout, ds) in zip(axes, draws.items(), strict=True):
        first, m = ds[0], ds[0]["map"]
        x, y = np.asarray(m["x"]), np.asarray(m["y"])
        for ax, s in zip(axes_row, STRATEGIES, strict=True):
            rgb = _map_rgb(m["regions"][s])
            ax.imshow(rgb, origin="lower", extent=m["box"], aspect="auto", interpolation="nearest")
            ax.scatter(x[:, 0], x[:, 1], c=0.6 * _MAP_COLOURS[y], s=5, edgecolors="none")
            k, share = first["discriminants"][s], 100 * first["area"][s]
            ax.set_title(f"{layout}, {s}: {k} discriminants, {share:.2f}% undecided", fontsize=9)
            area = [as_float(d["area"][s]) for d in ds]
            points = 100 * float(np.mean([d["points"][s] for d in ds]))
            n_area = f"{sum(a > 0 for a in area)}/{len(ds)}"
            rows.append([layout, s, k, 100 * float(np.mean(area)), 100 * max(area), n_area, points])
    caption = (
        f"Regions of the three strategies ({cfg.loss} loss) on two 3-class 2-D layouts (first "
        "draw); grey: where the strategy's own rule leaves the class undecided (no or several "
        "f_c > 0 for one-vs-rest, tied votes for one-vs-one, exact ties for argmax)."
    )
    canvas.save(fig, "ambiguous_regions", caption)
    columns = ["layout", "strategy", "discriminants", "mean area %", "max area %"]
    columns += ["draws with area > 0", "undecided training points %"]
    title = f"3-class 2-D layouts: undecided share of the box, {cfg.draws} draws"
    canvas.table(title, columns, rows)
    keys = ["dataset", "model", "strategy", "discriminants", "accuracy"]
    canvas.table(
        f"Stratified {cfg.folds}-fold accuracy, standardised features (C = 1: α = 1/N, "
        "one-vs-one α = C/(2N))",
        ["data set", *keys[1:], "undecided test points % (settled by tie-break)"],
        [[r[k] for k in [*keys, "undecided_test_points_pct"]] for r in metrics["comparison"]],
    )


register("l2_ambiguous_regions", L2Config, measure=measure_l2, judge=judge_l2, draw=draw_l2)
