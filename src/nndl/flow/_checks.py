"""Input checks shared by the flow and stereo estimators."""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import (
    DTypeError,
    ShapeError,
    ValidationError,
    check_dtype,
    check_same_device,
    check_same_dtype,
    check_same_shape,
    check_shape,
)
from ..data.images import to_gray

__all__ = ["as_batch", "check_finite", "check_flow", "check_image_pair", "to_gray"]


def as_batch(img: Tensor, *, name: str) -> tuple[Tensor, bool]:
    """``(C, H, W)`` or ``(B, C, H, W)`` float -> ``(B, C, H, W)``, and whether it was 3-D."""
    if not isinstance(img, Tensor):
        raise DTypeError(f"{name} must be a torch.Tensor, got {type(img).__name__}")
    if img.ndim == 3:
        img, squeezed = img.unsqueeze(0), True
    elif img.ndim == 4:
        squeezed = False
    else:
        raise ShapeError(
            f"{name} must have shape (C, H, W) or (B, C, H, W), got {tuple(img.shape)}",
            ("B", "C", "H", "W"),
            tuple(img.shape),
        )
    check_dtype(img, name=name)
    if img.is_complex():
        raise DTypeError(f"{name} must be a real floating-point tensor, got dtype {img.dtype}")
    return img, squeezed


def check_finite(img: Tensor, *, name: str) -> None:
    """Raise :class:`ValidationError` naming ``img`` if any value is NaN or infinite."""
    bad = ~torch.isfinite(img)
    if bool(bad.any()):
        raise ValidationError(
            f"{name} must be finite, got {int(bad.sum())} NaN/infinite value(s) of "
            f"{img.numel()}; fill or crop them first"
        )


def check_image_pair(
    img1: Tensor, img2: Tensor, *, names: tuple[str, str], min_size: int = 1
) -> tuple[Tensor, Tensor, bool]:
    """Two finite images of one shape, as ``(B, C, H, W)``; also whether the inputs were 3-D.

    Raises:
        ShapeError: not 3-D/4-D, different shapes, or a side shorter than ``min_size``.
        DTypeError: not floating point, or different dtypes/devices.
        ValidationError: a NaN or infinite pixel.
    """
    a, squeezed = as_batch(img1, name=names[0])
    b, _ = as_batch(img2, name=names[1])
    if a.shape != b.shape:  # (C, H, W) and (1, C, H, W) are one size
        check_same_shape(img1, img2, names=names, what="size")  # raises, naming the given shapes
    check_same_dtype(a, b, names=names)
    check_same_device(a, b, names=names)
    h, w = a.shape[-2:]
    if min(h, w) < min_size:
        raise ShapeError(
            f"{names[0]} must be at least {min_size}×{min_size} pixels, got {h}×{w}",
            ("B", "C", f">={min_size}", f">={min_size}"),
            tuple(a.shape),
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(
            f"{names[0]} must have at least one image and one channel, got {tuple(a.shape)}",
            ("B>=1", "C>=1", "H", "W"),
            tuple(a.shape),
        )
    check_finite(a, name=names[0])
    check_finite(b, name=names[1])
    return a, b, squeezed


def check_flow(flow: Tensor, *, name: str = "flow") -> tuple[Tensor, bool]:
    """``(2, H, W)`` or ``(B, 2, H, W)`` floating point -> ``(B, 2, H, W)``, and whether 3-D."""
    if isinstance(flow, Tensor) and flow.ndim == 3:
        check_shape(flow, "2 H W", name=name)
        out, squeezed = flow.unsqueeze(0), True
    else:
        check_shape(flow, "B 2 H W", name=name)
        out, squeezed = flow, False
    check_dtype(out, name=name)
    return out, squeezed
