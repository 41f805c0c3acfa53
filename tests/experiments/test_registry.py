from dataclasses import dataclass
from typing import Annotated

import pytest

from nndl.experiments import (
    CLAIMS,
    SCALES,
    Range,
    Result,
    Rule,
    UnknownExperimentError,
    Verdict,
    as_float,
    get_experiment,
    list_experiments,
    register,
)
from nndl.experiments.config import ConfigError, build_config

from ._toy import TOY_RULE, draw, judge, measure, unregister


@dataclass
class _Cfg:
    epochs: int = 3
    lr: float = 0.1
    depths: tuple[int, ...] = (1, 2)
    name: str = "x"
    flag: bool = False
    maybe: float | None = None


def test_config_overrides_are_converted_by_type():
    cfg = build_config(
        _Cfg, {"epochs": 5}, {"lr": "0.5", "depths": "2,4,8", "flag": "true", "maybe": "none"}
    )
    assert (cfg.epochs, cfg.lr, cfg.depths, cfg.flag, cfg.maybe) == (5, 0.5, (2, 4, 8), True, None)
    assert build_config(_Cfg, {}, {"maybe": "1e-3"}).maybe == 1e-3


def test_unknown_key_lists_valid_keys_closest_first():
    with pytest.raises(ConfigError, match=r"unknown config key 'epoch'; valid: epochs, "):
        build_config(_Cfg, {}, {"epoch": "3"})


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("epochs", "three", "epochs expects an int, got 'three'"),
        ("lr", "fast", "lr expects a float"),
        ("flag", "maybe", "flag expects a bool"),
        ("depths", "1,x", "depths expects an int, got 'x'"),
    ],
)
def test_bad_value_type_is_reported(key, value, expected):
    with pytest.raises(ConfigError, match=expected):
        build_config(_Cfg, {}, {key: value})


def _register(name="g1_bad", claims=("G1",), presets=None, rules=None, **parts):
    return register(
        name,
        claims=claims,
        title="t",
        config=_Cfg,
        presets=presets if presets is not None else {"quick": {}, "full": {}},
        rules=rules if rules is not None else [Rule(c, "s", "h", "d", "i", 1) for c in claims],
        measure=parts.get("measure", measure),
        judge=parts.get("judge", judge),
        draw=parts.get("draw", draw),
    )


def test_registry_rejects_bad_declarations():
    with pytest.raises(ValueError, match="unknown claim IDs"):
        _register("z1_bad", claims=("Z9",))
    with pytest.raises(ValueError, match="presets must include quick and full"):
        _register(presets={"quick": {}})
    with pytest.raises(ValueError, match="name must look like"):
        _register("Bad Name")
    with pytest.raises(ConfigError):
        _register(presets={"quick": {"nope": 1}, "full": {}})
    with pytest.raises(ConfigError, match="epochs must be in the range"):
        _register(presets={"quick": {"epochs": 0}, "full": {}})
    with pytest.raises(ValueError, match="exactly one rule per claim"):
        _register(rules=[TOY_RULE])
    with pytest.raises(ValueError, match="exactly one rule per claim"):
        _register(claims=("G1", "G2"), rules=[Rule("G1", "s", "h", "d", "i", 1)])
    with pytest.raises(TypeError, match="judge must be callable"):
        _register(judge="not a function")


def test_claims_default_to_the_rules_claims_in_order():
    rules = [Rule("G2", "s", "h", "d", "i", 1), Rule("G1", "s", "h", "d", "i", 1)]
    name = "g9_claims_from_rules"
    exp = register(
        name,
        title="t",
        config=_Cfg,
        presets={"quick": {}, "full": {}},
        rules=rules,
        measure=measure,
        judge=judge,
        draw=draw,
    )
    unregister(name)
    assert exp.claims == ("G2", "G1")
    assert list(exp.rules) == ["G2", "G1"]


@dataclass
class _Ranged:
    offset: Annotated[float, Range(-1.0, 1.0)] = 0.0
    count: Annotated[int, Range(0)] = 0
    shifts: Annotated[tuple[tuple[int, int], ...], Range(-4, 4)] = ((0, 0),)
    sizes: tuple[int, ...] = (1,)
    maybe: float | None = None


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("offset", "1.5", r"offset must be in the range \[-1, 1\], got 1.5"),
        ("offset", "inf", "offset must be a finite number"),
        ("count", "-1", r"count must be in the range \[0, inf\]"),
        ("shifts", "5,0", r"shifts must be in the range \[-4, 4\]"),
        ("sizes", "", "sizes must hold at least one value"),
        ("sizes", "1,0", r"sizes must be in the range \[1, inf\]"),
        ("maybe", "nan", "maybe must be a finite number"),
        ("maybe", "-2", r"maybe must be in the range \[0, inf\]"),
    ],
)
def test_config_ranges_are_checked(key, value, match):
    with pytest.raises(ConfigError, match=match):
        build_config(_Ranged, {}, {key: value})


def test_declared_ranges_allow_what_defaults_forbid():
    cfg = build_config(_Ranged, {}, {"offset": "-0.5", "count": "0", "maybe": "none"})
    assert (cfg.offset, cfg.count, cfg.maybe) == (-0.5, 0, None)


def test_rule_text_and_parameters():
    text = TOY_RULE.text()
    for part in ("Statistic: the measured value.", "Holds if value > threshold.", "Seeds: 1."):
        assert part in text
    assert TOY_RULE["threshold"] == 0.0
    with pytest.raises(KeyError, match="has no parameter 'margin'; it has"):
        TOY_RULE["margin"]


def test_as_float_reads_stored_non_finite_numbers():
    assert as_float("inf") == float("inf") and as_float(2) == 2.0
    assert as_float("nan") != as_float("nan")
    with pytest.raises(TypeError, match="expected a number"):
        as_float("fast")


def test_every_registered_experiment_is_well_formed():
    experiments = list_experiments()
    assert experiments, "no experiment registered"
    for exp in experiments:
        assert exp.claims and all(c in CLAIMS for c in exp.claims)
        for scale in SCALES:
            exp.config(scale)  # every preset builds
        assert exp.title
        for claim in exp.claims:  # every claim has its declared rule, with its parameters
            rule = exp.rules[claim]
            assert rule.statistic and rule.holds and rule.does_not_hold and rule.inconclusive


def test_lookup_and_patterns():
    exp = get_experiment("g3_product_of_factors")
    assert exp.claims == ("G3",)
    assert exp in list_experiments("g*") and exp in list_experiments("G3")
    assert list_experiments("nothing-matches-this") == []
    with pytest.raises(
        UnknownExperimentError,
        match=r"unknown experiment 'g3_product'; known: g3_product_of_factors",
    ):
        get_experiment("g3_product")


def test_experiments_follow_the_notes_order():
    order = "GPFVLC"
    areas = [order.index(e.claims[0][0]) for e in list_experiments()]
    assert areas == sorted(areas)


def test_result_round_trips_through_json():
    result = Result(metrics={"a": 1.0}, verdicts=[Verdict.from_check("G3", None, "no data")])
    back = Result.from_dict(result.to_dict())
    assert back.verdicts[0].status == "inconclusive" and back.metrics == {"a": 1.0}
    with pytest.raises(ValueError, match="status must be one of"):
        Verdict("G3", "maybe", "x")
