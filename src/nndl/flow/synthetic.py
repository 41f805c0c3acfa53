r"""Image pairs with known motion, made from the real photographs bundled with scikit-image.

Two kinds of data:

- :func:`translated_pair`: an exact, physically sampled sub-pixel translation. The source image
  is shifted by whole pixels at its full resolution and both images are then averaged over
  ``factor × factor`` blocks, which is what a camera with ``factor``-times larger pixels would
  record after moving by ``shift / factor`` of its pixels. Any multiple of ``1 / factor`` is
  exact, with no interpolation.
- :func:`make_flow_pairs`: random smooth and affine flows (and translations) with their ground
  truth, for training and evaluating flow estimators. The flow :math:`f` is a smooth function of
  continuous image coordinates; the first image is the second one backward-warped by
  :math:`f` (:func:`nndl.ops.warp`) at ``factor`` times the output resolution, and both images
  are then block-averaged, so both have the same (box) blur and the warp's bilinear smoothing is
  mostly averaged away. The ground truth is :math:`f` at the output pixel centres, so
  ``img1(x) ≈ img2(x + f(x))`` (the flow convention of :mod:`nndl.ops`).

Images used: :data:`TRAIN_IMAGES` for training, :data:`HELDOUT_IMAGES` (never in training) for
evaluation; all are in ``skimage.data`` and need no download.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import (
    ValidationError,
    check_choice,
    check_in_range,
    check_int,
    unknown_name_message,
)
from ..ops import warp

__all__ = [
    "FLOW_KINDS",
    "HELDOUT_IMAGES",
    "TRAIN_IMAGES",
    "FlowPairs",
    "RandomFlow",
    "load_source_image",
    "make_flow_pairs",
    "translated_pair",
]

#: scikit-image photographs used to make training pairs.
TRAIN_IMAGES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "rocket",
    "coins",
    "moon",
    "brick",
    "gravel",
    "grass",
    "immunohistochemistry",
    "clock",
)
#: photographs kept out of training, for held-out evaluation.
HELDOUT_IMAGES: tuple[str, ...] = ("camera", "coffee")
#: kinds of random flow :func:`make_flow_pairs` draws.
FLOW_KINDS: tuple[str, ...] = ("translation", "affine", "smooth", "mixed")


def load_source_image(name: str, *, gray: bool = True) -> Tensor:
    """A photograph from ``skimage.data`` as float32 Tensor[C, H, W] in [0, 1].

    Args:
        name: one of :data:`TRAIN_IMAGES` + :data:`HELDOUT_IMAGES`.
        gray: convert to one channel (BT.601 luma); otherwise grey images get 1 channel and
            colour images 3.
    """
    if name not in TRAIN_IMAGES + HELDOUT_IMAGES:
        raise ValidationError(
            unknown_name_message("source image", str(name), TRAIN_IMAGES + HELDOUT_IMAGES)
        )
    return _load_source(name, bool(gray)).clone()


@functools.lru_cache(maxsize=32)
def _load_source(name: str, gray: bool) -> Tensor:
    from skimage import data

    arr = torch.from_numpy(getattr(data, name)().astype("float32"))
    arr = arr / 255.0 if arr.max() > 1 else arr
    img = arr.unsqueeze(0) if arr.ndim == 2 else arr[..., :3].permute(2, 0, 1)
    if gray and img.shape[0] == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        img = (img * w).sum(0, keepdim=True)
    return img.contiguous()


def _block_mean(img: Tensor, factor: int) -> Tensor:
    return F.avg_pool2d(img, factor) if factor > 1 else img


def translated_pair(
    image: Tensor | str,
    shift: tuple[float, float],
    *,
    factor: int = 4,
    margin: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """An exact sub-pixel translation of a real image (see the module docstring).

    Args:
        image: Tensor[C, H, W] at full resolution, or a ``skimage.data`` name (grey).
        shift: ``(u, v)`` in output pixels; ``factor · u`` and ``factor · v`` must be integers.
        factor: block size of the averaging (output pixels are ``factor`` source pixels wide).
        margin: source pixels cropped on every side (default: enough for the shift).

    Returns:
        ``(img1, img2, flow)``: Tensor[C, h, w] twice and the constant flow Tensor[2, h, w],
        with ``img1(x) = img2(x + shift)`` exactly.

    Raises:
        ValidationError: the shift is not a multiple of ``1 / factor`` or too large for the image.
    """
    img = load_source_image(image) if isinstance(image, str) else image
    factor = check_int(factor, name="factor", low=1)
    steps = []
    for value, name in zip(shift, ("shift u", "shift v"), strict=True):
        check_in_range(value, name=name)
        scaled = value * factor
        if abs(scaled - round(scaled)) > 1e-9:
            raise ValidationError(
                f"{name} must be a multiple of 1/factor = {1 / factor:g}, got {value}"
            )
        steps.append(round(scaled))
    su, sv = steps
    need = max(abs(su), abs(sv))
    margin = need if margin is None else check_int(margin, name="margin", low=need)
    _, h, w = img.shape
    h_out = (h - 2 * margin) // factor
    w_out = (w - 2 * margin) // factor
    if h_out < 1 or w_out < 1:
        raise ValidationError(
            f"shift {shift} with factor {factor} leaves no image of a {h}×{w} source"
        )
    hh, ww = h_out * factor, w_out * factor
    img2 = img[:, margin : margin + hh, margin : margin + ww]
    img1 = img[:, margin + sv : margin + sv + hh, margin + su : margin + su + ww]
    flow = torch.empty(2, h_out, w_out, dtype=img.dtype)
    flow[0], flow[1] = su / factor, sv / factor
    return _block_mean(img1[None], factor)[0], _block_mean(img2[None], factor)[0], flow


@dataclass
class RandomFlow:
    r"""A smooth flow field defined at every real coordinate (in output pixels).

    .. math::

        f(x, y) = t + A \begin{pmatrix} x - c_x \\ y - c_y \end{pmatrix}
                  + \sum_k a_k \exp\!\Big(-\frac{(x - x_k)^2 + (y - y_k)^2}{2 s_k^2}\Big)

    Attributes:
        translation: Tensor[2], ``t``.
        linear: Tensor[2, 2], ``A`` (rows: u, v; columns: x, y).
        centre: Tensor[2], ``(c_x, c_y)``.
        bump_centres: Tensor[K, 2] of ``(x_k, y_k)``; bump_widths Tensor[K]; bump_amplitudes
            Tensor[K, 2] (u, v).
    """

    translation: Tensor
    linear: Tensor
    centre: Tensor
    bump_centres: Tensor
    bump_widths: Tensor
    bump_amplitudes: Tensor

    def __call__(self, xs: Tensor, ys: Tensor) -> Tensor:
        """The flow at coordinates ``xs``, ``ys`` (same shape ``S``): Tensor[2, *S]."""
        dx, dy = xs - self.centre[0], ys - self.centre[1]
        u = self.translation[0] + self.linear[0, 0] * dx + self.linear[0, 1] * dy
        v = self.translation[1] + self.linear[1, 0] * dx + self.linear[1, 1] * dy
        for (bx, by), s, (au, av) in zip(
            self.bump_centres, self.bump_widths, self.bump_amplitudes, strict=True
        ):
            g = torch.exp(-((xs - bx) ** 2 + (ys - by) ** 2) / (2 * s * s))
            u = u + au * g
            v = v + av * g
        return torch.stack([u, v])

    def scaled(self, factor: float) -> RandomFlow:
        """The same field with every displacement multiplied by ``factor``."""
        return RandomFlow(
            self.translation * factor,
            self.linear * factor,
            self.centre,
            self.bump_centres,
            self.bump_widths,
            self.bump_amplitudes * factor,
        )

    @classmethod
    def sample(
        cls,
        kind: str,
        size: tuple[int, int],
        max_flow: float,
        generator: torch.Generator | None = None,
    ) -> RandomFlow:
        """Draw a random field of ``kind`` whose largest vector on ``size`` is ``≤ max_flow``.

        Kinds: ``"translation"`` (uniform in the disc of radius ``max_flow``), ``"affine"``
        (translation + rotation up to 10°, scaling up to 10 %, shear up to 5 %), ``"smooth"``
        (2–4 Gaussian bumps of width 15–40 % of the image), ``"mixed"`` (affine + smooth).
        The field is then rescaled so that its largest vector on the image is a uniform draw
        in ``[0.25, 1] · max_flow`` (for translations, the disc draw itself).
        """
        check_choice(kind, FLOW_KINDS, name="flow kind")
        check_in_range(max_flow, name="max_flow", low=0.0)
        h, w = size
        f64 = torch.float64

        def rand(*shape: int) -> Tensor:
            return torch.rand(*shape, generator=generator, dtype=f64)

        translation = torch.zeros(2, dtype=f64)
        linear = torch.zeros(2, 2, dtype=f64)
        centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=f64)
        bumps = (
            torch.zeros(0, 2, dtype=f64),
            torch.zeros(0, dtype=f64),
            torch.zeros(0, 2, dtype=f64),
        )
        if kind == "translation":
            radius = max_flow * math.sqrt(float(rand(1)))
            angle = 2 * math.pi * float(rand(1))
            translation = torch.tensor([math.cos(angle), math.sin(angle)], dtype=f64) * radius
            return cls(translation, linear, centre, *bumps)
        if kind in ("affine", "mixed"):
            theta = math.radians(10) * (2 * float(rand(1)) - 1)
            scale = 1 + 0.1 * (2 * float(rand(1)) - 1)
            shear = 0.05 * (2 * float(rand(1)) - 1)
            rot = torch.tensor(
                [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=f64
            )
            linear = scale * rot @ torch.tensor([[1.0, shear], [0.0, 1.0]], dtype=f64)
            linear = linear - torch.eye(2, dtype=f64)
            angle = 2 * math.pi * float(rand(1))
            translation = torch.tensor([math.cos(angle), math.sin(angle)], dtype=f64)
            translation = translation * float(rand(1)) * 0.05 * max(h, w)
        if kind in ("smooth", "mixed"):
            k = 2 + int(3 * float(rand(1)))
            angles = 2 * math.pi * rand(k)
            bumps = (
                rand(k, 2) * torch.tensor([w, h], dtype=f64),
                (0.15 + 0.25 * rand(k)) * min(h, w),
                torch.stack([angles.cos(), angles.sin()], 1) * (0.5 + 0.5 * rand(k, 1)),
            )
        field = cls(translation, linear, centre, *bumps)
        ys, xs = torch.meshgrid(
            torch.arange(h, dtype=f64), torch.arange(w, dtype=f64), indexing="ij"
        )
        peak = float(field(xs, ys).pow(2).sum(0).sqrt().max())
        target = max_flow * (0.25 + 0.75 * float(rand(1)))
        return field.scaled(target / peak if peak > 0 else 0.0)


@dataclass
class FlowPairs:
    """Image pairs with their true flow.

    Attributes:
        img1, img2: Tensor[N, C, H, W] float32 in [0, 1].
        flow: Tensor[N, 2, H, W] float32, ``img1(x) ≈ img2(x + flow(x))``.
        kinds: the flow kind of each pair.
    """

    img1: Tensor
    img2: Tensor
    flow: Tensor
    kinds: list[str]

    def __len__(self) -> int:
        return self.img1.shape[0]

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(img1, img2, flow)``, e.g. for :class:`nndl.train.Trainer`."""
        return self.img1, self.img2, self.flow


