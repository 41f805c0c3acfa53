r"""F4: backpropagation solves credit assignment — every parameter's share in one backward pass.

For a loss :math:`L(w)` with :math:`P` parameters, backpropagation (the chain rule run backwards,
``nndl.analysis.backprop_grad``) gives the whole gradient :math:`\nabla L` from one forward and
one backward pass. Perturbation methods learn one number per forward pass: central finite
differences :math:`\partial_i L \approx (L(w + \epsilon e_i) - L(w - \epsilon e_i)) / 2\epsilon`
need :math:`2P` passes, and weight perturbation
:math:`\hat g = \frac{1}{S}\sum_s \frac{L(w + \sigma u_s) - L(w - \sigma u_s)}{2\sigma} u_s`,
:math:`u_s \sim N(0, I)`, estimates the gradient from :math:`2S` passes with a relative error
that grows like :math:`\sqrt{P/S}`.

For MLPs :math:`8 \to h \to 3` (tanh, float64) of growing width, the experiment measures: the
agreement of finite differences with backprop (it confirms backprop's gradient is *exact*), the
time of each method (finite differences against backprop should grow about linearly in
:math:`P`), and the cosine of the weight-perturbation estimate with the true gradient at a fixed
budget :math:`S`, over several random seeds (it is the only random statistic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nndl.analysis import (
    all_of,
    backprop_grad,
    decide,
    finite_difference_grad,
    gradient_agreement,
    paired_interval,
    weight_perturbation_grad,
)
from nndl.nn import mlp

from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

METHODS: tuple[str, ...] = ("backprop", "finite_difference", "weight_perturbation")
_COLOURS = {"backprop": "C3", "finite_difference": "C0", "weight_perturbation": "C2"}


@dataclass
class F4Config:
    widths: tuple[int, ...] = (2, 8, 32, 128)
    n_inputs: int = 8
    n_classes: int = 3
    batch: int = 32
    eps: float = 1e-6
    wp_samples: int = 50
    wp_sigma: float = 1e-3
    repeats: int = 3
    seeds: int = 5


F4_RULE = Rule(
    claim="F4",
    statistic=(
        "over MLPs of growing parameter count P: the largest relative error of central finite "
        "differences against backprop; the log-log slope in P of (finite-difference time / "
        "backprop time), medians of repeats; and, paired over seeds, the cosine of the "
        "weight-perturbation estimate (fixed budget S) with backprop's gradient at the "
        "smallest P minus that at the largest P, 95 % t interval"
    ),
    holds=(
        "finite differences agree within fd_tolerance at every P, the time-ratio slope is at "
        "least min_slope, and the cosine interval lies above 0"
    ),
    does_not_hold=(
        "finite differences disagree beyond fd_tolerance, or the slope is below min_slope, or "
        "the cosine interval lies below 0"
    ),
    inconclusive="otherwise (the cosine interval straddles 0)",
    seeds=5,
    rationale=(
        "agreement with an independent estimate shows backprop's numbers are the exact "
        "contributions; the cost claim is that perturbation needs work growing with P where "
        "backprop does not, in time as well as in counted passes"
    ),
    params={"fd_tolerance": 1e-6, "min_slope": 0.5, "confidence": 0.95},
)


def _width(
    cfg: F4Config, width: int, x: torch.Tensor, y: torch.Tensor, ctx: Context
) -> dict[str, Any]:
    """All three estimates for one width (weight perturbation once per seed)."""
    torch.manual_seed(1000 * ctx.seed + width)
    model = mlp([cfg.n_inputs, width, cfg.n_classes], activation="tanh").double().to(ctx.device)

    def loss() -> torch.Tensor:
        return nn.functional.cross_entropy(model(x), y)

    bp_runs = [backprop_grad(loss, model) for _ in range(cfg.repeats)]
    bp = bp_runs[0]
    fd = finite_difference_grad(loss, model, eps=cfg.eps)
    wps = [
        weight_perturbation_grad(
            loss,
            model,
            n_samples=cfg.wp_samples,
            sigma=cfg.wp_sigma,
            generator=ctx.generator(40 + s),
        )
        for s in range(cfg.seeds)
    ]
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "fd_relative_error": gradient_agreement(fd, bp)["relative_error"],
        "wp_cosine": [gradient_agreement(wp, bp)["cosine"] for wp in wps],
        "wp_relative_error": [gradient_agreement(wp, bp)["relative_error"] for wp in wps],
        "passes": {
            "backprop": bp.forward_passes,
            "finite_difference": fd.forward_passes,
            "weight_perturbation": wps[0].forward_passes,
        },
        "seconds": {
            "backprop": float(np.median([r.seconds for r in bp_runs])),
            "finite_difference": fd.seconds,
            "weight_perturbation": float(np.median([w.seconds for w in wps])),
        },
    }


def measure(cfg: F4Config, ctx: Context) -> dict[str, Any]:
    """The three gradient estimates at every width, on one fixed batch."""
    gen = ctx.generator(4)
    x = torch.randn(cfg.batch, cfg.n_inputs, generator=gen, dtype=torch.float64).to(ctx.device)
    y = torch.randint(0, cfg.n_classes, (cfg.batch,), generator=gen).to(ctx.device)
    return {"widths": [_width(cfg, w, x, y, ctx) for w in ctx.track(cfg.widths, "F4 widths")]}


def _slope(rows: list[Mapping[str, Any]]) -> float:
    p = np.array([r["parameters"] for r in rows], dtype=float)
    ratio = np.array(
        [
            as_float(r["seconds"]["finite_difference"]) / as_float(r["seconds"]["backprop"])
            for r in rows
        ]
    )
    return float(np.polyfit(np.log(p), np.log(ratio), 1)[0]) if len(p) > 1 else float("nan")


def judge(metrics: Mapping[str, Any], cfg: F4Config) -> list[Verdict]:
    """F4 by :data:`F4_RULE`."""
    rule = F4_RULE
    rows = metrics["widths"]
    fd_err = max(as_float(r["fd_relative_error"]) for r in rows)
    slope = _slope(rows)
    cos_small = [as_float(c) for c in rows[0]["wp_cosine"]]
    cos_large = [as_float(c) for c in rows[-1]["wp_cosine"]]
    iv = paired_interval(cos_small, cos_large, rule["confidence"])
    parts = [
        "holds" if fd_err <= rule["fd_tolerance"] else "does not hold",
        "holds" if slope >= rule["min_slope"] else "does not hold",
        decide(iv, 0.0, above=True),
    ]
    status = all_of(parts)
    reason = (
        "the weight-perturbation cosine interval straddles 0; more seeds would settle it"
        if status == "inconclusive"
        else ""
    )
    ps = [r["parameters"] for r in rows]
    passes = [r["passes"]["finite_difference"] for r in rows]
    ratio = [
        as_float(r["seconds"]["finite_difference"]) / as_float(r["seconds"]["backprop"])
        for r in rows
    ]
    evidence = (
        f"P = {ps}: finite differences (ε = {cfg.eps:g}, float64) match backprop to a relative "
        f"error of at most {fd_err:.1e}, with 2P = {passes} "
        f"forward passes against backprop's one forward and one backward; they take "
        f"{ratio[0]:.0f}× to {ratio[-1]:.0f}× backprop's time (log-log slope {slope:.2f} in P). "
        f"Weight perturbation with {cfg.wp_samples} antithetic directions: cosine with the true "
        f"gradient {np.mean(cos_small):.2f} at P = {ps[0]} and {np.mean(cos_large):.2f} at "
        f"P = {ps[-1]} (paired difference {iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}] over "
        f"{len(cos_small)} seeds)."
    )
    return [
        Verdict(
            "F4",
            status,
            evidence,
            key=f"FD/BP time {ratio[0]:.0f}×→{ratio[-1]:.0f}×",
            reason=reason,
        )
    ]


def draw(metrics: Mapping[str, Any], cfg: F4Config, canvas: Canvas) -> None:
    """Time per gradient and agreement with backprop against P."""
    rows = metrics["widths"]
    p = np.array([r["parameters"] for r in rows], dtype=float)
    fig, axes = canvas.subplots(1, 2, figsize=(11, 4))
    for name in METHODS:
        secs = np.array([as_float(r["seconds"][name]) for r in rows]) * 1e3
        axes[0].loglog(p, secs, "o-", color=_COLOURS[name], label=name.replace("_", " "))
    axes[0].set_xlabel("parameters P")
    axes[0].set_ylabel("time per gradient (ms)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("Cost of one gradient")
    axes[1].loglog(
        p,
        [max(as_float(r["fd_relative_error"]), 1e-16) for r in rows],
        "o-",
        color="C0",
        label="finite differences",
    )
    wp = np.array([[as_float(e) for e in r["wp_relative_error"]] for r in rows])
    axes[1].loglog(
        p, wp.mean(1), "o-", color="C2", label=f"weight perturbation, S = {cfg.wp_samples}"
    )
    axes[1].loglog(p, np.sqrt(p / cfg.wp_samples), ":", color="C2", label="√(P/S)")
    axes[1].set_xlabel("parameters P")
    axes[1].set_ylabel("‖ĝ − ∇L‖ / ‖∇L‖")
    axes[1].legend(fontsize=8)
    axes[1].set_title("Agreement with backprop")
    canvas.save(
        fig,
        "cost_and_agreement",
        "Left: time per full gradient. Right: relative error "
        "against backprop (weight perturbation: mean over seeds).",
    )
    canvas.table(
        "Gradient estimates against backprop",
        [
            "P",
            "FD rel. error",
            "WP cosine (mean)",
            "FD passes",
            "WP passes",
            "BP ms",
            "FD ms",
            "WP ms",
        ],
        [
            [
                r["parameters"],
                as_float(r["fd_relative_error"]),
                round(float(np.mean([as_float(c) for c in r["wp_cosine"]])), 3),
                r["passes"]["finite_difference"],
                r["passes"]["weight_perturbation"],
                *(round(as_float(r["seconds"][m]) * 1e3, 3) for m in METHODS),
            ]
            for r in rows
        ],
    )
    canvas.notes = (
        "The chain rule run backwards reuses every intermediate derivative, so the whole "
        "gradient costs a small constant times one forward pass. Perturbation methods learn "
        "one number per forward pass."
    )


register(
    "f4_credit_assignment",
    claims=("F4",),
    title="Backprop gives every gradient in one pass; perturbation needs a pass per parameter",
    config=F4Config,
    presets={
        "tiny": {"widths": (2, 8), "wp_samples": 20, "repeats": 2, "seeds": 2},
        "quick": {},
        "full": {"widths": (2, 8, 32, 128, 512), "wp_samples": 100, "repeats": 5, "seeds": 8},
    },
    rules=(F4_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="Backprop against finite differences and weight perturbation on MLPs of growing size.",
)
