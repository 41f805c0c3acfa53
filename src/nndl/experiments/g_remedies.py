r"""G4–G7: exploding gradients, and the notes' remedies (activations, BatchNorm, initialisation).

The error signal of hidden layer :math:`l` is
:math:`\delta_l = \sigma'(z_l) \odot W_{l+1}^\top \delta_{l+1}`: every layer toward the input
multiplies it by :math:`W^\top \operatorname{diag} \sigma'(z)`, whose typical gain is
:math:`g = \text{std}(w)\sqrt{n}\,\sqrt{E[\sigma'(z)^2]}` per layer. With :math:`g < 1` the
gradient vanishes geometrically with depth (G1, G3); with :math:`g > 1` it explodes (G4).

- **G4** makes the weights large (:math:`N(0, m^2/n_{in})` with a large multiplier :math:`m`):
  for sigmoid units :math:`E[\sigma'(z)^2] \approx 0.066/(0.7\,m)` once they saturate, so
  :math:`g^2 \approx 0.09\,m` exceeds 1 for :math:`m \gtrsim 11`; for ReLU :math:`g = m/\sqrt2`.
  It measures the growth toward the input and against depth, and checks that the
  :class:`~nndl.diagnostics.GradientMonitor` detects the overflow that training then hits.
- **G5** swaps the sigmoid for the ReLU family (:math:`\sigma' = 1` on active units), with He
  initialisation, and compares the spread of the layers' learning speeds and the accuracy.
- **G6** puts BatchNorm before every sigmoid, which keeps :math:`z` near zero mean and unit
  variance, so that :math:`\sigma'(z)` stays large and the gains stay near one.
- **G7** sweeps the initialisation scale :math:`m` against depth for sigmoid, tanh and ReLU and
  marks Xavier/Glorot (:math:`m = 1` for square layers) and He (:math:`m = \sqrt 2`).

All speeds are Nielsen's :math:`\lVert \partial C / \partial b_l \rVert` read by the
:class:`~nndl.diagnostics.GradientMonitor` (``bn{l}``'s shift β in BatchNorm nets).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nndl.diagnostics import GradientMonitor
from nndl.nn import ACTIVATIONS, mlp

from .._validation import ValidationError, unknown_name_message
from .context import Context
from .g_speeds import (
    G2_VARIANTS,
    INITS,
    check_config,
    hidden_speeds,
    init_speeds,
    load_split,
    speed_series,
    train_classifier,
)
from .registry import register
from .result import Result, Table, Verdict

__all__ = [
    "G4Config",
    "G5Config",
    "G6Config",
    "G7Config",
    "accuracy_kept",
    "geometric_factor",
    "init_scale_checks",
    "speed_spread",
    "weight_speed_series",
]

#: "Within about an order of magnitude" (G5, G6, G7): a spread of learning speeds of at most 10×.
ORDER = 10.0


def speed_spread(speeds: Sequence[float]) -> float:
    """max / min of the layers' learning speeds (∞ if one is zero, NaN if one is not finite)."""
    values = np.asarray(speeds, dtype=float)
    if not np.all(np.isfinite(values)):
        return math.nan
    low = values.min()
    return math.inf if low <= 0 else float(values.max() / low)


def geometric_factor(x: Sequence[float], values: Sequence[float]) -> float:
    r"""The factor per unit of ``x`` of a least-squares fit :math:`\log v = a + b x`: :math:`e^b`.

    Non-finite or non-positive values are left out; NaN when fewer than two remain.
    """
    xs = np.asarray(x, dtype=float)
    vs = np.asarray(values, dtype=float)
    keep = np.isfinite(vs) & (vs > 0)
    if keep.sum() < 2:
        return math.nan
    slope = np.polyfit(xs[keep], np.log(vs[keep]), 1)[0]
    return float(math.exp(slope))


def _geomean(a: np.ndarray, axis: int = 0) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.log(a).mean(axis=axis))


def _check_activations(names: Sequence[str]) -> None:
    for name in names:
        if name not in ACTIVATIONS:
            raise ValidationError(unknown_name_message("activation", str(name), ACTIVATIONS))
    if len(set(names)) != len(names):
        raise ValidationError(f"activations must not repeat, got {list(names)}")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _sizes(n_in: int, width: int, depth: int, n_out: int) -> list[int]:
    return [n_in] + [width] * depth + [n_out]


# -- G4 ------------------------------------------------------------------------------------------
@dataclass
class G4Config:
    data: str = "digits"
    width: int = 100
    depth: int = 8  # the net whose per-layer profile is shown
    depths: tuple[int, ...] = (2, 4, 6, 8, 10, 12)  # first-layer gradient against depth
    seeds: int = 5
    n_images: int = 500
    sigmoid_scale: float = 64.0  # weights N(0, m²/n_in); Xavier is m = 1
    relu_scale: float = 3.0  # He is m = √2
    overflow_lr: float = 0.01
    overflow_steps: int = 30
    batch_size: int = 64


#: G4's two families: activation, the config field of the large scale, the standard scale.
_G4_FAMILIES: dict[str, tuple[str, str, float]] = {
    "sigmoid": ("sigmoid", "sigmoid_scale", 1.0),
    "relu": ("relu", "relu_scale", math.sqrt(2.0)),
}


def _gaussian_mlp(sizes: list[int], act: str, scale: float, gen: torch.Generator) -> nn.Module:
    return mlp(
        sizes,
        act,
        init="gaussian",
        init_kwargs={"std": scale, "fan_in_scaled": True, "generator": gen},
    )


