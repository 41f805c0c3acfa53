"""Render experiment results into a self-contained, offline HTML page.

Layout: a summary table (every claim of the notes: verdict, key number, link), then one section
per area in the notes' order (G, P, F, V, L, C), each claim with its statement and, for every
experiment that covers it, the verdict and evidence, the measured numbers, tables and figures;
then the environment (versions, device, seed, scale, durations). Figures stay as PNG files in
``OUT/<experiment>/figures/`` and are linked relatively, so the folder can be moved or zipped.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2

from .._io import atomic_write_json, atomic_write_text, ensure_dir
from ..experiments.claims import AREAS, CLAIMS
from ..experiments.result import Result
from ..experiments.runner import load_result

__all__ = ["build_report", "collect_results"]

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


def _claim_rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    rows = []
    for claim in CLAIMS.values():
        covering = [r for r in results if claim.id in r.claims]
        if not covering:
            rows.append({"claim": claim, "result": None, "verdict": None})
        for result in covering:
            rows.append({"claim": claim, "result": result, "verdict": result.verdict(claim.id)})
    return rows


def build_report(out: str | Path, results: Sequence[Result]) -> Path:
    """Write ``OUT/index.html`` and ``OUT/results.json`` for ``results``; return the page's path.

    Experiments not in ``results`` are listed as "not run". Both files are written atomically.
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
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        css=(_TEMPLATES / "style.css").read_text(encoding="utf-8"),
    )
    atomic_write_json(
        out / "results.json",
        {
            "generated": _dt.datetime.now().isoformat(timespec="seconds"),
            "counts": counts,
            "results": [r.to_dict() for r in results],
        },
    )
    index = atomic_write_text(out / "index.html", page)
    # keep results.json valid JSON for anyone reading it
    json.loads((out / "results.json").read_text(encoding="utf-8"))
    return index
