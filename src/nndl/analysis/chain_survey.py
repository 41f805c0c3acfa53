r"""A survey of random one-neuron sigmoid chains: the gradient as a product of factors.

For a chain :class:`nndl.nn.SigmoidChain` of depth :math:`L` the first layer's bias gradient is

.. math:: \partial C/\partial b_1 = \sigma'(z_1)\, \prod_{k=2}^{L} w_k\sigma'(z_k)\;
          \partial C/\partial a_L .

:func:`sigmoid_chain_survey` draws ``chains`` random chains of one depth (weights and biases
Gaussian, float64), each with ``inputs`` random inputs and targets, and collects what a study of
that product needs: the largest relative error of the closed form against autograd
(:func:`nndl.nn.chain_gradient_check`), every factor :math:`|w_k\sigma'(z_k)|` whose weight has
:math:`|w_k| < 1` (each is at most 1/4 since :math:`\sigma' \le 1/4`), every input's
:math:`|\partial C/\partial b_1|`, and the median over chains of each chain's median
:math:`|\partial C/\partial b_1| / |\partial C/\partial b_L|`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validation import DTypeError, check_finite, check_int
from ..nn import SigmoidChain, chain_factors, chain_gradient_check

__all__ = ["ChainSurvey", "sigmoid_chain_survey"]


@dataclass(frozen=True)
class ChainSurvey:
    """What :func:`sigmoid_chain_survey` found at one depth.

    Attributes:
        max_relative_error: largest closed-form vs autograd error over the chains.
        small_factors: Tensor[K] float64, :math:`|w_k\\sigma'(z_k)|` for every input and every
            factor whose weight has :math:`|w_k| < 1` (K may be 0).
        first_gradients: Tensor[chains · inputs] float64, :math:`|\\partial C/\\partial b_1|`.
        first_over_last: median over chains of the per-chain median of
            :math:`|\\partial C/\\partial b_1| / |\\partial C/\\partial b_L|`.
    """

    max_relative_error: float
    small_factors: torch.Tensor
    first_gradients: torch.Tensor
    first_over_last: float

    def summary(self) -> dict[str, float]:
        """Median and quartiles of :math:`|\\partial C/\\partial b_1|`, and ``first_over_last``."""
        mags = self.first_gradients.numpy()
        return {
            "median": float(np.median(mags)),
            "q25": float(np.quantile(mags, 0.25)),
            "q75": float(np.quantile(mags, 0.75)),
            "first_over_last": self.first_over_last,
        }


def sigmoid_chain_survey(
    depth: int,
    chains: int,
    inputs: int,
    *,
    weight_std: float = 1.0,
    bias_std: float = 1.0,
    generator: torch.Generator,
) -> ChainSurvey:
    """Draw ``chains`` random sigmoid chains of ``depth`` neurons and survey their gradients.

    Per chain, in this order from ``generator``: the chain (:meth:`SigmoidChain.random`, weights
    N(0, weight_std²), biases N(0, bias_std²)), then inputs x ~ N(0, 1) and targets y ~ U(0, 1),
    Tensor[inputs] float64 each; the cost is the squared error of
    :func:`nndl.nn.chain_gradient_check`.

    Args:
        depth: neurons in each chain, ≥ 1.
        chains: chains to draw, ≥ 1.
        inputs: inputs per chain, ≥ 1.
        weight_std: std of the weights (finite).
        bias_std: std of the biases (finite).
        generator: the source of every random draw.

    Returns:
        A :class:`ChainSurvey`.

    Raises:
        ValidationError: a count below 1 or a non-finite std.
        DTypeError: ``generator`` is not a ``torch.Generator``.

    Example:
        >>> s = sigmoid_chain_survey(3, 4, 2, generator=torch.Generator().manual_seed(0))
        >>> s.first_gradients.shape, s.max_relative_error < 1e-12
        (torch.Size([8]), True)
    """
    check_int(depth, name="depth", low=1)
    check_int(chains, name="chains", low=1)
    check_int(inputs, name="inputs", low=1)
    check_finite(weight_std, name="weight_std")
    check_finite(bias_std, name="bias_std")
    if not isinstance(generator, torch.Generator):
        raise DTypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    errors, small, firsts, ratios = [0.0], [torch.zeros(0, dtype=torch.float64)], [], []
    for _ in range(chains):
        chain = SigmoidChain.random(
            depth, weight_std=weight_std, bias_std=bias_std, generator=generator
        )
        x = torch.randn(inputs, generator=generator, dtype=torch.float64)
        y = torch.rand(inputs, generator=generator, dtype=torch.float64)
        grads, err = chain_gradient_check(chain, x, y)
        errors.append(err)
        small.append(chain_factors(chain, x)[:, chain.weight.detach()[1:].abs() < 1].flatten())
        firsts.append(grads[:, 0].abs())
        ratios.append((grads[:, 0].abs() / grads[:, -1].abs()).median())
    return ChainSurvey(
        max_relative_error=max(errors),
        small_factors=torch.cat(small).detach().abs(),
        first_gradients=torch.cat(firsts),
        first_over_last=float(torch.stack(ratios).median()),
    )
