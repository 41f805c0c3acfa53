r"""Fast path of the cost volumes: band matrix products on strips, hand-written backward.

Every cost volume here is a *correlation with a rectangular set of offsets*
``δ_k = (o_y + i_y s, o_x + i_x s)``, ``k = i_y n_x + i_x``:

.. math::

    \mathrm{out}[b, k, y, x] = \mathrm{scale} \sum_c f_1[b, c, y, x] \,
        f_2[b, c, y + o_y + i_y s, x + o_x + i_x s],
    \quad i_y < n_y,\ i_x < n_x,

with ``f2`` zero outside the image. :func:`~nndl.ops.cost_volume` is ``o_y = o_x = −d·s``,
``n_y = n_x = 2d+1``; :func:`~nndl.ops.cost_volume_1d` is ``o_y = 0, n_y = 1``,
``o_x = −(D−1), n_x = D`` with the channel order reversed.

A loop over displacements (shift, multiply, sum over ``C``) is memory-bound: it streams
``C·H·W`` values per displacement. This implementation spends its time in small matrix
products on data that stays in cache:

1. **Strips and row tiles.** The image is cut into vertical strips ``T`` pixels wide. One row of
   one strip of ``f1`` is a tile ``A_t ∈ R^{T×C}`` — a strided *view* of the input, no copy. The
   ``f2`` pixels it can meet lie in the ``(n_y−1)s+1`` rows from ``y + o_y`` of a window
   ``P = T + (n_x−1)s`` pixels wide. Copied once per strip into a channels-first buffer of pitch
   ``P`` (zero outside the image), they form one matrix ``W_t ∈ R^{C × ((n_y−1)s+1)P}`` with
   uniform strides; consecutive rows' matrices overlap, so all of them are one strided view.
2. **One batched product per strip.** ``O_t = A_t W_t`` holds every displacement of the tile on
   a band, ``out[t, j, i_y, i_x] = O_t[j, i_y s P + j + i_x s]``, read with a strided view. The
   product does ``((n_y−1)s+1)(T+(n_x−1)s) / (n_y n_x)`` times the minimal work (1.8× for
   ``d = 4``, ``T = 8``) at BLAS speed.
3. **Backward by the same products.** With ``G_t`` the output gradient scattered onto the same
   band, ``∂f_1`` tile ``= G_t W_tᵀ ∈ R^{T×C}``. The gradient of ``f2`` is the same computation with the
   roles swapped: ``∂f_2[q] = Σ_k g[q − δ_k, k] f_1[q − δ_k]`` is a correlation of ``f1`` at the
   negated offsets with the shifted gradient ``gᵀ[q, K−1−k] = g[q − δ_k, k]``, and ``gᵀ`` is a
   single strided view of the zero-padded gradient. No overlap-add, no atomics.
4. **Memory.** The extra memory is the output, one zero-padded copy of the output gradient in
   backward, and buffers for one strip (rows are split when a strip exceeds
   ``_CHUNK_ELEMS``) — never ``(2d+1)² · C · H · W``.

float16/bfloat16 inputs are converted strip by strip into float32 buffers (float32
accumulation); outputs and gradients come back in the input dtype. The same code runs on CUDA
(batched cuBLAS products) with wider strips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["correlate"]

_HALF = (torch.float16, torch.bfloat16)
#: most elements of one strip's source buffer (C · rows · P) before its rows are split
_CHUNK_ELEMS = 1 << 18
#: strip width T on CPU and on accelerators
_TILE_CPU = 8
_TILE_DEVICE = 32


@dataclass(frozen=True)
class _Geometry:
    """Offsets ``(o_y + i_y s, o_x + i_x s)`` with ``−(n_y−1)s <= o_y <= 0``, same in x."""

    oy0: int
    ndy: int
    ox0: int
    ndx: int
    step: int

    @property
    def span(self) -> int:
        return (self.ndx - 1) * self.step

    @property
    def gap(self) -> int:
        return (self.ndy - 1) * self.step

    @property
    def k(self) -> int:
        return self.ndy * self.ndx

    def negated(self) -> _Geometry:
        """The offsets ``−δ_k``; offset ``k`` here is offset ``K−1−k`` there."""
        return _Geometry(
            -(self.oy0 + self.gap), self.ndy, -(self.ox0 + self.span), self.ndx, self.step
        )


@dataclass(frozen=True)
class _Chunk:
    """Image ``b``, strip columns ``[x0, x0 + tw)``, rows ``[ya, yb)``."""

    b: int
    x0: int
    tw: int
    ya: int
    yb: int


class _Plan:
    """Strips, chunks and buffer sizes for one input shape, geometry and device."""

    def __init__(self, shape: torch.Size, geom: _Geometry, device: torch.device) -> None:
        b, c, h, w = shape
        self.geom, self.b, self.c, self.h, self.w = geom, b, c, h, w
        t = self.t = _TILE_CPU if device.type == "cpu" else _TILE_DEVICE
        self.p = t + geom.span  # pitch of a source strip
        self.n2 = (geom.gap + 1) * self.p  # columns of one product O_t
        rows = h if device.type != "cpu" else max(1, _CHUNK_ELEMS // (c * self.p) - geom.gap)
        n = math.ceil(h / min(h, rows))
        edges = [round(i * h / n) for i in range(n + 1)]
        self.rows_max = max(edges[j + 1] - edges[j] for j in range(n))
        self.chunks = [
            _Chunk(bi, x0, min(t, w - x0), edges[j], edges[j + 1])
            for bi in range(b)
            for x0 in range(0, w, t)
            for j in range(n)
        ]

    def source(self, sbuf: Tensor, src: Tensor, ch: _Chunk, geom: _Geometry) -> Tensor:
        """Fill ``sbuf`` with the strip of ``src`` that the chunk meets; return it as (C, R, P).

        Local row ``r``, column ``p`` hold ``src[b, :, ya + o_y + r, x0 + o_x + p]`` (zero
        outside the image).
        """
        c, p, hr = self.c, self.p, ch.yb - ch.ya
        n_rows = hr + geom.gap
        s = sbuf[: c * n_rows * p].view(c, n_rows, p)
        y_first, x_first = ch.ya + geom.oy0, ch.x0 + geom.ox0
        lo, hi = max(0, y_first), min(self.h, y_first + n_rows)
        xl, xh = max(0, x_first), min(self.w, x_first + p)
        r0, r1, p0, p1 = lo - y_first, hi - y_first, xl - x_first, xh - x_first
        if r0 > 0:
            s[:, :r0].zero_()
        if r1 < n_rows:
            s[:, r1:].zero_()
        if p0 > 0:
            s[:, r0:r1, :p0].zero_()
        if p1 < p:
            s[:, r0:r1, p1:].zero_()
        if r1 > r0 and p1 > p0:
            s[:, r0:r1, p0:p1].copy_(src[ch.b, :, lo:hi, xl:xh])
        return s

    def windows(self, s: Tensor, n_tiles: int) -> Tensor:
        """``(n_tiles, C, (gap+1)·P)``: the overlapping matrices ``W_t`` of a (C, R, P) strip."""
        c, r, p = s.shape
        return s.as_strided((n_tiles, c, self.n2), (p, r * p, 1), s.storage_offset())

    def band(self, o: Tensor, geom: _Geometry) -> Tensor:
        """``(rows, tw, n_y, n_x)`` view ``O_t[j, i_y s P + j + i_x s]`` of (rows, tw, N2)."""
        rows, tw, n2 = o.shape
        s = geom.step
        return o.as_strided(
            (rows, tw, geom.ndy, geom.ndx), (tw * n2, n2 + 1, s * self.p, s), o.storage_offset()
        )


def _cdtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF else dtype


def _scratch(plan: _Plan, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    g, rows, t = plan.geom, plan.rows_max, plan.t
    kw = {"dtype": dtype, "device": device}
    return {
        "s": torch.empty(plan.c * (rows + g.gap) * plan.p, **kw),
        "o": torch.zeros(rows * t * plan.n2, **kw),
        "a": torch.empty(rows * t * plan.c, **kw),
    }


def _forward(f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool) -> Tensor:
    g, c = plan.geom, plan.c
    cdtype = _cdtype(f1.dtype)
    buf = _scratch(plan, cdtype, f1.device)
    out = torch.empty(
        (plan.b, g.k, plan.h, plan.w),
        dtype=f1.dtype,
        device=f1.device,
        memory_format=torch.channels_last,
    )
    out_img = out.permute(0, 2, 3, 1).unflatten(3, (g.ndy, g.ndx))  # (B, H, W, n_y, n_x) view
    for ch in plan.chunks:
        hr, tw = ch.yb - ch.ya, ch.tw
        s = plan.source(buf["s"], f2, ch, g)
        if scale != 1.0:
            s.mul_(scale)
        a = f1[ch.b, :, ch.ya : ch.yb, ch.x0 : ch.x0 + tw].permute(1, 2, 0)  # (rows, tw, C)
        if a.dtype != cdtype:
            a = buf["a"][: hr * tw * c].view(hr, tw, c).copy_(a)
        o = buf["o"][: hr * tw * plan.n2].view(hr, tw, plan.n2)
        torch.bmm(a, plan.windows(s, hr), out=o)
        band = plan.band(o, g)
        dst = out_img[ch.b, ch.ya : ch.yb, ch.x0 : ch.x0 + tw]
        dst.copy_(band.flip(-1) if flip else band)
    return out


def _shifted_grad(
    lbuf: Tensor, grad_img: Tensor, ch: _Chunk, geom: _Geometry, flip: bool, h: int, w: int
) -> Tensor:
    """``gᵀ`` for one chunk of the f2 grid: a (rows, tw, n_y, n_x) view of a padded copy.

    ``gᵀ[y, x, i_y', i_x'] = g[(y, x) − δ_k, k]`` with ``k = K−1−k'`` — the gradient that pixel
    ``(y, x)`` of ``f2`` receives through offset ``k``, in the order of the negated geometry —
    and zero where ``(y, x) − δ_k`` is outside the image. ``lbuf`` receives the gradient rows
    ``[ya − o_y − gap, yb − o_y)`` and columns ``[x0 − o_x − span, x0 + tw − o_x)`` of image
    ``b`` (zero outside), offset-ordered; ``gᵀ`` is then one strided view of it.
    """
    k, s = geom.k, geom.step
    hr, tw = ch.yb - ch.ya, ch.tw
    rows, cols = hr + geom.gap, tw + geom.span
    local = lbuf[: rows * cols * k].view(rows, cols, k)
    y_first, x_first = ch.ya - geom.oy0 - geom.gap, ch.x0 - geom.ox0 - geom.span
    lo, hi = max(0, y_first), min(h, y_first + rows)
    xl, xh = max(0, x_first), min(w, x_first + cols)
    if hi - lo < rows or xh - xl < cols:
        local.zero_()
    if hi > lo and xh > xl:
        src = grad_img[ch.b, lo:hi, xl:xh]
        local[lo - y_first : hi - y_first, xl - x_first : xh - x_first].copy_(
            src.flip(-1) if flip else src  # user channel j is offset K-1-j
        )
    sy, sx = cols * k, k
    # k = K-1-k' has i_y = n_y-1-i_y', i_x = n_x-1-i_x'; pixel (y, x) - δ_k is local row
    # y + i_y' s and column x + i_x' s, channel K-1 - i_y' n_x - i_x'
    return local.as_strided(
        (hr, tw, geom.ndy, geom.ndx),
        (sy, sx, s * sy - geom.ndx, s * sx - 1),
        local.storage_offset() + k - 1,
    )


def _grad_input(
    grad_img: Tensor,
    src: Tensor,
    plan: _Plan,
    scale: float,
    flip: bool,
    shifted: bool,
    like: Tensor,
) -> Tensor:
    """``∂[b, :, y, x] = scale · Σ_k g[b, y, x, k] · src[b, :, (y, x) + δ_k]`` per chunk.

    ``g`` is the output gradient itself (``shifted=False``, giving ∂f1 with ``src = f2``) or
    its shifted form ``gᵀ`` (``shifted=True``, giving ∂f2 with ``src = f1`` in the negated
    geometry ``plan.geom``).
    """
    geom, c = plan.geom, plan.c
    cdtype = _cdtype(src.dtype)
    buf = _scratch(plan, cdtype, src.device)
    lbuf = (
        torch.empty(
            (plan.rows_max + geom.gap) * (plan.t + geom.span) * geom.k,
            dtype=cdtype,
            device=src.device,
        )
        if shifted
        else None
    )
    user_geom = geom.negated() if shifted else geom
    grad_in = torch.empty_like(like, memory_format=torch.contiguous_format)
    for ch in plan.chunks:
        hr, tw = ch.yb - ch.ya, ch.tw
        if lbuf is not None:
            g = _shifted_grad(lbuf, grad_img, ch, user_geom, flip, plan.h, plan.w)
        else:
            g = grad_img[ch.b, ch.ya : ch.yb, ch.x0 : ch.x0 + tw]
            g = g.flip(-1) if flip else g
            g = g.unflatten(-1, (geom.ndy, geom.ndx))
        gm = buf["o"][: hr * tw * plan.n2].view(hr, tw, plan.n2)
        gm.zero_()
        plan.band(gm, geom).copy_(g)
        s = plan.source(buf["s"], src, ch, geom)
        res = buf["a"][: hr * tw * c].view(hr, tw, c)
        torch.bmm(gm, plan.windows(s, hr).transpose(1, 2), out=res)  # (rows, tw, C)
        if scale != 1.0:
            res.mul_(scale)
        grad_in[ch.b, :, ch.ya : ch.yb, ch.x0 : ch.x0 + tw].copy_(res.permute(2, 0, 1))
    return grad_in


class _Correlation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f1, f2, geom, scale, flip):  # type: ignore[override]
        plan = _Plan(f1.shape, geom, f1.device)
        ctx.save_for_backward(f1, f2)
        ctx.plan, ctx.scale, ctx.flip = plan, scale, flip
        return _forward(f1, f2, plan, scale, flip)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        f1, f2 = ctx.saved_tensors
        plan, scale, flip = ctx.plan, ctx.scale, ctx.flip
        grad_img = grad.permute(0, 2, 3, 1)  # (B, H, W, K) view, any strides
        g1 = g2 = None
        if ctx.needs_input_grad[0]:
            g1 = _grad_input(grad_img, f2, plan, scale, flip, False, f1)
        if ctx.needs_input_grad[1]:
            neg = _Plan(f1.shape, plan.geom.negated(), f1.device)
            g2 = _grad_input(grad_img, f1, neg, scale, flip, True, f2)
        return g1, g2, None, None, None


def correlate(
    f1: Tensor,
    f2: Tensor,
    *,
    oy0: int,
    ndy: int,
    ox0: int,
    ndx: int,
    step: int,
    scale: float,
    flip: bool = False,
) -> Tensor:
    """Correlate ``f1`` with ``f2`` at offsets ``(oy0 + iy·step, ox0 + ix·step)``.

    ``out[b, iy·ndx + ix, y, x] = scale · Σ_c f1[b,c,y,x] · f2[b,c,y+oy0+iy·step, x+ox0+ix·step]``,
    ``f2`` zero outside the image; ``flip`` reverses the channel order (needs ``ndy == 1``).
    Inputs are validated by the caller.

    Returns:
        Tensor[B, ndy·ndx, H, W] in ``torch.channels_last`` memory format.
    """
    geom = _Geometry(oy0, ndy, ox0, ndx, step)
    if (flip and ndy != 1) or not (-geom.gap <= oy0 <= 0 and -geom.span <= ox0 <= 0):
        raise ValueError(f"unsupported offsets {geom} (flip={flip})")  # internal misuse
    return _Correlation.apply(f1, f2, geom, float(scale), flip)
