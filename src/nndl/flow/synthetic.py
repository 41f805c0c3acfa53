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
    "BENCHMARK_SETTINGS",
    "FLOW_KINDS",
    "HELDOUT_IMAGES",
    "TRAIN_IMAGES",
    "BenchmarkSettings",
    "FlowPairs",
    "RandomFlow",
    "benchmark_pairs",
    "load_source_image",
    "make_flow_pairs",
    "photometric_jitter",
    "translated_pair",
]

#: photographs used to make training pairs (``skimage.data`` names, and ``"china"`` from
#: :func:`sklearn.datasets.load_sample_image`).
TRAIN_IMAGES: tuple[str, ...] = (
    "china",
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
#: photographs kept out of training, for held-out evaluation (``"flower"`` is scikit-learn's).
HELDOUT_IMAGES: tuple[str, ...] = ("camera", "coffee", "flower")
#: kinds of random flow :func:`make_flow_pairs` draws (``"piecewise"``: a foreground object
#: moving over a background flow, with occlusions; see :func:`make_flow_pairs`).
FLOW_KINDS: tuple[str, ...] = ("translation", "affine", "smooth", "mixed", "piecewise")
_SKLEARN_IMAGES = {"china": "china.jpg", "flower": "flower.jpg"}


def load_source_image(name: str, *, gray: bool = True) -> Tensor:
    """A bundled photograph (``skimage.data`` or scikit-learn) as float32 Tensor[C, H, W] in [0, 1].

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
    if name in _SKLEARN_IMAGES:
        from sklearn.datasets import load_sample_image

        raw = load_sample_image(_SKLEARN_IMAGES[name])
    else:
        from skimage import data

        raw = getattr(data, name)()
    arr = torch.from_numpy(raw.astype("float32"))
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
        if kind == "piecewise":
            raise ValidationError(
                "a piecewise flow is not one smooth field: make_flow_pairs draws it as a "
                "background field plus a moving object"
            )
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
        clean: with ``make_flow_pairs(..., photometric=True, keep_clean=True)``, the two images
            before the photometric changes (same geometry); else None.
    """

    img1: Tensor
    img2: Tensor
    flow: Tensor
    kinds: list[str]
    clean: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return self.img1.shape[0]

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(img1, img2, flow)``, e.g. for :class:`nndl.train.Trainer`."""
        return self.img1, self.img2, self.flow


def _rand(generator: torch.Generator | None, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand(1, generator=generator))


def photometric_jitter(
    img: Tensor,
    generator: torch.Generator | None = None,
    *,
    gain: float = 0.2,
    offset: float = 0.08,
    gamma: float = 0.25,
    blur: float = 1.0,
    noise: float = 0.02,
) -> Tensor:
    r"""Random photometric change of one exposure, as between two frames of a real camera.

    Each image of the batch gets its own draw: a gain :math:`g \sim U[1 - a, 1 + a]`, an offset
    :math:`o \sim U[-b, b]`, a gamma :math:`\gamma = e^{t},\ t \sim U[-c, c]`, a Gaussian blur
    of :math:`\sigma \sim U[0, s]` (with probability 1/2) and Gaussian noise of standard
    deviation :math:`U[0, n]`; the result is clipped to [0, 1] as a sensor would:

    .. math:: I' = \operatorname{clip}\big(g \, (G_\sigma * I)^{\gamma} + o + n\,\xi\big).

    Args:
        img: Tensor[B, C, H, W] in [0, 1].
        generator: for reproducible draws.
        gain, offset, gamma, blur, noise: the ranges ``a, b, c, s, n`` (>= 0; 0 = no change).

    Returns:
        Tensor[B, C, H, W] in [0, 1].
    """
    from ._filters import gaussian_blur

    for value, name in (
        (gain, "gain"),
        (offset, "offset"),
        (gamma, "gamma"),
        (blur, "blur"),
        (noise, "noise"),
    ):
        check_in_range(value, name=name, low=0.0, high=1e3)
    out = []
    for x in img.unbind(0):
        x = x[None]
        sigma = _rand(generator, 0.0, blur) if _rand(generator) < 0.5 else 0.0
        if sigma > 0.05:
            x = gaussian_blur(x, sigma)
        x = x.clamp(0, 1) ** math.exp(_rand(generator, -gamma, gamma))
        x = x * _rand(generator, 1 - gain, 1 + gain) + _rand(generator, -offset, offset)
        sd = _rand(generator, 0.0, noise)
        x = x + sd * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        out.append(x.clamp(0, 1))
    return torch.cat(out)


def _fine_grid(
    hh: int, ww: int, margin: int, factor: int, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    # output-pixel coordinates of the fine grid: fine X has output x = (X - margin + 0.5)/k - 0.5
    ys, xs = torch.meshgrid(
        (torch.arange(hh, dtype=dtype) - margin + 0.5) / factor - 0.5,
        (torch.arange(ww, dtype=dtype) - margin + 0.5) / factor - 0.5,
        indexing="ij",
    )
    return ys, xs


def _crop(source: Tensor, hh: int, ww: int, generator: torch.Generator | None) -> Tensor:
    _, sh, sw = source.shape
    oy = int(torch.randint(0, sh - hh + 1, (1,), generator=generator))
    ox = int(torch.randint(0, sw - ww + 1, (1,), generator=generator))
    crop = source[:, oy : oy + hh, ox : ox + ww]
    if float(torch.rand(1, generator=generator)) < 0.5:
        crop = crop.flip(-1)
    return crop


def _ellipse(
    xs: Tensor, ys: Tensor, size: tuple[int, int], generator: torch.Generator | None
) -> Tensor:
    """A random filled ellipse (1 inside) on the coordinates ``xs, ys`` (output pixels)."""
    h, w = size
    cx, cy = _rand(generator, 0.2, 0.8) * w, _rand(generator, 0.2, 0.8) * h
    ra = _rand(generator, 0.12, 0.3) * min(h, w)
    rb = _rand(generator, 0.12, 0.3) * min(h, w)
    t = _rand(generator, 0.0, math.pi)
    dx, dy = xs - cx, ys - cy
    a = (dx * math.cos(t) + dy * math.sin(t)) / ra
    b = (-dx * math.sin(t) + dy * math.cos(t)) / rb
    return (a * a + b * b <= 1).to(xs.dtype)


def _one_pair(
    source: Tensor,
    field: RandomFlow,
    size: tuple[int, int],
    factor: int,
    margin: int,
    generator: torch.Generator | None,
    foreground: tuple[Tensor, tuple[float, float]] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(img1, img2, flow)`` at the output size; ``foreground = (source, (u, v))`` adds a moving
    object (an ellipse cut from ``source``) over the background."""
    h, w = size
    hh, ww = h * factor + 2 * margin, w * factor + 2 * margin
    crop = _crop(source, hh, ww, generator)
    ys, xs = _fine_grid(hh, ww, margin, factor, torch.float64)
    fine_flow = (field(xs, ys) * factor).to(crop.dtype)
    img1 = warp(crop[None], fine_flow[None])[0]
    img2 = crop
    inner = (slice(None), slice(margin, margin + h * factor), slice(margin, margin + w * factor))
    oys, oxs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    flow = field(oxs, oys).to(crop.dtype)
    if foreground is not None:
        fg_source, (tu, tv) = foreground
        obj = _crop(fg_source, hh, ww, generator).flip(-2)
        mask2 = _ellipse(xs, ys, size, generator).to(crop.dtype)[None]  # object in img2
        img2 = mask2 * obj + (1 - mask2) * crop
        shift = torch.tensor([tu * factor, tv * factor], dtype=crop.dtype).view(1, 2, 1, 1)
        shift = shift.expand(1, 2, hh, ww)
        mask1 = warp(mask2[None], shift)[0]  # pixel x of img1 shows the object at x + t
        img1 = mask1 * warp(obj[None], shift)[0] + (1 - mask1) * img1
        on_object = _block_mean(mask1[inner][None], factor)[0] > 0.5
        t = torch.tensor([tu, tv], dtype=crop.dtype).view(2, 1, 1)
        flow = torch.where(on_object, t.expand_as(flow), flow)
    return (
        _block_mean(img1[inner][None], factor)[0],
        _block_mean(img2[inner][None], factor)[0],
        flow,
    )


def make_flow_pairs(
    n: int,
    size: tuple[int, int] = (64, 64),
    *,
    max_flow: float = 6.0,
    kinds: tuple[str, ...] = ("affine", "smooth", "mixed"),
    images: tuple[str, ...] = TRAIN_IMAGES,
    factor: int = 2,
    source_scale: float = 0.5,
    photometric: bool = False,
    keep_clean: bool = False,
    generator: torch.Generator | None = None,
) -> FlowPairs:
    """``n`` random pairs with known flow (see the module docstring).

    Kind ``"piecewise"`` is a background flow (``"affine"`` or ``"smooth"``) with a foreground
    object (an ellipse cut from the next source image) translating by its own random vector of
    length up to ``max_flow``; the object hides background pixels of the second image that the
    first image shows (occlusions) and the true flow is the object's motion on its pixels of the
    first image. With ``photometric=True`` the second image gets a random
    :func:`photometric_jitter` and the first one noise of σ up to 0.02.

    Args:
        n: number of pairs (>= 1).
        size: output (H, W) of every image.
        max_flow: the largest displacement of any pair, in output pixels.
        kinds: flow kinds to draw from, uniformly (see :meth:`RandomFlow.sample`).
        images: source image names (:data:`TRAIN_IMAGES`, :data:`HELDOUT_IMAGES`), cycled
            through in order.
        factor: super-sampling factor of the warp (1 = warp at the output resolution).
        source_scale: the photographs are first resized by this factor (antialiased), so that a
            crop shows more of the scene (0 < scale <= 1; never below what a crop needs).
        photometric: apply the photometric changes of real pairs (see above).
        keep_clean: with ``photometric``, also keep the unchanged images (``FlowPairs.clean``).
        generator: for reproducible pairs.

    Returns:
        :class:`FlowPairs` with grey images (C = 1).

    Raises:
        ValidationError: a bad count, size, kind or image name, or a source image too small
            for ``size · factor`` plus the margin the flow needs.
    """
    n = check_int(n, name="n", low=1)
    h = check_int(size[0], name="size[0]", low=4, high=4096)
    w = check_int(size[1], name="size[1]", low=4, high=4096)
    factor = check_int(factor, name="factor", low=1, high=16)
    check_in_range(max_flow, name="max_flow", low=0.0, high=float(max(h, w)))
    if not kinds:
        raise ValidationError("kinds must name at least one flow kind")
    for kind in kinds:
        check_choice(kind, FLOW_KINDS, name="flow kind")
    if not images:
        raise ValidationError("images must name at least one source image")
    for name in images:
        if name not in TRAIN_IMAGES + HELDOUT_IMAGES:
            raise ValidationError(
                unknown_name_message("source image", str(name), TRAIN_IMAGES + HELDOUT_IMAGES)
            )
    scale = check_in_range(
        source_scale, name="source_scale", low=0.0, high=1.0, low_inclusive=False
    )
    margin = math.ceil(max_flow * factor) + 2
    need = (h * factor + 2 * margin, w * factor + 2 * margin)
    sources = []
    for name in images[: max(n, 2)]:  # pairs cycle through the images
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
    clean = (torch.empty(n, 1, h, w), torch.empty(n, 1, h, w)) if keep_clean else None
    drawn = []
    for i in range(n):
        kind = kinds[int(torch.randint(0, len(kinds), (1,), generator=generator))]
        foreground = None
        if kind == "piecewise":
            background = ("affine", "smooth")[int(_rand(generator) < 0.5)]
            field = RandomFlow.sample(background, (h, w), max_flow, generator)
            radius = max_flow * math.sqrt(_rand(generator))
            angle = _rand(generator, 0.0, 2 * math.pi)
            t = (radius * math.cos(angle), radius * math.sin(angle))
            foreground = (sources[(i + 1) % len(sources)], t)
        else:
            field = RandomFlow.sample(kind, (h, w), max_flow, generator)
        a, b, f = _one_pair(
            sources[i % len(sources)], field, (h, w), factor, margin, generator, foreground
        )
        if clean is not None:
            clean[0][i], clean[1][i] = a, b
        if photometric:
            b = photometric_jitter(b[None], generator)[0]
            a = photometric_jitter(
                a[None], generator, gain=0, offset=0, gamma=0, blur=0, noise=0.02
            )[0]
        img1[i], img2[i], flow[i] = a, b, f.float()
        drawn.append(kind)
    return FlowPairs(img1, img2, flow, drawn, clean if photometric else None)


@dataclass(frozen=True)
class BenchmarkSettings:
    """How :func:`benchmark_pairs` draws the held-out benchmark (the model card's numbers)."""

    n: int = 24
    size: tuple[int, int] = (160, 160)
    max_flow: float = 12.0
    kinds: tuple[str, ...] = ("affine", "smooth", "mixed", "piecewise")
    images: tuple[str, ...] = HELDOUT_IMAGES
    seed: int = 2024


#: the settings of :func:`benchmark_pairs`.
BENCHMARK_SETTINGS = BenchmarkSettings()


def benchmark_pairs(n: int | None = None, *, photometric: bool = True) -> FlowPairs:
    """The held-out benchmark: pairs made only from :data:`HELDOUT_IMAGES`, never trained on.

    ``n`` (default 24) pairs of 160 × 160 pixels, flows up to 12 px of the kinds ``affine``,
    ``smooth``, ``mixed`` and ``piecewise``, with the photometric changes of real pairs
    (:func:`photometric_jitter`; ``photometric=False`` gives the same pairs before those
    changes), drawn with the fixed seed of :data:`BENCHMARK_SETTINGS` so that every run scores
    the same pairs (the first ``n`` of them).
    """
    cfg = BENCHMARK_SETTINGS
    count = cfg.n if n is None else check_int(n, name="n", low=1, high=10_000)
    pairs = make_flow_pairs(
        count,
        cfg.size,
        max_flow=cfg.max_flow,
        kinds=cfg.kinds,
        images=cfg.images,
        photometric=True,
        keep_clean=not photometric,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    if photometric:
        return pairs
    assert pairs.clean is not None  # keep_clean
    return FlowPairs(pairs.clean[0], pairs.clean[1], pairs.flow, pairs.kinds)
