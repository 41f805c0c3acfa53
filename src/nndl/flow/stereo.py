r"""Dense disparity from a rectified stereo pair: census cost volume, SGM, checks, sub-pixel.

Pipeline of :func:`estimate_disparity` (each step is a public function):

1. **Matching cost.** The census transform (Zabih & Woodfill 1994) codes each pixel by which of
   its ``h × w − 1`` neighbours are darker than it; coded as ±1 the Hamming distance of two codes
   is a dot product, :math:`\mathrm{ham}(a, b) = (n - a \cdot b)/2`, so the whole cost volume is
   one call of :func:`nndl.ops.cost_volume_1d` with ``reduction="sum"``. Census depends only on
   the order of intensities, so it is robust to the gain and bias differences between cameras.
2. **Aggregation.** Semi-global matching over 8 paths
   (:func:`~nndl.flow.semi_global_aggregation`).
3. **Winner-take-all** over the aggregated costs, then a **sub-pixel** fit through the costs at
   ``d* − 1, d*, d* + 1`` (:func:`subpixel_minimum`). A parabola through SGM's aggregated costs
   is biased towards whole pixels (≈ 0.17 px at quarter-pixel disparities: the min-operations of
   the recursion distort the cost curve), so the fit uses the raw census costs averaged over a
   small window and an equiangular ("V") model, which suits Hamming costs.
4. **Left-right consistency.** The right image's disparity comes from the same aggregated
   volume, :math:`d_R(x) = \arg\min_d S(x + d, d)`; a left pixel is kept only if
   :math:`|d_L(x) - d_R(x - d_L(x))| \le` ``lr_threshold`` and its match lies inside the right
   image. Occlusions and mismatches fail this check.
5. **Clean-up.** A 3 × 3 median filter, then small connected regions of similar disparity
   ("speckles", typically mismatches) are marked invalid, as in OpenCV's ``filterSpeckles``.

The result keeps the invalid pixels marked; :func:`~nndl.flow.fill_holes` makes it dense.

Convention: left pixel ``x`` matches right pixel ``x − d`` (``d >= 0``), as in
:func:`nndl.ops.cost_volume_1d` and the Middlebury ground truth.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import ValidationError, check_choice, check_in_range, check_int, check_shape
from ..ops import cost_volume_1d
from ._checks import check_image_pair, to_gray
from ._filters import median_filter
from .sgm import semi_global_aggregation

__all__ = [
    "DisparityEstimate",
    "census_transform",
    "estimate_disparity",
    "left_right_check",
    "median_filter",
    "remove_speckles",
    "subpixel_minimum",
]


class DisparityEstimate(NamedTuple):
    """What :func:`estimate_disparity` returns.

    Attributes:
        disparity: Tensor[B, H, W] (or [H, W] for unbatched input), float, in pixels; defined
            everywhere (the winner-take-all value also where the checks failed).
        valid: bool tensor of the same shape, True where the estimate passed the left-right
            check and the speckle filter.
    """

    disparity: Tensor
    valid: Tensor


def _check_window(window: tuple[int, int]) -> tuple[int, int]:
    if not isinstance(window, tuple | list) or len(window) != 2:
        raise ValidationError(f"census window must be (height, width), got {window!r}")
    for v, n in zip(window, ("window height", "window width"), strict=True):
        check_int(v, name=n, low=1)
        if v % 2 == 0:
            raise ValidationError(f"{n} must be odd, got {v}")
    return int(window[0]), int(window[1])


def census_transform(image: Tensor, window: tuple[int, int] = (9, 7)) -> Tensor:
    """Census codes as ±1 features: +1 where a neighbour is darker than the centre pixel.

    Args:
        image: Tensor[B, 1, H, W] (grey; use :func:`~nndl.flow._checks.to_gray` first).
        window: odd (height, width) of the neighbourhood; borders replicate the edge pixels.

    Returns:
        Tensor[B, h·w − 1, H, W] of ±1 in the image's dtype. For two codes ``a``, ``b`` the
        Hamming distance is ``(h·w − 1 − a·b) / 2``.
    """
    check_shape(image, "B 1 H W", name="image")
    h, w = _check_window(window)
    b, _, rows, cols = image.shape
    padded = F.pad(image, (w // 2, w // 2, h // 2, h // 2), mode="replicate")
    patches = F.unfold(padded, (h, w)).view(b, h * w, rows, cols)
    centre = (h * w) // 2
    neighbours = torch.cat([patches[:, :centre], patches[:, centre + 1 :]], dim=1)
    one = torch.ones((), dtype=image.dtype, device=image.device)
    return torch.where(neighbours < patches[:, centre : centre + 1], one, -one)


def subpixel_minimum(
    cost: Tensor, d_int: Tensor | None = None, fit: str = "parabola"
) -> tuple[Tensor, Tensor]:
    r"""Winner-take-all over dimension 1 with a sub-pixel fit through three costs.

    With :math:`S_-, S_0, S_+` the costs at ``d* − 1, d*, d* + 1``:

    - ``"parabola"``: :math:`\hat d = d^* + \frac{S_- - S_+}{2(S_- - 2S_0 + S_+)}`;
    - ``"equiangular"`` (a "V" of equal slopes, exact for costs piecewise linear in the
      disparity, like sums of absolute differences or census):
      :math:`\hat d = d^* + \frac{S_- - S_+}{2(\max(S_-, S_+) - S_0)}`.

    Args:
        cost: Tensor[B, D, H, W] of costs (lower is better).
        d_int: optional int64 Tensor[B, H, W] of the winners to refine (e.g. taken from another,
            aggregated volume); by default the arg-min of ``cost``.
        fit: ``"parabola"`` or ``"equiangular"``.

    Returns:
        ``(d_sub, d_int)``: Tensor[B, H, W] float sub-pixel disparity in ``[0, D − 1]`` and the
        integer winners (int64). The offset is clamped to [−½, ½] and 0 at the ends of the
        range or where the three costs have no minimum in the middle.
    """
    check_shape(cost, "B D H W", name="cost")
    check_choice(fit, ("parabola", "equiangular"), name="sub-pixel fit")
    n_disp = cost.shape[1]
    if d_int is None:
        d_int = cost.argmin(1)
    else:
        check_shape(d_int, [cost.shape[0], cost.shape[2], cost.shape[3]], name="d_int")
    if n_disp < 3:
        return d_int.to(cost.dtype), d_int
    centre = d_int.clamp(1, n_disp - 2).unsqueeze(1)
    c_minus = cost.gather(1, centre - 1)[:, 0]
    c_zero = cost.gather(1, centre)[:, 0]
    c_plus = cost.gather(1, centre + 1)[:, 0]
    if fit == "parabola":
        denom = c_minus - 2 * c_zero + c_plus
    else:
        denom = 2 * (torch.maximum(c_minus, c_plus) - c_zero)
    inside = (d_int >= 1) & (d_int <= n_disp - 2) & (denom > 0)
    scale = 2 if fit == "parabola" else 1
    offset = (c_minus - c_plus) / (scale * denom.clamp_min(torch.finfo(cost.dtype).tiny))
    offset = torch.where(inside, offset.clamp(-0.5, 0.5), torch.zeros_like(offset))
    return d_int.to(cost.dtype) + offset, d_int


def left_right_check(cost: Tensor, d_left: Tensor, threshold: float = 1.0) -> Tensor:
    r"""Left-right consistency from one aggregated volume: True where the two views agree.

    The right view's winner is :math:`d_R(x) = \arg\min_d S(x + d, d)`; a left pixel passes if its
    match :math:`x - d_L(x)` is inside the image and :math:`|d_L(x) - d_R(x - d_L(x))| \le`
    ``threshold``.

    Args:
        cost: Tensor[B, D, H, W], the aggregated costs of the left view.
        d_left: Tensor[B, H, W] int64, the left winners.
        threshold: allowed disagreement in pixels (>= 0).

    Returns:
        bool Tensor[B, H, W].
    """
    check_in_range(threshold, name="threshold", low=0.0)
    b, n_disp, h, w = cost.shape
    right = torch.full_like(cost, float("inf"))
    for d in range(n_disp):  # right pixel x sees left pixel x + d
        right[:, d, :, : w - d] = cost[:, d, :, d:]
    d_right = right.argmin(1)
    xs = torch.arange(w, device=cost.device).expand(b, h, w)
    match = xs - d_left
    inside = match >= 0
    partner = d_right.gather(2, match.clamp(0, w - 1))
    return inside & ((partner - d_left).abs() <= threshold)


def remove_speckles(
    disparity: Tensor, valid: Tensor, max_size: int = 100, max_diff: float = 2.0
) -> Tensor:
    """Mark small regions of similar disparity invalid (OpenCV's ``filterSpeckles`` rule).

    Two 4-neighbours belong to one region if both are valid and their disparities differ by at
    most ``max_diff``; regions with fewer than ``max_size`` pixels are removed. Connected
    components come from :func:`scipy.sparse.csgraph.connected_components` (on the CPU).

    Args:
        disparity: Tensor[B, H, W].
        valid: bool Tensor[B, H, W].
        max_size: regions smaller than this are removed (0 disables the filter).
        max_diff: largest disparity step inside a region, in pixels.

    Returns:
        The new bool validity mask, Tensor[B, H, W] on ``valid``'s device.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    sizes = check_shape(disparity, "B H W", name="disparity")
    check_shape(valid, "B H W", name="valid", sizes=sizes)
    max_size = check_int(max_size, name="max_size", low=0)
    check_in_range(max_diff, name="max_diff", low=0.0)
    if max_size == 0:
        return valid
    out = []
    for d, ok in zip(disparity.detach().cpu().numpy(), valid.cpu().numpy(), strict=True):
        h, w = d.shape
        index = np.arange(h * w).reshape(h, w)
        # 4-neighbour links between valid pixels whose disparities differ by <= max_diff
        across = ok[:, 1:] & ok[:, :-1] & (np.abs(d[:, 1:] - d[:, :-1]) <= max_diff)
        down = ok[1:] & ok[:-1] & (np.abs(d[1:] - d[:-1]) <= max_diff)
        src = np.concatenate([index[:, 1:][across], index[1:][down]])
        dst = np.concatenate([index[:, :-1][across], index[:-1][down]])
        graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(h * w, h * w))
        _, labels = connected_components(graph, directed=False)
        region_size = np.bincount(labels)[labels].reshape(h, w)
        out.append(ok & (region_size >= max_size))
    return torch.from_numpy(np.stack(out)).to(valid.device)


