r"""L1–L2: linear discriminants, for two classes and for many.

**L1.** A linear discriminant :math:`f(x; w) = w^\top x + b` with the decision function
:math:`g(x) = +1 \iff f(x) > 0` (labels :math:`\pm 1`) splits the input space by the hyperplane
:math:`f = 0`. The experiment trains :class:`~nndl.linear.LinearClassifier` with each loss on
breast_cancer (30 standardised features; ``benign`` is :math:`+1`, ``malignant`` :math:`-1`)
under stratified k-fold cross-validation and checks, on every held-out point, that the predicted
class is :math:`+1` exactly when :math:`f(x) > 0`. On the data's first two principal components
it then locates the boundary *from the predictions alone* (grid neighbours whose predicted class
differs) and checks that it lies on the line :math:`f = 0` (within one grid step) and that each
class's region is a single connected half-plane.

**L2.** With :math:`C` classes, one-vs-rest trains :math:`C` discriminants, one-vs-one
:math:`C(C-1)/2` (majority vote) and argmax :math:`C` jointly, predicting
:math:`\arg\max_c f_c`. Read literally, one-vs-rest leaves a point undecided where no
:math:`f_c` or several are positive, and one-vs-one where votes tie; argmax only on exact ties.
The experiment measures the undecided share of a 2-D box for each strategy on a 3-class data
set (:func:`~nndl.linear.ambiguity` on a grid), then compares the strategies' accuracy and
discriminant counts with scikit-learn's counterparts on iris, wine and digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
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
    decision_regions,
    grid_2d,
)

from .context import Context
from .registry import register
from .result import Result, Table, Verdict

# ------------------------------------------------------------------------------------------- L1


@dataclass
class L1Config:
    folds: int = 5
    losses: tuple[str, ...] = LOSSES
    resolution: int = 300
    max_iter: int = 300


def _boundary_check(clf: LinearClassifier, Z: np.ndarray, resolution: int) -> dict[str, float]:
    """Where the predicted class changes on a grid, and how far that is from ``f = 0``."""
    from scipy import ndimage

    xx, yy = grid_2d(Z, resolution=resolution)
    points = np.column_stack([xx.ravel(), yy.ravel()])
    positive = (clf.predict(points) == clf.classes_[1]).reshape(xx.shape)
    # midpoints of horizontally / vertically adjacent grid points with different predictions
    mids = []
    for axis in (0, 1):
        a = [slice(None), slice(None)]
        b = [slice(None), slice(None)]
        a[axis], b[axis] = slice(0, -1), slice(1, None)
        change = positive[tuple(a)] != positive[tuple(b)]
        mx = 0.5 * (xx[tuple(a)] + xx[tuple(b)])[change]
        my = 0.5 * (yy[tuple(a)] + yy[tuple(b)])[change]
        mids.append(np.column_stack([mx, my]))
    mids = np.concatenate(mids)
    w, b0 = clf.coef_[0], clf.intercept_[0]
    dist = np.abs(mids @ w + b0) / np.linalg.norm(w)
    step = max(xx[0, 1] - xx[0, 0], yy[1, 0] - yy[0, 0])
    components = [int(ndimage.label(region)[1]) for region in (positive, ~positive)]
    return {
        "boundary_points": len(mids),
        "max_distance_to_line": float(dist.max()) if len(dist) else float("inf"),
        "grid_step": float(step),
        "components_positive": components[0],
        "components_negative": components[1],
    }


@register(
    "l1_binary_hyperplane",
    claims=("L1",),
    title="Two classes: ŷ = +1 exactly where f(x) = wᵀx + b > 0, and the boundary is a hyperplane",
    config=L1Config,
    presets={
        "tiny": {"folds": 2, "losses": ("logistic", "squared"), "resolution": 60},
        "quick": {"folds": 3},
        "full": {"folds": 10, "resolution": 600, "max_iter": 1000},
    },
)
def run_l1(cfg: L1Config, ctx: Context) -> Result:
    data = load_tabular("breast_cancer")
    X, y = data.X, data.y
    folds = StratifiedKFold(cfg.folds, shuffle=True, random_state=ctx.seed)
    acc: dict[str, list[float]] = {loss: [] for loss in cfg.losses}
    ref_acc: list[float] = []
    mismatches, tested = 0, 0
    held_out_f: list[np.ndarray] = []
    held_out_y: list[np.ndarray] = []
    for train, test in ctx.track(list(folds.split(X, y)), "L1 folds"):
        scaler = StandardScaler().fit(X[train])
        X_tr, X_te = scaler.transform(X[train]), scaler.transform(X[test])
        alpha = 1.0 / len(train)  # the objective of scikit-learn's C = 1
        for loss in cfg.losses:
            clf = LinearClassifier(
                loss, alpha=alpha, max_iter=cfg.max_iter, random_state=ctx.seed
            ).fit(X_tr, y[train])
            f = clf.decision_function(X_te)
            pred = clf.predict(X_te)
            mismatches += int(np.sum((f > 0) != (pred == clf.classes_[1])))
            tested += len(test)
            acc[loss].append(float(np.mean(pred == y[test])))
            if loss == "logistic":
                held_out_f.append(f)
                held_out_y.append(y[test])
        ref = LogisticRegression(C=1.0, max_iter=1000).fit(X_tr, y[train])
        ref_acc.append(float(ref.score(X_te, y[test])))

    Z = PCA(2, random_state=ctx.seed).fit_transform(StandardScaler().fit_transform(X))
    clf2 = LinearClassifier("logistic", alpha=1.0 / len(Z), max_iter=cfg.max_iter).fit(Z, y)
    geometry = _boundary_check(clf2, Z, cfg.resolution)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.3))
    decision_regions(clf2, Z, y, ax=ax0, resolution=cfg.resolution, shade_ambiguous=False)
    w, b = clf2.coef_[0], clf2.intercept_[0]
    ax0.set_title(
        f"breast_cancer, 2 principal components\nf(x) = {w[0]:.2f}·z₁ + {w[1]:.2f}·z₂ "
        f"+ {b:.2f}; dashed: f = 0",
        fontsize=9,
    )
    ax0.set_xlabel("z₁ (PC 1)")
    ax0.set_ylabel("z₂ (PC 2)")
    f_all, y_all = np.concatenate(held_out_f), np.concatenate(held_out_y)
    if len(f_all):
        bins = np.linspace(np.percentile(f_all, 0.5), np.percentile(f_all, 99.5), 50)
        for cls, name in enumerate(data.target_names):
            sign = "+1" if cls == 1 else "−1"
            ax1.hist(
                f_all[y_all == cls],
                bins=bins,
                alpha=0.6,
                color=f"C{cls}",
                label=f"{name} (y = {sign})",
            )
        ax1.axvline(0.0, color="k", ls="--", lw=1)
        ax1.set_xlabel("f(x) on held-out points (logistic loss, 30 features)")
        ax1.set_ylabel("count")
        ax1.set_title("ŷ = +1 ⇔ f(x) > 0", fontsize=9)
        ax1.legend(fontsize=8)
    ctx.save_figure(
        fig,
        "hyperplane",
        "Left: regions of a logistic linear classifier on breast_cancer's first two principal "
        "components, the line f = 0 dashed. Right: held-out f(x) by true class; the prediction "
        "is +1 exactly right of 0.",
    )

    mean_acc = {loss: float(np.mean(v)) for loss, v in acc.items()}
    ref_mean = float(np.mean(ref_acc))
    on_line = geometry["max_distance_to_line"] <= geometry["grid_step"]
    halves = geometry["components_positive"] == 1 and geometry["components_negative"] == 1
    holds = mismatches == 0 and on_line and halves
    best = max(mean_acc, key=mean_acc.get)
    evidence = (
        f"ŷ = +1 ⇔ f(x) > 0 on {tested - mismatches}/{tested} held-out predictions "
        f"({len(cfg.losses)} losses × {cfg.folds} folds); on a {cfg.resolution}² grid the "
        f"{geometry['boundary_points']} class changes lie at most "
        f"{geometry['max_distance_to_line']:.3g} from the line f = 0 (grid step "
        f"{geometry['grid_step']:.3g}), and each class fills {geometry['components_positive']} "
        f"and {geometry['components_negative']} connected region(s); held-out accuracy "
        f"{mean_acc.get('logistic', mean_acc[best]):.3f} (logistic) vs scikit-learn's "
        f"LogisticRegression {ref_mean:.3f}."
    )
    rows = [[loss, mean_acc[loss], float(np.std(acc[loss]))] for loss in cfg.losses]
    rows.append(["sklearn LogisticRegression (C=1)", ref_mean, float(np.std(ref_acc))])
    return Result(
        metrics={
            "held_out_predictions": tested,
            "sign_mismatches": mismatches,
            "accuracy": mean_acc,
            "sklearn_logistic_accuracy": ref_mean,
            "geometry": geometry,
        },
        verdicts=[
            Verdict.from_check(
                "L1", holds, evidence, key=f"{mismatches} sign mismatches, boundary on f = 0"
            )
        ],
        tables=[
            Table(
                f"breast_cancer, stratified {cfg.folds}-fold accuracy (standardised, α = 1/N)",
                ["loss", "accuracy", "std over folds"],
                rows,
            )
        ],
        notes="A single linear discriminant reduces classification to the sign of one number; "
        "its zero set is a hyperplane, so each class gets one half-space. How well that fits "
        "depends on the data, not on the loss: all five losses land within a point or two.",
    )


# ------------------------------------------------------------------------------------------- L2

#: Two 3-class layouts: the textbook triangle of blobs, and a chain in which the pairwise
#: boundaries are far from meeting at one point.
LAYOUTS: dict[str, list[list[float]]] = {
    "triangle": [[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]],
    "chain": [[0.0, 0.0], [3.0, 0.0], [7.0, 1.5]],
}


@dataclass
class L2Config:
    n_samples: int = 300
    cluster_std: float = 1.0
    layouts: tuple[str, ...] = ("triangle", "chain")
    draws: int = 5
    resolution: int = 400
    margin: float = 0.5
    loss: str = "logistic"
    folds: int = 5
    datasets: tuple[str, ...] = ("iris", "wine", "digits")
    max_iter: int = 300


def _n_discriminants(model: object) -> int:
    """How many linear discriminants a fitted scikit-learn or nndl classifier uses."""
    if isinstance(model, LinearClassifier):
        return int(model.n_discriminants_)
    if isinstance(model, OneVsOneClassifier | OneVsRestClassifier):
        return len(model.estimators_)
    return int(model.coef_.shape[0])


def _models(cfg: L2Config, seed: int) -> list[tuple[str, str, object]]:
    ours = [
        (
            f"nndl LinearClassifier({cfg.loss})",
            s,
            LinearClassifier(cfg.loss, s, max_iter=cfg.max_iter, random_state=seed),
        )
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


def _regions(cfg: L2Config, ctx: Context) -> tuple[dict, dict, dict]:
    """Undecided share of the box per layout, strategy and draw; the figure of draw 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(cfg.layouts),
        len(STRATEGIES),
        squeeze=False,
        figsize=(4.4 * len(STRATEGIES), 4.4 * len(cfg.layouts)),
    )
    area = {lay: {s: [] for s in STRATEGIES} for lay in cfg.layouts}
    points = {lay: {s: [] for s in STRATEGIES} for lay in cfg.layouts}
    counts: dict[str, int] = {}
    for row, layout in enumerate(cfg.layouts):
        for draw in range(cfg.draws):
            X, y = make_blobs(
                cfg.n_samples,
                centers=np.array(LAYOUTS[layout]),
                cluster_std=cfg.cluster_std,
                random_state=ctx.seed + draw,
            )
            xx, yy = grid_2d(X, resolution=cfg.resolution, margin=cfg.margin)
            grid = np.column_stack([xx.ravel(), yy.ravel()])
            for col, strategy in enumerate(STRATEGIES):
                clf = LinearClassifier(
                    cfg.loss,
                    strategy,
                    alpha=1.0 / len(X),
                    max_iter=cfg.max_iter,
                    random_state=ctx.seed,
                ).fit(X, y)
                area[layout][strategy].append(ambiguity(clf, grid))
                points[layout][strategy].append(ambiguity(clf, X))
                counts[strategy] = int(clf.n_discriminants_)
                if draw == 0:
                    ax = axes[row, col]
                    decision_regions(clf, X, y, ax=ax, resolution=cfg.resolution, margin=cfg.margin)
                    ax.set_title(
                        f"{layout}, {strategy}: {clf.n_discriminants_} discriminants, "
                        f"{100 * area[layout][strategy][0]:.2f}% undecided",
                        fontsize=9,
                    )
    ctx.save_figure(
        fig,
        "ambiguous_regions",
        f"Regions of the three strategies ({cfg.loss} loss) on two 3-class 2-D layouts (first "
        "draw); dark grey: where the strategy's own rule leaves the class undecided (no or "
        "several f_c > 0 for one-vs-rest, tied votes for one-vs-one, exact ties for argmax), "
        "as a share of the box drawn. Dashed: f_k = 0.",
    )
    return area, points, counts