def _overflow_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    batch_size: int,
    gen: torch.Generator,
) -> dict[str, Any]:
    """Plain SGD with a monitor on every step until the loss stops being finite; diagnose.

    A hand-written loop rather than the Trainer: the Trainer stops before the backward pass of
    a non-finite loss, and here the non-finite gradients are what the monitor must see.
    """
    monitor = GradientMonitor(model, every=1, activations=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        monitor.record()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break  # record the non-finite gradients, never apply them
        optimizer.step()
    diagnosis = monitor.diagnose()
    monitor.detach()
    return {
        "losses": losses,
        "steps": len(losses),
        "nonfinite_loss": not math.isfinite(losses[-1]),
        "findings": list(dict.fromkeys(f.kind for f in diagnosis)),
        "messages": [str(f) for f in diagnosis],
        "note": diagnosis.note,
    }


@register(
    "g4_exploding",
    claims=("G4",),
    title="Large initial weights: gradients grow geometrically toward the input and overflow",
    config=G4Config,
    presets={
        "tiny": {"depths": (2, 4), "depth": 4, "seeds": 2, "n_images": 100, "overflow_steps": 5},
        "quick": {},
        "full": {"depths": (2, 4, 6, 8, 10, 12, 16, 20), "seeds": 20, "n_images": 1000},
    },
)
def run_g4(cfg: G4Config, ctx: Context) -> Result:
    check_config(cfg)
    split = load_split(cfg.data, ctx.seed)
    n = min(cfg.n_images, split.x_train.shape[0])
    x, y = split.x_train[:n].to(ctx.device), split.y_train[:n].to(ctx.device)
    depths = sorted(set(cfg.depths) | {cfg.depth})
    # speeds[family][scale label][depth] = array (seeds, depth)
    speeds: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for i, (family, (act, field, standard)) in enumerate(_G4_FAMILIES.items()):
        scales = {"large": float(getattr(cfg, field)), "standard": standard}
        speeds[family] = {}
        for j, (label, scale) in enumerate(scales.items()):
            speeds[family][label] = {}
            for depth in ctx.track(depths, f"G4 {family}, {label} weights"):
                gen = ctx.generator(1000 * (i + 1) + 100 * j + depth)
                sizes = _sizes(split.n_features, cfg.width, depth, split.n_classes)
                rows = [
                    init_speeds(_gaussian_mlp(sizes, act, scale, gen).to(ctx.device), x, y, depth)
                    for _ in range(cfg.seeds)
                ]
                speeds[family][label][depth] = np.array(rows)

    profile, growth, first_over_last, depth_factor, depth_span = {}, {}, {}, {}, {}
    for family in _G4_FAMILIES:
        for label in ("large", "standard"):
            key = f"{family}/{label}"
            prof = _geomean(speeds[family][label][cfg.depth])
            profile[key] = prof
            # a fit of log s_l against l: the factor per layer toward the input is 1 / e^slope
            growth[key] = 1.0 / geometric_factor(range(1, cfg.depth + 1), prof)
            first_over_last[key] = float(prof[0] / prof[-1])
            firsts = [float(_geomean(speeds[family][label][d][:, 0])) for d in depths]
            depth_factor[key] = geometric_factor(depths, firsts)
            depth_span[key] = firsts[-1] / firsts[0]

    # overflow: train the large-weight nets (and a He-initialised control) with plain SGD
    sizes = _sizes(split.n_features, cfg.width, cfg.depth, split.n_classes)
    xs, ys = split.x_train.to(ctx.device), split.y_train.to(ctx.device)
    runs = {}
    for k, (label, act, scale) in enumerate(
        (
            ("relu, large", "relu", cfg.relu_scale),
            ("relu, He (control)", "relu", math.sqrt(2.0)),
            ("sigmoid, large", "sigmoid", cfg.sigmoid_scale),
        )
    ):
        gen = ctx.generator(5000 + k)
        model = _gaussian_mlp(sizes, act, scale, gen).to(ctx.device)
        runs[label] = _overflow_run(
            model,
            xs,
            ys,
            lr=cfg.overflow_lr,
            steps=cfg.overflow_steps,
            batch_size=cfg.batch_size,
            gen=gen,
        )
    alarm = {"nonfinite", "exploding"}
    detected = bool(alarm & set(runs["relu, large"]["findings"]))
    false_alarm = bool(alarm & set(runs["relu, He (control)"]["findings"]))

    _g4_figure(cfg, ctx, depths, speeds, runs)

    large = [f"{f}/large" for f in _G4_FAMILIES]
    holds = all(
        growth[k] > 1 and first_over_last[k] > 10 and depth_factor[k] > 1 and depth_span[k] > 10
        for k in large
    )
    relu_run = runs["relu, large"]
    overflow = (
        f"overflowed to NaN/Inf after {relu_run['steps'] - 1} SGD updates"
        if relu_run["nonfinite_loss"]
        else "stayed finite"
    )
    evidence = (
        f"With {cfg.depth} hidden layers of {cfg.width} ({cfg.seeds} seeds, {split.name}), "
        f"sigmoid weights N(0, {cfg.sigmoid_scale:g}²/n_in) give a first/last-layer speed ratio of "
        f"{first_over_last['sigmoid/large']:.3g} (×{growth['sigmoid/large']:.2f} per layer toward "
        f"the input; Xavier scale: {first_over_last['sigmoid/standard']:.2g}) and ReLU weights "
        f"N(0, {cfg.relu_scale:g}²/n_in) {first_over_last['relu/large']:.3g} "
        f"(×{growth['relu/large']:.2f}/layer; He: {first_over_last['relu/standard']:.2g}); the "
        f"first layer's gradient grows ×{depth_factor['sigmoid/large']:.2f} and "
        f"×{depth_factor['relu/large']:.2f} per added layer "
        f"({depth_span['sigmoid/large']:.3g}× and {depth_span['relu/large']:.3g}× from "
        f"{depths[0]} to {depths[-1]} layers; criterion: growth toward the input with "
        f"first/last > 10 and growth with depth > 10× for both); SGD on the large ReLU net "
        f"{overflow} and diagnose() reported {', '.join(relu_run['findings']) or 'nothing'} "
        f"(He control: {', '.join(runs['relu, He (control)']['findings']) or 'nothing'})."
    )
    rows = []
    for key in profile:
        rows.append(
            [
                key,
                f"{first_over_last[key]:.3g}",
                f"{growth[key]:.3g}",
                f"{depth_factor[key]:.3g}",
                f"{depth_span[key]:.3g}",
            ]
        )
    table = Table(
        f"Gradient growth toward the input ({cfg.depth} hidden layers) and with depth",
        [
            "family / scale",
            "s_1 / s_L",
            "factor per layer toward input",
            "first-layer factor per added layer",
            f"first layer, {depths[-1]} vs {depths[0]} layers",
        ],
        rows,
        caption=f"Weights N(0, m²/n_in): large m = {cfg.sigmoid_scale:g} (sigmoid), "
        f"{cfg.relu_scale:g} (ReLU); standard m = 1 (Xavier), √2 (He). Geometric means over "
        f"{cfg.seeds} seeds.",
    )
    overflow_table = Table(
        f"Training with SGD (lr {cfg.overflow_lr}) and GradientMonitor.diagnose()",
        ["net", "steps run", "loss became NaN/Inf", "findings"],
        [
            [label, r["steps"], r["nonfinite_loss"], "; ".join(r["messages"]) or "none"]
            for label, r in runs.items()
        ],
    )
    return Result(
        metrics={
            "data": split.name,
            "profile": {k: v.tolist() for k, v in profile.items()},
            "first_over_last": first_over_last,
            "growth_per_layer_toward_input": growth,
            "first_layer_factor_per_depth": depth_factor,
            "first_layer_span_over_depths": depth_span,
            "first_layer_speed_by_depth": {
                f"{f}/{lab}": {str(d): float(_geomean(speeds[f][lab][d][:, 0])) for d in depths}
                for f in _G4_FAMILIES
                for lab in ("large", "standard")
            },
            "overflow_runs": {
                k: {kk: vv for kk, vv in v.items() if kk != "losses"} for k, v in runs.items()
            },
            "overflow_detected": detected,
            "false_alarm_on_control": false_alarm,
        },
        verdicts=[
            Verdict.from_check(
                "G4",
                holds,
                evidence,
                key=f"s₁/s_L = {first_over_last['relu/large']:.3g} (ReLU), "
                f"{first_over_last['sigmoid/large']:.3g} (sigmoid)",
            )
        ],
        tables=[table, overflow_table],
        notes="With large weights each layer multiplies the error signal by more than one "
        "(|w|σ'(z) > 1 on the units that still conduct), so the first layers get the largest "
        "gradients; a gradient step of that size blows the ReLU net's activations up until they "
        "overflow, while the large sigmoid net saturates instead.",
    )


def _g4_figure(
    cfg: G4Config,
    ctx: Context,
    depths: list[int],
    speeds: Mapping[str, Mapping[str, Mapping[int, np.ndarray]]],
    runs: Mapping[str, Mapping[str, Any]],
) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    colors = {"sigmoid": "C0", "relu": "C3"}
    scale = {"sigmoid": cfg.sigmoid_scale, "relu": cfg.relu_scale}
    layers = np.arange(1, cfg.depth + 1)
    for family in _G4_FAMILIES:
        for label, style in (("large", "o-"), ("standard", "s--")):
            m = scale[family] if label == "large" else _G4_FAMILIES[family][2]
            axes[0].semilogy(
                layers,
                _geomean(speeds[family][label][cfg.depth]),
                style,
                color=colors[family],
                label=f"{family}, m = {m:.3g}",
            )
            axes[1].semilogy(
                depths,
                [_geomean(speeds[family][label][d][:, 0]) for d in depths],
                style,
                color=colors[family],
                label=f"{family}, m = {m:.3g}",
            )
    axes[0].set_xlabel("hidden layer (input side first)")
    axes[0].set_ylabel("||∂C/∂b_l|| at initialisation")
    axes[0].set_title(f"{cfg.depth} hidden layers of {cfg.width}", fontsize=10)
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("hidden layers")
    axes[1].set_ylabel("first layer ||∂C/∂b_1||")
    axes[1].set_title("First-layer gradient against depth", fontsize=10)
    for label, run in runs.items():
        losses = np.array(run["losses"], dtype=float)
        steps = np.arange(len(losses))
        finite = np.isfinite(losses)
        (line,) = axes[2].semilogy(steps[finite], losses[finite], "o-", ms=3, label=label)
        if not finite.all():
            axes[2].axvline(steps[~finite][0], color=line.get_color(), ls=":", lw=1)
    axes[2].set_xlabel("SGD step")
    axes[2].set_ylabel("training loss (dotted: NaN/Inf)")
    axes[2].set_title(f"Training, lr {cfg.overflow_lr}", fontsize=10)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "exploding",
        "Left: per-layer learning speed with large (solid) and standard (dashed) weights. "
        "Middle: first-layer gradient against depth. Right: training loss until overflow.",
    )


