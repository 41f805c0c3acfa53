"""Activations against their definitions (claim G5)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.nn import ACTIVATIONS, Maxout, MaxoutPool, activation, maxout


def test_every_name_builds_a_module():
    for name in ACTIVATIONS:
        assert isinstance(activation(name), nn.Module)


@pytest.mark.parametrize(
    ("name", "kwargs", "reference"),
    [
        ("sigmoid", {}, lambda z: 1 / (1 + torch.exp(-z))),
        ("tanh", {}, lambda z: (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))),
        ("relu", {}, lambda z: torch.where(z > 0, z, torch.zeros_like(z))),
        ("leaky_relu", {"negative_slope": 0.2}, lambda z: torch.where(z > 0, z, 0.2 * z)),
        ("prelu", {}, lambda z: torch.where(z > 0, z, 0.25 * z)),
        ("elu", {"alpha": 1.5}, lambda z: torch.where(z > 0, z, 1.5 * (torch.exp(z) - 1))),
        (
            "gelu",
            {},
            lambda z: z * 0.5 * (1 + torch.erf(z / torch.sqrt(torch.tensor(2.0, dtype=z.dtype)))),
        ),
    ],
)
def test_matches_definition(name, kwargs, reference):
    z = torch.linspace(-6, 6, 241, dtype=torch.float64)
    torch.testing.assert_close(activation(name, **kwargs).double()(z), reference(z))


def test_rrelu_slopes_lie_in_range_in_training_and_are_their_mean_in_eval():
    act = activation("rrelu")
    z = -torch.rand(20000, dtype=torch.float64) - 0.1
    slopes = act.train()(z) / z
    assert slopes.min() >= 1 / 8 - 1e-12 and slopes.max() <= 1 / 3 + 1e-12
    # U(1/8, 1/3): mean 11/48, sd (1/3 - 1/8)/sqrt(12) = 0.0601; 20000 draws -> se 4e-4
    assert abs(float(slopes.mean()) - 11 / 48) < 3e-3
    assert abs(float(slopes.std()) - (1 / 3 - 1 / 8) / 12**0.5) < 3e-3
    torch.testing.assert_close(act.eval()(z), z * 11 / 48)
    positive = torch.rand(100, dtype=torch.float64)
    torch.testing.assert_close(act.train()(positive), positive)


def test_prelu_shared_or_per_channel_slope_is_learnable():
    shared, per_channel = activation("prelu"), activation("prelu", num_parameters=3)
    assert shared.weight.shape == (1,) and per_channel.weight.shape == (3,)
    x = -torch.ones(2, 3, 4, 4)
    per_channel(x).sum().backward()
    torch.testing.assert_close(per_channel.weight.grad, torch.full((3,), -32.0))


def test_maxout_takes_the_maximum_of_contiguous_groups():
    x = torch.randn(5, 12, dtype=torch.float64)
    expected = torch.stack([x[:, 3 * i : 3 * i + 3].max(dim=1).values for i in range(4)], dim=1)
    torch.testing.assert_close(maxout(x, 3), expected)
    torch.testing.assert_close(MaxoutPool(3)(x), expected)
    assert activation("maxout", pieces=4)(torch.zeros(2, 8, 5, 5)).shape == (2, 2, 5, 5)


def test_maxout_layer_shapes_and_equals_max_of_linear_pieces():
    layer = Maxout(6, 4, pieces=3).double()
    x = torch.randn(7, 6, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (7, 4)
    pieces = (x @ layer.weight.T + layer.bias).reshape(7, 4, 3)
    torch.testing.assert_close(out, pieces.max(dim=2).values)
    t = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: maxout(v, 2), t)


def test_maxout_rejects_width_not_divisible_by_pieces():
    with pytest.raises(ValidationError, match="multiple of pieces=3"):
        maxout(torch.zeros(2, 7), 3)
    with pytest.raises(ValidationError, match="pieces must be an int in the range"):
        Maxout(3, 2, pieces=0)


def test_unknown_name_lists_valid_names_closest_first():
    with pytest.raises(ValidationError, match=r"unknown activation 'relu6'; valid: relu, ") as err:
        activation("relu6")
    assert all(name in str(err.value) for name in ACTIVATIONS)


def test_unknown_keyword_is_named():
    with pytest.raises(
        ValidationError,
        match="'leaky_relu' does not take slope; it takes: negative_slope",
    ):
        activation("leaky_relu", slope=0.1)