def _comparison(cfg: L2Config, ctx: Context) -> tuple[list[list], bool]:
    """Cross-validated accuracy and discriminant counts, ours and scikit-learn's."""
    from threadpoolctl import threadpool_limits

    rows, counts_ok = [], True
    with threadpool_limits(limits=1, user_api="blas"):  # scikit-learn's solvers on 1 thread
        for name in ctx.track(cfg.datasets, "L2 data sets"):
            data = load_tabular(name)
            X, y = data.X, data.y
            n_classes = len(np.unique(y))
            folds = list(
                StratifiedKFold(cfg.folds, shuffle=True, random_state=ctx.seed).split(X, y)
            )
            for label, strategy, proto in _models(cfg, ctx.seed):
                accs, amb, k = [], [], 0
                for train, test in folds:
                    scaler = StandardScaler().fit(X[train])
                    X_tr, X_te = scaler.transform(X[train]), scaler.transform(X[test])
                    model = clone(proto)
                    if isinstance(model, LinearClassifier):
                        # scikit-learn's C = 1: alpha = 1/N, or 1/N_k = C/(2N) on average for
                        # the one-vs-one pairs, which scikit-learn penalises pair by pair
                        n_fit = len(train) if strategy != "ovo" else 2 * len(train) / n_classes
                        model.set_params(alpha=1.0 / n_fit)
                    model.fit(X_tr, y[train])
                    accs.append(float(model.score(X_te, y[test])))
                    k = _n_discriminants(model)
                    if isinstance(model, LinearClassifier):
                        amb.append(ambiguity(model, X_te))
                if isinstance(proto, LinearClassifier):
                    want = {
                        "ovr": n_classes,
                        "ovo": n_classes * (n_classes - 1) // 2,
                        "argmax": n_classes,
                    }[strategy]
                    counts_ok &= k == want
                rows.append(
                    [
                        name,
                        label,
                        strategy,
                        k,
                        float(np.mean(accs)),
                        100 * float(np.mean(amb)) if amb else None,
                    ]
                )
    return rows, counts_ok


