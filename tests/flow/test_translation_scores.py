"""Cosine-volume scores with a warp and on a shifted photograph: the residual is what remains."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nndl._validation import ShapeError, ValidationError
from nndl.flow import displacement_scores, patch_features, translation_scores
from nndl.ops import warp


def _features(seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 8, 20, 20, generator=torch.Generator().manual_seed(seed))


def _zncc(x: torch.Tensor) -> torch.Tensor:
    return patch_features(x, 5)


def test_a_constant_flow_is_the_same_as_warping_by_hand():
    f = _features()
    moved = torch.roll(f, shifts=(1, 2), dims=(2, 3))  # image 2 = image 1 moved by (2, 1)
    flow = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 20, 20).contiguous()
    by_hand = displacement_scores(f, warp(moved, flow), 3, margin=4)
    constant = displacement_scores(f, moved, 3, margin=4, flow=(1, 1))
    field = displacement_scores(f, moved, 3, margin=4, flow=flow)
    assert torch.equal(by_hand.volume, constant.volume)
    assert torch.equal(by_hand.volume, field.volume)
    assert constant.peak == (1, 0)  # the residual (2, 1) − (1, 1)
    assert displacement_scores(f, moved, 3, margin=4, flow=(2, 1)).peak == (0, 0)


@pytest.mark.parametrize(
    "flow,error",
    [
        ((1.0,), ValidationError),
        ((1.0, math.nan), ValidationError),
        (("a", 0), ValidationError),
        ("ab", ValidationError),
        (torch.zeros(1, 2, 10, 10), ShapeError),
        (torch.zeros(2, 2, 20, 20), ShapeError),
    ],
)
def test_a_bad_flow_is_refused(flow, error):
    f = _features()
    with pytest.raises(error, match="flow"):
        displacement_scores(f, f, 2, flow=flow)


def test_summary_is_json_and_agrees_with_the_properties():
    f = _features(1)
    s = displacement_scores(f, torch.roll(f, shifts=(1, 2), dims=(2, 3)), 3, margin=4)
    out = json.loads(json.dumps(s.summary((2, 1))))
    assert out["peak"] == [2, 1]
    assert out["mean_cos_true"] == s.score((2, 1)) == pytest.approx(1.0)
    assert out["second_best"] == s.second_best < 0.5
    assert out["pixel_hit_rate"] == s.hit_rate((2, 1)) == 1.0
    assert out["mean_map"] == s.grid.tolist()
    assert displacement_scores(f, f, 3, margin=4).summary((2, 1))["pixel_hit_rate"] == 0.0


def test_translation_scores_peak_at_the_shift_and_after_the_warp_at_the_residual():
    opts = {"factor": 8, "margin": 40, "border": 9}
    s, w = translation_scores("camera", (3, -2), _zncc, 4, residual=(1, -1), **opts)
    assert s.peak == (3, -2) and w.peak == (1, -1)
    assert s.score((3, -2)) == pytest.approx(1.0, abs=1e-5)
    _, exact = translation_scores("camera", (-2, 1), _zncc, 4, **opts)  # warp by the true flow
    assert exact.peak == (0, 0)


@pytest.mark.parametrize(
    "shift,residual,name",
    [((0.5, 0), (0, 0), "shift"), ((1, 0), (1,), "residual"), ((True, 0), (0, 0), "shift")],
)
def test_translation_scores_need_whole_pixel_shifts(shift, residual, name):
    with pytest.raises(ValidationError, match=name):
        translation_scores("camera", shift, _zncc, 4, residual=residual, factor=8)
