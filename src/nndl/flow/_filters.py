"""Small image filters shared by the flow and stereo estimators."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import check_int, check_shape

__all__ = ["gaussian_blur", "gradients", "median_filter"]


def gaussian_blur(img: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of Tensor[B, C, H, W] (radius ⌈3σ⌉).

    Borders are reflected, or replicated where the image is not wider than the radius.
    """
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    k = k / k.sum()
    c = img.shape[1]
    mode_h = "reflect" if radius < img.shape[-1] else "replicate"
    mode_v = "reflect" if radius < img.shape[-2] else "replicate"
    out = F.pad(img, (radius, radius, 0, 0), mode=mode_h)
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode=mode_v)
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def gradients(img: Tensor) -> Tensor:
    """Central differences (replicated borders): Tensor[B, 1, H, W] -> Tensor[B, 2, H, W] (x, y)."""
    padded = F.pad(img, (1, 1, 1, 1), mode="replicate")
    ix = 0.5 * (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2])
    iy = 0.5 * (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1])
    return torch.cat([ix, iy], 1)


def median_filter(x: Tensor, size: int = 3) -> Tensor:
    """Median over ``size × size`` windows (edges replicated) of a Tensor[B, H, W]."""
    check_shape(x, "B H W", name="x")
    size = check_int(size, name="size", low=1)
    if size == 1:
        return x
    r = size // 2
    padded = F.pad(x.unsqueeze(1), (r, size - 1 - r, r, size - 1 - r), mode="replicate")
    windows = F.unfold(padded, size)  # (B, size², H·W)
    return windows.median(dim=1).values.view_as(x)
