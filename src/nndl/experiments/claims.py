"""The protocol: the study notes' claims and, for each experiment, its scales and decision rules.

Everything an experiment *says* lives in one data file, ``protocol.toml``, beside this module:
each claim of ``shared/notes/CLAIMS.md`` (ID, title, condensed statement) followed by the
experiments that test it, each with its title, notes, scale presets and one :class:`Rule` per
claim. The Python modules hold only what an experiment *does* (measure, judge, draw) and read
their rules from here::

    G3_RULE = rule("g3_product_of_factors", "G3")     # thresholds: G3_RULE["max_factor"]
    register("g3_product_of_factors", G3Config, measure=measure, judge=judge, draw=draw)

Keeping the protocol apart makes it reviewable as a whole, and the report prints its SHA-256
(:data:`PROTOCOL_SHA256`) so a reader can check that the rules a verdict was judged by are
the ones committed before the run.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .rules import Rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "AREAS",
    "CLAIMS",
    "PROTOCOL_PATH",
    "PROTOCOL_SHA256",
    "Claim",
    "ProtocolError",
    "claim",
    "protocol_entry",
    "rule",
]

#: The protocol file shipped with the package.
PROTOCOL_PATH = Path(__file__).with_name("protocol.toml")


class ProtocolError(ValueError):
    """The protocol file is malformed, or names an experiment or claim it does not hold."""


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str

    @property
    def area(self) -> str:
        return self.id[0]


def _load(path: Path) -> tuple[dict[str, Any], str]:
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ProtocolError(f"{path}: not valid TOML ({err})") from None
    for section in ("areas", "claims", "experiments"):
        if not isinstance(data.get(section), dict):
            raise ProtocolError(f"{path}: needs a [{section}] table")
    return data, hashlib.sha256(raw).hexdigest()


_PROTOCOL, PROTOCOL_SHA256 = _load(PROTOCOL_PATH)

#: Area letter -> area title, in the notes' order.
AREAS: dict[str, str] = dict(_PROTOCOL["areas"])
#: Claim ID -> :class:`Claim`, in the notes' order.
CLAIMS: dict[str, Claim] = {
    cid: Claim(cid, entry["title"], entry["statement"])
    for cid, entry in _PROTOCOL["claims"].items()
}
_RULE_FIELDS = {f.name for f in fields(Rule)} - {"claim"}
_ENTRY_KEYS = {"title", "notes", "presets", "rules"}


def claim(claim_id: str) -> Claim:
    """The claim with this ID (``KeyError`` with the valid IDs if unknown)."""
    try:
        return CLAIMS[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}; valid: {', '.join(CLAIMS)}") from None


def protocol_entry(experiment: str) -> Mapping[str, Any]:
    """The ``[experiments.<experiment>]`` table: title, notes, presets, rules (by claim).

    Raises:
        ProtocolError: no such experiment, or the entry has unknown or missing keys.
    """
    entries = _PROTOCOL["experiments"]
    if experiment not in entries:
        raise ProtocolError(
            f"protocol.toml has no [experiments.{experiment}]; it has {', '.join(entries)}"
        )
    entry = entries[experiment]
    if set(entry) != _ENTRY_KEYS:
        raise ProtocolError(
            f"[experiments.{experiment}] must have exactly the keys {sorted(_ENTRY_KEYS)}, "
            f"got {sorted(entry)}"
        )
    return entry


def rule(experiment: str, claim_id: str) -> Rule:
    """The declared rule by which ``experiment`` judges ``claim_id``.

    Raises:
        ProtocolError: the experiment has no rule for that claim, or the rule has unknown or
            missing fields (``statistic``, ``holds``, ``does_not_hold``, ``inconclusive`` and
            ``seeds`` are required; ``rationale`` and ``params`` are optional).
    """
    rules = protocol_entry(experiment)["rules"]
    if claim_id not in rules:
        raise ProtocolError(
            f"[experiments.{experiment}] has no rule for claim {claim_id!r}; "
            f"it has rules for {', '.join(rules)}"
        )
    spec = rules[claim_id]
    unknown = set(spec) - _RULE_FIELDS
    missing = {"statistic", "holds", "does_not_hold", "inconclusive", "seeds"} - set(spec)
    if unknown or missing:
        raise ProtocolError(
            f"rule {experiment}/{claim_id}: unknown fields {sorted(unknown)}, "
            f"missing fields {sorted(missing)}; valid fields are {sorted(_RULE_FIELDS)}"
        )
    return Rule(claim=claim_id, **spec)