def _textured(gray: Tensor, window: tuple[int, int], fraction: float) -> Tensor:
    """Bool Tensor[B, H, W]: the window's intensity std is >= ``fraction`` of the image range."""
    kh, kw = window
    pad = (kw // 2, kw // 2, kh // 2, kh // 2)
    x = gray.double()
    mean = F.avg_pool2d(F.pad(x, pad, mode="replicate"), (kh, kw), 1)
    mean_sq = F.avg_pool2d(F.pad(x * x, pad, mode="replicate"), (kh, kw), 1)
    std = (mean_sq - mean * mean).clamp_min(0).sqrt()[:, 0]
    span = (x.amax((1, 2, 3)) - x.amin((1, 2, 3))).view(-1, 1, 1)
    return (std >= fraction * span) & (span > 0)


def estimate_disparity(
    left: Tensor,
    right: Tensor,
    max_disparity: int,
    *,
    census_window: tuple[int, int] = (9, 7),
    p1: float = 8.0,
    p2: float = 32.0,
    paths: int = 8,
    lr_threshold: float = 1.0,
    median_size: int = 3,
    speckle_size: int = 100,
    speckle_range: float = 2.0,
    subpixel_window: int = 5,
    min_texture: float = 1 / 255,
) -> DisparityEstimate:
    r"""Disparity of a rectified pair: census, SGM, winner-take-all, sub-pixel, LR check.

    See the module docstring for the pipeline. The penalties ``p1``, ``p2`` are in units of the
    census cost (differing bits; a 9 × 7 window has 62).

    Args:
        left: Tensor[C, H, W] or Tensor[B, C, H, W], the left image (any range; grey or RGB).
        right: the right image, same shape.
        max_disparity: ``D``; disparities ``0 … D − 1`` are searched (1 <= D <= W).
        census_window: odd (height, width) of the census neighbourhood.
        p1, p2: SGM penalties (0 <= p1 <= p2).
        paths: SGM directions, 2, 4 or 8.
        lr_threshold: largest left-right disagreement kept, in pixels.
        median_size: median filter size (1 disables it).
        speckle_size: regions smaller than this many pixels are marked invalid (0 disables).
        speckle_range: largest disparity step within one region.
        subpixel_window: side of the box window the raw census costs are averaged over for
            the sub-pixel fit (1 = the raw costs).
        min_texture: pixels whose census window (in the left image) has an intensity standard
            deviation below this fraction of the left image's intensity range (default: one
            grey level of an 8-bit image) are marked invalid: with no texture every disparity
            matches equally well (0 disables; a constant image has no valid pixel).

    Returns:
        :class:`DisparityEstimate` ``(disparity, valid)``, each (B, H, W) — or (H, W) when the
        inputs were 3-D.

    Raises:
        ShapeError: the images are not 3-D/4-D or differ in size.
        DTypeError: not floating point.
        ValidationError: a NaN or infinite pixel, ``max_disparity`` outside [1, W] or another
            bad option.

    Example:
        >>> img = torch.rand(1, 32, 48)
        >>> right = torch.roll(img, -3, dims=-1)  # left x <-> right x - 3
        >>> est = estimate_disparity(img, right, 8, speckle_size=0)
        >>> round(est.disparity[8:-8, 12:-8].median().item())
        3
    """
    a, b, squeezed = check_image_pair(left, right, names=("left", "right"))
    width = a.shape[-1]
    n_disp = check_int(max_disparity, name="max_disparity", low=1, high=width)
    check_in_range(lr_threshold, name="lr_threshold", low=0.0)
    window = check_int(subpixel_window, name="subpixel_window", low=1)
    # everything else is checked again where it is used; check it here before any work
    check_in_range(p2, name="p2", low=check_in_range(p1, name="p1", low=0.0))
    if paths not in (2, 4, 8):
        raise ValidationError(f"paths must be 2, 4 or 8, got {paths!r}")
    check_int(median_size, name="median_size", low=1)
    check_int(speckle_size, name="speckle_size", low=0)
    check_in_range(speckle_range, name="speckle_range", low=0.0)
    _check_window(census_window)
    texture = check_in_range(min_texture, name="min_texture", low=0.0, high=1.0)
    with torch.no_grad():
        a_codes = census_transform(to_gray(a), census_window)
        b_codes = census_transform(to_gray(b), census_window)
        n_bits = a_codes.shape[1]
        # Hamming distance = (n - a·b) / 2; outside the right image the product is 0 (n/2 bits)
        cost = (n_bits - cost_volume_1d(a_codes, b_codes, n_disp, reduction="sum")) * 0.5
        total = semi_global_aggregation(cost, p1, p2, paths)
        d_int = total.argmin(1)
        valid = left_right_check(total, d_int, lr_threshold)
        # sub-pixel from the locally averaged raw costs: SGM's min-operations make the
        # aggregated costs pixel-locked, the raw census costs keep the sub-pixel shape
        if window > 1:
            cost = F.avg_pool2d(cost, window, 1, window // 2, count_include_pad=False)
            cost = cost[..., : d_int.shape[-2], : d_int.shape[-1]]
        disparity, _ = subpixel_minimum(cost, d_int, fit="equiangular")
        disparity = median_filter(disparity, median_size)
        if texture > 0:
            valid = valid & _textured(to_gray(a), census_window, texture)
        valid = remove_speckles(disparity, valid, speckle_size, speckle_range)
    if squeezed:
        return DisparityEstimate(disparity[0], valid[0])
    return DisparityEstimate(disparity, valid)