# -- G5 ------------------------------------------------------------------------------------------
#: The activations of G5: sigmoid (the baseline), the notes' five remedies, ELU and GELU.
G5_ACTIVATIONS: tuple[str, ...] = (
    "sigmoid",
    "relu",
    "leaky_relu",
    "prelu",
    "rrelu",
    "maxout",
    "elu",
    "gelu",
)
#: The remedies the notes name; G5's verdict is about these.
NOTES_ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "prelu", "rrelu", "maxout")


def accuracy_kept(
    shallow: Sequence[float], deep: Sequence[float], tolerance: float = 0.02
) -> bool | None:
    r"""Whether a deeper net keeps the shallower one's accuracy (G5), from per-seed accuracies.

    The drop :math:`\bar a_{shallow} - \bar a_{deep}` is fine up to ``tolerance`` (2 points).
    A larger drop counts as lost accuracy only when it also exceeds twice its standard error
    :math:`\sqrt{s_1^2/n_1 + s_2^2/n_2}` (sample standard deviations over seeds); otherwise it is
    within the noise.

    Returns:
        True (kept), False (a real drop) or None (a drop within the noise).
    """
    a, b = np.asarray(shallow, dtype=float), np.asarray(deep, dtype=float)
    drop = float(a.mean() - b.mean())
    if drop <= tolerance:
        return True
    var = sum(float(v.var(ddof=1)) / len(v) if len(v) > 1 else 0.0 for v in (a, b))
    return False if drop > 2 * math.sqrt(var) else None


def activation_mlp(sizes: list[int], act: str, gen: torch.Generator) -> nn.Module:
    """G5's nets: sigmoid with Nielsen's init; the others with a variance-preserving init.

    ReLU-family units get He (Kaiming normal) weights with the gain for their negative slope.
    A 2-piece Maxout unit gets gain 1 (LeCun/Xavier): for symmetric z, max(z₁, z₂)² has the same
    distribution as min(z₁, z₂)², and the two add up to z₁² + z₂², so E[max(z₁, z₂)²] = E[z²]
    (no halving as with ReLU); He's √2 would make the signal grow by √2 per layer.
    """
    if act == "sigmoid":
        init, kwargs = "gaussian", dict(INITS["N(0,1/n_in)"])
    elif act == "maxout":
        init, kwargs = "kaiming_normal", {"nonlinearity": "linear"}
    else:
        init, kwargs = "kaiming_normal", {"nonlinearity": act}
    return mlp(sizes, act, init=init, init_kwargs={**kwargs, "generator": gen})


@dataclass
class G5Config:
    data: str = "digits"
    activations: tuple[str, ...] = G5_ACTIVATIONS
    depths: tuple[int, ...] = (4, 8)
    width: int = 30
    seeds: int = 2
    n_images: int = 1000
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01  # effective step lr / (1 - momentum) = Nielsen's η = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    record_every: int = 10


