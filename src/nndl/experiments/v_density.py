r"""V1: density estimation on the digits — a VAE beside scikit-learn's mixture and kernel models.

A generative model estimates a density :math:`p_\theta(x)` from samples (V1). The digits are
8×8 images with 17 grey levels; to compare continuous densities they are dequantised
(:func:`nndl.data.dequantize`), :math:`x = (\text{pixel} + u)/17` with
:math:`u \sim U(0, 1)^{64}`, so every model is a density on :math:`[0, 1]^{64}` and the
uniform density scores 0 nats. Each seed draws its own 1,400 / 397 train/test split (and a
200-image validation part of the training images), its own dequantisation noise and its own
initialisation, and fits:

* ``sklearn.mixture.GaussianMixture`` — number of components, covariance type and
  ``reg_covar`` chosen on the validation part (:func:`~nndl.generative.tune_gaussian_mixture`),
  then refitted on all 1,400 images (on the first seed nndl's
  :class:`~nndl.generative.GaussianMixtureEM` is run from the same initialisation as a
  cross-check, :func:`~nndl.generative.em_agreement`);
* ``sklearn.neighbors.KernelDensity`` — Gaussian kernel, bandwidth chosen on the validation
  part (:func:`~nndl.generative.tune_kernel_density`), refitted on all 1,400;
* :class:`~nndl.generative.VAE` with a discretised-logistic decoder, trained on the 1,400
  images (:func:`~nndl.generative.train_vae`), scored by the importance-weighted estimate with
  k samples per image (a lower bound of log p(x) in expectation).

Reported: mean test log-likelihood in nats per image (higher is better) and in bits per
dimension of the 17-level pixels (:func:`~nndl.generative.bits_per_dim`; lower is better; a
uniform model scores :math:`\log_2 17 = 4.09`). The verdict compares the VAE with the better
classical estimator of the same seed, paired over seeds. Samples come from the two steps of
V2: z from the prior N(0, I), then x from p(x | z).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nndl.analysis import decide, paired_interval
from nndl.data import load_digits, requantize
from nndl.generative import (
    VAE,
    bits_per_dim,
    density_baselines,
    dequantized_splits,
    image_grids,
    mixture_samples,
    train_vae,
    vae_scores,
)

from . import Canvas, ConfigError, Context, Verdict, as_float, register, rule


@dataclass
class DensityConfig:
    """Settings of ``v1_digit_density`` (the VAE trains with Adam and cosine decay)."""

    seeds: int = 3  # seeds (splits, dequantisation noise, initialisations) the verdict pairs
    test_size: int = 397  # test images per split
    val_size: int = 200  # training images held out to choose the mixture and the bandwidth
    latent_dim: int = 16
    hidden: tuple[int, ...] = (256, 256)
    activation: str = "elu"
    epochs: int = 120
    batch_size: int = 128
    lr: float = 5e-3
    iw_samples: int = 500  # importance samples k per test image
    gmm_components: tuple[int, ...] = (5, 10, 20, 50, 100)  # the mixture's selection grid …
    gmm_covariances: tuple[str, ...] = ("diag", "full")
    gmm_reg_covar: tuple[float, ...] = (1e-4, 1e-3)
    kde_bandwidths: tuple[float, ...] = (0.03, 0.045, 0.065, 0.095, 0.14, 0.2, 0.3)
    n_samples_grid: int = 64  # samples drawn for the figure (a square number)

    def __post_init__(self) -> None:
        if math.isqrt(self.n_samples_grid) ** 2 != self.n_samples_grid:
            raise ConfigError(f"n_samples_grid must be a square number, got {self.n_samples_grid}")
        bad = [c for c in self.gmm_covariances if c not in ("diag", "full", "spherical", "tied")]
        if bad:
            raise ConfigError(f"gmm_covariances must be diag/full/spherical/tied, got {bad}")


V1_RULE = rule("v1_digit_density", "V1")


def _one_seed(cfg: DensityConfig, ctx: Context, i: int) -> dict[str, Any]:
    """Every model on one seed's split; the first seed also keeps samples and the cross-check."""
    seed, data = (ctx.seed * 1000 + i) % 2**31, load_digits()
    sizes = {"test_size": cfg.test_size, "val_size": cfg.val_size, "seed": seed}
    x = dequantized_splits(
        data.images.reshape(len(data), -1),
        data.labels,
        int(data.levels or 17),
        generator=ctx.generator(1000 * i + 1),
        **sizes,
    )
    out, gmm = density_baselines(
        {k: v.double().numpy() for k, v in x.items()},
        components=cfg.gmm_components,
        covariance_types=cfg.gmm_covariances,
        reg_covars=cfg.gmm_reg_covar,
        bandwidths=cfg.kde_bandwidths,
        random_state=seed,
        cross_check=i == 0,
    )
    torch.manual_seed(seed)
    vae = VAE((64,), cfg.latent_dim, hidden=cfg.hidden, activation=cfg.activation, levels=17)
    history = train_vae(
        vae.to(ctx.device),
        x["train"],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        lr_schedule="cosine",
        seed=seed,
        device=ctx.device,
    )
    scores = vae_scores(vae.eval(), x["test"], cfg.iw_samples, ctx.generator(1000 * i + 2))
    scores = {f"vae_{k}": v for k, v in scores.items()}
    out = {"seed": seed, **scores, "vae_final_loss": float(history[-1]["loss"]), **out}
    if i == 0:
        n = cfg.n_samples_grid  # a square number
        images = {
            "test digits": requantize(x["test"], 17),
            "VAE: z ~ N(0, I), x ~ p(x | z)": requantize(
                vae.sample(n, generator=ctx.generator(6)).cpu(), 17
            ),
            "VAE: same z, E[x | z]": vae.sample(n, generator=ctx.generator(6), mean=True).cpu(),
            "Gaussian mixture samples": mixture_samples(gmm, n, (64,), 17, ctx.generator(7)),
        }
        out["pictures"] = image_grids(images, n, math.isqrt(n), shape=(1, 8, 8))
    return out


