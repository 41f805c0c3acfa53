"""The experiment registry: ``@register`` records an experiment; ``list_experiments`` finds them.

An experiment is a plain function ``run(config, ctx) -> Result`` decorated with::

    @register(
        "g3_product_of_factors",
        claims=("G3",),
        title="The gradient of a sigmoid chain is a product of factors",
        config=G3Config,                      # a dataclass with defaults
        presets={"quick": {...}, "full": {...}, "tiny": {...}},
    )
    def run(cfg: G3Config, ctx: Context) -> Result: ...

Modules named ``<area letter>_*.py`` in this package are imported on first use, so adding an
experiment means adding a function to one of them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._validation import ValidationError, closest_first
from .claims import AREAS, CLAIMS
from .config import build_config

__all__ = [
    "SCALES",
    "Experiment",
    "UnknownExperimentError",
    "get_experiment",
    "list_experiments",
    "register",
]

#: Scales every experiment supports; ``tiny`` exists for the test suite (seconds per experiment).
SCALES: tuple[str, ...] = ("quick", "full", "tiny")

_REGISTRY: dict[str, Experiment] = {}
_DISCOVERED = False
_NAME_RE = re.compile(r"^[a-z][0-9]*_[a-z0-9_]+$")


class UnknownExperimentError(ValidationError, KeyError):
    """No experiment of that name; the message lists the registered ones, closest first."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (see the module docstring)."""

    name: str
    claims: tuple[str, ...]
    title: str
    config_cls: type
    presets: Mapping[str, Mapping[str, Any]]
    fn: Callable[..., Any] = field(repr=False)
    module: str = ""

    def config(self, scale: str = "quick", overrides: Mapping[str, Any] = ()) -> Any:
        """The typed config for ``scale`` with ``overrides`` (strings are parsed) applied."""
        if scale not in SCALES:
            raise ValidationError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        preset = self.presets.get(scale, self.presets["quick"])
        return build_config(self.config_cls, preset, overrides)

    @property
    def config_keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.config_cls)]

    @property
    def summary(self) -> str:
        """One line for ``nndl list``."""
        return self.title


def register(
    name: str,
    *,
    claims: tuple[str, ...] | list[str],
    title: str,
    config: type,
    presets: Mapping[str, Mapping[str, Any]],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(config, ctx) -> Result`` as an experiment (see module docstring)."""
    if not _NAME_RE.match(name):
        raise ValueError(f"experiment name must look like 'g3_product_of_factors', got {name!r}")
    unknown = [c for c in claims if c not in CLAIMS]
    if unknown:
        raise ValueError(f"{name}: unknown claim IDs {unknown}; valid: {', '.join(CLAIMS)}")
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{name}: config must be a dataclass, got {config!r}")
    missing = {"quick", "full"} - set(presets)
    if missing:
        raise ValueError(f"{name}: presets must include quick and full; missing {sorted(missing)}")
    for preset in presets.values():
        build_config(config, preset)  # fail at import time on a bad preset

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"experiment {name!r} is registered twice")
        _REGISTRY[name] = Experiment(
            name=name,
            claims=tuple(claims),
            title=title,
            config_cls=config,
            presets=dict(presets),
            fn=fn,
            module=inspect.getmodule(fn).__name__ if inspect.getmodule(fn) else "",
        )
        return fn

    return decorator


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if re.match(r"^[gpfvlc]_", info.name):
            importlib.import_module(f"{__package__}.{info.name}")
    _DISCOVERED = True


def _sort_key(exp: Experiment) -> tuple[Any, ...]:
    first = exp.claims[0] if exp.claims else "Z9"
    area = list(AREAS).index(first[0]) if first[0] in AREAS else len(AREAS)
    number = int(re.sub(r"\D", "", first) or 0)
    return (area, number, exp.name)


def list_experiments(*patterns: str) -> list[Experiment]:
    """Registered experiments in the notes' order, filtered by fnmatch patterns (``"g*"``).

    A pattern also matches claim IDs, case-insensitively: ``list_experiments("G3")``.
    """
    _discover()
    exps = sorted(_REGISTRY.values(), key=_sort_key)
    if not patterns:
        return exps
    chosen = []
    for exp in exps:
        for pattern in patterns:
            p = pattern.lower()
            if fnmatch.fnmatch(exp.name, p) or any(
                fnmatch.fnmatch(c.lower(), p) for c in exp.claims
            ):
                chosen.append(exp)
                break
    return chosen


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; an unknown name lists the valid ones, closest first."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = closest_first(name, _REGISTRY)
        raise UnknownExperimentError(
            f"unknown experiment {name!r}; known: {', '.join(valid)}"
        ) from None
