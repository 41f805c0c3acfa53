"""Experiments: one per claim (or small group of claims) of the study notes.

Use :func:`list_experiments` and :func:`run_experiment`; write new ones with :func:`register`.
Experiments use only nndl's public library API.
"""

from .claims import AREAS, CLAIMS, Claim
from .context import Context
from .registry import (
    SCALES,
    Experiment,
    UnknownExperimentError,
    get_experiment,
    list_experiments,
    register,
)
from .result import STATUSES, FigureRef, Result, Table, Verdict
from .runner import environment, load_result, run_experiment

__all__ = [
    "AREAS",
    "CLAIMS",
    "SCALES",
    "STATUSES",
    "Claim",
    "Context",
    "Experiment",
    "FigureRef",
    "Result",
    "Table",
    "UnknownExperimentError",
    "Verdict",
    "environment",
    "get_experiment",
    "list_experiments",
    "load_result",
    "register",
    "run_experiment",
]
