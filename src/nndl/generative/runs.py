"""Run folders of trained generative models: what ``nndl train vae|gan|gmm``, ``nndl sample``
and ``nndl evaluate`` do, as library functions (the CLI only parses and dispatches).

A *run folder* holds everything about one trained model:

- ``config.json``: the format (``"nndl-run"``), the kind (vae, gan, gmm), the data spec and
  split, the image shape and grey levels, the model's constructor arguments, the training
  settings and ``status`` ("training" until the model is written, then "done");
- ``model.safetensors`` (+ ``model.json``): the trained model (:func:`nndl.train.save_model`);
- ``history.json``: the training history (per epoch for VAE and GAN, per EM iteration for GMM);
- ``train/``: the training checkpoint that a resumed run continues from (VAE and GAN), and for
  the GAN the fixed-noise grids and the gradient-monitor records;
- ``evaluation.json`` and ``quality/`` after :func:`evaluate_run`.

Every check (settings, data, the folder, a checkpoint to resume) runs before the first write,
and a failed resumed run leaves the finished run's ``config.json`` as it was.

Density models (VAE, GMM) are trained on dequantised intensities ``x = (pixel + u) / L``
(:func:`nndl.data.dequantize`); their samples are mapped back to ``pixel / (L − 1)``
(:func:`nndl.data.requantize`) for grids and sample-quality measures.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._io import OutputDirError, atomic_write_json, check_output_file, ensure_dir
from .._validation import NNDLError, ValidationError, check_in_range, check_int
from ..data import dequantize, requantize
from ..train import CheckpointError

__all__ = [
    "CONFIG_FILE",
    "DEFAULTS",
    "HISTORY_FILE",
    "KINDS",
    "MODEL_FILE",
    "RUN_FORMAT",
    "STRUCTURE",
    "TRAIN_DIR",
    "RunData",
    "TrainedRun",
    "check_settings",
    "draw_samples",
    "evaluate_run",
    "load_run_data",
    "load_run_model",
    "read_run_config",
    "resolve_settings",
    "to_image_scale",
    "train_run",
]

KINDS: tuple[str, ...] = ("vae", "gan", "gmm")
RUN_FORMAT = "nndl-run"
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.json"
TRAIN_DIR = "train"
_SPLIT: dict[str, Any] = {"val_fraction": 0.15, "test_fraction": 0.2, "seed": 0}
_SEED_MAX = 2**32 - 1

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
#: Settings that fix the model's structure: a resumed run must keep them.
STRUCTURE: tuple[str, ...] = (
    "latent_dim",
    "hidden",
    "arch",
    "likelihood",
    "components",
    "covariance",
)

#: config.json keys and the JSON types they must have (None allowed where listed).
_CONFIG_SCHEMA: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "kind": (str,),
    "data": (str,),
    "image_shape": (list,),
    "settings": (dict,),
    "status": (str,),
}
_CONFIG_OPTIONAL: dict[str, tuple[type, ...]] = {
    "image_size": (int, type(None)),
    "levels": (int, type(None)),
    "device": (str,),
    "model": (dict,),
    "split": (dict,),
}


def _option(key: str) -> str:
    """The command-line option of a setting: ``batch_size`` → ``--batch-size``."""
    return f"--{key.replace('_', '-')}"


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
@dataclass
class RunData:
    """A run's data: images Tensor[N, C, H, W] in [0, 1] per split, labels, grey levels."""

    x_train: torch.Tensor
    y_train: torch.Tensor | None
    x_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor | None
    levels: int | None
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return (int(c), int(h), int(w))


def load_run_data(spec: str, image_size: int | None = None) -> RunData:
    """The data of a run: ``digits`` (split 65/15/20 %, seed 0), ``mnist:DIR`` /
    ``fashion-mnist:DIR`` (their own train/test files) or ``folder:DIR`` (split like the digits).

    Raises:
        ValidationError: an unknown spec, or ``image_size`` with data that are not a folder.
        OSError subclasses of nndl: missing or corrupt files, named.
    """
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
        return RunData(
            train.images, train.labels, empty, test.images, test.labels, train.levels, train.name
        )
    data = load_dataset(spec, image_size=image_size)
    split = data.split(_SPLIT["val_fraction"], _SPLIT["test_fraction"], _SPLIT["seed"])
    return RunData(
        split.images(split.x_train),
        split.y_train,
        split.images(split.x_val),
        split.images(split.x_test),
        split.y_test,
        data.levels,
        data.name,
    )


