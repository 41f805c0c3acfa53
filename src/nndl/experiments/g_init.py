r"""G7: the right initialisation scale avoids both vanishing and exploding gradients.

With weights :math:`N(0, m^2/n_{in})` the backward pass's per-layer gain is about
:math:`m\,\sqrt{E[\sigma'(z)^2]}`: too small an :math:`m` vanishes, too large explodes (or
saturates). Xavier/Glorot (:math:`m = 1` for square layers) assumes :math:`\sigma'(0) = 1` and
zero-mean outputs — true of tanh; He (:math:`m = \sqrt 2`) is for ReLU, which halves the second
moment. The sigmoid fits neither: :math:`\sigma'(0) = 1/4` gives a gain near 1/4 at
:math:`m = 1`, and Qiu's ×4 undoes it only to push its non-zero-mean outputs (mean ≈ 1/2) into
saturation. Both are tested as "right" scales for the sigmoid.

Two questions are kept apart: **propagation at initialisation** (no budget involved), the first
over last hidden layer's speed :math:`s_1/s_L` over many seeds for every scale and depth; and
**trainability** at each right scale, the deep net's training accuracy against a 2-layer net
with the same activation and scale after the same SGD budget on the same batches (paired).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from nndl.analysis import (
    Interval,
    all_of,
    any_of,
    decide,
    fit_and_score,
    hidden_layer_speeds,
    mean_interval,
    paired_interval,
    stacked_mlps,
)
from nndl.data import load_digits_split
from nndl.nn import ACTIVATIONS
from nndl.train import StackedModels

from . import Canvas, ConfigError, Context, Range, Verdict, register, rule

SQRT2 = math.sqrt(2.0)

#: The scales the claim names, in units of 1/√n_in: Xavier/Glorot for sigmoid and tanh (with
#: Qiu's ×4 for the logistic), He for ReLU.
RIGHT_SCALES: dict[str, dict[str, float]] = {
    "sigmoid": {"Xavier": 1.0, "Xavier ×4 (Qiu)": 4.0},
    "tanh": {"Xavier": 1.0},
    "relu": {"He": SQRT2},
}


@dataclass
class G7Config:
    activations: tuple[str, ...] = ("sigmoid", "tanh", "relu")
    scales: tuple[float, ...] = (0.25, 0.5, 1.0, SQRT2, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    depths: tuple[int, ...] = (2, 6, 12)  # judged at the deepest
    width: int = 32
    seeds: Annotated[int, Range(2)] = 5
    n_images: int = 500  # images of the gradient at initialisation
    train_images: int = 600  # images the trainability nets fit
    epochs: int = 25  # 10 steps per epoch at batch 64: 250 SGD steps
    batch_size: int = 64
    lr: float = 0.02
    momentum: Annotated[float, Range(0.0, 0.99)] = 0.9

    def __post_init__(self) -> None:
        for act in self.activations:
            if act not in ACTIVATIONS or act not in RIGHT_SCALES:
                raise ConfigError(f"activations must be among {list(RIGHT_SCALES)}, got {act!r}")
            missing = [m for m in RIGHT_SCALES[act].values() if m not in self.scales]
            if missing:
                raise ConfigError(f"scales must include {act}'s right scales {missing}")
        if max(self.depths) <= 2:
            raise ConfigError(f"depths must include one deeper than 2, got {self.depths}")


G7_RULE = rule("g7_init_scale", "G7")


def _nets(cfg: G7Config, ctx: Context, act: str, m: float, depth: int, k: int) -> StackedModels:
    """``seeds`` nets with weights N(0, m²/n_in), copy s from generator ``k + s``."""
    return stacked_mlps(
        [64] + [cfg.width] * depth + [10],
        act,
        cfg.seeds,
        ctx.generator,
        offset=k,
        init_kwargs={"std": m, "fan_in_scaled": True},
        device=ctx.device,
    )


def _key(m: float) -> str:
    return f"{m:.4g}"


def measure(cfg: G7Config, ctx: Context) -> dict[str, Any]:
    """log10(s_1/s_L) per seed for every activation, depth and scale; trainability at the
    right scales (deepest depth against 2 hidden layers)."""
    split = load_digits_split(ctx.seed).to(ctx.device)
    assert split.y_train is not None  # digits are labelled
    x, y = split.x_train[: cfg.n_images], split.y_train[: cfg.n_images]
    xt, yt = split.x_train[: cfg.train_images], split.y_train[: cfg.train_images]
    sgd = {k: getattr(cfg, k) for k in ("lr", "momentum", "epochs", "batch_size")}
    out: dict[str, dict[str, Any]] = {
        k: {a: {} for a in cfg.activations} for k in ("log10_ratio", "first_speed", "train_acc")
    }
    for i, act in enumerate(cfg.activations):
        for r, depth in enumerate(ctx.track(cfg.depths, f"G7 {act} at init")):
            ratio, first = out["log10_ratio"][act], out["first_speed"][act]
            ratio[str(depth)], first[str(depth)] = {}, {}
            for c, m in enumerate(cfg.scales):
                nets = _nets(cfg, ctx, act, m, depth, 1_000_000 * (i + 1) + 10_000 * r + 100 * c)
                sp = hidden_layer_speeds(nets, x, y).double()
                ratio[str(depth)][_key(m)] = (sp[:, 0] / sp[:, -1]).log10().tolist()
                first[str(depth)][_key(m)] = float(sp[:, 0].log().mean().exp())
        for j, m in enumerate(RIGHT_SCALES[act].values()):
            out["train_acc"][act][_key(m)] = acc = {}
            for depth in (2, max(cfg.depths)):
                nets = _nets(cfg, ctx, act, m, depth, 50_000_000 + 1_000_000 * i + 1000 * j)
                score = fit_and_score(nets, xt, yt, [(xt, yt)], seed=ctx.seed, **sgd)
                acc[str(depth)] = score.accuracy[0]
    return {"data": split.name, **out}


def _interval(values: list[Any], conf: float) -> Interval | None:
    """The t interval of the clipped log ratios; None when one is NaN."""
    r, clip = np.asarray(values, float), G7_RULE["clip"]
    return None if np.isnan(r).any() else mean_interval(np.clip(r, -clip, clip), conf)


def _fmt(iv: Interval | None) -> str:
    return "NaN" if iv is None else f"{iv:.2f}"


def _activation(metrics: Mapping[str, Any], cfg: G7Config, act: str) -> tuple[str, str, str, str]:
    """(decision, evidence, guard reason, right-scale decision) for one activation at the
    deepest depth."""
    conf, band, deep = G7_RULE["confidence"], G7_RULE["band_log10"], str(max(cfg.depths))
    ratios = metrics["log10_ratio"][act][deep]
    small, large = (_interval(ratios[_key(f(cfg.scales))], conf) for f in (min, max))
    right, parts, guards = [], [], []
    for name, m in RIGHT_SCALES[act].items():
        prop = _interval(ratios[_key(m)], conf)
        acc = metrics["train_acc"][act][_key(m)]
        a_deep, a_two = np.asarray(acc[deep], float), np.asarray(acc["2"], float)
        iv_t = paired_interval(a_deep, a_two, conf)
        # each guard voids only its own part: propagation is judged apart from training
        prop_d, train_d = "inconclusive", decide(iv_t, -G7_RULE["margin"])
        if prop is None:
            guards.append(f"{act} {name}: NaN ratio at initialisation")
        else:
            prop_d = all_of([decide(prop, -band), decide(prop, band, above=False)])
        if float(np.mean(a_two)) < G7_RULE["min_accuracy"]:
            guards.append(f"{act} {name}: 2-layer net at {np.mean(a_two):.2f} (did not train)")
            train_d = "inconclusive"
        right.append(all_of([prop_d, train_d]))
        per_layer = "?" if prop is None else f"×{10 ** (prop.estimate / (int(deep) - 1)):.2f}"
        parts.append(
            f"{name} (m={m:.3g}): r = {_fmt(prop)} ({per_layer}/layer), Δacc "
            f"{iv_t.scaled(100):+.0f} pts ({100 * np.mean(a_two):.0f} → "
            f"{100 * np.mean(a_deep):.0f} %)"
        )
    if small is None or large is None:
        guards.append(f"{act}: NaN ratio at the smallest or largest scale")
        ends = ["inconclusive"]
    else:
        ends = [decide(small, -band, above=False), decide(large, band, above=True)]
    decision = all_of([any_of(right), *ends])
    text = (
        f"{act}: " + "; ".join(parts) + f"; m={min(cfg.scales):g}: r = {_fmt(small)}; "
        f"m={max(cfg.scales):g}: r = {_fmt(large)} → {decision}"
    )
    return decision, text, "; ".join(guards), any_of(right)


def judge(metrics: Mapping[str, Any], cfg: G7Config) -> list[Verdict]:
    results = {a: _activation(metrics, cfg, a) for a in cfg.activations}
    status = all_of(r[0] for r in results.values())
    evidence = (
        f"At {max(cfg.depths)} hidden layers of {cfg.width} ({cfg.seeds} seeds, "
        f"{metrics['data']}; weights N(0, m²/n_in); r = log10(s₁/s_L) at init, band ±1; Δacc = "
        f"training accuracy vs a 2-layer net after {cfg.epochs} epochs, margin "
        f"{100 * G7_RULE['margin']:.0f} pts): " + " | ".join(r[1] for r in results.values())
    )
    if "sigmoid" in results and results["sigmoid"][3] == "does not hold":
        evidence += (
            " — the sigmoid fails: σ'(0) = 1/4 shrinks the signal at m = 1, and its outputs "
            "(mean ≈ 1/2) are not zero-mean, so at m = 4 the pre-activations grow and saturate."
        )
    reason = "; ".join(r[2] for r in results.values() if r[2]) or (
        "an interval straddles its threshold; more seeds would narrow it"
    )
    key = ", ".join(f"{a} {r[0]}" for a, r in results.items())
    return [Verdict("G7", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: G7Config, canvas: Canvas) -> None:
    acts, scales, depths = list(cfg.activations), list(cfg.scales), list(cfg.depths)
    fig, axes = canvas.subplots(1, len(acts), figsize=(4.8 * len(acts), 3.6), squeeze=False)
    rows = []
    for ax, act in zip(axes[0], acts, strict=True):
        ratio = metrics["log10_ratio"][act]
        cells = np.asarray([[ratio[str(d)][_key(m)] for m in scales] for d in depths], float)
        grid = np.ma.masked_invalid(np.clip(np.nanmean(cells, axis=2), -12, 12))
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="coolwarm", vmin=-12, vmax=12)
        fig.colorbar(image, ax=ax).set_label("log10(s₁/s_L) at init", fontsize=7)
        ax.set_xticks(range(len(scales)), [f"{m:.3g}" for m in scales], fontsize=7, rotation=45)
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.set(xlabel="weight scale m (std = m/√n_in)", ylabel="hidden layers", title=act)
        for name, m in RIGHT_SCALES[act].items():
            for r in range(len(depths)):
                ax.text(scales.index(m), r, name[0], ha="center", va="center", fontweight="bold")
            acc = metrics["train_acc"][act][_key(m)]
            pct = [f"{100 * np.mean(acc[d]):.1f}" for d in ("2", str(max(depths)))]
            rows.append([act, name, f"{m:.3g}", *pct])
    canvas.save(
        fig,
        "init_scale",
        "First-over-last hidden-layer learning speed at initialisation (log10, "
        "mean over seeds; 0 = balanced, blue = vanishing, red = exploding). Letters mark the "
        "right scales (X = Xavier, H = He).",
    )
    canvas.table(
        f"Trainability at the right scales: training accuracy (%) after {cfg.epochs} epochs",
        ["activation", "scale", "m", "2 hidden layers", f"{max(depths)} hidden layers"],
        rows,
        caption=f"SGD lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}, "
        f"{cfg.train_images} training images, {cfg.seeds} seeds side by side.",
    )


register("g7_init_scale", G7Config, measure=measure, judge=judge, draw=draw)