@register(
    "g5_activations",
    claims=("G5",),
    title="ReLU, Leaky ReLU, PReLU, RReLU, Maxout keep the layers' speeds close; sigmoid does not",
    config=G5Config,
    presets={
        "tiny": {
            "activations": ("sigmoid", "relu", "maxout"),
            "depths": (2, 3),
            "seeds": 1,
            "n_images": 200,
            "epochs": 1,
            "batch_size": 256,
            "record_every": 2,
        },
        "quick": {"activations": ("sigmoid", *NOTES_ACTIVATIONS)},
        "full": {"depths": (4, 8, 16), "seeds": 5, "epochs": 30},
    },
)
def run_g5(cfg: G5Config, ctx: Context) -> Result:
    check_config(cfg, nonnegative=("weight_decay",), fractions=("momentum",))
    _check_activations(cfg.activations)
    split = load_split(cfg.data, ctx.seed)
    n = min(cfg.n_images, split.x_train.shape[0])
    x, y = split.x_train[:n].to(ctx.device), split.y_train[:n].to(ctx.device)
    init_sp: dict[str, dict[int, list[list[float]]]] = {}
    train_spread: dict[str, dict[int, list[float]]] = {}
    acc: dict[str, dict[int, list[float]]] = {}
    diverged = {act: dict.fromkeys(cfg.depths, 0) for act in cfg.activations}
    for i, act in enumerate(ctx.track(cfg.activations, "G5 activations")):
        init_sp[act], train_spread[act], acc[act] = {}, {}, {}
        for depth in cfg.depths:
            init_sp[act][depth], train_spread[act][depth], acc[act][depth] = [], [], []
            for s in range(cfg.seeds):
                gen = ctx.generator(10_000 * (i + 1) + 100 * depth + s)
                sizes = _sizes(split.n_features, cfg.width, depth, split.n_classes)
                model = activation_mlp(sizes, act, gen).to(ctx.device)
                init_sp[act][depth].append(init_speeds(model, x, y, depth))
                monitor = GradientMonitor(model, every=cfg.record_every, activations=False)
                a, bad = train_classifier(
                    model,
                    split,
                    epochs=cfg.epochs,
                    batch_size=cfg.batch_size,
                    lr=cfg.lr,
                    momentum=cfg.momentum,
                    weight_decay=cfg.weight_decay,
                    seed=ctx.seed + s,
                    device=ctx.device,
                    callbacks=[monitor],
                )
                monitor.detach()
                diverged[act][depth] += bad
                series = speed_series(monitor, depth)
                spreads = [speed_spread(row) for row in series]
                train_spread[act][depth].append(float(np.nanmedian(spreads)))
                acc[act][depth].append(a)

    mean_sp = {a: {d: np.mean(v, axis=0) for d, v in per.items()} for a, per in init_sp.items()}
    spread = {a: {d: speed_spread(m) for d, m in per.items()} for a, per in mean_sp.items()}
    last_first = {a: {d: float(m[-1] / m[0]) for d, m in per.items()} for a, per in mean_sp.items()}
    mean_acc = {a: {d: float(np.mean(v)) for d, v in per.items()} for a, per in acc.items()}
    sd_acc = {a: {d: float(np.std(v)) for d, v in per.items()} for a, per in acc.items()}
    shallow, deep = min(cfg.depths), max(cfg.depths)

    # criterion: every hidden layer within 10× of the others (max/min ≤ 10) at initialisation at
    # every depth, and accuracy kept with depth (see accuracy_kept)
    chance = 1.0 / split.n_classes

    def passes(act: str) -> bool | None:
        close = all(spread[act][d] <= ORDER for d in cfg.depths)
        trained = mean_acc[act][deep] > 2 * chance  # a net left at chance keeps nothing
        kept = accuracy_kept(acc[act][shallow], acc[act][deep])
        return False if not close or not trained or kept is False else kept

    judged = [a for a in NOTES_ACTIVATIONS if a in cfg.activations]
    results = {a: passes(a) for a in cfg.activations}
    outcomes = [results[a] for a in judged]
    holds: bool | None = (
        None if not judged or (None in outcomes and False not in outcomes) else all(outcomes)
    )
    _g5_figure(cfg, ctx, spread, mean_acc, sd_acc)

    def describe(act: str) -> str:
        return (
            f"{act} {spread[act][deep]:.3g}× / {100 * mean_acc[act][shallow]:.1f}→"
            f"{100 * mean_acc[act][deep]:.1f} %"
        )

    failing = [a for a in judged if results[a] is False]
    unclear = [a for a in judged if results[a] is None]
    evidence = (
        f"Spread of hidden-layer speeds (max/min) at {deep} layers and test accuracy "
        f"{shallow}→{deep} layers ({split.name}, {cfg.seeds} seeds): "
        + "; ".join(describe(a) for a in cfg.activations)
        + f" (criterion for the notes' five: spread ≤ {ORDER:g}× at every depth, and accuracy "
        f"at {deep} layers above twice chance and within 2 points of {shallow} layers; a larger "
        f"drop fails only if it also exceeds 2 standard errors, else it is within the noise"
        + (f"; failing: {', '.join(failing)}" if failing else "")
        + (f"; within the noise: {', '.join(unclear)}" if unclear else "")
        + ("; all pass)." if not failing and not unclear else ").")
    )
    rows = []
    for act in cfg.activations:
        for d in cfg.depths:
            rows.append(
                [
                    act,
                    d,
                    f"{last_first[act][d]:.3g}",
                    f"{spread[act][d]:.3g}",
                    f"{float(_geomean(np.array(train_spread[act][d]))):.3g}",
                    f"{100 * mean_acc[act][d]:.1f} ± {100 * sd_acc[act][d]:.1f}",
                    diverged[act][d],
                ]
            )
    table = Table(
        "Learning-speed spread and accuracy by activation",
        [
            "activation",
            "hidden layers",
            "s_L / s_1 at init",
            "max/min at init",
            "max/min in training (median)",
            "test accuracy (%)",
            "diverged runs",
        ],
        rows,
        caption="Sigmoid with N(0,1/n_in) weights and N(0,1) biases; the ReLU family with He "
        "(Kaiming normal) weights for their slope, Maxout (2 pieces) with gain 1; zero biases. "
        f"SGD lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}, {cfg.epochs} epochs.",
    )
    return Result(
        metrics={
            "data": split.name,
            "speeds_at_init": {
                a: {str(d): m.tolist() for d, m in per.items()} for a, per in mean_sp.items()
            },
            "spread_at_init": {a: {str(d): v for d, v in per.items()} for a, per in spread.items()},
            "last_over_first_at_init": {
                a: {str(d): v for d, v in per.items()} for a, per in last_first.items()
            },
            "spread_training_median": {
                a: {str(d): v for d, v in per.items()} for a, per in train_spread.items()
            },
            "accuracy": {a: {str(d): v for d, v in per.items()} for a, per in acc.items()},
            "diverged_runs": {
                a: {str(d): v for d, v in per.items()} for a, per in diverged.items()
            },
            "passes": results,
        },
        verdicts=[
            Verdict.from_check(
                "G5",
                holds,
                evidence,
                key=f"max spread {max(spread[a][deep] for a in judged):.3g}× vs sigmoid "
                f"{spread['sigmoid'][deep]:.3g}×"
                if judged and "sigmoid" in spread
                else "",
            )
        ],
        tables=[table],
        notes="ReLU-family units pass the error on with slope 1 where they are active, and He "
        "initialisation keeps the per-layer gain near one, so no layer is left behind; the "
        "sigmoid's σ' ≤ 1/4 shrinks the signal at every layer.",
    )


