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
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Perceptron
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsOneClassifier, OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from nndl.data import load_tabular
from nndl.linear import (
    LOSSES,
    STRATEGIES,
    LinearClassifier,
    ambiguity,
    boundary_geometry,
    cross_validate_linear,
    grid_2d,
    region_labels,
)

from .config import ConfigError
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

# ------------------------------------------------------------------------------------------- L1


@dataclass
class L1Config:
    """Settings of ``l1_binary_hyperplane``."""

    folds: int = 5  # stratified folds of breast_cancer (each held-out point checked per loss)
    losses: tuple[str, ...] = LOSSES  # losses of nndl.linear.LinearClassifier to train
    resolution: int = 300  # grid points per axis on which the 2-D boundary is located
    max_iter: int = 300  # solver iterations

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2, got {self.folds}")
        unknown = [loss for loss in self.losses if loss not in LOSSES]
        if unknown:
            raise ConfigError(f"losses must be among {', '.join(LOSSES)}, got {unknown}")


L1_RULE = Rule(
    claim="L1",
    statistic="(a) on every held-out point of a stratified k-fold split of breast_cancer, for "
    "every loss: whether ŷ = +1 exactly when f(x) > 0; (b) on the first two principal "
    "components: the largest distance from a change of predicted class between grid neighbours "
    "to the line f = 0, and the number of connected regions of each class on the grid",
    holds="no sign mismatch, every class change lies within one grid step of f = 0, and each "
    "class fills exactly one connected region",
    does_not_hold="any sign mismatch, a class change farther than one grid step from f = 0, or "
    "a class split into several regions",
    inconclusive="guard: the line f = 0 does not cross the drawn box (no class change on the "
    "grid), so the geometry cannot be checked",
    seeds="1 seeded split (the checks are exact properties of each fit)",
    rationale="ŷ = sign f is a deterministic rule, so any single mismatch refutes it; the grid "
    "can place a boundary only to within one step",
    params={"max_distance_in_grid_steps": 1.0, "regions_per_class": 1},
)


