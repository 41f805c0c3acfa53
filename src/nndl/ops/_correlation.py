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
``C·H·W`` values per displacement, and autograd's backward of it costs 8–9× its forward. This
implementation spends its time in small matrix products on data that stays in cache:

1. **Strips and row tiles.** The image is cut into vertical strips ``T`` pixels wide; one row of
   one strip of ``f1`` is a tile ``A_t ∈ R^{T×C}``. The ``f2`` pixels it can meet lie in the
   ``(n_y−1)s+1`` rows from ``y + o_y`` of a window ``P = T + (n_x−1)s`` pixels wide. The strips
   of ``f2`` are copied channels-first with pitch ``P`` (zero outside the image) and stacked, so
   that each tile's window is one matrix ``W_t ∈ R^{C × ((n_y−1)s+1)P}`` and all of them are a
   single strided, overlapping *view* (the ``(n_y−1)s`` rows after each strip are junk tiles).
2. **One batched product per chunk.** ``O_t = A_t W_t`` holds every displacement of the tile on
   a band, ``out[t, j, i_y, i_x] = O_t[j, i_y s P + j + i_x s]``, read with another strided
   view. The product does ``((n_y−1)s+1)(T+(n_x−1)s) / (n_y n_x)`` times the minimal work (1.8×
   for ``d = 4, T = 8``) at BLAS speed, in one call for many strips.
3. **Backward by the same products.** With ``G_t`` the output gradient scattered onto the same
   band, ``∂f_1`` tile ``= G_t W_tᵀ``. The gradient of ``f2`` is the same computation with the
   roles swapped: ``∂f_2[q] = Σ_k g[q − δ_k, k] f_1[q − δ_k]`` is a correlation of ``f1`` at the
   negated offsets with the shifted gradient ``gᵀ[q, K−1−k] = g[q − δ_k, k]``, which is one
   strided view of a zero-padded, channels-last copy of the gradient. No overlap-add, no atomics.
4. **Chunks.** Strips are processed a few at a time (the rows of a strip are split when one
   strip is large) so that the buffers stay at a fraction of the inputs plus output: the extra
   memory is the output and a few chunk-sized buffers — never ``(2d+1)² · C · H · W``.

float16/bfloat16 inputs are converted chunk by chunk into float32 buffers (float32
accumulation); outputs and gradients come back in the input dtype. The same code runs on CUDA
(batched cuBLAS products) with wider strips and larger chunks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["correlate"]

_HALF = (torch.float16, torch.bfloat16)
#: chunk buffers together stay below this fraction of the inputs + output (CPU)
_MEMORY_FRACTION = 0.3
#: smallest chunk (f1 pixels) on accelerators, where each launch costs more than memory
_CHUNK_PX_DEVICE = 1 << 16
#: narrowest strip T on CPU and on accelerators (wider for wide bands)
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
    """Image ``b``, strips ``[s0, s1)``, f1 rows ``[ya, yb)``."""

    b: int
    s0: int
    s1: int
    ya: int
    yb: int

    @property
    def rows(self) -> int:
        return self.yb - self.ya


