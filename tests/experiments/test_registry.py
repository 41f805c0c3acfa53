from dataclasses import dataclass

import pytest

from nndl.experiments import (
    CLAIMS,
    SCALES,
    Result,
    UnknownExperimentError,
    Verdict,
    get_experiment,
    list_experiments,
    register,
)
from nndl.experiments.config import ConfigError, build_config


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


def test_registry_rejects_bad_declarations():
    with pytest.raises(ValueError, match="unknown claim IDs"):
        register(
            "z1_bad", claims=("Z9",), title="t", config=_Cfg, presets={"quick": {}, "full": {}}
        )
    with pytest.raises(ValueError, match="presets must include quick and full"):
        register("g1_bad", claims=("G1",), title="t", config=_Cfg, presets={"quick": {}})
    with pytest.raises(ValueError, match="name must look like"):
        register(
            "Bad Name", claims=("G1",), title="t", config=_Cfg, presets={"quick": {}, "full": {}}
        )
    with pytest.raises(ConfigError):
        register(
            "g1_bad",
            claims=("G1",),
            title="t",
            config=_Cfg,
            presets={"quick": {"nope": 1}, "full": {}},
        )


def test_every_registered_experiment_is_well_formed():
    experiments = list_experiments()
    assert experiments, "no experiment registered"
    for exp in experiments:
        assert exp.claims and all(c in CLAIMS for c in exp.claims)
        for scale in SCALES:
            exp.config(scale)  # every preset builds
        assert exp.title


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
