r"""Plain SGD watched by a gradient monitor until the loss stops being finite (claim G4).

With weights so large that every layer multiplies the error signal by more than one, the first
layers' gradients are huge; an SGD step of that size blows a ReLU net's activations up until
they overflow. :func:`sgd_until_nonfinite` runs SGD on random mini-batches with a
:class:`~nndl.diagnostics.GradientMonitor` recording every step, stops at the first non-finite
loss, and returns the losses and what :meth:`~nndl.diagnostics.GradientMonitor.diagnose`
reports. It is not the :class:`~nndl.train.Trainer` on purpose: the Trainer stops before the
backward pass of a non-finite loss, and here the non-finite gradients are what the monitor must
see (they are recorded, never applied).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import DTypeError, ShapeError, check_in_range, check_int
from ..diagnostics import GradientMonitor

__all__ = ["sgd_until_nonfinite"]


def sgd_until_nonfinite(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
) -> dict[str, Any]:
    r"""SGD on cross-entropy, one monitored step at a time, until the loss is not finite.

    Step k draws ``batch_size`` indices uniformly with replacement from ``generator``, computes
    :math:`C = \mathrm{CE}(\text{model}(x_B), y_B)`, backpropagates, records the gradients (and
    activations) with the monitor, and applies the update unless :math:`C` is NaN/Inf, where it
    stops.

    Args:
        model: a classifier, logits (B, K) (trained in place).
        x: Tensor[N, D]; y: Tensor[N] class indices.
        lr: > 0; steps: at most this many steps (≥ 1); batch_size: ≥ 1.
        generator: draws the batches.

    Returns:
        ``{"losses": [...], "steps": n, "nonfinite_loss": bool, "findings": [kinds, in order,
        once each], "messages": [str(finding), …]}``.

    Raises:
        DTypeError / ShapeError / ValidationError: bad arguments, before any step.
    """
    if not isinstance(model, nn.Module) or not isinstance(generator, torch.Generator):
        raise DTypeError(
            f"model must be a Module and generator a torch.Generator, got "
            f"{type(model).__name__} and {type(generator).__name__}"
        )
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ShapeError(
            f"x and y must hold one non-zero number of examples, got {x.shape[0]}, {y.shape[0]}",
            ("N",),
            tuple(y.shape),
        )
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    check_int(steps, name="steps", low=1)
    check_int(batch_size, name="batch_size", low=1)
    monitor = GradientMonitor(model, every=1, activations=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses: list[float] = []
    try:
        for _ in range(steps):
            idx = torch.randint(0, x.shape[0], (batch_size,), generator=generator)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            monitor.record()
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                break
            optimizer.step()
        diagnosis = monitor.diagnose()
    finally:
        monitor.detach()
    return {
        "losses": losses,
        "steps": len(losses),
        "nonfinite_loss": not math.isfinite(losses[-1]),
        "findings": list(dict.fromkeys(f.kind for f in diagnosis)),
        "messages": [str(f) for f in diagnosis],
    }
