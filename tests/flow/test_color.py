"""Middlebury colour wheel against a NumPy port of the reference flowToColor / flow_vis."""

import math

import numpy as np
import pytest
import torch

from nndl._validation import ShapeError, ValidationError
from nndl.flow import disparity_to_color, flow_color_legend, flow_to_color


def _make_colorwheel() -> np.ndarray:
    ry, yg, gc, cb, bm, mr = 15, 6, 4, 11, 13, 6
    wheel = np.zeros((ry + yg + gc + cb + bm + mr, 3))
    col = 0
    wheel[0:ry, 0] = 255
    wheel[0:ry, 1] = np.floor(255 * np.arange(0, ry) / ry)
    col += ry
    wheel[col : col + yg, 0] = 255 - np.floor(255 * np.arange(0, yg) / yg)
    wheel[col : col + yg, 1] = 255
    col += yg
    wheel[col : col + gc, 1] = 255
    wheel[col : col + gc, 2] = np.floor(255 * np.arange(0, gc) / gc)
    col += gc
    wheel[col : col + cb, 1] = 255 - np.floor(255 * np.arange(cb) / cb)
    wheel[col : col + cb, 2] = 255
    col += cb
    wheel[col : col + bm, 2] = 255
    wheel[col : col + bm, 0] = np.floor(255 * np.arange(0, bm) / bm)
    col += bm
    wheel[col : col + mr, 2] = 255 - np.floor(255 * np.arange(mr) / mr)
    wheel[col : col + mr, 0] = 255
    return wheel


def _flow_to_color_reference(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """flow_vis.flow_uv_to_colors after normalising by the largest radius."""
    rad_max = np.sqrt(u**2 + v**2).max()
    u, v = u / rad_max, v / rad_max
    wheel = _make_colorwheel()
    ncols = wheel.shape[0]
    rad = np.sqrt(u**2 + v**2)
    a = np.arctan2(-v, -u) / np.pi
    fk = (a + 1) / 2 * (ncols - 1)
    k0 = np.floor(fk).astype(np.int32)
    k1 = k0 + 1
    k1[k1 == ncols] = 0
    f = fk - k0
    out = np.zeros((*u.shape, 3))
    for i in range(3):
        col0, col1 = wheel[k0, i] / 255.0, wheel[k1, i] / 255.0
        col = (1 - f) * col0 + f * col1
        idx = rad <= 1
        col[idx] = 1 - rad[idx] * (1 - col[idx])
        col[~idx] = col[~idx] * 0.75
        out[..., i] = col
    return out


def test_matches_reference_implementation():
    gen = torch.Generator().manual_seed(0)
    flow = torch.randn(2, 9, 13, generator=gen, dtype=torch.float64) * 3
    ours = flow_to_color(flow).permute(1, 2, 0).numpy()
    ref = _flow_to_color_reference(flow[0].numpy(), flow[1].numpy())
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_conventions_zero_is_white_right_is_red_nonfinite_is_black():
    flow = torch.zeros(1, 2, 1, 3)
    flow[0, 0, 0, 1] = 2.0  # pure motion to the right, the longest vector
    flow[0, 0, 0, 2] = math.nan
    rgb = flow_to_color(flow)[0, :, 0]
    assert rgb[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert rgb[:, 1].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)
    assert rgb[:, 2].tolist() == [0.0, 0.0, 0.0]
    # beyond max_flow the colour is darkened to 75 %
    assert flow_to_color(flow[:, :, :, 1:2], max_flow=1.0)[0, 0, 0, 0].item() == pytest.approx(0.75)


def test_legend_and_disparity_pictures():
    legend = flow_color_legend(33)
    assert legend.shape == (3, 33, 33) and float(legend.min()) >= 0 and float(legend.max()) <= 1
    disp = torch.tensor([[0.0, 10.0], [math.inf, 5.0]])
    rgb = disparity_to_color(disp, max_disparity=10.0)
    assert rgb.shape == (3, 2, 2)
    assert rgb[:, 1, 0].tolist() == [0.0, 0.0, 0.0]  # unknown is black
    assert float(rgb[:, 0, 1].sum()) > float(rgb[:, 1, 1].sum())  # nearer is brighter


def test_rejects_bad_input():
    with pytest.raises(ShapeError, match="flow must have shape"):
        flow_to_color(torch.zeros(3, 4, 4))
    with pytest.raises(ValidationError, match="max_flow must be"):
        flow_to_color(torch.zeros(2, 4, 4), max_flow=0.0)
    with pytest.raises(ValidationError, match="unknown colour map"):
        disparity_to_color(torch.zeros(2, 2), cmap="nope")
