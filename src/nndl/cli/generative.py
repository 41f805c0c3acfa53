"""``nndl train vae|gan|gmm``, ``nndl sample`` and ``nndl evaluate``: generative models from the
command line.

A *run folder* (``--out RUN``) holds everything about one trained model:

- ``config.json``: the kind (vae, gan, gmm), the data spec and split, the model's constructor
  arguments, the training settings and ``status`` ("training" until the model is written);
- ``model.safetensors`` (+ ``model.json``): the trained model (safetensors + JSON, no pickle);
- ``history.json``: the training history (per epoch for VAE and GAN, per EM iteration for GMM);
- ``train/``: the training checkpoint that ``--resume`` continues from (VAE and GAN), and for
  the GAN the fixed-noise grids and the gradient-monitor records;
- ``evaluation.json`` and ``quality/`` after ``nndl evaluate``.

VAE and GAN training run unchanged under ``torchrun --nproc_per_node=N -m nndl train ...``
(DistributedDataParallel; rank 0 writes the files).

Data: ``--data digits`` (train/test split of scikit-learn's digits, seed 0), ``mnist:DIR`` /
``fashion-mnist:DIR`` (the IDX files' own train/test sets) or ``folder:DIR`` (every image in the
folder, grey, split like the digits; ``--image-size`` resizes). Density models (VAE, GMM) are
trained on dequantised intensities ``x = (pixel + u) / L`` (L levels; 17 for the digits, 256
for 8-bit images); their samples are mapped back to ``pixel / (L - 1)`` for grids and for the
sample-quality measures, which compare them with the real images on that scale.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from .._io import atomic_write_json, ensure_dir
from .._validation import ValidationError, check_in_range, check_int
from ..train import CheckpointError

__all__ = ["register"]

KINDS: tuple[str, ...] = ("vae", "gan", "gmm")
RUN_FORMAT = "nndl-run"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.json"
TRAIN_DIR = "train"
_GMM_KIND = "nndl.generative.GaussianMixtureEM"
_GMM_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
_SPLIT = {"val_fraction": 0.15, "test_fraction": 0.2, "seed": 0}

#: Defaults per kind; a resumed run takes its saved values instead.
DEFAULTS: dict[str, dict[str, Any]] = {
    "vae": {
        "epochs": 50,
        "batch_size": 128,
        "lr": 1e-3,
        "latent_dim": 8,
        "hidden": [256, 256],
        "arch": "mlp",
        "likelihood": "discretized_logistic",
        "seed": 0,
    },
    "gan": {
        "epochs": 40,
        "batch_size": 64,
        "lr": 5e-4,
        "lr_d": 2e-3,
        "latent_dim": 16,
        "hidden": [128, 128],
        "arch": "mlp",
        "seed": 0,
    },
    "gmm": {"components": 10, "covariance": "full", "max_iter": 100, "reg_covar": 1e-6, "seed": 0},
}
#: Options that fix the model's structure: on --resume they must match the saved run.
_STRUCTURE = ("latent_dim", "hidden", "arch", "likelihood", "components", "covariance")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------------------------
def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expects comma-separated widths such as 128,128, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expects widths >= 1 such as 128,128, got {text!r}")
    return sizes


def _common_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", required=True, help="digits, mnist:DIR, fashion-mnist:DIR or folder:DIR"
    )
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    p.add_argument("--seed", type=int, default=None, help="seeds initialisation and order (0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--image-size", type=int, default=None, help="resize folder: images to N×N")


def _network_train_args(p: argparse.ArgumentParser, kind: str) -> None:
    d = DEFAULTS[kind]
    p.add_argument("--epochs", type=int, default=None, help=f"total epochs ({d['epochs']})")
    p.add_argument("--batch-size", type=int, default=None, help=f"global batch ({d['batch_size']})")
    p.add_argument("--lr", type=float, default=None, help=f"Adam learning rate ({d['lr']})")
    p.add_argument("--latent-dim", type=int, default=None, help=f"latent size ({d['latent_dim']})")
    p.add_argument(
        "--hidden",
        type=_hidden,
        default=None,
        help=f"hidden widths, e.g. 128,128 (default {','.join(map(str, d['hidden']))})",
    )
    p.add_argument("--arch", choices=("mlp", "conv"), default=None, help="network type (mlp)")
    p.add_argument(
        "--resume", action="store_true", help="continue RUN's training checkpoint (if any)"
    )


def register(commands: Any, train: Any) -> None:
    """Add ``train vae|gan|gmm``, ``sample`` and ``evaluate`` to the ``nndl`` parser."""
    t = train.add_parser(
        "vae",
        help="train a variational autoencoder (DDP under torchrun)",
        description="Maximise the ELBO of a VAE on dequantised images; writes RUN/.",
    )
    _common_train_args(t)
    _network_train_args(t, "vae")
    t.add_argument(
        "--likelihood",
        choices=("discretized_logistic", "gaussian", "bernoulli"),
        default=None,
        help="decoder likelihood (discretized_logistic)",
    )
    t.set_defaults(handler=_train, model_kind="vae")

    t = train.add_parser(
        "gan",
        help="train a GAN (DDP under torchrun)",
        description="Alternate discriminator and non-saturating generator steps; writes RUN/.",
    )
    _common_train_args(t)
    _network_train_args(t, "gan")
    t.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate (2e-3)")
    t.set_defaults(handler=_train, model_kind="gan")

    t = train.add_parser(
        "gmm",
        help="fit a Gaussian mixture by EM",
        description="Fit a Gaussian mixture by EM to dequantised, flattened images; writes RUN/.",
    )
    _common_train_args(t)
    t.add_argument("--components", type=int, default=None, help="number of Gaussians (10)")
    t.add_argument("--covariance", choices=("full", "diag"), default=None, help="(full)")
    t.add_argument("--max-iter", type=int, default=None, help="EM iterations at most (100)")
    t.add_argument("--reg-covar", type=float, default=None, help="added to diagonals (1e-6)")
    t.set_defaults(handler=_train, model_kind="gmm", resume=False)

    p = commands.add_parser(
        "sample",
        help="draw samples from a trained run and save them as an image grid",
        description="Two-step sampling (z from the prior, then x from the decoder/generator).",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `nndl train`")
    p.add_argument("--n", type=int, default=64, help="number of samples (64)")
    p.add_argument("--out", required=True, help="PNG file for the grid")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (0)")
    p.add_argument("--nrow", type=int, default=None, help="images per row (√n)")
    p.add_argument("--scale", type=int, default=None, help="upscale factor (4 for small images)")
    p.add_argument(
        "--mean", action="store_true", help="VAE only: show E[x|z] instead of a draw of p(x|z)"
    )
    p.set_defaults(handler=_sample)

    p = commands.add_parser(
        "evaluate",
        help="test log-likelihood (VAE, GMM) and sample quality of a trained run",
        description="Log-likelihood of the test split (nats per image and bits per dimension) "
        "and Fréchet distance, precision/recall and class histogram of samples, measured on "
        "the features of a classifier trained on the run's training split, beside the "
        "real-vs-real floor.",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `nndl train`")
    p.add_argument("--k", type=int, default=500, help="importance samples of the VAE (500)")
    p.add_argument("--seed", type=int, default=0, help="seed of samples and dequantisation (0)")
    p.add_argument(
        "--classifier-epochs", type=int, default=20, help="epochs of the feature classifier (20)"
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: the run's device)")
    p.set_defaults(handler=_evaluate)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
@dataclass
class _Data:
    """The run's data: training and test images (N, C, H, W) in [0, 1], labels, levels."""

    x_train: torch.Tensor
    y_train: torch.Tensor | None
    x_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor | None
    levels: int | None
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def _load_data(spec: str, image_size: int | None) -> _Data:
    from ..data import load_dataset

    kind = spec.partition(":")[0]
    if image_size is not None:
        check_int(image_size, name="--image-size", low=1)
        if kind != "folder":
            raise ValidationError(
                f"--image-size applies to folder:DIR data only, got --data {spec!r}"
            )
    if kind in ("mnist", "fashion-mnist"):
        train = load_dataset(spec, split="train")
        test = load_dataset(spec, split="test")
        empty = train.images[:0]
        return _Data(
            train.images, train.labels, empty, test.images, test.labels, train.levels, train.name
        )
    data = load_dataset(spec, image_size=image_size)
    split = data.split(**_SPLIT)
    return _Data(
        split.images(split.x_train),
        split.y_train,
        split.images(split.x_val),
        split.images(split.x_test),
        split.y_test,
        data.levels,
        data.name,
    )


