"""Every registered experiment runs at the tiny scale and returns a verdict for each claim."""

import pytest

from nndl.experiments import STATUSES, list_experiments, run_experiment


@pytest.mark.parametrize("name", [e.name for e in list_experiments()])
def test_experiment_runs_at_tiny_scale(name, tmp_path):
    result = run_experiment(name, scale="tiny", out=tmp_path)
    assert result.status == "ok", f"{result.error}\n{result.traceback}"
    for claim in result.claims:
        verdict = result.verdict(claim)
        assert verdict is not None and verdict.status in STATUSES and verdict.evidence
    for figure in result.figures:
        assert (tmp_path / name / figure.path).stat().st_size > 0
