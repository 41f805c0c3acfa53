"""Run one experiment: build its config, seed, run, catch failures, write ``result.json``.

Results are cached: ``OUT/<name>/result.json`` records a key made of the config, seed, scale,
device and a hash of the code (every experiment module and the whole library, minus the CLI and
report). :func:`run_experiment` with ``force=False`` reuses a successful cached result whose key
matches.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import platform
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write_json, ensure_dir
from .._seed import seed_everything
from .._validation import ValidationError
from .config import config_to_dict
from .context import Context
from .registry import Experiment, get_experiment
from .result import Result

__all__ = ["environment", "load_result", "resolve_device", "run_experiment"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def _library_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        rel = path.relative_to(_PACKAGE_ROOT).as_posix()
        if rel.startswith(("experiments/", "report/", "cli")):
            continue
        digest.update(rel.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _experiments_hash() -> str:
    # every experiment module: experiments share helpers (g_remedies imports g_speeds, …)
    digest = hashlib.sha256()
    for path in sorted((_PACKAGE_ROOT / "experiments").glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _code_hash(exp: Experiment) -> str:
    return hashlib.sha256((exp.module + _experiments_hash() + _library_hash()).encode()).hexdigest()


def _cache_key(exp: Experiment, config: dict[str, Any], seed: int, scale: str, device: str) -> str:
    payload = json.dumps(
        {"config": config, "seed": seed, "scale": scale, "device": device}, sort_keys=True
    )
    return hashlib.sha256((payload + _code_hash(exp)).encode()).hexdigest()[:20]


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``/``"cuda"``/``"cuda:1"`` → ``torch.device``; CUDA must be available."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValidationError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device 'cuda' was asked for, but torch.cuda.is_available() is False")
    if dev.type not in ("cpu", "cuda"):
        raise ValidationError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Versions, machine and device, for the report's environment block."""
    dev = torch.device(device)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "nndl": _version("nndl"),
        "torch": torch.__version__,
        "numpy": _version("numpy"),
        "scikit-learn": _version("scikit-learn"),
        "scikit-image": _version("scikit-image"),
        "threads": torch.get_num_threads(),
        "device": (
            torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
        ),
    }


def load_result(out: str | Path, name: str) -> Result | None:
    """The result in ``OUT/<name>/result.json``; None if there is none or it is unreadable."""
    path = Path(out) / name / "result.json"
    try:
        return Result.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def run_experiment(
    experiment: str | Experiment,
    *,
    scale: str = "quick",
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | Path = "results",
    overrides: Mapping[str, Any] = (),
    force: bool = True,
) -> Result:
    """Run one experiment and write ``OUT/<name>/result.json`` (+ ``config.json``, figures).

    Bad arguments (unknown experiment, unknown or ill-typed override, unusable device, unwritable
    ``out``) raise before anything runs. An exception inside the experiment does not propagate:
    it is recorded in a result with ``status="failed"``, the error and a traceback summary.

    Args:
        experiment: a registered name or an :class:`Experiment`.
        scale: ``"quick"``, ``"full"`` or ``"tiny"``.
        seed: seed for every random number generator.
        device: ``"cpu"`` or ``"cuda"``.
        out: results folder; the experiment writes to ``out/<name>/``.
        overrides: ``{key: value}`` config overrides (strings are parsed by the field's type).
        force: when False, reuse a successful cached result with the same key.
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    config = exp.config(scale, overrides)
    config_dict = config_to_dict(config)
    dev = resolve_device(device)
    exp_dir = ensure_dir(Path(out) / exp.name, name="output folder")
    key = _cache_key(exp, config_dict, seed, scale, str(dev))
    if not force:
        cached = load_result(out, exp.name)
        if cached is not None and cached.status == "ok" and cached.cache_key == key:
            cached.cached = True
            return cached

    ctx = Context(out_dir=exp_dir, seed=seed, scale=scale, device=dev)
    seed_everything(seed)
    previous_denormal = torch.set_flush_denormal(True)  # vanishing gradients make denormals
    start = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            result = exp.fn(config, ctx)
        if not isinstance(result, Result):
            raise TypeError(f"experiment {exp.name} returned {type(result).__name__}, not Result")
        missing = [c for c in exp.claims if result.verdict(c) is None]
        if missing:
            raise ValueError(f"experiment {exp.name} gave no verdict for claims {missing}")
    except Exception as exc:
        result = Result(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)[-6:]),
        )
    finally:
        if previous_denormal:
            torch.set_flush_denormal(True)
        else:
            torch.set_flush_denormal(False)
    result.duration_s = round(time.perf_counter() - start, 3)
    # warnings go into the result (and the report) rather than through the progress display
    result.warnings = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    result.figures = ctx.figures + [f for f in result.figures if f not in ctx.figures]
    result.name, result.title, result.claims = exp.name, exp.title, list(exp.claims)
    result.scale, result.seed, result.device = scale, seed, str(dev)
    result.config, result.cache_key = config_dict, key
    result.environment = environment(dev)
    atomic_write_json(exp_dir / "config.json", config_dict)
    atomic_write_json(exp_dir / "result.json", result.to_dict())
    return result
