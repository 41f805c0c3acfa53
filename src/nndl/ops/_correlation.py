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

1. **Strips and row tiles.** The image is cut into vertical strips ``T`` pixels wide (8 on CPU);
   one row of one strip of ``f1`` is a tile ``A_t ∈ R^{T×C}``. The ``f2`` pixels it can meet lie
   in the ``(n_y−1)s+1`` rows from ``y + o_y`` of a window ``P = T + (n_x−1)s`` pixels wide.
   The strips of ``f2`` are copied channels-first with pitch ``P`` (zero outside the image) and
   stacked, so that each tile's window is one matrix ``W_t ∈ R^{C × ((n_y−1)s+1)P}`` and all of
   them are a single strided, overlapping *view* (the ``(n_y−1)s`` rows after each strip are
   junk tiles whose results are dropped).
2. **One batched product per chunk.** ``O_t = A_t W_t`` holds every displacement of the tile on
   a band, ``out[t, j, i_y, i_x] = O_t[j, i_y s P + j + i_x s]``, read with another strided
   view. The product does ``((n_y−1)s+1)(T+(n_x−1)s) / (n_y n_x)`` times the minimal work (1.8×
   for ``d = 4, T = 8``) at BLAS speed, in one call for many strips. Every view is built with
   one ``as_strided`` call, so the Python cost per chunk is a few dozen tensor operations.
3. **Backward by the same products.** With ``G_t`` the output gradient scattered onto the same
   band, ``∂f_1`` tile ``= G_t W_tᵀ``. The gradient of ``f2`` is the same computation with the
   roles swapped: ``∂f_2[q] = Σ_k g[q − δ_k, k] f_1[q − δ_k]`` is a correlation of ``f1`` at the
   negated offsets with the shifted gradient ``gᵀ[q, K−1−k] = g[q − δ_k, k]``, which is one
   strided view of a zero-padded, channels-last copy of the chunk's gradient. No overlap-add,
   no atomics; the backward costs 2–3× the forward (autograd's backward of the loop:
   8–9×).
4. **Chunks.** Strips are processed a few at a time (the rows of a strip are split when one
   strip is large), sized so that the chunk buffers stay below 0.6 (forward) / 0.3 (backward)
   of the inputs plus output: output, input gradients and buffers together stay within 1.5×
   inputs + output, and no ``(2d+1)² · C · H · W`` tensor is ever formed.

float16/bfloat16 inputs are converted chunk by chunk into float32 buffers (float32
accumulation); outputs and gradients come back in the input dtype. The same code runs on CUDA
(batched cuBLAS products) with wider strips and larger chunks; there is no fused GPU kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["correlate"]

_HALF = (torch.float16, torch.bfloat16)
#: chunk buffers stay below these fractions of inputs + output (CPU): forward, backward
_MEMORY_FRACTION = 0.6
_MEMORY_FRACTION_BACKWARD = 0.3
#: smallest chunk (f1 pixels) on accelerators, where each launch costs more than memory
_CHUNK_PX_DEVICE = 1 << 16
#: narrowest strip T on CPU and on accelerators (wider for wide bands)
_TILE_CPU = 8
_TILE_DEVICE = 32


def _at(x: Tensor, shape: tuple[int, ...], strides: tuple[int, ...], offset: int) -> Tensor:
    """``x.as_strided`` relative to ``x``'s own storage offset (one view op, no index chain)."""
    return x.as_strided(shape, strides, x.storage_offset() + offset)


def _zero_outside(
    x: Tensor, shape: tuple[int, int, int], strides: tuple[int, int, int], inner: tuple[int, ...]
) -> None:
    """Zero a (D, rows, cols) view of ``x`` outside rows ``[r0, r1)`` × columns ``[c0, c1)``.

    Only the border is written (up to four strided views), not the whole buffer.
    """
    d, rows, cols = shape
    r0, r1, c0, c1 = inner
    _, sr, sc = strides
    for start, stop in ((0, r0), (r1, rows)):  # whole rows above and below
        if stop > start:
            _at(x, (d, stop - start, cols), strides, start * sr).zero_()
    for start, stop in ((0, c0), (c1, cols)):  # left and right of the inner rows
        if stop > start and r1 > r0:
            _at(x, (d, r1 - r0, stop - start), strides, r0 * sr + start * sc).zero_()


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
    """Image ``b``, strips ``[s0, s1)`` (``ng`` of them), f1 rows ``[ya, yb)``.

    ``pieces`` lists ``(g0, n, width)``: the full strips of the chunk as one piece, then the
    last, partial strip of the image (``width < T``) if the chunk has it.
    """

    b: int
    s0: int
    s1: int
    ya: int
    yb: int
    pieces: tuple[tuple[int, int, int], ...]

    @property
    def ng(self) -> int:
        return self.s1 - self.s0

    @property
    def rows(self) -> int:
        return self.yb - self.ya


