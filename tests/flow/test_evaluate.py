"""evaluate_flow / flow_methods: every method scored on the same pairs, per pyramid level too."""

import math

import pytest
import torch

from nndl._validation import ValidationError
from nndl.data import load_stereo_motorcycle
from nndl.flow import (
    PWCNetLite,
    endpoint_error,
    evaluate_flow,
    flow_methods,
    format_scores,
    make_flow_pairs,
    stereo_pair_as_flow,
)


@pytest.fixture(scope="module")
def pairs():
    return make_flow_pairs(2, (64, 64), max_flow=6.0, generator=torch.Generator().manual_seed(0))


def test_every_method_and_ablation_is_scored_with_its_levels(pairs):
    torch.manual_seed(0)
    net = PWCNetLite(channels=(8, 12, 16, 24), decoder_channels=(8,))
    scores = evaluate_flow(pairs.img1, pairs.img2, pairs.flow, flow_methods(net))
    assert list(scores) == [
        "zero",
        "classical",
        "classical single-level",
        "classical no-warping",
        "pwc",
        "pwc single-level",
        "pwc no-warping",
    ]
    zero = endpoint_error(torch.zeros_like(pairs.flow), pairs.flow)
    assert scores["zero"].epe == pytest.approx(zero) and scores["zero"].level_epe == []
    assert scores["classical"].epe < 0.5 * zero
    assert (
        len(scores["classical"].level_epe) == 3
        and len(scores["classical single-level"].level_epe) == 1
    )
    assert len(scores["pwc"].level_epe) == 3 and len(scores["pwc single-level"].level_epe) == 1
    assert scores["classical"].level_epe[-1] == pytest.approx(scores["classical"].epe)
    assert len(scores["pwc"].per_pair_epe) == 2
    assert all(s.cpu_seconds_per_pair >= 0 for s in scores.values())
    assert len(format_scores(scores)) == 7


def test_unknown_ground_truth_is_not_scored():
    pair = load_stereo_motorcycle()
    a, b, flow = stereo_pair_as_flow(pair.left, pair.right, pair.disparity, 4)
    assert a.shape[-2:] == flow.shape[-2:] and bool(torch.isinf(flow).any())
    scores = evaluate_flow(
        a, b, flow, {"zero": lambda x, y: (torch.zeros(1, 2, *x.shape[-2:]), [])}
    )
    known = torch.isfinite(flow).all(1)
    assert math.isfinite(scores["zero"].epe)
    assert scores["zero"].epe == pytest.approx(float(flow[:, 0][known].abs().mean()), rel=1e-5)


def test_bad_input_is_refused(pairs):
    with pytest.raises(ValidationError, match="methods"):
        evaluate_flow(pairs.img1, pairs.img2, pairs.flow, {})
    with pytest.raises(ValidationError, match="flow must have shape"):
        evaluate_flow(pairs.img1, pairs.img2, pairs.flow[:1], {"z": None})
    with pytest.raises(ValidationError, match="no finite vector"):
        evaluate_flow(pairs.img1, pairs.img2, torch.full_like(pairs.flow, math.inf), {"z": None})
