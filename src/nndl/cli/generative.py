"""``nndl train vae|gan|gmm``, ``nndl sample`` and ``nndl evaluate``: generative models from the
command line.

This module only parses the options and calls :mod:`nndl.generative.runs`, which holds the run
folders (``config.json``, ``model.safetensors``, ``history.json``, ``train/``), the data specs
(``digits``, ``mnist:DIR``, ``fashion-mnist:DIR``, ``folder:DIR``), the dequantisation of density
models' data and every check made before the first write.

VAE and GAN training run unchanged under ``torchrun --nproc_per_node=N -m nndl train ...``
(DistributedDataParallel; rank 0 writes the files).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .._validation import ValidationError, check_int
from ..generative.runs import DEFAULTS

__all__ = ["register"]


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


#: ``train KIND``: (help, description) of each kind, in the order of ``nndl train --help``.
_TRAIN_TEXTS: dict[str, tuple[str, str]] = {
    "vae": (
        "train a variational autoencoder (DDP under torchrun)",
        "Maximise the ELBO of a VAE on dequantised images; writes RUN/.",
    ),
    "gan": (
        "train a GAN (DDP under torchrun)",
        "Alternate discriminator and non-saturating generator steps; writes RUN/.",
    ),
    "gmm": (
        "fit a Gaussian mixture by EM",
        "Fit a Gaussian mixture by EM to dequantised, flattened images; writes RUN/.",
    ),
}


def _train_parser(train: Any, kind: str, summary: str, description: str) -> argparse.ArgumentParser:
    """The ``train KIND`` sub-parser with the options every kind takes (and network options)."""
    from . import seed_type

    p: argparse.ArgumentParser = train.add_parser(kind, help=summary, description=description)
    p.set_defaults(handler=_train, model_kind=kind)
    p.add_argument(
        "--data", required=True, help="digits, mnist:DIR, fashion-mnist:DIR or folder:DIR"
    )
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    p.add_argument(
        "--seed", type=seed_type, default=None, help="seeds initialisation and order (0)"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--image-size", type=int, default=None, help="resize folder: images to N×N")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN's training checkpoint (if any)"
        if kind != "gmm"
        else "refit an unfinished RUN (EM has no checkpoint; a finished run is refused)",
    )
    if kind != "gmm":
        _network_train_args(p, kind)
    return p


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


def register(commands: Any, train: Any) -> None:
    """Add ``train vae|gan|gmm``, ``sample`` and ``evaluate`` to the ``nndl`` parser."""
    from . import seed_type

    vae, gan, gmm = (_train_parser(train, kind, *texts) for kind, texts in _TRAIN_TEXTS.items())
    vae.add_argument(
        "--likelihood",
        choices=("discretized_logistic", "gaussian", "bernoulli"),
        default=None,
        help="decoder likelihood (discretized_logistic)",
    )
    gan.add_argument("--lr-d", type=float, default=None, help="discriminator learning rate (2e-3)")
    gmm.add_argument("--components", type=int, default=None, help="number of Gaussians (10)")
    gmm.add_argument("--covariance", choices=("full", "diag"), default=None, help="(full)")
    gmm.add_argument("--max-iter", type=int, default=None, help="EM iterations at most (100)")
    gmm.add_argument("--reg-covar", type=float, default=None, help="added to diagonals (1e-6)")

    p = commands.add_parser(
        "sample",
        help="draw samples from a trained run and save them as an image grid",
        description="Two-step sampling (z from the prior, then x from the decoder/generator).",
    )
    p.add_argument("run", metavar="RUN", help="run folder written by `nndl train`")
    p.add_argument("--n", type=int, default=64, help="number of samples (64)")
    p.add_argument("--out", required=True, help="PNG file for the grid")
    p.add_argument("--seed", type=seed_type, default=0, help="seed of the samples (0)")
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
    p.add_argument(
        "--seed", type=seed_type, default=0, help="seed of samples and dequantisation (0)"
    )
    p.add_argument(
        "--classifier-epochs", type=int, default=20, help="epochs of the feature classifier (20)"
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: the run's device)")
    p.set_defaults(handler=_evaluate)


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------
def _train(args: argparse.Namespace) -> int:
    from ..generative.runs import train_run

    kind = args.model_kind
    given = {key: getattr(args, key, None) for key in DEFAULTS[kind]}
    done = train_run(
        kind,
        args.data,
        args.out,
        given,
        device=args.device,
        image_size=args.image_size,
        resume=args.resume,
    )
    if not done.main:
        return 0
    last = done.history[-1] if done.history else {}
    shown = {k: v for k, v in last.items() if isinstance(v, int | float)}
    _console().print(
        f"trained {kind} on {done.data_name} ({done.n_train} images): "
        + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items()
        )
    )
    run = args.out
    _console().print(
        f"run folder: {run}  (next: nndl sample {run} --out grid.png; nndl evaluate {run})"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from .._io import check_output_file
    from ..generative.gan import save_image_grid
    from ..generative.runs import draw_samples, load_run_model, read_run_config

    run = Path(args.run)
    config = read_run_config(run)
    check_int(args.n, name="--n", low=1)
    if args.nrow is not None:
        check_int(args.nrow, name="--nrow", low=1)
    if args.scale is not None:
        check_int(args.scale, name="--scale", low=1)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValidationError(f"--out must be a .png file, got {str(out)!r}")
    check_output_file(out, name="--out")
    if args.mean and config["kind"] != "vae":
        raise ValidationError(
            f"--mean applies to VAE runs only; {str(run)!r} holds a {config['kind']}"
        )
    model = load_run_model(run, config)
    samples = draw_samples(
        model,
        config["kind"],
        args.n,
        args.seed,
        config.get("levels"),
        config["image_shape"],
        mean=args.mean,
    )
    scale = args.scale if args.scale is not None else (4 if max(samples.shape[-2:]) <= 16 else 1)
    save_image_grid(out, samples, nrow=args.nrow, scale=scale)
    _console().print(f"{args.n} samples of the {config['kind']} in {run} → {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..generative.runs import evaluate_run

    console = _console()
    report = evaluate_run(
        args.run,
        k=args.k,
        seed=args.seed,
        classifier_epochs=args.classifier_epochs,
        device=args.device,
        log=console.print,
    )
    if "sample_quality" not in report:
        return 0
    quality, floor = report["sample_quality"], report["real_floor"]
    table = Table(
        title=f"sample quality ({report['n_held']} samples vs {report['n_reference']} test images)"
    )
    for column in ("", "FD ↓", "precision ↑", "recall ↑", "class TV ↓"):
        table.add_column(column)
    for name, q in ((f"{report['kind']} samples", quality), ("real vs real (floor)", floor)):
        table.add_row(
            name,
            f"{q['fd']:.3f}",
            f"{q['precision']:.3f}",
            f"{q['recall']:.3f}",
            f"{q['class_tv']:.3f}",
        )
    console.print(table)
    console.print(
        "class histogram of the samples: "
        + " ".join(f"{k}:{p:.2f}" for k, p in enumerate(quality["class_hist"]))
        + f"  (feature classifier test accuracy {report['classifier_accuracy']:.3f})"
    )
    return 0
