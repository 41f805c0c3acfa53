"""Decoder likelihoods: against torch.distributions and a naive float64 formula, normalisation,
stability at extreme parameters, gradcheck, sampling ranges and frequencies, support checks."""

from __future__ import annotations

import math

import pytest
import torch

from nndl import ValidationError
from nndl.generative import (
    Bernoulli,
    DiscretizedLogistic,
    Gaussian,
    discretized_logistic_log_prob,
    make_likelihood,
)


def _logistic_cdf(edge: float, mu: float, s: float) -> float:
    return 1.0 / (1.0 + math.exp(-(edge - mu) / s))


def _logistic_sf(edge: float, mu: float, s: float) -> float:
    """1 − cdf, without cancellation above the mean."""
    return 1.0 / (1.0 + math.exp((edge - mu) / s))


def _reference_discretized_logistic(x, mean, log_scale, levels):
    """Slow, obviously correct: L · (F(upper edge) − F(lower edge)), end bins open."""
    out = torch.empty_like(mean)
    for idx in range(mean.numel()):
        xi, mu = float(x.flatten()[idx]), float(mean.flatten()[idx])
        s = math.exp(float(log_scale.flatten()[idx]))
        b = min(math.floor(xi * levels), levels - 1)
        lo_edge, hi_edge = b / levels, (b + 1) / levels
        first, last = b == 0, b == levels - 1
        if lo_edge > mu:  # the bin lies above the mean: difference of survival functions
            upper = 0.0 if last else _logistic_sf(hi_edge, mu, s)
            mass = (1.0 if first else _logistic_sf(lo_edge, mu, s)) - upper
        else:
            lower = 0.0 if first else _logistic_cdf(lo_edge, mu, s)
            mass = (1.0 if last else _logistic_cdf(hi_edge, mu, s)) - lower
        out.view(-1)[idx] = math.log(levels * mass)
    return out


def test_discretized_logistic_matches_reference():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(200, generator=gen, dtype=torch.float64)
    x[:5] = torch.tensor([0.0, 1.0, 0.999, 1 / 17, 16 / 17], dtype=torch.float64)
    mean = torch.rand(200, generator=gen, dtype=torch.float64) * 1.4 - 0.2
    log_scale = torch.rand(200, generator=gen, dtype=torch.float64) * 3 - 4.0
    got = discretized_logistic_log_prob(x, mean, log_scale, 17)
    torch.testing.assert_close(got, _reference_discretized_logistic(x, mean, log_scale, 17))


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretized_logistic_is_a_density_on_the_unit_interval(levels):
    # constant on each of the L bins of width 1/L: the integral is the mean over bin centres
    gen = torch.Generator().manual_seed(1)
    mean = torch.rand(50, 1, generator=gen, dtype=torch.float64) * 2 - 0.5
    log_scale = torch.rand(50, 1, generator=gen, dtype=torch.float64) * 6 - 6
    centres = (torch.arange(levels, dtype=torch.float64) + 0.5) / levels
    density = discretized_logistic_log_prob(centres, mean, log_scale, levels).exp()
    torch.testing.assert_close(density.mean(1), torch.ones(50, dtype=torch.float64))
    # the same value anywhere inside a bin (the dequantisation noise is not modelled)
    inside = centres + 0.49 / levels
    torch.testing.assert_close(
        discretized_logistic_log_prob(inside, mean, log_scale, levels),
        discretized_logistic_log_prob(centres, mean, log_scale, levels),
    )


def test_discretized_logistic_stable_at_extremes():
    x = torch.tensor([0.0, 0.5, 1.0, 0.5, 0.02, 0.98])
    mean = torch.tensor([5.0, -40.0, -40.0, 0.5, 0.5, 0.5], requires_grad=True)
    log_scale = torch.tensor([-7.0, -7.0, -7.0, -7.0, 8.0, 8.0], requires_grad=True)
    lp = discretized_logistic_log_prob(x, mean, log_scale, 17)
    assert torch.isfinite(lp).all()
    assert float(lp.detach()[3]) == pytest.approx(math.log(17), abs=1e-5)  # all the mass in x's bin
    lp.sum().backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(log_scale.grad).all()


def test_discretized_logistic_gradcheck():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(12, generator=gen, dtype=torch.float64)
    x[0], x[1] = 0.0, 1.0  # the two open end bins
    mean = torch.rand(12, generator=gen, dtype=torch.float64).requires_grad_()
    log_scale = (torch.rand(12, generator=gen, dtype=torch.float64) - 2.0).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda m, s: discretized_logistic_log_prob(x, m, s, 17), (mean, log_scale)
    )


def test_gaussian_and_bernoulli_match_torch_distributions():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    mean = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    raw_log_scale = torch.randn(30, 5, generator=gen, dtype=torch.float64)
    ref = torch.distributions.Normal(mean, raw_log_scale.exp()).log_prob(x)
    torch.testing.assert_close(Gaussian(min_scale=1e-6).log_prob((mean, raw_log_scale), x), ref)
    bits = (torch.rand(30, 5, generator=gen) > 0.5).double()
    logits = torch.randn(30, 5, generator=gen, dtype=torch.float64) * 3
    ref = torch.distributions.Bernoulli(logits=logits).log_prob(bits)
    torch.testing.assert_close(Bernoulli().log_prob((logits,), bits), ref)


def test_samples_ranges_and_frequencies():
    lik = DiscretizedLogistic(levels=17)
    mean = torch.full((200000,), 0.3)
    log_scale = torch.full((200000,), math.log(0.08))
    gen = torch.Generator().manual_seed(4)
    xs = lik.sample((mean, log_scale), gen)
    assert xs.min() >= 0.0 and xs.max() <= 1.0
    freq = torch.bincount(lik.bins(xs).long(), minlength=17).double() / xs.numel()
    probs = lik.bin_probs((mean[:1], log_scale[:1]))[0].double()
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert (freq - probs).abs().max() < 4e-3
    assert lik.mean((mean[:1], log_scale[:1]))[0] == pytest.approx(float(xs.mean()), abs=2e-3)
    b = Bernoulli().sample((torch.zeros(1000),), gen)
    assert set(b.unique().tolist()) <= {0.0, 1.0}


def test_support_checks_and_names():
    with pytest.raises(ValidationError, match=r"must lie in \[0, 1\] for the Bernoulli"):
        Bernoulli().check_support(torch.tensor([0.0, 1.5]), name="x")
    with pytest.raises(ValidationError, match=r"\[-0\.1, 0\.5\]"):
        DiscretizedLogistic(17).check_support(torch.tensor([-0.1, 0.5]), name="x")
    Gaussian().check_support(torch.tensor([-3.0, 7.0]))  # any real value
    with pytest.raises(ValidationError, match="unknown likelihood 'bernouli'; valid: bernoulli"):
        make_likelihood("bernouli")
    with pytest.raises(ValidationError, match="levels must be an int in the range"):
        DiscretizedLogistic(levels=1)
    assert make_likelihood({"name": "discretized_logistic", "levels": 17}).levels == 17
    assert DiscretizedLogistic(17).preprocess(torch.tensor([0.0, 0.999])).tolist() == [
        pytest.approx(0.5 / 17),
        pytest.approx(16.5 / 17),
    ]
