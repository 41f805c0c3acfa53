"""Exact checks of latent-variable models: quadrature, closed forms, sampler deviations."""

from __future__ import annotations

import math

import pytest
import torch

from nndl import ValidationError
from nndl.generative import (
    VAE,
    diag_gaussian_kl,
    gaussian_sample_deviations,
    importance_gaps,
    latent_quadrature,
    linear_gaussian_vae,
    posterior_box,
)
from nndl.validation import DTypeError

F64 = torch.float64


def ppca(d=4, scales=(2.0, 1.0), noise=0.5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=gen, dtype=F64))
    b = torch.randn(d, generator=gen, dtype=F64)
    vae, cov = linear_gaussian_vae(q * torch.tensor(scales, dtype=F64), b, noise)
    return vae, b, cov


def box(half=9.0):
    return torch.full((2,), -half, dtype=F64), torch.full((2,), half, dtype=F64)


def test_diag_gaussian_kl_matches_torch_and_vanishes_on_itself():
    m1, s1 = torch.tensor([0.3, -1.0], dtype=F64), torch.tensor([0.5, 2.0], dtype=F64)
    m2, s2 = torch.tensor([1.0, 0.0], dtype=F64), torch.tensor([1.5, 0.7], dtype=F64)
    p = torch.distributions.Normal(m1, s1)
    q = torch.distributions.Normal(m2, s2)
    want = torch.distributions.kl_divergence(p, q).sum()
    assert float(diag_gaussian_kl(m1, s1, m2, s2)) == pytest.approx(float(want), rel=1e-12)
    assert float(diag_gaussian_kl(m1, s1, m1, s1)) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValidationError, match="std2"):
        diag_gaussian_kl(m1, s1, m2, -s2)


def test_quadrature_of_the_linear_gaussian_vae_equals_its_closed_form():
    vae, b, cov = ppca()
    x = vae.sample(3, generator=torch.Generator().manual_seed(1))
    mvn = torch.distributions.MultivariateNormal(b, cov)
    for i in range(3):
        quad = latent_quadrature(vae, x[i : i + 1], *box(), 301)
        assert quad.log_px == pytest.approx(float(mvn.log_prob(x[i])), abs=1e-9)
        assert float(quad.posterior_weights().sum()) == pytest.approx(1.0, abs=1e-9)


def test_encoder_of_the_linear_gaussian_vae_is_the_exact_posterior():
    vae, _, _ = ppca()
    x = vae.sample(2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mean, log_var = vae.encode(x)
    quad = latent_quadrature(vae, x[:1], *box(), 301)
    pm, ps = quad.posterior_moments()
    assert torch.allclose(pm, mean[0], atol=1e-8)
    assert torch.allclose(ps, (0.5 * log_var[0]).exp(), atol=1e-8)
    # the identity: log p = ELBO + KL(q‖posterior) for any Gaussian q, KL = 0 for the posterior
    for qm, qs in (
        (pm, ps),
        (pm + 1.0, 2 * ps),
        (torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64)),
    ):
        elbo, kl = quad.identity_terms(qm, qs)
        assert elbo + kl == pytest.approx(quad.log_px, abs=1e-8)
        assert kl == pytest.approx(float(diag_gaussian_kl(qm, qs, pm, ps)), abs=1e-7)
    assert quad.identity_terms(pm, ps)[1] == pytest.approx(0.0, abs=1e-8)


def test_linear_gaussian_vae_refuses_non_orthogonal_columns_and_bad_noise():
    w = torch.tensor([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0]], dtype=F64)
    with pytest.raises(ValidationError, match="orthogonal"):
        linear_gaussian_vae(w, torch.zeros(3, dtype=F64), 0.5)
    with pytest.raises(ValidationError, match="noise"):
        linear_gaussian_vae(torch.eye(3, 2, dtype=F64), torch.zeros(3, dtype=F64), 0.0)
    with pytest.raises(ValidationError):  # ShapeError: bias of the wrong length
        linear_gaussian_vae(torch.eye(3, 2, dtype=F64), torch.zeros(4, dtype=F64), 0.5)


def test_quadrature_checks_its_inputs():
    vae, _, _ = ppca()
    x = vae.sample(2, generator=torch.Generator().manual_seed(3))
    lo, hi = box()
    with pytest.raises(ValidationError, match="single example"):
        latent_quadrature(vae, x, lo, hi, 11)
    with pytest.raises(ValidationError, match="low must lie below high"):
        latent_quadrature(vae, x[:1], hi, lo, 11)
    with pytest.raises(ValidationError, match="points_per_axis"):
        latent_quadrature(vae, x[:1], lo, hi, 1)
    with pytest.raises(DTypeError, match="float64"):
        latent_quadrature(VAE((4,), 2, hidden=(), likelihood="gaussian"), x[:1].float(), lo, hi, 11)
    with pytest.raises(ValidationError, match="2-D latent"):
        latent_quadrature(
            VAE((4,), 3, hidden=(), likelihood="gaussian").double(), x[:1], lo, hi, 11
        )


