import json
from dataclasses import dataclass
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import pytest

from nndl.experiments import CLAIMS, Result, Verdict, register, run_experiment
from nndl.experiments.registry import _REGISTRY
from nndl.report import build_report


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


def _ok(cfg, ctx):
    if cfg.fail:
        raise ValueError("deliberate failure")
    fig, ax = plt.subplots()
    ax.bar([0, 1], [1, 2])
    ctx.save_figure(fig, "bars", "two bars")
    return Result(
        metrics={"speed_ratio": 84.2, "per_layer": [1.0, 2.0]},
        verdicts=[
            Verdict.from_check("V2", True, "ratio 84.2 > 10", key="84×"),
            Verdict.from_check("V4", False, "FD 12 > 5", key="FD 12"),
        ],
    )


@pytest.fixture()
def two_experiments():
    register(
        "v9_ok", claims=("V2", "V4"), title="works", config=_Cfg, presets={"quick": {}, "full": {}}
    )(_ok)
    register(
        "v9_broken",
        claims=("V1",),
        title="breaks",
        config=_Cfg,
        presets={"quick": {"fail": True}, "full": {}},
    )(_ok)
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
