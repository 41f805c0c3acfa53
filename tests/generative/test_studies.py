"""V1/V4 measurements: dequantised splits, density baselines, VAE scores, sample sets, GAN runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl import ValidationError
from nndl.generative import (
    VAE,
    FeatureClassifier,
    GANRun,
    GaussianMixtureEM,
    density_baselines,
    dequantized_splits,
    evaluate_sets,
    features,
    gan_run_summary,
    mixture_samples,
    vae_mean_pixels,
    vae_scores,
)
from nndl.validation import DTypeError


def pixels(n=120, d=6, levels=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, levels, (n, d), generator=gen).float() / (levels - 1)


def test_dequantized_splits_sizes_and_the_dequantised_scale():
    x, y = pixels(), torch.arange(120) % 3
    parts = dequantized_splits(
        x, y, 5, test_size=30, val_size=20, seed=0, generator=torch.Generator().manual_seed(1)
    )
    assert {k: v.shape[0] for k, v in parts.items()} == {
        "train": 90,
        "test": 30,
        "fit": 70,
        "val": 20,
    }
    for v in parts.values():  # (pixel + u) / L lies in [pixel / L, (pixel + 1) / L)
        assert float(v.min()) >= 0.0 and float(v.max()) < 1.0

    def pixel_rows(v):
        return sorted(map(tuple, torch.floor(v * 5).int().tolist()))

    # fit and val split the training pixels (each dequantised with its own noise)
    assert pixel_rows(torch.cat([parts["fit"], parts["val"]])) == pixel_rows(parts["train"])
    with pytest.raises(ValidationError, match="test_size"):
        dequantized_splits(x, y, 5, test_size=200, val_size=20, seed=0)
    with pytest.raises(ValidationError, match="levels"):
        dequantized_splits(x, None, 1, test_size=30, val_size=20, seed=0)


def blob_splits(seed=0):
    rng = np.random.default_rng(seed)

    def draw(n):
        return np.concatenate([rng.normal(0, 0.3, (n, 2)), rng.normal(3, 0.3, (n, 2))])

    return {"fit": draw(60), "val": draw(30), "train": draw(90), "test": draw(40)}


def test_density_baselines_choose_on_validation_and_score_on_test():
    grid = {"components": (1, 2), "covariance_types": ("full",), "reg_covars": (1e-6,)}
    out, gmm = density_baselines(
        blob_splits(), bandwidths=(0.01, 0.2, 5.0), random_state=0, cross_check=True, **grid
    )
    assert out["gmm"]["n_components"] == 2 and gmm.n_components == 2  # two blobs
    assert out["kde"]["bandwidth"] == 0.2 and len(out["kde"]["val"]) == 3
    assert out["gmm"]["test"] > out["kde"]["test"] - 1.0
    assert out["gmm_cross_check"]["relative_difference"] < 1e-3
    out, _ = density_baselines(blob_splits(), bandwidths=(0.2,), **grid)
    assert out["gmm_cross_check"] is None
    with pytest.raises(ValidationError, match="missing"):
        density_baselines({"fit": np.zeros((3, 2))}, bandwidths=(0.2,), **grid)


def small_vae(levels=5, seed=0):
    torch.manual_seed(seed)
    return VAE((6,), 2, hidden=(16,), levels=levels).eval()


def test_vae_scores_importance_weighting_is_above_the_elbo():
    vae = small_vae()
    x = pixels(40) * 0.8 + 0.1  # inside (0, 1)
    s = vae_scores(vae, x, 64, torch.Generator().manual_seed(0))
    assert set(s) == {"iw", "iw_se", "elbo"}
    assert s["iw"] > s["elbo"] and s["iw_se"] > 0
    with pytest.raises(DTypeError):
        vae_scores(torch.nn.Linear(2, 2), x, 4)
    with pytest.raises(ValidationError, match="iw_samples"):
        vae_scores(vae, x, 0)


def test_vae_mean_pixels_are_pixels():
    out = vae_mean_pixels(small_vae(), 10, 5, torch.Generator().manual_seed(0))
    assert out.shape == (10, 6) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_mixture_samples_are_shuffled_requantised_and_shaped():
    x = np.concatenate([np.full((50, 4), 0.1), np.full((50, 4), 0.9)])
    x += np.random.default_rng(0).normal(0, 0.01, x.shape)
    gmm = GaussianMixtureEM(2, random_state=0).fit(x)
    s = mixture_samples(gmm, 40, (1, 2, 2), 5, torch.Generator().manual_seed(0))
    assert s.shape == (40, 1, 2, 2)
    assert torch.allclose(s * 4, (s * 4).round())  # on the pixel levels k / (L − 1)
    first = s.flatten(1)[:, 0] > 0.5
    assert 0 < int(first[:20].sum()) < 20  # not grouped by component
    with pytest.raises(ValidationError, match="shape"):
        mixture_samples(gmm, 4, (3,), 5)


def test_evaluate_sets_scores_each_set_and_real_against_itself_is_close():
    torch.manual_seed(0)
    clf = FeatureClassifier((1, 4, 4), 3, hidden=(8,)).eval()
    ref = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    sets = {"same": ref.clone(), "noise": torch.zeros(60, 1, 4, 4)}
    q = evaluate_sets(clf, ref, sets, k=3)
    assert set(q) == {"same", "noise"} and q["same"]["fd"] < 1e-6 < q["noise"]["fd"]
    assert q["same"]["precision"] == 1.0 and q["same"]["n_samples"] == 60


def test_gan_run_summary_reads_snapshots_and_gradients():
    torch.manual_seed(0)
    clf = FeatureClassifier((1, 4, 4), 3, hidden=(8,)).eval()
    ref = torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    grads = {"0": {"grad_norm": 0.5, "update_ratio": 0.1}}
    run = GANRun(
        history=[
            {
                "epoch": 1,
                "step": 3,
                "loss_d": 1.2,
                "loss_g": 0.7,
                "d_real": 0.6,
                "grad_generator": grads,
            }
        ],
        fixed_samples={0: torch.zeros(40, 1, 4, 4), 1: ref[:40].clone()},
    )
    s = gan_run_summary(run, clf, features(clf, ref), row=4)
    assert s["fd_along_training"]["1"] < 1e-6 < s["fd_along_training"]["0"]
    assert np.asarray(s["fixed_noise_rows"]["0"]).ndim == 2
    assert s["history"] == [
        {
            "epoch": 1,
            "loss_d": 1.2,
            "loss_g": 0.7,
            "grad": {"generator": {"0": 0.5}, "discriminator": {}},
        }
    ]
    with pytest.raises(DTypeError):
        gan_run_summary({"history": []}, clf, features(clf, ref))
