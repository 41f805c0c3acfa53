"""GaussianMixtureEM: against scikit-learn from the same start, EM's monotone bound, the E-step's
zero gap, sampling, BIC, scikit-learn's estimator checks, and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import check_estimator

from nndl import ValidationError
from nndl.generative import GaussianMixtureEM


def _blobs(n: int = 300, d: int = 3, k: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, d))
    scales = rng.uniform(0.5, 1.5, (k, d, d))
    parts = [rng.normal(size=(n // k, d)) @ scales[i] + centres[i] for i in range(k)]
    return np.concatenate(parts)


def _digits(n: int = 500) -> np.ndarray:
    from sklearn.datasets import load_digits

    x = load_digits().data[:n] / 16.0
    rng = np.random.default_rng(0)
    return (np.round(x * 16) + rng.uniform(size=x.shape)) / 17  # dequantised: no constant pixel


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_matches_sklearn_from_same_initialisation(covariance_type):
    x = _digits(400)[:, :12] if covariance_type == "full" else _digits(400)
    start = GaussianMixture(4, covariance_type=covariance_type, max_iter=0, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(x)
    init = {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }
    kw = {"covariance_type": covariance_type, "reg_covar": 1e-4, "max_iter": 300, "tol": 1e-8}
    ours = GaussianMixtureEM(4, **kw, **init).fit(x)
    ref = GaussianMixture(4, **kw, **init).fit(x)
    # the criterion is 1e-4 relative; the two are the same algorithm in float64
    assert abs(ours.score(x) - ref.score(x)) <= 1e-4 * abs(ref.score(x))
    assert abs(ours.score(x) - ref.score(x)) <= 1e-9 * abs(ref.score(x))
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(ours.means_, ref.means_, atol=1e-8)
    np.testing.assert_allclose(ours.covariances_, ref.covariances_, atol=1e-8)
    np.testing.assert_allclose(ours.score_samples(x), ref.score_samples(x), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), atol=1e-8)
    assert ours.bic(x) == pytest.approx(ref.bic(x), rel=1e-10)
    assert ours.aic(x) == pytest.approx(ref.aic(x), rel=1e-10)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_likelihood_never_decreases(covariance_type, seed):
    # exact EM (reg_covar = 0): every M-step maximises the ELBO, so ℓ(θ_t) is non-decreasing
    x = _blobs(seed=seed)
    gmm = GaussianMixtureEM(
        4,
        covariance_type=covariance_type,
        reg_covar=0.0,
        init_params="kmeans",
        tol=1e-12,
        max_iter=200,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x)
    bounds = np.asarray(gmm.lower_bounds_)
    assert len(bounds) > 3
    assert np.diff(bounds).min() >= -1e-12 * np.abs(bounds).max()
    assert gmm.lower_bound_ == bounds[-1]
    assert gmm.score(x) >= bounds[-1] - 1e-12  # the final parameters are at least as good


def test_e_step_closes_the_gap_and_m_step_raises_the_bound():
    x = _blobs()
    gmm = GaussianMixtureEM(3, init_params="kmeans", max_iter=2, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x)
        resp = gmm.predict_proba(x)  # E-step: q = p(z | x, θ)
        np.testing.assert_allclose(gmm.elbo(x, resp), gmm.score_samples(x), atol=1e-10)
        before = gmm.elbo(x, resp).mean()
        gmm.set_params(max_iter=1)
        gmm.fit(x)  # one more EM iteration
    after = gmm.elbo(x, resp).mean()  # same q, new θ
    assert after >= before - 1e-12
    assert gmm.score(x) >= after  # the ELBO is a lower bound
    other = np.full_like(resp, 1.0 / resp.shape[1])
    assert np.all(gmm.elbo(x, other) <= gmm.score_samples(x) + 1e-12)


def test_fit_predict_agrees_with_fit_then_predict():
    x = _blobs()
    gmm = GaussianMixtureEM(3, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = gmm.fit_predict(x)
    np.testing.assert_array_equal(labels, gmm.predict(x))
    np.testing.assert_allclose(gmm.predict_proba(x).sum(1), 1.0)
    assert gmm.converged_ is False


def test_warns_when_not_converged():
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        GaussianMixtureEM(3, max_iter=1, random_state=0).fit(_blobs())


@pytest.mark.parametrize("init_params", ["k-means++", "kmeans", "random", "random_from_data"])
def test_initialisations_are_seeded_and_finish(init_params):
    x = _blobs()
    a = GaussianMixtureEM(3, init_params=init_params, random_state=3, reg_covar=1e-3).fit(x)
    b = GaussianMixtureEM(3, init_params=init_params, random_state=3, reg_covar=1e-3).fit(x)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert a.converged_ and a.score(x) > -10


def test_kmeans_plusplus_picks_separated_seeds():
    # three far-apart tight clusters: k-means++ seeding starts one component in each
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.01, (50, 2)) for c in (-100.0, 0.0, 100.0)])
    gmm = GaussianMixtureEM(3, init_params="k-means++", max_iter=0, random_state=0).fit(x)
    assert sorted(np.round(gmm.means_[:, 0], -1).tolist()) == [-100.0, 0.0, 100.0]


def test_sample_shapes_and_moments():
    x = _blobs()
    for cov in ("full", "diag"):
        gmm = GaussianMixtureEM(3, covariance_type=cov, random_state=0).fit(x)
        xs, comps = gmm.sample(20000)
        assert xs.shape == (20000, 3) and comps.shape == (20000,)
        assert set(np.unique(comps)) <= {0, 1, 2}
        np.testing.assert_allclose(np.bincount(comps, minlength=3) / 20000, gmm.weights_, atol=0.02)
        k = int(np.argmax(gmm.weights_))
        np.testing.assert_allclose(xs[comps == k].mean(0), gmm.means_[k], atol=0.1)
        sample_cov = np.cov(xs[comps == k].T)
        model_cov = gmm.covariances_[k] if cov == "full" else np.diag(gmm.covariances_[k])
        np.testing.assert_allclose(sample_cov, model_cov, atol=0.15 * np.abs(model_cov).max())


def test_passes_sklearn_estimator_checks():
    """scikit-learn's estimator contract, as a density estimator (like GaussianMixture).

    Skipped by scikit-learn itself, and only that: ``check_array_api_input`` (it needs
    ``SCIPY_ARRAY_API=1`` and an array-API namespace; nndl computes in PyTorch float64 and
    converts any input through ``validate_data``, so array-API dispatch does not apply).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GaussianMixtureEM(n_init=2, max_iter=5), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed, failed
    assert skipped <= {"check_array_api_input"}, skipped
    assert sum(r["status"] == "passed" for r in results) >= 38