def measure(cfg: DensityConfig, ctx: Context) -> dict[str, Any]:
    """Test log-likelihoods of the VAE, the mixture and the kernel density, per seed."""
    runs = [_one_seed(cfg, ctx, i) for i in ctx.track(range(cfg.seeds), "V1 seeds")]
    return {"runs": runs, "dims": 64, "levels": 17}


def _per_seed(metrics: Mapping[str, Any]) -> dict[str, list[float]]:
    runs = metrics["runs"]
    v = {
        "vae": [as_float(r["vae_iw"]) for r in runs],
        "gmm": [as_float(r["gmm"]["test"]) for r in runs],
        "kde": [as_float(r["kde"]["test"]) for r in runs],
        "elbo": [as_float(r["vae_elbo"]) for r in runs],
    }
    return v | {"best": [max(g, k) for g, k in zip(v["gmm"], v["kde"], strict=True)]}


def _join(values: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in values)


def judge(metrics: Mapping[str, Any], cfg: DensityConfig) -> list[Verdict]:
    """V1 by :data:`V1_RULE`."""
    v = _per_seed(metrics)
    iv = paired_interval(v["vae"], v["best"], V1_RULE["confidence"])
    status = decide(iv, V1_RULE["margin"], above=True)
    evidence = (
        f"test log-likelihood of dequantised digits (nats/image) over {len(v['vae'])} seeds: VAE "
        f"importance-weighted (k={cfg.iw_samples}) {_join(v['vae'])}; Gaussian mixture "
        f"{_join(v['gmm'])}; KDE {_join(v['kde'])}; uniform 0. VAE − better classical estimator: "
        f"{iv}."
    )
    key = f"VAE − best baseline {iv.estimate:+.1f} nats [{iv.low:.1f}, {iv.high:.1f}]"
    if min(v["elbo"]) <= V1_RULE["min_test_elbo"]:
        reason = (
            f"guard: a VAE's test ELBO ({min(v['elbo']):.1f} nats) is not above the uniform "
            "density's 0: it did not train; more epochs would settle it"
        )
        return [Verdict("V1", "inconclusive", evidence, key, reason)]
    straddles = f"the {iv.confidence:.0%} interval straddles {V1_RULE['margin']}"
    reason = "" if status != "inconclusive" else f"{straddles}; more seeds would settle it"
    return [Verdict("V1", status, evidence, key, reason)]


def draw(metrics: Mapping[str, Any], cfg: DensityConfig, canvas: Canvas) -> None:
    """Sample grids, the log-likelihood dots per seed, and the tables."""
    dims, levels = int(metrics["dims"]), int(metrics["levels"])
    runs, v = metrics["runs"], _per_seed(metrics)
    pictures = runs[0]["pictures"]
    fig, axes = canvas.subplots(1, len(pictures), figsize=(3.6 * len(pictures), 3.9))
    for ax, (title, grid) in zip(axes, pictures.items(), strict=True):
        grid = np.asarray(grid, dtype=np.uint8)
        canvas.image(ax, grid, title, vmin=0, vmax=1, interpolation="nearest")
    caption = (
        "Two-step samples of the VAE (a fresh z per image; the middle panels share z) beside "
        "test digits and the Gaussian mixture's samples (seed 1)."
    )
    canvas.save(fig, "samples", caption)
    fig, ax = canvas.subplots(figsize=(6.5, 3.2))
    names = ["KernelDensity", "GaussianMixture", "VAE, ELBO", "VAE, importance-weighted"]
    for i, vals in enumerate([v["kde"], v["gmm"], v["elbo"], v["vae"]]):
        ax.scatter(vals, [i] * len(vals), color=f"C{i}", s=18)
        ax.text(max(vals), i, f"  mean {np.mean(vals):.1f}", va="center", fontsize=8)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("test log-likelihood, nats per image (dequantised, higher is better)")
    ax.set_title(f"one dot per seed ({len(runs)} seeds)", fontsize=9)
    canvas.save(fig, "test_loglik", "Mean test log-likelihood per image of each model, per seed.")
    rows = []
    for r, kde, gmm, elbo, iw in zip(runs, v["kde"], v["gmm"], v["elbo"], v["vae"], strict=True):
        g = r["gmm"]
        choice = f"{g['covariance_type']}, k={g['n_components']}, reg {g['reg_covar']:g}"
        row = [r["seed"], round(kde, 2), round(gmm, 2), choice, round(elbo, 2), round(iw, 2)]
        rows.append([*row, round(bits_per_dim(iw, dims, levels), 4)])
    columns = ["seed", "KDE", "GMM", "GMM chosen on validation", "VAE ELBO"]
    columns += [f"VAE IW (k={cfg.iw_samples})", "VAE bits/dim ↓"]
    title = f"Test log-likelihood on the digits ({cfg.test_size} images per split), per seed"
    canvas.table(title, columns, rows)
    c = runs[0]["gmm_cross_check"]
    canvas.table(
        "nndl GaussianMixtureEM vs scikit-learn from one initialisation (first seed)",
        ["nndl test nats", "sklearn test nats", "relative difference"],
        [[c["nndl"], c["sklearn"], c["relative_difference"]]],
    )


register("v1_digit_density", DensityConfig, measure=measure, judge=judge, draw=draw)
