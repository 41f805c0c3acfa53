"""The experiment registry: ``register`` records an experiment; ``list_experiments`` finds them.

An experiment is three functions over a config dataclass, plus what it says (title, notes,
scale presets, one :class:`Rule` per claim), which the package's own experiments declare in the
protocol file (see :mod:`.claims`)::

    register(
        "g3_product_of_factors",
        G3Config,                             # a dataclass with defaults (and ranges)
        measure=measure,                      # (config, ctx) -> metrics: trains, computes; cached
        judge=judge,                          # (metrics, config) -> [Verdict]: pure, no torch
        draw=draw,                            # (metrics, config, canvas) -> None: figures, tables
    )

An experiment outside the package passes ``title=``, ``presets=`` (quick and full at least),
``rules=`` and ``notes=`` itself; whatever it leaves out is read from the protocol.

``measure`` is the only part that trains or computes; its metrics (JSON) are stored, so
``judge`` and ``draw`` can be rerun from them alone (``nndl report --redraw``). ``judge`` sees the
metrics exactly as they come back from JSON (tuples are lists, numpy/torch numbers are plain,
non-finite floats are the strings ``"inf"``, ``"-inf"``, ``"nan"``: read them with
:func:`~nndl.experiments.as_float`).

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
from .claims import AREAS, CLAIMS, ProtocolError, protocol_entry, rule
from .config import build_config
from .rules import Rule

__all__ = [
    "SCALES",
    "Experiment",
    "UnknownExperimentError",
    "get_experiment",
    "list_experiments",
    "register",
    "rule",
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


Measure = Callable[[Any, Any], dict[str, Any]]
Judge = Callable[[Mapping[str, Any], Any], list[Any]]
Draw = Callable[[Mapping[str, Any], Any, Any], None]


@dataclass(frozen=True)
class Experiment:
    """A registered experiment (see the module docstring).

    Attributes:
        rules: ``{claim: Rule}``, one declared rule per claim.
        measure, judge, draw: the three parts.
    """

    name: str
    claims: tuple[str, ...]
    title: str
    config_cls: type
    presets: Mapping[str, Mapping[str, Any]]
    measure: Measure = field(repr=False)
    judge: Judge = field(repr=False)
    draw: Draw = field(repr=False)
    rules: Mapping[str, Rule] = field(default_factory=dict)
    notes: str = ""
    module: str = ""

    def config(self, scale: str = "quick", overrides: Mapping[str, Any] | None = None) -> Any:
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
    config: type,
    *,
    measure: Measure,
    judge: Judge,
    draw: Draw,
    title: str | None = None,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    rules: tuple[Rule, ...] | list[Rule] | None = None,
    notes: str | None = None,
    claims: tuple[str, ...] | list[str] | None = None,
) -> Experiment:
    """Register an experiment (see the module docstring) and return it.

    ``title``, ``presets``, ``rules`` and ``notes`` default to the experiment's entry in the
    protocol file (read when any of the first three is left out; ``notes`` is otherwise "").
    ``claims`` defaults to the rules' claims, in their order; given, it must name
    the same ones.

    Raises:
        ValueError: a malformed name, unknown claim IDs, a missing preset, a preset that breaks
            the config's types or ranges, or not exactly one rule per claim;
            :class:`~nndl.experiments.claims.ProtocolError` when a part is left out and the
            protocol has no entry for ``name``.
        TypeError: ``config`` is not a dataclass or a part is not callable.
    """
    if None in (title, presets, rules):
        try:
            entry = protocol_entry(name)
        except ProtocolError as err:
            raise ProtocolError(f"{name}: title, presets or rules not given; {err}") from None
        title = entry["title"] if title is None else title
        presets = entry["presets"] if presets is None else presets
        rules = [rule(name, c) for c in entry["rules"]] if rules is None else rules
        notes = entry["notes"] if notes is None else notes
    assert title is not None and presets is not None and rules is not None
    if not _NAME_RE.match(name):
        raise ValueError(f"experiment name must look like 'g3_product_of_factors', got {name!r}")
    if claims is None:
        claims = [rule.claim for rule in rules]
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
    by_claim = {rule.claim: rule for rule in rules}
    if sorted(by_claim) != sorted(claims) or len(by_claim) != len(rules):
        raise ValueError(
            f"{name}: needs exactly one rule per claim {list(claims)}, got rules for "
            f"{[r.claim for r in rules]}"
        )
    for part, fn in (("measure", measure), ("judge", judge), ("draw", draw)):
        if not callable(fn):
            raise TypeError(f"{name}: {part} must be callable, got {fn!r}")
    module = inspect.getmodule(measure)
    if name in _REGISTRY and _REGISTRY[name].module != (module.__name__ if module else ""):
        raise ValueError(f"experiment {name!r} is registered twice")
    exp = Experiment(
        name=name,
        claims=tuple(claims),
        title=title,
        config_cls=config,
        presets=dict(presets),
        measure=measure,
        judge=judge,
        draw=draw,
        rules={c: by_claim[c] for c in claims},
        notes=notes or "",
        module=module.__name__ if module else "",
    )
    _REGISTRY[name] = exp
    return exp


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