def _g5_figure(
    cfg: G5Config,
    ctx: Context,
    spread: Mapping[str, Mapping[int, float]],
    mean_acc: Mapping[str, Mapping[int, float]],
    sd_acc: Mapping[str, Mapping[int, float]],
) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    acts = list(cfg.activations)
    pos = np.arange(len(acts))
    width = 0.8 / len(cfg.depths)
    for k, d in enumerate(cfg.depths):
        off = pos + (k - (len(cfg.depths) - 1) / 2) * width
        axes[0].bar(off, [spread[a][d] for a in acts], width, label=f"{d} hidden layers")
        axes[1].bar(
            off,
            [100 * mean_acc[a][d] for a in acts],
            width,
            yerr=[100 * sd_acc[a][d] for a in acts],
            capsize=2,
            label=f"{d} hidden layers",
        )
    axes[0].axhline(ORDER, color="k", ls="--", lw=1, label="10× (one order)")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("max / min layer speed at init")
    axes[1].set_ylabel("test accuracy (%)")
    for ax in axes:
        ax.set_xticks(pos)
        ax.set_xticklabels(acts, rotation=30, fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "activations",
        "Spread of the hidden layers' learning speeds at initialisation (log) and test accuracy, "
        "per activation and depth.",
    )


# -- G6 ------------------------------------------------------------------------------------------
@dataclass
class G6Config:
    data: str = "digits"
    depths: tuple[int, ...] = (4, 8)
    width: int = 30
    seeds: int = 3
    n_images: int = 1000
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01  # effective step lr / (1 - momentum) = Nielsen's η = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    record_every: int = 10


def weight_speed_series(monitor: GradientMonitor, depth: int) -> np.ndarray:
    """Per recorded step, ||∂C/∂W_l||_F / √fan_in of hidden layers 1 … ``depth``: [steps, depth].

    The weight-based learning speed the :class:`~nndl.diagnostics.GradientMonitor` uses for a
    layer without a bias, read from its history for every ``fc{l}`` whether or not it has one.
    """
    names = {f"fc{layer}.weight": layer - 1 for layer in range(1, depth + 1)}
    steps = {step: row for row, step in enumerate(monitor.steps)}
    out = np.full((len(steps), depth), np.nan)
    for record in monitor.history:
        column = names.get(record["parameter"])
        if column is not None and record["grad_norm"] is not None:
            fan_in = monitor.module.get_parameter(record["parameter"]).shape[1]
            out[steps[record["step"]], column] = record["grad_norm"] / math.sqrt(fan_in)
    return out


def _init_measures(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, depth: int
) -> tuple[list[float], list[float]]:
    """Bias-based (β in BN nets) and weight-based speeds of the hidden layers at initialisation."""
    with GradientMonitor(model, activations=False) as monitor:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        monitor.record()
    model.zero_grad(set_to_none=True)
    bias = hidden_speeds(monitor.learning_speed(), depth)
    return bias, weight_speed_series(monitor, depth)[0].tolist()


