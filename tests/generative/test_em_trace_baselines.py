"""EM one step at a time, tuned classical density baselines, bits per dimension, uint8 grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nndl import ValidationError
from nndl.generative import (
    bits_per_dim,
    em_agreement,
    em_monotonicity,
    em_trace,
    image_grid_uint8,
    tune_gaussian_mixture,
    tune_kernel_density,
)
from nndl.validation import DTypeError


def blobs(n=150, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(-3, 1, (n, 2)), rng.normal(3, 0.7, (n, 2))])


# -- EM trace ----------------------------------------------------------------------------------
def test_em_trace_closes_the_gap_and_never_lowers_the_log_likelihood():
    t = em_trace(blobs(), 3, max_steps=30, step_tol=0.0, random_state=0)
    assert t.degenerate_at is None
    assert len(t.loglik) == len(t.elbo_after_e) + 1 == len(t.elbo_after_m) + 1
    stats = em_monotonicity(t.loglik, t.elbo_after_e, t.elbo_after_m)
    assert stats["max_e_gap"] < 1e-12
    assert stats["min_step"] > -1e-12 and stats["min_m_change"] > -1e-12
    assert stats["iterations"] == len(t.elbo_after_e)
    assert t.start_means.shape == (3, 2) and t.model.means_.shape == (3, 2)


def test_em_trace_stops_once_the_step_is_below_tol():
    t = em_trace(blobs(), 2, max_steps=200, step_tol=1e-3, random_state=0)
    assert len(t.elbo_after_e) < 200
    assert t.loglik[-1] - t.loglik[-2] < 1e-3


def test_em_trace_checks_its_arguments():
    with pytest.raises(ValidationError, match="max_steps"):
        em_trace(blobs(), 2, max_steps=0)
    with pytest.raises(ValidationError, match="step_tol"):
        em_trace(blobs(), 2, step_tol=-1.0)


def test_em_monotonicity_sees_a_falling_log_likelihood_and_a_gap():
    ll, e, m = [-3.0, -2.5, -2.6], [-3.0, -2.5 - 1e-6], [-2.7, -2.55]
    s = em_monotonicity(ll, e, m)
    assert s["min_step"] == pytest.approx(-0.1 / 3.0)
    assert s["max_e_gap"] == pytest.approx(1e-6)
    assert s["min_m_change"] == pytest.approx((-2.55 + 2.5 + 1e-6) / 3.0)  # the second M-step
    assert em_monotonicity([-1.0], [], [])["iterations"] == 0.0
    with pytest.raises(ValidationError, match="loglik"):
        em_monotonicity([], [], [])
    with pytest.raises(ValidationError, match="longer"):
        em_monotonicity([-1.0, -0.9], [-1.0], [-0.95, -0.9])


# -- baselines ---------------------------------------------------------------------------------
def test_bits_per_dim_of_the_uniform_density_is_log2_of_the_levels():
    assert bits_per_dim(0.0, 64, 17) == pytest.approx(math.log2(17))
    assert bits_per_dim(64 * math.log(2), 64, 17) == pytest.approx(math.log2(17) - 1)
    with pytest.raises(ValidationError, match="levels"):
        bits_per_dim(0.0, 64, 1)


def test_tune_gaussian_mixture_finds_two_blobs():
    x, v = blobs(seed=0), blobs(seed=1)
    best, rows = tune_gaussian_mixture(
        x, v, components=(1, 2), covariance_types=("diag", "full"), reg_covars=(1e-6, 1e-3),
        random_state=0,
    )  # fmt: skip
    assert len(rows) == 8 and best["n_components"] == 2
    assert best["val"] == max(r[3] for r in rows)
    assert [r[:3] for r in rows[:2]] == [["diag", 1, 1e-6], ["diag", 1, 1e-3]]
    with pytest.raises(ValidationError, match="non-empty"):
        tune_gaussian_mixture(x, v, components=(), covariance_types=("diag",), reg_covars=(0.1,))
    with pytest.raises(ValidationError, match="columns"):
        tune_gaussian_mixture(x, v[:, :1], components=(1,), covariance_types=("diag",),
                              reg_covars=(0.1,))  # fmt: skip


def test_tune_kernel_density_refuses_absurd_bandwidths():
    h, scores = tune_kernel_density(blobs(seed=0), blobs(seed=1), [1e-3, 0.5, 50.0])
    assert h == 0.5 and len(scores) == 3 and scores[1] == max(scores)
    with pytest.raises(ValidationError, match="bandwidths"):
        tune_kernel_density(blobs(), blobs(), [0.0, 1.0])


def test_em_agreement_of_nndl_and_sklearn_from_one_start():
    out = em_agreement(blobs(seed=0), blobs(seed=1), n_components=2, covariance_type="full",
                       reg_covar=1e-6, random_state=0)  # fmt: skip
    assert out["relative_difference"] < 1e-6
    assert out["nndl"] == pytest.approx(out["sklearn"], rel=1e-6)


# -- uint8 grids -------------------------------------------------------------------------------
def test_image_grid_uint8_clamps_and_pads_white():
    imgs = torch.stack([torch.zeros(1, 2, 2), torch.full((1, 2, 2), 2.0)])
    g = image_grid_uint8(imgs, nrow=2)
    assert g.dtype == torch.uint8 and g.shape == (4, 7)
    assert int(g[1, 1]) == 0 and int(g[1, 4]) == 255 and int(g[0, 0]) == 255
    with pytest.raises(ValidationError):
        image_grid_uint8(torch.zeros(2, 2, 2))


def test_monotonicity_and_kde_refuse_non_numbers_and_non_finite_values_by_name():
    with pytest.raises(ValidationError, match="loglik must be finite"):
        em_monotonicity([-3.0, math.nan], [-3.0], [-2.5])
    with pytest.raises(DTypeError, match="elbo_after_e must be a sequence of numbers"):
        em_monotonicity([-3.0], ["a"], [])
    x = np.random.default_rng(0).random((20, 3))
    with pytest.raises(DTypeError, match="x_fit must be numeric, got str"):
        tune_kernel_density("abc", x, [0.1])
    with pytest.raises(ValidationError, match="x_val must be finite"):
        tune_kernel_density(x, np.full((4, 3), np.inf), [0.1])
    with pytest.raises(ValidationError, match=r"bandwidths\[i\] must be in the range"):
        tune_kernel_density(x, x, [0.1, math.nan])
    with pytest.raises(ValidationError, match="bandwidths must be a non-empty sequence"):
        tune_kernel_density(x, x, "0.1")  # type: ignore[arg-type]
