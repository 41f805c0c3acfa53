"""Combining three-way decisions: a claim made of several parts, or of several alternatives.

A claim such as "every ReLU-family activation keeps the speeds within 10× *and* keeps accuracy"
holds when every part holds, does not hold as soon as one part does not, and is inconclusive
otherwise (:func:`all_of`). "Some right initialisation works" holds as soon as one alternative
holds, does not hold when every one does not, and is inconclusive otherwise (:func:`any_of`).
When an interval straddles its threshold, :func:`seeds_to_settle` estimates the seeds that would
settle it.

Example:
    >>> all_of(["holds", "inconclusive"]), all_of(["holds", "does not hold", "inconclusive"])
    ('inconclusive', 'does not hold')
    >>> any_of(["does not hold", "holds"]), any_of(["does not hold", "does not hold"])
    ('holds', 'does not hold')
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .._validation import DTypeError, ValidationError
from .stats import Decision, Interval

__all__ = ["all_of", "any_of", "seeds_to_settle"]

_DECISIONS = ("holds", "does not hold", "inconclusive")
_NEGATION: dict[str, Decision] = {
    "holds": "does not hold",
    "does not hold": "holds",
    "inconclusive": "inconclusive",
}


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
    return _NEGATION[all_of(_NEGATION[d] for d in _checked(decisions))]  # De Morgan


def seeds_to_settle(interval: Interval, threshold: float) -> int:
    r"""Seeds for a 95 % t interval with this mean and sd to clear ``threshold``.

    The half-width of a 95 % interval over n seeds is about :math:`2\,sd/\sqrt n`; it clears
    the gap :math:`|\bar x - \text{threshold}|` once :math:`n > (2\,sd/\text{gap})^2`. The
    answer is at least one more seed than the interval had, and 10⁶ when the mean sits exactly
    on the threshold (no budget settles it). With one seed (no spread yet) it is 2: the least
    that gives an interval at all.

    Raises:
        DTypeError: ``interval`` is not an :class:`~nndl.analysis.Interval`.

    Example:
        >>> from nndl.analysis import mean_interval
        >>> seeds_to_settle(mean_interval([0.5, 1.5, 1.0]), 0.5)
        5
    """
    if not isinstance(interval, Interval):
        raise DTypeError(f"interval must be an nndl.analysis.Interval, got {interval!r:.60}")
    gap = abs(interval.estimate - threshold)
    if not gap > 0:
        return 10**6
    if interval.n < 2 or not math.isfinite(interval.sd):
        return interval.n + 1
    return max(interval.n + 1, math.ceil((2.0 * interval.sd / gap) ** 2) + 1)
