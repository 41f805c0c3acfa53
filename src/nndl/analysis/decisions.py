"""Combining three-way decisions: a claim made of several parts, or of several alternatives.

A claim such as "every ReLU-family activation keeps the speeds within 10× *and* keeps accuracy"
holds when every part holds, does not hold as soon as one part does not, and is inconclusive
otherwise (:func:`all_of`). "Some right initialisation works" holds as soon as one alternative
holds, does not hold when every one does not, and is inconclusive otherwise (:func:`any_of`).

Example:
    >>> all_of(["holds", "inconclusive"]), all_of(["holds", "does not hold", "inconclusive"])
    ('inconclusive', 'does not hold')
    >>> any_of(["does not hold", "holds"]), any_of(["does not hold", "does not hold"])
    ('holds', 'does not hold')
"""

from __future__ import annotations

from collections.abc import Iterable

from .._validation import ValidationError
from .stats import Decision

__all__ = ["all_of", "any_of"]

_DECISIONS = ("holds", "does not hold", "inconclusive")


def _checked(decisions: Iterable[str]) -> list[str]:
    values = list(decisions)
    if not values:
        raise ValidationError("decisions must hold at least one decision, got none")
    for d in values:
        if d not in _DECISIONS:
            raise ValidationError(f"decisions must be one of {_DECISIONS}, got {d!r}")
    return values


def all_of(decisions: Iterable[str]) -> Decision:
    """Conjunction: "does not hold" if any part does not, "holds" if all hold, else inconclusive.

    Raises:
        ValidationError: no decisions, or a value other than the three decisions.
    """
    values = _checked(decisions)
    if "does not hold" in values:
        return "does not hold"
    return "holds" if all(d == "holds" for d in values) else "inconclusive"


def any_of(decisions: Iterable[str]) -> Decision:
    """Disjunction: "holds" if any alternative holds, "does not hold" if none can, else
    inconclusive.

    Raises:
        ValidationError: no decisions, or a value other than the three decisions.
    """
    values = _checked(decisions)
    if "holds" in values:
        return "holds"
    return "does not hold" if all(d == "does not hold" for d in values) else "inconclusive"