@register(
    "g6_batchnorm",
    claims=("G6",),
    title="BatchNorm makes a deep sigmoid net learn at comparable speeds across layers, and train",
    config=G6Config,
    presets={
        "tiny": {
            "depths": (3,),
            "seeds": 1,
            "n_images": 200,
            "epochs": 1,
            "batch_size": 256,
            "record_every": 2,
        },
        "quick": {"depths": (8,)},
        "full": {"depths": (4, 8, 16), "seeds": 5, "epochs": 30},
    },
)
def run_g6(cfg: G6Config, ctx: Context) -> Result:
    check_config(cfg, nonnegative=("weight_decay",), fractions=("momentum",))
    split = load_split(cfg.data, ctx.seed)
    n = min(cfg.n_images, split.x_train.shape[0])
    x, y = split.x_train[:n].to(ctx.device), split.y_train[:n].to(ctx.device)
    variants = {v: G2_VARIANTS[v] for v in ("sigmoid", "sigmoid + BatchNorm")}
    configs = [(v, d) for v in variants for d in cfg.depths] + [(v, 1) for v in variants]
    measures = ("bias", "weight")
    # init[measure][(variant, depth)] = seeds × layers; series likewise, steps × layers per seed
    init: dict[str, dict[tuple[str, int], list[list[float]]]] = {m: {} for m in measures}
    series: dict[str, dict[tuple[str, int], list[np.ndarray]]] = {m: {} for m in measures}
    acc: dict[tuple[str, int], list[float]] = {}
    for k, (variant, depth) in enumerate(ctx.track(configs, "G6 nets")):
        key = (variant, depth)
        for m in measures:
            init[m][key], series[m][key] = [], []
        acc[key] = []
        kw = variants[variant]
        for s in range(cfg.seeds):
            gen = ctx.generator(10_000 * (k + 1) + s)
            model = mlp(
                _sizes(split.n_features, cfg.width, depth, split.n_classes),
                **{**kw, "init_kwargs": {**kw["init_kwargs"], "generator": gen}},
            ).to(ctx.device)
            bias, weight = _init_measures(model, x, y, depth)
            init["bias"][key].append(bias)
            init["weight"][key].append(weight)
            monitor = GradientMonitor(model, every=cfg.record_every, activations=False)
            a, _ = train_classifier(
                model,
                split,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                momentum=cfg.momentum,
                weight_decay=cfg.weight_decay,
                seed=ctx.seed + s,
                device=ctx.device,
                callbacks=[monitor],
            )
            monitor.detach()
            series["bias"][key].append(speed_series(monitor, depth))
            series["weight"][key].append(weight_speed_series(monitor, depth))
            acc[key].append(a)

    def spread_init(measure: str, key: tuple[str, int]) -> float:
        return speed_spread(np.mean(init[measure][key], axis=0))

    def spread_train(measure: str, key: tuple[str, int]) -> float:
        per_seed = [np.nanmedian([speed_spread(r) for r in s]) for s in series[measure][key]]
        return float(_geomean(np.array(per_seed)))

    def mean_acc(key: tuple[str, int]) -> float:
        return float(np.mean(acc[key]))

    deep = max(cfg.depths)
    bn, plain = ("sigmoid + BatchNorm", deep), ("sigmoid", deep)
    ref = max(((v, 1) for v in variants), key=mean_acc)
    # criterion: at every depth the BN net's layers learn within 10× of each other, by the
    # weight-based speed ||∂C/∂W_l||/√fan_in, at initialisation and (median) in training; and it
    # trains: test accuracy above twice chance and within 2 points of the better one-hidden-layer
    # net. (The BN shift's ||∂C/∂β_l|| is reported too but not judged: every β_l except the last
    # hidden layer's feeds the next BatchNorm, whose backward pass removes the batch mean of the
    # gradient, so ∂C/∂β_l = Σ_batch δ_l is small for all but the last one, whatever the depth.)
    bn_keys = [("sigmoid + BatchNorm", d) for d in cfg.depths]
    comparable = all(
        spread_init("weight", key) <= ORDER and spread_train("weight", key) <= ORDER
        for key in bn_keys
    )
    trains = mean_acc(bn) >= mean_acc(ref) - 0.02 and mean_acc(bn) > 2 / split.n_classes
    holds = comparable and trains
    _g6_figure(cfg, ctx, init, series)
    worst = max(bn_keys, key=lambda key: spread_init("weight", key))
    beta = np.mean(init["bias"][bn], axis=0)
    beta_others = speed_spread(beta[:-1]) if len(beta) > 1 else 1.0
    evidence = (
        f"At {deep} hidden sigmoid layers ({split.name}, {cfg.seeds} seeds) BatchNorm brings the "
        f"spread of the layers' weight-based speeds ||∂C/∂W_l||/√n_in (max/min) from "
        f"{spread_init('weight', plain):.3g}× to {spread_init('weight', bn):.3g}× at "
        f"initialisation and from {spread_train('weight', plain):.3g}× to "
        f"{spread_train('weight', bn):.3g}× in training (median; largest BN spread at any depth "
        f"{spread_init('weight', worst):.3g}× at {worst[1]}), and test accuracy from "
        f"{100 * mean_acc(plain):.1f} % to {100 * mean_acc(bn):.1f} % (best one-hidden-layer "
        f"net, {ref[0]}: {100 * mean_acc(ref):.1f} %); criterion: BN spreads ≤ {ORDER:g}× at "
        f"every depth, accuracy above twice chance and within 2 points of the best one-layer net. "
        f"By bias speeds "
        f"(||∂C/∂b_l||, ||∂C/∂β_l|| with BN) the spread goes from "
        f"{spread_init('bias', plain):.3g}× to {spread_init('bias', bn):.3g}×, of which "
        f"{beta_others:.3g}× among all but the last hidden layer."
    )
    rows = [
        [
            variant,
            depth,
            f"{spread_init('bias', (variant, depth)):.3g}",
            f"{spread_init('weight', (variant, depth)):.3g}",
            f"{spread_train('bias', (variant, depth)):.3g}",
            f"{spread_train('weight', (variant, depth)):.3g}",
            f"{100 * mean_acc((variant, depth)):.1f} ± "
            f"{100 * float(np.std(acc[(variant, depth)])):.1f}",
        ]
        for variant, depth in configs
    ]
    table = Table(
        "Deep sigmoid nets with and without BatchNorm: spread of the layers' speeds (max/min)",
        [
            "net",
            "hidden layers",
            "bias speed, init",
            "weight speed, init",
            "bias speed, training",
            "weight speed, training",
            "test acc. (%)",
        ],
        rows,
        caption="Bias speed ||∂C/∂b_l|| (||∂C/∂β_l|| of the BatchNorm shift in BN nets); weight "
        "speed ||∂C/∂W_l||_F/√fan_in; training columns are medians over the recorded steps. "
        f"SGD lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}, {cfg.epochs} epochs.",
    )
    return Result(
        metrics={
            "data": split.name,
            "speeds_at_init": {
                m: {f"{v}/{d}": np.mean(init[m][(v, d)], axis=0).tolist() for v, d in configs}
                for m in measures
            },
            "spread_at_init": {
                m: {f"{v}/{d}": spread_init(m, (v, d)) for v, d in configs} for m in measures
            },
            "spread_training_median": {
                m: {f"{v}/{d}": spread_train(m, (v, d)) for v, d in configs} for m in measures
            },
            "accuracy": {f"{v}/{d}": acc[(v, d)] for v, d in configs},
            "comparable_speeds": comparable,
            "trains": trains,
        },
        verdicts=[
            Verdict.from_check(
                "G6",
                holds,
                evidence,
                key=f"spread {spread_init('weight', plain):.3g}× → "
                f"{spread_init('weight', bn):.3g}×, acc {100 * mean_acc(plain):.0f} → "
                f"{100 * mean_acc(bn):.0f} %",
            )
        ],
        tables=[table],
        notes="BatchNorm rescales each layer's pre-activations to zero mean and unit variance, "
        "so σ'(z) stays near its maximum and the backward pass divides by the same scale the "
        "forward pass multiplied by: the per-layer gain stays near one.",
    )


def _g6_figure(
    cfg: G6Config,
    ctx: Context,
    init: Mapping[str, Mapping[tuple[str, int], list[list[float]]]],
    series: Mapping[str, Mapping[tuple[str, int], list[np.ndarray]]],
) -> None:
    plt = _plt()
    deep = max(cfg.depths)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    layers = np.arange(1, deep + 1)
    for variant, color in (("sigmoid", "C0"), ("sigmoid + BatchNorm", "C1")):
        for measure, style in (("weight", "o-"), ("bias", "s--")):
            m = np.mean(init[measure][(variant, deep)], axis=0)
            axes[0].semilogy(layers, m, style, color=color, label=f"{variant}, {measure}")
    axes[0].set_xlabel("hidden layer")
    axes[0].set_ylabel("learning speed at init")
    axes[0].set_title(f"{deep} hidden layers, mean over seeds", fontsize=10)
    axes[0].legend(fontsize=7)
    for ax, variant in zip(axes[1:], ("sigmoid", "sigmoid + BatchNorm"), strict=True):
        s = series["weight"][(variant, deep)][0]
        steps = np.arange(s.shape[0]) * cfg.record_every
        for layer in range(deep):
            ax.semilogy(steps, s[:, layer], label=f"layer {layer + 1}", lw=1)
        ax.set_title(f"{variant}, {deep} layers (seed 0)", fontsize=10)
        ax.set_xlabel("SGD step")
        ax.set_ylabel("||∂C/∂W_l|| / √fan_in")
    axes[2].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "batchnorm",
        "Left: learning speed per hidden layer at initialisation, weight-based (solid) and "
        "bias-based (dashed; the BatchNorm shift β in BN nets). Middle and right: weight-based "
        "speeds along training without and with BatchNorm.",
    )


