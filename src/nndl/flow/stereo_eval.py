r"""Scoring rectified stereo against ground truth, and the matchers people compare with (C1).

- :func:`score_disparity`: coverage, bad-:math:`\tau` and mean absolute error of a disparity
  map on the pixels it covers, and again after the KITTI background filling of its holes
  (:func:`~nndl.flow.fill_holes`), so coverage cannot buy accuracy.
- :func:`compare_stereo`: every matcher on the same pair, timed (CPU time) and scored as above,
  with its maps kept for pictures (:class:`StereoRun`).
- :func:`zncc_disparity`: the plain local baseline — winner-take-all over a 1-D cost volume
  of zero-mean, unit-norm patch vectors (ZNCC), with a sub-pixel parabola.
- :func:`stereo_methods`: the matchers of the comparison by name (nndl's
  :func:`~nndl.flow.estimate_disparity`, the ZNCC baseline and, if importable, OpenCV's).
- :func:`opencv_matchers`: OpenCV's StereoBM (block 9) and StereoSGBM (3-way, block 5,
  colour, :math:`P_1 = 8 \cdot 3 \cdot 25`, :math:`P_2 = 32 \cdot 3 \cdot 25`), one thread.
- :func:`disparity_sign_check`: mean :math:`|I_L(x) - I_R(x \mp d)|` over ground-truth pixels,
  which confirms the convention "left x matches right x − d" photometrically.
- :func:`downsample_stereo`: a pair and its disparity at 1/k resolution.

Images are Tensor[C, H, W] in [0, 1]; disparities Tensor[H, W] in pixels, NaN where unknown.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import ValidationError, check_in_range, check_int, check_shape
from ..data import to_gray
from ..ops import cost_volume_1d
from .classical import patch_features
from .holes import fill_holes
from .metrics import bad_pixel_rate, mean_absolute_error
from .stereo import estimate_disparity, subpixel_minimum

__all__ = [
    "StereoMatcher",
    "StereoRun",
    "compare_stereo",
    "disparity_sign_check",
    "downsample_stereo",
    "opencv_matchers",
    "score_disparity",
    "stereo_methods",
    "zncc_disparity",
]

#: ``(left, right) -> (disparity Tensor[H, W], valid Tensor[H, W] bool)``.
StereoMatcher = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def _check_pair(left: Tensor, right: Tensor, disparity: Tensor | None = None) -> None:
    sizes = check_shape(left, "C H W", name="left")
    check_shape(right, "C H W", name="right", sizes=sizes)
    if disparity is not None:
        check_shape(disparity, "H W", name="disparity", sizes=sizes)


def score_disparity(
    disparity: Tensor, valid: Tensor, truth: Tensor, threshold: float = 2.0
) -> dict[str, float]:
    r"""Scores of one disparity map over the pixels with ground truth, as left and hole-filled.

    Args:
        disparity: Tensor[H, W] estimate (values where ``valid`` is False are ignored).
        valid: Tensor[H, W] bool, the pixels the method estimated.
        truth: Tensor[H, W] ground truth, NaN/Inf where unknown.
        threshold: τ of bad-τ (share of pixels off by more than τ px).

    Returns:
        ``coverage`` (share of ground-truth pixels estimated), ``bad_covered`` and
        ``mae_covered`` over those, ``bad_filled`` and ``mae_filled`` over all ground-truth
        pixels after :func:`~nndl.flow.fill_holes`.

    Raises:
        ShapeError: different shapes. ValidationError: no ground-truth pixel.
    """
    sizes = check_shape(truth, "H W", name="truth")
    check_shape(disparity, "H W", name="disparity", sizes=sizes)
    check_shape(valid, "H W", name="valid", sizes=sizes)
    _check_truth(truth)
    return _scores(disparity, valid, fill_holes(disparity, valid), truth, threshold)


def _check_truth(truth: Tensor) -> None:
    if not bool(torch.isfinite(truth).any()):
        raise ValidationError("truth has no finite pixel to score against")


def _scores(
    disparity: Tensor, valid: Tensor, filled: Tensor, truth: Tensor, threshold: float
) -> dict[str, float]:
    known = torch.isfinite(truth)
    covered = valid & known
    return {
        "coverage": float(covered.sum()) / float(known.sum()),
        "bad_covered": bad_pixel_rate(disparity, truth, threshold, covered),
        "mae_covered": mean_absolute_error(disparity, truth, covered),
        "bad_filled": bad_pixel_rate(filled, truth, threshold),
        "mae_filled": mean_absolute_error(filled, truth),
    }


@dataclass(frozen=True)
class StereoRun:
    """One matcher's result on a pair (:func:`compare_stereo`).

    Attributes:
        disparity: Tensor[H, W] as the matcher left it (meaningless where ``valid`` is False).
        valid: Tensor[H, W] bool, the pixels the matcher estimated.
        filled: Tensor[H, W], ``disparity`` after :func:`~nndl.flow.fill_holes`.
        scores: the keys of :func:`score_disparity`, then ``seconds``: the CPU time of the
            matcher's call (``time.process_time``, the sum over threads).
    """

    disparity: Tensor
    valid: Tensor
    filled: Tensor
    scores: dict[str, float]


def compare_stereo(
    matchers: Mapping[str, StereoMatcher],
    left: Tensor,
    right: Tensor,
    truth: Tensor,
    threshold: float = 2.0,
) -> dict[str, StereoRun]:
    r"""Run every matcher on the same rectified pair, time it and score it against ``truth``.

    Each matcher's holes are filled the same way (KITTI background interpolation) before the
    ``*_filled`` scores, so a method cannot buy accuracy by leaving hard pixels out:
    bad-:math:`\tau` is :math:`\frac{1}{|K|}\sum_{x \in K} [|\hat d(x) - d(x)| > \tau]` over the
    ground-truth pixels :math:`K` (or over the estimated ones for ``*_covered``).

    Args:
        matchers: name -> :data:`StereoMatcher`, run in this order.
        left, right: Tensor[C, H, W] rectified pair in [0, 1].
        truth: Tensor[H, W] ground-truth disparity, NaN/Inf where unknown.
        threshold: τ of bad-τ, in pixels (> 0).

    Returns:
        name -> :class:`StereoRun`, in the order of ``matchers``.

    Raises:
        ShapeError: shapes do not match. ValidationError: no matcher, τ ≤ 0 or not finite,
            or no ground-truth pixel.

    Example:
        >>> pair = torch.rand(3, 8, 12)
        >>> truth = torch.zeros(8, 12)
        >>> still = {"zero": lambda l, r: (torch.zeros(8, 12), torch.ones(8, 12, dtype=torch.bool))}
        >>> compare_stereo(still, pair, pair, truth)["zero"].scores["bad_filled"]
        0.0
    """
    _check_pair(left, right, truth)
    _check_truth(truth)
    tau = check_in_range(threshold, name="threshold", low=0.0, high=math.inf, low_inclusive=False)
    if not matchers:
        raise ValidationError("matchers must name at least one stereo matcher, got none")
    runs = {}
    for name, match in matchers.items():
        start = time.process_time()
        disparity, valid = match(left, right)
        seconds = time.process_time() - start
        filled = fill_holes(disparity, valid)
        scores = _scores(disparity, valid, filled, truth, tau)
        runs[name] = StereoRun(disparity, valid, filled, {**scores, "seconds": seconds})
    return runs


def zncc_disparity(
    left: Tensor, right: Tensor, max_disparity: int, window: int = 9
) -> tuple[Tensor, Tensor]:
    """Winner-take-all ZNCC stereo with sub-pixel refinement; every pixel counts as valid.

    Args:
        left, right: Tensor[C, H, W] rectified pair (grey is taken).
        max_disparity: D; candidates 0 … D − 1.
        window: odd patch side of the ZNCC vectors.

    Returns:
        ``(disparity Tensor[H, W], valid Tensor[H, W] all True)``.

    Raises:
        ShapeError: the images are not (C, H, W) of one shape.
        ValidationError: ``max_disparity`` < 1.
    """
    _check_pair(left, right)
    check_int(max_disparity, name="max_disparity", low=1)
    fl, fr = (patch_features(to_gray(im)[None], window) for im in (left, right))
    disp = subpixel_minimum(-cost_volume_1d(fl, fr, max_disparity, reduction="sum"))[0][0]
    return disp, torch.ones_like(disp, dtype=torch.bool)


def opencv_matchers(max_disparity: int) -> dict[str, StereoMatcher]:
    """OpenCV's StereoBM and StereoSGBM as matchers (one thread; disparities rounded up to 16).

    Args:
        max_disparity: D; OpenCV searches ``16 · ceil(D / 16)`` disparities.

    Returns:
        ``{"OpenCV StereoBM": matcher, "OpenCV StereoSGBM": matcher}``; each takes a
        Tensor[3, H, W] pair in [0, 1] and returns ``(disparity Tensor[H, W] in pixels, valid)``
        (valid where OpenCV found a match, i.e. disparity ≥ 0).

    Raises:
        ImportError: OpenCV (``opencv-python-headless``) is not importable.
        ValidationError: ``max_disparity`` < 1.
    """
    import cv2

    check_int(max_disparity, name="max_disparity", low=1)
    cv: Any = cv2  # OpenCV's stubs miss the stereo matchers' factory functions
    cv.setNumThreads(1)
    n16, block = 16 * math.ceil(max_disparity / 16), 5
    sgbm = cv.StereoSGBM_create(
        minDisparity=0,
        numDisparities=n16,
        blockSize=block,
        P1=8 * 3 * block**2,
        P2=32 * 3 * block**2,
        disp12MaxDiff=1,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
        mode=cv.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    bm = cv.StereoBM_create(numDisparities=n16, blockSize=9)

    def rgb(img: Tensor) -> np.ndarray:
        return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

    def run(left: Tensor, right: Tensor, colour: bool) -> tuple[Tensor, Tensor]:
        _check_pair(left, right)
        lr = [rgb(left), rgb(right)]
        if not colour:
            lr = [cv.cvtColor(im, cv.COLOR_RGB2GRAY) for im in lr]
        disp = torch.from_numpy((bm if not colour else sgbm).compute(*lr).astype(np.float32) / 16)
        return disp, disp >= 0

    return {
        "OpenCV StereoBM": lambda left, right: run(left, right, False),
        "OpenCV StereoSGBM": lambda left, right: run(left, right, True),
    }


def stereo_methods(
    max_disparity: int,
    window: int = 9,
    *,
    opencv: bool = True,
    p1: float = 8.0,
    p2: float = 32.0,
    paths: int = 8,
) -> dict[str, StereoMatcher]:
    """The stereo matchers compared in the C1 experiment, by name, in this order.

    - ``"nndl census + SGM + LR check"``: :func:`~nndl.flow.estimate_disparity` with the SGM
      penalties ``p1``, ``p2`` and ``paths`` scanline directions;
    - ``"{window}×{window} ZNCC winner-take-all"``: :func:`zncc_disparity`;
    - with ``opencv``: ``"OpenCV StereoBM"`` and ``"OpenCV StereoSGBM"`` (:func:`opencv_matchers`).

    Args:
        max_disparity: D; every matcher searches 0 … D − 1 (OpenCV rounds up to 16).
        window: odd side of the ZNCC patches (≥ 3: one pixel has no zero-mean texture).
        opencv: include OpenCV's matchers.
        p1, p2: SGM penalties, 0 ≤ p1 ≤ p2, in census-cost units.
        paths: SGM directions, 2, 4 or 8.

    Returns:
        name -> :data:`StereoMatcher`.

    Raises:
        ImportError: ``opencv`` is True and OpenCV (``opencv-python-headless``) is missing.
        ValidationError: a setting outside the ranges above.
    """
    n = check_int(max_disparity, name="max_disparity", low=1)
    if check_int(window, name="window", low=3) % 2 == 0:
        raise ValidationError(f"window must be odd, got {window}")
    if check_int(paths, name="paths") not in (2, 4, 8):
        raise ValidationError(f"paths must be 2, 4 or 8, got {paths}")
    high = check_in_range(p2, name="p2", low=0.0)
    low = check_in_range(p1, name="p1", low=0.0, high=high)
    methods: dict[str, StereoMatcher] = {
        "nndl census + SGM + LR check": partial(
            estimate_disparity, max_disparity=n, p1=low, p2=high, paths=paths
        ),
        f"{window}×{window} ZNCC winner-take-all": partial(
            zncc_disparity, max_disparity=n, window=window
        ),
    }
    if opencv:
        methods.update(opencv_matchers(n))
    return methods


def disparity_sign_check(left: Tensor, right: Tensor, truth: Tensor) -> tuple[float, float]:
    """Mean ``|I_L(x) − I_R(x − d)|`` and ``|I_L(x) − I_R(x + d)|`` over ground-truth pixels.

    The first is the smaller for the convention "left x matches right x − d".

    Args:
        left, right: Tensor[C, H, W] pair (grey is compared).
        truth: Tensor[H, W] disparity, NaN/Inf where unknown.

    Returns:
        ``(mean |ΔI| for x − d, mean |ΔI| for x + d)`` over the pixels whose match is inside.

    Raises:
        ShapeError: shapes do not match.
    """
    _check_pair(left, right, truth)
    g_l, g_r = to_gray(left)[0], to_gray(right)[0]
    ys, xs = torch.nonzero(torch.isfinite(truth), as_tuple=True)
    d = truth[ys, xs]
    diffs = []
    for sign in (-1, 1):
        x2 = (xs.float() + sign * d).round().long()
        ok = (x2 >= 0) & (x2 < g_l.shape[1])
        diffs.append(float((g_l[ys[ok], xs[ok]] - g_r[ys[ok], x2[ok]]).abs().mean()))
    return diffs[0], diffs[1]


def downsample_stereo(
    left: Tensor, right: Tensor, truth: Tensor, factor: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The pair averaged over ``factor`` × ``factor`` blocks, the disparity sampled and divided.

    Args:
        left, right: Tensor[C, H, W].
        truth: Tensor[H, W] disparity in pixels (NaN where unknown).
        factor: k ≥ 1.

    Returns:
        ``(left, right, truth)`` at 1/``factor`` resolution (unchanged for factor 1): images
        averaged over k × k blocks, the disparity sampled at block centres and divided by k.

    Raises:
        ShapeError: shapes do not match. ValidationError: ``factor`` < 1.
    """
    _check_pair(left, right, truth)
    k = check_int(factor, name="factor", low=1)
    if k == 1:
        return left, right, truth
    left, right = F.avg_pool2d(left[None], k)[0], F.avg_pool2d(right[None], k)[0]
    truth = truth[k // 2 :: k, k // 2 :: k][: left.shape[1], : left.shape[2]] / k
    return left, right, truth
