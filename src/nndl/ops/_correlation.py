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
        cpu = device.type == "cpu"
        t = _TILE_CPU if cpu else _TILE_DEVICE
        while t < geom.span / 2 and t < 64:  # wide bands (stereo): wider strips, less halo
            t *= 2
        self.t = t
        self.p = t + geom.span  # pitch of a source strip
        self.n2 = (geom.gap + 1) * self.p  # columns of one product O_t
        # rows per chunk: the source strip (C · rows · P) and the padded gradient band of the
        # backward ((rows + gap) · (W + span) · K) stay within a few chunk sizes
        band_cap = max(_CHUNK_ELEMS, b * h * w * geom.k // 4) // ((w + geom.span) * geom.k)
        rows = min(_CHUNK_ELEMS // (c * self.p), band_cap) - geom.gap
        rows = h if not cpu else max(1, rows)
        n = math.ceil(h / min(h, rows))
        edges = [round(i * h / n) for i in range(n + 1)]
        self.rows_max = max(edges[j + 1] - edges[j] for j in range(n))
        self.chunks = [
            _Chunk(bi, x0, min(t, w - x0), edges[j], edges[j + 1])
            for bi in range(b)
            for j in range(n)
            for x0 in range(0, w, t)
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


class _GradBand:
    """One zero-padded, channels-last, scaled, offset-ordered copy of a band of the gradient.

    For f1 rows ``[ya, yb)`` of image ``b`` it holds gradient rows
    ``[ya − o_y − gap, yb − o_y)`` and columns ``[−o_x − span, W − o_x)`` (zero outside the
    image), which covers what both input gradients need:

    - ``direct(ch)``: ``g[y, x, i_y, i_x]``, the gradient at the chunk's own pixels (for ∂f1);
    - ``shifted(ch)``: ``gᵀ[y, x, i_y', i_x'] = g[(y, x) − δ_k, k]`` with ``k = K−1−k'`` — the
      gradient that pixel ``(y, x)`` of ``f2`` receives through offset ``k``, in the order of the
      negated geometry, zero where ``(y, x) − δ_k`` is outside the image (for ∂f2). Both are
      strided views.
    """

    def __init__(self, plan: _Plan, dtype: torch.dtype, device: torch.device) -> None:
        g = plan.geom
        self.geom, self.h, self.w = g, plan.h, plan.w
        self.cols = plan.w + g.span
        self.buf = torch.zeros(
            (plan.rows_max + g.gap) * self.cols * g.k, dtype=dtype, device=device
        )
        self.key: tuple[int, int, int] | None = None
        self.local = self.buf[:0]

    def fill(self, grad_img: Tensor, ch: _Chunk, scale: float, flip: bool) -> None:
        if self.key == (ch.b, ch.ya, ch.yb):
            return
        g, k = self.geom, self.geom.k
        rows = ch.yb - ch.ya + g.gap
        self.local = local = self.buf[: rows * self.cols * k].view(rows, self.cols, k)
        y_first, x_first = ch.ya - g.oy0 - g.gap, -g.ox0 - g.span
        lo, hi = max(0, y_first), min(self.h, y_first + rows)
        if lo - y_first > 0 or hi - y_first < rows:
            local.zero_()  # rows outside the image; the side columns are never written
        if hi > lo:
            src = grad_img[ch.b, lo:hi]
            dst = local[lo - y_first : hi - y_first, -x_first : -x_first + self.w]
            dst.copy_(src.flip(-1) if flip else src)  # user channel j is offset K-1-j
            if scale != 1.0:
                dst.mul_(scale)
        self.key = (ch.b, ch.ya, ch.yb)

    def direct(self, ch: _Chunk) -> Tensor:
        g = self.geom
        r0, c0 = g.oy0 + g.gap, ch.x0 + g.ox0 + g.span
        view = self.local[r0 : r0 + ch.yb - ch.ya, c0 : c0 + ch.tw]
        return view.unflatten(-1, (g.ndy, g.ndx))

    def shifted(self, ch: _Chunk) -> Tensor:
        g, k, s = self.geom, self.geom.k, self.geom.step
        sy, sx = self.cols * k, k
        # k = K-1-k' has i_y = n_y-1-i_y', i_x = n_x-1-i_x'; pixel (y, x) - δ_k is local row
        # (y - ya) + i_y' s, column x + i_x' s, channel K-1 - i_y' n_x - i_x'
        return self.local.as_strided(
            (ch.yb - ch.ya, ch.tw, g.ndy, g.ndx),
            (sy, sx, s * sy - g.ndx, s * sx - 1),
            self.local.storage_offset() + ch.x0 * sx + k - 1,
        )


def _backward(
    grad: Tensor, f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool, need: list[bool]
) -> tuple[Tensor | None, Tensor | None]:
    """Both input gradients, chunk by chunk, from one padded gradient band at a time.

    ``∂f1[b, :, p] = Σ_k g[p, k] f2[p + δ_k]`` (band products with the f2 strips, as in
    forward) and ``∂f2[b, :, q] = Σ_k' gᵀ[q, k'] f1[q + δ'_k']``: the same computation in the
    negated geometry ``δ'`` with the shifted gradient and f1 strips.
    """
    geom, c = plan.geom, plan.c
    cdtype, dev = _cdtype(f1.dtype), f1.device
    neg_geom = geom.negated()
    neg = _Plan(f1.shape, neg_geom, dev)  # same chunks: the chunking depends on gap and span
    band = _GradBand(plan, cdtype, dev)
    buf = _scratch(plan, cdtype, dev)
    grad_img = grad.permute(0, 2, 3, 1)  # (B, H, W, K) view, any strides
    jobs = []
    if need[0]:
        jobs.append((torch.empty_like(f1, memory_format=torch.contiguous_format), f2, plan, False))
    if need[1]:
        jobs.append((torch.empty_like(f2, memory_format=torch.contiguous_format), f1, neg, True))
    for ch in plan.chunks:
        band.fill(grad_img, ch, scale, flip)
        hr, tw = ch.yb - ch.ya, ch.tw
        for grad_in, src, pl, shifted in jobs:
            gm = buf["o"][: hr * tw * pl.n2].view(hr, tw, pl.n2)
            gm.zero_()
            pl.band(gm, pl.geom).copy_(band.shifted(ch) if shifted else band.direct(ch))
            s = pl.source(buf["s"], src, ch, pl.geom)
            res = buf["a"][: hr * tw * c].view(hr, tw, c)
            torch.bmm(gm, pl.windows(s, hr).transpose(1, 2), out=res)  # (rows, tw, C)
            grad_in[ch.b, :, ch.ya : ch.yb, ch.x0 : ch.x0 + tw].copy_(res.permute(2, 0, 1))
    out = [job[0] for job in jobs]
    return (out.pop(0) if need[0] else None), (out.pop(0) if need[1] else None)


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
        need = list(ctx.needs_input_grad[:2])
        g1, g2 = _backward(grad, f1, f2, ctx.plan, ctx.scale, ctx.flip, need)
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
