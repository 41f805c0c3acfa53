r"""Gradients without backpropagation: finite differences and weight perturbation (F4).

All estimators take a closure ``loss_fn() -> scalar Tensor`` that evaluates the loss at the
current values of ``params`` (like ``torch.optim`` closures) and return a
:class:`GradientEstimate` with the estimate, the number of forward passes and the time taken.

- :func:`backprop_grad`: one forward and one backward pass give every
  :math:`\partial L / \partial w_i` exactly (up to rounding).
- :func:`finite_difference_grad`: perturb one parameter at a time,

  .. math:: \hat g_i = \frac{L(w + \varepsilon e_i) - L(w - \varepsilon e_i)}{2 \varepsilon}
            \quad(\text{central: } 2P \text{ passes, error } O(\varepsilon^2)),

  or :math:`(L(w + \varepsilon e_i) - L(w)) / \varepsilon` (forward: :math:`P + 1` passes,
  error :math:`O(\varepsilon)`).
- :func:`weight_perturbation_grad`: perturb *all* parameters at once along random Gaussian
  directions :math:`u_s \sim N(0, I)` (weight perturbation / simultaneous perturbation),

  .. math:: \hat g = \frac{1}{S} \sum_{s=1}^{S}
            \frac{L(w + \sigma u_s) - L(w - \sigma u_s)}{2\sigma}\, u_s ,

  an unbiased estimate of :math:`\nabla L` up to :math:`O(\sigma^2)`, from :math:`2S` passes.
  Its variance grows with the parameter count :math:`P`: the expected cosine with the true
  gradient is about :math:`\sqrt{S / (S + P)}`, so matching backprop needs :math:`S \gg P`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import DTypeError, ValidationError, check_choice, check_in_range, check_int

__all__ = [
    "GradientEstimate",
    "backprop_grad",
    "finite_difference_grad",
    "gradient_agreement",
    "weight_perturbation_grad",
]

LossClosure = Callable[[], torch.Tensor]


@dataclass
class GradientEstimate:
    """A gradient estimate and what it cost.

    Attributes:
        grads: one tensor per parameter, same shapes as the parameters.
        forward_passes: loss evaluations used.
        backward_passes: backward passes used (1 for backprop, 0 for the others).
        seconds: wall-clock time of the estimate.
    """

    grads: list[torch.Tensor]
    forward_passes: int
    backward_passes: int
    seconds: float

    def flat(self) -> torch.Tensor:
        """The estimate as one flat Tensor[P]."""
        return torch.cat([g.reshape(-1) for g in self.grads])


def _params(params: nn.Module | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    plist: list[torch.Tensor] = (
        list(params.parameters()) if isinstance(params, nn.Module) else list(params)
    )
    if not plist:
        raise ValidationError("params must hold at least one tensor, got none")
    for i, p in enumerate(plist):
        if not isinstance(p, torch.Tensor):
            raise DTypeError(f"params[{i}] must be a torch.Tensor, got {type(p).__name__}")
        if not p.is_floating_point():
            raise DTypeError(f"params[{i}] must be floating point, got dtype {p.dtype}")
    return plist


def _loss(loss_fn: LossClosure) -> float:
    value = loss_fn()
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ValidationError(
            f"loss_fn must return a scalar tensor, got {type(value).__name__}"
            + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "")
        )
    return float(value)


def backprop_grad(
    loss_fn: LossClosure, params: nn.Module | Iterable[torch.Tensor]
) -> GradientEstimate:
    """The exact gradient by one forward and one backward pass (``torch.autograd.grad``)."""
    plist = _params(params)
    start = time.perf_counter()
    loss = loss_fn()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValidationError(f"loss_fn must return a scalar tensor, got {type(loss).__name__}")
    raw = torch.autograd.grad(loss, plist, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(plist, raw, strict=True)]
    return GradientEstimate(grads, 1, 1, time.perf_counter() - start)


@torch.no_grad()
def finite_difference_grad(
    loss_fn: LossClosure,
    params: nn.Module | Iterable[torch.Tensor],
    *,
    eps: float = 1e-6,
    scheme: str = "central",
) -> GradientEstimate:
    """Estimate the gradient one parameter at a time by finite differences.

    Args:
        loss_fn: evaluates the loss at the current parameter values.
        params: a module (its parameters) or the tensors to differentiate by; each is
            perturbed in place and restored exactly.
        eps: step size ε > 0 (use float64 parameters for ε ≈ 1e-6).
        scheme: ``"central"`` (2P passes, O(ε²)) or ``"forward"`` (P + 1 passes, O(ε)).

    Returns:
        A :class:`GradientEstimate` with ``forward_passes`` = 2P or P + 1.

    Example:
        >>> w = torch.tensor([1.0, -2.0], dtype=torch.float64)
        >>> est = finite_difference_grad(lambda: (w ** 3).sum(), [w])
        >>> [round(v, 6) for v in est.flat().tolist()], est.forward_passes
        ([3.0, 12.0], 4)
    """
    plist = _params(params)
    eps = check_in_range(eps, name="eps", low=0.0, low_inclusive=False)
    check_choice(scheme, ("central", "forward"), name="scheme")
    start = time.perf_counter()
    passes = 0
    base = 0.0
    if scheme == "forward":
        base = _loss(loss_fn)
        passes += 1
    grads = []
    for p in plist:
        g = torch.zeros_like(p)
        flat_p, flat_g = p.view(-1), g.view(-1)
        for i in range(flat_p.numel()):
            old = flat_p[i].item()
            flat_p[i] = old + eps
            plus = _loss(loss_fn)
            if scheme == "central":
                flat_p[i] = old - eps
                minus = _loss(loss_fn)
                flat_g[i] = (plus - minus) / (2 * eps)
                passes += 2
            else:
                flat_g[i] = (plus - base) / eps
                passes += 1
            flat_p[i] = old
        grads.append(g)
    return GradientEstimate(grads, passes, 0, time.perf_counter() - start)


@torch.no_grad()
def weight_perturbation_grad(
    loss_fn: LossClosure,
    params: nn.Module | Iterable[torch.Tensor],
    *,
    n_samples: int,
    sigma: float = 1e-3,
    generator: torch.Generator | None = None,
) -> GradientEstimate:
    """Estimate the gradient from the loss change along random directions of all parameters.

    Uses antithetic pairs :math:`w \\pm \\sigma u`, :math:`u \\sim N(0, I)` (see module docstring).

    Args:
        loss_fn: evaluates the loss at the current parameter values.
        params: a module or tensors; perturbed in place and restored exactly.
        n_samples: number of directions S (cost: 2S forward passes).
        sigma: perturbation size σ > 0.
        generator: random source of the directions.

    Returns:
        A :class:`GradientEstimate` with ``forward_passes`` = 2S.
    """
    plist = _params(params)
    check_int(n_samples, name="n_samples", low=1)
    sigma = check_in_range(sigma, name="sigma", low=0.0, low_inclusive=False)
    start = time.perf_counter()
    originals = [p.detach().clone() for p in plist]
    grads = [torch.zeros_like(p) for p in plist]
    try:
        for _ in range(n_samples):
            dirs = [
                torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in plist
            ]
            for p, o, u in zip(plist, originals, dirs, strict=True):
                p.copy_(o + sigma * u)
            plus = _loss(loss_fn)
            for p, o, u in zip(plist, originals, dirs, strict=True):
                p.copy_(o - sigma * u)
            minus = _loss(loss_fn)
            coeff = (plus - minus) / (2 * sigma * n_samples)
            for g, u in zip(grads, dirs, strict=True):
                g.add_(u, alpha=coeff)
    finally:
        for p, o in zip(plist, originals, strict=True):
            p.copy_(o)
    return GradientEstimate(grads, 2 * n_samples, 0, time.perf_counter() - start)


def gradient_agreement(estimate: GradientEstimate, reference: GradientEstimate) -> dict[str, float]:
    """Agreement of an estimate with a reference gradient.

    Returns:
        ``relative_error`` :math:`\\|\\hat g - g\\| / \\|g\\|`, ``cosine`` and ``max_abs_error``.
    """
    a, b = estimate.flat().double(), reference.flat().double()
    if a.shape != b.shape:
        raise ValidationError(
            f"estimate and reference must have the same number of entries, got {a.numel()} and "
            f"{b.numel()}"
        )
    norm = float(b.norm())
    if norm == 0.0:
        raise ValidationError("reference gradient is zero; relative error is undefined")
    return {
        "relative_error": float((a - b).norm()) / norm,
        "cosine": float(torch.nn.functional.cosine_similarity(a, b, dim=0)),
        "max_abs_error": float((a - b).abs().max()),
    }
