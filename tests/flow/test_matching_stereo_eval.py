"""Cosine-volume peaks and stereo scoring: known shifts, perfect and broken estimates."""

from __future__ import annotations

import sys

import pytest
import torch

from nndl._validation import DTypeError, ShapeError, ValidationError
from nndl.flow import (
    disparity_sign_check,
    displacement_scores,
    downsample_stereo,
    opencv_matchers,
    score_disparity,
    zncc_disparity,
)
from nndl.ops import warp


def _features(seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 8, 20, 20, generator=torch.Generator().manual_seed(seed))


def test_displacement_scores_peak_at_the_shift_and_follow_the_warp():
    f = _features()
    moved = torch.roll(f, shifts=(1, 2), dims=(2, 3))  # f2(x + (2, 1)) = f1(x)
    s = displacement_scores(f, moved, 3, margin=4)
    assert s.peak == (2, 1) and s.score((2, 1)) == pytest.approx(1.0)
    assert s.hit_rate((2, 1)) == 1.0 and s.hit_rate((0, 0)) == 0.0
    assert s.second_best < 0.5 and s.grid.shape == (7, 7)
    assert float(s.grid[1 + 3, 2 + 3]) == pytest.approx(1.0)  # row dy + d, column dx + d
    assert s.volume.shape == (49, 20, 20) and int(s.interior.sum()) == 12 * 12
    flow = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 20, 20).contiguous()
    assert displacement_scores(f, warp(moved, flow), 3, margin=4).peak == (1, 0)  # residual


def test_displacement_scores_rejects_bad_input():
    f = _features()
    with pytest.raises(ShapeError):
        displacement_scores(torch.cat([f, f]), torch.cat([f, f]), 2)
    with pytest.raises(ShapeError):
        displacement_scores(f, f[..., :10], 2)
    with pytest.raises(ShapeError, match="margin"):
        displacement_scores(f, f, 2, margin=10)
    with pytest.raises(ValidationError, match="displacement"):
        displacement_scores(f, f, 2).score((3, 0))


def _pair(d: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A textured rectified pair: left x matches right x − d everywhere but the left border."""
    left = torch.rand(3, 24, 40, generator=torch.Generator().manual_seed(1))
    right = torch.roll(left, shifts=-d, dims=2)
    truth = torch.full((24, 40), float(d))
    truth[:, :d] = float("nan")
    return left, right, truth


def test_score_disparity_perfect_partial_and_wrong():
    _, _, truth = _pair()
    perfect = torch.nan_to_num(truth, nan=3.0)
    full = torch.ones_like(perfect, dtype=torch.bool)
    assert score_disparity(perfect, full, truth) == {
        "coverage": 1.0, "bad_covered": 0.0, "mae_covered": 0.0, "bad_filled": 0.0,
        "mae_filled": 0.0,
    }  # fmt: skip
    half = full.clone()
    half[:, 20:] = False
    partial = score_disparity(perfect + 10 * ~half, half, truth)  # wrong where not valid
    assert partial["coverage"] == pytest.approx(17 * 24 / (37 * 24))
    assert partial["bad_covered"] == 0.0 and partial["bad_filled"] == 0.0  # holes filled
    wrong = score_disparity(perfect + 2.5, full, truth, threshold=2.0)
    assert wrong["bad_filled"] == 1.0 and wrong["mae_filled"] == pytest.approx(2.5)
    with pytest.raises(ShapeError):
        score_disparity(perfect[:3], full, truth)
    with pytest.raises(ValidationError, match="finite"):
        score_disparity(perfect, full, torch.full_like(truth, float("nan")))


def test_zncc_disparity_and_the_sign_check_on_a_known_pair():
    left, right, truth = _pair(3)
    disp, valid = zncc_disparity(left, right, 8, window=5)
    assert bool(valid.all())
    inner = disp[4:-4, 10:-4]
    assert float((inner - 3).abs().max()) < 0.5
    minus, plus = disparity_sign_check(left, right, truth)
    assert minus == pytest.approx(0.0, abs=1e-6) and plus > 0.1
    with pytest.raises(ShapeError):
        zncc_disparity(left, right[:, :10], 8)


def test_downsample_stereo_scales_the_disparity():
    left, right, truth = _pair(4)
    l2, r2, t2 = downsample_stereo(left, right, truth, 2)
    assert l2.shape == (3, 12, 20) and r2.shape == (3, 12, 20) and t2.shape == (12, 20)
    assert float(t2[0, 5]) == 2.0 and torch.isnan(t2[0, 0])
    assert downsample_stereo(left, right, truth, 1)[2] is truth
    with pytest.raises(ValidationError, match="factor"):
        downsample_stereo(left, right, truth, 0)


def test_opencv_matchers_run_or_say_why(monkeypatch):
    pytest.importorskip("cv2")
    left, right, truth = _pair(3)
    matchers = opencv_matchers(16)
    assert list(matchers) == ["OpenCV StereoBM", "OpenCV StereoSGBM"]
    for match in matchers.values():
        disp, valid = match(left, right)
        assert disp.shape == valid.shape == truth.shape and valid.dtype == torch.bool
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError):
        opencv_matchers(16)


def test_non_tensors_are_refused_by_name_before_any_work():
    img = torch.rand(1, 8, 8)
    with pytest.raises(DTypeError, match="f2 must be a torch.Tensor, got str"):
        displacement_scores(img[None], "f2", max_displacement=1)
    with pytest.raises(DTypeError, match="right must be a torch.Tensor, got list"):
        zncc_disparity(img, img.tolist(), max_disparity=2)
    with pytest.raises(ShapeError, match="valid must have shape"):
        score_disparity(torch.zeros(8, 8), torch.ones(8, 9, dtype=torch.bool), torch.zeros(8, 8))
