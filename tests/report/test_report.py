import json
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from nndl.experiments import CLAIMS, Rule, Verdict, register, run_experiment
from nndl.experiments.registry import _REGISTRY
from nndl.report import build_report, collect_results, stability_rows


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.ids, self.links, self.text = [], set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
        if tag in ("script", "link") and ("http" in attrs.get("src", "") + attrs.get("href", "")):
            raise AssertionError(f"external resource {attrs}")

    def handle_data(self, data):
        self.text.append(data)


@dataclass
class _Cfg:
    fail: bool = False


def _measure(cfg, ctx):
    if cfg.fail:
        raise ValueError("deliberate failure")
    return {"speed_ratio": 84.2, "per_layer": [1.0, 2.0]}


def _judge(metrics, cfg):
    return [
        Verdict.from_check("V2", True, "ratio 84.2 > 10", key="84×"),
        Verdict.from_check("V4", False, "FD 12 > 5", key="FD 12"),
    ]


def _judge_unsure(metrics, cfg):
    return [Verdict.from_check("V1", None, "n = 1", reason="one seed; run 5 to settle it")]


def _draw(metrics, cfg, canvas):
    fig, ax = canvas.subplots()
    ax.bar([0, 1], metrics["per_layer"])
    canvas.save(fig, "bars", "two bars")


def _rule(claim):
    return Rule(claim, "a statistic", "above", "below", "straddles", 3, "toy", {"margin": 0.5})


@pytest.fixture()
def two_experiments():
    register(
        "v9_ok",
        claims=("V2", "V4"),
        title="works",
        config=_Cfg,
        presets={"quick": {}, "full": {}},
        rules=(_rule("V2"), _rule("V4")),
        measure=_measure,
        judge=_judge,
        draw=_draw,
    )
    register(
        "v9_broken",
        claims=("V1",),
        title="breaks",
        config=_Cfg,
        presets={"quick": {"fail": True}, "full": {}},
        rules=(_rule("V1"),),
        measure=_measure,
        judge=_judge_unsure,
        draw=_draw,
    )
    yield
    _REGISTRY.pop("v9_ok", None)
    _REGISTRY.pop("v9_broken", None)


def test_report_has_every_claim_figures_and_failures(tmp_path, two_experiments):
    results = [run_experiment(n, out=tmp_path) for n in ("v9_ok", "v9_broken")]
    index = build_report(tmp_path, results)
    parser = _Collector()
    parser.feed(index.read_text())
    text = " ".join(parser.text)
    for claim in CLAIMS:
        assert f"claim-{claim}" in parser.ids
    assert set(parser.links) <= parser.ids, set(parser.links) - parser.ids
    assert parser.images == ["v9_ok/figures/bars.png"]
    for src in parser.images:
        assert (tmp_path / src).is_file()
    assert "deliberate failure" in text and "failed" in text
    assert "ratio 84.2 > 10" in text and "does not hold" in text and "84×" in text
    aggregated = json.loads((tmp_path / "results.json").read_text())
    assert [r["name"] for r in aggregated["results"]] == ["v9_ok", "v9_broken"]
    assert aggregated["counts"]["failed"] == 1 and aggregated["counts"]["holds"] == 1
    # sections follow the notes' order G, P, F, V, L, C
    html = index.read_text()
    positions = [html.index(f'id="area-{a}"') for a in "GPFVLC"]
    assert positions == sorted(positions)


def test_cli_report_exits_non_zero_when_an_experiment_fails(tmp_path, two_experiments, capsys):
    from nndl.cli import main

    assert main(["--quiet", "report", "--out", str(tmp_path), "--only", "v9_ok", "v9_broken"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and (tmp_path / "index.html").exists()


def test_rule_reason_and_kept_result_are_shown(tmp_path, two_experiments):
    run_experiment("v9_ok", out=tmp_path)
    run_experiment("v9_broken", out=tmp_path, overrides={"fail": "false"})
    run_experiment("v9_broken", out=tmp_path)  # fails: the good result stays
    results = collect_results(tmp_path, ["v9_ok", "v9_broken"])
    assert [r.status for r in results] == ["ok", "ok"]
    text = build_report(tmp_path, results).read_text()
    assert "Rule (fixed before the run):" in text and "margin = 0.5" in text
    assert "Why inconclusive:" in text and "run 5 to settle it" in text
    assert "last good result, kept" in text and "deliberate failure" in text


def test_stability_table_marks_flips_and_full_scale_agreement(tmp_path, two_experiments):
    ok = run_experiment("v9_ok", out=tmp_path / "a")
    flipped = run_experiment("v9_ok", out=tmp_path / "b")
    flipped.verdicts[0].status = "inconclusive"
    rows = stability_rows({0: [ok], 1: [flipped]}, full=[ok])
    by_claim = {row["claim"]: row for row in rows}
    assert by_claim["V2"]["verdicts"] == {0: "holds", 1: "inconclusive"}
    assert by_claim["V2"]["stable"] is False and by_claim["V2"]["agrees"] is False
    assert by_claim["V4"]["stable"] is True and by_claim["V4"]["agrees"] is True
    assert stability_rows({0: [ok]})[0]["full"] is None
    text = build_report(tmp_path, [ok], stability=rows, extra={"seeds": [0, 1]}).read_text()
    assert 'id="stability"' in text and "DISAGREES" in text and "seed 1" in text
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["seeds"] == [0, 1] and stored["stability"][0]["verdicts"]["1"]


def test_cli_report_seeds_jobs_and_redraw(tmp_path, two_experiments, capsys):
    from nndl.cli import main

    args = ["--quiet", "report", "--out", str(tmp_path), "--only", "v9_ok", "--seeds", "0-1"]
    assert main(args) == 0
    assert (tmp_path / "seeds" / "seed-1" / "v9_ok" / "result.json").is_file()
    assert main(["--quiet", "report", "--out", str(tmp_path), "--only", "v9_ok", "--redraw"]) == 0
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["seeds"] == [0, 1] and len(stored["stability"]) == 2
    assert main(["--quiet", "report", "--out", str(tmp_path), "--seeds", "3-1"]) == 2
    assert main(["--quiet", "report", "--out", str(tmp_path), "--jobs", "0"]) == 2
    missing = tmp_path / "no-full"
    assert main(["--quiet", "report", "--out", str(tmp_path), "--full-report", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err
