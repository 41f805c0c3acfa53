"""Hole filling for disparity maps: KITTI's background interpolation, vectorised.

Stereo methods leave pixels without an estimate (occlusions, failed left-right checks). The
KITTI stereo benchmark scores every method on a dense map, so it fills those holes the same way
for everyone (``interpolateBackground`` in the devkit's ``io_disp.h``): along each row, a run of
missing pixels between two estimates takes the *smaller* of the two disparities (occluded pixels
belong to the background, which is farther away, so has the smaller disparity); runs touching
the left or right border take the nearest estimate in the row; then rows with no estimate at all
above the first / below the last row with one copy that row's value per column.

The devkit leaves rows with no estimate between two rows with estimates empty; here they take the
smaller of the nearest values above and below (the same background rule, applied vertically), so
the output is always dense. A map without any estimate is returned as zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import DTypeError, ShapeError, check_dtype, check_shape

__all__ = ["fill_holes"]


def _fill_along_last(d: Tensor, ok: Tensor) -> tuple[Tensor, Tensor]:
    """Fill holes along the last dimension (background rule); return (filled, row_has_any)."""
    n = d.shape[-1]
    pos = torch.arange(n, device=d.device).expand_as(d)
    # index of the nearest estimate on the left (-1 if none) and on the right (n if none)
    left = torch.where(ok, pos, torch.full_like(pos, -1)).cummax(-1).values
    right = torch.where(ok, pos, torch.full_like(pos, n)).flip(-1).cummin(-1).values.flip(-1)
    has_left, has_right = left >= 0, right < n
    d_left = d.gather(-1, left.clamp(0, n - 1))
    d_right = d.gather(-1, right.clamp(0, n - 1))
    filled = torch.where(
        has_left & has_right,
        torch.minimum(d_left, d_right),
        torch.where(has_left, d_left, d_right),
    )
    out = torch.where(ok, d, filled)
    return out, ok.any(-1, keepdim=True)


def fill_holes(disparity: Tensor, valid: Tensor | None = None) -> Tensor:
    r"""Fill the holes of a disparity map with KITTI's background interpolation.

    A pixel is a hole where ``valid`` is False or the disparity is not finite. Along each row a
    run of holes between estimates :math:`d_l` (left) and :math:`d_r` (right) becomes
    :math:`\min(d_l, d_r)`; runs at the row ends copy the nearest estimate; rows without any
    estimate then take the background value of the nearest rows with one (see the module
    docstring).

    Args:
        disparity: Tensor[H, W] or Tensor[B, H, W], floating point.
        valid: optional bool Tensor of the same shape, True where the estimate is kept.

    Returns:
        Tensor of the same shape and dtype, finite everywhere (zeros if a map had no estimate);
        the estimates themselves are unchanged.

    Raises:
        ShapeError: ``disparity`` is not 2-D/3-D, or ``valid`` has another shape.
        DTypeError: ``disparity`` is not floating point or ``valid`` is not boolean.

    Example:
        >>> d = torch.tensor([[5.0, float("nan"), float("nan"), 9.0, float("inf")]])
        >>> fill_holes(d).tolist()
        [[5.0, 5.0, 5.0, 9.0, 9.0]]
    """
    if not isinstance(disparity, Tensor) or disparity.ndim not in (2, 3):
        shape = tuple(disparity.shape) if isinstance(disparity, Tensor) else type(disparity)
        raise ShapeError(
            f"disparity must have shape (H, W) or (B, H, W), got {shape}",
            ("B", "H", "W"),
            shape if isinstance(shape, tuple) else (),
        )
    check_dtype(disparity, name="disparity")
    ok = torch.isfinite(disparity)
    if valid is not None:
        check_shape(valid, list(disparity.shape), name="valid")
        if valid.dtype != torch.bool:
            raise DTypeError(f"valid must be a bool tensor, got dtype {valid.dtype}")
        ok = ok & valid
    squeeze = disparity.ndim == 2
    d = disparity.unsqueeze(0) if squeeze else disparity
    ok = ok.unsqueeze(0) if squeeze else ok
    d = torch.where(ok, d, torch.zeros_like(d))
    rows, row_ok = _fill_along_last(d, ok)  # (B, H, W), (B, H, 1)
    # rows without any estimate: the same background rule down the columns
    row_ok = row_ok.expand_as(rows)
    cols, _ = _fill_along_last(rows.transpose(1, 2), row_ok.transpose(1, 2))
    out = cols.transpose(1, 2)
    any_ok = ok.flatten(1).any(1).view(-1, 1, 1)
    out = torch.where(any_ok, out, torch.zeros_like(out))
    return out[0] if squeeze else out.contiguous()