class _Plan:
    """Strips, chunks and buffer sizes for one input shape, geometry and device."""

    def __init__(self, shape: torch.Size, geom: _Geometry, device: torch.device) -> None:
        b, c, h, w = shape
        g = self.geom = geom
        self.b, self.c, self.h, self.w = b, c, h, w
        cpu = device.type == "cpu"
        t = _TILE_CPU if cpu else _TILE_DEVICE
        while t < g.span / 2 and t < 64:  # wide bands (stereo): wider strips, less halo
            t *= 2
        self.t = t
        self.p = t + g.span  # pitch of a source strip
        self.n2 = (g.gap + 1) * self.p  # columns of one product O_t
        self.ns = math.ceil(w / t)
        # Chunk size: the buffers of one chunk cost about `per_px` elements per f1 pixel
        # (gradient band and its staging copy, band matrices, source strips, their padded
        # copy, result); keep them
        # below _MEMORY_FRACTION of inputs + output, so that output, input gradients and
        # buffers together stay within 1.5x inputs + output.
        per_px = 2 * g.k + self.n2 + c * (2 + self.p / t)
        total = b * h * w * (2 * c + g.k)
        px = max(t, int(_MEMORY_FRACTION * total / per_px))
        if not cpu:
            px = max(px, _CHUNK_PX_DEVICE)
        if px >= t * h:  # whole strips, several per chunk
            rows, ng = h, max(1, min(self.ns, px // (t * h)))
        else:  # one strip, split into row bands
            rows, ng = max(1, px // t), 1
        n_bands = math.ceil(h / rows)
        edges = [round(i * h / n_bands) for i in range(n_bands + 1)]
        self.r = max(edges[j + 1] - edges[j] for j in range(n_bands)) + g.gap  # rows per strip
        self.ng = ng = math.ceil(self.ns / math.ceil(self.ns / ng))  # balanced groups
        self.chunks = [
            _Chunk(bi, s0, min(self.ns, s0 + ng), edges[j], edges[j + 1])
            for bi in range(b)
            for j in range(n_bands)
            for s0 in range(0, self.ns, ng)
        ]

    def strips(self, x: Tensor, dim: int, ch: _Chunk) -> Iterator[tuple[int, int, Tensor]]:
        """Split ``dim`` of ``x`` (the chunk's image columns) into strips: ``(g0, g1, view)``.

        ``view`` has ``dim`` replaced by ``(g1 − g0, width)``: the full strips in one view, then
        the last, partial strip (width ``< T``) if the chunk has it.
        """
        t, w = self.t, self.w
        full = min(ch.s1, w // t) - ch.s0
        if full > 0:
            yield 0, full, x.narrow(dim, 0, full * t).unflatten(dim, (full, t))
        if ch.s1 * t > w:
            g0 = ch.s1 - 1 - ch.s0
            yield g0, g0 + 1, x.narrow(dim, g0 * t, w - (ch.s1 - 1) * t).unsqueeze(dim)

    def columns(self, ch: _Chunk) -> slice:
        return slice(ch.s0 * self.t, min(self.w, ch.s1 * self.t))

    def source(self, buf: dict[str, Tensor], src: Tensor, ch: _Chunk, geom: _Geometry) -> Tensor:
        """Stacked, channels-first source strips of the chunk: (C, ng·R + gap, P).

        Strip ``g`` holds ``src[b, :, ya + o_y + r, (s0 + g)T + o_x + p]`` at row ``g·R + r``,
        column ``p`` (zero outside the image).
        """
        c, t, p, r = self.c, self.t, self.p, self.r
        ng = ch.s1 - ch.s0
        wf = ng * t + geom.span
        fp = buf["fp"][: c * r * wf].view(c, r, wf)
        y_first, x_first = ch.ya + geom.oy0, ch.s0 * t + geom.ox0
        lo, hi = max(0, y_first), min(self.h, y_first + r)
        xl, xh = max(0, x_first), min(self.w, x_first + wf)
        if hi - lo < r or xh - xl < wf:
            fp.zero_()
        if hi > lo and xh > xl:
            fp[:, lo - y_first : hi - y_first, xl - x_first : xh - x_first].copy_(
                src[ch.b, :, lo:hi, xl:xh]
            )
        s = buf["s"][: c * (ng * r + geom.gap) * p].view(c, ng * r + geom.gap, p)
        windows = fp.as_strided((c, ng, r, p), (r * wf, t, wf, 1), fp.storage_offset())
        s[:, : ng * r].view(c, ng, r, p).copy_(windows)
        return s

    def windows(self, s: Tensor) -> Tensor:
        """``(n, C, (gap+1)·P)``: the overlapping matrices ``W_t`` of stacked strips (a view)."""
        c, rows, p = s.shape
        n = rows - self.geom.gap
        return s.as_strided((n, c, self.n2), (p, rows * p, 1), s.storage_offset())

    def band(self, o: Tensor, ng: int) -> Tensor:
        """``(ng, R, T, n_y, n_x)`` view ``O_t[j, i_y s P + j + i_x s]`` of (ng·R, T, N2)."""
        t, n2, p, r, g = self.t, self.n2, self.p, self.r, self.geom
        return o.as_strided(
            (ng, r, t, g.ndy, g.ndx),
            (r * t * n2, t * n2, n2 + 1, g.step * p, g.step),
            o.storage_offset(),
        )


def _cdtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF else dtype


def _scratch(plan: _Plan, dtype: torch.dtype, device: torch.device, grad: bool) -> dict:
    g, c, t, r, ng = plan.geom, plan.c, plan.t, plan.r, plan.ng
    kw = {"dtype": dtype, "device": device}
    buf = {
        "s": torch.empty(c * (ng * r + g.gap) * plan.p, **kw),
        "fp": torch.empty(c * r * (ng * t + g.span), **kw),
        "o": torch.zeros(ng * r * t * plan.n2, **kw),
        "a": torch.empty(ng * r * t * c, **kw),
    }
    if grad:  # the padded gradient band, and room to stage it when it comes channels-first
        buf["l"] = torch.zeros((r + g.gap) * (ng * t + g.span) * g.k, **kw)
        buf["l2"] = torch.empty_like(buf["l"])
    return buf


def _forward(f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool) -> Tensor:
    g, c, t, r = plan.geom, plan.c, plan.t, plan.r
    buf = _scratch(plan, _cdtype(f1.dtype), f1.device, grad=False)
    out = torch.empty(
        (plan.b, g.k, plan.h, plan.w),
        dtype=f1.dtype,
        device=f1.device,
        memory_format=torch.channels_last,
    )
    out_img = out.permute(0, 2, 3, 1).unflatten(3, (g.ndy, g.ndx))  # (B, H, W, n_y, n_x) view
    for ch in plan.chunks:
        ng, hr, cols = ch.s1 - ch.s0, ch.rows, plan.columns(ch)
        a = buf["a"][: ng * r * c * t].view(ng, r, c, t)  # A_t stored transposed: (C, T)
        for g0, g1, v in plan.strips(f1[ch.b, :, ch.ya : ch.yb, cols], 2, ch):
            a[g0:g1, :hr, :, : v.shape[-1]].copy_(v.permute(2, 1, 0, 3))
        if scale != 1.0:
            a.mul_(scale)
        s = plan.source(buf, f2, ch, g)
        o = buf["o"][: ng * r * t * plan.n2].view(ng * r, t, plan.n2)
        torch.bmm(a.view(ng * r, c, t).transpose(1, 2), plan.windows(s), out=o)
        band = plan.band(o, ng)
        for g0, g1, v in plan.strips(out_img[ch.b, ch.ya : ch.yb, cols], 1, ch):
            src = band[g0:g1, :hr, : v.shape[2]].transpose(0, 1)
            v.copy_(src.flip(-1) if flip else src)
    return out


class _GradBand:
    """A zero-padded, channels-last, offset-ordered copy of the gradient for one chunk.

    For the chunk's f1 rows ``[ya, yb)`` and columns ``[s0·T, s1·T)`` it holds gradient rows
    ``[ya − o_y − gap, yb − o_y)`` and columns ``[s0·T − o_x − span, s1·T − o_x)`` (zero
    outside the image), which covers what both input gradients need:

    - ``direct()``: ``g[y, x, i_y, i_x]`` at the chunk's own pixels (for ∂f1);
    - ``shifted()``: ``gᵀ[y, x, i_y', i_x'] = g[(y, x) − δ_k, k]`` with ``k = K−1−k'`` — the
      gradient that pixel ``(y, x)`` of ``f2`` receives through offset ``k``, in the order of the
      negated geometry, zero where ``(y, x) − δ_k`` is outside the image (for ∂f2).

    Both are ``(ng, rows, T, n_y, n_x)`` strided views.
    """

    def __init__(
        self, plan: _Plan, buf: dict[str, Tensor], grad_img: Tensor, ch: _Chunk, flip: bool
    ) -> None:
        g, t, k = plan.geom, plan.t, plan.geom.k
        self.geom, self.t, self.ch = g, t, ch
        rows, self.cols = ch.rows + g.gap, (ch.s1 - ch.s0) * t + g.span
        n = rows * self.cols * k
        self.local = local = buf["l"][:n].view(rows, self.cols, k)
        y_first = ch.ya - g.oy0 - g.gap
        x_first = ch.s0 * t - g.ox0 - g.span
        lo, hi = max(0, y_first), min(plan.h, y_first + rows)
        xl, xh = max(0, x_first), min(plan.w, x_first + self.cols)
        src = grad_img[ch.b, lo:hi, xl:xh]  # (rows', cols', K), any strides
        inner = (slice(lo - y_first, hi - y_first), slice(xl - x_first, xh - x_first))
        clipped = hi - lo < rows or xh - xl < self.cols
        if src.stride(-1) == 1 and not flip:  # channels-last gradient: copy it straight in
            if clipped:
                local.zero_()
            if src.numel():
                local[inner].copy_(src)
            return
        # channels-first (or flipped) gradient: stage the band channels-first with contiguous
        # rows, then transpose the whole of it at once (PyTorch's blocked 2-D transpose); a
        # direct channels-first -> channels-last copy strides through memory
        staged = buf["l2"][:n].view(k, rows, self.cols)
        if clipped:
            staged.zero_()
        if src.numel():
            src = src.permute(2, 0, 1)
            staged[:, inner[0], inner[1]].copy_(src.flip(0) if flip else src)  # j -> K-1-j
        local.view(rows * self.cols, k).copy_(staged.view(k, rows * self.cols).t())

    def _view(self, strides_y: int, strides_x: int, offset: int) -> Tensor:
        g, ch, t = self.geom, self.ch, self.t
        sy, sx = self.cols * g.k, g.k
        return self.local.as_strided(
            (ch.s1 - ch.s0, ch.rows, t, g.ndy, g.ndx),
            (t * sx, sy, sx, strides_y, strides_x),
            self.local.storage_offset() + offset,
        )

    def direct(self) -> Tensor:
        g, sy, sx = self.geom, self.cols * self.geom.k, self.geom.k
        return self._view(g.ndx, 1, (g.oy0 + g.gap) * sy + (g.ox0 + g.span) * sx)

    def shifted(self) -> Tensor:
        # k = K-1-k' has i_y = n_y-1-i_y', i_x = n_x-1-i_x'; pixel (y, x) - δ_k is local row
        # (y - ya) + i_y' s, column (x - s0 T) + i_x' s, channel K-1 - i_y' n_x - i_x'
        g, sy, sx = self.geom, self.cols * self.geom.k, self.geom.k
        return self._view(g.step * sy - g.ndx, g.step * sx - 1, g.k - 1)


def _backward(
    grad: Tensor, f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool, need: list[bool]
) -> tuple[Tensor | None, Tensor | None]:
    """Both input gradients, chunk by chunk, from one padded gradient band per chunk.

    ``∂f1[b, :, p] = Σ_k g[p, k] f2[p + δ_k]`` (band products with the f2 strips, as in
    forward) and ``∂f2[b, :, q] = Σ_k' gᵀ[q, k'] f1[q + δ'_k']``: the same computation in the
    negated geometry ``δ'`` with the shifted gradient and f1 strips.
    """
    c, t, r = plan.c, plan.t, plan.r
    neg = _Plan(f1.shape, plan.geom.negated(), f1.device)  # same strips and chunks
    buf = _scratch(plan, _cdtype(f1.dtype), f1.device, grad=True)
    grad_img = grad.permute(0, 2, 3, 1)  # (B, H, W, K) view, any strides
    jobs = []
    if need[0]:
        jobs.append((torch.empty_like(f1, memory_format=torch.contiguous_format), f2, plan, False))
    if need[1]:
        jobs.append((torch.empty_like(f2, memory_format=torch.contiguous_format), f1, neg, True))
    for ch in plan.chunks:
        ng, hr, cols = ch.s1 - ch.s0, ch.rows, plan.columns(ch)
        band = _GradBand(plan, buf, grad_img, ch, flip)
        # G_t: the band is at the same place in every chunk and the buffer starts zeroed, so
        # it stays zero off the band (junk tiles may hold stale values; their rows are dropped)
        gm = buf["o"][: ng * r * t * plan.n2].view(ng * r, t, plan.n2)
        res = buf["a"][: ng * r * t * c].view(ng * r, t, c)
        for grad_in, src, pl, shifted in jobs:
            pl.band(gm, ng)[:, :hr].copy_(band.shifted() if shifted else band.direct())
            s = pl.source(buf, src, ch, pl.geom)
            torch.bmm(gm, pl.windows(s).transpose(1, 2), out=res)  # (ng·R, T, C)
            if scale != 1.0:
                res.mul_(scale)
            tiles = res.view(ng, r, t, c)
            for g0, g1, v in plan.strips(grad_in[ch.b, :, ch.ya : ch.yb, cols], 2, ch):
                v.copy_(tiles[g0:g1, :hr, : v.shape[-1]].permute(3, 1, 0, 2))
    grads = [job[0] for job in jobs]
    return (grads.pop(0) if need[0] else None), (grads.pop(0) if need[1] else None)


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
