r"""F4: backpropagation solves credit assignment — every parameter's share in one backward pass.

For a loss :math:`L(w)` with :math:`P` parameters, backpropagation gives the whole gradient
:math:`\nabla L` from one forward and one backward pass. Perturbation methods learn one number
per forward pass: central finite differences need :math:`2P` passes, and weight perturbation
with :math:`S` antithetic Gaussian directions estimates the gradient from :math:`2S` passes with
a relative error that grows like :math:`\sqrt{P/S}` (``nndl.analysis.compare_gradient_estimators``
runs all three). For MLPs :math:`8 \to h \to 3` (tanh, float64) of growing width, the experiment
measures the agreement of finite differences with backprop (it confirms backprop's gradient is
*exact*), the time of each method, and the cosine of the weight-perturbation estimate with the
true gradient at a fixed budget :math:`S`, over several random seeds (the only random statistic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from nndl.analysis import (
    all_of,
    compare_gradient_estimators,
    decide,
    paired_interval,
    power_law_exponent,
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
    statistic="over MLPs of growing parameter count P: the largest relative error of central "
    "finite differences against backprop; the log-log slope in P of (finite-difference time / "
    "backprop time), medians of repeats; and, paired over seeds, the cosine of the "
    "weight-perturbation estimate (fixed budget S) with backprop's gradient at the smallest P "
    "minus that at the largest P, 95 % t interval",
    holds="finite differences agree within fd_tolerance at every P, the time-ratio slope is at "
    "least min_slope, and the cosine interval lies above 0",
    does_not_hold="finite differences disagree beyond fd_tolerance, or the slope is below "
    "min_slope, or the cosine interval lies below 0",
    inconclusive="otherwise (the cosine interval straddles 0)",
    seeds=5,
    rationale="agreement with an independent estimate shows backprop's numbers are the exact "
    "contributions; the cost claim is that perturbation needs work growing with P where backprop "
    "does not, in time as well as in counted passes",
    params={"fd_tolerance": 1e-6, "min_slope": 0.5, "confidence": 0.95},
)


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def measure(cfg: F4Config, ctx: Context) -> dict[str, Any]:
    """The three gradient estimates at every width, on one fixed batch."""
    gen = ctx.generator(4)
    x = torch.randn(cfg.batch, cfg.n_inputs, generator=gen, dtype=torch.float64).to(ctx.device)
    y = torch.randint(0, cfg.n_classes, (cfg.batch,), generator=gen).to(ctx.device)
    rows = []
    for width in ctx.track(cfg.widths, "F4 widths"):
        torch.manual_seed(1000 * ctx.seed + width)
        model = mlp([cfg.n_inputs, width, cfg.n_classes], activation="tanh").double()
        model.to(ctx.device)
        rows.append(
            compare_gradient_estimators(
                partial(_loss, model, x, y),
                model,
                eps=cfg.eps,
                wp_samples=cfg.wp_samples,
                wp_sigma=cfg.wp_sigma,
                repeats=cfg.repeats,
                generators=[ctx.generator(40 + s) for s in range(cfg.seeds)],
            )
        )
    return {"widths": rows}


def _time_ratios(rows: list[Mapping[str, Any]]) -> list[float]:
    """Finite-difference time over backprop time, per width."""
    seconds = [r["seconds"] for r in rows]
    return [as_float(s["finite_difference"]) / as_float(s["backprop"]) for s in seconds]


def _cosines(rows: list[Mapping[str, Any]]) -> list[list[float]]:
    """Per width, the weight-perturbation cosines with backprop's gradient, one per seed."""
    return [[as_float(c) for c in r["wp_cosine"]] for r in rows]


def judge(metrics: Mapping[str, Any], cfg: F4Config) -> list[Verdict]:
    """F4 by :data:`F4_RULE`."""
    rule, rows = F4_RULE, metrics["widths"]
    fd_err = max(as_float(r["fd_relative_error"]) for r in rows)
    ps, ratio = [r["parameters"] for r in rows], _time_ratios(rows)
    passes = [r["passes"]["finite_difference"] for r in rows]
    slope = power_law_exponent(ps, ratio)
    cos = _cosines(rows)
    cos_small, cos_large = cos[0], cos[-1]
    iv = paired_interval(cos_small, cos_large, rule["confidence"])
    status = all_of([
        "holds" if fd_err <= rule["fd_tolerance"] else "does not hold",
        "holds" if slope >= rule["min_slope"] else "does not hold",
        decide(iv, 0.0, above=True),
    ])  # fmt: skip
    reason = "the weight-perturbation cosine interval straddles 0; more seeds would settle it"
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
    key = f"FD/BP time {ratio[0]:.0f}×→{ratio[-1]:.0f}×"
    return [Verdict("F4", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: F4Config, canvas: Canvas) -> None:
    """Time per gradient and agreement with backprop against P."""
    rows = metrics["widths"]
    p = np.array([r["parameters"] for r in rows], dtype=float)
    secs = {m: [as_float(r["seconds"][m]) * 1e3 for r in rows] for m in METHODS}
    fig, axes = canvas.subplots(1, 2, figsize=(11, 4))
    for name in METHODS:
        axes[0].loglog(p, secs[name], "o-", color=_COLOURS[name], label=name.replace("_", " "))
    fd = [max(as_float(r["fd_relative_error"]), 1e-16) for r in rows]
    wp = [np.mean([as_float(e) for e in r["wp_relative_error"]]) for r in rows]
    axes[1].loglog(p, fd, "o-", color="C0", label="finite differences")
    axes[1].loglog(p, wp, "o-", color="C2", label=f"weight perturbation, S = {cfg.wp_samples}")
    axes[1].loglog(p, np.sqrt(p / cfg.wp_samples), ":", color="C2", label="√(P/S)")
    axes[0].set(ylabel="time per gradient (ms)", title="Cost of one gradient")
    axes[1].set(ylabel="‖ĝ − ∇L‖ / ‖∇L‖", title="Agreement with backprop")
    for ax in axes:
        ax.set_xlabel("parameters P")
        ax.legend(fontsize=8)
    canvas.save(
        fig,
        "cost_and_agreement",
        "Left: time per full gradient. Right: relative error "
        "against backprop (weight perturbation: mean over seeds).",
    )
    head = ["P", "FD rel. error", "WP cosine (mean)", "FD passes", "WP passes"]
    table = [
        [r["parameters"], as_float(r["fd_relative_error"]), round(float(np.mean(cos)), 3)]
        + [r["passes"]["finite_difference"], r["passes"]["weight_perturbation"]]
        + [round(secs[m][i], 3) for m in METHODS]
        for i, (r, cos) in enumerate(zip(rows, _cosines(rows), strict=True))
    ]
    canvas.table("Gradient estimates against backprop", [*head, "BP ms", "FD ms", "WP ms"], table)
    canvas.notes = (
        "The chain rule run backwards reuses every intermediate derivative, so the whole "
        "gradient costs a small constant times one forward pass. Perturbation methods learn "
        "one number per forward pass."
    )


register(
    "f4_credit_assignment",
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
