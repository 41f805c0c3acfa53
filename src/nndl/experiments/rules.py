"""A claim's decision rule, declared beside the claim before the run and printed with its verdict.

A :class:`Rule` says, in advance of any data: the statistic computed from the measurements,
when the claim holds, when it does not, what makes the run inconclusive (an interval that
straddles the margin, a guard such as "the reference net did not train"), how many seeds it
needs, and one line of rationale. Its numeric thresholds live in ``params`` so that the judge
reads them from the rule rather than repeating literals::

    G5_RULE = Rule(
        claim="G5",
        statistic="paired difference of test accuracy (deepest − shallowest) over seeds",
        holds="the 95 % t interval's lower end > −margin for every activation",
        does_not_hold="its upper end < −margin for some activation",
        inconclusive="otherwise, or a guard fails (the shallow net did not train)",
        seeds=5,
        rationale="non-inferiority: 'keeps accuracy' cannot be shown by a point estimate",
        params={"margin": 0.01},
    )

The registry attaches each experiment's rules to its verdicts; the report prints them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Rule", "as_float"]


def as_float(value: Any) -> float:
    """A stored metric as a float: JSON keeps NaN/Inf as the strings "nan", "inf", "-inf"."""
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Rule:
    """The decision rule of one claim (see the module docstring).

    Attributes:
        claim: claim ID, e.g. ``"G5"``.
        statistic: what is computed from the metrics.
        holds: the condition for "holds".
        does_not_hold: the condition for "does not hold".
        inconclusive: what makes the verdict inconclusive (straddling interval, guards).
        seeds: how many seeds (or nets per cell) the rule asks for at quick scale.
        rationale: one line of why the rule is shaped this way.
        params: the rule's numbers (margins, thresholds, confidence), read by the judge.
    """

    claim: str
    statistic: str
    holds: str
    does_not_hold: str
    inconclusive: str
    seeds: int | str
    rationale: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """``rule["margin"]`` reads ``params``; a missing key names the rule's keys."""
        try:
            return self.params[key]
        except KeyError:
            raise KeyError(
                f"rule {self.claim} has no parameter {key!r}; it has {sorted(self.params)}"
            ) from None

    def text(self) -> str:
        """One paragraph for the report and the CLI."""
        parts = [
            f"Statistic: {self.statistic}.",
            f"Holds if {self.holds}.",
            f"Does not hold if {self.does_not_hold}.",
            f"Inconclusive if {self.inconclusive}.",
            f"Seeds: {self.seeds}.",
        ]
        if self.params:
            parts.append(
                "Parameters: " + ", ".join(f"{k} = {v}" for k, v in self.params.items()) + "."
            )
        if self.rationale:
            parts.append(f"Why: {self.rationale}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "params": dict(self.params)}
