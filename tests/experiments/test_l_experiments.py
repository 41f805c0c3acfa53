"""L1/L2 rules on hand-made metrics (both sides of each threshold), configs and measurements."""

from __future__ import annotations

import numpy as np
import pytest

from nndl.experiments.config import ConfigError, build_config
from nndl.experiments.l_linear import (
    L1_RULE,
    L2_RULE,
    L1Config,
    L2Config,
    _map_rgb,
    judge_l1,
    judge_l2,
)


# -- L1 ----------------------------------------------------------------------------------------
def l1_metrics(mismatches=0, distance=0.05, step=0.1, regions=(1, 1)):
    return {
        "sign_mismatches": mismatches,
        "held_out_predictions": 1000,
        "geometry": {
            "boundary_points": 0 if distance is None else 400,
            "max_distance_to_line": distance,
            "grid_step": step,
            "components_positive": regions[0],
            "components_negative": regions[1],
        },
    }


CFG1 = L1Config()


def test_l1_holds_when_signs_agree_and_boundary_is_one_line():
    [v] = judge_l1(l1_metrics(), CFG1)
    assert v.status == "holds" and "1000/1000" in v.evidence


def test_l1_distance_threshold_is_one_grid_step():
    assert judge_l1(l1_metrics(distance=0.1, step=0.1), CFG1)[0].status == "holds"
    assert judge_l1(l1_metrics(distance=0.1001, step=0.1), CFG1)[0].status == "does not hold"
    assert L1_RULE["max_distance_in_grid_steps"] == 1.0


def test_l1_single_sign_mismatch_refutes():
    assert judge_l1(l1_metrics(mismatches=1), CFG1)[0].status == "does not hold"


@pytest.mark.parametrize("regions", [(2, 1), (1, 2), (1, 0)])
def test_l1_a_class_in_several_regions_refutes(regions):
    assert judge_l1(l1_metrics(regions=regions), CFG1)[0].status == "does not hold"


def test_l1_guard_no_boundary_in_the_box_is_inconclusive():
    [v] = judge_l1(l1_metrics(distance=None), CFG1)
    assert v.status == "inconclusive" and "guard" in v.reason
    # a sign mismatch still refutes: the guard only protects the geometry
    assert judge_l1(l1_metrics(mismatches=3, distance=None), CFG1)[0].status == "does not hold"


def test_l1_config_refuses_bad_values():
    with pytest.raises(ConfigError, match="folds"):
        build_config(L1Config, {"folds": 1})
    with pytest.raises(ConfigError, match="losses"):
        build_config(L1Config, {"losses": ("nope",)})


# -- L2 ----------------------------------------------------------------------------------------
def l2_draw(ovr=0.2, ovo=0.001, argmax=0.0, counts=(3, 3, 3)):
    return {
        "area": {"ovr": ovr, "ovo": ovo, "argmax": argmax},
        "points": {"ovr": 0.1, "ovo": 0.0, "argmax": 0.0},
        "discriminants": dict(zip(("ovr", "ovo", "argmax"), counts, strict=True)),
    }


def l2_metrics(triangle=None, chain=None, comparison_count=None):
    triangle = triangle or [l2_draw(ovo=0.0) for _ in range(3)]
    chain = chain or [l2_draw() for _ in range(3)]
    rows = [
        {"ours": True, "strategy": "ovo", "n_classes": 4, "discriminants": comparison_count or 6},
        {"ours": True, "strategy": "ovr", "n_classes": 4, "discriminants": 4},
        {"ours": False, "strategy": "ovo", "n_classes": 4, "discriminants": 99},  # not ours
    ]
    return {"draws": {"triangle": triangle, "chain": chain}, "comparison": rows}


CFG2 = L2Config()


def test_l2_holds_with_ovr_everywhere_ovo_somewhere_argmax_nowhere():
    [v] = judge_l2(l2_metrics(), CFG2)
    assert v.status == "holds", v.evidence
    assert L2_RULE["ovo_min_draws_with_region"] == 1


def test_l2_argmax_with_any_undecided_area_refutes():
    chain = [l2_draw(), l2_draw(argmax=1e-6), l2_draw()]
    assert judge_l2(l2_metrics(chain=chain), CFG2)[0].status == "does not hold"


def test_l2_ovo_without_any_region_refutes():
    tri = [l2_draw(ovo=0.0)] * 3
    chain = [l2_draw(ovo=0.0)] * 3
    assert judge_l2(l2_metrics(tri, chain), CFG2)[0].status == "does not hold"


def test_l2_ovr_without_any_region_refutes():
    tri = [l2_draw(ovr=0.0, ovo=0.0)] * 3
    chain = [l2_draw(ovr=0.0)] * 3
    assert judge_l2(l2_metrics(tri, chain), CFG2)[0].status == "does not hold"


def test_l2_ovr_region_in_some_draws_only_is_inconclusive():
    chain = [l2_draw(), l2_draw(ovr=0.0), l2_draw()]
    [v] = judge_l2(l2_metrics(chain=chain), CFG2)
    assert v.status == "inconclusive" and "5 of 6" in v.reason


def test_l2_wrong_discriminant_count_refutes():
    assert judge_l2(l2_metrics(comparison_count=4), CFG2)[0].status == "does not hold"
    chain = [l2_draw(counts=(3, 2, 3))] * 3
    assert judge_l2(l2_metrics(chain=chain), CFG2)[0].status == "does not hold"


def test_l2_region_map_colours_undecided_points_grey():
    rgb = _map_rgb(["0*", "12"])
    assert rgb.shape == (2, 2, 3)
    assert np.allclose(rgb[0, 1], rgb[0, 1].mean())  # grey
    assert not np.allclose(rgb[0, 0], rgb[1, 0])


def test_l2_config_refuses_unknown_layout_and_loss():
    with pytest.raises(ConfigError, match="layouts"):
        build_config(L2Config, {"layouts": ("square",)})
    with pytest.raises(ConfigError, match="loss"):
        build_config(L2Config, {"loss": "nope"})
