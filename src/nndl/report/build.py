"""Render experiment results into a self-contained, offline HTML page.

Layout: a summary table (every claim of the notes: verdict, key number, link), then one section
per area in the notes' order (G, P, F, V, L, C), each claim with its statement and, for every
experiment that covers it, the verdict and evidence, the measured numbers, tables and figures;
then the environment (versions, device, seed, scale, durations). Figures stay as PNG files in
``OUT/<experiment>/figures/`` and are linked relatively, so the folder can be moved or zipped.

Each verdict shows the claim's rule, declared before the run, and for "inconclusive" the reason.
With several base seeds a stability table lists each claim's verdict per seed and, when a
full-scale report is given, its full-scale verdict (:func:`stability_rows`).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from .._io import atomic_write_json, atomic_write_text, ensure_dir
from .._validation import NNDLError
from ..experiments.claims import AREAS, CLAIMS
from ..experiments.result import Result
from ..experiments.runner import load_result

__all__ = ["ReportError", "build_report", "collect_results", "load_report", "stability_rows"]

_TEMPLATES = Path(__file__).with_name("templates")


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "NaN"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        if len(value) <= 8 and all(isinstance(v, int | float) for v in value):
            return "[" + ", ".join(_fmt(v) for v in value) + "]"
        return f"[{len(value)} values]"
    if isinstance(value, dict):
        if len(value) <= 6 and all(isinstance(v, int | float | str) for v in value.values()):
            return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
        return f"{{{len(value)} entries}}"
    return str(value)


def _flat_metrics(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict) and len(value) > 6:
            for sub, inner in list(value.items())[:12]:
                rows.append((f"{key}.{sub}", _fmt(inner)))
            if len(value) > 12:
                rows.append((f"{key}.…", f"{len(value) - 12} more in results.json"))
        else:
            rows.append((key, _fmt(value)))
    return rows


def collect_results(out: str | Path, names: Iterable[str]) -> list[Result]:
    """Load ``OUT/<name>/result.json`` for each name (missing ones are skipped)."""
    results = []
    for name in names:
        result = load_result(out, name)
        if result is not None:
            results.append(result)
    return results


class ReportError(NNDLError, OSError):
    """A report folder holds no readable ``results.json``; the message names the file."""


def load_report(folder: str | Path) -> tuple[list[Result], dict[str, Any]]:
    """The results and the other entries of ``FOLDER/results.json`` written by a report.

    Raises:
        ReportError: the file is missing or is not a report's ``results.json``.
    """
    path = Path(folder) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results = [Result.from_dict(r) for r in data["results"]]
    except FileNotFoundError:
        raise ReportError(f"no report in {str(folder)!r}: {str(path)!r} does not exist") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ReportError(f"{str(path)!r} is not a readable nndl report: {exc}") from None
    return results, {k: v for k, v in data.items() if k != "results"}


def _claim_rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for claim in CLAIMS.values():
        covering = [r for r in results if claim.id in r.claims]
        if not covering:
            rows.append({"claim": claim, "result": None, "verdict": None})
        for result in covering:
            rows.append({"claim": claim, "result": result, "verdict": result.verdict(claim.id)})
    return rows


def _status(result: Result | None, claim: str) -> str:
    if result is None:
        return "not run"
    if result.status == "failed":
        return "failed"
    verdict = result.verdict(claim)
    return verdict.status if verdict is not None else "not run"


def stability_rows(
    per_seed: Mapping[int, Sequence[Result]], full: Sequence[Result] | None = None
) -> list[dict[str, Any]]:
    """One row per (claim, experiment): its verdict at each base seed and at full scale.

    Returns:
        Dicts with ``claim``, ``experiment``, ``verdicts`` (``{seed: status}``), ``stable``
        (one verdict at every seed), ``full`` (the full-scale status or None) and
        ``agrees`` (the full-scale verdict equals the seeds' common one; None without full).
    """
    names: dict[str, list[str]] = {}
    for results in per_seed.values():
        for r in results:
            names.setdefault(r.name, list(r.claims))
    by_seed = {seed: {r.name: r for r in results} for seed, results in per_seed.items()}
    by_full = {r.name: r for r in full} if full is not None else None
    rows = []
    for claim in CLAIMS:
        for name, claims in names.items():
            if claim not in claims:
                continue
            verdicts = {seed: _status(found.get(name), claim) for seed, found in by_seed.items()}
            stable = len(set(verdicts.values())) == 1
            full_status = _status(by_full.get(name), claim) if by_full is not None else None
            agrees = (
                None
                if full_status is None or full_status == "not run"
                else stable and full_status == next(iter(verdicts.values()))
            )
            rows.append(
                {
                    "claim": claim,
                    "experiment": name,
                    "verdicts": verdicts,
                    "stable": stable,
                    "full": full_status,
                    "agrees": agrees,
                }
            )
    return rows


def build_report(
    out: str | Path,
    results: Sequence[Result],
    *,
    stability: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``OUT/index.html`` and ``OUT/results.json`` for ``results``; return the page's path.

    Experiments not in ``results`` are listed as "not run". Both files are written atomically.

    Args:
        out: the report folder; figures are linked relative to it (``<name>/figures/…``).
        results: the page's results (one base seed).
        stability: rows from :func:`stability_rows`, shown as the stability table.
        extra: more JSON-able entries for ``results.json`` (e.g. the seeds that were run).
    """
    out = ensure_dir(out, name="report folder")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    results = list(results)
    by_area: dict[str, list[dict[str, Any]]] = {area: [] for area in AREAS}
    for claim in CLAIMS.values():
        covering = [r for r in results if claim.id in r.claims]
        by_area[claim.area].append({"claim": claim, "results": covering})
    counts = {"holds": 0, "does not hold": 0, "inconclusive": 0, "failed": 0, "not run": 0}
    rows = _claim_rows(results)
    for row in rows:
        if row["result"] is None:
            counts["not run"] += 1
        elif row["result"].status == "failed":
            counts["failed"] += 1
        elif row["verdict"] is not None:
            counts[row["verdict"].status] += 1
    first = results[0] if results else None
    page = env.get_template("index.html").render(
        rows=rows,
        areas=AREAS,
        by_area=by_area,
        counts=counts,
        results=results,
        flat_metrics=_flat_metrics,
        environment=first.environment if first else {},
        scale=first.scale if first else "",
        seed=first.seed if first else "",
        device=first.device if first else "",
        total_duration=sum(r.duration_s for r in results),
        stability=list(stability or []),
        stability_seeds=(list(stability[0]["verdicts"]) if stability else []),
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        css=(_TEMPLATES / "style.css").read_text(encoding="utf-8"),
    )
    atomic_write_json(
        out / "results.json",
        {
            "generated": _dt.datetime.now().isoformat(timespec="seconds"),
            "counts": counts,
            "results": [r.to_dict() for r in results],
            "stability": [
                {**row, "verdicts": {str(k): v for k, v in row["verdicts"].items()}}
                for row in (stability or [])
            ],
            **dict(extra or {}),
        },
    )
    index = atomic_write_text(out / "index.html", page)
    # keep results.json valid JSON for anyone reading it
    json.loads((out / "results.json").read_text(encoding="utf-8"))
    return index
