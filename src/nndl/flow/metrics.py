r"""Error measures for optical flow and disparity.

- End-point error (EPE): the Euclidean distance between estimated and true flow vectors,
  :math:`\lVert (u, v) - (u^*, v^*) \rVert_2`, averaged over the scored pixels.
- Bad-X (Middlebury/KITTI): the share of scored pixels whose absolute disparity error exceeds
  ``X`` pixels (bad-2.0 for ``X = 2``).
- Mean absolute disparity error.

Scored pixels are those where the ground truth is finite (Middlebury marks unknown disparity as
``+inf``) and, if given, ``mask`` is True. A non-finite *estimate* at a scored pixel counts as an
error (infinitely wrong): fill holes first (:func:`nndl.flow.fill_holes`) to score a dense map,
or pass the estimate's validity as ``mask`` to score only the covered pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import DTypeError, ValidationError, check_dtype, check_in_range, check_shape
from ._checks import check_flow

__all__ = ["bad_pixel_rate", "end_point_error", "endpoint_error", "mean_absolute_error"]


def _scored(pred: Tensor, target: Tensor, mask: Tensor | None, *, spec: str) -> Tensor:
    sizes = check_shape(target, spec, name="target")
    check_shape(pred, spec, name="prediction", sizes=sizes)
    check_dtype(pred, name="prediction")
    check_dtype(target, name="target")
    scored = torch.isfinite(target)
    if spec.startswith("B 2"):
        scored = scored.all(1)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise DTypeError(f"mask must be a bool tensor, got dtype {mask.dtype}")
        if mask.shape != scored.shape:
            raise ValidationError(
                f"mask must have shape {tuple(scored.shape)}, got {tuple(mask.shape)}"
            )
        scored = scored & mask
    if not bool(scored.any()):
        raise ValidationError("no pixel to score: the target is non-finite wherever mask is True")
    return scored


def end_point_error(flow: Tensor, target: Tensor) -> Tensor:
    r"""Per-pixel end-point error :math:`\lVert f(p) - f^*(p) \rVert_2` (the one definition).

    Args:
        flow: Tensor[B, 2, H, W] or Tensor[2, H, W], the estimate in pixels.
        target: the true flow, same shape.

    Returns:
        Tensor[B, H, W] (or Tensor[H, W]) in float64; NaN where either vector is not finite.

    Raises:
        ShapeError: the shapes differ or are not flows.

    Example:
        >>> end_point_error(torch.tensor([[[3.0]], [[4.0]]]), torch.zeros(2, 1, 1)).tolist()
        [[5.0]]
    """
    f, squeezed = check_flow(flow, name="flow")
    t, _ = check_flow(target, name="target")
    check_shape(t, "B 2 H W", name="target", sizes=check_shape(f, "B 2 H W", name="flow"))
    err = (f.double() - t.double()).pow(2).sum(1).sqrt()
    return err[0] if squeezed else err


def endpoint_error(flow: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    r"""Mean end-point error :math:`\frac{1}{|P|}\sum_{p\in P}\lVert f(p) - f^*(p)\rVert_2`.

    Args:
        flow: Tensor[B, 2, H, W] or Tensor[2, H, W], the estimate in pixels.
        target: the true flow, same shape; non-finite vectors are not scored.
        mask: optional bool Tensor[B, H, W] (or [H, W] for 3-D flows) of pixels to score.

    Returns:
        The mean EPE in pixels over the scored pixels.

    Raises:
        ShapeError: the shapes differ or are not flows.
        ValidationError: no pixel to score.

    Example:
        >>> flow = torch.zeros(2, 4, 4)
        >>> flow[0], flow[1] = 3.0, 4.0
        >>> endpoint_error(flow, torch.zeros(2, 4, 4))
        5.0
    """
    f, squeezed = check_flow(flow, name="flow")
    t, _ = check_flow(target, name="target")
    if mask is not None and squeezed and mask.ndim == 2:
        mask = mask.unsqueeze(0)
    scored = _scored(f, t, mask, spec="B 2 H W")
    err = end_point_error(f, t)
    err = torch.where(torch.isfinite(err), err, torch.full_like(err, float("inf")))
    return float(err[scored].mean())


def _abs_error(pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    if not isinstance(target, Tensor) or target.ndim not in (2, 3):
        raise ValidationError(
            "target must be a disparity map of shape (H, W) or (B, H, W), got "
            f"{tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__}"
        )
    spec = "H W" if target.ndim == 2 else "B H W"
    scored = _scored(pred, target, mask, spec=spec)
    err = (pred.double() - target.double()).abs()
    err = torch.where(torch.isnan(err), torch.full_like(err, float("inf")), err)
    return err[scored]


def bad_pixel_rate(
    disparity: Tensor, target: Tensor, threshold: float = 2.0, mask: Tensor | None = None
) -> float:
    """Share of scored pixels with ``|disparity − target| > threshold`` (bad-X).

    Args:
        disparity: Tensor[H, W] or Tensor[B, H, W], the estimate in pixels.
        target: the ground truth, same shape; non-finite (e.g. +inf) pixels are not scored.
        threshold: X in pixels (>= 0).
        mask: optional bool tensor of the same shape, pixels to score.

    Returns:
        A fraction in [0, 1].

    Example:
        >>> bad_pixel_rate(torch.tensor([1.0, 5.0]).view(1, 2), torch.tensor([[1.5, 2.0]]))
        0.5
    """
    check_in_range(threshold, name="threshold", low=0.0)
    err = _abs_error(disparity, target, mask)
    return float((err > threshold).double().mean())


def mean_absolute_error(disparity: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    """Mean ``|disparity − target|`` over the scored pixels (see :func:`bad_pixel_rate`)."""
    return float(_abs_error(disparity, target, mask).mean())
