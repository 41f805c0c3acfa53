import json
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pytest

from nndl import ValidationError
from nndl.experiments import Result, Verdict, register, run_experiment
from nndl.experiments.registry import _REGISTRY


@dataclass
class _Cfg:
    value: float = 1.0
    fail: bool = False


def _fn(cfg, ctx):
    if cfg.fail:
        raise RuntimeError("boom")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, cfg.value])
    ctx.save_figure(fig, "line", "a line")
    return Result(
        metrics={"value": cfg.value},
        verdicts=[Verdict.from_check("F2", cfg.value > 0, f"value {cfg.value}")],
    )


@pytest.fixture()
def toy():
    register(
        "f9_toy",
        claims=("F2",),
        title="toy",
        config=_Cfg,
        presets={"quick": {}, "full": {"value": 2.0}},
    )(_fn)
    yield "f9_toy"
    _REGISTRY.pop("f9_toy", None)


def test_run_writes_result_config_and_figure(tmp_path, toy):
    result = run_experiment(toy, out=tmp_path, overrides={"value": "3"})
    assert result.status == "ok" and result.metrics == {"value": 3.0}
    stored = json.loads((tmp_path / toy / "result.json").read_text())
    assert stored["verdicts"][0]["status"] == "holds"
    assert stored["config"] == {"value": 3.0, "fail": False}
    assert (tmp_path / toy / "figures" / "line.png").stat().st_size > 1000
    assert stored["figures"] == [{"path": "figures/line.png", "caption": "a line"}]
    assert stored["environment"]["torch"]


def test_failure_is_recorded_not_raised(tmp_path, toy):
    result = run_experiment(toy, out=tmp_path, overrides={"fail": "true"})
    assert result.status == "failed" and "RuntimeError: boom" in result.error
    assert "raise RuntimeError" in result.traceback
    assert json.loads((tmp_path / toy / "result.json").read_text())["status"] == "failed"


def test_cache_reuses_only_matching_successful_results(tmp_path, toy):
    first = run_experiment(toy, out=tmp_path, force=False)
    again = run_experiment(toy, out=tmp_path, force=False)
    assert again.cached and again.cache_key == first.cache_key
    other = run_experiment(toy, out=tmp_path, force=False, overrides={"value": "5"})
    assert not other.cached
    assert not run_experiment(toy, out=tmp_path, force=False, seed=1).cached
    assert not run_experiment(toy, out=tmp_path, force=True, seed=1).cached


def test_bad_arguments_raise_before_running(tmp_path, toy):
    with pytest.raises(ValidationError, match="unknown config key"):
        run_experiment(toy, out=tmp_path, overrides={"valu": "1"})
    with pytest.raises(ValidationError, match="device"):
        run_experiment(toy, out=tmp_path, device="tpu")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot be created"):
        run_experiment(toy, out=blocker / "out")
    assert not (tmp_path / toy).exists()


def test_warnings_are_recorded_in_the_result(tmp_path):
    import warnings

    def noisy(cfg, ctx):
        warnings.warn("did not converge", RuntimeWarning, stacklevel=1)
        warnings.warn("did not converge", RuntimeWarning, stacklevel=1)
        return Result(verdicts=[Verdict.from_check("F2", None, "nothing measured")])

    register("f9_noisy", claims=("F2",), title="t", config=_Cfg, presets={"quick": {}, "full": {}})(
        noisy
    )
    try:
        result = run_experiment("f9_noisy", out=tmp_path)
    finally:
        _REGISTRY.pop("f9_noisy", None)
    assert result.warnings == ["RuntimeWarning: did not converge"]
