"""The HTML report: ``OUT/index.html`` and ``OUT/results.json`` from experiment results.

It only reads results (never trains); see :func:`build_report`.
"""

from .build import ReportError, build_report, collect_results, load_report, stability_rows

__all__ = ["ReportError", "build_report", "collect_results", "load_report", "stability_rows"]
