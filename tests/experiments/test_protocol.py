"""The protocol file: every claim and experiment declared once, and malformed entries refused."""

from __future__ import annotations

import hashlib

import pytest
from tests.experiments._toy import TOY_RULE, ToyConfig, draw, judge, measure

from nndl.experiments import CLAIMS, environment, list_experiments, register
from nndl.experiments import claims as protocol
from nndl.experiments.claims import PROTOCOL_PATH, PROTOCOL_SHA256, ProtocolError, rule


def test_every_experiment_has_one_protocol_entry_and_every_claim_an_experiment():
    registered = {e.name: e for e in list_experiments() if e.module.startswith("nndl.")}
    declared = protocol._PROTOCOL["experiments"]
    assert set(registered) == set(declared)
    for name, exp in registered.items():
        assert exp.title == declared[name]["title"] and exp.notes == declared[name]["notes"]
        assert list(exp.rules) == list(declared[name]["rules"])
        for claim_id, declared_rule in exp.rules.items():
            assert declared_rule == rule(name, claim_id)
    covered = {c for e in registered.values() for c in e.claims}
    assert covered == set(CLAIMS)


def test_rules_carry_their_numbers_as_params():
    g3 = rule("g3_product_of_factors", "G3")
    assert g3.claim == "G3" and g3["max_factor"] == 0.25
    assert "Parameters: max_factor = 0.25" in g3.text()


def test_sha256_is_the_files_and_is_recorded_in_the_environment():
    assert hashlib.sha256(PROTOCOL_PATH.read_bytes()).hexdigest() == PROTOCOL_SHA256
    assert environment()["protocol.toml sha256"] == PROTOCOL_SHA256


@pytest.mark.parametrize(
    "experiment,claim_id,match",
    [
        ("g9_nothing", "G9", r"no \[experiments.g9_nothing\]; it has g1_layer_speeds"),
        ("g3_product_of_factors", "G4", "has no rule for claim 'G4'; it has rules for G3"),
    ],
)
def test_unknown_experiment_or_claim_names_what_exists(experiment, claim_id, match):
    with pytest.raises(ProtocolError, match=match):
        rule(experiment, claim_id)


def test_malformed_entries_are_refused_by_name(monkeypatch):
    entry = {
        "title": "t",
        "notes": "n",
        "presets": {"quick": {}, "full": {}},
        "rules": {"G1": {"statistic": "s", "holds": "h", "does_not_hold": "d", "seeds": 2}},
    }
    experiments = {"g9_bad": entry, "g9_extra": {**entry, "colour": "red"}}
    monkeypatch.setitem(protocol._PROTOCOL, "experiments", experiments)
    with pytest.raises(ProtocolError, match=r"missing fields \['inconclusive'\]"):
        rule("g9_bad", "G1")
    with pytest.raises(ProtocolError, match=r"exactly the keys .* got \['colour'"):
        rule("g9_extra", "G1")
    typo = {"G1": {**entry["rules"]["G1"], "inconclusive": "i", "treshold": 1}}
    monkeypatch.setitem(entry, "rules", typo)
    with pytest.raises(ProtocolError, match=r"unknown fields \['treshold'\]"):
        rule("g9_bad", "G1")


@pytest.mark.parametrize(
    "text,match",
    [
        ("[areas\n", "not valid TOML"),
        ("[areas]\nG = 'x'\n[claims]\n", r"needs a \[experiments\] table"),
    ],
)
def test_unreadable_protocol_files_are_refused(tmp_path, text, match):
    path = tmp_path / "protocol.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError, match=match):
        protocol._load(path)


def test_register_without_rules_needs_a_protocol_entry():
    with pytest.raises(ProtocolError, match="title, presets or rules not given"):
        register("g9_undeclared", ToyConfig, measure=measure, judge=judge, draw=draw)
    assert TOY_RULE.claim in CLAIMS  # the toy experiment declares its rule in code instead
