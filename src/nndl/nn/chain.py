r"""The one-neuron-per-layer sigmoid chain of Nielsen's chapter 5 (claims G3, G4).

.. math::

    a_0 = x,\quad z_j = w_j a_{j-1} + b_j,\quad a_j = \sigma(z_j),\quad j = 1, \dots, L

Backpropagation through the chain gives, for the bias of layer j,

.. math::

    \frac{\partial C}{\partial b_j}
      = \sigma'(z_j) \prod_{k=j+1}^{L} w_k \sigma'(z_k) \cdot \frac{\partial C}{\partial a_L}

so the gradient at the first layer is a product of L − 1 factors :math:`w_k\sigma'(z_k)`. Since
:math:`\sigma' \le 1/4`, every factor has magnitude below 1/4 when :math:`|w_k| < 1`: the
gradient vanishes geometrically with depth (G3). With :math:`|w_k\sigma'(z_k)| > 1` it explodes
instead (G4).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_finite, check_int, check_shape

__all__ = ["SigmoidChain", "chain_bias_gradients", "chain_factors", "chain_gradient_check"]


class SigmoidChain(nn.Module):
    """A chain of ``depth`` sigmoid neurons, one per layer, applied element-wise to a batch.

    Args:
        weights: Tensor[L], the weights w_1 … w_L (w_1 multiplies the input).
        biases: Tensor[L], the biases b_1 … b_L.

    Shape:
        - input: (N,) scalar inputs x.
        - output: (N,) activations a_L.

    Example:
        >>> chain = SigmoidChain(torch.ones(3), torch.zeros(3))
        >>> chain(torch.zeros(2)).shape
        torch.Size([2])
    """

    def __init__(self, weights: torch.Tensor, biases: torch.Tensor):
        super().__init__()
        check_shape(weights, "L", name="weights")
        check_shape(biases, (weights.shape[0],), name="biases")
        check_finite(weights, name="weights")
        check_finite(biases, name="biases")
        self.weight = nn.Parameter(weights.clone())
        self.bias = nn.Parameter(biases.clone())

    @classmethod
    def random(
        cls,
        depth: int,
        *,
        weight_std: float = 1.0,
        bias_std: float = 1.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> SigmoidChain:
        """A chain with weights from N(0, weight_std²) and biases from N(0, bias_std²)."""
        check_int(depth, name="depth", low=1)
        w = torch.randn(depth, generator=generator, dtype=dtype) * weight_std
        b = torch.randn(depth, generator=generator, dtype=dtype) * bias_std
        return cls(w, b)

    @property
    def depth(self) -> int:
        return self.weight.shape[0]

    def preactivations(self, x: torch.Tensor) -> torch.Tensor:
        """z_1 … z_L for each input: Tensor[N, L]."""
        zs = []
        a = x
        for j in range(self.depth):
            z = self.weight[j] * a + self.bias[j]
            zs.append(z)
            a = torch.sigmoid(z)
        return torch.stack(zs, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x
        for j in range(self.depth):
            a = torch.sigmoid(self.weight[j] * a + self.bias[j])
        return a


def _sigmoid_prime(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 - s)


@torch.no_grad()
def chain_factors(chain: SigmoidChain, x: torch.Tensor) -> torch.Tensor:
    """The factors w_k σ'(z_k), k = 2 … L, for each input: Tensor[N, L − 1]."""
    sp = _sigmoid_prime(chain.preactivations(x))
    return chain.weight[1:] * sp[..., 1:]


@torch.no_grad()
def chain_bias_gradients(
    chain: SigmoidChain, x: torch.Tensor, grad_output: torch.Tensor
) -> torch.Tensor:
    """dC/db_j for j = 1 … L by the closed-form product (no autograd).

    Args:
        chain: the chain.
        x: Tensor[N], inputs.
        grad_output: Tensor[N], dC/da_L for each input.

    Returns:
        Tensor[N, L]; column j − 1 is σ'(z_j) · Π_{k>j} w_k σ'(z_k) · dC/da_L.
    """
    sp = _sigmoid_prime(chain.preactivations(x))  # (N, L)
    factors = chain.weight[1:] * sp[..., 1:]  # (N, L-1): w_k σ'(z_k), k = 2..L
    # suffix products: tail[j] = Π_{k>j} factor_k, with tail[L] = 1
    ones = torch.ones_like(sp[..., :1])
    tail = torch.flip(torch.cumprod(torch.flip(factors, dims=[-1]), dim=-1), dims=[-1])
    tail = torch.cat([tail, ones], dim=-1)
    return sp * tail * grad_output.unsqueeze(-1)


def chain_gradient_check(
    chain: SigmoidChain, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, float]:
    r"""Closed-form bias gradients of the squared error, checked against autograd.

    For :math:`C = \sum_n \tfrac12 (a_L(x_n) - y_n)^2`, :math:`\partial C/\partial a_L =
    a_L - y` per input; :func:`chain_bias_gradients` gives every input's
    :math:`\partial C_n/\partial b_j`, autograd the summed :math:`\partial C/\partial b_j`. The
    error is :math:`\max_j |\sum_n g_{nj} - g^{auto}_j| / \sum_n |g_{nj}|` (relative to the
    terms' magnitude, so cancellation in the sum does not inflate it). ``.grad`` is untouched.

    Args:
        chain: the chain.
        x: Tensor[N] inputs; y: Tensor[N] targets (same dtype).

    Returns:
        ``(gradients Tensor[N, L], largest relative error)``.

    Raises:
        ShapeError: ``x`` or ``y`` is not (N,) with one N.
    """
    check_shape(x, "N", name="x")
    check_shape(y, (x.shape[0],), name="y")
    (auto,) = torch.autograd.grad((0.5 * (chain(x) - y).pow(2)).sum(), chain.bias)
    with torch.no_grad():
        closed = chain_bias_gradients(chain, x, chain(x) - y)
    scale = closed.abs().sum(0).clamp_min(torch.finfo(closed.dtype).tiny)
    return closed, float(((closed.sum(0) - auto).abs() / scale).max())
