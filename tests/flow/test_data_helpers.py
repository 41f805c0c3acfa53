"""The helpers flow uses from nndl.data and nndl.flow.metrics: to_gray, save_image,
end_point_error (the one definition of the per-pixel error)."""

import numpy as np
import pytest
import torch
from PIL import Image

from nndl._io import OutputPathError
from nndl._validation import ShapeError, ValidationError
from nndl.data import load_image, save_image, to_gray
from nndl.flow import end_point_error, endpoint_error


def test_to_gray_uses_bt601_weights_and_keeps_a_channel_axis():
    rgb = torch.zeros(2, 3, 4, 5)
    rgb[:, 1] = 1.0
    assert to_gray(rgb).shape == (2, 1, 4, 5)
    torch.testing.assert_close(to_gray(rgb), torch.full((2, 1, 4, 5), 0.587))
    torch.testing.assert_close(to_gray(rgb[0]), torch.full((1, 4, 5), 0.587))
    two = torch.rand(2, 6, 6)
    torch.testing.assert_close(to_gray(two), two.mean(0, keepdim=True))
    with pytest.raises(ValidationError, match="img must be a tensor"):
        to_gray(torch.rand(6, 6))


def test_save_image_round_trips_and_checks_the_path_first(tmp_path):
    img = torch.rand(3, 7, 9)
    path = save_image(tmp_path / "a.png", img)
    back = load_image(path)
    assert back.shape == (3, 7, 9) and float((back - img).abs().max()) <= 0.5 / 255 + 1e-6
    grey = save_image(tmp_path / "g.png", torch.rand(7, 9))
    assert np.asarray(Image.open(grey)).shape == (7, 9)
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        save_image(tmp_path / "folder.png", img)
    with pytest.raises(ValidationError, match=".png"):
        save_image(tmp_path / "a.jpg", img)
    with pytest.raises(ValidationError, match="finite"):
        save_image(tmp_path / "nan.png", torch.full((3, 2, 2), float("nan")))
    assert not (tmp_path / "nan.png").exists()


def test_end_point_error_is_the_per_pixel_norm_and_feeds_the_mean():
    flow = torch.randn(2, 2, 5, 6)
    target = torch.randn(2, 2, 5, 6)
    per_pixel = end_point_error(flow, target)
    assert per_pixel.shape == (2, 5, 6)
    torch.testing.assert_close(per_pixel, (flow - target).double().norm(dim=1))
    assert endpoint_error(flow, target) == pytest.approx(float(per_pixel.mean()))
    assert end_point_error(flow[0], target[0]).shape == (5, 6)
    with pytest.raises(ShapeError):
        end_point_error(flow, target[:, :, :4])
