r"""Backprop against perturbation gradients on one loss, and power-law cost fits (F4).

:func:`compare_gradient_estimators` runs the three estimators of :mod:`nndl.analysis.gradients`
on one loss closure — backprop (the reference, timed over ``repeats`` runs), central finite
differences (:math:`2P` passes) and weight perturbation with :math:`S` antithetic directions
(:math:`2S` passes, one estimate per generator) — and returns their agreement with backprop,
forward passes and seconds as plain JSON-able numbers.

:func:`power_law_exponent` fits :math:`y = c\,x^b` by least squares in log-log space and
returns :math:`b`: the finite-difference / backprop time ratio grows like :math:`P^b` with
:math:`b \approx 1` when perturbation needs a pass per parameter and backprop does not.

Example:
    >>> round(power_law_exponent([10, 100, 1000], [2.0, 20.0, 200.0]), 6)
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import DTypeError, ValidationError, check_finite, check_in_range, check_int
from .gradients import (
    _params,
    backprop_grad,
    finite_difference_grad,
    gradient_agreement,
    weight_perturbation_grad,
)

__all__ = ["compare_gradient_estimators", "power_law_exponent"]


def compare_gradient_estimators(
    loss_fn: Callable[[], torch.Tensor],
    params: nn.Module | Iterable[torch.Tensor],
    *,
    eps: float = 1e-6,
    wp_samples: int = 50,
    wp_sigma: float = 1e-3,
    repeats: int = 1,
    generators: Sequence[torch.Generator | None] = (None,),
) -> dict[str, Any]:
    r"""Finite differences and weight perturbation against backprop on one loss.

    Args:
        loss_fn: evaluates the scalar loss at the current parameter values.
        params: a module (its parameters) or the tensors to differentiate by (use float64 for
            ``eps`` ≈ 1e-6).
        eps: finite-difference step ε.
        wp_samples: directions S per weight-perturbation estimate.
        wp_sigma: perturbation size σ.
        repeats: backprop runs; its time is their median (a single backward pass is short).
        generators: one weight-perturbation estimate per generator (e.g. one per seed).

    Returns:
        ``parameters`` (P), ``fd_relative_error`` :math:`\|\hat g - g\| / \|g\|`, per
        generator ``wp_cosine`` and ``wp_relative_error``, ``passes`` and ``seconds`` per
        method (``backprop``, ``finite_difference``, ``weight_perturbation``; the latter's
        seconds the median over generators).

    Raises:
        DTypeError: ``loss_fn`` not callable, a parameter that is not a floating-point tensor,
            a generator that is neither a ``torch.Generator`` nor None, or a non-numeric
            setting.
        ValidationError: no parameters or a NaN/Inf in them, ``eps`` or ``wp_sigma`` not
            positive and finite, ``wp_samples`` or ``repeats`` < 1, or no generators; all
            checked before any pass runs.
    """
    if not callable(loss_fn):
        raise DTypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    plist = _params(params)
    for i, p in enumerate(plist):
        check_finite(p.detach(), name=f"params[{i}]")
    check_in_range(eps, name="eps", low=0.0, low_inclusive=False)
    check_in_range(wp_sigma, name="wp_sigma", low=0.0, low_inclusive=False)
    check_int(wp_samples, name="wp_samples", low=1)
    check_int(repeats, name="repeats", low=1)
    gens = list(generators)
    if not gens:
        raise ValidationError("generators must hold at least one entry (None for a default)")
    for i, g in enumerate(gens):
        if g is not None and not isinstance(g, torch.Generator):
            raise DTypeError(
                f"generators[{i}] must be a torch.Generator or None, got {type(g).__name__}"
            )
    bp_runs = [backprop_grad(loss_fn, plist) for _ in range(repeats)]
    bp = bp_runs[0]
    fd = finite_difference_grad(loss_fn, plist, eps=eps)
    wps = [
        weight_perturbation_grad(loss_fn, plist, n_samples=wp_samples, sigma=wp_sigma, generator=g)
        for g in gens
    ]
    wp_agreement = [gradient_agreement(wp, bp) for wp in wps]
    return {
        "parameters": sum(p.numel() for p in plist),
        "fd_relative_error": gradient_agreement(fd, bp)["relative_error"],
        "wp_cosine": [a["cosine"] for a in wp_agreement],
        "wp_relative_error": [a["relative_error"] for a in wp_agreement],
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


def power_law_exponent(x: Sequence[float], y: Sequence[float]) -> float:
    r"""Exponent :math:`b` of the least-squares fit :math:`\ln y = a + b \ln x`.

    Args:
        x: positive abscissae (at least two distinct values for a finite fit).
        y: positive values, same length.

    Returns:
        :math:`b`; NaN for fewer than two points.

    Raises:
        ValidationError: different lengths or a value that is not positive and finite.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValidationError(
            f"x and y must be 1-D of one length, got shapes {xs.shape} and {ys.shape}"
        )
    if not (np.all(np.isfinite(xs) & (xs > 0)) and np.all(np.isfinite(ys) & (ys > 0))):
        raise ValidationError(f"x and y must be positive and finite, got {xs} and {ys}")
    if len(xs) < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])