def _one_pair(
    source: Tensor,
    field: RandomFlow,
    size: tuple[int, int],
    factor: int,
    margin: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor]:
    h, w = size
    hh, ww = h * factor + 2 * margin, w * factor + 2 * margin
    _, sh, sw = source.shape
    oy = int(torch.randint(0, sh - hh + 1, (1,), generator=generator))
    ox = int(torch.randint(0, sw - ww + 1, (1,), generator=generator))
    crop = source[:, oy : oy + hh, ox : ox + ww]
    if float(torch.rand(1, generator=generator)) < 0.5:
        crop = crop.flip(-1)
    # output-pixel coordinates of the fine grid: fine X has output x = (X - margin + 0.5)/k - 0.5
    ys, xs = torch.meshgrid(
        (torch.arange(hh, dtype=torch.float64) - margin + 0.5) / factor - 0.5,
        (torch.arange(ww, dtype=torch.float64) - margin + 0.5) / factor - 0.5,
        indexing="ij",
    )
    fine_flow = (field(xs, ys) * factor).to(crop.dtype)
    img1 = warp(crop[None], fine_flow[None])[0]
    inner = (slice(None), slice(margin, margin + h * factor), slice(margin, margin + w * factor))
    return _block_mean(img1[inner][None], factor)[0], _block_mean(crop[inner][None], factor)[0]


