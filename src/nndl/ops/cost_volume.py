r"""Cost volumes: local 2-D correlation (PWC-Net), 1-D stereo correlation, all-pairs (RAFT).

A cost volume compares every feature vector of one image with the feature vectors of another
image at a set of displacements. PWC-Net computes it at each pyramid level after warping the
second image by the upsampled flow, so only a small window ``[-d, d]²`` is needed; rectified
stereo only needs horizontal displacements; RAFT compares all pairs of pixels.

The flow convention (channel 0 = horizontal ``u``, pixels, ``(x + u, y + v)`` in the second
image) is written once in :mod:`nndl.ops`; the displacement ``(dx, dy)`` of a cost-volume channel
is a candidate flow ``(u, v) = (dx, dy)``.

:func:`cost_volume` has two implementations with the same maths: ``_cost_volume_reference``, a
loop over displacements that autograd differentiates (slow, obviously correct, supports
higher-order gradients), and the fast path in :mod:`nndl.ops._correlation` (an
:class:`torch.autograd.Function` with a hand-written backward: batched band matrix products on
row tiles of image strips, never materialising a ``(2d+1)² · C · H · W`` tensor; first-order
gradients only). ``benchmarks/cost_volume.py`` compares them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import (
    DTypeError,
    ValidationError,
    check_choice,
    check_dtype,
    check_int,
    check_same_device,
    check_same_dtype,
    check_same_shape,
    check_shape,
)
from ._correlation import correlate

__all__ = [
    "CostVolume",
    "CostVolume1d",
    "all_pairs_cost_volume",
    "cost_volume",
    "cost_volume_1d",
    "displacements",
]

Normalize = Literal["l2"] | None
Reduction = Literal["mean", "sum"]
Impl = Literal["auto", "reference", "fast"]

_NORMALIZE = ("l2",)
_REDUCTIONS = ("mean", "sum")
_IMPLS = ("auto", "reference", "fast")
_HALF = (torch.float16, torch.bfloat16)
#: the largest cost volume (number of output values) the functions agree to allocate
MAX_OUTPUT_ELEMENTS = 1 << 31
#: with stride s > 1 the fast path correlates the s² phases of the image; below this many
#: pixels per phase the per-phase overhead loses to the loop over displacements
_MIN_PHASE_PIXELS = 1024


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _check_features(f1: Tensor, f2: Tensor, names: tuple[str, str]) -> None:
    """Two floating-point (B, C, H, W) tensors of one shape, dtype and device, C, H, W >= 1."""
    for t, n in zip((f1, f2), names, strict=True):
        check_shape(t, "B C H W", name=n)
        check_dtype(t, name=n)
        if t.is_complex():
            raise DTypeError(f"{n} must be a real floating-point tensor, got dtype {t.dtype}")
    check_same_shape(f1, f2, names=names)
    check_same_dtype(f1, f2, names=names)
    check_same_device(f1, f2, names=names)
    _, c, h, w = f1.shape
    if min(c, h, w) < 1:
        raise ValidationError(
            f"{names[0]} and {names[1]} must have C, H, W >= 1, got shape {tuple(f1.shape)}"
        )


def _check_options(normalize: object, reduction: object, impl: object) -> None:
    if normalize is not None and normalize not in _NORMALIZE:
        raise ValidationError(f"normalize must be None or 'l2', got {normalize!r}")
    check_choice(reduction, _REDUCTIONS, name="reduction")
    check_choice(impl, _IMPLS, name="impl")


def _normalized(f1: Tensor, f2: Tensor, normalize: Normalize) -> tuple[Tensor, Tensor]:
    """Scale every pixel's feature vector to unit L2 length (a zero vector stays zero)."""
    if normalize == "l2":
        return F.normalize(f1, dim=1), F.normalize(f2, dim=1)
    return f1, f2


def _use_fast(impl: Impl) -> bool:
    return impl in ("auto", "fast")


def _reference_volume(
    f1: Tensor,
    f2: Tensor,
    normalize: Normalize,
    reduction: Reduction,
    planes: Callable[[Tensor, Tensor], list[Tensor]],
) -> Tensor:
    r"""What the reference cost volumes share around their loop over displacements.

    ``planes(f1, f2)`` gives one Tensor[B, H, W] per displacement δ,
    :math:`\sum_c f_1[b, c, y, x] \, f_2[b, c, (y, x) + δ]` (zero outside the image), on the
    features normalised by ``normalize`` and computed in float32 for float16/bfloat16 inputs.
    Returns the planes stacked along dim 1, divided by C for ``reduction="mean"``, in the
    inputs' dtype: Tensor[B, len(planes), H, W].
    """
    f1, f2 = _normalized(f1, f2, normalize)
    dtype = f1.dtype
    if dtype in _HALF:
        f1, f2 = f1.float(), f2.float()
    out = torch.stack(planes(f1, f2), dim=1)
    if reduction == "mean":
        out = out / f1.shape[1]
    return out.to(dtype)


