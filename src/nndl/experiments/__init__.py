"""Experiments: one per claim (or small group of claims) of the study notes.

Use :func:`list_experiments` and :func:`run_experiment`; write new ones with :func:`register`
as measure / judge / draw with one :class:`Rule` per claim (see :mod:`.registry`).
Experiments use only nndl's public library API.
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
)
from .result import STATUSES, FigureRef, Result, Table, Verdict
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
    "run_experiment",
]