def test_rejects_bad_input():
    x = _blobs()
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixtureEM(2).fit(bad)
    with pytest.raises(ValidationError, match="n_samples >= n_components"):
        GaussianMixtureEM(5).fit(x[:3])
    with pytest.raises(ValidationError, match="covariance_type"):
        GaussianMixtureEM(2, covariance_type="tied").fit(x)
    with pytest.raises(ValidationError, match="n_components must be an int in the range"):
        GaussianMixtureEM(0).fit(x)
    with pytest.raises(ValidationError, match="reg_covar must be in the range"):
        GaussianMixtureEM(2, reg_covar=-1.0).fit(x)
    with pytest.raises(ValidationError, match=r"means_init must have shape \(2, 3\)"):
        GaussianMixtureEM(2, means_init=np.zeros((3, 3))).fit(x)
    with pytest.raises(ValidationError, match="weights_init must be >= 0 and sum to 1"):
        GaussianMixtureEM(2, weights_init=[0.7, 0.7]).fit(x)
    with pytest.raises(ValidationError, match="positive-definite"):
        GaussianMixtureEM(2, precisions_init=-np.stack([np.eye(3)] * 2)).fit(x)
    with pytest.raises(ValidationError, match="ill-defined empirical covariance"):
        GaussianMixtureEM(2, reg_covar=0.0).fit(x)  # k-means++ starts at single points
    gmm = GaussianMixtureEM(2, random_state=0).fit(x)
    with pytest.raises(ValidationError, match="n_samples must be an int in the range"):
        gmm.sample(0)
    with pytest.raises(ValidationError, match="resp must have shape"):
        gmm.elbo(x, np.ones((3, 2)) / 2)


def test_checkpoint_round_trip_and_a_state_that_does_not_fit(tmp_path):
    import json

    from safetensors.torch import save as st_save

    from nndl.train import CheckpointError, load_checkpoint

    X = np.random.default_rng(1).normal(size=(40, 3))
    gmm = GaussianMixtureEM(3, covariance_type="full", random_state=0).fit(X)
    path = gmm.save(tmp_path / "gmm.safetensors")
    loaded = GaussianMixtureEM.from_checkpoint(path)
    np.testing.assert_array_equal(loaded.score_samples(X), gmm.score_samples(X))
    assert loaded.n_iter_ == gmm.n_iter_ and loaded.lower_bounds_ == gmm.lower_bounds_
    tensors, meta = load_checkpoint(path)
    for edit, message in (
        ({"n_components": 2}, r"weights_ must have shape \(2,\)"),
        ({"covariance_type": "diag"}, r"covariances_ must have shape \(3, 3\)"),
        ({"n_componentz": 2}, "unexpected keyword"),
    ):
        bad = {**meta, "config": {**meta["config"], **edit}}
        (tmp_path / "bad.safetensors").write_bytes(
            st_save(tensors, metadata={"nndl": json.dumps(bad)})
        )
        with pytest.raises(CheckpointError, match=message):
            GaussianMixtureEM.from_checkpoint(tmp_path / "bad.safetensors")
    with pytest.raises(NotFittedError):
        GaussianMixtureEM(2).save(tmp_path / "unfitted.safetensors")
    assert not (tmp_path / "unfitted.safetensors").exists()