def _fast_inputs(
    f1: Tensor, f2: Tensor, normalize: Normalize, reduction: Reduction
) -> tuple[Tensor, Tensor, float]:
    """The fast paths' inputs: the features normalised by ``normalize``, and the scale of the
    correlation (1/C for ``reduction="mean"``, 1 for ``"sum"``)."""
    f1, f2 = _normalized(f1, f2, normalize)
    return f1, f2, (1.0 / f1.shape[1] if reduction == "mean" else 1.0)


# --------------------------------------------------------------------------------------------
# 2-D local cost volume
# --------------------------------------------------------------------------------------------


def displacements(max_displacement: int, stride: int = 1) -> Tensor:
    """The displacement ``(dx, dy)`` of every output channel of :func:`cost_volume`.

    Args:
        max_displacement: ``d``, as in :func:`cost_volume`.
        stride: ``s``, as in :func:`cost_volume`.

    Returns:
        Tensor[(2d+1)², 2] of int64: row ``k`` is ``(dx, dy)`` of channel ``k`` (flow order,
        ``u`` first), with ``k = i_dy · (2d+1) + i_dx``.

    Example:
        >>> displacements(1)[:4].tolist()
        [[-1, -1], [0, -1], [1, -1], [-1, 0]]
    """
    d = check_int(max_displacement, name="max_displacement", low=0)
    s = check_int(stride, name="stride", low=1)
    steps = torch.arange(-d, d + 1) * s
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack((dx.reshape(-1), dy.reshape(-1)), dim=1)


