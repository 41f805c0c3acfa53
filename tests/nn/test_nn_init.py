"""Initialisation statistics within tolerance (claims G1, G7)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.nn import INIT_SCHEMES, init_, mlp

# A 400×300 weight has 120,000 entries: the sample sd of N(0, s²) is within 1 % of s with
# overwhelming probability (relative se = 1/sqrt(2n) = 0.2 %).
FAN_IN, FAN_OUT = 300, 400


def _layer() -> nn.Linear:
    return nn.Linear(FAN_IN, FAN_OUT)


@pytest.mark.parametrize(
    ("scheme", "kwargs", "expected_sd"),
    [
        ("gaussian", {}, 1.0),
        ("gaussian", {"std": 0.5}, 0.5),
        ("gaussian", {"fan_in_scaled": True}, 1 / math.sqrt(FAN_IN)),
        ("xavier_normal", {"nonlinearity": "sigmoid"}, math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("xavier_uniform", {"nonlinearity": "tanh"}, 5 / 3 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("kaiming_normal", {}, math.sqrt(2 / FAN_IN)),
        ("kaiming_uniform", {"std": 3.0}, 3 * math.sqrt(2 / FAN_IN)),
        ("kaiming_normal", {"gain": 1.0}, 1 / math.sqrt(FAN_IN)),
    ],
)
def test_weight_standard_deviation(scheme, kwargs, expected_sd):
    gen = torch.Generator().manual_seed(1)
    layer = init_(_layer(), scheme, generator=gen, **kwargs)
    w = layer.weight.detach()
    assert abs(float(w.mean())) < 0.05 * expected_sd
    assert float(w.std()) == pytest.approx(expected_sd, rel=0.01)
    assert torch.count_nonzero(layer.bias) == 0


def test_uniform_schemes_are_bounded():
    layer = init_(_layer(), "xavier_uniform", nonlinearity="sigmoid")
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert float(layer.weight.detach().abs().max()) <= bound
    assert float(layer.weight.detach().abs().max()) > 0.99 * bound


def test_orthogonal_rows_are_orthonormal_times_gain():
    layer = init_(nn.Linear(400, 300), "orthogonal", nonlinearity="tanh")
    w = layer.weight.double()
    torch.testing.assert_close(
        w @ w.T, (5 / 3) ** 2 * torch.eye(300, dtype=w.dtype), atol=1e-4, rtol=0
    )


def test_bias_std_and_conv_fan_in():
    conv = nn.Conv2d(20, 30, 5)
    gen = torch.Generator().manual_seed(0)
    init_(conv, "gaussian", fan_in_scaled=True, bias_std=1.0, generator=gen)
    assert float(conv.weight.detach().std()) == pytest.approx(1 / math.sqrt(20 * 25), rel=0.02)
    assert float(conv.bias.detach().std()) == pytest.approx(1.0, rel=0.5)  # only 30 draws


def test_every_layer_of_a_network_and_same_generator_reproduces():
    a, b = (
        mlp(
            [20, 30, 30, 5],
            init="gaussian",
            init_kwargs={"generator": torch.Generator().manual_seed(3)},
        )
        for _ in range(2)
    )
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert float(a.out.weight.detach().std()) == pytest.approx(1.0, rel=0.15)


def test_unknown_scheme_and_bad_scale_are_rejected():
    with pytest.raises(
        ValidationError,
        match=r"unknown init scheme 'xavier'; valid: xavier_normal, xavier_uniform",
    ):
        init_(_layer(), "xavier")
    with pytest.raises(ValidationError, match="std must be in the range"):
        init_(_layer(), "gaussian", std=0.0)
    with pytest.raises(ValidationError, match="unknown nonlinearity 'swish'"):
        init_(_layer(), "kaiming_normal", nonlinearity="swish")
    with pytest.raises(ValidationError, match="Linear, Conv or Maxout"):
        init_(nn.ReLU(), "gaussian")


def test_schemes_tuple_is_complete():
    for scheme in INIT_SCHEMES:
        init_(_layer(), scheme)