# -- G7 ------------------------------------------------------------------------------------------
SQRT2 = math.sqrt(2.0)


@dataclass
class G7Config:
    data: str = "digits"
    activations: tuple[str, ...] = ("sigmoid", "tanh", "relu")
    scales: tuple[float, ...] = (0.25, 0.5, 1.0, SQRT2, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
    depths: tuple[int, ...] = (2, 6, 12)
    width: int = 32
    seeds: int = 3  # networks per cell for the gradient at initialisation
    n_images: int = 500
    steps: int = 150  # SGD steps for trainability (seed 0 of each cell)
    batch_size: int = 64
    lr: float = 0.02
    momentum: float = 0.9
    trainable_accuracy: float = 0.5


#: The "right" scales of G7 in units of 1/√n_in: Xavier/Glorot (gain 1; m = 1 for square
#: layers) for sigmoid and tanh, Qiu's book's Xavier for the logistic (gain 4), He for ReLU.
RIGHT_SCALES: dict[str, dict[str, float]] = {
    "sigmoid": {"Xavier": 1.0, "Xavier ×4 (Qiu, logistic)": 4.0},
    "tanh": {"Xavier": 1.0},
    "relu": {"He": SQRT2},
}


def init_scale_checks(
    scales: Sequence[float],
    ratio: Mapping[float, float],
    trainable: Mapping[float, bool],
    right: Sequence[float],
) -> dict[str, bool]:
    """G7's criterion for one activation at one depth.

    Args:
        scales: the swept multipliers m (weights N(0, m²/n_in)).
        ratio: first/last hidden-layer speed s_1/s_L per scale (NaN/∞ for overflow).
        trainable: whether training reached the accuracy threshold, per scale.
        right: the scales the claim names as right (one must pass).

    Returns:
        ``right_ok``: some right scale has 1/10 ≤ s_1/s_L ≤ 10 and trains; ``small_vanishes``:
        the smallest scale has s_1/s_L < 1/10; ``large_explodes``: the largest scale has
        s_1/s_L > 10 or a non-finite gradient.
    """
    low, high = min(scales), max(scales)
    right_ok = any(1 / ORDER <= ratio[m] <= ORDER and trainable[m] for m in right if m in ratio)
    small = ratio[low] < 1 / ORDER
    large = not math.isfinite(ratio[high]) or ratio[high] > ORDER
    return {"right_ok": right_ok, "small_vanishes": small, "large_explodes": large}


def train_stacked(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    momentum: float,
    generator: torch.Generator,
) -> list[float]:
    """Train same-architecture models in place, side by side (``torch.func.vmap``).

    The models share the mini-batches; their parameters are stacked
    (``torch.func.stack_module_state``) and updated by one SGD optimiser, which is the same as
    training each alone because the summed loss separates; the trained values are copied back
    into the models. A model whose loss overflows only spoils its own slice. On small nets this
    costs about a third of training them one by one.

    Returns:
        Each model's accuracy on ``(x, y)`` after training.
    """
    from torch.func import functional_call, stack_module_state, vmap

    params, buffers = stack_module_state(list(models))
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xb: torch.Tensor):
        return functional_call(base, (p, b), (xb,))

    batched = vmap(forward, in_dims=(0, 0, None))
    optimizer = torch.optim.SGD(list(params.values()), lr=lr, momentum=momentum)
    k = len(models)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=generator).to(x.device)
        logits = batched(params, buffers, x[idx])  # (K, B, classes)
        losses = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(k), reduction="none").view(
            k, -1
        )
        optimizer.zero_grad(set_to_none=True)
        losses.mean(dim=1).sum().backward()
        optimizer.step()
    with torch.no_grad():
        predictions = batched(params, buffers, x).argmax(dim=-1)
        for name, stacked in params.items():
            for model, value in zip(models, stacked, strict=True):
                model.get_parameter(name).copy_(value)
    return (predictions == y).float().mean(dim=1).tolist()