def to_image_scale(samples: torch.Tensor, kind: str, levels: int | None) -> torch.Tensor:
    """Samples → the real images' scale ``pixel / (L − 1)`` in [0, 1], on the CPU, float32.

    GAN samples are already on that scale (clamped only); density-model samples live on the
    dequantised scale and are requantised (:func:`nndl.data.requantize`).
    """
    samples = samples.detach().cpu().float()
    if kind == "gan" or levels is None:
        return samples.clamp(0, 1)
    return requantize(samples, levels)


# ---------------------------------------------------------------------------------------------
# Run folders and settings
# ---------------------------------------------------------------------------------------------
def _check_config(config: Any, path: Path) -> dict[str, Any]:
    where = f"{str(path)!r}"
    if not isinstance(config, dict) or config.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{where} is not an nndl run config (format {RUN_FORMAT!r})")
    if config.get("kind") not in KINDS:
        raise CheckpointError(
            f"{where} names an unknown model kind {config.get('kind')!r}; valid: {', '.join(KINDS)}"
        )
    for key, types in {**_CONFIG_SCHEMA, **_CONFIG_OPTIONAL}.items():
        if key not in config:
            if key in _CONFIG_SCHEMA:
                raise CheckpointError(f"{where} is incomplete: it lacks {key!r}")
            continue
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = "/".join("null" if t is type(None) else t.__name__ for t in types)
            raise CheckpointError(
                f"{where} has {key!r} = {value!r} ({type(value).__name__}); expected {names}"
            )
    shape = config["image_shape"]
    if len(shape) != 3 or not all(_is_int(s) and s >= 1 for s in shape):
        raise CheckpointError(f"{where} has image_shape {shape!r}; expected [C, H, W] of ints >= 1")
    for key, low in (("levels", 2), ("image_size", 1)):
        value = config.get(key)
        if value is not None and value < low:
            raise CheckpointError(f"{where} has {key} = {value!r}; expected null or >= {low}")
    if config["status"] not in ("training", "done"):
        raise CheckpointError(
            f"{where} has status {config['status']!r}; expected 'training' or 'done'"
        )
    return config


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_run_config(run: str | os.PathLike[str]) -> dict[str, Any]:
    """The validated ``config.json`` of a run folder.

    Raises:
        CheckpointError: no such folder, no config, corrupt JSON, or a config that does not fit
            the run schema (format, kind, required keys and their types); the message names it.
    """
    run = Path(run)
    if not run.exists():
        raise CheckpointError(
            f"run folder {str(run)!r} does not exist; train one with `nndl train`"
        )
    if not run.is_dir():
        raise CheckpointError(f"run folder {str(run)!r} is a file, not a folder")
    path = run / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{str(run)!r} is not an nndl run folder: {CONFIG_FILE} is missing")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} is corrupt: {exc}") from None
    return _check_config(config, path)


def check_settings(kind: str, settings: Mapping[str, Any]) -> None:
    """Check every training setting's type and range (messages name the CLI options).

    Raises:
        ValidationError / DTypeError: a count < 1, a learning rate <= 0 or not finite, a
            negative ``reg_covar``, or a seed outside 0 … 2³² − 1.
    """
    for key in ("epochs", "batch_size", "latent_dim", "components", "max_iter"):
        if key in settings:
            check_int(settings[key], name=_option(key), low=1)
    for key in ("lr", "lr_d"):
        if key in settings:
            check_in_range(settings[key], name=_option(key), low=0.0, low_inclusive=False)
    if "reg_covar" in settings:
        check_in_range(settings["reg_covar"], name="--reg-covar", low=0.0)
    if "hidden" in settings:
        hidden = settings["hidden"]
        if not isinstance(hidden, list) or not hidden:
            raise ValidationError(f"--hidden must list at least one width, got {hidden!r}")
        for width in hidden:
            check_int(width, name="--hidden width", low=1)
    check_int(settings["seed"], name="--seed", low=0, high=_SEED_MAX)


