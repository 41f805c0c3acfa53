"""Fast path of the cost volumes: an autograd Function with a hand-written backward (v0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["correlate"]

_HALF = (torch.float16, torch.bfloat16)


def _pads(oy0: int, ndy: int, ox0: int, ndx: int, step: int) -> tuple[int, int, int, int]:
    top, left = max(0, -oy0), max(0, -ox0)
    bottom, right = max(0, oy0 + (ndy - 1) * step), max(0, ox0 + (ndx - 1) * step)
    return top, bottom, left, right


class _Correlation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f1, f2, geom, scale):  # type: ignore[override]
        oy0, ndy, ox0, ndx, step = geom
        top, bottom, left, right = _pads(*geom)
        _, _, h, w = f1.shape
        f2p = F.pad(f2, (left, right, top, bottom))
        out = f1.new_empty(f1.shape[0], ndy * ndx, h, w)
        for iy in range(ndy):
            y0 = top + oy0 + iy * step
            for ix in range(ndx):
                x0 = left + ox0 + ix * step
                torch.sum(f1 * f2p[:, :, y0 : y0 + h, x0 : x0 + w], dim=1, out=out[:, iy * ndx + ix])
        out.mul_(scale)
        ctx.save_for_backward(f1, f2)
        ctx.geom, ctx.scale = geom, scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        f1, f2 = ctx.saved_tensors
        oy0, ndy, ox0, ndx, step = ctx.geom
        top, bottom, left, right = _pads(*ctx.geom)
        _, _, h, w = f1.shape
        grad = grad * ctx.scale
        f2p = F.pad(f2, (left, right, top, bottom))
        g1 = torch.zeros_like(f1) if ctx.needs_input_grad[0] else None
        g2p = torch.zeros_like(f2p) if ctx.needs_input_grad[1] else None
        for iy in range(ndy):
            y0 = top + oy0 + iy * step
            for ix in range(ndx):
                x0 = left + ox0 + ix * step
                g = grad[:, iy * ndx + ix : iy * ndx + ix + 1]
                if g1 is not None:
                    g1.addcmul_(g, f2p[:, :, y0 : y0 + h, x0 : x0 + w])
                if g2p is not None:
                    g2p[:, :, y0 : y0 + h, x0 : x0 + w].addcmul_(g, f1)
        g2 = None
        if g2p is not None:
            g2 = g2p[:, :, top : top + h, left : left + w]
        return g1, g2, None, None


def correlate(
    f1: Tensor, f2: Tensor, *, oy0: int, ndy: int, ox0: int, ndx: int, step: int, scale: float
) -> Tensor:
    """``out[b, iy·ndx + ix, y, x] = scale · Σ_c f1[b,c,y,x] · f2[b,c,y+oy0+iy·step, x+ox0+ix·step]``.

    ``f2`` is zero outside the image. Inputs are validated by the caller.
    """
    dtype = f1.dtype
    if dtype in _HALF:
        f1, f2 = f1.float(), f2.float()
    out = _Correlation.apply(f1, f2, (oy0, ndy, ox0, ndx, step), scale)
    return out.to(dtype)