def _dequantise(x: torch.Tensor, levels: int | None, seed: int) -> torch.Tensor:
    """``(pixel + u) / L`` with u ~ U(0, 1) drawn from ``seed`` (identity when levels is None)."""
    if levels is None:
        return x
    gen = torch.Generator().manual_seed(seed)
    pixel = torch.round(x * (levels - 1))
    return (pixel + torch.rand(x.shape, generator=gen)) / levels


def _to_image_scale(samples: torch.Tensor, kind: str, levels: int | None) -> torch.Tensor:
    """Samples of a density model on the dequantised scale → ``pixel / (L − 1)`` in [0, 1]."""
    samples = samples.detach().cpu().float()
    if kind == "gan" or levels is None:
        return samples.clamp(0, 1)
    return torch.clamp(torch.floor(samples * levels), 0, levels - 1) / (levels - 1)


# ---------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------
def _read_config(run: Path) -> dict[str, Any]:
    if not run.exists():
        raise CheckpointError(
            f"run folder {str(run)!r} does not exist; train one with `nndl train`"
        )
    path = run / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{str(run)!r} is not an nndl run folder: {CONFIG_FILE} is missing")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} is corrupt: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an nndl run config (format {RUN_FORMAT!r})")
    if config.get("kind") not in KINDS:
        raise CheckpointError(
            f"{str(path)!r} names an unknown model kind {config.get('kind')!r}; "
            f"valid: {', '.join(KINDS)}"
        )
    return config


