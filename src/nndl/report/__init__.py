"""The HTML report: ``OUT/index.html`` and ``OUT/results.json`` from experiment results.

It only reads results (never trains); see :func:`build_report`.
"""

from .build import build_report, collect_results

__all__ = ["build_report", "collect_results"]