def resolve_settings(
    kind: str,
    given: Mapping[str, Any],
    saved: Mapping[str, Any] | None,
    *,
    run: str | os.PathLike[str],
) -> dict[str, Any]:
    """Defaults, then the saved run's settings (when resuming), then ``given`` (None: not given).

    Raises:
        CheckpointError: a structural setting that differs from the saved run's.
        ValidationError: a setting out of range (see :func:`check_settings`).
    """
    settings = dict(DEFAULTS[kind])
    if saved is not None:
        settings.update({k: v for k, v in saved.get("settings", {}).items() if k in settings})
        try:
            check_settings(kind, settings)
        except NNDLError as exc:
            raise CheckpointError(
                f"{str(Path(run) / CONFIG_FILE)!r} holds settings this run cannot use: {exc}"
            ) from None
    for key in DEFAULTS[kind]:
        value = given.get(key)
        if value is None:
            continue
        if saved is not None and key in STRUCTURE and value != settings[key]:
            raise CheckpointError(
                f"{str(run)!r} was trained with {key} = {settings[key]!r}; "
                f"{_option(key)} {value!r} does not fit it (drop the option, or "
                "train into a new folder)"
            )
        settings[key] = value
    check_settings(kind, settings)
    return settings


def _check_folder(run: Path) -> None:
    """Every path a training run writes must be writable, checked before the first write."""
    if run.exists() and not run.is_dir():
        raise OutputDirError(f"run folder {str(run)!r} is a file, not a folder")
    train = run / TRAIN_DIR
    if train.exists() and not train.is_dir():
        raise OutputDirError(
            f"checkpoint folder {str(train)!r} is a file, not a folder; remove it or choose "
            "another --out"
        )
    for name in (CONFIG_FILE, MODEL_FILE, Path(MODEL_FILE).with_suffix(".json").name, HISTORY_FILE):
        check_output_file(run / name, name="run file")


def _saved_run(run: Path, kind: str, data: str, resume: bool) -> dict[str, Any] | None:
    """The saved config to continue (``resume``), after checking that it may be continued."""
    exists = (run / CONFIG_FILE).exists() or (run / MODEL_FILE).exists()
    if not resume:
        if exists:
            raise ValidationError(
                f"run folder {str(run)!r} already holds a run; pass --resume to continue it, or "
                "choose another --out"
            )
        return None
    if not (run / CONFIG_FILE).exists():
        return None
    saved = read_run_config(run)
    if saved["kind"] != kind:
        raise CheckpointError(
            f"{str(run)!r} holds a {saved['kind']} run; it cannot be resumed as a {kind}"
        )
    if saved["data"] != data:
        raise CheckpointError(f"{str(run)!r} was trained on --data {saved['data']}; got {data}")
    if kind == "gmm" and saved["status"] == "done":
        raise ValidationError(
            f"{str(run)!r} holds a finished gmm: EM fits in one go, so there is nothing to "
            "resume; train into a new --out to fit another"
        )
    return saved


def _check_resume_checkpoint(kind: str, run: Path, device: torch.device) -> None:
    """Read (and so validate) the training checkpoint a resumed run continues from."""
    from ..train import load_checkpoint

    ckpt = run / TRAIN_DIR / "checkpoint.safetensors"
    if kind != "gmm" and ckpt.exists():
        load_checkpoint(ckpt, device="cpu")


def _check_fit(kind: str, settings: Mapping[str, Any], data: RunData) -> None:
    """Checks that depend on the data and the process group, before any write."""
    from ..train import world_size

    n = data.x_train.shape[0]
    if n == 0:
        raise ValidationError(f"the training split of {data.name} holds no images")
    if kind == "gmm" and settings["components"] > n:
        raise ValidationError(
            f"--components must be at most the number of training images ({n}), got "
            f"{settings['components']}"
        )
    world = world_size()
    if kind != "gmm" and settings["batch_size"] % world:
        raise ValidationError(
            f"--batch-size must be divisible by the number of processes ({world}), got "
            f"{settings['batch_size']}"
        )


