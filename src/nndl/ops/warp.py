r"""Backward warping by a flow field with bilinear sampling (PWC-Net's warping layer).

PWC-Net warps the second image's features towards the first one by the upsampled flow of the
coarser level before it computes the cost volume, so that the cost volume only has to find the
small residual motion. Warping samples ``x`` at the positions the flow points to; a validity
mask marks the pixels whose sample position falls inside the image.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import Tensor, nn

from .._validation import (
    DTypeError,
    check_dtype,
    check_same_device,
    check_shape,
)

__all__ = ["Warp", "warp"]


def _check_warp_inputs(x: Tensor, flow: Tensor) -> None:
    sizes = check_shape(x, "B C H W", name="x")
    check_dtype(x, name="x")
    check_shape(flow, "B 2 H W", name="flow", sizes=dict(sizes))
    check_dtype(flow, name="flow")
    for t, n in ((x, "x"), (flow, "flow")):
        if t.is_complex():
            raise DTypeError(f"{n} must be a real floating-point tensor, got dtype {t.dtype}")
    check_same_device(x, flow, names=("x", "flow"))


@overload
def warp(x: Tensor, flow: Tensor, return_mask: Literal[False] = False) -> Tensor: ...


@overload
def warp(x: Tensor, flow: Tensor, return_mask: Literal[True]) -> tuple[Tensor, Tensor]: ...


@overload
def warp(x: Tensor, flow: Tensor, return_mask: bool) -> Tensor | tuple[Tensor, Tensor]: ...


def warp(x: Tensor, flow: Tensor, return_mask: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    r"""Backward-warp ``x`` by ``flow`` with bilinear sampling.

    .. math::

        \mathrm{out}[b, c, y, x] = \sum_{(x', y') \in \text{4 neighbours}}
            (1 - |x + u - x'|)(1 - |y + v - y'|) \; x[b, c, y', x'],
        \qquad (u, v) = \mathrm{flow}[b, :, y, x],

    where the sum runs over the four integer neighbours of the sample position
    ``(x + u, y + v)`` and neighbours outside the image count as zero.

    Convention:
        - ``flow`` follows the convention of :mod:`nndl.ops`: shape ``(B, 2, H, W)``, in pixels,
          channel 0 the horizontal ``u`` (along ``W``), channel 1 the vertical ``v``.
        - Backward warping: the output at ``(x, y)`` is read *from* ``(x + u, y + v)`` of the
          input, so ``warp(img2, flow)`` aligns ``img2`` with ``img1`` when ``flow`` is the flow
          from ``img1`` to ``img2``.
        - Pixel centres sit at integer coordinates ``0 … W − 1`` and ``0 … H − 1``: this is
          :func:`torch.nn.functional.grid_sample` with ``align_corners=True``,
          ``mode="bilinear"``, ``padding_mode="zeros"`` (the tests check they agree), computed
          here with integer indices so that an integer flow is an *exact* shift (``grid_sample``
          normalises coordinates to ``[−1, 1]`` and back, which rounds).
        - Zero flow returns ``x`` exactly.
        - A non-finite flow vector (NaN or ±inf), or one longer than 2²⁴ pixels, points
          outside the image: the output there is 0, the mask 0 and the flow gradient 0.
        - The mask is 1 where ``0 ≤ x + u ≤ W − 1`` and ``0 ≤ y + v ≤ H − 1`` (all four
          neighbours that carry weight are inside the image) and 0 elsewhere; there the output
          is the bilinear mix with zeros, as in ``grid_sample``. Multiply by the mask to zero
          those pixels, as PWC-Net does. The mask carries no gradient.
        - Gradients flow to ``x`` and to ``flow`` (the bilinear weights are piecewise linear in
          the flow; at integer positions the derivative is the one-sided one, as in
          ``grid_sample``).

    Args:
        x: Tensor[B, C, H, W], the image or features to warp (floating point).
        flow: Tensor[B, 2, H, W], the flow in pixels (floating point, same device).
        return_mask: also return the validity mask.

    Returns:
        Tensor[B, C, H, W] in the dtype of ``x``; with ``return_mask=True`` also the mask,
        Tensor[B, 1, H, W] of 0/1 in the dtype of ``x``.

    Raises:
        ShapeError: ``x`` is not 4-D, or ``flow`` is not ``(B, 2, H, W)`` with ``x``'s B, H, W.
        DTypeError: a non-floating-point input.

    Example:
        >>> img = torch.arange(12.0).view(1, 1, 3, 4)
        >>> flow = torch.zeros(1, 2, 3, 4)
        >>> flow[:, 0] = 1.0  # read from one pixel to the right
        >>> out, mask = warp(img, flow, return_mask=True)
        >>> out[0, 0].tolist()
        [[1.0, 2.0, 3.0, 0.0], [5.0, 6.0, 7.0, 0.0], [9.0, 10.0, 11.0, 0.0]]
        >>> mask[0, 0, 0].tolist()
        [1.0, 1.0, 1.0, 0.0]
    """
    _check_warp_inputs(x, flow)
    b, c, h, w = x.shape
    # coordinates in at least float32, so that x + u is exact for integer u
    cdtype = torch.promote_types(flow.dtype, torch.float32)
    flow = flow.to(cdtype)
    gy, gx = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=cdtype),
        torch.arange(w, device=x.device, dtype=cdtype),
        indexing="ij",
    )
    px = gx + flow[:, 0]  # (B, H, W) sample positions, x first (flow channel 0 = u)
    py = gy + flow[:, 1]
    # a non-finite (or astronomically large) vector points outside the image: move its sample
    # position just outside, so that the output there is 0 and the mask 0, never NaN
    finite = torch.isfinite(px) & torch.isfinite(py) & (px.abs() < 2**24) & (py.abs() < 2**24)
    outside = px.new_full((), -2.0)
    px, py = torch.where(finite, px, outside), torch.where(finite, py, outside)
    x0, y0 = px.floor(), py.floor()
    wx1, wy1 = px - x0, py - y0  # weights of the right / lower neighbours
    wx0, wy0 = 1 - wx1, 1 - wy1
    x0i, y0i = x0.long(), y0.long()
    src = x.reshape(b, c, h * w)
    terms = []
    for dy, wy in ((0, wy0), (1, wy1)):
        yi = y0i + dy
        inside_y = (yi >= 0) & (yi <= h - 1)
        for dx, wx in ((0, wx0), (1, wx1)):
            xi = x0i + dx
            inside = inside_y & (xi >= 0) & (xi <= w - 1)
            weight = (wx * wy * inside).to(x.dtype).reshape(b, 1, h * w)
            idx = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).reshape(b, 1, h * w)
            terms.append(weight * torch.gather(src, 2, idx.expand(b, c, h * w)))
    out = (terms[0] + terms[1] + terms[2] + terms[3]).view(b, c, h, w)
    if not return_mask:
        return out
    with torch.no_grad():
        mask = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    return out, mask.to(x.dtype).unsqueeze(1)


class Warp(nn.Module):
    """See :func:`warp`."""

    def __init__(self, return_mask: bool = False) -> None:
        super().__init__()
        self.return_mask = bool(return_mask)

    def forward(self, x: Tensor, flow: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return warp(x, flow, self.return_mask)

    def extra_repr(self) -> str:
        return f"return_mask={self.return_mask}"
