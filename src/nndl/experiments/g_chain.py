r"""G3: the gradient of a deep sigmoid chain is a product of factors, and shrinks with depth.

For a chain of one sigmoid neuron per layer (``nndl.nn.SigmoidChain``) the bias gradient of the
first layer is

.. math:: \partial C/\partial b_1 = \sigma'(z_1)\, w_2\sigma'(z_2) \cdots w_L\sigma'(z_L)\,
          \partial C/\partial a_L .

Since :math:`\sigma' \le 1/4`, every factor with :math:`|w_j| < 1` is below 1/4 in magnitude,
so the product shrinks geometrically as the chain gets deeper. Over random chains (weights and
biases N(0, 1), float64) the experiment checks that the closed form equals autograd to
floating-point precision, that every factor with :math:`|w| < 1` is below 1/4, and that the
median :math:`|\partial C/\partial b_1|` falls geometrically with depth (a log-linear fit with
a per-layer factor below 1). All is deterministic given the seed: no interval is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch

from nndl.analysis import geometric_fit, sigmoid_chain_survey

from . import Canvas, ConfigError, Context, Range, Verdict, register, rule


@dataclass
class G3Config:
    depths: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10)
    chains_per_depth: int = 150
    inputs_per_chain: int = 8
    weight_std: float = 1.0
    bias_std: float = 1.0
    tolerance: Annotated[float, Range(0.0, 1e-6)] = 1e-12

    def __post_init__(self) -> None:
        if len(set(self.depths)) < 2:
            raise ConfigError(f"depths must hold at least two different depths, got {self.depths}")


G3_RULE = rule("g3_product_of_factors", "G3")


def measure(cfg: G3Config, ctx: Context) -> dict[str, Any]:
    """Closed form vs autograd, the factors, and |∂C/∂b₁| per depth over random chains."""
    gen = ctx.generator()
    surveys = [
        sigmoid_chain_survey(
            depth,
            cfg.chains_per_depth,
            cfg.inputs_per_chain,
            weight_std=cfg.weight_std,
            bias_std=cfg.bias_std,
            generator=gen,
        )
        for depth in ctx.track(cfg.depths, "G3 depths")
    ]
    factors = torch.cat([s.small_factors for s in surveys])
    return {
        "max_relative_error": max(s.max_relative_error for s in surveys),
        "factors_with_small_weight": factors.numel(),
        "max_factor_with_small_weight": float(factors.max()) if factors.numel() else 0.0,
        "per_depth": {str(d): s.summary() for d, s in zip(cfg.depths, surveys, strict=True)},
    }


def _fit(metrics: Mapping[str, Any]) -> tuple[list[int], np.ndarray, float, float]:
    depths = sorted(int(d) for d in metrics["per_depth"])
    medians = np.asarray([metrics["per_depth"][str(d)]["median"] for d in depths], float)
    shrink = medians[0] / medians[-1] if medians[-1] > 0 else float("inf")
    return depths, medians, geometric_fit(depths, medians).factor, shrink


def judge(metrics: Mapping[str, Any], cfg: G3Config) -> list[Verdict]:
    """G3_RULE on the stored metrics (pure)."""
    err, n_small = float(metrics["max_relative_error"]), int(metrics["factors_with_small_weight"])
    largest = float(metrics["max_factor_with_small_weight"])
    depths, _, rho, shrink = _fit(metrics)
    holds = (
        err <= cfg.tolerance
        and largest < G3_RULE["max_factor"]
        and rho < 1.0
        and shrink > G3_RULE["min_shrink"]
    )
    evidence = (
        f"closed form vs autograd: largest relative error {err:.1e} (tolerance "
        f"{cfg.tolerance:g}); largest |wσ'(z)| with |w| < 1: {largest:.3f} over {n_small} "
        f"factors (bound 1/4); median |∂C/∂b₁| shrinks ×{rho:.3f} per layer, {shrink:.0f}× "
        f"from depth {depths[0]} to {depths[-1]} (needs > {G3_RULE['min_shrink']:g}×)."
    )
    reason = "no factor with |w| < 1 was drawn; more chains_per_depth would draw some"
    key = f"×{rho:.2f}/layer, err {err:.0e}"
    if n_small == 0:
        return [Verdict.from_check("G3", None, evidence, key, reason=reason)]
    return [Verdict.from_check("G3", holds, evidence, key)]


def draw(metrics: Mapping[str, Any], cfg: G3Config, canvas: Canvas) -> None:
    depths, medians, rho, _ = _fit(metrics)
    per, d = metrics["per_depth"], np.array(depths, dtype=float)
    fig, ax = canvas.subplots(figsize=(6, 4))
    q25, q75 = ([per[str(k)][q] for k in depths] for q in ("q25", "q75"))
    ax.fill_between(d, q25, q75, alpha=0.25, label="interquartile range")
    ax.semilogy(d, medians, "o-", label="median |∂C/∂b₁|")
    ax.semilogy(
        d, medians[0] * rho ** (d - d[0]), "--", label=f"log-linear fit: ×{rho:.3f} per layer"
    )
    ax.semilogy(d, medians[0] * 0.25 ** (d - d[0]), ":", label="×1/4 per layer (bound, |w|<1)")
    ax.set(xlabel="depth L (neurons in the chain)", ylabel="|∂C/∂b₁|")
    ax.set_title("First-layer bias gradient of a sigmoid chain, w, b ~ N(0, 1)")
    ax.legend(fontsize=8)
    canvas.save(fig, "grad_vs_depth", "Median and IQR of |∂C/∂b₁| against chain depth (log scale).")
    keys = ("median", "q25", "q75", "first_over_last")
    canvas.table(
        "First-layer gradient by depth",
        ["depth", "median |∂C/∂b₁|", "25%", "75%", "median |∂C/∂b₁| / |∂C/∂b_L|"],
        [[k, *(per[str(k)][q] for q in keys)] for k in depths],
    )


register("g3_product_of_factors", G3Config, measure=measure, judge=judge, draw=draw)
