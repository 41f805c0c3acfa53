r"""An unpooled CNN with a global-average-pool head, and its width for a parameter budget.

Pooling does two things at once: it shrinks every map (so the read-out has fewer inputs and the
net fewer parameters) and it summarises a window. :func:`gap_cnn` keeps the maps at full size
but averages each channel over the whole image before the read-out,
:math:`z_c = \frac{1}{HW}\sum_{ij} x_{cij}`, so its parameter count no longer depends on the
image size; :func:`gap_width_for` picks the hidden width that matches a given count. The pair
separates "fewer parameters" from "pooling" (claim P1).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from .._validation import check_int
from .builders import cnn
from .init import init_

__all__ = ["gap_cnn", "gap_width_for"]


def gap_cnn(
    in_channels: int,
    n_classes: int,
    image_size: int | Sequence[int],
    channels: Sequence[int],
    *,
    hidden: int,
    init: str | None = None,
) -> nn.Sequential:
    """:func:`~nndl.nn.cnn` with ``pool="none"`` and a global average pool before ``flatten``.

    Layers: the conv blocks ``conv{i}``/``act{i}``, ``gap`` (``AdaptiveAvgPool2d(1)``),
    ``flatten``, ``fc`` (Linear C_last → ``hidden``), ``fc_act``, ``out`` (``hidden`` → K).

    Args:
        in_channels: C of the input images.
        n_classes: K logits.
        image_size: H (square) or (H, W).
        channels: output channels of the conv blocks (C_last = ``channels[-1]``).
        hidden: width of the hidden read-out layer, >= 1.
        init: an init scheme of :func:`~nndl.nn.init_` applied to the whole net (None keeps
            PyTorch's default).

    Returns:
        ``nn.Sequential``: (N, C, H, W) → (N, K).

    Raises:
        ValidationError: bad sizes (as :func:`~nndl.nn.cnn`), or ``hidden`` < 1.

    Example:
        >>> import torch
        >>> gap_cnn(1, 10, 12, (4, 8), hidden=16)(torch.zeros(2, 1, 12, 12)).shape
        torch.Size([2, 10])
    """
    check_int(hidden, name="hidden", low=1)
    body = cnn(in_channels, n_classes, image_size, channels=channels, pool="none", hidden=hidden)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for name, layer in body.named_children():
        if name == "flatten":
            layers["gap"] = nn.AdaptiveAvgPool2d(1)
        layers[name] = layer
    layers["fc"] = nn.Linear(channels[-1], hidden)
    model = nn.Sequential(layers)
    if init is not None:
        init_(model, init)
    return model


def gap_width_for(
    parameters: int,
    in_channels: int,
    n_classes: int,
    image_size: int | Sequence[int],
    channels: Sequence[int],
) -> int:
    r"""The hidden width h whose :func:`gap_cnn` has the parameter count closest to a target.

    The count is linear in h, :math:`P(h) = a + b\,h` with :math:`b = P(2) - P(1)` (the read-out's
    C_last + 1 + K weights per hidden unit), so :math:`h = 1 + \text{round}((P - P(1)) / b)`,
    at least 1.

    Args:
        parameters: the target count P, >= 1 (e.g. a pooled CNN's).
        in_channels, n_classes, image_size, channels: as :func:`gap_cnn`.

    Returns:
        h >= 1.

    Raises:
        ValidationError: ``parameters`` < 1, or bad sizes.

    Example:
        >>> net = gap_cnn(1, 10, 12, (4, 8), hidden=20)
        >>> gap_width_for(sum(p.numel() for p in net.parameters()), 1, 10, 12, (4, 8))
        20
    """
    check_int(parameters, name="parameters", low=1)

    def count(h: int) -> int:
        net = gap_cnn(in_channels, n_classes, image_size, channels, hidden=h)
        return sum(p.numel() for p in net.parameters())

    one, two = count(1), count(2)
    return max(1, round((parameters - one) / (two - one)) + 1)
