import json

import pytest

from nndl import ValidationError
from nndl.experiments import ConfigError, load_result, redraw_experiment, run_experiment
from nndl.experiments import runner as runner_module

from ._toy import CALLS, TOY_RULE, register_toy, unregister


@pytest.fixture()
def toy():
    yield register_toy()
    unregister()


def test_run_writes_metrics_verdict_with_rule_figure_and_table(tmp_path, toy):
    result = run_experiment(toy, out=tmp_path, overrides={"value": "3"})
    assert result.status == "ok"
    # the judge saw the metrics as stored: tuples are lists, infinities are strings
    assert result.metrics == {"value": 3.0, "pair": [1, 2], "spread": "inf"}
    stored = json.loads((tmp_path / toy / "result.json").read_text())
    assert stored["verdicts"][0]["status"] == "holds"
    assert stored["verdicts"][0]["rule"] == TOY_RULE.text()
    assert "threshold = 0.0" in stored["verdicts"][0]["rule"]
    assert stored["measured"] == result.metrics
    assert stored["config"] == {"value": 3.0, "n": 3, "fail": False}
    assert (tmp_path / toy / "figures" / "line.png").stat().st_size > 1000
    assert stored["figures"] == [{"path": "figures/line.png", "caption": "a line"}]
    assert stored["tables"][0]["rows"] == [[3.0]] and stored["notes"] == "toy notes"


def test_verdict_status_follows_the_rule_on_both_sides(tmp_path, toy):
    statuses = [
        run_experiment(toy, out=tmp_path, overrides={"value": v}).verdicts[0].status
        for v in ("-1", "0", "1")
    ]
    assert statuses == ["does not hold", "inconclusive", "holds"]


def test_failure_is_recorded_and_never_replaces_a_good_result(tmp_path, toy):
    good = run_experiment(toy, out=tmp_path)
    failed = run_experiment(toy, out=tmp_path, overrides={"fail": "true"})
    assert failed.status == "failed" and "RuntimeError: boom" in failed.error
    assert "raise RuntimeError" in failed.traceback
    kept = load_result(tmp_path, toy)
    assert kept.status == "ok" and kept.cache_key == good.cache_key
    assert "boom" in kept.last_failure
    assert json.loads((tmp_path / toy / "failed.json").read_text())["status"] == "failed"
    # a later success clears the failure note
    run_experiment(toy, out=tmp_path)
    assert load_result(tmp_path, toy).last_failure == ""
    assert not (tmp_path / toy / "failed.json").exists()


def test_first_run_failing_writes_a_failed_result(tmp_path, toy):
    run_experiment(toy, out=tmp_path, overrides={"fail": "true"})
    assert json.loads((tmp_path / toy / "result.json").read_text())["status"] == "failed"


def test_cache_reuses_only_matching_successful_results(tmp_path, toy):
    first = run_experiment(toy, out=tmp_path, force=False)
    again = run_experiment(toy, out=tmp_path, force=False)
    assert again.cached and again.cache_key == first.cache_key
    assert not run_experiment(toy, out=tmp_path, force=False, overrides={"value": "5"}).cached
    assert not run_experiment(toy, out=tmp_path, force=False, seed=1).cached
    assert not run_experiment(toy, out=tmp_path, force=True, seed=1).cached


def test_a_code_change_invalidates_the_cache(tmp_path, toy, monkeypatch):
    run_experiment(toy, out=tmp_path, force=False)
    monkeypatch.setattr(runner_module, "_library_hash", lambda: "edited library")
    assert not run_experiment(toy, out=tmp_path, force=False).cached


def test_tree_hash_changes_with_any_edit_addition_or_removal(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "c.py").write_text("z = 1\n")
    base = runner_module.tree_hash(tmp_path, skip=("skip/",))
    (tmp_path / "skip" / "c.py").write_text("z = 2\n")
    assert runner_module.tree_hash(tmp_path, skip=("skip/",)) == base
    (tmp_path / "a.py").write_text("x = 2\n")
    edited = runner_module.tree_hash(tmp_path, skip=("skip/",))
    assert edited != base
    (tmp_path / "b.py").write_text("y = 1\n")
    added = runner_module.tree_hash(tmp_path, skip=("skip/",))
    assert added != edited
    (tmp_path / "b.py").unlink()
    assert runner_module.tree_hash(tmp_path, skip=("skip/",)) == edited


def test_library_hash_covers_code_and_shipped_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "_PACKAGE_ROOT", tmp_path)
    library_hash = runner_module._library_hash.__wrapped__  # uncached
    (tmp_path / "flow" / "weights").mkdir(parents=True)
    (tmp_path / "flow" / "net.py").write_text("x = 1\n")
    weights = tmp_path / "flow" / "weights" / "net.safetensors"
    weights.write_bytes(b"\x00" * 8)
    base = library_hash()
    weights.write_bytes(b"\x01" * 8)  # new shipped weights, no code change
    assert library_hash() != base
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "g_x.py").write_text("y = 1\n")  # hashed separately
    weights.write_bytes(b"\x00" * 8)
    assert library_hash() == base


def test_redraw_rejudges_stored_metrics_without_measuring(tmp_path, toy):
    run_experiment(toy, out=tmp_path, overrides={"value": "0.5"})
    calls = CALLS["measure"]

    def stricter(metrics, cfg):  # a rule changed after the run: the redraw must use it
        from nndl.experiments import Verdict

        return [Verdict.from_check("F2", metrics["value"] > 1.0, "stricter")]

    register_toy(judge=stricter)
    redrawn = redraw_experiment(toy, tmp_path)
    assert CALLS["measure"] == calls
    assert redrawn.verdicts[0].status == "does not hold"
    assert redrawn.metrics["value"] == 0.5
    assert load_result(tmp_path, toy).verdicts[0].evidence == "stricter"
    assert redraw_experiment(toy, tmp_path / "nothing-here") is None


def test_redraw_records_the_protocol_it_judged_by(tmp_path, toy, monkeypatch):
    import nndl.experiments.runner as runner

    run_experiment(toy, out=tmp_path)
    monkeypatch.setattr(runner, "PROTOCOL_SHA256", "a rule changed since the run")
    redrawn = redraw_experiment(toy, tmp_path)
    assert redrawn.environment["protocol.toml sha256"] == "a rule changed since the run"
    assert redrawn.environment["torch"] == load_result(tmp_path, toy).environment["torch"]


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"valu": "1"}, "unknown config key"),
        ({"value": "nan"}, "finite"),
        ({"value": "11"}, r"range \[-10, 10\]"),
        ({"n": "-1"}, r"n must be in the range \[1, inf\]"),
        ({"n": "0"}, r"n must be in the range \[1, inf\]"),
    ],
)
def test_bad_config_raises_before_running(tmp_path, toy, overrides, match):
    calls = CALLS["measure"]
    with pytest.raises(ConfigError, match=match):
        run_experiment(toy, out=tmp_path, overrides=overrides)
    assert CALLS["measure"] == calls and not (tmp_path / toy).exists()


def test_bad_arguments_raise_before_running(tmp_path, toy):
    with pytest.raises(ValidationError, match="device"):
        run_experiment(toy, out=tmp_path, device="tpu")
    with pytest.raises(ValidationError, match="seed must be an int"):
        run_experiment(toy, out=tmp_path, seed=2**32)
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
        return {"value": 1.0}

    name = register_toy("f9_noisy", measure=noisy)
    try:
        result = run_experiment(name, out=tmp_path)
    finally:
        unregister(name)
    assert result.warnings == ["RuntimeWarning: did not converge"]