@register(
    "l2_ambiguous_regions",
    claims=("L2",),
    title="One-vs-rest and one-vs-one leave undecided regions; argmax leaves none",
    config=L2Config,
    presets={
        "tiny": {"resolution": 60, "folds": 2, "datasets": ("iris",), "n_samples": 120, "draws": 1},
        "quick": {"folds": 3, "draws": 4, "resolution": 300},
        "full": {"resolution": 800, "folds": 10, "draws": 20},
    },
)
def run_l2(cfg: L2Config, ctx: Context) -> Result:
    area, points, counts_2d = _regions(cfg, ctx)
    rows, counts_ok = _comparison(cfg, ctx)

    def nonzero(layout: str, strategy: str) -> int:
        return int(np.sum(np.asarray(area[layout][strategy]) > 0))

    # criterion: one-vs-rest leaves an undecided region in every draw, one-vs-one in at least
    # one (the claim is that such regions exist), argmax in none; counts C, C(C-1)/2, C
    ovr_always = all(nonzero(lay, "ovr") == cfg.draws for lay in cfg.layouts)
    ovo_somewhere = any(nonzero(lay, "ovo") > 0 for lay in cfg.layouts)
    argmax_never = all(nonzero(lay, "argmax") == 0 for lay in cfg.layouts)
    holds = ovr_always and ovo_somewhere and argmax_never and counts_ok
    mean_area = {lay: {s: float(np.mean(v)) for s, v in d.items()} for lay, d in area.items()}

    def summary(strategy: str) -> str:
        return ", ".join(
            f"{lay} {100 * mean_area[lay][strategy]:.2f}% (max "
            f"{100 * max(area[lay][strategy]):.2f}%, non-zero in "
            f"{nonzero(lay, strategy)}/{cfg.draws})"
            for lay in cfg.layouts
        )

    evidence = (
        f"mean undecided share of the box over {cfg.draws} draws ({cfg.resolution}² grid): "
        f"one-vs-rest {summary('ovr')}; one-vs-one {summary('ovo')}; argmax {summary('argmax')}. "
        "Criterion: one-vs-rest leaves some in every draw, one-vs-one in at least one, argmax "
        f"in none; discriminant counts C, C(C−1)/2, C on {', '.join(cfg.datasets)}: "
        f"{'all as expected' if counts_ok else 'NOT as expected'}."
    )
    key = " / ".join(
        f"{s} ≤{100 * max(max(area[lay][s]) for lay in cfg.layouts):.2f}%" for s in STRATEGIES
    )
    return Result(
        metrics={
            "ambiguous_area": {
                lay: {s: [float(a) for a in v] for s, v in d.items()} for lay, d in area.items()
            },
            "ambiguous_area_mean": mean_area,
            "ambiguous_training_points_mean": {
                lay: {s: float(np.mean(v)) for s, v in d.items()} for lay, d in points.items()
            },
            "discriminants_2d": counts_2d,
            "comparison": [
                dict(
                    zip(
                        [
                            "dataset",
                            "model",
                            "strategy",
                            "discriminants",
                            "accuracy",
                            "ambiguous_test_points_pct",
                        ],
                        r,
                        strict=True,
                    )
                )
                for r in rows
            ],
        },
        verdicts=[Verdict.from_check("L2", holds, evidence, key=key)],
        tables=[
            Table(
                f"3-class 2-D layouts: undecided share of the box, {cfg.draws} draws",
                [
                    "layout",
                    "strategy",
                    "discriminants",
                    "mean area %",
                    "max area %",
                    "draws with area > 0",
                    "undecided training points %",
                ],
                [
                    [
                        lay,
                        s,
                        counts_2d[s],
                        100 * mean_area[lay][s],
                        100 * max(area[lay][s]),
                        f"{nonzero(lay, s)}/{cfg.draws}",
                        100 * float(np.mean(points[lay][s])),
                    ]
                    for lay in cfg.layouts
                    for s in STRATEGIES
                ],
            ),
            Table(
                f"Stratified {cfg.folds}-fold accuracy, standardised features (C = 1: α = 1/N, "
                "one-vs-one α = C/(2N))",
                [
                    "data set",
                    "model",
                    "strategy",
                    "discriminants",
                    "accuracy",
                    "undecided test points % (settled by tie-break)",
                ],
                rows,
            ),
        ],
        notes="Independent discriminants need not agree, so their literal rules leave gaps and "
        "overlaps; argmax compares all C scores at once and is undecided only on exact ties. "
        "One-vs-rest leaves large gaps; the one-vs-one tie region (each class wins one duel) "
        "is small, and when the pairwise boundaries nearly meet at one point (the symmetric "
        "triangle) it shrinks below the grid or leaves the box. Implementations, ours and "
        "scikit-learn's, settle both by a tie-break (largest f_c, or summed confidence), which "
        "is why accuracy barely suffers.",
    )
