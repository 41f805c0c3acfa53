r"""Flow, disparity and images as ``uint8`` pictures, small enough to store beside a result.

A float picture in :math:`[0, 1]` becomes bytes by :math:`\operatorname{round}(255\,x)` after
clipping to :math:`[0, 1]` (a quarter of the float32 size; the colour maps of
:func:`~nndl.flow.flow_to_color` and :func:`~nndl.flow.disparity_to_color` are already in
:math:`[0, 1]`).

Example:
    >>> flow_picture(torch.zeros(2, 4, 5)).dtype, flow_picture(torch.zeros(2, 4, 5)).shape
    (torch.uint8, torch.Size([3, 4, 5]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import DTypeError
from .color import disparity_to_color, flow_to_color

__all__ = ["as_uint8", "disparity_picture", "flow_picture"]


def as_uint8(image: Tensor) -> Tensor:
    """``round(255 · clip(image, 0, 1))`` as ``uint8``, any shape (NaN counts as 0).

    Raises:
        DTypeError: ``image`` is not a floating-point tensor.
    """
    if not isinstance(image, Tensor) or not image.is_floating_point():
        got = image.dtype if isinstance(image, Tensor) else type(image).__name__
        raise DTypeError(f"image must be a floating-point tensor in [0, 1], got {got}")
    return (image.detach().nan_to_num(0.0).clamp(0, 1) * 255).round().to(torch.uint8)


def disparity_picture(
    disparity: Tensor, max_disparity: float | None = None, valid: Tensor | None = None
) -> Tensor:
    """Tensor[3, H, W] ``uint8``: :func:`~nndl.flow.disparity_to_color` (black = no estimate).

    Args and Raises: as :func:`~nndl.flow.disparity_to_color` (``disparity`` Tensor[H, W]).
    """
    return as_uint8(disparity_to_color(disparity, valid, max_disparity=max_disparity))


def flow_picture(flow: Tensor, max_flow: float | None = None) -> Tensor:
    """Tensor[3, H, W] ``uint8``: :func:`~nndl.flow.flow_to_color` of a Tensor[2, H, W] flow.

    Args and Raises: as :func:`~nndl.flow.flow_to_color` (``max_flow`` saturates the colours).
    """
    return as_uint8(flow_to_color(flow, max_flow=max_flow))
