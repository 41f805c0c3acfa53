r"""Measurements behind claims V1 and V4: density baselines, VAE scores, sample sets, GAN runs.

V1 (density estimation on dequantised pixels):

- :func:`dequantized_splits` — train / test and fit / val parts of a data set, dequantised
  (:func:`nndl.data.dequantize`) with one random stream;
- :func:`density_baselines` — scikit-learn's Gaussian mixture and kernel density tuned on the
  validation part (:func:`tune_gaussian_mixture`, :func:`tune_kernel_density`), refitted on
  the training part and scored on test, optionally with the :func:`em_agreement` cross-check;
- :func:`vae_scores` — a VAE's mean test importance-weighted log-likelihood (with its standard
  error) and ELBO.

V4 (samples measured against real data):

- :func:`mixture_samples` — samples of a fitted mixture, shuffled and requantised
  (:func:`nndl.data.requantize`) to pixel values;
- :func:`vae_mean_pixels` — :math:`E[x \mid z]` of a VAE on dequantised pixels, mapped to
  [0, 1] pixels;
- :func:`trivial_sets` — the trivial sets samples are measured beside (uniform noise, the mean
  image, copies of training images; names in :data:`BASELINE_SETS`);
- :func:`image_grids` — named sample sets as uint8 image grids for a figure (JSON lists);
- :func:`evaluate_sets` — :func:`evaluate_samples` for several named sample sets;
  :func:`gap_ratio` — where a Fréchet distance sits between a floor and a baseline;
- :func:`gan_run_summary` — a :class:`GANRun`'s Fréchet distance along training, fixed-noise
  rows and per-layer gradient norms as JSON-able values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .._validation import DTypeError, ValidationError, check_int, check_shape
from .baselines import em_agreement, tune_gaussian_mixture, tune_kernel_density
from .gan import GANRun, image_grid_uint8
from .quality import FeatureClassifier, evaluate_samples, features, frechet_distance_from_features
from .vae import VAE

__all__ = [
    "BASELINE_SETS",
    "density_baselines",
    "dequantized_splits",
    "evaluate_sets",
    "gan_run_summary",
    "gap_ratio",
    "image_grids",
    "mixture_samples",
    "trivial_sets",
    "vae_mean_pixels",
    "vae_scores",
]

#: Names of :func:`trivial_sets`' two baselines (the third set, copies, is not a baseline).
BASELINE_SETS = ("baseline: uniform noise", "baseline: mean image")

#: The parts :func:`density_baselines` reads.
_PARTS = ("fit", "val", "train", "test")


def dequantized_splits(
    x: torch.Tensor,
    labels: torch.Tensor | None,
    levels: int,
    *,
    test_size: int,
    val_size: int,
    seed: int,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Train / test split, the train part split again into fit / val, all dequantised.

    :func:`nndl.data.split_arrays` draws ``test_size`` test examples (seed ``seed``), then
    ``val_size`` of the training examples (seed ``seed + 1``); each part is dequantised in the
    order train, test, fit, val from one ``generator``.

    Args:
        x: Tensor[N, D] on the scale ``pixel / (levels − 1)``; labels: Tensor[N] or None.
        levels: grey levels L ≥ 2.
        test_size, val_size: sizes of the test and validation parts (≥ 1, together < N).
        seed: the split's seed; generator: the dequantisation noise.

    Returns:
        ``{"train", "test", "fit", "val"}`` → Tensor[·, D].

    Raises:
        ValidationError: bad sizes or levels. ShapeError: x not 2-D or labels not (N,).
    """
    from ..data import dequantize, split_arrays

    sizes = check_shape(x, "N D", name="x")
    if labels is not None:
        check_shape(labels, ["N"], name="labels", sizes=sizes)
    check_int(levels, name="levels", low=2)
    n = x.shape[0]
    check_int(test_size, name="test_size", low=1, high=n - 2)
    check_int(val_size, name="val_size", low=1, high=n - test_size - 1)
    outer = split_arrays(x, labels, val_fraction=0.0, test_fraction=test_size / n, seed=seed)
    val = val_size / outer.x_train.shape[0]
    inner = split_arrays(
        outer.x_train, outer.y_train, val_fraction=0.0, test_fraction=val, seed=seed + 1
    )
    parts = {
        "train": outer.x_train,
        "test": outer.x_test,
        "fit": inner.x_train,
        "val": inner.x_test,
    }
    return {k: dequantize(v, levels, generator) for k, v in parts.items()}


