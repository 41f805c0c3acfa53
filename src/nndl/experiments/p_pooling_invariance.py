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

from nndl.analysis import all_of, invariance_profile, mean_interval, sign_test, transform_families
from nndl.data import load_image_subsets
from nndl.nn import cnn
from nndl.train import StackedModels, fit_stacked

from . import Canvas, Context, Range, Verdict, as_float, register, rule

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


P2_RULE = rule("p2_pooling_invariance", "P2")


def measure(cfg: P2Config, ctx: Context) -> dict[str, Any]:
    """Train ``cfg.seeds`` CNNs per variant side by side, then measure across their pools."""
    sizes = {"n_train": cfg.n_train, "n_test": cfg.n_eval, "crop": cfg.crop, "size": cfg.image_size}
    x_tr, y_tr, x_ev, y_ev = (
        t.to(ctx.device) for t in load_image_subsets(cfg.data, seed=ctx.seed, **sizes)
    )
    families = {k: getattr(cfg, k) for k in ("shifts", "elastic_alphas", "elastic_sigma", "scales")}
    sets = transform_families(x_ev, generator=ctx.generator(17), **families)
    shape = (1, int(y_tr.max()) + 1, cfg.image_size, cfg.channels)
    seeds = [1000 * ctx.seed + s for s in range(cfg.seeds)]
    fit: dict[str, Any] = {"lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size}
    nets: dict[str, list[dict[str, Any]]] = {}
    for pool in ctx.track(cfg.variants, "P2 variants"):
        build = partial(cnn, *shape, pool=pool, hidden=cfg.hidden, init=cfg.init)
        stacked = StackedModels.from_factory(lambda _: build(), seeds)  # noqa: B023 (used at once)
        fit_stacked(stacked, x_tr, y_tr, optimizer="adam", **fit, seed=ctx.seed, device=ctx.device)
        pools = [f"pool{i}" for i in range(1, len(cfg.channels) + 1)] if pool in POOLED else []
        nets[pool] = [
            invariance_profile(n.eval(), x_ev, y_ev, sets, pools) for n in stacked.unstack()
        ]
    magnitudes = {f: [m for m, _ in items] for f, items in sets.items()}
    return {"magnitudes": magnitudes, "nets": nets, "n_eval": cfg.n_eval, "data": cfg.data}


def _log_ratios(nets: list[Mapping[str, Any]], family: str) -> list[float]:
    """Per seed r = mean over magnitudes and pooling layers of ln(δ_after / δ_before)."""
    after, before = ([np.array(n[family][s], float) for n in nets] for s in ("after", "before"))
    return [float(np.mean(np.log(a / b))) for a, b in zip(after, before, strict=True)]


def _retained(nets: list[Mapping[str, Any]], family: str) -> float:
    """Mean over seeds and magnitudes of acc(Tx) / acc(x)."""
    return float(np.mean([np.mean(n[family]["accuracy"]) / n["clean_accuracy"] for n in nets]))


def judge(metrics: Mapping[str, Any], cfg: P2Config) -> list[Verdict]:
    """P2 by :data:`P2_RULE`: one-sided sign tests of r < 0 per pooling type and family."""
    nets, alpha, min_clean = metrics["nets"], P2_RULE["alpha"], P2_RULE["min_clean_accuracy"]
    parts, lines, shrink = [], [], []
    for v in (v for v in POOLED if v in nets):
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
    if clean < min_clean and status != "does not hold":
        status = "inconclusive"
        reason = f"guard: mean clean accuracy {clean * 100:.1f}% < "
        reason += f"{min_clean * 100:.0f}%; more epochs would settle it"
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


def _ratio_cells(r: list[float]) -> list[Any]:
    """Table cells of per-seed log ratios: geometric mean, its 95% t interval, seeds below 1."""
    if not r:
        return ["", "", ""]
    iv = mean_interval(r) if len(r) > 1 else None
    band = f"[{np.exp(iv.low):.3f}, {np.exp(iv.high):.3f}]" if iv else ""
    return [round(float(np.exp(np.mean(r))), 3), band, f"{sum(x < 0 for x in r)}/{len(r)}"]


def draw(metrics: Mapping[str, Any], cfg: P2Config, canvas: Canvas) -> None:
    """δ before/after pooling and relative accuracy against the transform's magnitude."""
    fig, axes = canvas.subplots(2, len(FAMILIES), figsize=(4 * len(FAMILIES), 6.5), squeeze=False)
    for col, family in enumerate(FAMILIES):
        mags = metrics["magnitudes"][family]
        for v, nets in metrics["nets"].items():
            colour = _COLOURS.get(v, "C7")
            for side, style in (("before", "o--"), ("after", "o-")) if v in POOLED else ():
                vals = np.mean([np.mean(n[family][side], axis=1) for n in nets], axis=0)
                axes[0, col].plot(mags, vals, style, color=colour, label=f"{v}, {side} pool")
            acc = np.mean([np.array(n[family]["accuracy"]) / n["clean_accuracy"] for n in nets], 0)
            axes[1, col].plot(mags, acc * 100, marker="o", color=colour, label=v)
        axes[0, col].set_title(family)
        axes[1, col].set_xlabel(_AXIS[family])
    rows = [
        [v, f, *_ratio_cells(_log_ratios(n, f) if v in POOLED else []), round(_retained(n, f), 3)]
        for v, n in metrics["nets"].items()
        for f in FAMILIES
    ]
    for row, label in enumerate(("relative feature change δ", "accuracy / clean accuracy (%)")):
        axes[row, 0].set_ylabel(label)
        axes[row, 0].legend(fontsize=7)
    canvas.save(
        fig,
        "invariance_across_pooling",
        "Top: relative change of the maps entering (dashed) and leaving (solid) the pooling "
        "layers, mean over layers and seeds. Bottom: accuracy under the transform relative to "
        "clean accuracy.",
    )
    head = ["pooling", "transform", "δ after/before", "95% t interval", "seeds < 1", "acc / clean"]
    canvas.table("Feature change across pooling and accuracy retained", head, rows)
    canvas.notes = (
        "A 2×2 maximum does not change while its strongest input moves within the window, and a "
        "2×2 mean moves by a quarter of what a single input does, so the pooled maps move less, "
        "relative to their size, than the maps they are computed from."
    )


register("p2_pooling_invariance", P2Config, measure=measure, judge=judge, draw=draw)