def _build_model(kind: str, settings: Mapping[str, Any], data: RunData) -> Any:
    from .gan import GAN
    from .gmm import GaussianMixtureEM
    from .vae import VAE

    if kind not in ("vae", "gan"):
        return GaussianMixtureEM(
            settings["components"],
            covariance_type=settings["covariance"],
            max_iter=settings["max_iter"],
            reg_covar=settings["reg_covar"],
            random_state=settings["seed"],
        )
    network = {"hidden": settings["hidden"], "arch": settings["arch"]}  # as VAE and GAN take them
    shape, latent = data.image_shape, settings["latent_dim"]
    if kind == "vae":
        return VAE(
            shape, latent, likelihood=settings["likelihood"], levels=data.levels or 256, **network
        )
    return GAN(shape, latent, **network)


def load_run_model(
    run: str | os.PathLike[str], config: Mapping[str, Any], device: str | torch.device = "cpu"
) -> Any:
    """The trained model of a run folder (VAE and GAN in eval mode; a GMM on the CPU).

    Raises:
        CheckpointError: no model yet (with the command that finishes training), or a model
            file that is corrupt or of another kind.
    """
    from .gan import GAN
    from .gmm import GaussianMixtureEM
    from .vae import VAE

    run = Path(run)
    path = run / MODEL_FILE
    if not path.exists():
        raise CheckpointError(
            f"{str(run)!r} holds no trained model ({MODEL_FILE} is missing; status "
            f"{config.get('status')!r}); finish training with `nndl train {config['kind']} "
            f"--data {config.get('data')} --out {run} --resume`"
        )
    kind = config["kind"]
    model: Any
    if kind == "vae":
        model = VAE.from_checkpoint(path, device=device).eval()
        shape = list(model.data_shape)
    elif kind == "gan":
        model = GAN.from_checkpoint(path, device=device).eval()
        shape = list(model.data_shape)
    else:
        model = GaussianMixtureEM.from_checkpoint(path)
        shape = [int(model.n_features_in_)]
    wanted = list(config["image_shape"])
    if shape != wanted and shape != [math.prod(wanted)]:
        raise CheckpointError(
            f"{str(run / CONFIG_FILE)!r} gives image_shape {wanted}, but {str(path)!r} holds a "
            f"{kind} of data shape {shape}"
        )
    return model