def _resolve_settings(args: argparse.Namespace, saved: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults, then the saved run's settings (on --resume), then what the user typed."""
    kind = args.model_kind
    settings = dict(DEFAULTS[kind])
    if saved is not None:
        settings.update({k: v for k, v in saved.get("settings", {}).items() if k in settings})
    for key in DEFAULTS[kind]:
        given = getattr(args, key, None)
        if given is None:
            continue
        if saved is not None and key in _STRUCTURE and given != settings[key]:
            raise CheckpointError(
                f"{str(args.out)!r} was trained with {key} = {settings[key]!r}; "
                f"--{key.replace('_', '-')} {given!r} does not fit it (drop the option, or "
                "train into a new folder)"
            )
        settings[key] = given
    for key in ("epochs", "batch_size", "latent_dim", "components", "max_iter"):
        if key in settings:
            check_int(settings[key], name=f"--{key.replace('_', '-')}", low=1)
    for key in ("lr", "lr_d"):
        if key in settings:
            check_in_range(
                settings[key], name=f"--{key.replace('_', '-')}", low=0.0, low_inclusive=False
            )
    if "reg_covar" in settings:
        check_in_range(settings["reg_covar"], name="--reg-covar", low=0.0)
    check_int(settings["seed"], name="--seed", low=0)
    return settings


def _build_model(kind: str, settings: dict[str, Any], data: _Data) -> Any:
    from ..generative import VAE, GaussianMixtureEM
    from ..generative.gan import GAN

    if kind == "vae":
        return VAE(
            data.image_shape,
            settings["latent_dim"],
            hidden=settings["hidden"],
            arch=settings["arch"],
            likelihood=settings["likelihood"],
            levels=data.levels or 256,
        )
    if kind == "gan":
        return GAN(
            data.image_shape,
            settings["latent_dim"],
            arch=settings["arch"],
            hidden=settings["hidden"],
        )
    return GaussianMixtureEM(
        settings["components"],
        covariance_type=settings["covariance"],
        max_iter=settings["max_iter"],
        reg_covar=settings["reg_covar"],
        random_state=settings["seed"],
    )


def _save_gmm(path: Path, gmm: Any) -> None:
    from ..train import save_checkpoint

    tensors = {
        name: torch.from_numpy(np.ascontiguousarray(getattr(gmm, name))) for name in _GMM_ARRAYS
    }
    params = {k: v for k, v in gmm.get_params().items() if not k.endswith("_init")}
    meta = {
        "kind": _GMM_KIND,
        "params": params,
        "n_features_in_": int(gmm.n_features_in_),
        "converged_": bool(gmm.converged_),
        "n_iter_": int(gmm.n_iter_),
        "lower_bound_": float(gmm.lower_bound_),
        "lower_bounds_": [float(b) for b in gmm.lower_bounds_],
    }
    save_checkpoint(path, tensors, meta)


def _load_gmm(path: Path) -> Any:
    from ..generative import GaussianMixtureEM
    from ..train import load_checkpoint

    tensors, meta = load_checkpoint(path)
    if meta.get("kind") != _GMM_KIND:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a Gaussian-mixture checkpoint")
    try:
        gmm = GaussianMixtureEM(**meta["params"])
        for name in _GMM_ARRAYS:
            setattr(gmm, name, tensors[name].numpy())
        for name in ("n_features_in_", "converged_", "n_iter_", "lower_bound_", "lower_bounds_"):
            setattr(gmm, name, meta[name])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is incomplete: missing {exc}") from None
    return gmm


def _load_model(run: Path, config: dict[str, Any], device: str = "cpu") -> Any:
    from ..generative import VAE
    from ..generative.gan import GAN

    path = run / MODEL_FILE
    if not path.exists():
        raise CheckpointError(
            f"{str(run)!r} holds no trained model ({MODEL_FILE} is missing; status "
            f"{config.get('status')!r}); finish training with `nndl train {config['kind']} "
            f"--data {config.get('data')} --out {run} --resume`"
        )
    kind = config["kind"]
    if kind == "vae":
        return VAE.from_checkpoint(path, device=device).eval()
    if kind == "gan":
        return GAN.from_checkpoint(path, device=device).eval()
    return _load_gmm(path)


def _draw(
    model: Any,
    kind: str,
    n: int,
    seed: int,
    levels: int | None,
    image_shape: list[int],
    mean: bool = False,
) -> torch.Tensor:
    """n samples on the real images' scale, Tensor[n, C, H, W] (``mean``: the VAE's E[x|z])."""
    gen = torch.Generator().manual_seed(seed)
    if kind == "gmm":
        model.set_params(random_state=seed)
        flat, _ = model.sample(n)
        images = torch.from_numpy(flat).reshape(n, *image_shape)
        return _to_image_scale(images, kind, levels)
    if kind == "vae":
        device = next(model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        if mean:  # E[x|z] lies on the bin-centre scale (b + 1/2) / L: map it linearly
            x = model.sample(n, generator=gen, mean=True).cpu().float()
            return x if levels is None else ((x * levels - 0.5) / (levels - 1)).clamp(0, 1)
    return _to_image_scale(model.sample(n, generator=gen), kind, levels)


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    from .._seed import seed_everything
    from ..experiments.runner import resolve_device
    from ..train import init_distributed, is_main_process

    kind = args.model_kind
    run = Path(args.out)
    device = resolve_device(args.device)
    # under torchrun, join the process group first so that every rank checks the folder
    # before rank 0 writes to it
    distributed = init_distributed(device)
    saved = None
    if args.resume and (run / CONFIG_FILE).exists():
        saved = _read_config(run)
        if saved["kind"] != kind:
            raise CheckpointError(
                f"{str(run)!r} holds a {saved['kind']} run; it cannot be resumed as a {kind}"
            )
        if saved.get("data") != args.data:
            raise CheckpointError(
                f"{str(run)!r} was trained on --data {saved.get('data')}; got {args.data}"
            )
    elif (run / CONFIG_FILE).exists() or (run / MODEL_FILE).exists():
        raise ValidationError(
            f"run folder {str(run)!r} already holds a run; pass --resume to continue it, or "
            "choose another --out"
        )
    settings = _resolve_settings(args, saved)
    data = _load_data(args.data, args.image_size)
    seed_everything(settings["seed"])
    model = _build_model(kind, settings, data)
    config = {
        "format": RUN_FORMAT,
        "kind": kind,
        "data": args.data,
        "image_size": args.image_size,
        "image_shape": list(data.image_shape),
        "levels": data.levels,
        "split": _SPLIT,
        "settings": settings,
        "model": model.config if kind != "gmm" else model.get_params(),
        "device": str(device),
        "status": "training",
    }
    main = is_main_process()
    if distributed:
        torch.distributed.barrier()
    if main:
        ensure_dir(run, name="run folder")
        atomic_write_json(run / CONFIG_FILE, config)
    history = _fit(kind, model, settings, data, device, run, args.resume)
    if main:
        if kind == "gmm":
            _save_gmm(run / MODEL_FILE, model)
        else:
            model.save(run / MODEL_FILE)
        atomic_write_json(run / HISTORY_FILE, history)
        config["status"] = "done"
        atomic_write_json(run / CONFIG_FILE, config)
    if distributed:  # every rank waits for rank 0's files, then leaves the group cleanly
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if not main:
        return 0
    last = history[-1] if history else {}
    shown = {k: v for k, v in last.items() if isinstance(v, int | float)}
    _console().print(
        f"trained {kind} on {data.name} ({data.x_train.shape[0]} images): "
        + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items()
        )
    )
    _console().print(
        f"run folder: {run}  (next: nndl sample {run} --out grid.png; nndl evaluate {run})"
    )
    return 0


def _fit(
    kind: str,
    model: Any,
    settings: dict[str, Any],
    data: _Data,
    device: torch.device,
    run: Path,
    resume: bool,
) -> list[dict[str, Any]]:
    from ..generative import train_vae
    from ..generative.gan import train_gan

    seed = settings["seed"]
    if kind == "gan":
        result = train_gan(
            model,
            data.x_train,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            lr_d=settings["lr_d"],
            seed=seed,
            device=device,
            out_dir=run / TRAIN_DIR,
            resume=resume,
        )
        return result.history
    if kind == "vae":
        x = (
            data.x_train
            if settings["likelihood"] == "bernoulli"
            else _dequantise(data.x_train, data.levels, seed)
        )
        return train_vae(
            model,
            x,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            seed=seed,
            device=device,
            checkpoint_dir=run / TRAIN_DIR,
            resume=resume,
        )
    flat = _dequantise(data.x_train, data.levels, seed).flatten(1).double().numpy()
    model.set_params(device=str(device))
    model.fit(flat)
    model.set_params(device="cpu")
    return [
        {"iteration": i + 1, "log_likelihood": float(b)} for i, b in enumerate(model.lower_bounds_)
    ]


def _sample(args: argparse.Namespace) -> int:
    from ..generative.gan import save_image_grid

    run = Path(args.run)
    config = _read_config(run)
    check_int(args.n, name="--n", low=1)
    if args.nrow is not None:
        check_int(args.nrow, name="--nrow", low=1)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValidationError(f"--out must be a .png file, got {str(out)!r}")
    if args.mean and config["kind"] != "vae":
        raise ValidationError(
            f"--mean applies to VAE runs only; {str(run)!r} holds a {config['kind']}"
        )
    model = _load_model(run, config)
    samples = _draw(
        model,
        config["kind"],
        args.n,
        args.seed,
        config.get("levels"),
        config["image_shape"],
        mean=args.mean,
    )
    scale = args.scale if args.scale is not None else (4 if max(samples.shape[-2:]) <= 16 else 1)
    check_int(scale, name="--scale", low=1)
    save_image_grid(out, samples, nrow=args.nrow, scale=scale)
    _console().print(f"{args.n} samples of the {config['kind']} in {run} → {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..experiments.runner import resolve_device
    from ..generative.quality import (
        FeatureClassifier,
        evaluate_samples,
        features,
        real_floor,
        train_feature_classifier,
    )
    from ..train import accuracy

    run = Path(args.run)
    config = _read_config(run)
    check_int(args.k, name="--k", low=1)
    check_int(args.classifier_epochs, name="--classifier-epochs", low=1)
    device = resolve_device(args.device or config.get("device", "cpu"))
    kind, levels = config["kind"], config.get("levels")
    model = _load_model(run, config, device=str(device) if kind != "gmm" else "cpu")
    data = _load_data(config["data"], config.get("image_size"))
    if list(data.image_shape) != list(config["image_shape"]):
        raise CheckpointError(
            f"{str(run)!r} was trained on images of shape {config['image_shape']}, but "
            f"{config['data']} now gives {list(data.image_shape)}"
        )
    console = _console()
    report: dict[str, Any] = {"kind": kind, "data": config["data"]}

    d = math.prod(data.image_shape)
    x_test = _dequantise(data.x_test, levels, args.seed)
    if kind in ("vae", "gmm"):
        if kind == "vae":
            gen = torch.Generator(device=device).manual_seed(args.seed)
            x = data.x_test if model.likelihood.name == "bernoulli" else x_test
            ll = torch.cat([
                model.log_likelihood(x[i : i + 256].to(device), args.k, generator=gen).cpu()
                for i in range(0, x.shape[0], 256)
            ])  # fmt: skip
        else:
            ll = torch.from_numpy(model.score_samples(x_test.flatten(1).double().numpy()))
        nats = float(ll.mean())
        report["test_log_likelihood_nats"] = nats
        if levels is not None and not (kind == "vae" and model.likelihood.name == "bernoulli"):
            # bits per dimension of the quantised data: −log₂ P(pixel) = −log₂ p(x) + log₂ L
            report["bits_per_dim"] = -nats / (d * math.log(2)) + math.log2(levels)
        what = f"importance-weighted, k = {args.k}" if kind == "vae" else "exact"
        console.print(
            f"test log-likelihood ({what}, {x_test.shape[0]} images): {nats:.2f} nats per image"
            + (
                f", {report['bits_per_dim']:.3f} bits per dimension"
                if "bits_per_dim" in report
                else ""
            )
        )
    else:
        console.print("test log-likelihood: a GAN defines no density (claim V4), so none is given")

    if data.y_train is None or data.y_test is None:
        console.print("sample quality needs labelled data (digits, mnist:DIR); skipped")
        atomic_write_json(run / "evaluation.json", report)
        return 0
    clf_path = run / "quality" / "classifier.safetensors"
    clf = None
    if clf_path.exists():
        clf, meta = FeatureClassifier.from_checkpoint(clf_path, device=device)
        if meta.get("epochs") != args.classifier_epochs:
            clf = None
    if clf is None:
        clf = train_feature_classifier(
            data.x_train, data.y_train, epochs=args.classifier_epochs, seed=0, device=device
        )
        clf.save(clf_path, epochs=args.classifier_epochs)
    acc = accuracy(clf, data.x_test.to(device), data.y_test.to(device))
    if data.x_val.shape[0]:
        reference, held = data.x_test, data.x_val
    else:  # MNIST-like data: two halves of the test set
        reference, held = data.x_test[0::2], data.x_test[1::2]
    ref_feats = features(clf, reference)
    floor = real_floor(clf, reference, held)
    samples = _draw(model, kind, held.shape[0], args.seed, levels, config["image_shape"])
    quality = evaluate_samples(clf, reference, samples, reference_features=ref_feats)
    report.update(
        classifier_accuracy=acc,
        n_reference=reference.shape[0],
        sample_quality=quality.to_dict(),
        real_floor=floor.to_dict(),
    )
    table = Table(
        title=f"sample quality ({held.shape[0]} samples vs {reference.shape[0]} test images)"
    )
    for column in ("", "FD ↓", "precision ↑", "recall ↑", "class TV ↓"):
        table.add_column(column)
    for name, q in ((f"{kind} samples", quality), ("real vs real (floor)", floor)):
        table.add_row(
            name, f"{q.fd:.3f}", f"{q.precision:.3f}", f"{q.recall:.3f}", f"{q.class_tv:.3f}"
        )
    console.print(table)
    console.print(
        "class histogram of the samples: "
        + " ".join(f"{k}:{p:.2f}" for k, p in enumerate(quality.class_hist))
        + f"  (feature classifier test accuracy {acc:.3f})"
    )
    atomic_write_json(run / "evaluation.json", report)
    return 0
