"""layer_io_change and relative_change: a layer's input against its output under a transform."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.analysis import layer_io_change, relative_change, translate


def test_relative_change_is_norm_of_difference_over_reference_norm():
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    b = torch.tensor([[3.0, 4.0], [1.0, 2.0]])
    assert relative_change(a, b).tolist() == [0.0, 2.0]
    with pytest.raises(ValidationError, match="one shape"):
        relative_change(a, b[:1])


def test_identity_transform_changes_nothing():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    x = torch.rand(4, 1, 8, 8)
    before, after = layer_io_change(net, x, x, ["2"])["2"]
    assert before.abs().max() == 0 and after.abs().max() == 0


def test_max_pool_absorbs_a_shift_within_its_window():
    # one bright pixel at (0, 0) moved to (1, 1): same 2×2 window, the pooled map is unchanged
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1.0
    net = nn.Sequential(nn.Identity(), nn.MaxPool2d(2))
    before, after = layer_io_change(net, x, translate(x, (1, 1)), ["1"])["1"]
    assert before.item() == pytest.approx(2**0.5) and after.item() == 0.0


def test_layer_io_change_rejects_bad_input():
    net = nn.Sequential(nn.Identity(), nn.MaxPool2d(2))
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValidationError, match="not submodules"):
        layer_io_change(net, x, x, ["pool9"])
    with pytest.raises(ValidationError, match="same shape"):
        layer_io_change(net, x, x[:1], ["1"])
    with pytest.raises(ValidationError, match="at least one"):
        layer_io_change(net, x, x, [])
