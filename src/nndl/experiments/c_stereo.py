r"""C1 applied: a 1-D cost volume for stereo on the Middlebury motorcycle pair, against OpenCV.

A rectified stereo pair is the one-dimensional case of the cost volume: left pixel :math:`x`
matches right pixel :math:`x - d`, and the volume stores, for every pixel, the cost of each
candidate disparity :math:`d \in [0, D)`. nndl's estimator (:func:`nndl.flow.estimate_disparity`)
fills it with census-transform Hamming costs, aggregates them by semi-global matching along 8
scanlines, and drops pixels that fail a left-right consistency check. The experiment scores it
on the Middlebury motorcycle pair with ground-truth disparity (``skimage.data``) against what
people use — OpenCV's StereoBM and StereoSGBM (:func:`nndl.flow.opencv_matchers`), measured in
the same run on the same pair — and a plain local baseline (ZNCC winner-take-all). Every
method's holes are filled by the same KITTI background interpolation before scoring
(:func:`nndl.flow.score_disparity`), so coverage cannot buy accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from nndl.data import load_stereo_motorcycle
from nndl.flow import (
    StereoMatcher,
    disparity_sign_check,
    disparity_to_color,
    downsample_stereo,
    estimate_disparity,
    fill_holes,
    opencv_matchers,
    score_disparity,
    zncc_disparity,
)

from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

OURS = "nndl census + SGM + LR check"
SGBM, BM = "OpenCV StereoSGBM", "OpenCV StereoBM"


@dataclass
class StereoConfig:
    downsample: int = 1
    max_disparity: int = 64
    paths: int = 8
    p1: float = 8.0
    p2: float = 32.0
    ncc_window: int = 9
    threshold: float = 2.0


C1_STEREO_RULE = Rule(
    claim="C1",
    statistic="bad-2.0 (share of ground-truth pixels off by more than 2 px) of each method's "
    "disparity after the same hole filling, on the one real pair; nndl against OpenCV's "
    "StereoSGBM and StereoBM measured in the same run",
    holds="nndl's bad-2.0 is lower than both OpenCV methods'",
    does_not_hold="it is higher than both",
    inconclusive="it lies between the two, or a guard fails: OpenCV cannot be imported, or the "
    "pair's convention (left x ↔ right x − d) is not confirmed photometrically",
    seeds="none (deterministic methods on one fixed pair)",
    rationale="a cost volume is only as good as the matches it supports; the comparators are the "
    "tools people use, never a constant",
    params={"threshold_px": 2.0},
)


def measure(cfg: StereoConfig, ctx: Context) -> dict[str, Any]:
    pair = load_stereo_motorcycle()
    left, right, gt = downsample_stereo(pair.left, pair.right, pair.disparity, cfg.downsample)
    n_disp, k = cfg.max_disparity, cfg.ncc_window
    matchers: dict[str, StereoMatcher] = {
        OURS: partial(
            estimate_disparity, max_disparity=n_disp, p1=cfg.p1, p2=cfg.p2, paths=cfg.paths
        ),
        f"{k}×{k} ZNCC winner-take-all": partial(zncc_disparity, max_disparity=n_disp, window=k),
    }
    try:
        matchers.update(opencv_matchers(n_disp))
        opencv_error = ""
    except ImportError as exc:  # a dependency; the guard makes the verdict say so
        opencv_error = str(exc)
    methods = {}
    for index, (name, match) in enumerate(matchers.items()):
        start = time.process_time()
        disp, valid = match(left, right)
        seconds = time.process_time() - start
        methods[name] = {**score_disparity(disp, valid, gt, cfg.threshold), "seconds": seconds}
        ctx.save_array(f"as_left_{index}", _picture(disp, n_disp, valid))  # pictures for draw
        ctx.save_array(f"filled_{index}", _picture(fill_holes(disp, valid), n_disp))
    ctx.save_array("ground_truth", _picture(gt, n_disp, torch.isfinite(gt)))
    minus, plus = disparity_sign_check(left, right, gt)
    metrics = {"methods": methods, "opencv_error": opencv_error, "size": list(gt.shape)}
    return {**metrics, "convention_abs_diff_x_minus_d": minus, "convention_abs_diff_x_plus_d": plus}


def _picture(disp: torch.Tensor, n_disp: int, valid: torch.Tensor | None = None) -> torch.Tensor:
    rgb = disparity_to_color(disp, valid, max_disparity=float(n_disp))
    return (rgb * 255).round().to(torch.uint8)


def judge(metrics: Mapping[str, Any], cfg: StereoConfig) -> list[Verdict]:
    methods, thr = metrics["methods"], C1_STEREO_RULE["threshold_px"]
    ours = as_float(methods[OURS]["bad_filled"])
    minus = as_float(metrics["convention_abs_diff_x_minus_d"])
    plus = as_float(metrics["convention_abs_diff_x_plus_d"])
    if metrics["opencv_error"] or SGBM not in methods or BM not in methods:
        text = f"nndl's bad-{thr:g} was {100 * ours:.1f} %; OpenCV could not be measured"
        reason = "guard: OpenCV (opencv-python-headless, a dependency) is not importable; "
        reason += "reinstall the package's dependencies"
        text += f" ({metrics['opencv_error']})."
        return [Verdict("C1", "inconclusive", text, f"bad-2 {100 * ours:.1f} %", reason)]
    sgbm, bm = as_float(methods[SGBM]["bad_filled"]), as_float(methods[BM]["bad_filled"])
    holds, reason = None, ""
    if not minus < plus:
        reason = "guard: the pair's convention left x ↔ right x − d was not confirmed"
    elif ours < min(sgbm, bm):
        holds = True
    elif ours > max(sgbm, bm):
        holds = False
    else:
        reason = "nndl beats one OpenCV method but not the other on this one pair"
    evidence = (
        f"After the same hole filling, bad-{thr:g} of the census cost volume + SGM was "
        f"{100 * ours:.1f} % (MAE {as_float(methods[OURS]['mae_filled']):.2f} px) against "
        f"{100 * sgbm:.1f} % for OpenCV StereoSGBM and {100 * bm:.1f} % for StereoBM measured in "
        f"this run; the convention left x ↔ right x − d was checked photometrically (mean |ΔI| "
        f"{minus:.3f} vs {plus:.3f} for x + d)."
    )
    key = f"bad-2 {100 * ours:.1f} % vs SGBM {100 * sgbm:.1f} %, BM {100 * bm:.1f} %"
    return [Verdict.from_check("C1", holds, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: StereoConfig, canvas: Canvas) -> None:
    methods, bad = metrics["methods"], f"bad-{cfg.threshold:g}"
    fig, axes = canvas.subplots(2, len(methods) + 1, figsize=(3.2 * (len(methods) + 1), 5))
    canvas.image(axes[0, 0], canvas.array("ground_truth"), "ground truth")
    axes[1, 0].axis("off")
    for j, (name, m) in enumerate(methods.items(), start=1):
        covered = f"{name}\nas left ({100 * m['coverage']:.0f} % covered)"
        canvas.image(axes[0, j], canvas.array(f"as_left_{j - 1}"), covered)
        filled = f"filled: {bad} {100 * m['bad_filled']:.1f} %"
        canvas.image(axes[1, j], canvas.array(f"filled_{j - 1}"), filled)
    canvas.save(
        fig,
        "stereo_maps",
        "Disparity as each method leaves it (black = no estimate) and after "
        "the same KITTI background filling (top left: ground truth).",
    )
    h, w = metrics["size"]
    keys = ("coverage", "bad_covered", "mae_covered", "bad_filled", "mae_filled")
    head = [f"{bad} filled", "MAE filled (px)", "CPU time (1 thread)"]
    canvas.table(
        f"Middlebury motorcycle ({w}×{h}, disparities 0…{cfg.max_disparity - 1})",
        ["method", "coverage", f"{bad} covered", "MAE covered (px)", *head],
        [
            [name, *(m[k] for k in keys), f"{1000 * as_float(m['seconds']):.0f} ms"]
            for name, m in methods.items()
        ],
        caption="Scores over pixels with ground truth. OpenCV: StereoBM block 9; StereoSGBM "
        "3-way, block 5, colour, P1 = 8·3·25, P2 = 32·3·25, uniqueness 10, speckle 100/2.",
    )


register(
    "c1_stereo_motorcycle",
    title="A 1-D cost volume with semi-global aggregation on the Middlebury motorcycle pair, "
    "against OpenCV StereoBM/SGBM measured in the same run",
    config=StereoConfig,
    presets={
        "tiny": {"downsample": 4, "max_disparity": 16, "ncc_window": 5},
        "quick": {},
        "full": {},
    },
    rules=(C1_STEREO_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="A local window cannot disambiguate low-texture or repetitive regions; semi-global "
    "matching adds a smoothness prior along 8 scanlines, and the left-right check removes what "
    "remains wrong, so background filling replaces it with a plausible value.",
)
