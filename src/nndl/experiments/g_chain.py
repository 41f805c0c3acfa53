r"""G3: the gradient of a deep sigmoid chain is a product of factors, and shrinks with depth.

For a chain of one sigmoid neuron per layer (``nndl.nn.SigmoidChain``) the bias gradient of the
first layer is

.. math:: \partial C/\partial b_1 = \sigma'(z_1)\, w_2\sigma'(z_2) \cdots w_L\sigma'(z_L)\,
          \partial C/\partial a_L .

The experiment checks three things on random chains (weights and biases N(0, 1), float64, a
fresh chain per seed): the closed form equals autograd to floating-point precision; every factor
with |w| < 1 is below 1/4 in magnitude; and |∂C/∂b_1| falls geometrically as the chain gets
deeper (a log-linear fit of the median against depth has a per-layer factor well below 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nndl.nn import SigmoidChain, chain_bias_gradients, chain_factors

from .context import Context
from .registry import register
from .result import Result, Table, Verdict


@dataclass
class G3Config:
    depths: tuple[int, ...] = (2, 3, 4, 5, 6, 8, 10)
    chains_per_depth: int = 150
    inputs_per_chain: int = 8
    weight_std: float = 1.0
    bias_std: float = 1.0
    tolerance: float = 1e-12


@register(
    "g3_product_of_factors",
    claims=("G3",),
    title="The first layer's gradient is a product of factors w·σ'(z) that shrinks with depth",
    config=G3Config,
    presets={
        "tiny": {"depths": (2, 4), "chains_per_depth": 10, "inputs_per_chain": 2},
        "quick": {"chains_per_depth": 150},
        "full": {"depths": (2, 3, 4, 5, 6, 8, 10, 12, 16, 20), "chains_per_depth": 2000},
    },
)
def run(cfg: G3Config, ctx: Context) -> Result:
    gen = ctx.generator()
    max_rel_err = 0.0
    n_factors_small_w = 0
    max_factor_small_w = 0.0
    grad_b1: dict[int, np.ndarray] = {}
    first_over_last: dict[int, float] = {}
    for depth in ctx.track(cfg.depths, "G3 depths"):
        magnitudes, ratios = [], []
        for _ in range(cfg.chains_per_depth):
            chain = SigmoidChain.random(
                depth, weight_std=cfg.weight_std, bias_std=cfg.bias_std, generator=gen
            )
            x = torch.randn(cfg.inputs_per_chain, generator=gen, dtype=torch.float64)
            y = torch.rand(cfg.inputs_per_chain, generator=gen, dtype=torch.float64)
            # autograd on the summed cost; the closed form summed over the inputs must match
            chain.zero_grad()
            (0.5 * (chain(x) - y).pow(2)).sum().backward()
            auto = chain.bias.grad
            with torch.no_grad():
                closed = chain_bias_gradients(chain, x, chain(x) - y)
            scale = closed.abs().sum(0).clamp_min(torch.finfo(torch.float64).tiny)
            max_rel_err = max(max_rel_err, float(((closed.sum(0) - auto).abs() / scale).max()))
            factors = chain_factors(chain, x)
            small = chain.weight.detach()[1:].abs() < 1
            f_small = factors[:, small].abs()
            n_factors_small_w += f_small.numel()
            if f_small.numel():
                max_factor_small_w = max(max_factor_small_w, float(f_small.max()))
            magnitudes.append(closed[:, 0].abs())
            ratios.append((closed[:, 0].abs() / closed[:, -1].abs()).median())
        grad_b1[depth] = torch.cat(magnitudes).numpy()
        first_over_last[depth] = float(torch.stack(ratios).median())

    depths = np.array(cfg.depths, dtype=float)
    medians = np.array([np.median(grad_b1[d]) for d in cfg.depths])
    q25 = np.array([np.quantile(grad_b1[d], 0.25) for d in cfg.depths])
    q75 = np.array([np.quantile(grad_b1[d], 0.75) for d in cfg.depths])
    slope, intercept = np.polyfit(depths, np.log(medians), 1)
    per_layer = float(math.exp(slope))
    shrink = float(medians[0] / medians[-1])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(depths, q25, q75, alpha=0.25, label="interquartile range")
    ax.semilogy(depths, medians, "o-", label="median |∂C/∂b₁|")
    ax.semilogy(
        depths, np.exp(intercept + slope * depths), "--", label=f"fit: ×{per_layer:.3f} per layer"
    )
    ax.semilogy(
        depths,
        medians[0] * 0.25 ** (depths - depths[0]),
        ":",
        label="×1/4 per layer (bound for |w|<1)",
    )
    ax.set_xlabel("depth L (neurons in the chain)")
    ax.set_ylabel("|∂C/∂b₁|")
    ax.set_title("First-layer bias gradient of a sigmoid chain, w, b ~ N(0, 1)")
    ax.legend(fontsize=8)
    ctx.save_figure(
        fig, "grad_vs_depth", "Median and IQR of |∂C/∂b₁| against chain depth (log scale)."
    )

    exact = max_rel_err <= cfg.tolerance
    bounded = n_factors_small_w > 0 and max_factor_small_w < 0.25
    geometric = per_layer < 1.0 and shrink > 10.0
    evidence = (
        f"closed form vs autograd: max relative error {max_rel_err:.1e} over "
        f"{len(cfg.depths) * cfg.chains_per_depth} chains; largest |wσ'(z)| with |w|<1 was "
        f"{max_factor_small_w:.3f} (< 1/4) over {n_factors_small_w} factors; median |∂C/∂b₁| "
        f"shrinks ×{per_layer:.3f} per layer, {shrink:.0f}× from depth {cfg.depths[0]} to "
        f"{cfg.depths[-1]}."
    )
    table = Table(
        "First-layer gradient by depth",
        ["depth", "median |∂C/∂b₁|", "25%", "75%", "median |∂C/∂b₁| / |∂C/∂b_L|"],
        [
            [d, float(m), float(a), float(b), first_over_last[d]]
            for d, m, a, b in zip(cfg.depths, medians, q25, q75, strict=True)
        ],
    )
    return Result(
        metrics={
            "max_relative_error": max_rel_err,
            "max_factor_with_small_weight": max_factor_small_w,
            "factors_with_small_weight": n_factors_small_w,
            "per_layer_factor": per_layer,
            "shrink_first_to_last_depth": shrink,
            "median_grad_b1": dict(zip(map(str, cfg.depths), medians.tolist(), strict=True)),
            "first_over_last_layer": {str(k): v for k, v in first_over_last.items()},
        },
        verdicts=[
            Verdict.from_check(
                "G3",
                exact and bounded and geometric,
                evidence,
                key=f"×{per_layer:.2f}/layer, err {max_rel_err:.0e}",
            )
        ],
        tables=[table],
        notes="Each factor w·σ'(z) is at most |w|/4, so with weights of order one the product of "
        "L − 1 such factors shrinks geometrically: the first layer learns slowest.",
    )
