"""uint8 pictures: round(255·x) of the colour maps, clipped, black where there is no estimate."""

from __future__ import annotations

import pytest
import torch

from nndl._validation import DTypeError, ShapeError, ValidationError
from nndl.flow import as_uint8, disparity_picture, disparity_to_color, flow_picture, flow_to_color


def test_as_uint8_rounds_clips_and_blanks_nan():
    x = torch.tensor([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 0.5, 1.0, 2.0, float("nan")])
    out = as_uint8(x)
    assert out.dtype == torch.uint8
    assert out.tolist() == [0, 0, 0, 1, 128, 255, 255, 0]


@pytest.mark.parametrize("bad", [torch.zeros(3, dtype=torch.uint8), torch.arange(3), [0.5]])
def test_as_uint8_wants_floats(bad):
    with pytest.raises(DTypeError, match="image"):
        as_uint8(bad)


def test_flow_picture_is_the_colour_wheel_in_bytes():
    flow = torch.randn(2, 6, 7, generator=torch.Generator().manual_seed(0)) * 3
    expected = (flow_to_color(flow, max_flow=4.0) * 255).round().to(torch.uint8)
    assert torch.equal(flow_picture(flow, max_flow=4.0), expected)
    assert flow_picture(torch.zeros(2, 3, 3)).eq(255).all()  # no motion is white
    with pytest.raises(ShapeError):
        flow_picture(torch.zeros(3, 4, 4))


def test_disparity_picture_is_black_where_invalid():
    disp = torch.arange(12.0).view(3, 4)
    valid = disp.remainder(2) == 0
    picture = disparity_picture(disp, 11.0, valid)
    assert picture.shape == (3, 3, 4) and picture.dtype == torch.uint8
    assert picture[:, ~valid].eq(0).all() and picture[:, valid].sum() > 0
    expected = (disparity_to_color(disp, valid, max_disparity=11.0) * 255).round()
    assert torch.equal(picture, expected.to(torch.uint8))
    with_nan = disp.clone()
    with_nan[0, 0] = float("nan")
    assert disparity_picture(with_nan, 11.0)[:, 0, 0].eq(0).all()
    with pytest.raises(ValidationError, match="max_disparity"):
        disparity_picture(disp, 0.0)