def draw_samples(
    model: Any,
    kind: str,
    n: int,
    seed: int,
    levels: int | None,
    image_shape: list[int] | tuple[int, ...],
    mean: bool = False,
) -> torch.Tensor:
    """n samples on the real images' scale, Tensor[n, C, H, W] (``mean``: the VAE's E[x|z])."""
    check_int(n, name="n", low=1)
    gen = torch.Generator().manual_seed(seed)
    if kind == "gmm":
        model.set_params(random_state=seed)
        flat, _ = model.sample(n)
        images = torch.from_numpy(flat).reshape(n, *image_shape)
        return to_image_scale(images, kind, levels)
    if kind == "vae":
        device = next(model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        if mean:  # E[x|z] lies on the bin-centre scale (b + 1/2) / L: map it linearly
            x = model.sample(n, generator=gen, mean=True).cpu().float()
            return x if levels is None else ((x * levels - 0.5) / (levels - 1)).clamp(0, 1)
    return to_image_scale(model.sample(n, generator=gen), kind, levels)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainedRun:
    """What :func:`train_run` returns: the config written, the history and the data's name."""

    config: dict[str, Any]
    history: list[dict[str, Any]]
    data_name: str
    n_train: int
    main: bool = True


def _fit(
    kind: str,
    model: Any,
    settings: Mapping[str, Any],
    data: RunData,
    device: torch.device,
    run: Path,
    resume: bool,
) -> list[dict[str, Any]]:
    from .gan import train_gan
    from .vae import train_vae

    gen = torch.Generator().manual_seed(settings["seed"])
    if kind not in ("vae", "gan"):  # EM: fitted on the flattened, dequantised images
        flat = dequantize(data.x_train, data.levels, gen).flatten(1).double().numpy()
        model.set_params(device=str(device))
        model.fit(flat)
        model.set_params(device="cpu")
        return [
            {"iteration": i + 1, "log_likelihood": float(b)}
            for i, b in enumerate(model.lower_bounds_)
        ]
    # the settings both training loops take alike
    shared: dict[str, Any] = {k: settings[k] for k in ("epochs", "batch_size", "lr", "seed")}
    shared.update(device=device, resume=resume)
    if kind == "gan":
        result = train_gan(
            model, data.x_train, lr_d=settings["lr_d"], out_dir=run / TRAIN_DIR, **shared
        )
        return list(result.history)
    bernoulli = settings["likelihood"] == "bernoulli"
    x = data.x_train if bernoulli else dequantize(data.x_train, data.levels, gen)
    return train_vae(model, x, checkpoint_dir=run / TRAIN_DIR, **shared)


def train_run(
    kind: str,
    data_spec: str,
    out: str | os.PathLike[str],
    given: Mapping[str, Any],
    *,
    device: str | torch.device = "cpu",
    image_size: int | None = None,
    resume: bool = False,
) -> TrainedRun:
    """Train a VAE, GAN or GMM into a run folder (DDP under ``torchrun``: rank 0 writes).

    Everything is checked before the first write: the settings, the folder (a file where a
    folder goes, an existing run without ``resume``), the data, the model's constructor and,
    when resuming, the saved config and training checkpoint. A new run writes ``config.json``
    with status "training" first; a resumed run rewrites it only once training has succeeded,
    so a failed resume leaves a finished run marked "done".

    Args:
        kind: "vae", "gan" or "gmm".
        data_spec: see :func:`load_run_data`.
        out: the run folder.
        given: the settings the user gave (None or missing: the default or the saved value).
        device: where to train (:func:`nndl.train.resolve_device`).
        image_size: resize ``folder:`` images to this size.
        resume: continue the run in ``out`` (VAE, GAN: from the training checkpoint; GMM: refit
            an unfinished run).

    Raises:
        ValidationError, CheckpointError, OutputPathError: bad input, named, before any write.
    """
    from .._seed import seed_everything
    from ..train import init_distributed, is_main_process, resolve_device

    if kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    run = Path(out)
    dev = resolve_device(device)
    # under torchrun, join the process group first so that every rank checks the folder
    # before rank 0 writes to it
    distributed = init_distributed(dev)
    _check_folder(run)
    saved = _saved_run(run, kind, data_spec, resume)
    settings = resolve_settings(kind, given, saved, run=run)
    data = load_run_data(data_spec, image_size)
    _check_fit(kind, settings, data)
    if saved is not None:
        _check_resume_checkpoint(kind, run, dev)
    seed_everything(settings["seed"])
    model = _build_model(kind, settings, data)
    config = {
        "format": RUN_FORMAT,
        "kind": kind,
        "data": data_spec,
        "image_size": image_size,
        "image_shape": list(data.image_shape),
        "levels": data.levels,
        "split": _SPLIT,
        "settings": settings,
        "model": model.config,
        "device": str(dev),
        "status": "training",
    }
    main = is_main_process()
    if distributed:
        torch.distributed.barrier()
    if main:
        ensure_dir(run, name="run folder")
        if saved is None:
            atomic_write_json(run / CONFIG_FILE, config)
    history = _fit(kind, model, settings, data, dev, run, resume and kind != "gmm")
    if main:
        model.save(run / MODEL_FILE)
        atomic_write_json(run / HISTORY_FILE, history)
        config["status"] = "done"
        atomic_write_json(run / CONFIG_FILE, config)
    if distributed:  # every rank waits for rank 0's files, then leaves the group cleanly
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return TrainedRun(config, history, data.name, int(data.x_train.shape[0]), main)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
def _log_likelihood(
    model: Any, kind: str, data: RunData, x_test: torch.Tensor, k: int, seed: int, device: Any
) -> torch.Tensor:
    if kind == "gmm":
        return torch.from_numpy(model.score_samples(x_test.flatten(1).double().numpy()))
    gen = torch.Generator(device=device).manual_seed(seed)
    x = data.x_test if model.likelihood.name == "bernoulli" else x_test
    return torch.cat([
        model.log_likelihood(x[i : i + 256].to(device), k, generator=gen).cpu()
        for i in range(0, x.shape[0], 256)
    ])  # fmt: skip


def evaluate_run(
    run: str | os.PathLike[str],
    *,
    k: int = 500,
    seed: int = 0,
    classifier_epochs: int = 20,
    device: str | torch.device | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Test log-likelihood (VAE, GMM) and sample quality of a run; writes ``evaluation.json``.

    Args:
        run: the run folder.
        k: importance samples of the VAE's log-likelihood.
        seed: seeds the samples and the dequantisation of the test images.
        classifier_epochs: epochs of the feature classifier (kept in ``quality/``).
        device: where to compute (None: the run's device).
        log: receives one line per result (None: silent).

    Returns:
        The report: ``test_log_likelihood_nats`` and ``bits_per_dim`` (density models),
        ``classifier_accuracy``, ``sample_quality`` and ``real_floor`` (labelled data only).

    Raises:
        CheckpointError: a run folder or model that cannot be read, or data that changed.
    """
    from ..train import accuracy, resolve_device
    from .quality import (
        FeatureClassifier,
        evaluate_samples,
        features,
        real_floor,
        train_feature_classifier,
    )

    say = log or (lambda _line: None)
    run = Path(run)
    config = read_run_config(run)
    check_int(k, name="--k", low=1)
    check_int(seed, name="--seed", low=0, high=_SEED_MAX)
    check_int(classifier_epochs, name="--classifier-epochs", low=1)
    dev = resolve_device(device if device is not None else config.get("device", "cpu"))
    check_output_file(run / "evaluation.json", name="evaluation file")
    check_output_file(run / "quality" / "classifier.safetensors", name="classifier checkpoint")
    kind, levels = config["kind"], config.get("levels")
    model = load_run_model(run, config, device=dev if kind != "gmm" else "cpu")
    data = load_run_data(config["data"], config.get("image_size"))
    if list(data.image_shape) != list(config["image_shape"]):
        raise CheckpointError(
            f"{str(run)!r} was trained on images of shape {config['image_shape']}, but "
            f"{config['data']} now gives {list(data.image_shape)}"
        )
    report: dict[str, Any] = {"kind": kind, "data": config["data"]}
    d = math.prod(data.image_shape)
    x_test = dequantize(data.x_test, levels, torch.Generator().manual_seed(seed))
    if kind in ("vae", "gmm"):
        nats = float(_log_likelihood(model, kind, data, x_test, k, seed, dev).mean())
        report["test_log_likelihood_nats"] = nats
        if levels is not None and not (kind == "vae" and model.likelihood.name == "bernoulli"):
            # bits per dimension of the quantised data: −log₂ P(pixel) = −log₂ p(x) + log₂ L
            report["bits_per_dim"] = -nats / (d * math.log(2)) + math.log2(levels)
        what = f"importance-weighted, k = {k}" if kind == "vae" else "exact"
        bits = report.get("bits_per_dim")
        say(
            f"test log-likelihood ({what}, {x_test.shape[0]} images): {nats:.2f} nats per image"
            + (f", {bits:.3f} bits per dimension" if bits is not None else "")
        )
    else:
        say("test log-likelihood: a GAN defines no density (claim V4), so none is given")

    if data.y_train is None or data.y_test is None:
        say("sample quality needs labelled data (digits, mnist:DIR); skipped")
        atomic_write_json(run / "evaluation.json", report)
        return report
    clf_path = run / "quality" / "classifier.safetensors"
    clf = None
    if clf_path.exists():
        try:
            clf, meta = FeatureClassifier.from_checkpoint(clf_path, device=dev)
        except NNDLError:
            clf, meta = None, {}
        if meta.get("epochs") != classifier_epochs:
            clf = None
    if clf is None:
        clf = train_feature_classifier(
            data.x_train, data.y_train, epochs=classifier_epochs, seed=0, device=dev
        )
        clf.save(clf_path, epochs=classifier_epochs)
    acc = accuracy(clf, data.x_test.to(dev), data.y_test.to(dev))
    if data.x_val.shape[0]:
        reference, held = data.x_test, data.x_val
    else:  # MNIST-like data: two halves of the test set
        reference, held = data.x_test[0::2], data.x_test[1::2]
    ref_feats = features(clf, reference)
    floor = real_floor(clf, reference, held)
    samples = draw_samples(model, kind, held.shape[0], seed, levels, config["image_shape"])
    quality = evaluate_samples(clf, reference, samples, reference_features=ref_feats)
    report.update(
        classifier_accuracy=acc,
        n_reference=reference.shape[0],
        n_held=held.shape[0],
        sample_quality=quality.to_dict(),
        real_floor=floor.to_dict(),
    )
    atomic_write_json(run / "evaluation.json", report)
    return report
