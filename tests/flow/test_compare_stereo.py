"""Stereo matchers side by side: each is run, timed and scored the same way, and named once."""

from __future__ import annotations

import sys

import pytest
import torch

from nndl._validation import ShapeError, ValidationError
from nndl.flow import (
    compare_stereo,
    fill_holes,
    score_disparity,
    stereo_methods,
    zncc_disparity,
)

D = 3  # the true disparity of the synthetic pair


def _pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A textured pair with left x ↔ right x − 3; no ground truth where the match leaves."""
    left = torch.rand(3, 24, 40, generator=torch.Generator().manual_seed(0))
    right = torch.roll(left, shifts=-D, dims=-1)  # right[x − 3] = left[x]
    truth = torch.full((24, 40), float(D))
    truth[:, :D] = float("nan")
    return left, right, truth


def _constant(value: float, valid_until: int = 40):
    def match(left: torch.Tensor, right: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = torch.zeros(24, 40, dtype=torch.bool)
        valid[:, :valid_until] = True
        return torch.full((24, 40), float(value)), valid

    return match


def test_every_matcher_is_scored_as_score_disparity_scores_it_and_timed():
    left, right, truth = _pair()
    matchers = {"right": _constant(D), "off": _constant(D + 5.0), "half": _constant(D, 20)}
    runs = compare_stereo(matchers, left, right, truth, 2.0)
    assert list(runs) == ["right", "off", "half"]
    for name, run in runs.items():
        disp, valid = matchers[name](left, right)
        expected = score_disparity(disp, valid, truth, 2.0)
        assert list(run.scores) == [*expected, "seconds"]
        assert {k: run.scores[k] for k in expected} == expected
        assert run.scores["seconds"] >= 0.0
        assert torch.equal(run.filled, fill_holes(disp, valid)) and torch.equal(run.valid, valid)
    assert runs["right"].scores["bad_filled"] == 0.0 and runs["off"].scores["bad_filled"] == 1.0
    assert runs["half"].scores["coverage"] == pytest.approx(17 / 37)
    assert runs["off"].scores["mae_filled"] == pytest.approx(5.0)


def test_the_threshold_decides_what_is_bad():
    left, right, truth = _pair()
    runs = compare_stereo({"off": _constant(D + 1.5)}, left, right, truth, 1.0)
    assert runs["off"].scores["bad_filled"] == 1.0
    runs = compare_stereo({"off": _constant(D + 1.5)}, left, right, truth, 2.0)
    assert runs["off"].scores["bad_filled"] == 0.0


def test_bad_input_is_refused_before_any_matcher_runs():
    left, right, truth = _pair()
    calls = []

    def spy(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(1)
        return truth.nan_to_num(), torch.ones(24, 40, dtype=torch.bool)

    with pytest.raises(ValidationError, match="matchers"):
        compare_stereo({}, left, right, truth)
    for threshold in (0.0, -1.0, float("nan")):
        with pytest.raises(ValidationError, match="threshold"):
            compare_stereo({"spy": spy}, left, right, truth, threshold)
    with pytest.raises(ValidationError, match="truth"):
        compare_stereo({"spy": spy}, left, right, torch.full((24, 40), float("nan")))
    with pytest.raises(ShapeError):
        compare_stereo({"spy": spy}, left, right, truth[:, :30])
    with pytest.raises(ShapeError):
        compare_stereo({"spy": spy}, left, right[:, :20], truth)
    assert calls == []


def test_stereo_methods_name_the_comparison_and_pass_the_settings():
    left, right, truth = _pair()
    methods = stereo_methods(16, window=5, opencv=False)
    assert list(methods) == ["nndl census + SGM + LR check", "5×5 ZNCC winner-take-all"]
    zncc = methods["5×5 ZNCC winner-take-all"](left, right)
    expected = zncc_disparity(left, right, 16, window=5)
    assert all(torch.equal(a, b) for a, b in zip(zncc, expected, strict=True))
    runs = compare_stereo(methods, left, right, truth)
    assert runs["nndl census + SGM + LR check"].scores["bad_covered"] < 0.05
    assert runs["5×5 ZNCC winner-take-all"].scores["bad_covered"] < 0.05


def test_stereo_methods_add_opencv_or_say_it_is_missing(monkeypatch):
    pytest.importorskip("cv2")
    assert list(stereo_methods(16))[2:] == ["OpenCV StereoBM", "OpenCV StereoSGBM"]
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError):
        stereo_methods(16)
    assert len(stereo_methods(16, opencv=False)) == 2


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"max_disparity": 0}, "max_disparity"),
        ({"window": 4}, "window"),
        ({"window": 1}, "window"),
        ({"paths": 3}, "paths"),
        ({"p1": 40.0}, "p1"),  # p1 > p2
        ({"p2": -1.0}, "p2"),
    ],
)
def test_stereo_methods_refuse_bad_settings(kwargs, name):
    settings = {"max_disparity": 16, "opencv": False, **kwargs}
    with pytest.raises(ValidationError, match=name):
        stereo_methods(**settings)
