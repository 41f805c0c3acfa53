r"""F4: backpropagation solves credit assignment — every parameter's share in one backward pass.

For a loss :math:`L(w)` with :math:`P` parameters, backpropagation gives the whole gradient
:math:`\nabla L` from one forward and one backward pass. Perturbation methods learn one number
per forward pass: central finite differences need :math:`2P` passes, and weight perturbation
with :math:`S` antithetic Gaussian directions estimates the gradient from :math:`2S` passes with
a relative error that grows like :math:`\sqrt{P/S}` (``nndl.analysis.compare_gradient_estimators``
runs all three) on MLPs :math:`8 \to h \to 3` (tanh, float64) of growing width. Finite
differences agreeing with backprop confirm that backprop's gradient is *exact*; only the
weight-perturbation directions are random, hence several seeds.
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

from . import Canvas, Context, Verdict, as_float, register, rule

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


F4_RULE = rule("f4_credit_assignment", "F4")


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def measure(cfg: F4Config, ctx: Context) -> dict[str, Any]:
    """The three gradient estimates at every width, on one fixed batch."""
    gen = ctx.generator(4)
    x = torch.randn(cfg.batch, cfg.n_inputs, generator=gen, dtype=torch.float64).to(ctx.device)
    y = torch.randint(0, cfg.n_classes, (cfg.batch,), generator=gen).to(ctx.device)
    settings = {k: getattr(cfg, k) for k in ("eps", "wp_samples", "wp_sigma", "repeats")}
    rows = []
    for width in ctx.track(cfg.widths, "F4 widths"):
        torch.manual_seed(1000 * ctx.seed + width)
        model = mlp([cfg.n_inputs, width, cfg.n_classes], activation="tanh").double()
        gens = [ctx.generator(40 + s) for s in range(cfg.seeds)]
        loss = partial(_loss, model.to(ctx.device), x, y)
        rows.append(compare_gradient_estimators(loss, model, generators=gens, **settings))
    return {"widths": rows}


def judge(metrics: Mapping[str, Any], cfg: F4Config) -> list[Verdict]:
    """F4 by :data:`F4_RULE`."""
    rows = metrics["widths"]
    fd_err = max(as_float(r["fd_relative_error"]) for r in rows)
    ps, passes = [r["parameters"] for r in rows], [r["passes"]["finite_difference"] for r in rows]
    secs = [r["seconds"] for r in rows]
    ratio = [as_float(s["finite_difference"]) / as_float(s["backprop"]) for s in secs]
    slope = power_law_exponent(ps, ratio)
    cos_small, cos_large = _cosines(rows)[0], _cosines(rows)[-1]
    iv = paired_interval(cos_small, cos_large, F4_RULE["confidence"])
    checks = (fd_err <= F4_RULE["fd_tolerance"], slope >= F4_RULE["min_slope"])
    status = all_of([*("holds" if ok else "does not hold" for ok in checks), decide(iv, 0.0)])
    reason = "the weight-perturbation cosine interval straddles 0; more seeds would settle it"
    evidence = (
        f"P = {ps}: finite differences (ε = {cfg.eps:g}, float64) match backprop to a relative "
        f"error of at most {fd_err:.1e}, with 2P = {passes} "
        f"forward passes against backprop's one forward and one backward; they take "
        f"{ratio[0]:.0f}× to {ratio[-1]:.0f}× backprop's time (log-log slope {slope:.2f} in P). "
        f"Weight perturbation with {cfg.wp_samples} antithetic directions: cosine with the true "
        f"gradient {np.mean(cos_small):.2f} at P = {ps[0]} and {np.mean(cos_large):.2f} at "
        f"P = {ps[-1]} (paired difference {iv:.2f} over {len(cos_small)} seeds)."
    )
    key = f"FD/BP time {ratio[0]:.0f}×→{ratio[-1]:.0f}×"
    return [Verdict("F4", status, evidence, key, reason if status == "inconclusive" else "")]


def _cosines(rows: list[Mapping[str, Any]]) -> list[list[float]]:
    """Per width, the weight-perturbation cosines with backprop's gradient, one per seed."""
    return [[as_float(c) for c in r["wp_cosine"]] for r in rows]


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


register("f4_credit_assignment", F4Config, measure=measure, judge=judge, draw=draw)
