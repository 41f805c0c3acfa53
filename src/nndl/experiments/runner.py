"""Run one experiment: config, seed, measure, judge, draw, and write ``result.json``.

``run_experiment`` builds and range-checks the config, seeds everything, calls ``measure`` (the
only part that trains), then ``judge`` and ``draw`` on the metrics as stored in JSON, and writes
``OUT/<name>/result.json`` (+ ``config.json`` and ``figures/``). ``redraw_experiment`` reruns
only ``judge`` and ``draw`` from the stored metrics.

Results are cached: ``result.json`` records a key made of the config, seed, scale, device and a
hash of the code (every experiment module and the whole library, minus the CLI and report).
``run_experiment(force=False)`` reuses a successful result whose key matches.

A failure never destroys the last good result: when ``result.json`` holds a successful run, a
failed one is written beside it as ``failed.json`` and :func:`load_result` reports it in
``Result.last_failure``.
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

from .._io import atomic_write_json, ensure_dir, to_jsonable
from .._seed import seed_everything
from .._validation import ValidationError
from ..train import resolve_device
from .claims import PROTOCOL_SHA256
from .config import build_config, config_to_dict
from .context import Canvas, Context
from .registry import Experiment, get_experiment
from .result import Result

__all__ = [
    "environment",
    "evaluate",
    "load_result",
    "redraw_experiment",
    "run_experiment",
]

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def tree_hash(root: Path, pattern: str = "*.py", skip: tuple[str, ...] = ()) -> str:
    """SHA-256 over the relative paths and bytes of the files under ``root`` matching ``pattern``.

    Files whose relative POSIX path starts with one of ``skip`` are left out. Any edit, added
    or removed file changes the hash, which is what invalidates cached results.
    """
    digest = hashlib.sha256()
    for path in sorted(root.rglob(pattern)):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(skip):
            continue
        digest.update(rel.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _library_hash() -> str:
    # the library's code and its shipped weights (package data a result can depend on)
    skip = ("experiments/", "report/", "cli")
    code = tree_hash(_PACKAGE_ROOT, skip=skip)
    return code + tree_hash(_PACKAGE_ROOT, pattern="*.safetensors", skip=skip)


@functools.cache
def _experiments_hash() -> str:
    # every experiment module, the framework and the protocol (rules, presets): a shared change
    # reruns everything
    root = _PACKAGE_ROOT / "experiments"
    return tree_hash(root) + tree_hash(root, pattern="*.toml")


def _code_hash(exp: Experiment) -> str:
    return hashlib.sha256((exp.module + _experiments_hash() + _library_hash()).encode()).hexdigest()


def _cache_key(exp: Experiment, config: dict[str, Any], seed: int, scale: str, device: str) -> str:
    payload = json.dumps(
        {"config": config, "seed": seed, "scale": scale, "device": device}, sort_keys=True
    )
    return hashlib.sha256((payload + _code_hash(exp)).encode()).hexdigest()[:20]


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
        "protocol.toml sha256": PROTOCOL_SHA256,
        "device": (
            torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({platform.machine()})"
        ),
    }


def _read_result(path: Path) -> Result | None:
    try:
        return Result.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def load_result(out: str | Path, name: str) -> Result | None:
    """The result in ``OUT/<name>/result.json``; None if there is none or it is unreadable.

    When a later run failed and this good result was kept, ``last_failure`` holds its error.
    """
    folder = Path(out) / name
    result = _read_result(folder / "result.json")
    if result is None:
        return None
    failed = _read_result(folder / "failed.json")
    if result.status == "ok" and failed is not None:
        result.last_failure = failed.error or "failed"
    return result


def _as_stored(metrics: Any, name: str) -> dict[str, Any]:
    """Metrics exactly as they come back from ``result.json`` (so a redraw judges the same)."""
    if not isinstance(metrics, dict):
        raise TypeError(f"{name}: measure must return a dict of metrics, got {type(metrics)}")
    return json.loads(json.dumps(to_jsonable(metrics), allow_nan=False))


def evaluate(exp: Experiment, config: Any, metrics: dict[str, Any], out_dir: Path) -> Result:
    """``judge`` and ``draw`` on stored ``metrics``: verdicts (with rules), figures, tables."""
    verdicts = list(exp.judge(metrics, config))
    missing = [c for c in exp.claims if not any(v.claim == c for v in verdicts)]
    if missing:
        raise ValueError(f"experiment {exp.name} gave no verdict for claims {missing}")
    for verdict in verdicts:
        verdict.rule = exp.rules[verdict.claim].text() if verdict.claim in exp.rules else ""
    canvas = Canvas(out_dir)
    exp.draw(metrics, config, canvas)
    return Result(
        metrics=metrics,
        verdicts=verdicts,
        figures=canvas.figures,
        tables=canvas.tables,
        notes=canvas.notes or exp.notes,
    )


def _write(exp_dir: Path, result: Result, stored_metrics: dict[str, Any] | None) -> None:
    """Write the result; a failure next to a good result goes to ``failed.json`` instead."""
    data = result.to_dict()
    data["measured"] = stored_metrics
    if result.status == "failed":
        previous = _read_result(exp_dir / "result.json")
        if previous is not None and previous.status == "ok":
            atomic_write_json(exp_dir / "failed.json", data)
            return
    atomic_write_json(exp_dir / "config.json", result.config)
    atomic_write_json(exp_dir / "result.json", data)
    (exp_dir / "failed.json").unlink(missing_ok=True)


def run_experiment(
    experiment: str | Experiment,
    *,
    scale: str = "quick",
    seed: int = 0,
    device: str | torch.device = "cpu",
    out: str | Path = "results",
    overrides: Mapping[str, Any] | None = None,
    force: bool = True,
) -> Result:
    """Run one experiment and write ``OUT/<name>/result.json`` (+ ``config.json``, figures).

    Bad arguments (unknown experiment, unknown, ill-typed or out-of-range override, unusable
    device, unwritable ``out``) raise before anything runs. An exception inside the experiment
    does not propagate: it is recorded in a result with ``status="failed"``, the error and a
    traceback summary — beside, never over, an earlier good result.

    Args:
        experiment: a registered name or an :class:`Experiment`.
        scale: ``"quick"``, ``"full"`` or ``"tiny"``.
        seed: seed for every random number generator, in ``[0, 2**32 - 1]``.
        device: ``"cpu"`` or ``"cuda"``.
        out: results folder; the experiment writes to ``out/<name>/``.
        overrides: ``{key: value}`` config overrides (strings are parsed by the field's type).
        force: when False, reuse a successful cached result with the same key.
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    config = exp.config(scale, overrides or {})
    config_dict = config_to_dict(config)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValidationError(f"seed must be an int in the range [0, 2**32 - 1], got {seed!r}")
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
    # vanishing gradients make denormal floats, which are slow on CPUs: flush them during the
    # run. torch cannot report the previous mode (its return value is "supported"), so the
    # run ends in the default mode, off, rather than leaking the setting into the caller.
    torch.set_flush_denormal(True)
    start = time.perf_counter()
    caught: list[warnings.WarningMessage] = []
    stored: dict[str, Any] | None = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            stored = _as_stored(exp.measure(config, ctx), exp.name)
            result = evaluate(exp, config, stored, exp_dir)
    except Exception as exc:
        result = Result(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)[-6:]),
        )
    finally:
        torch.set_flush_denormal(False)
    result.duration_s = round(time.perf_counter() - start, 3)
    # warnings go into the result (and the report) rather than through the progress display
    result.warnings = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    result.name, result.title, result.claims = exp.name, exp.title, list(exp.claims)
    result.scale, result.seed, result.device = scale, seed, str(dev)
    result.config, result.cache_key = config_dict, key
    result.environment = environment(dev)
    _write(exp_dir, result, stored)
    return result


def redraw_experiment(experiment: str | Experiment, out: str | Path) -> Result | None:
    """Rerun ``judge`` and ``draw`` on the metrics stored in ``OUT/<name>/result.json``.

    No training: a changed rule or plot shows in seconds. Returns None when there is no stored
    successful result to redraw (the result file is then left as it is).
    """
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    exp_dir = Path(out) / exp.name
    path = exp_dir / "result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    old = _read_result(path)
    stored = data.get("measured")
    if old is None or old.status != "ok" or not isinstance(stored, dict):
        return None
    config = build_config(exp.config_cls, old.config)
    result = evaluate(exp, config, stored, exp_dir)
    kept = "name title claims duration_s scale seed device config cache_key environment warnings"
    for name in kept.split():
        setattr(result, name, getattr(old, name))
    # the verdicts are judged by the protocol as it is now
    result.environment = {**old.environment, "protocol.toml sha256": PROTOCOL_SHA256}
    data = result.to_dict()
    data["measured"] = stored
    atomic_write_json(path, data)
    return load_result(out, exp.name)