class _Plan:
    """Strips, chunks and buffer sizes for one input shape, geometry, device and pass."""

    def __init__(
        self, shape: torch.Size, geom: _Geometry, device: torch.device, backward: bool
    ) -> None:
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
        self.ns = ns = math.ceil(w / t)
        # Chunk size: a chunk's buffers cost about `per_px` elements per f1 pixel (band
        # matrices, source strips, their padded copy, A or the result; in backward also the
        # gradient band and its staging copy). They stay below a fraction of inputs + output,
        # so that output (+ input gradients) + buffers stay within 1.5x inputs + output.
        per_px = self.n2 + c * (2 + self.p / t) + (2 * g.k if backward else 0)
        frac = _MEMORY_FRACTION_BACKWARD if backward else _MEMORY_FRACTION
        px = max(t, int(frac * b * h * w * (2 * c + g.k) / per_px))
        if not cpu:
            px = max(px, _CHUNK_PX_DEVICE)
        if px >= t * h:  # whole strips, several per chunk
            rows, ng = h, max(1, min(ns, px // (t * h)))
        else:  # one strip, split into row bands
            rows, ng = max(1, px // t), 1
        n_bands = math.ceil(h / rows)
        edges = [round(i * h / n_bands) for i in range(n_bands + 1)]
        self.r = max(edges[j + 1] - edges[j] for j in range(n_bands)) + g.gap  # rows per strip
        self.ng = ng = math.ceil(ns / math.ceil(ns / ng))  # balanced groups
        full = w // t
        self.chunks = []
        for bi in range(b):
            for j in range(n_bands):
                for s0 in range(0, ns, ng):
                    s1 = min(ns, s0 + ng)
                    pieces = []
                    if min(s1, full) > s0:
                        pieces.append((0, min(s1, full) - s0, t))
                    if s1 * t > w:
                        pieces.append((s1 - 1 - s0, 1, w - (s1 - 1) * t))
                    self.chunks.append(_Chunk(bi, s0, s1, edges[j], edges[j + 1], tuple(pieces)))

    def scratch(self, dtype: torch.dtype, device: torch.device, backward: bool) -> dict:
        g, c, t, r, ng = self.geom, self.c, self.t, self.r, self.ng

        def empty(n: int) -> Tensor:
            return torch.empty(n, dtype=dtype, device=device)

        buf = {
            "s": empty(c * (ng * r + g.gap) * self.p),
            "fp": empty(c * r * (ng * t + g.span)),
            "o": torch.zeros(ng * r * t * self.n2, dtype=dtype, device=device),
            "a": empty(ng * r * t * c),
        }
        if backward:  # the padded gradient band and room to stage it
            size = (r + g.gap) * (ng * t + g.span) * g.k
            buf["l"], buf["l2"] = empty(size), empty(size)
        return buf

    def source(self, buf: dict, src: Tensor, ch: _Chunk, geom: _Geometry) -> Tensor:
        """Fill the stacked channels-first source strips; return the windows ``W_t``.

        Strip ``g`` holds ``src[b, :, ya + o_y + ρ, (s0 + g)T + o_x + p]`` at row ``g·R + ρ``,
        column ``p`` of a (C, ng·R + gap, P) buffer (zero outside the image); the window of tile
        ``n = g·R + ρ`` is rows ``n … n + gap``, one (C, (gap+1)·P) matrix. Returns the
        ``(ng·R, C, (gap+1)·P)`` view of all windows.
        """
        c, t, p, r, ng = self.c, self.t, self.p, self.r, ch.ng
        wf = ng * t + geom.span
        fp = buf["fp"]
        y_first, x_first = ch.ya + geom.oy0, ch.s0 * t + geom.ox0
        lo, hi = max(0, y_first), min(self.h, y_first + r)
        xl, xh = max(0, x_first), min(self.w, x_first + wf)
        inner = (lo - y_first, hi - y_first, xl - x_first, xh - x_first)
        _zero_outside(fp, (c, r, wf), (r * wf, wf, 1), inner)
        if hi > lo and xh > xl:
            sb, sc, sy, sx = src.stride()
            _at(
                fp, (c, hi - lo, xh - xl), (r * wf, wf, 1), (lo - y_first) * wf + xl - x_first
            ).copy_(_at(src, (c, hi - lo, xh - xl), (sc, sy, sx), ch.b * sb + lo * sy + xl * sx))
        rows = ng * r + geom.gap
        _at(buf["s"], (c, ng, r, p), (rows * p, r * p, p, 1), 0).copy_(
            _at(fp, (c, ng, r, p), (r * wf, t, wf, 1), 0)
        )
        return _at(buf["s"], (ng * r, c, self.n2), (p, rows * p, 1), 0)

    def band(self, o: Tensor, ch: _Chunk, g0: int, n: int, width: int, geom: _Geometry) -> Tensor:
        """``(n, rows, width, n_y, n_x)`` view ``O_t[j, i_y s P + j + i_x s]`` of strips g0…"""
        t, n2, r, s = self.t, self.n2, self.r, geom.step
        return _at(
            o,
            (n, ch.rows, width, geom.ndy, geom.ndx),
            (r * t * n2, t * n2, n2 + 1, s * self.p, s),
            g0 * r * t * n2,
        )


def _cdtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF else dtype


def _forward(f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool) -> Tensor:
    g, c, t, r, n2, w = plan.geom, plan.c, plan.t, plan.r, plan.n2, plan.w
    buf = plan.scratch(_cdtype(f1.dtype), f1.device, backward=False)
    k, hw = g.k, plan.h * w
    out = torch.empty(
        (plan.b, k, plan.h, w), dtype=f1.dtype, device=f1.device, memory_format=torch.channels_last
    )
    xb, xc, xy, xx = f1.stride()
    a, o = buf["a"], buf["o"]
    for ch in plan.chunks:
        ng, hr, x0 = ch.ng, ch.rows, ch.s0 * t
        for g0, n, width in ch.pieces:  # A_t, stored transposed: (g, ρ, C, T)
            _at(a, (n, hr, c, width), (r * c * t, c * t, t, 1), g0 * r * c * t).copy_(
                _at(
                    f1,
                    (n, hr, c, width),
                    (t * xx, xy, xc, xx),
                    ch.b * xb + ch.ya * xy + (x0 + g0 * t) * xx,
                )
            )
        if scale != 1.0:
            a.narrow(0, 0, ng * r * c * t).mul_(scale)
        windows = plan.source(buf, f2, ch, g)
        torch.bmm(
            _at(a, (ng * r, t, c), (c * t, 1, t), 0),
            windows,
            out=_at(o, (ng * r, t, n2), (t * n2, n2, 1), 0),
        )
        for g0, n, width in ch.pieces:  # out is channels-last: (B, H, W, K) in memory
            src = plan.band(o, ch, g0, n, width, g)
            _at(
                out,
                (n, hr, width, g.ndy, g.ndx),
                (t * k, w * k, k, g.ndx, 1),
                ch.b * hw * k + ch.ya * w * k + (x0 + g0 * t) * k,
            ).copy_(src.flip(-1) if flip else src)
    return out


def _grad_band(buf: dict, grad: Tensor, plan: _Plan, ch: _Chunk, flip: bool) -> Tensor:
    """A zero-padded, channels-last, offset-ordered copy of the gradient for one chunk.

    It holds gradient rows ``[ya − o_y − gap, yb − o_y)`` and columns
    ``[s0·T − o_x − span, s1·T − o_x)`` (zero outside the image) as (rows, cols, K): what both
    input gradients need (:func:`_direct` and :func:`_shifted` view it).
    """
    g, t, k = plan.geom, plan.t, plan.geom.k
    rows, cols = ch.rows + g.gap, ch.ng * t + g.span
    local = buf["l"]
    y_first, x_first = ch.ya - g.oy0 - g.gap, ch.s0 * t - g.ox0 - g.span
    lo, hi = max(0, y_first), min(plan.h, y_first + rows)
    xl, xh = max(0, x_first), min(plan.w, x_first + cols)
    box = (lo - y_first, hi - y_first, xl - x_first, xh - x_first)
    gb, gk, gy, gx = grad.stride()
    src = _at(grad, (hi - lo, xh - xl, k), (gy, gx, gk), ch.b * gb + lo * gy + xl * gx)
    inner = (lo - y_first) * cols + xl - x_first
    if gk == 1 and not flip:  # channels-last gradient: copy it straight in
        _zero_outside(local, (k, rows, cols), (1, cols * k, k), box)
        if src.numel():
            _at(local, (hi - lo, xh - xl, k), (cols * k, k, 1), inner * k).copy_(src)
        return local
    # channels-first (or reversed) gradient: stage it channels-first with contiguous rows,
    # then transpose the whole band at once (PyTorch's blocked 2-D transpose); a direct
    # channels-first -> channels-last copy strides through memory
    staged, n = buf["l2"], rows * cols
    _zero_outside(staged, (k, rows, cols), (n, cols, 1), box)
    if src.numel():
        src = src.permute(2, 0, 1)
        _at(staged, (k, hi - lo, xh - xl), (n, cols, 1), inner).copy_(
            src.flip(0) if flip else src  # user channel j is offset K-1-j
        )
    _at(local, (n, k), (k, 1), 0).copy_(_at(staged, (n, k), (1, n), 0))
    return local


def _direct(local: Tensor, plan: _Plan, ch: _Chunk) -> Tensor:
    """``g[y, x, i_y, i_x]`` at the chunk's own pixels: (ng, rows, T, n_y, n_x), for ∂f1."""
    g, t, k = plan.geom, plan.t, plan.geom.k
    cols = ch.ng * t + g.span
    return _at(
        local,
        (ch.ng, ch.rows, t, g.ndy, g.ndx),
        (t * k, cols * k, k, g.ndx, 1),
        ((g.oy0 + g.gap) * cols + g.ox0 + g.span) * k,
    )


def _shifted(local: Tensor, plan: _Plan, ch: _Chunk) -> Tensor:
    """``gᵀ[y, x, i_y', i_x'] = g[(y, x) − δ_k, k]``, ``k = K−1−k'``: for ∂f2.

    The gradient that pixel ``(y, x)`` of ``f2`` receives through offset ``k``, in the order of
    the negated geometry, zero where ``(y, x) − δ_k`` is outside the image. Offset ``k`` has
    ``i_y = n_y−1−i_y'``, ``i_x = n_x−1−i_x'``, so ``(y, x) − δ_k`` is local row
    ``(y − ya) + i_y' s``, column ``(x − s0 T) + i_x' s``, channel ``K−1 − i_y' n_x − i_x'``.
    """
    g, t, k, s = plan.geom, plan.t, plan.geom.k, plan.geom.step
    cols = ch.ng * t + g.span
    return _at(
        local,
        (ch.ng, ch.rows, t, g.ndy, g.ndx),
        (t * k, cols * k, k, s * cols * k - g.ndx, s * k - 1),
        k - 1,
    )


def _backward(
    grad: Tensor, f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool, need: list[bool]
) -> tuple[Tensor | None, Tensor | None]:
    """Both input gradients, chunk by chunk, from one padded gradient band per chunk.

    ``∂f1[b, :, p] = Σ_k g[p, k] f2[p + δ_k]`` (band products with the f2 strips, as in
    forward) and ``∂f2[b, :, q] = Σ_k' gᵀ[q, k'] f1[q + δ'_k']``: the same computation in the
    negated geometry ``δ'`` with the shifted gradient and f1 strips.
    """
    geom, c, t, r, n2 = plan.geom, plan.c, plan.t, plan.r, plan.n2
    buf = plan.scratch(_cdtype(f1.dtype), f1.device, backward=True)
    jobs = []
    if need[0]:
        jobs.append((torch.empty_like(f1, memory_format=torch.contiguous_format), f2, geom, False))
    if need[1]:
        neg = geom.negated()
        jobs.append((torch.empty_like(f2, memory_format=torch.contiguous_format), f1, neg, True))
    o, a = buf["o"], buf["a"]
    for ch in plan.chunks:
        ng, hr, x0 = ch.ng, ch.rows, ch.s0 * t
        local = _grad_band(buf, grad, plan, ch, flip)
        # G_t: the band sits at the same place in every chunk and the buffer starts zeroed, so
        # it stays zero off the band (junk tiles may hold stale values; their rows are dropped)
        gm = _at(o, (ng * r, t, n2), (t * n2, n2, 1), 0)
        res = _at(a, (ng * r, t, c), (t * c, c, 1), 0)
        for grad_in, src, gg, shifted in jobs:
            plan.band(o, ch, 0, ng, t, gg).copy_(
                _shifted(local, plan, ch) if shifted else _direct(local, plan, ch)
            )
            windows = plan.source(buf, src, ch, gg)
            torch.bmm(gm, windows.transpose(1, 2), out=res)  # (ng·R, T, C)
            gb, gc, gy, gx = grad_in.stride()
            for g0, n, width in ch.pieces:
                _at(
                    grad_in,
                    (n, hr, width, c),
                    (t * gx, gy, gx, gc),
                    ch.b * gb + ch.ya * gy + (x0 + g0 * t) * gx,
                ).copy_(_at(a, (n, hr, width, c), (r * t * c, t * c, c, 1), g0 * r * t * c))
    grads = [job[0] for job in jobs]
    if scale != 1.0:
        for g in grads:
            g.mul_(scale)
    return (grads.pop(0) if need[0] else None), (grads.pop(0) if need[1] else None)


class _Correlation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f1, f2, geom, scale, flip):
        ctx.save_for_backward(f1, f2)
        ctx.geom, ctx.scale, ctx.flip = geom, scale, flip
        return _forward(f1, f2, _Plan(f1.shape, geom, f1.device, False), scale, flip)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        f1, f2 = ctx.saved_tensors
        plan = _Plan(f1.shape, ctx.geom, f1.device, True)
        need = list(ctx.needs_input_grad[:2])
        g1, g2 = _backward(grad, f1, f2, plan, ctx.scale, ctx.flip, need)
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
