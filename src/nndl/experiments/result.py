"""What an experiment returns: metrics, verdicts per claim, figures and tables.

A :class:`Result` is plain data and round-trips through JSON (``to_dict``/``from_dict``); the
runner adds the run's bookkeeping (status, duration, config, environment) before writing
``OUT/<name>/result.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["STATUSES", "FigureRef", "Result", "Status", "Table", "Verdict"]

Status = Literal["holds", "does not hold", "inconclusive"]
STATUSES: tuple[str, ...] = ("holds", "does not hold", "inconclusive")


@dataclass
class Verdict:
    """Whether one claim held on this run, with one sentence of evidence from the metrics.

    Attributes:
        claim: claim ID from CLAIMS.md, e.g. ``"G3"``.
        status: ``"holds"``, ``"does not hold"`` or ``"inconclusive"``.
        evidence: one sentence that quotes the numbers the status was decided from.
        key: the key number for the report's summary table, e.g. ``"last/first = 84×"``.
        reason: for "inconclusive": which guard failed or which interval straddled the margin,
            and what budget would settle it.
        rule: the claim's declared rule (:meth:`Rule.text`), attached by the runner.
    """

    claim: str
    status: Status
    evidence: str
    key: str = ""
    reason: str = ""
    rule: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @classmethod
    def from_check(
        cls, claim: str, holds: bool | None, evidence: str, key: str = "", reason: str = ""
    ) -> Verdict:
        """``holds`` True → "holds", False → "does not hold", None → "inconclusive"."""
        status: Status = (
            "inconclusive" if holds is None else ("holds" if holds else "does not hold")
        )
        return cls(claim, status, evidence, key, reason)


@dataclass
class FigureRef:
    """A figure file (PNG) written by the experiment, relative to its output folder."""

    path: str
    caption: str = ""


@dataclass
class Table:
    """A small table for the report: ``rows`` are lists aligned with ``columns``."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class Result:
    """An experiment's outcome.

    Experiments fill ``metrics`` (JSON-serialisable numbers, lists, dicts), ``verdicts`` (one per
    claim the experiment covers), ``tables`` and optionally ``notes`` (a short "why" paragraph).
    Figures and tables come from the experiment's ``draw`` (:class:`Canvas`). The runner
    fills the remaining fields.
    """

    metrics: dict[str, Any] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: str = ""
    # bookkeeping, filled by the runner
    name: str = ""
    title: str = ""
    claims: list[str] = field(default_factory=list)
    status: Literal["ok", "failed"] = "ok"
    error: str = ""
    traceback: str = ""
    duration_s: float = 0.0
    scale: str = ""
    seed: int = 0
    device: str = "cpu"
    config: dict[str, Any] = field(default_factory=dict)
    cache_key: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cached: bool = False
    #: set when the latest run failed and this (older, good) result was kept: its error text
    last_failure: str = ""

    def verdict(self, claim: str) -> Verdict | None:
        """The verdict for ``claim``, or None."""
        return next((v for v in self.verdicts if v.claim == claim), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cached")
        data.pop("last_failure")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        data = dict(data)
        data["verdicts"] = [Verdict(**v) for v in data.get("verdicts", [])]
        data["figures"] = [FigureRef(**f) for f in data.get("figures", [])]
        data["tables"] = [Table(**t) for t in data.get("tables", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