def test_posterior_box_holds_the_posterior_and_the_covered_gaussians():
    vae, _, _ = ppca()
    x = vae.sample(1, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        mean, log_var = vae.encode(x)
    sd = (0.5 * log_var[0]).exp()
    far = (torch.tensor([5.0, -5.0], dtype=F64), torch.full((2,), 0.1, dtype=F64))
    lo, hi = posterior_box(vae, x, extent=6.0, points_per_axis=81, cover=[far])
    assert bool((lo < mean[0] - 5 * sd).all() and (hi > mean[0] + 5 * sd).all())
    assert bool((lo <= far[0] - 1.0).all() and (hi >= far[0] + 1.0).all())
    with pytest.raises(ValidationError, match="extent"):
        posterior_box(vae, x, extent=0.0, points_per_axis=81)


def test_sample_deviations_are_small_for_the_right_gaussian_and_large_for_a_wrong_one():
    gen = torch.Generator().manual_seed(5)
    mean, sd = torch.tensor([1.0, -2.0, 0.5], dtype=F64), torch.tensor([1.0, 2.0, 0.5], dtype=F64)
    cov = torch.diag(sd**2)
    xs = mean + torch.randn(20000, 3, generator=gen, dtype=F64) * sd
    z = gaussian_sample_deviations(xs, mean, cov)
    assert z.shape == (3 + 6 + 1,)
    assert float(z.abs().max()) < 4.5
    z_wrong = gaussian_sample_deviations(xs, mean + 0.1, cov)
    assert float(z_wrong.abs().max()) > 10
    with pytest.raises(ValidationError):
        gaussian_sample_deviations(xs, mean[:2], cov)


def test_importance_gaps_vanish_for_the_exact_posterior_and_shrink_otherwise():
    vae, b, cov = ppca()
    x = vae.sample(3, generator=torch.Generator().manual_seed(6))
    log_px = torch.distributions.MultivariateNormal(b, cov).log_prob(x)
    mean, se = importance_gaps(
        vae, x, log_px, [1, 8], repeats=2, generator=torch.Generator().manual_seed(7)
    )
    assert mean.shape == se.shape == (2, 3)
    assert float(mean.abs().max()) < 1e-9  # p(x, z) / q(z|x) = p(x) for every z
    # a VAE whose encoder is not the posterior: the gap falls with k
    torch.manual_seed(0)
    wrong = VAE((4,), 2, hidden=(8,), likelihood="gaussian").double()
    xw = x[:2]
    quad = [latent_quadrature(wrong, xw[i : i + 1], *box(12.0), 301).log_px for i in range(2)]
    gen = torch.Generator().manual_seed(8)
    log_pw = torch.tensor(quad, dtype=F64)
    gaps, _ = importance_gaps(wrong, xw, log_pw, [1, 256], repeats=2, budget=512, generator=gen)
    assert bool((gaps[0] > gaps[1]).all()) and float(gaps[1].min()) > -0.05
    with pytest.raises(ValidationError, match="repeats"):
        importance_gaps(vae, x, log_px, [1], repeats=1)
    with pytest.raises(ValidationError):
        importance_gaps(vae, x, log_px[:2], [1])
    with pytest.raises(ValidationError, match="log_px must be finite, got 1 NaN"):
        importance_gaps(vae, x, log_px.index_fill(0, torch.tensor([0]), math.nan), [1])
    with pytest.raises(DTypeError, match="vae must be an nndl.generative.VAE, got str"):
        importance_gaps("vae", x, log_px, [1])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="ks must be a non-empty sequence"):
        importance_gaps(vae, x, log_px, "8")  # type: ignore[arg-type]
    assert math.isfinite(float(se.max()))


def test_diag_gaussian_kl_refuses_non_tensors_and_non_finite_values():
    z = torch.zeros(3, dtype=F64)
    with pytest.raises(DTypeError, match="mean2 must be a torch.Tensor, got float"):
        diag_gaussian_kl(z, z + 1, 0.0, z + 1)
    with pytest.raises(ValidationError, match="mean1 must be finite, got 1 NaN"):
        diag_gaussian_kl(torch.tensor([0.0, math.nan, 0.0], dtype=F64), z + 1, z, z + 1)