def _l1_folds(cfg: L1Config, ctx: Context, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Sign checks and held-out accuracy per loss over the folds, and scikit-learn's LR."""
    folds = StratifiedKFold(cfg.folds, shuffle=True, random_state=ctx.seed)
    acc: dict[str, list[float]] = {loss: [] for loss in cfg.losses}
    ref_acc: list[float] = []
    mismatches, tested = 0, 0
    f_logistic, y_logistic = [], []
    for train, test in ctx.track(list(folds.split(X, y)), "L1 folds"):
        scaler = StandardScaler().fit(X[train])
        X_tr, X_te = scaler.transform(X[train]), scaler.transform(X[test])
        for loss in cfg.losses:  # alpha = 1/N: the objective of scikit-learn's C = 1
            clf = LinearClassifier(
                loss, alpha=1.0 / len(train), max_iter=cfg.max_iter, random_state=ctx.seed
            ).fit(X_tr, y[train])
            f, pred = clf.decision_function(X_te), clf.predict(X_te)
            mismatches += int(np.sum((f > 0) != (pred == clf.classes_[1])))
            tested += len(test)
            acc[loss].append(float(np.mean(pred == y[test])))
            if loss == cfg.losses[0]:
                f_logistic += f.tolist()
                y_logistic += y[test].tolist()
        ref = LogisticRegression(C=1.0, max_iter=1000).fit(X_tr, y[train])
        ref_acc.append(float(ref.score(X_te, y[test])))
    return {
        "held_out_predictions": tested,
        "sign_mismatches": mismatches,
        "accuracy": acc,
        "sklearn_logistic_accuracy": ref_acc,
        "held_out_f": [round(v, 4) for v in f_logistic],
        "held_out_y": y_logistic,
    }


def measure_l1(cfg: L1Config, ctx: Context) -> dict[str, Any]:
    """Sign checks over the folds; the 2-D boundary's geometry on a grid."""
    data = load_tabular("breast_cancer")
    X, y = data.X, data.y
    metrics = _l1_folds(cfg, ctx, X, y)
    Z = PCA(2, random_state=ctx.seed).fit_transform(StandardScaler().fit_transform(X))
    clf = LinearClassifier("logistic", alpha=1.0 / len(Z), max_iter=cfg.max_iter).fit(Z, y)
    metrics["geometry"] = boundary_geometry(clf, Z, resolution=cfg.resolution)
    metrics["plane"] = {
        "w": clf.coef_[0].tolist(),
        "b": float(clf.intercept_[0]),
        "z": np.round(Z, 4).tolist(),
        "y": y.tolist(),
        "positive_class": int(clf.classes_[1]),
    }
    metrics["target_names"] = list(data.target_names)
    return metrics


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
    canvas.save(fig, "hyperplane", "Left: regions of a linear classifier on breast_cancer's first "
                "two principal components, the line f = 0 dashed. Right: held-out f(x) by true "
                "class; the prediction is +1 exactly right of 0.")  # fmt: skip
    acc, ref = metrics["accuracy"], metrics["sklearn_logistic_accuracy"]
    rows = [[loss, float(np.mean(v)), float(np.std(v))] for loss, v in acc.items()]
    rows.append(["sklearn LogisticRegression (C=1)", float(np.mean(ref)), float(np.std(ref))])
    title = f"breast_cancer, stratified {cfg.folds}-fold accuracy (standardised, α = 1/N)"
    canvas.table(title, ["loss", "accuracy", "std over folds"], rows)


register(
    "l1_binary_hyperplane",
    title="Two classes: ŷ = +1 exactly where f(x) = wᵀx + b > 0, and the boundary is a hyperplane",
    config=L1Config,
    presets={
        "tiny": {"folds": 2, "losses": ("logistic", "squared"), "resolution": 60},
        "quick": {"folds": 3},
        "full": {"folds": 10, "resolution": 600, "max_iter": 1000},
    },
    rules=(L1_RULE,),
    measure=measure_l1,
    judge=judge_l1,
    draw=draw_l1,
    notes="A single linear discriminant reduces classification to the sign of one number; its "
    "zero set is a hyperplane, so each class gets one half-space. How well that fits depends on "
    "the data, not on the loss: all five losses land within a point or two.",
)


# ------------------------------------------------------------------------------------------- L2

#: Two 3-class layouts: the textbook triangle of blobs, and a chain in which the pairwise
#: boundaries are far from meeting at one point.
LAYOUTS: dict[str, list[list[float]]] = {
    "triangle": [[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]],
    "chain": [[0.0, 0.0], [3.0, 0.0], [7.0, 1.5]],
}

#: Characters of the stored region maps: class 0, 1, 2 … and ``*`` for undecided.
_UNDECIDED = "*"


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
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2, got {self.folds}")


L2_RULE = Rule(
    claim="L2",
    statistic="the undecided share of a 2-D box (grid) per strategy in every seeded draw of "
    "each 3-class layout, and the number of discriminants each strategy fits on the tabular "
    "data sets",
    holds="one-vs-rest leaves an undecided region in every draw, one-vs-one in at least one "
    "draw, argmax in none, and the counts are C, C(C−1)/2 and C",
    does_not_hold="argmax leaves an undecided region in some draw, a count differs, or "
    "one-vs-rest or one-vs-one leave none in any draw",
    inconclusive="one-vs-rest leaves a region in some draws but not in all (a finer grid or "
    "more draws would settle it)",
    seeds="draws per layout (4 at quick, 20 at full)",
    rationale="the claim is one of existence for one-vs-rest / one-vs-one (such regions appear) "
    "and of absence for argmax (ties have measure zero), so counts of draws decide",
    params={"ovo_min_draws_with_region": 1},
)


def _region_map(clf: LinearClassifier, xx: np.ndarray, yy: np.ndarray) -> list[str]:
    """One string per grid row: the predicted class index per point, ``*`` where undecided."""
    labels = region_labels(clf, np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    return ["".join(_UNDECIDED if v < 0 else str(v) for v in row) for row in labels]


def _layout_draw(cfg: L2Config, layout: str, seed: int, keep_map: bool) -> dict[str, Any]:
    """Undecided share per strategy on one seeded draw (and the region maps if asked)."""
    centers = np.array(LAYOUTS[layout])
    X, y = make_blobs(
        cfg.n_samples, centers=centers, cluster_std=cfg.cluster_std, random_state=seed
    )
    xx, yy = grid_2d(X, resolution=cfg.resolution, margin=cfg.margin)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    out: dict[str, Any] = {"area": {}, "points": {}, "discriminants": {}}
    if keep_map:
        mx, my = grid_2d(X, resolution=cfg.map_resolution, margin=cfg.margin)
        box = [float(mx.min()), float(mx.max()), float(my.min()), float(my.max())]
        out["map"] = {"box": box, "x": np.round(X, 3).tolist(), "y": y.tolist(), "regions": {}}
    for strategy in STRATEGIES:
        clf = LinearClassifier(
            cfg.loss, strategy, alpha=1.0 / len(X), max_iter=cfg.max_iter, random_state=seed
        ).fit(X, y)
        out["area"][strategy] = ambiguity(clf, grid)
        out["points"][strategy] = ambiguity(clf, X)
        out["discriminants"][strategy] = int(clf.n_discriminants_)
        if keep_map:
            out["map"]["regions"][strategy] = _region_map(clf, mx, my)
    return out


def _models(cfg: L2Config, seed: int) -> list[tuple[str, str, Any]]:
    """(name, strategy, unfitted model): ours per strategy, then scikit-learn's at C = 1."""
    name = f"nndl LinearClassifier({cfg.loss})"
    ours = [
        (name, s, LinearClassifier(cfg.loss, s, max_iter=cfg.max_iter, random_state=seed))
        for s in STRATEGIES
    ]
    lr = LogisticRegression(C=1.0, max_iter=1000)
    return [
        *ours,
        ("sklearn LogisticRegression", "argmax (multinomial)", lr),
        ("sklearn OneVsRestClassifier(LR)", "ovr", OneVsRestClassifier(lr)),
        ("sklearn OneVsOneClassifier(LR)", "ovo", OneVsOneClassifier(lr)),
        ("sklearn LinearSVC", "ovr", LinearSVC(C=1.0, max_iter=5000)),
        ("sklearn Perceptron", "ovr", Perceptron(random_state=seed)),
    ]


def _comparison(cfg: L2Config, ctx: Context) -> list[dict[str, Any]]:
    """Cross-validated accuracy and discriminant counts, ours and scikit-learn's."""
    from threadpoolctl import threadpool_limits

    rows = []
    with threadpool_limits(limits=1, user_api="blas"):  # scikit-learn's solvers on 1 thread
        for name in ctx.track(cfg.datasets, "L2 data sets"):
            data = load_tabular(name)
            splitter = StratifiedKFold(cfg.folds, shuffle=True, random_state=ctx.seed)
            folds = list(splitter.split(data.X, data.y))
            n_classes = len(np.unique(data.y))
            for label, strategy, proto in _models(cfg, ctx.seed):
                row: dict[str, Any] = {"dataset": name, "model": label, "strategy": strategy}
                row |= {"n_classes": n_classes, "ours": isinstance(proto, LinearClassifier)}
                rows.append(row | cross_validate_linear(proto, data.X, data.y, folds))
    return rows


def measure_l2(cfg: L2Config, ctx: Context) -> dict[str, Any]:
    """Undecided shares per layout, draw and strategy; the comparison with scikit-learn."""
    draws = {
        lay: [
            _layout_draw(cfg, lay, (ctx.seed * 1000 + d) % 2**32, keep_map=d == 0)
            for d in ctx.track(range(cfg.draws), f"L2 {lay} draws")
        ]
        for lay in cfg.layouts
    }
    return {"draws": draws, "comparison": _comparison(cfg, ctx)}


def expected_discriminants(strategy: str, n_classes: int) -> int:
    """C for one-vs-rest and argmax, C(C−1)/2 for one-vs-one."""
    return n_classes * (n_classes - 1) // 2 if strategy == "ovo" else n_classes


def judge_l2(metrics: Mapping[str, Any], cfg: L2Config) -> list[Verdict]:
    """L2 by :data:`L2_RULE`."""
    draws = metrics["draws"]
    nonzero = {
        s: {lay: sum(as_float(d["area"][s]) > 0 for d in ds) for lay, ds in draws.items()}
        for s in STRATEGIES
    }
    n = {lay: len(ds) for lay, ds in draws.items()}
    total = sum(n.values())
    counts = [
        (int(r["discriminants"]), r["strategy"], int(r["n_classes"]))
        for r in metrics["comparison"]
        if r["ours"]
    ] + [(d["discriminants"][s], s, 3) for ds in draws.values() for d in ds for s in STRATEGIES]
    counts_ok = all(k == expected_discriminants(s, c) for k, s, c in counts)
    ovr, ovo, arg = (sum(nonzero[s].values()) for s in ("ovr", "ovo", "argmax"))
    largest = {
        s: max(as_float(d["area"][s]) for ds in draws.values() for d in ds) for s in STRATEGIES
    }
    per_strategy = "; ".join(
        f"{s}: "
        + ", ".join(f"{lay} {k}/{n[lay]}" for lay, k in nonzero[s].items())
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
    chars = np.array([list(row) for row in rows])
    rgb = np.empty((*chars.shape, 3))
    undecided = chars == _UNDECIDED
    rgb[undecided] = _MAP_UNDECIDED
    idx = np.where(undecided, "0", chars).astype(int) % len(_MAP_COLOURS)
    rgb[~undecided] = _MAP_COLOURS[idx[~undecided]]
    return rgb


def draw_l2(metrics: Mapping[str, Any], cfg: L2Config, canvas: Canvas) -> None:
    """Region maps of the first draw per layout; the two tables."""
    draws = metrics["draws"]
    size = (4.2 * len(STRATEGIES), 4.2 * len(draws))
    fig, axes = canvas.subplots(len(draws), len(STRATEGIES), squeeze=False, figsize=size)
    for row, (layout, ds) in enumerate(draws.items()):
        first, m = ds[0], ds[0]["map"]
        x, y = np.asarray(m["x"]), np.asarray(m["y"])
        for ax, s in zip(axes[row], STRATEGIES, strict=True):
            ax.imshow(_map_rgb(m["regions"][s]), origin="lower", extent=m["box"], aspect="auto",
                      interpolation="nearest")  # fmt: skip
            ax.scatter(x[:, 0], x[:, 1], c=0.6 * _MAP_COLOURS[y], s=5, edgecolors="none")
            ax.set_title(f"{layout}, {s}: {first['discriminants'][s]} discriminants, "
                         f"{100 * first['area'][s]:.2f}% undecided", fontsize=9)  # fmt: skip
    canvas.save(fig, "ambiguous_regions", f"Regions of the three strategies ({cfg.loss} loss) on "
                "two 3-class 2-D layouts (first draw); grey: where the strategy's own rule leaves "
                "the class undecided (no or several f_c > 0 for one-vs-rest, tied votes for "
                "one-vs-one, exact ties for argmax).")  # fmt: skip
    _l2_tables(metrics, cfg, canvas)


def _l2_tables(metrics: Mapping[str, Any], cfg: L2Config, canvas: Canvas) -> None:
    """The undecided-share table per layout and strategy, and the accuracy comparison."""
    draws = metrics["draws"]
    rows = []
    for layout, ds in draws.items():
        for s in STRATEGIES:
            area = [as_float(d["area"][s]) for d in ds]
            shares = [100 * float(np.mean(area)), 100 * max(area)]
            n_area = f"{sum(a > 0 for a in area)}/{len(ds)}"
            points = 100 * float(np.mean([d["points"][s] for d in ds]))
            rows.append([layout, s, ds[0]["discriminants"][s], *shares, n_area, points])
    columns = ["layout", "strategy", "discriminants", "mean area %", "max area %",
               "draws with area > 0", "undecided training points %"]  # fmt: skip
    canvas.table(f"3-class 2-D layouts: undecided share of the box, {cfg.draws} draws", columns,
                 rows)  # fmt: skip
    keys = ["dataset", "model", "strategy", "discriminants", "accuracy",
            "undecided_test_points_pct"]  # fmt: skip
    canvas.table(
        f"Stratified {cfg.folds}-fold accuracy, standardised features (C = 1: α = 1/N, "
        "one-vs-one α = C/(2N))",
        ["data set", *keys[1:-1], "undecided test points % (settled by tie-break)"],
        [[r[k] for k in keys] for r in metrics["comparison"]],
    )


register(
    "l2_ambiguous_regions",
    title="One-vs-rest and one-vs-one leave undecided regions; argmax leaves none",
    config=L2Config,
    presets={
        "tiny": {"resolution": 60, "map_resolution": 40, "folds": 2, "datasets": ("iris",),
                 "n_samples": 120, "draws": 1},
        "quick": {"folds": 3, "draws": 4, "resolution": 300, "datasets": ("iris", "wine")},
        "full": {"resolution": 800, "folds": 10, "draws": 20},
    },
    rules=(L2_RULE,),
    measure=measure_l2,
    judge=judge_l2,
    draw=draw_l2,
    notes="Independent discriminants need not agree, so their literal rules leave gaps and "
    "overlaps; argmax compares all C scores at once and is undecided only on exact ties. "
    "One-vs-rest leaves large gaps; the one-vs-one tie region (each class wins one duel) is "
    "small, and when the pairwise boundaries nearly meet at one point (the symmetric triangle) it "
    "shrinks below the grid or leaves the box. Implementations, ours and scikit-learn's, settle "
    "both by a tie-break (largest f_c, or summed confidence), which is why accuracy barely "
    "suffers.",
)  # fmt: skip
