"""The identity checks behind V2/V3 and EM helpers: linear-Gaussian, quadrature, ellipses, EM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl import ValidationError
from nndl.analysis import max_z_pvalue
from nndl.generative import (
    VAE,
    em_trace,
    gaussian_ellipse,
    identity_check,
    largest_bound_fall,
    latent_quadrature,
    linear_gaussian_check,
    posterior_picture,
)
from nndl.validation import DTypeError

F64 = torch.float64


def test_linear_gaussian_check_closes_the_identity_and_its_sampler_passes():
    gen, sgen = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    c = linear_gaussian_check(
        (2.0, 1.0),
        0.5,
        4,
        n_points=2,
        n_samples=4000,
        points_per_axis=201,
        generator=gen,
        sample_generator=sgen,
    )
    assert c.quadrature_error < 1e-8 and c.identity_residual < 1e-8
    assert c.rows[0][0] == "exact posterior" and len(c.rows) == 5
    # KL(q ‖ posterior) is 0 for the exact posterior, positive for the others
    assert abs(c.rows[0][3]) < 1e-12 and all(r[3] > 1e-3 for r in c.rows[1:])
    assert c.sampler_z.shape == (4 + 10 + 1,) and max_z_pvalue(c.sampler_z.tolist()) > 1e-3
    d = c.to_dict(shown=10)
    assert len(d["samples_2d"]) == 10 and np.asarray(d["cov_2d"]).shape == (2, 2)


def test_linear_gaussian_check_refuses_bad_arguments():
    with pytest.raises(ValidationError, match="scales"):
        linear_gaussian_check((2.0, -1.0), 0.5, 4, n_points=1, n_samples=10, points_per_axis=11)
    with pytest.raises(ValidationError, match="n_points"):
        linear_gaussian_check((2.0, 1.0), 0.5, 4, n_points=20, n_samples=10, points_per_axis=11)


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return VAE((6,), 2, hidden=(8,), activation="tanh", likelihood="gaussian").double().eval()


def test_identity_check_adds_up_for_every_q_and_agrees_with_monte_carlo():
    vae = tiny_vae()
    x = torch.randn(1, 6, generator=torch.Generator().manual_seed(3), dtype=F64)
    with torch.no_grad():
        m, log_var = vae.encode(x)
    gen = torch.Generator().manual_seed(4)
    out = identity_check(
        vae,
        x,
        m[0],
        (0.5 * log_var[0]).exp(),
        points_per_axis=161,
        check_points=121,
        coarse_points=41,
        coarse_extent=6.0,
        mc_samples=4000,
        generator=gen,
    )
    assert [r[0] for r in out["rows"]][-1] == "moment-matched posterior"
    for _, log_p, elbo, kl in out["rows"]:
        assert log_p - elbo - kl == pytest.approx(0.0, abs=1e-6) and kl > -1e-9
    assert out["quadrature_error"] < 1e-6 and abs(out["mc_z"]) < 5
    with pytest.raises(ValidationError, match="mc_samples"):
        identity_check(
            vae,
            x,
            m[0],
            m[0] * 0 + 1,
            points_per_axis=21,
            check_points=11,
            coarse_points=11,
            coarse_extent=6.0,
            mc_samples=1,
        )


def test_posterior_picture_integrates_to_one():
    vae = tiny_vae(1)
    x = torch.randn(1, 6, generator=torch.Generator().manual_seed(5), dtype=F64)
    with torch.no_grad():
        m, log_var = vae.encode(x)
    half = 8 * float((0.5 * log_var).exp().max()) + 3
    lo, hi = (m[0] - half).to(F64), (m[0] + half).to(F64)
    log_px = latent_quadrature(vae, x, lo, hi, 121).log_px
    pic = posterior_picture(vae, x, m[0], half, log_px, 121)
    density = np.asarray(pic["density"])
    lo1, hi1, lo2, hi2 = pic["extent"]
    assert density.shape == (121, 121) and (lo1, lo2) == pytest.approx(lo.tolist())
    mass = density.sum() * (hi1 - lo1) / 120 * (hi2 - lo2) / 120  # edges: full, not half, cells
    assert mass == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValidationError, match="half_width"):
        posterior_picture(vae, x, m[0], 0.0, 0.0)


def test_gaussian_ellipse_lies_at_the_mahalanobis_radius():
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    pts = gaussian_ellipse([1.0, -1.0], cov, 2.0, n=50)
    d = pts - np.array([[1.0], [-1.0]])
    r2 = np.einsum("in,ij,jn->n", d, np.linalg.inv(cov), d)
    assert pts.shape == (2, 50) and np.allclose(r2, 4.0)
    diag = gaussian_ellipse([0.0, 0.0], [3.0, 1.0], 1.0)
    assert np.isclose(diag[0].max(), 3.0) and np.isclose(diag[1].max(), 1.0, atol=1e-3)
    with pytest.raises(ValidationError):
        gaussian_ellipse([0.0], cov)


def blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, (n, 2)), rng.normal(6, 1, (n, 2))])


def test_em_trace_to_dict_keeps_the_fit_and_the_trace():
    x = blobs()
    d = em_trace(x, 2, max_steps=5, random_state=0).to_dict(x)
    assert d["degenerate_at"] is None and len(d["loglik"]) == len(d["elbo_after_e"]) + 1
    assert len(d["fitted"]["labels"]) == len(x) and len(set(d["fitted"]["labels"])) == 2


def test_largest_bound_fall_is_zero_for_a_regularised_fit_and_flags_singularity():
    x = blobs()
    ok = largest_bound_fall(x, 2, 1e-3, random_state=0)
    assert not ok["degenerate"] and ok["largest_fall"] <= 0.0 and ok["reg_covar"] == 1e-3
    assert ok["largest_fall"] > -1e-9  # EM never lowers its bound
    x_dup = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 10, axis=0)
    bad = largest_bound_fall(x_dup, 3, 0.0, random_state=0)
    assert bad == {"reg_covar": 0.0, "largest_fall": None, "degenerate": True}
    with pytest.raises(ValidationError, match="reg_covar"):
        largest_bound_fall(x, 2, -1.0)


def test_identity_check_wants_a_vae():
    with pytest.raises((DTypeError, ValidationError)):
        identity_check(
            torch.nn.Linear(2, 2),
            torch.zeros(1, 2),
            torch.zeros(2),
            torch.ones(2),
            points_per_axis=11,
            check_points=5,
            coarse_points=5,
            coarse_extent=3.0,
            mc_samples=10,
        )
