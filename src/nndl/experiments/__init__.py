"""Experiments: one per claim (or small group of claims) of the study notes.

Use :func:`list_experiments` and :func:`run_experiment`; write new ones with :func:`register`
as measure / judge / draw with one :class:`Rule` per claim (see :mod:`.registry`), declared in
``protocol.toml`` (see :mod:`.claims`). Experiment modules import the framework from here
(``from . import Canvas, Context, Verdict, register, rule``) and otherwise use only nndl's
public library API.
"""

from .claims import AREAS, CLAIMS, Claim
from .config import ConfigError, Range
from .context import Canvas, Context
from .registry import (
    SCALES,
    Experiment,
    UnknownExperimentError,
    get_experiment,
    list_experiments,
    register,
    rule,
)
from .result import STATUSES, FigureRef, Result, Status, Table, Verdict
from .rules import Rule, as_float
from .runner import environment, evaluate, load_result, redraw_experiment, run_experiment

__all__ = [
    "AREAS",
    "CLAIMS",
    "SCALES",
    "STATUSES",
    "Canvas",
    "Claim",
    "ConfigError",
    "Context",
    "Experiment",
    "FigureRef",
    "Range",
    "Result",
    "Rule",
    "Status",
    "Table",
    "UnknownExperimentError",
    "Verdict",
    "as_float",
    "environment",
    "evaluate",
    "get_experiment",
    "list_experiments",
    "load_result",
    "redraw_experiment",
    "register",
    "rule",
    "run_experiment",
]
