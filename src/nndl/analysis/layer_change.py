r"""How much a layer's input and output move when the network's input is transformed.

Invariance is a property of a layer, so it is measured *inside* one network: for a layer
:math:`g` with input :math:`a(x)` (what reaches it) and output :math:`g(a(x))`, and a transform
:math:`T` of the network input, the relative change of a representation :math:`r` is

.. math:: \delta_r(x) = \frac{\|r(Tx) - r(x)\|_2}{\|r(x)\|_2},

computed per example over the flattened features. A layer makes the representation more
invariant to :math:`T` when :math:`\delta_{\text{out}} < \delta_{\text{in}}`: e.g. a 2 × 2 max
pooling barely moves when its strongest input shifts within the window. Dividing by the norm
makes the two sides comparable although the layer changes the scale (a maximum is larger than
a mean).

:func:`layer_io_change` runs the network twice (on ``x`` and on ``Tx``) with forward hooks on
the named layers and returns :math:`(\delta_{\text{in}}, \delta_{\text{out}})` per layer.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    >>> x = torch.rand(4, 1, 8, 8)
    >>> before, after = layer_io_change(net, x, x, ["2"])["2"]
    >>> float(before.max()), float(after.max())
    (0.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._validation import ValidationError, check_finite, check_in_range

__all__ = ["layer_io_change", "relative_change"]


def relative_change(
    reference: torch.Tensor, changed: torch.Tensor, eps: float = 1e-12
) -> torch.Tensor:
    r"""Per example :math:`\|b - a\|_2 / \max(\|a\|_2, \varepsilon)` over the flattened features.

    Args:
        reference: Tensor[B, \*] (``a``).
        changed: Tensor of the same shape (``b``).
        eps: floor on the reference norm.

    Returns:
        Tensor[B] ≥ 0.

    Raises:
        ValidationError: different shapes, fewer than one dimension, or ``eps`` ≤ 0.
    """
    if reference.shape != changed.shape or reference.dim() < 1:
        raise ValidationError(
            f"reference and changed must have one shape (B, ...), got {tuple(reference.shape)} "
            f"and {tuple(changed.shape)}"
        )
    check_in_range(eps, name="eps", low=0.0, low_inclusive=False)
    a, b = reference.flatten(1), changed.flatten(1)
    return (b - a).norm(dim=1) / a.norm(dim=1).clamp_min(eps)


def _capture(
    model: nn.Module, x: torch.Tensor, names: Sequence[str]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for name in names:

        def hook(
            _m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor, name: str = name
        ) -> None:
            seen[name] = (inputs[0].detach(), output.detach())

        handles.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def layer_io_change(
    model: nn.Module,
    images: torch.Tensor,
    transformed: torch.Tensor,
    layers: Sequence[str],
    *,
    eps: float = 1e-12,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    r"""Relative change of each named layer's input and output under a transform of the input.

    Args:
        model: the network (evaluated as it is; put it in eval mode first if it matters).
        images: Tensor[B, \*] network inputs :math:`x`.
        transformed: the transformed inputs :math:`Tx`, same shape.
        layers: names of submodules (``model.get_submodule(name)``), e.g. ``["pool1"]``.
        eps: floor on the reference norms (:func:`relative_change`).

    Returns:
        ``{name: (delta_in, delta_out)}``, each Tensor[B]: :math:`\delta` of what enters the
        layer and of what leaves it.

    Raises:
        ValidationError: shapes differ, a non-finite input, no layers, or an unknown layer name.
    """
    if images.shape != transformed.shape:
        raise ValidationError(
            f"images and transformed must have the same shape, got {tuple(images.shape)} and "
            f"{tuple(transformed.shape)}"
        )
    check_finite(images, name="images")
    check_finite(transformed, name="transformed")
    names = list(layers)
    if not names:
        raise ValidationError("layers must name at least one submodule, got none")
    known = {n for n, _ in model.named_modules() if n}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationError(
            f"layers {unknown} are not submodules of the model; it has {sorted(known)}"
        )
    clean = _capture(model, images, names)
    moved = _capture(model, transformed, names)
    return {
        n: (
            relative_change(clean[n][0], moved[n][0], eps),
            relative_change(clean[n][1], moved[n][1], eps),
        )
        for n in names
    }
