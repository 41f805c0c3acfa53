"""Declarative checks of estimator parameters, worded like scikit-learn's.

scikit-learn validates constructor parameters from a ``_parameter_constraints`` table of
``Interval``/``StrOptions`` objects, but those classes live in the private module
``sklearn.utils._param_validation``. This module keeps the same idea with a small table of our
own (:class:`Options`, :class:`Number`, :class:`Instance`) and produces scikit-learn's message
("The 'alpha' parameter of LinearClassifier must be a float in the range [0.0, inf). Got -1
instead.") raised as :class:`InvalidParameterError`, which, like scikit-learn's, is both a
``ValueError`` and a ``TypeError``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._validation import ValidationError, closest_first

__all__ = ["Instance", "InvalidParameterError", "Number", "Options", "validate_params"]


class InvalidParameterError(ValidationError, TypeError):
    """A constructor parameter has a wrong type or value (caught by ``ValueError`` too)."""


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def describe(self) -> str:
        return "a str among {" + ", ".join(repr(v) for v in sorted(self.values)) + "}"


@dataclass(frozen=True)
class Number:
    """An int or a real number in ``[low, high]`` (``closed`` says which ends are included)."""

    kind: type  # int or float
    low: float = -math.inf
    high: float = math.inf
    closed: str = "both"  # "both", "left", "right", "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if not isinstance(value, numbers.Real) or math.isnan(value):
            return False
        value = float(value)
        left = value >= self.low if self.closed in ("both", "left") else value > self.low
        right = value <= self.high if self.closed in ("both", "right") else value < self.high
        return left and right

    def describe(self) -> str:
        lb = "[" if self.closed in ("both", "left") and math.isfinite(self.low) else "("
        rb = "]" if self.closed in ("both", "right") and math.isfinite(self.high) else ")"
        fmt = (lambda v: str(int(v))) if self.kind is int else (lambda v: str(float(v)))
        low = fmt(self.low) if math.isfinite(self.low) else "-inf"
        high = fmt(self.high) if math.isfinite(self.high) else "inf"
        article = "an int" if self.kind is int else "a float"
        return f"{article} in the range {lb}{low}, {high}{rb}"


@dataclass(frozen=True)
class Instance:
    """Anything that passes ``check`` (a predicate), described in words."""

    check: Callable[[Any], bool]
    description: str

    def accepts(self, value: Any) -> bool:
        return bool(self.check(value))

    def describe(self) -> str:
        return self.description


Constraint = Options | Number | Instance


def validate_params(
    owner: str, params: Mapping[str, Any], constraints: Mapping[str, tuple[Constraint, ...]]
) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter that fits no constraint.

    Args:
        owner: the class name, used in the message.
        params: ``estimator.get_params(deep=False)``.
        constraints: parameter name → accepted alternatives.
    """
    for name, options in constraints.items():
        value = params[name]
        if any(c.accepts(value) for c in options):
            continue
        wanted = [c.describe() for c in options]
        allowed = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
        message = f"The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead."
        names = [v for c in options if isinstance(c, Options) for v in c.values]
        if isinstance(value, str) and names:
            message += f" Did you mean {closest_first(value, names)[0]!r}?"
        raise InvalidParameterError(message)
