"""Maxout's initialisation gain: 1 keeps the signal's second moment through 2-piece units.

For symmetric i.i.d. pre-activations z1, z2, max(z1, z2)^2 and min(z1, z2)^2 have the same
distribution and add up to z1^2 + z2^2, so E[max(z1, z2)^2] = E[z^2]: unlike ReLU (which halves
it, hence He's sqrt 2), a 2-piece Maxout layer needs gain 1. With sqrt 2 the second moment would
double at every layer.
"""

from __future__ import annotations

import math

import pytest
import torch

from nndl.nn import init_, mlp


def _second_moment(nonlinearity: str, gen: torch.Generator) -> float:
    sizes = [200] + [200] * 6 + [10]
    net = mlp(
        sizes,
        "maxout",
        init="kaiming_normal",
        init_kwargs={"nonlinearity": nonlinearity, "generator": gen},
    )
    x = torch.randn(2000, 200, generator=gen)
    with torch.no_grad():
        return float(net[:-1](x).pow(2).mean())


def test_maxout_gain_is_one():
    layer = torch.nn.Linear(400, 300)
    init_(
        layer, "kaiming_normal", nonlinearity="maxout", generator=torch.Generator().manual_seed(0)
    )
    assert float(layer.weight.detach().std()) == pytest.approx(1 / math.sqrt(400), rel=0.02)


def test_maxout_gain_keeps_the_second_moment_through_six_layers():
    gen = torch.Generator().manual_seed(0)
    kept = _second_moment("maxout", gen)
    doubled = _second_moment("relu", gen)  # He's gain sqrt 2: x2 per layer, 2^6 = 64 overall
    assert 0.6 < kept < 1.6, kept
    assert doubled > 30, doubled