def density_baselines(
    splits: Mapping[str, Any],
    *,
    components: Sequence[int],
    covariance_types: Sequence[str],
    reg_covars: Sequence[float],
    bandwidths: Sequence[float],
    random_state: int | None = None,
    cross_check: bool = False,
) -> tuple[dict[str, Any], Any]:
    """A Gaussian mixture and a kernel density tuned on validation data, scored on test.

    Both are chosen on ``splits["fit"]`` / ``splits["val"]``, refitted on ``splits["train"]``
    (the mixture with ``max_iter=200``) and scored by the mean log-likelihood of
    ``splits["test"]``; BLAS and OpenMP run on one thread.

    Args:
        splits: ``"fit"``, ``"val"``, ``"train"``, ``"test"`` → Array[·, D].
        components, covariance_types, reg_covars: the mixture's grid.
        bandwidths: the kernel density's grid.
        random_state: the mixtures' seed.
        cross_check: also run :func:`em_agreement` with the chosen mixture.

    Returns:
        ``(metrics, gmm)``: metrics = ``{"gmm": {"test", covariance_type, n_components,
        reg_covar, val, "grid"}, "kde": {"bandwidth", "test", "val"}, "gmm_cross_check":
        em_agreement's dict or None}``, and the refitted ``GaussianMixture``.

    Raises:
        ValidationError: a missing part, or what the tuning functions raise.
    """
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity
    from threadpoolctl import threadpool_limits

    missing = [p for p in _PARTS if p not in splits]
    if missing:
        raise ValidationError(f"splits must hold {', '.join(_PARTS)}; missing {missing}")
    x = {p: np.asarray(splits[p], dtype=np.float64) for p in _PARTS}
    with threadpool_limits(1):
        best, grid = tune_gaussian_mixture(
            x["fit"],
            x["val"],
            components=components,
            covariance_types=covariance_types,
            reg_covars=reg_covars,
            random_state=random_state,
        )
        kw = {k: best[k] for k in ("covariance_type", "reg_covar")}
        gmm = GaussianMixture(best["n_components"], random_state=random_state, max_iter=200, **kw)
        gmm.fit(x["train"])
        h, kde_val = tune_kernel_density(x["fit"], x["val"], bandwidths)
        kde_test = KernelDensity(bandwidth=h).fit(x["train"]).score_samples(x["test"]).mean()
        check = None
        if cross_check:
            kw["n_components"] = best["n_components"]
            check = em_agreement(x["train"], x["test"], random_state=random_state, **kw)
    out = {
        "gmm": {"test": float(gmm.score(x["test"])), **best, "grid": grid},
        "kde": {"bandwidth": h, "test": float(kde_test), "val": kde_val},
        "gmm_cross_check": check,
    }
    return out, gmm


def _check_vae(vae: Any) -> VAE:
    if not isinstance(vae, VAE):
        raise DTypeError(f"vae must be an nndl.generative.VAE, got {type(vae).__name__}")
    return vae


def vae_scores(
    vae: VAE, x: torch.Tensor, iw_samples: int, generator: torch.Generator | None = None
) -> dict[str, float]:
    r"""Mean importance-weighted log-likelihood (k = ``iw_samples``) and ELBO of x.

    .. math:: \mathrm{IW}_k(x) = \log \frac1k \sum_{j=1}^k \frac{p(x, z_j)}{q(z_j \mid x)},
              \quad z_j \sim q(z \mid x)

    Args:
        vae: the model (x is moved to its device); x: Tensor[N, \*data_shape], N ≥ 2.
        iw_samples: k ≥ 1; generator: one random stream for both estimates (IW first).

    Returns:
        ``{"iw": mean IW_k, "iw_se": its standard error, "elbo": mean ELBO}`` (nats per example).
    """
    vae = _check_vae(vae)
    check_int(iw_samples, name="iw_samples", low=1)
    x = vae.check_data(x.to(next(vae.parameters()).device))
    if x.shape[0] < 2:
        raise ValidationError(f"x must hold at least 2 examples, got {x.shape[0]}")
    iw = vae.log_likelihood(x, iw_samples, generator=generator).cpu()
    with torch.no_grad():
        elbo = float(vae.elbo(x, generator=generator)[0].mean())
    return {"iw": float(iw.mean()), "iw_se": float(iw.std() / math.sqrt(len(iw))), "elbo": elbo}


