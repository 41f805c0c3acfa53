"""End-point error and bad-pixel rates on hand-computed cases."""

import math

import pytest
import torch

from nndl._validation import ShapeError, ValidationError
from nndl.flow import bad_pixel_rate, endpoint_error, mean_absolute_error


def test_endpoint_error_is_the_mean_vector_distance():
    target = torch.zeros(1, 2, 2, 2)
    flow = torch.zeros(1, 2, 2, 2)
    flow[0, 0, 0, 0], flow[0, 1, 0, 0] = 3.0, 4.0  # one pixel off by 5
    assert endpoint_error(flow, target) == pytest.approx(5 / 4)
    mask = torch.zeros(1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0] = True
    assert endpoint_error(flow, target, mask) == pytest.approx(5.0)
    assert endpoint_error(flow[0], target[0]) == pytest.approx(5 / 4)  # unbatched


def test_unknown_ground_truth_is_not_scored_and_missing_estimates_are_errors():
    target = torch.tensor([[1.0, 2.0, math.inf, 4.0]])
    pred = torch.tensor([[1.5, 5.0, 0.0, math.nan]])
    # scored: 1.0 (ok), 2.0 (off by 3), 4.0 (no estimate -> bad)
    assert bad_pixel_rate(pred, target, 2.0) == pytest.approx(2 / 3)
    assert bad_pixel_rate(pred, target, 2.0, mask=~torch.isnan(pred)) == pytest.approx(1 / 2)
    assert mean_absolute_error(pred[:, :2], target[:, :2]) == pytest.approx(1.75)


def test_rejects_bad_input():
    with pytest.raises(ShapeError, match="prediction must have shape"):
        bad_pixel_rate(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ShapeError, match="flow must have shape"):
        endpoint_error(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValidationError, match="no pixel to score"):
        bad_pixel_rate(torch.zeros(2, 2), torch.full((2, 2), math.inf))
    with pytest.raises(ValidationError, match="threshold must be"):
        bad_pixel_rate(torch.zeros(2, 2), torch.zeros(2, 2), threshold=-1.0)
