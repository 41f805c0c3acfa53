r"""How much a representation changes when the input is transformed.

Transforms (all keep the image size, fill with zeros, i.e. background, outside the image):

- :func:`translate` — an integer shift :math:`x'(i, j) = x(i - \delta_y, j - \delta_x)`.
- :func:`rescale` — a zoom about the image centre by ``factor`` (``0.5`` halves the digit,
  ``1.5`` enlarges it), bilinear.
- :func:`elastic_deform` — Simard et al. (2003): a random displacement field with entries
  uniform in [-1, 1] per pixel, smoothed by a Gaussian of width ``sigma`` pixels and scaled by
  ``alpha`` pixels, then bilinear resampling.

Measures:

- :func:`representation_similarity` — per example, the cosine similarity
  :math:`\cos(f(x), f(T x)) = \langle f(x), f(Tx)\rangle / (\|f(x)\|\,\|f(Tx)\|)` of flattened
  features (1 = unchanged direction).
- :func:`prediction_change` — the share of examples whose arg-max class changes.

Convention: images are ``Tensor[B, C, H, W]``; ``shift = (dy, dx)`` with positive ``dy`` moving
content down and positive ``dx`` moving it right.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .._validation import ValidationError, check_finite, check_in_range, check_shape

__all__ = [
    "elastic_deform",
    "prediction_change",
    "representation_similarity",
    "rescale",
    "translate",
]


def translate(images: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """Shift images by whole pixels, filling the uncovered border with zeros.

    Args:
        images: Tensor[B, C, H, W].
        shift: ``(dy, dx)`` in pixels (positive: down / right).

    Returns:
        Tensor[B, C, H, W].

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
        >>> translate(x, (0, 1))[0, 0].tolist()
        [[0.0, 0.0], [0.0, 2.0]]
    """
    check_shape(images, "B C H W", name="images")
    if len(shift) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in shift):
        raise ValidationError(f"shift must be a pair of ints (dy, dx), got {shift!r}")
    dy, dx = shift
    h, w = images.shape[-2:]
    out = torch.zeros_like(images)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_y = slice(max(0, -dy), h - max(0, dy))
    dst_y = slice(max(0, dy), h - max(0, -dy))
    src_x = slice(max(0, -dx), w - max(0, dx))
    dst_x = slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = images[..., src_y, src_x]
    return out


def _sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def rescale(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom images about their centre by ``factor``, keeping their size.

    Output pixel at normalised position :math:`u` reads the input at :math:`u / \\text{factor}`
    (bilinear, zeros outside), so ``factor < 1`` shrinks the content and ``factor > 1`` enlarges
    and crops it.

    Args:
        images: Tensor[B, C, H, W], floating point.
        factor: zoom factor > 0.

    Returns:
        Tensor[B, C, H, W]; ``factor = 1`` returns the images unchanged (up to rounding).
    """
    check_shape(images, "B C H W", name="images")
    factor = check_in_range(factor, name="factor", low=0.0, low_inclusive=False)
    theta = torch.zeros(images.shape[0], 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factor
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return _sample(images, grid)


def _gaussian_blur(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of Tensor[B, C, H, W] with zero padding (kernel radius 3σ)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=field.dtype, device=field.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = field.shape[1]
    kx = kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    field = F.conv2d(field, kx, padding=(0, radius), groups=c)
    return F.conv2d(field, ky, padding=(radius, 0), groups=c)


def elastic_deform(
    images: torch.Tensor,
    alpha: float,
    sigma: float = 1.0,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Simard-style elastic deformation with one random field per image.

    The displacement (in pixels) is :math:`\\Delta = \\alpha\\, G_\\sigma * U`, with :math:`U`
    uniform in [-1, 1] per pixel and direction; each output pixel reads the input at its own
    position plus :math:`\\Delta` (bilinear, zeros outside).

    Args:
        images: Tensor[B, C, H, W], floating point.
        alpha: displacement scale in pixels (>= 0; 0 returns the images unchanged).
        sigma: smoothness of the field, Gaussian standard deviation in pixels (> 0).
        generator: random source of the fields.

    Returns:
        Tensor[B, C, H, W].
    """
    check_shape(images, "B C H W", name="images")
    alpha = check_in_range(alpha, name="alpha", low=0.0)
    sigma = check_in_range(sigma, name="sigma", low=0.0, low_inclusive=False)
    b, _, h, w = images.shape
    noise = torch.rand(b, 2, h, w, generator=generator, dtype=images.dtype) * 2 - 1
    disp = alpha * _gaussian_blur(noise.to(images.device), sigma)  # (B, 2, H, W): (dx, dy) px
    ys = torch.arange(h, dtype=images.dtype, device=images.device)
    xs = torch.arange(w, dtype=images.dtype, device=images.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    # pixel centre i maps to normalised (2i + 1) / n - 1 with align_corners=False
    sx = (2 * (gx + disp[:, 0]) + 1) / w - 1
    sy = (2 * (gy + disp[:, 1]) + 1) / h - 1
    return _sample(images, torch.stack([sx, sy], dim=-1))


def representation_similarity(
    features: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    transformed: torch.Tensor,
    *,
    eps: float = 1e-12,
) -> torch.Tensor:
    """Cosine similarity of ``features(images)`` and ``features(transformed)``, per example.

    Args:
        features: maps a batch to features of any shape ``(B, ...)`` (flattened here), e.g. a
            CNN without its output layer, ``model[:-1]``.
        images: Tensor[B, ...].
        transformed: Tensor of the same shape as ``images``.
        eps: floor on the norms (two all-zero feature vectors count as similarity 0).

    Returns:
        Tensor[B] in [-1, 1], computed without gradients.
    """
    if images.shape != transformed.shape:
        raise ValidationError(
            f"images and transformed must have the same shape, got {tuple(images.shape)} and "
            f"{tuple(transformed.shape)}"
        )
    check_finite(transformed, name="transformed")
    with torch.no_grad():
        a = features(images).flatten(1)
        b = features(transformed).flatten(1)
    return F.cosine_similarity(a, b, dim=1, eps=eps)


def prediction_change(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    transformed: torch.Tensor,
) -> float:
    """Share of examples whose predicted class ``argmax model(x)`` changes under the transform."""
    if images.shape != transformed.shape:
        raise ValidationError(
            f"images and transformed must have the same shape, got {tuple(images.shape)} and "
            f"{tuple(transformed.shape)}"
        )
    with torch.no_grad():
        before = model(images).argmax(dim=1)
        after = model(transformed).argmax(dim=1)
    return float((before != after).float().mean())
