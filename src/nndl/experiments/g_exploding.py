r"""G4: large initial weights make the gradient grow geometrically toward the input.

Every layer toward the input multiplies the error signal by :math:`W^\top \operatorname{diag}
\sigma'(z)`, of typical gain :math:`g = \text{std}(w)\sqrt{n}\,\sqrt{E[\sigma'(z)^2]}`: with
:math:`g < 1` the gradient vanishes with depth (G1, G3), with :math:`g > 1` it explodes and the
first layers get the largest gradients (G4). With weights :math:`N(0, m^2/n_{in})`, saturating
sigmoid units have :math:`g^2 \approx 0.09\,m`, above one for :math:`m \gtrsim 11` (we take
64); ReLU has :math:`g = m/\sqrt 2` (we take 3, against He's :math:`\sqrt 2`). All is measured
at initialisation on many seeds, so no training budget enters the verdict; a short SGD run on
the large nets then shows the overflow and what ``GradientMonitor`` reports.
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

from . import Canvas, Context, Range, Verdict, register, rule


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


G4_RULE = rule("g4_exploding", "G4")

#: G4's families: activation, the config field of the large scale, the standard scale.
FAMILIES: dict[str, tuple[str, str, float]] = {
    "sigmoid": ("sigmoid", "sigmoid_scale", 1.0),
    "relu": ("relu", "relu_scale", math.sqrt(2.0)),
}


def measure(cfg: G4Config, ctx: Context) -> dict[str, Any]:
    """Per-seed hidden-layer speeds at initialisation for every family, scale and depth."""
    split = load_digits_split(ctx.seed).to(ctx.device)
    assert split.y_train is not None  # digits are labelled
    x, y = split.x_train[: cfg.n_images], split.y_train[: cfg.n_images]
    depths = sorted(set(cfg.depths) | {cfg.depth})
    sizes = {d: [split.n_features] + [cfg.width] * d + [split.n_classes] for d in depths}
    speeds: dict[str, dict[str, list[list[float]]]] = {}
    for i, (family, (act, field, standard)) in enumerate(FAMILIES.items()):
        for j, (label, m) in enumerate((("large", getattr(cfg, field)), ("standard", standard))):
            key = f"{family}/{label}"
            speeds[key] = {}
            for depth in ctx.track(depths, f"G4 {key}"):
                nets = stacked_mlps(
                    sizes[depth],
                    act,
                    cfg.seeds,
                    ctx.generator,
                    offset=100_000 * (2 * i + j + 1) + 1000 * depth,
                    init_kwargs={"std": m, "fan_in_scaled": True},
                    device=ctx.device,
                )
                speeds[key][str(depth)] = hidden_layer_speeds(nets, x, y, measure="bias").tolist()
    runs: dict[str, dict[str, Any]] = {}
    nets_run = {
        "relu, large": ("relu", cfg.relu_scale),
        "relu, He (control)": ("relu", math.sqrt(2.0)),
        "sigmoid, large": ("sigmoid", cfg.sigmoid_scale),
    }
    for k, (label, (act, m)) in enumerate(nets_run.items()):
        gen = ctx.generator(5000 + k)  # draws the net, then its batches
        kw = {"std": m, "fan_in_scaled": True, "generator": gen}
        net = mlp(sizes[cfg.depth], act, "gaussian", init_kwargs=kw)
        runs[label] = sgd_until_nonfinite(
            net.to(ctx.device),
            split.x_train,
            split.y_train,
            lr=cfg.overflow_lr,
            steps=cfg.overflow_steps,
            batch_size=cfg.batch_size,
            generator=gen,
        )
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
        per_layer = 10 ** (iv.estimate / (cfg.depth - 1))
        text = f"log10(s₁/s_L) = {iv:.2f} (×{10**iv.estimate:.3g}, ×{per_layer:.2f} per layer)"
        parts.append(f"{family}: {text}")
    ratios = {k: 10 ** float(np.nanmean(_ratios(metrics, k, cfg.depth))) for k in metrics["speeds"]}
    standard = ", ".join(f"{f} {ratios[f + '/standard']:.2g}×" for f in FAMILIES)
    relu = metrics["overflow_runs"]["relu, large"]
    overflowed = "stayed finite"
    if relu["nonfinite_loss"]:
        overflowed = f"overflowed after {relu['steps'] - 1} updates"
    evidence = (
        f"At {cfg.depth} hidden layers of {cfg.width} ({cfg.seeds} seeds, {metrics['data']}), "
        f"weights N(0, m²/n_in) with m = {cfg.sigmoid_scale:g} (sigmoid) and {cfg.relu_scale:g} "
        f"(ReLU): " + "; ".join(parts) + " (95 % t intervals, threshold 1; Xavier/He scales: "
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
    key = ", ".join(f"{f} s₁/s_L ×{ratios[f + '/large']:.3g}" for f in FAMILIES)
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
        sd, growth = np.nanstd(r, ddof=1), firsts[-1] / firsts[0]
        rows.append([key, f"{10 ** np.nanmean(r):.3g}", f"{sd:.2f}", f"{growth:.3g}"])
    axes[0].set(xlabel="hidden layer (input side first)", ylabel="||∂C/∂b_l|| at init")
    axes[1].set(xlabel="hidden layers", ylabel="first layer ||∂C/∂b_1||")
    for label, run in metrics["overflow_runs"].items():
        losses = np.asarray(run["losses"], float)
        steps, finite = np.arange(len(losses)), np.isfinite(losses)
        (line,) = axes[2].semilogy(steps[finite], losses[finite], "o-", ms=3, label=label)
        if not finite.all():
            axes[2].axvline(int(np.argmin(finite)), color=line.get_color(), ls=":", lw=1)
    axes[2].set(xlabel="SGD step", ylabel="training loss (dotted: NaN/Inf)")
    for ax in axes:
        ax.legend(fontsize=7)
    canvas.save(
        fig,
        "exploding",
        "Left: per-layer learning speed at initialisation (geometric mean over "
        "seeds) with large (solid) and Xavier/He (dashed) weights. Middle: first-layer gradient "
        "against depth. Right: SGD training loss until overflow.",
    )
    canvas.table(
        f"Gradient growth toward the input ({cfg.depth} hidden layers) and with depth",
        [
            "family / scale",
            "s₁/s_L (geo. mean)",
            "sd of log10 ratio",
            f"first layer, {depths[-1]} vs {depths[0]} layers",
        ],
        rows,
        caption=f"Weights N(0, m²/n_in): large m = {cfg.sigmoid_scale:g} (sigmoid), "
        f"{cfg.relu_scale:g} (ReLU); standard m = 1 (Xavier), √2 (He); {cfg.seeds} seeds.",
    )
    runs = metrics["overflow_runs"].items()
    canvas.table(
        f"SGD (lr {cfg.overflow_lr}) with GradientMonitor.diagnose()",
        ["net", "steps run", "loss became NaN/Inf", "findings"],
        [[k, r["steps"], r["nonfinite_loss"], "; ".join(r["messages"]) or "none"] for k, r in runs],
    )


register("g4_exploding", G4Config, measure=measure, judge=judge, draw=draw)