def _cost_volume_reference(
    f1: Tensor,
    f2: Tensor,
    max_displacement: int,
    stride: int = 1,
    normalize: Normalize = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Slow, obviously correct cost volume: one shifted product per displacement.

    Differentiated by autograd (so higher-order gradients work too). float16/bfloat16 inputs are
    computed in float32 and the result cast back. Arguments are not validated here.
    """
    d, s = max_displacement, stride

    def planes(f1: Tensor, f2: Tensor) -> list[Tensor]:
        h, w = f1.shape[-2:]
        # displacements of |δ| >= the image side see only the zero padding: never pad beyond it
        ry, rx = min(d * s, h), min(d * s, w)
        f2p = F.pad(f2, (rx, rx, ry, ry))  # zero outside the image
        zero = f1.new_zeros(f1.shape[0], h, w)
        out = []
        for dy in range(-d * s, d * s + 1, s):  # dy outer ...
            for dx in range(-d * s, d * s + 1, s):  # ... dx inner: k = i_dy * (2d+1) + i_dx
                if abs(dy) >= h or abs(dx) >= w:
                    out.append(zero)
                    continue
                shifted = f2p[:, :, ry + dy : ry + dy + h, rx + dx : rx + dx + w]  # f2[y+dy, x+dx]
                out.append((f1 * shifted).sum(dim=1))
        return out

    return _reference_volume(f1, f2, normalize, reduction, planes)


def _check_output_size(shape: tuple[int, ...], channels: int, name: str, value: int) -> None:
    """Refuse, before any allocation, a cost volume of more than :data:`MAX_OUTPUT_ELEMENTS`."""
    b, _, h, w = shape
    n = b * channels * h * w
    if n > MAX_OUTPUT_ELEMENTS:
        raise ValidationError(
            f"{name}={value} asks for a cost volume of {channels} channels × {b}×{h}×{w} = "
            f"{n:.3g} values, more than the {MAX_OUTPUT_ELEMENTS:.3g} nndl allows; displacements "
            f"beyond the image size ({h}×{w}) only ever see zeros, so use a smaller {name}"
        )


def _strided_fast(f1: Tensor, f2: Tensor, d: int, s: int, scale: float) -> Tensor:
    """The fast cost volume for ``stride > 1``, in memory bounded by the input and output.

    Offsets that are multiples of ``s`` only ever pair pixels of the same phase
    ``(y mod s, x mod s)``, so the image is cut into its phases (the two inputs zero-padded to
    a multiple of ``s``), stacked along the batch, correlated with stride 1, and put back.
    Displacements of at least the image side see only zeros and are not computed, so the
    padding never exceeds the image itself.
    """
    b, _, h, w = f1.shape
    n = 2 * d + 1
    dy, dx = min(d, (h - 1) // s), min(d, (w - 1) // s)  # displacements that can hit the image
    sy, sx = (s if dy else 1), (s if dx else 1)
    hp, wp = -(-h // sy) * sy, -(-w // sx) * sx

    def phases(x: Tensor) -> Tensor:
        x = F.pad(x, (0, wp - w, 0, hp - h))
        c = x.shape[1]
        x = x.view(b, c, hp // sy, sy, wp // sx, sx).permute(0, 3, 5, 1, 2, 4)
        return x.reshape(b * sy * sx, c, hp // sy, wp // sx)

    ny, nx = 2 * dy + 1, 2 * dx + 1
    inner = correlate(phases(f1), phases(f2), oy0=-dy, ndy=ny, ox0=-dx, ndx=nx, step=1, scale=scale)
    inner = inner.reshape(b, sy, sx, ny * nx, hp // sy, wp // sx).permute(0, 3, 4, 1, 5, 2)
    inner = inner.reshape(b, ny * nx, hp, wp)[:, :, :h, :w]
    if (ny, nx) == (n, n):
        return inner.contiguous(memory_format=torch.channels_last)
    out = inner.new_zeros((b, n, n, h, w))
    out[:, d - dy : d + dy + 1, d - dx : d + dx + 1] = inner.view(b, ny, nx, h, w)
    return out.view(b, n * n, h, w).contiguous(memory_format=torch.channels_last)


def cost_volume(
    f1: Tensor,
    f2: Tensor,
    max_displacement: int,
    stride: int = 1,
    normalize: Normalize = None,
    reduction: Reduction = "mean",
    impl: Impl = "auto",
) -> Tensor:
    r"""Local correlation of two feature maps (PWC-Net's cost volume).

    With ``d = max_displacement``, ``s = stride`` and the displacement set
    ``𝒟 = {−d·s, …, −s, 0, s, …, d·s}``:

    .. math::

        \mathrm{out}[b, k, y, x] = \frac{1}{Z} \sum_{c=0}^{C-1}
            f_1[b, c, y, x] \; f_2[b, c, y + \delta_y, x + \delta_x],
        \qquad k = i_{dy} \, (2d + 1) + i_{dx},

    where ``δ_y = (i_dy − d)·s`` and ``δ_x = (i_dx − d)·s`` with ``i_dy, i_dx ∈ {0, …, 2d}``
    (row-major: ``dy`` outer, ``dx`` inner; :func:`displacements` lists them), ``f2`` is zero
    outside the image, and ``Z = C`` for ``reduction="mean"`` (PWC-Net), ``Z = 1`` for
    ``"sum"``. The centre channel ``k = d(2d+1) + d`` is displacement ``(0, 0)``. Channel ``k``
    scores the candidate flow ``(u, v) = (δ_x, δ_y)`` (see the flow convention in
    :mod:`nndl.ops`).

    ``normalize="l2"`` first divides every pixel's feature vector by its L2 norm, so that with
    ``reduction="sum"`` the output is the cosine similarity of the notes, in ``[−1, 1]`` and 1 for
    identical vectors (with ``"mean"`` it is that divided by ``C``); a zero vector scores 0.

    Args:
        f1: Tensor[B, C, H, W], features of the first image (float16/bfloat16/float32/float64,
            any strides).
        f2: Tensor[B, C, H, W], features of the second image, same shape, dtype and device.
        max_displacement: ``d >= 0``; the output has ``(2d + 1)²`` channels.
        stride: ``s >= 1``, the step between displacements in pixels (the output keeps the full
            ``H × W`` resolution).
        normalize: ``None`` or ``"l2"`` (cosine similarity).
        reduction: ``"mean"`` (divide by ``C``) or ``"sum"``.
        impl: ``"fast"`` (hand-written backward, band products on row tiles, no
            ``(2d+1)²·C·H·W`` temporary; first-order gradients only), ``"reference"`` (loop
            differentiated by autograd; supports higher-order and forward-mode gradients) or
            ``"auto"`` (the fast one).

    Returns:
        Tensor[B, (2d+1)², H, W] in the dtype of the inputs (float16/bfloat16 are accumulated in
        float32). The fast path returns it in ``torch.channels_last`` memory format (the layout
        it is computed in; same shape and values — call ``.contiguous()`` for NCHW strides).

    Raises:
        ShapeError: ``f1`` or ``f2`` is not 4-D, or their shapes differ.
        DTypeError: a non-floating-point (e.g. integer) input, or mixed dtypes.
        ValidationError: ``max_displacement < 0``, ``stride < 1``, or an unknown option.

    Example:
        >>> f = torch.randn(2, 8, 16, 16)
        >>> cv = cost_volume(f, f, max_displacement=4)
        >>> cv.shape
        torch.Size([2, 81, 16, 16])
        >>> centre = 4 * 9 + 4  # displacement (0, 0)
        >>> torch.allclose(cv[:, centre], f.pow(2).mean(1))
        True
    """
    _check_features(f1, f2, ("f1", "f2"))
    d = check_int(max_displacement, name="max_displacement", low=0)
    s = check_int(stride, name="stride", low=1)
    _check_options(normalize, reduction, impl)
    _check_output_size(tuple(f1.shape), (2 * d + 1) ** 2, "max_displacement", d)
    if not _use_fast(impl):
        return _cost_volume_reference(f1, f2, d, s, normalize, reduction)
    f1, f2, scale = _fast_inputs(f1, f2, normalize, reduction)
    if s > 1:
        h, w = f1.shape[-2:]
        if (h // s) * (w // s) < _MIN_PHASE_PIXELS:  # tiny phases: the loop is faster
            return _cost_volume_reference(f1, f2, d, s, None, "sum").mul(scale)
        return _strided_fast(f1, f2, d, s, scale)
    n = 2 * d + 1
    return correlate(f1, f2, oy0=-d, ndy=n, ox0=-d, ndx=n, step=1, scale=scale)


class _CostVolumeModule(nn.Module):
    """The options every cost-volume module shares (checked at construction)."""

    def __init__(self, normalize: Normalize, reduction: Reduction, impl: Impl) -> None:
        super().__init__()
        _check_options(normalize, reduction, impl)
        self.normalize = normalize
        self.reduction = reduction
        self.impl = impl

    def extra_repr(self) -> str:
        return f"normalize={self.normalize!r}, reduction={self.reduction!r}, impl={self.impl!r}"


class CostVolume(_CostVolumeModule):
    """See :func:`cost_volume`."""

    def __init__(
        self,
        max_displacement: int,
        stride: int = 1,
        normalize: Normalize = None,
        reduction: Reduction = "mean",
        impl: Impl = "auto",
    ) -> None:
        super().__init__(normalize, reduction, impl)
        self.max_displacement = check_int(max_displacement, name="max_displacement", low=0)
        self.stride = check_int(stride, name="stride", low=1)

    def forward(self, f1: Tensor, f2: Tensor) -> Tensor:
        return cost_volume(
            f1, f2, self.max_displacement, self.stride, self.normalize, self.reduction, self.impl
        )

    def extra_repr(self) -> str:
        return (
            f"max_displacement={self.max_displacement}, stride={self.stride}, "
            + super().extra_repr()
        )


# --------------------------------------------------------------------------------------------
# 1-D (stereo) cost volume
# --------------------------------------------------------------------------------------------


def _cost_volume_1d_reference(
    left: Tensor,
    right: Tensor,
    max_disparity: int,
    normalize: Normalize = None,
    reduction: Reduction = "mean",
) -> Tensor:
    """Slow, obviously correct 1-D cost volume (one shifted product per disparity)."""

    def planes(left: Tensor, right: Tensor) -> list[Tensor]:
        w = left.shape[-1]
        return [  # shifted[x] = right[x - disp], 0 if x < disp
            (left * F.pad(right, (disp, 0))[..., :w]).sum(dim=1) for disp in range(max_disparity)
        ]

    return _reference_volume(left, right, normalize, reduction, planes)


def cost_volume_1d(
    left: Tensor,
    right: Tensor,
    max_disparity: int,
    normalize: Normalize = None,
    reduction: Reduction = "mean",
    impl: Impl = "auto",
) -> Tensor:
    r"""Horizontal correlation of a rectified stereo pair.

    .. math::

        \mathrm{out}[b, \delta, y, x] = \frac{1}{Z} \sum_{c=0}^{C-1}
            \mathrm{left}[b, c, y, x] \; \mathrm{right}[b, c, y, x - \delta],
        \qquad \delta \in \{0, \dots, D - 1\},

    with ``D = max_disparity``, ``right`` zero outside the image (``x − δ < 0``), and ``Z`` as in
    :func:`cost_volume`. Left pixel ``x`` matches right pixel ``x − δ`` (a flow of
    ``u = −δ, v = 0``), so ``out[:, δ]`` equals ``cost_volume(left, right, d)`` at displacement
    ``(dx, dy) = (−δ, 0)`` for any ``d >= δ``.

    Args:
        left: Tensor[B, C, H, W], features of the left image.
        right: Tensor[B, C, H, W], features of the right image, same shape, dtype and device.
        max_disparity: ``D >= 1``, the number of disparities ``0 … D − 1``.
        normalize: ``None`` or ``"l2"`` (cosine similarity), as in :func:`cost_volume`.
        reduction: ``"mean"`` or ``"sum"``, as in :func:`cost_volume`.
        impl: ``"auto"``, ``"reference"`` or ``"fast"``, as in :func:`cost_volume`.

    Returns:
        Tensor[B, D, H, W]; channel ``δ`` is disparity ``δ`` (``torch.channels_last`` memory
        format on the fast path, as in :func:`cost_volume`).

    Raises:
        ShapeError: ``left`` or ``right`` is not 4-D, or their shapes differ.
        DTypeError: a non-floating-point input, or mixed dtypes.
        ValidationError: ``max_disparity < 1`` or an unknown option.

    Example:
        >>> left = torch.randn(1, 4, 8, 32)
        >>> right = torch.roll(left, shifts=-3, dims=-1)  # left x <-> right x - 3
        >>> cost_volume_1d(left, right, 8)[0, :, :, 8:].mean((1, 2)).argmax().item()
        3
    """
    _check_features(left, right, ("left", "right"))
    n_disp = check_int(max_disparity, name="max_disparity", low=1)
    _check_options(normalize, reduction, impl)
    _check_output_size(tuple(left.shape), n_disp, "max_disparity", n_disp)
    if not _use_fast(impl):
        return _cost_volume_1d_reference(left, right, n_disp, normalize, reduction)
    left, right, scale = _fast_inputs(left, right, normalize, reduction)
    # offset j is dx = -(D-1) + j, i.e. disparity D-1-j: flip=True gives disparity order
    return correlate(
        left, right, oy0=0, ndy=1, ox0=-(n_disp - 1), ndx=n_disp, step=1, scale=scale, flip=True
    )


class CostVolume1d(_CostVolumeModule):
    """See :func:`cost_volume_1d`."""

    def __init__(
        self,
        max_disparity: int,
        normalize: Normalize = None,
        reduction: Reduction = "mean",
        impl: Impl = "auto",
    ) -> None:
        super().__init__(normalize, reduction, impl)
        self.max_disparity = check_int(max_disparity, name="max_disparity", low=1)

    def forward(self, left: Tensor, right: Tensor) -> Tensor:
        return cost_volume_1d(
            left, right, self.max_disparity, self.normalize, self.reduction, self.impl
        )

    def extra_repr(self) -> str:
        return f"max_disparity={self.max_disparity}, " + super().extra_repr()


# --------------------------------------------------------------------------------------------
# all-pairs cost volume (RAFT)
# --------------------------------------------------------------------------------------------


def all_pairs_cost_volume(f1: Tensor, f2: Tensor) -> Tensor:
    r"""Correlation of every pixel of ``f1`` with every pixel of ``f2`` (RAFT).

    .. math::

        \mathrm{out}[b, y_1, x_1, y_2, x_2] = \frac{1}{\sqrt{C}} \sum_{c=0}^{C-1}
            f_1[b, c, y_1, x_1] \; f_2[b, c, y_2, x_2]

    computed as one batched matrix product ``(HW × C) · (C × HW)``.

    Memory: the output has ``B · (H·W)²`` elements — quadratic in the number of pixels, against
    ``B · (2d+1)² · H·W`` for :func:`cost_volume`. At RAFT's 1/8 resolution of a 440×1024 image
    (55×128 = 7,040 pixels) that is 49.6 M floats (198 MB in float32) per image; at 1/4
    resolution it would be 16× more (3.2 GB). Use it at coarse resolutions only.

    Args:
        f1: Tensor[B, C, H, W], features of the first image.
        f2: Tensor[B, C, H, W], features of the second image, same shape, dtype and device.

    Returns:
        Tensor[B, H, W, H, W]: indexed ``[b, y1, x1, y2, x2]``.

    Raises:
        ShapeError: ``f1`` or ``f2`` is not 4-D, or their shapes differ.
        DTypeError: a non-floating-point input, or mixed dtypes.

    Example:
        >>> all_pairs_cost_volume(torch.randn(1, 16, 6, 8), torch.randn(1, 16, 6, 8)).shape
        torch.Size([1, 6, 8, 6, 8])
    """
    _check_features(f1, f2, ("f1", "f2"))
    b, c, h, w = f1.shape
    a = f1.reshape(b, c, h * w).transpose(1, 2)  # (B, HW, C)
    out = torch.bmm(a, f2.reshape(b, c, h * w))  # (B, HW, HW)
    return (out / math.sqrt(c)).view(b, h, w, h, w)
