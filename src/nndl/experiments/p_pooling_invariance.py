r"""P2: pooled features are more invariant to small translations, deformations and rescaling.

Invariance is a property of a *layer*, so it is measured inside one network, across its pooling
layers: for the activations :math:`a` entering pooling layer ``pool{i}``, the pooled maps
:math:`p` leaving it and a transform :math:`T` of the input image,

.. math:: \delta_a = \frac{\|a(Tx) - a(x)\|}{\|a(x)\|}, \qquad
          \delta_p = \frac{\|p(Tx) - p(x)\|}{\|p(x)\|}

(``nndl.analysis.invariance_profile``; relative to the feature scale because a maximum is
larger than the values it is taken over). Pooling makes the features more invariant to
:math:`T` when :math:`\delta_p < \delta_a`; comparing two layers of the *same* trained network
removes every confound of comparing different architectures. Each seed is an independently
trained CNN (He-normal initialisation) on the same 500 real MNIST digits; the transforms
(``nndl.analysis.transform_families``) are translations by 1–2 pixels in four directions,
Simard-style elastic deformations and rescaling about the centre (0.5 = "a dog shrunk by
half"). The accuracy under each transform, relative to the clean accuracy, is reported beside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import numpy as np
from torch import nn

from nndl.analysis import all_of, invariance_profile, mean_interval, sign_test, transform_families
from nndl.data import load_image_subsets
from nndl.nn import cnn
from nndl.train import StackedModels, fit_stacked

from .config import Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

FAMILIES: tuple[str, ...] = ("translation", "elastic", "rescaling")
POOLED: tuple[str, ...] = ("max", "avg")
_AXIS = {"translation": "shift (px)", "elastic": "elastic α (px)", "rescaling": "scale factor"}
_COLOURS = {"max": "C0", "avg": "C1", "none": "C3"}


@dataclass
class P2Config:
    data: str = "mnist-5k"
    crop: int = 20
    image_size: int = 12
    n_train: int = 500
    n_eval: int = 200
    channels: tuple[int, ...] = (4, 8)
    hidden: int = 32
    init: str = "kaiming_normal"
    epochs: int = 10
    batch_size: int = 20
    lr: float = 1e-2
    seeds: int = 5
    variants: tuple[str, ...] = POOLED
    shifts: tuple[int, ...] = (1, 2)
    elastic_alphas: tuple[float, ...] = (1.0, 2.0)
    elastic_sigma: float = 1.0
    scales: Annotated[tuple[float, ...], Range(0.1, 4.0)] = (0.5, 0.75, 1.25)


P2_RULE = Rule(
    claim="P2",
    statistic="inside each trained pooled CNN, the relative feature change δ = ‖f(Tx) − "
    "f(x)‖/‖f(x)‖ of the maps just before (δ_a) and just after (δ_p) each pooling layer, means "
    "over held-out digits; per seed r = mean over the pooling layers and the magnitudes of "
    "ln(δ_p/δ_a); one-sided sign tests over seeds for each pooling type (max, avg) and transform "
    "family (translation, elastic deformation, rescaling)",
    holds="for every pooling type and family, the sign test of r < 0 gives p ≤ alpha",
    does_not_hold="for some pooling type and family, the sign test of r > 0 gives p ≤ alpha",
    inconclusive="otherwise, or the guard fails: the nets' mean clean test accuracy is below "
    "min_clean_accuracy (the features were not learned)",
    seeds=5,
    rationale="comparing two layers of one network isolates what the pooling layer does; a sign "
    "test assumes nothing about the distribution of r, and with 5 seeds it needs all 5 to agree",
    params={"alpha": 0.05, "min_clean_accuracy": 0.8},
)


def _cnn(cfg: P2Config, n_classes: int, pool: str, seed: int) -> nn.Module:
    """One copy (``StackedModels.from_factory`` seeds the RNG with ``seed`` before the call)."""
    size, channels = cfg.image_size, cfg.channels
    return cnn(1, n_classes, size, channels, pool=pool, hidden=cfg.hidden, init=cfg.init)


def measure(cfg: P2Config, ctx: Context) -> dict[str, Any]:
    """Train ``cfg.seeds`` CNNs per variant side by side, then measure across their pools."""
    x_tr, y_tr, x_ev, y_ev = (
        t.to(ctx.device)
        for t in load_image_subsets(
            cfg.data, n_train=cfg.n_train, n_test=cfg.n_eval, seed=ctx.seed, crop=cfg.crop,
            size=cfg.image_size,
        )
    )  # fmt: skip
    sets = transform_families(
        x_ev, shifts=cfg.shifts, elastic_alphas=cfg.elastic_alphas,
        elastic_sigma=cfg.elastic_sigma, scales=cfg.scales, generator=ctx.generator(17),
    )  # fmt: skip
    nets: dict[str, list[dict[str, Any]]] = {}
    for pool in ctx.track(cfg.variants, "P2 variants"):
        build = partial(_cnn, cfg, int(y_tr.max()) + 1, pool)
        stacked = StackedModels.from_factory(build, [1000 * ctx.seed + s for s in range(cfg.seeds)])
        fit_stacked(
            stacked, x_tr, y_tr, optimizer="adam", lr=cfg.lr, epochs=cfg.epochs,
            batch_size=cfg.batch_size, seed=ctx.seed, device=ctx.device,
        )  # fmt: skip
        pools = [f"pool{i}" for i in range(1, len(cfg.channels) + 1)] if pool in POOLED else []
        nets[pool] = [
            invariance_profile(n.eval(), x_ev, y_ev, sets, pools) for n in stacked.unstack()
        ]
    magnitudes = {f: [m for m, _ in items] for f, items in sets.items()}
    return {"magnitudes": magnitudes, "nets": nets, "n_eval": cfg.n_eval, "data": cfg.data}


def _log_ratios(nets: list[Mapping[str, Any]], family: str) -> list[float]:
    """Per seed r = mean over magnitudes and pooling layers of ln(δ_after / δ_before)."""
    ratios = [
        np.array(n[family]["after"], float) / np.array(n[family]["before"], float) for n in nets
    ]
    return [float(np.mean(np.log(r))) for r in ratios]


def _retained(nets: list[Mapping[str, Any]], family: str) -> float:
    """Mean over seeds and magnitudes of acc(Tx) / acc(x)."""
    return float(np.mean([np.mean(n[family]["accuracy"]) / n["clean_accuracy"] for n in nets]))


def judge(metrics: Mapping[str, Any], cfg: P2Config) -> list[Verdict]:
    """P2 by :data:`P2_RULE`: one-sided sign tests of r < 0 per pooling type and family."""
    rule, nets = P2_RULE, metrics["nets"]
    alpha, pooled = rule["alpha"], [v for v in POOLED if v in nets]
    parts, lines, shrink = [], [], []
    for v in pooled:
        for family in FAMILIES:
            r = _log_ratios(nets[v], family)
            less, greater = sign_test(r, alternative="less"), sign_test(r, alternative="greater")
            refuted = "does not hold" if greater <= alpha else "inconclusive"
            parts.append("holds" if less <= alpha else refuted)
            shrink.append(float(np.exp(np.mean(r))))
            lines.append(
                f"{v}/{family}: δ_after/δ_before = {shrink[-1]:.2f} (geometric mean), "
                f"{sum(x < 0 for x in r)}/{len(r)} seeds < 1, p = {less:.3f}"
            )
    clean = float(np.mean([as_float(n["clean_accuracy"]) for v in nets for n in nets[v]]))
    status = all_of(parts) if parts else "inconclusive"
    reason = "" if parts else "no pooled variant was measured"
    if status == "inconclusive" and parts:
        reason = "a sign test is not significant either way; more seeds would settle it"
    if clean < rule["min_clean_accuracy"] and status != "does not hold":
        status = "inconclusive"
        reason = f"guard: mean clean accuracy {clean * 100:.1f}% < "
        reason += f"{rule['min_clean_accuracy'] * 100:.0f}%; more epochs would settle it"
    retained = "; ".join(
        f"{v} " + ", ".join(f"{f} {_retained(n, f) * 100:.0f}%" for f in FAMILIES)
        for v, n in nets.items()
    )
    evidence = (
        "Relative feature change just after against just before each pooling layer, same net, "
        f"{metrics['n_eval']} held-out digits: " + "; ".join(lines) + f". Clean test accuracy "
        f"{clean * 100:.1f}%; accuracy under the transforms as a share of it (mean over "
        f"magnitudes): {retained}."
    )
    key = f"δ after/before ≤ {max(shrink, default=float('nan')):.2f}"
    return [Verdict("P2", status, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: P2Config, canvas: Canvas) -> None:
    """δ before/after pooling and relative accuracy against the transform's magnitude."""
    fig, axes = canvas.subplots(2, len(FAMILIES), figsize=(4 * len(FAMILIES), 6.5), squeeze=False)
    rows = []
    for col, family in enumerate(FAMILIES):
        mags = metrics["magnitudes"][family]
        for v, nets in metrics["nets"].items():
            colour = _COLOURS.get(v, "C7")
            for side, style in (("before", "--"), ("after", "-")) if v in POOLED else ():
                vals = np.mean([np.mean(n[family][side], axis=1) for n in nets], axis=0)
                label = f"{v}, {side} pool"
                axes[0, col].plot(mags, vals, style, marker="o", color=colour, label=label)
            acc = np.mean([np.array(n[family]["accuracy"]) / n["clean_accuracy"] for n in nets], 0)
            axes[1, col].plot(mags, acc * 100, marker="o", color=colour, label=v)
        axes[0, col].set_title(family)
        axes[1, col].set_xlabel(_AXIS[family])
    for v, nets in metrics["nets"].items():
        for family in FAMILIES:
            r = _log_ratios(nets, family) if v in POOLED else []
            iv = mean_interval(r) if len(r) > 1 else None
            rows.append([
                v, family, round(float(np.exp(np.mean(r))), 3) if r else "",
                f"[{np.exp(iv.low):.3f}, {np.exp(iv.high):.3f}]" if iv else "",
                f"{sum(x < 0 for x in r)}/{len(r)}" if r else "", round(_retained(nets, family), 3),
            ])  # fmt: skip
    axes[0, 0].set_ylabel("relative feature change δ")
    axes[1, 0].set_ylabel("accuracy / clean accuracy (%)")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    canvas.save(
        fig,
        "invariance_across_pooling",
        "Top: relative change of the maps entering (dashed) and leaving (solid) the pooling "
        "layers, mean over layers and seeds. Bottom: accuracy under the transform relative to "
        "clean accuracy.",
    )
    canvas.table(
        "Feature change across pooling and accuracy retained",
        ["pooling", "transform", "δ after/before", "95% t interval", "seeds < 1", "acc / clean"],
        rows,
    )
    canvas.notes = (
        "A 2×2 maximum does not change while its strongest input moves within the window, and a "
        "2×2 mean moves by a quarter of what a single input does, so the pooled maps move less, "
        "relative to their size, than the maps they are computed from."
    )


register(
    "p2_pooling_invariance",
    title="Pooled features change less under translation, deformation and rescaling (in-network)",
    config=P2Config,
    presets={
        "tiny": {
            "n_train": 60,
            "n_eval": 40,
            "epochs": 1,
            "seeds": 2,
            "image_size": 8,
            "shifts": (1,),
            "elastic_alphas": (1.0,),
            "scales": (0.75,),
        },
        "quick": {},
        "full": {
            "seeds": 8,
            "n_train": 800,
            "n_eval": 400,
            "epochs": 10,
            "variants": ("max", "avg", "none"),
        },
    },
    rules=(P2_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="The same trained CNN is compared with itself, just before and just after each "
    "pooling layer, over independently trained seeds with a sign test.",
)
