r"""G4: large initial weights make the gradient grow geometrically toward the input.

Every layer toward the input multiplies the error signal by :math:`W^\top \operatorname{diag}
\sigma'(z)`, of typical gain :math:`g = \text{std}(w)\sqrt{n}\,\sqrt{E[\sigma'(z)^2]}`: with
:math:`g < 1` the gradient vanishes with depth (G1, G3), with :math:`g > 1` it explodes and the
first layers get the largest gradients (G4). With weights :math:`N(0, m^2/n_{in})`, saturating
sigmoid units have :math:`g^2 \approx 0.09\,m`, above one for :math:`m \gtrsim 11` (we take
64); ReLU has :math:`g = m/\sqrt 2` (we take 3, against He's :math:`\sqrt 2`). Everything is
measured at initialisation on many seeds at once, so no training budget enters the verdict; a
short SGD run on the large ReLU net (:func:`nndl.analysis.sgd_until_nonfinite`) then shows the
overflow and what :class:`~nndl.diagnostics.GradientMonitor` reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from nndl.analysis import (
    all_of,
    decide,
    geometric_mean,
    hidden_layer_speeds,
    log10_first_last,
    mean_interval,
    sgd_until_nonfinite,
    stacked_mlps,
)
from nndl.data import load_digits_split
from nndl.nn import mlp

from .config import Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule

__all__ = ["G4_RULE", "G4Config", "draw", "judge", "measure"]


@dataclass
class G4Config:
    width: int = 100
    depth: int = 8  # the net whose first/last ratio is judged
    depths: tuple[int, ...] = (2, 4, 6, 8, 10, 12)  # first-layer gradient against depth (shown)
    seeds: Annotated[int, Range(2)] = 10
    n_images: int = 500
    sigmoid_scale: float = 64.0  # weights N(0, m²/n_in); Xavier is m = 1
    relu_scale: float = 3.0  # He is m = √2
    overflow_lr: float = 0.01
    overflow_steps: int = 30
    batch_size: int = 64


G4_RULE = Rule(
    claim="G4",
    statistic="per seed, log10(s_1 / s_L): first over last hidden layer's learning speed "
    "||dC/db_l|| at initialisation, L hidden layers, weights N(0, m²/n_in) with large m "
    "(sigmoid m = 64, ReLU m = 3); 95 % t interval of its mean over seeds, per family",
    holds="for both families the interval lies wholly above log10(10) = 1 (the first layer "
    "learns more than 10× faster than the last)",
    does_not_hold="for some family the interval lies wholly below 1",
    inconclusive="an interval straddles 1, or a gradient at initialisation is not finite "
    "(guard: the ratio cannot be formed)",
    seeds=10,
    rationale="growth toward the input is the claim; 10× over 8 layers is a per-layer gain "
    "above 1.33, far from the ratio ≤ 1 of a non-exploding net; seeds are cheap (no training)",
    params={"threshold_log10": 1.0, "confidence": 0.95},
)

#: G4's families: activation, the config field of the large scale, the standard scale.
FAMILIES: dict[str, tuple[str, str, float]] = {
    "sigmoid": ("sigmoid", "sigmoid_scale", 1.0),
    "relu": ("relu", "relu_scale", math.sqrt(2.0)),
}


def measure(cfg: G4Config, ctx: Context) -> dict[str, Any]:
    """Per-seed hidden-layer speeds at initialisation for every family, scale and depth."""
    split = load_digits_split(ctx.seed)
    assert split.y_train is not None and split.y_test is not None  # digits are labelled
    n = min(cfg.n_images, split.x_train.shape[0])
    x, y = split.x_train[:n].to(ctx.device), split.y_train[:n].to(ctx.device)
    depths = sorted(set(cfg.depths) | {cfg.depth})
    speeds: dict[str, dict[str, list[list[float]]]] = {}
    runs: dict[str, dict[str, Any]] = {}

    def sizes(depth: int) -> list[int]:
        return [split.n_features] + [cfg.width] * depth + [split.n_classes]

    for i, (family, (act, field, standard)) in enumerate(FAMILIES.items()):
        for j, (label, m) in enumerate((("large", getattr(cfg, field)), ("standard", standard))):
            key, kw = f"{family}/{label}", {"std": m, "fan_in_scaled": True}
            speeds[key] = {}
            for depth in ctx.track(depths, f"G4 {key}"):
                offset = 100_000 * (2 * i + j + 1) + 1000 * depth
                nets = stacked_mlps(
                    sizes(depth), act, cfg.seeds, ctx.generator, offset=offset, init_kwargs=kw,
                    input_dims=2, device=ctx.device,
                )  # fmt: skip
                speeds[key][str(depth)] = hidden_layer_speeds(nets, x, y, measure="bias").tolist()
    xs, ys = split.x_train.to(ctx.device), split.y_train.to(ctx.device)
    nets_run = {
        "relu, large": ("relu", cfg.relu_scale),
        "relu, He (control)": ("relu", math.sqrt(2.0)),
        "sigmoid, large": ("sigmoid", cfg.sigmoid_scale),
    }
    for k, (label, (act, m)) in enumerate(nets_run.items()):
        gen = ctx.generator(5000 + k)  # draws the net, then its batches
        kw = {"std": m, "fan_in_scaled": True, "generator": gen}
        net = mlp(sizes(cfg.depth), act, "gaussian", init_kwargs=kw).to(ctx.device)
        runs[label] = sgd_until_nonfinite(
            net, xs, ys, lr=cfg.overflow_lr, steps=cfg.overflow_steps,
            batch_size=cfg.batch_size, generator=gen,
        )  # fmt: skip
    return {"data": split.name, "depths": depths, "speeds": speeds, "overflow_runs": runs}


def _ratios(metrics: Mapping[str, Any], key: str, depth: int) -> np.ndarray:
    """log10(s_1 / s_L) per seed (±inf/NaN where a speed is zero or not finite)."""
    return log10_first_last(metrics["speeds"][key][str(depth)])


def judge(metrics: Mapping[str, Any], cfg: G4Config) -> list[Verdict]:
    threshold, conf = G4_RULE["threshold_log10"], G4_RULE["confidence"]
    decisions, parts, bad = [], [], []
    for family in FAMILIES:
        r = _ratios(metrics, f"{family}/large", cfg.depth)
        if not np.all(np.isfinite(r)):
            bad.append(family)
            continue
        iv = mean_interval(r, conf)
        decisions.append(decide(iv, threshold, above=True))
        parts.append(
            f"{family}: log10(s₁/s_L) = {iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}] "
            f"(×{10**iv.estimate:.3g}, ×{10 ** (iv.estimate / (cfg.depth - 1)):.2f} per layer)"
        )
    standard = ", ".join(
        f"{f} {10 ** float(np.nanmean(_ratios(metrics, f'{f}/standard', cfg.depth))):.2g}×"
        for f in FAMILIES
    )
    relu = metrics["overflow_runs"]["relu, large"]
    overflowed = "stayed finite"
    if relu["nonfinite_loss"]:
        overflowed = f"overflowed after {relu['steps'] - 1} updates"
    evidence = (
        f"At {cfg.depth} hidden layers of {cfg.width} ({cfg.seeds} seeds, {metrics['data']}), "
        f"weights N(0, m²/n_in) with m = {cfg.sigmoid_scale:g} (sigmoid) and {cfg.relu_scale:g} "
        f"(ReLU): " + "; ".join(parts) + f" (95 % t intervals, threshold 1; Xavier/He scales: "
        f"s₁/s_L = {standard}). SGD on the large ReLU net {overflowed}; diagnose() reported "
        f"{', '.join(relu['findings']) or 'nothing'}."
    )
    if bad:
        reason = (
            f"guard: non-finite speeds at initialisation for {', '.join(bad)}; "
            "a smaller m would keep them finite"
        )
        return [Verdict("G4", "inconclusive", evidence, "non-finite gradient at init", reason)]
    status = all_of(decisions)
    reason = "an interval straddles 1 (10×); more seeds would narrow it"
    key = ", ".join(
        f"{f} s₁/s_L ×{10 ** np.mean(_ratios(metrics, f'{f}/large', cfg.depth)):.3g}"
        for f in FAMILIES
    )
    return [Verdict("G4", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: G4Config, canvas: Canvas) -> None:
    fig, axes = canvas.subplots(1, 3, figsize=(14, 3.8))
    depths, rows = [int(d) for d in metrics["depths"]], []
    for key, per_depth in metrics["speeds"].items():
        family, label = key.split("/")
        style, color = "o-" if label == "large" else "s--", {"sigmoid": "C0", "relu": "C3"}[family]
        firsts = [float(geometric_mean(np.asarray(per_depth[str(d)], float)[:, 0])) for d in depths]
        profile = geometric_mean(per_depth[str(cfg.depth)], axis=0)
        axes[0].semilogy(range(1, cfg.depth + 1), profile, style, color=color, label=key)
        axes[1].semilogy(depths, firsts, style, color=color, label=key)
        r = _ratios(metrics, key, cfg.depth)
        row = [10 ** np.nanmean(r), np.nanstd(r, ddof=1), firsts[-1] / firsts[0]]
        rows.append([key, *(f"{v:{f}}" for v, f in zip(row, (".3g", ".2f", ".3g"), strict=True))])
    axes[0].set(xlabel="hidden layer (input side first)", ylabel="||∂C/∂b_l|| at init")
    axes[1].set(xlabel="hidden layers", ylabel="first layer ||∂C/∂b_1||")
    for label, run in metrics["overflow_runs"].items():
        losses = np.asarray(run["losses"], float)
        finite = np.isfinite(losses)
        (line,) = axes[2].semilogy(
            np.arange(len(losses))[finite], losses[finite], "o-", ms=3, label=label
        )
        if not finite.all():
            axes[2].axvline(int(np.argmin(finite)), color=line.get_color(), ls=":", lw=1)
    axes[2].set(xlabel="SGD step", ylabel="training loss (dotted: NaN/Inf)")
    for ax in axes:
        ax.legend(fontsize=7)
    canvas.save(
        fig, "exploding", "Left: per-layer learning speed at initialisation (geometric mean over "
        "seeds) with large (solid) and Xavier/He (dashed) weights. Middle: first-layer gradient "
        "against depth. Right: SGD training loss until overflow.",
    )  # fmt: skip
    canvas.table(
        f"Gradient growth toward the input ({cfg.depth} hidden layers) and with depth",
        ["family / scale", "s₁/s_L (geo. mean)", "sd of log10 ratio",
         f"first layer, {depths[-1]} vs {depths[0]} layers"],
        rows,
        caption=f"Weights N(0, m²/n_in): large m = {cfg.sigmoid_scale:g} (sigmoid), "
        f"{cfg.relu_scale:g} (ReLU); standard m = 1 (Xavier), √2 (He); {cfg.seeds} seeds.",
    )  # fmt: skip
    canvas.table(
        f"SGD (lr {cfg.overflow_lr}) with GradientMonitor.diagnose()",
        ["net", "steps run", "loss became NaN/Inf", "findings"],
        [[k, r["steps"], r["nonfinite_loss"], "; ".join(r["messages"]) or "none"]
         for k, r in metrics["overflow_runs"].items()],
    )  # fmt: skip


register(
    "g4_exploding",
    title="Large initial weights: gradients grow geometrically toward the input and overflow",
    config=G4Config,
    presets={
        "tiny": {"depths": (2, 4), "depth": 4, "seeds": 2, "n_images": 100, "overflow_steps": 5},
        "quick": {},
        "full": {"depths": (2, 4, 6, 8, 10, 12, 16, 20), "seeds": 30, "n_images": 1000},
    },
    rules=(G4_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="With large weights each layer multiplies the error signal by more than one "
    "(|w|σ'(z) > 1 on the units that still conduct), so the first layers get the largest "
    "gradients; a gradient step of that size blows the ReLU net's activations up until they "
    "overflow, while the large sigmoid net saturates instead.",
)
