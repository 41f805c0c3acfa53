r"""Fast path of the cost volumes: band matrix products on row tiles, hand-written backward.

Every cost volume here is a *correlation with a rectangular set of offsets*:

.. math::

    \mathrm{out}[b, i_y n_x + i_x, y, x] = \mathrm{scale} \sum_c f_1[b, c, y, x] \,
        f_2[b, c, y + o_y + i_y s, x + o_x + i_x s],
    \quad i_y < n_y,\ i_x < n_x,

with ``f2`` zero outside the image. :func:`~nndl.ops.cost_volume` is ``o_y = o_x = −d·s``,
``n_y = n_x = 2d+1``; :func:`~nndl.ops.cost_volume_1d` is ``o_y = 0, n_y = 1``,
``o_x = −(D−1), n_x = D`` (reversed).

How it is computed (the loop of a shift-and-multiply implementation is memory-bound; this one
spends its time in small matrix products, which are not):

1. **Channels-last, one pitch.** A chunk of image rows of ``f1`` is copied to a buffer of
   shape ``(rows · Wp, C)`` and the matching rows of ``f2`` (with ``o_y`` and the vertical halo)
   to ``(rows' · Wp, C)``, zero-padded left/right so that both have the same row pitch
   ``Wp = W + n_x·s − s``. Pixel ``p`` of ``f1`` (flat index) then meets pixel
   ``p + i_y·s·Wp + c_0 + i_x·s`` of ``f2``: every displacement is a *constant* flat offset.
2. **Row tiles.** The flat ``f1`` buffer is cut into tiles of ``T`` consecutive pixels,
   ``A_t ∈ R^{T×C}``. For one ``i_y`` the ``f2`` pixels that tile ``t`` needs are the
   ``T + span`` consecutive pixels ``W_t`` starting at ``tT + i_y s Wp + c_0`` — a strided,
   overlapping *view* (no copy). One batched product ``P_t = A_t W_tᵀ ∈ R^{T × (T+span)}``
   holds all ``n_x`` displacements of the tile on a band, ``out[tT + j, i_x] = P_t[j, j + i_x s]``,
   read with another strided view. Work is ``(T + span)/n_x`` times the minimum, in exchange
   for BLAS speed and data that stays in cache for all ``n_y`` products of a chunk.
3. **Backward by the same shifts.** With ``G_t`` the output gradient scattered onto the same
   band: ``∂f_1`` tile ``= Σ_{i_y} G_t W_t`` and ``∂W_t = G_tᵀ A_t``, overlap-added into the
   ``f2`` gradient buffer in ``⌈(T+span)/T⌉`` non-overlapping pieces.
4. **Chunks.** Rows are processed in chunks of about ``_CHUNK_ELEMS`` elements (several small
   images are stacked into one chunk with ``(n_y−1)·s`` zero rows between them), so the extra
   memory is a few chunk-sized buffers plus the output — never ``(2d+1)² · C · H · W``.

float16/bfloat16 inputs are converted chunk by chunk into float32 buffers (float32
accumulation); the output and gradients come back in the input dtype. The same code runs on
CUDA (cuBLAS batched products).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["correlate"]

_HALF = (torch.float16, torch.bfloat16)
#: target number of f1 elements per chunk (rows · Wp · C); tuned on a 1-thread CPU
_CHUNK_ELEMS = 1 << 17
#: larger chunks on accelerators, where each launch costs more than cache misses
_CHUNK_ELEMS_DEVICE = 1 << 22


@dataclass(frozen=True)
class _Geometry:
    """Offsets ``o_y + i_y s``, ``o_x + i_x s`` with ``-(n_y−1)s <= o_y <= 0``."""

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
    def pad_left(self) -> int:
        return max(0, -self.ox0)

    @property
    def c0(self) -> int:
        return self.pad_left + self.ox0

    def pitch(self, w: int) -> int:
        return w + self.pad_left + max(0, self.ox0 + self.span)

    def tile(self) -> int:
        # 16 keeps the products in BLAS's efficient range; wide bands want wider tiles
        return max(16, min(64, 1 << max(0, math.ceil(math.log2(max(1, self.span))))))


@dataclass(frozen=True)
class _Chunk:
    b0: int
    b1: int
    ya: int
    yb: int


def _chunks(b: int, h: int, rows: int, gap: int) -> list[_Chunk]:
    """Whole images stacked when an image is smaller than ``rows``, else row bands of one."""
    if rows >= h:
        k = max(1, (rows + gap) // (h + gap))
        return [_Chunk(i, min(b, i + k), 0, h) for i in range(0, b, k)]
    n = math.ceil(h / rows)
    edges = [round(i * h / n) for i in range(n + 1)]
    return [_Chunk(i, i + 1, edges[j], edges[j + 1]) for i in range(b) for j in range(n)]


class _Plan:
    """Buffer sizes and views shared by forward and backward for one input shape."""

    def __init__(self, shape: torch.Size, geom: _Geometry, device: torch.device) -> None:
        b, c, h, w = shape
        self.geom, self.b, self.c, self.h, self.w = geom, b, c, h, w
        self.k = geom.ndy * geom.ndx
        self.wp = geom.pitch(w)
        self.t = geom.tile()
        target = _CHUNK_ELEMS if device.type == "cpu" else _CHUNK_ELEMS_DEVICE
        rows = max(1, target // (self.wp * c))
        self.chunks = _chunks(b, h, rows, geom.gap)
        # rows of one chunk's f1 block, when viewed as (k, H + gap, Wp, ·)
        self.block = h + geom.gap
        self.rows_alloc = max(
            (ch.b1 - ch.b0) * self.block if ch.b1 - ch.b0 > 1 else ch.yb - ch.ya + geom.gap
            for ch in self.chunks
        )
        self.nt_max = math.ceil(self.rows_alloc * self.wp / self.t)
        # f1-side buffers hold nt·T pixels; f2-side ones the rows plus the vertical halo and tail
        self.n1 = max(self.nt_max * self.t, self.rows_alloc * self.wp)
        self.n2 = (self.rows_alloc + geom.gap) * self.wp + self.t + geom.c0 + geom.span

    def n_rows(self, ch: _Chunk) -> int:
        """Rows from the first to the last f1 row of the chunk (gaps included)."""
        return (ch.b1 - ch.b0 - 1) * self.block + (ch.yb - ch.ya)

    def n_tiles(self, ch: _Chunk) -> int:
        return math.ceil(self.n_rows(ch) * self.wp / self.t)

    def blocks(self, flat: Tensor, ch: _Chunk, channels: int) -> Tensor:
        """View a flat ``(n, channels)`` buffer as ``(k, H + gap, Wp, channels)``."""
        k = ch.b1 - ch.b0
        rows = self.block if k > 1 else ch.yb - ch.ya + self.geom.gap
        return flat[: k * rows * self.wp].view(k, rows, self.wp, channels)

    def f2_rows(self, ch: _Chunk) -> tuple[int, int, int]:
        """Image rows ``[lo, hi)`` of f2 the chunk needs, and their first local row."""
        g = self.geom
        lo, hi = max(0, ch.ya + g.oy0), min(self.h, ch.yb + g.oy0 + g.gap)
        return lo, hi, lo - ch.ya - g.oy0

    def fill(self, a: Tensor, f2buf: Tensor, f1: Tensor, f2: Tensor, ch: _Chunk) -> None:
        """Copy the chunk's rows of f1 and f2 (channels-last, one pitch) into the buffers."""
        g, w = self.geom, self.w
        hr = ch.yb - ch.ya
        f1l = f1.permute(0, 2, 3, 1)  # (B, H, W, C) views, any strides
        f2l = f2.permute(0, 2, 3, 1)
        self.blocks(a, ch, self.c)[:, :hr, :w].copy_(f1l[ch.b0 : ch.b1, ch.ya : ch.yb])
        f2buf.zero_()
        lo, hi, r0 = self.f2_rows(ch)
        dst = self.blocks(f2buf, ch, self.c)[:, r0 : r0 + hi - lo, g.pad_left : g.pad_left + w]
        dst.copy_(f2l[ch.b0 : ch.b1, lo:hi])

    def window(self, flat: Tensor, iy: int, nt: int, extra: int = 0) -> Tensor:
        """The ``(nt, T + span, C)`` overlapping view of f2 pixels that tile ``t`` meets at ``iy``."""
        g, t, c = self.geom, self.t, self.c
        offset = (iy * g.step * self.wp + g.c0 + extra) * c
        return flat.as_strided((nt, t + g.span - extra, c), (t * c, c, 1), offset)

    def band(self, p: Tensor, nt: int) -> Tensor:
        """The ``(nt, T, n_x)`` band ``P_t[j, j + i_x s]`` of a ``(nt, T, T + span)`` buffer."""
        t, g = self.t, self.geom
        width = t + g.span
        return p.as_strided((nt, t, g.ndx), (t * width, width + 1, g.step))