def make_flow_pairs(
    n: int,
    size: tuple[int, int] = (64, 64),
    *,
    max_flow: float = 6.0,
    kinds: tuple[str, ...] = ("affine", "smooth", "mixed"),
    images: tuple[str, ...] = TRAIN_IMAGES,
    factor: int = 2,
    source_scale: float = 0.5,
    generator: torch.Generator | None = None,
) -> FlowPairs:
    """``n`` random pairs with known flow (see the module docstring).

    Args:
        n: number of pairs (>= 1).
        size: output (H, W) of every image.
        max_flow: the largest displacement of any pair, in output pixels.
        kinds: flow kinds to draw from, uniformly (see :meth:`RandomFlow.sample`).
        images: ``skimage.data`` names to crop from, cycled through in order.
        factor: super-sampling factor of the warp (1 = warp at the output resolution).
        source_scale: the photographs are first resized by this factor (antialiased), so that a
            crop shows more of the scene (0 < scale <= 1; never below what a crop needs).
        generator: for reproducible pairs.

    Returns:
        :class:`FlowPairs` with grey images (C = 1).

    Raises:
        ValidationError: a bad count, size, kind or image name, or a source image too small
            for ``size · factor`` plus the margin the flow needs.
    """
    n = check_int(n, name="n", low=1)
    h = check_int(size[0], name="size[0]", low=4)
    w = check_int(size[1], name="size[1]", low=4)
    factor = check_int(factor, name="factor", low=1)
    check_in_range(max_flow, name="max_flow", low=0.0)
    if not kinds:
        raise ValidationError("kinds must name at least one flow kind")
    for kind in kinds:
        check_choice(kind, FLOW_KINDS, name="flow kind")
    if not images:
        raise ValidationError("images must name at least one source image")
    scale = check_in_range(
        source_scale, name="source_scale", low=0.0, high=1.0, low_inclusive=False
    )
    margin = math.ceil(max_flow * factor) + 2
    need = (h * factor + 2 * margin, w * factor + 2 * margin)
    sources = []
    for name in images[:n]:  # pairs cycle through the images: only the first n are used
        src = load_source_image(name)
        # shrink by source_scale, but never below what a crop needs
        s_i = min(1.0, max(scale, need[0] / src.shape[1], need[1] / src.shape[2]))
        if s_i < 1:
            src = F.interpolate(
                src[None], scale_factor=s_i, mode="bilinear", antialias=True, align_corners=False
            )[0].clamp(0, 1)
        if src.shape[1] < need[0] or src.shape[2] < need[1]:
            raise ValidationError(
                f"source image {name!r} ({src.shape[1]}×{src.shape[2]}) is too small for pairs "
                f"of {h}×{w} at factor {factor} with max_flow {max_flow}"
            )
        sources.append(src)
    img1 = torch.empty(n, 1, h, w)
    img2 = torch.empty(n, 1, h, w)
    flow = torch.empty(n, 2, h, w)
    drawn = []
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    for i in range(n):
        kind = kinds[int(torch.randint(0, len(kinds), (1,), generator=generator))]
        field = RandomFlow.sample(kind, (h, w), max_flow, generator)
        img1[i], img2[i] = _one_pair(
            sources[i % len(sources)], field, (h, w), factor, margin, generator
        )
        flow[i] = field(xs, ys).float()
        drawn.append(kind)
    return FlowPairs(img1, img2, flow, drawn)