@register(
    "g7_init_scale",
    claims=("G7",),
    title="Initialisation scale × depth: too small vanishes, too large explodes, Xavier/He work",
    config=G7Config,
    presets={
        "tiny": {
            "activations": ("tanh", "relu"),
            "scales": (0.25, 1.0, SQRT2, 16.0),
            "depths": (2, 4),
            "seeds": 1,
            "n_images": 100,
            "steps": 5,
        },
        "quick": {"seeds": 2, "n_images": 300, "steps": 120},
        "full": {"depths": (2, 4, 6, 8, 12, 16, 24), "seeds": 10, "steps": 500},
    },
)
def run_g7(cfg: G7Config, ctx: Context) -> Result:
    check_config(cfg, fractions=("momentum", "trainable_accuracy"))
    _check_activations(cfg.activations)
    split = load_split(cfg.data, ctx.seed)
    n = min(cfg.n_images, split.x_train.shape[0])
    x, y = split.x_train[:n].to(ctx.device), split.y_train[:n].to(ctx.device)
    xs, ys = split.x_train.to(ctx.device), split.y_train.to(ctx.device)
    scales = list(cfg.scales)
    first: dict[str, np.ndarray] = {}  # activation -> (depth, scale) first-layer speed
    ratio: dict[str, np.ndarray] = {}  # activation -> (depth, scale) s_1 / s_L
    train_acc: dict[str, np.ndarray] = {}  # activation -> (depth, scale) training accuracy
    for i, act in enumerate(cfg.activations):
        first[act] = np.zeros((len(cfg.depths), len(scales)))
        ratio[act] = np.zeros_like(first[act])
        train_acc[act] = np.zeros_like(first[act])
        for r, depth in enumerate(ctx.track(cfg.depths, f"G7 {act}")):
            sizes = _sizes(split.n_features, cfg.width, depth, split.n_classes)
            to_train = []
            for c, scale in enumerate(scales):
                gen = ctx.generator(100_000 * (i + 1) + 1000 * r + c)
                nets = [
                    _gaussian_mlp(sizes, act, scale, gen).to(ctx.device) for _ in range(cfg.seeds)
                ]
                sp = np.array([init_speeds(net, x, y, depth) for net in nets])
                with np.errstate(all="ignore"):
                    first[act][r, c] = float(_geomean(sp[:, 0]))
                    ratio[act][r, c] = float(_geomean(sp[:, 0] / sp[:, -1]))
                to_train.append(nets[0])
            train_acc[act][r] = train_stacked(
                to_train,
                xs,
                ys,
                steps=cfg.steps,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                momentum=cfg.momentum,
                generator=ctx.generator(200_000 + 1000 * i + r),
            )

    deep_row = len(cfg.depths) - 1
    checks: dict[str, dict[str, bool]] = {}
    for act in cfg.activations:
        right = [m for m in RIGHT_SCALES.get(act, {}).values() if m in scales]
        ratios = dict(zip(scales, ratio[act][deep_row].tolist(), strict=True))
        trainable = {
            m: a >= cfg.trainable_accuracy
            for m, a in zip(scales, train_acc[act][deep_row].tolist(), strict=True)
        }
        checks[act] = init_scale_checks(scales, ratios, trainable, right)
    holds = all(all(c.values()) for c in checks.values())
    _g7_figure(cfg, ctx, first, train_acc)

    deep = cfg.depths[-1]

    def at(act: str, m: float) -> str:
        c = scales.index(m)
        return (
            f"s₁/s_L {ratio[act][deep_row, c]:.2g}, acc {100 * train_acc[act][deep_row, c]:.0f} %"
        )

    parts = []
    for act in cfg.activations:
        failed = [k for k, v in checks[act].items() if not v]
        right = ", ".join(
            f"{name} (m={m:.3g}): {at(act, m)}"
            for name, m in RIGHT_SCALES.get(act, {}).items()
            if m in scales
        )
        parts.append(
            f"{act}: {right}; m={min(scales):g}: s₁/s_L {ratio[act][deep_row, 0]:.2g}; "
            f"m={max(scales):g}: {ratio[act][deep_row, -1]:.2g}"
            + (f" [fails: {', '.join(failed)}]" if failed else "")
        )
    evidence = (
        f"At {deep} hidden layers ({split.name}; weights N(0, m²/n_in); trained {cfg.steps} SGD "
        f"steps): "
        + "; ".join(parts)
        + f" (criterion: a right scale keeps 1/10 ≤ s₁/s_L ≤ 10 and reaches "
        f"{100 * cfg.trainable_accuracy:.0f} % training accuracy, the smallest scale gives "
        f"s₁/s_L < 1/10 and the largest > 10)."
    )
    tables = []
    for act in cfg.activations:
        tables.append(
            Table(
                f"{act}: s₁/s_L at initialisation | training accuracy (%) after {cfg.steps} steps",
                ["hidden layers", *(f"m={m:.3g}" for m in scales)],
                [
                    [d]
                    + [
                        f"{ratio[act][r, c]:.2g} | {100 * train_acc[act][r, c]:.0f}"
                        for c in range(len(scales))
                    ]
                    for r, d in enumerate(cfg.depths)
                ],
            )
        )

    def grid(a: np.ndarray) -> dict[str, dict[str, float]]:
        return {
            str(d): {f"{m:.4g}": float(a[r, c]) for c, m in enumerate(scales)}
            for r, d in enumerate(cfg.depths)
        }

    return Result(
        metrics={
            "data": split.name,
            "first_layer_speed": {a: grid(v) for a, v in first.items()},
            "first_over_last": {a: grid(v) for a, v in ratio.items()},
            "train_accuracy": {a: grid(v) for a, v in train_acc.items()},
            "checks_at_deepest": checks,
        },
        verdicts=[
            Verdict.from_check(
                "G7",
                holds,
                evidence,
                key=", ".join(
                    f"{a} {'ok' if all(c.values()) else 'fails'}" for a, c in checks.items()
                ),
            )
        ],
        tables=tables,
        notes="The per-layer gain of the backward pass is m·√E[σ'(z)²]: near one at the "
        "right scale, below one (vanishing) when m is too small and above one (exploding) when "
        "it is too large. Xavier's m = 1 assumes σ'(0) = 1, true for tanh but not for the "
        "sigmoid (σ'(0) = 1/4).",
    )


def _g7_figure(
    cfg: G7Config,
    ctx: Context,
    first: Mapping[str, np.ndarray],
    train_acc: Mapping[str, np.ndarray],
) -> None:
    plt = _plt()
    acts = list(cfg.activations)
    scales = list(cfg.scales)
    fig, axes = plt.subplots(2, len(acts), figsize=(4.6 * len(acts), 6.4), squeeze=False)
    for col, act in enumerate(acts):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_first = np.log10(first[act])
        for row, (data, label, kwargs) in enumerate(
            (
                (log_first, "log10 ||∂C/∂b₁|| at init", {"cmap": "coolwarm"}),
                (
                    100 * train_acc[act],
                    f"training accuracy (%) after {cfg.steps} steps",
                    {"cmap": "viridis", "vmin": 0, "vmax": 100},
                ),
            )
        ):
            ax = axes[row][col]
            masked = np.ma.masked_invalid(data)
            image = ax.imshow(masked, aspect="auto", origin="lower", **kwargs)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03).set_label(label, fontsize=7)
            ax.set_xticks(range(len(scales)))
            ax.set_xticklabels([f"{m:.3g}" for m in scales], fontsize=7, rotation=45)
            ax.set_yticks(range(len(cfg.depths)))
            ax.set_yticklabels([str(d) for d in cfg.depths], fontsize=8)
            ax.set_xlabel("weight scale m (std = m/√n_in)", fontsize=8)
            ax.set_ylabel("hidden layers", fontsize=8)
            ax.set_title(act, fontsize=10)
            marks = {"X": 1.0, "H": SQRT2} | ({"Q": 4.0} if act == "sigmoid" else {})
            right = set(RIGHT_SCALES.get(act, {}).values())
            for letter, m in marks.items():
                if m in scales:
                    for r in range(len(cfg.depths)):
                        ax.text(
                            scales.index(m),
                            r,
                            letter,
                            ha="center",
                            va="center",
                            color="w" if m in right else "0.75",
                            fontsize=9 if m in right else 7,
                            fontweight="bold",
                        )
            for r in range(len(cfg.depths)):
                for c in range(len(scales)):
                    if np.ma.is_masked(masked[r, c]):
                        ax.text(c, r, "NaN", ha="center", va="center", fontsize=6)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "init_scale",
        "Top: first-layer gradient at initialisation (log10); bottom: training accuracy after a "
        "fixed number of SGD steps. X = Xavier/Glorot (m = 1), H = He (m = √2), Q = Qiu's Xavier "
        "for the logistic (m = 4); the scale the claim names for the activation in white.",
    )