def mixture_samples(
    gmm: Any, n: int, shape: Sequence[int], levels: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n samples of a fitted mixture (``gmm.sample``), shuffled, reshaped and requantised.

    ``sample`` returns them grouped by component; a random permutation (from ``generator``)
    mixes them. Values are mapped to pixels by :func:`nndl.data.requantize`.

    Args:
        gmm: a fitted ``GaussianMixture`` or :class:`GaussianMixtureEM`.
        n: how many (≥ 1); shape: the shape of one sample (its product is the mixture's D).
        levels: grey levels L ≥ 2.

    Returns:
        Tensor[n, \\*shape] float32 in [0, 1].
    """
    from ..data import requantize

    check_int(n, name="n", low=1)
    check_int(levels, name="levels", low=2)
    if not hasattr(gmm, "sample"):
        raise DTypeError(f"gmm must be a fitted mixture with sample(), got {type(gmm).__name__}")
    order = torch.randperm(n, generator=generator)
    x = torch.from_numpy(np.asarray(gmm.sample(n)[0])).float()
    if x.shape[1] != math.prod(shape):
        raise ValidationError(f"shape {tuple(shape)} does not hold the mixture's {x.shape[1]} dims")
    return requantize(x.reshape(n, *shape)[order], levels)


def vae_mean_pixels(
    vae: VAE, n: int, levels: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""E[x | z] for n prior draws of a VAE on dequantised pixels, as [0, 1] pixels.

    The mean on the dequantised scale :math:`(\text{pixel} + u)/L` maps to pixels by
    :math:`(L m - \tfrac12)/(L - 1)`, clamped to [0, 1].

    Returns:
        Tensor[n, \*data_shape].
    """
    vae = _check_vae(vae)
    check_int(levels, name="levels", low=2)
    mean = vae.sample(n, generator=generator, mean=True)
    return ((mean * levels - 0.5) / (levels - 1)).clamp(0, 1)


def trivial_sets(
    x: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    r"""Trivial sample sets of n images beside a model's: what no generator should lose to.

    - ``"baseline: uniform noise"``: pixels :math:`\sim U(0, 1)` i.i.d.;
    - ``"baseline: mean image"``: the mean training image :math:`\bar x` repeated n times;
    - ``"training images (copying)"``: n distinct training images in random order (a model
      that memorised its data).

    Random numbers come from ``generator`` in that order (noise, then the permutation).

    Args:
        x: Tensor[N, \*image_shape] training images; n: 1 ≤ n ≤ N.

    Returns:
        name → Tensor[n, \*image_shape], in the order above.

    Raises:
        DTypeError: x not a floating tensor. ValidationError: n out of range.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        raise DTypeError(f"x must be a floating Tensor[N, ...], got {type(x).__name__}")
    check_int(n, name="n", low=1, high=x.shape[0])
    shape = x.shape[1:]
    return {
        BASELINE_SETS[0]: torch.rand((n, *shape), generator=generator),
        BASELINE_SETS[1]: x.mean(0, keepdim=True).expand(n, *shape).clone(),
        "training images (copying)": x[torch.randperm(x.shape[0], generator=generator)[:n]],
    }


def image_grids(
    sets: Mapping[str, torch.Tensor],
    n: int,
    nrow: int,
    shape: Sequence[int] | None = None,
) -> dict[str, list[list[int]]]:
    """The first n images of each named set as a uint8 grid (:func:`image_grid_uint8`), as lists.

    Args:
        sets: name → Tensor[N, C, H, W] (or Tensor[N, ...] with ``shape``), N ≥ n, in [0, 1].
        n: images per grid (≥ 1); nrow: images per grid row (≥ 1).
        shape: (C, H, W) to reshape flat images to, or None.

    Returns:
        name → the grid as nested lists of 0–255 integers (JSON-able).

    Raises:
        DTypeError: ``sets`` is not a mapping or a set is not a tensor.
        ValidationError: a set holds fewer than n images.
    """
    check_int(n, name="n", low=1)
    check_int(nrow, name="nrow", low=1)
    if not isinstance(sets, Mapping):
        raise DTypeError(f"sets must map names to tensors, got {type(sets).__name__}")
    for name, x in sets.items():
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"sets[{name!r}] must be a Tensor, got {type(x).__name__}")
        if x.shape[0] < n:
            raise ValidationError(f"sets[{name!r}] must hold at least {n} images, got {len(x)}")
    return {
        name: image_grid_uint8(x[:n] if shape is None else x[:n].reshape(-1, *shape), nrow).tolist()
        for name, x in sets.items()
    }


def evaluate_sets(
    model: FeatureClassifier,
    reference: torch.Tensor,
    sets: Mapping[str, torch.Tensor],
    *,
    k: int = 3,
    reference_features: torch.Tensor | None = None,
) -> dict[str, dict[str, Any]]:
    """:func:`evaluate_samples` (as a dict) for each named set of samples against ``reference``.

    Args:
        model, reference, k, reference_features: as for :func:`evaluate_samples`.
        sets: name → Tensor[N, C, H, W] samples.

    Returns:
        name → ``SampleQuality.to_dict()``.
    """
    if reference_features is None:
        reference_features = features(model, reference)
    return {
        name: evaluate_samples(
            model, reference, x, k=k, reference_features=reference_features
        ).to_dict()
        for name, x in sets.items()
    }


def gap_ratio(fd: float, floor: float, baseline: float) -> float:
    r"""How far a distance sits from the floor towards the baseline: 0 at the floor, 1 at it.

    .. math:: r = \frac{\mathrm{FD} - \mathrm{FD}_\text{floor}}
                       {\max(\mathrm{FD}_\text{baseline} - \mathrm{FD}_\text{floor}, 10^{-12})}

    e.g. FD of a model's samples, the real-vs-real floor and the best trivial baseline (NaN
    propagates).

    Raises:
        DTypeError: an argument is not a real number.
    """
    for name, value in (("fd", fd), ("floor", floor), ("baseline", baseline)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DTypeError(f"{name} must be a real number, got {type(value).__name__}")
    return (fd - floor) / max(baseline - floor, 1e-12)


def gan_run_summary(
    run: GANRun,
    model: FeatureClassifier,
    reference_features: torch.Tensor,
    *,
    row: int = 16,
) -> dict[str, Any]:
    """What a figure of GAN training needs from a :class:`GANRun`, as JSON-able values.

    Args:
        run: from :func:`train_gan` (with fixed-noise snapshots and gradient records).
        model: the feature classifier; reference_features: the real reference's features.
        row: how many fixed-noise samples form each snapshot's row.

    Returns:
        ``fd_along_training`` (epoch → Fréchet distance of the fixed-noise samples),
        ``fixed_noise_rows`` (epoch → uint8 image row as nested lists) and ``history``
        (per epoch: ``epoch``, ``loss_d``, ``loss_g`` and ``grad`` = network → layer →
        mean gradient norm).
    """
    if not isinstance(run, GANRun):
        raise DTypeError(f"run must be an nndl.generative.GANRun, got {type(run).__name__}")
    check_int(row, name="row", low=1)
    snaps = sorted(run.fixed_samples.items())
    history = []
    for h in run.history:
        grads = {net: h.get(f"grad_{net}", {}) for net in ("generator", "discriminator")}
        kept = {k: v for k, v in h.items() if k in ("epoch", "loss_d", "loss_g")}
        grad = {net: {la: rec["grad_norm"] for la, rec in g.items()} for net, g in grads.items()}
        history.append(kept | {"grad": grad})
    fd = {
        str(e): frechet_distance_from_features(reference_features, features(model, s))
        for e, s in snaps
    }
    rows = {str(e): image_grid_uint8(s[:row], row).tolist() for e, s in snaps}
    return {"fd_along_training": fd, "fixed_noise_rows": rows, "history": history}