def _buffers(plan: _Plan, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    g = plan.geom
    return {
        "a": torch.zeros(plan.n1, plan.c, dtype=dtype, device=device),
        "f2": torch.zeros(plan.n2, plan.c, dtype=dtype, device=device),
        "p": torch.zeros(plan.nt_max, plan.t, plan.t + g.span, dtype=dtype, device=device),
    }


def _forward(f1: Tensor, f2: Tensor, plan: _Plan, scale: float, flip: bool) -> Tensor:
    g, w, k = plan.geom, plan.w, plan.k
    cdtype = torch.float32 if f1.dtype in _HALF else f1.dtype
    buf = _buffers(plan, cdtype, f1.device)
    outc = torch.zeros(plan.n1, k, dtype=cdtype, device=f1.device)
    out = torch.empty(
        (plan.b, k, plan.h, w), dtype=f1.dtype, device=f1.device, memory_format=torch.channels_last
    )
    out_l = out.permute(0, 2, 3, 1)  # (B, H, W, K), contiguous
    for ch in plan.chunks:
        plan.fill(buf["a"], buf["f2"], f1, f2, ch)
        nt = plan.n_tiles(ch)
        a = buf["a"][: nt * plan.t].view(nt, plan.t, plan.c)
        if scale != 1.0:
            a.mul_(scale)
        p = buf["p"][:nt]
        o = outc[: nt * plan.t].view(nt, plan.t, k)
        for iy in range(g.ndy):
            torch.bmm(a, plan.window(buf["f2"], iy, nt).transpose(1, 2), out=p)
            o[:, :, iy * g.ndx : (iy + 1) * g.ndx].copy_(plan.band(p, nt))
        src = plan.blocks(outc, ch, k)[:, : ch.yb - ch.ya, :w]
        out_l[ch.b0 : ch.b1, ch.ya : ch.yb].copy_(src.flip(-1) if flip else src)
    return out


def _backward(
    grad: Tensor,
    f1: Tensor,
    f2: Tensor,
    plan: _Plan,
    scale: float,
    flip: bool,
    need: tuple[bool, bool],
) -> tuple[Tensor | None, Tensor | None]:
    g, w, k, t, c = plan.geom, plan.w, plan.k, plan.t, plan.c
    cdtype = torch.float32 if f1.dtype in _HALF else f1.dtype
    dev = f1.device
    buf = _buffers(plan, cdtype, dev)
    gc = torch.zeros(plan.n1, k, dtype=cdtype, device=dev)
    gbuf = buf["p"]  # band matrices G_t: zero off the band, band rewritten for every i_y
    g1c = torch.empty(plan.n1, c, dtype=cdtype, device=dev) if need[0] else None
    g2c = torch.empty(plan.n2, c, dtype=cdtype, device=dev) if need[1] else None
    wg = torch.empty(plan.nt_max, t + g.span, c, dtype=cdtype, device=dev) if need[1] else None
    g1 = torch.empty_like(f1) if need[0] else None
    g2 = torch.zeros_like(f2) if need[1] else None
    grad_l = grad.permute(0, 2, 3, 1)
    pieces = math.ceil((t + g.span) / t)
    for ch in plan.chunks:
        plan.fill(buf["a"], buf["f2"], f1, f2, ch)
        hr = ch.yb - ch.ya
        nt = plan.n_tiles(ch)
        gc.zero_()
        gdst = plan.blocks(gc, ch, k)[:, :hr, :w]
        gsrc = grad_l[ch.b0 : ch.b1, ch.ya : ch.yb]
        gdst.copy_(gsrc.flip(-1) if flip else gsrc)
        if scale != 1.0:
            gdst.mul_(scale)
        a = buf["a"][: nt * t].view(nt, t, c)
        gt = gc[: nt * t].view(nt, t, k)
        gm = gbuf[:nt]
        if g2c is not None:
            g2c.zero_()
        for iy in range(g.ndy):
            plan.band(gm, nt).copy_(gt[:, :, iy * g.ndx : (iy + 1) * g.ndx])
            if g1c is not None:
                d1 = g1c[: nt * t].view(nt, t, c)
                win = plan.window(buf["f2"], iy, nt)
                if iy == 0:
                    torch.bmm(gm, win, out=d1)
                else:
                    d1.baddbmm_(gm, win)
            if g2c is not None and wg is not None:
                dw = wg[:nt]
                torch.bmm(gm.transpose(1, 2), a, out=dw)
                for j in range(pieces):  # overlap-add in pieces of <= T rows: no self-overlap
                    width = min(t, t + g.span - j * t)
                    plan.window(g2c, iy, nt, extra=j * t)[:, :width].add_(
                        dw[:, j * t : j * t + width]
                    )
        if g1 is not None and g1c is not None:
            src = plan.blocks(g1c, ch, c)[:, :hr, :w]
            g1.permute(0, 2, 3, 1)[ch.b0 : ch.b1, ch.ya : ch.yb].copy_(src)
        if g2 is not None and g2c is not None:
            lo, hi, r0 = plan.f2_rows(ch)
            src = plan.blocks(g2c, ch, c)[:, r0 : r0 + hi - lo, g.pad_left : g.pad_left + w]
            g2.permute(0, 2, 3, 1)[ch.b0 : ch.b1, lo:hi].add_(src)
    return g1, g2


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
        g1, g2 = _backward(
            grad, f1, f2, ctx.plan, ctx.scale, ctx.flip, tuple(ctx.needs_input_grad[:2])
        )
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
    ``f2`` zero outside the image; ``flip`` reverses the ``ix`` order (``ndy`` must be 1). Inputs
    are validated by the caller; ``-(ndy−1)·step <= oy0 <= 0`` is required.

    Returns:
        Tensor[B, ndy·ndx, H, W] in ``torch.channels_last`` memory format.
    """
    if flip and ndy != 1:
        raise ValueError("flip needs ndy == 1")  # internal misuse, not user input
    if not -(ndy - 1) * step <= oy0 <= 0:
        raise ValueError(f"oy0 must be in [-(ndy-1)*step, 0], got {oy0}")
    geom = _Geometry(oy0, ndy, ox0, ndx, step)
    return _Correlation.apply(f1, f2, geom, float(scale), flip)
