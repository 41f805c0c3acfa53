"""G4–G7 judges on hand-made metrics, on both sides of every threshold (no torch work).

Each judge reads metrics exactly as they come back from JSON (lists, "nan"/"inf" strings). For
each claim: a case that holds, one per part that does not hold, one whose interval straddles a
threshold, and each guard, so an inverted comparison or a dropped part fails a test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nndl.experiments import g_activations as g5
from nndl.experiments import g_batchnorm as g6
from nndl.experiments import g_exploding as g4
from nndl.experiments import g_init as g7

WOBBLE = np.array([-0.02, 0.01, 0.0, 0.015, -0.005])  # small, mean-zero noise over 5 seeds


def _rows(log_ratios, layers: int = 4) -> list[list[float]]:
    """seeds × layers speeds whose first/last (= max/min) ratio is 10**r per seed."""
    return [[10.0**r] + [1.0] * (layers - 1) for r in log_ratios]


# -- G4 -------------------------------------------------------------------------------------------
def _g4_metrics(sigmoid, relu, depth=4):
    run = {
        "losses": [2.3, "nan"],
        "steps": 2,
        "nonfinite_loss": True,
        "findings": ["nonfinite"],
        "messages": ["x"],
    }
    speeds = {
        "sigmoid/large": {str(depth): _rows(sigmoid, depth)},
        "relu/large": {str(depth): _rows(relu, depth)},
        "sigmoid/standard": {str(depth): _rows([-3.0] * 5, depth)},
        "relu/standard": {str(depth): _rows([0.0] * 5, depth)},
    }
    runs = {"relu, large": run, "relu, He (control)": run, "sigmoid, large": run}
    return {"data": "digits", "depths": [depth], "speeds": speeds, "overflow_runs": runs}


G4_CFG = g4.G4Config(depth=4, depths=(4,), seeds=5)


@pytest.mark.parametrize(
    ("sigmoid", "relu", "status"),
    [
        (2.0 + WOBBLE, 2.0 + WOBBLE, "holds"),
        (2.0 + WOBBLE, 0.0 + WOBBLE, "does not hold"),  # ReLU: no growth toward the input
        (0.5 + WOBBLE, 2.0 + WOBBLE, "does not hold"),  # sigmoid: 3×, below 10×
        (2.0 + WOBBLE, [0.2, 1.8, 1.0, 0.6, 1.4], "inconclusive"),  # straddles 10×
    ],
)
def test_g4_judge(sigmoid, relu, status):
    (verdict,) = g4.judge(_g4_metrics(list(sigmoid), list(relu)), G4_CFG)
    assert verdict.status == status
    assert ("straddles" in verdict.reason) == (status == "inconclusive")


def test_g4_non_finite_gradient_is_a_guard():
    metrics = _g4_metrics(list(2.0 + WOBBLE), list(2.0 + WOBBLE))
    metrics["speeds"]["relu/large"]["4"][0][0] = "inf"
    (verdict,) = g4.judge(metrics, G4_CFG)
    assert verdict.status == "inconclusive" and "guard" in verdict.reason


# -- G5 -------------------------------------------------------------------------------------------
G5_CFG = g5.G5Config(activations=("sigmoid", "relu"), shallow=2, deep=4, seeds=5)


def _g5_metrics(spread=0.3, drop=0.0, sig4=2.0, gain1=1.0, shallow_acc=0.95, drops=None):
    acc_s = list(shallow_acc + WOBBLE / 10)
    acc_d = [a - d for a, d in zip(acc_s, drops if drops is not None else [drop] * 5, strict=True)]
    acc_d = [a + w / 10 for a, w in zip(acc_d, WOBBLE[::-1], strict=True)]
    rows = lambda r: {"2": _rows(list(r + WOBBLE), 2), "4": _rows(list(r + WOBBLE), 4)}  # noqa: E731
    return {
        "data": "digits",
        "speeds": {
            "notes": {"sigmoid": rows(3.0), "relu": rows(spread)},
            "swapped": {"sigmoid": rows(sig4), "relu": rows(gain1)},
            "trained": {"sigmoid": rows(1.0), "relu": rows(0.2)},
        },
        "accuracy": {"sigmoid": {"2": acc_s, "4": [0.3] * 5}, "relu": {"2": acc_s, "4": acc_d}},
        "epoch_losses": {a: {"2": [[0.1] * 5], "4": [[0.1] * 5]} for a in ("sigmoid", "relu")},
        "diverged": {a: {"2": 0, "4": 0} for a in ("sigmoid", "relu")},
    }


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, "holds"),
        ({"drop": -0.01}, "holds"),  # the deep net gains accuracy
        ({"spread": 1.5}, "does not hold"),  # spread ~30×
        ({"drop": 0.05}, "does not hold"),  # 5 points lost, margin 2
        ({"sig4": 0.5, "gain1": 1.0}, "does not hold"),  # at equal footing sigmoid spreads less
        ({"drops": [0.05, -0.01, 0.03, 0.0, 0.02]}, "inconclusive"),  # straddles −2 points
        ({"spread": 1.0}, "inconclusive"),  # spread interval straddles 10×
        ({"shallow_acc": 0.5}, "inconclusive"),  # guard: the shallow net did not train
    ],
)
def test_g5_judge(kwargs, status):
    (verdict,) = g5.judge(_g5_metrics(**kwargs), G5_CFG)
    assert verdict.status == status, verdict.evidence
    if kwargs.get("shallow_acc"):
        assert "guard" in verdict.reason


def test_g5_non_finite_speed_is_a_guard():
    metrics = _g5_metrics()
    metrics["speeds"]["notes"]["relu"]["4"][1][1] = "nan"
    (verdict,) = g5.judge(metrics, G5_CFG)
    assert verdict.status == "inconclusive" and "non-finite" in verdict.reason


def test_g5_config_is_checked():
    with pytest.raises(ValueError, match="sigmoid"):
        g5.G5Config(activations=("relu", "maxout"))
    with pytest.raises(ValueError, match="shallow must be < deep"):
        g5.G5Config(shallow=8, deep=4)


# -- G6 -------------------------------------------------------------------------------------------
G6_CFG = g6.G6Config(depth=4, shallow=1, seeds=5)


def _g6_metrics(weight=0.2, bias=3.0, drops=(0.0,) * 5, ref_acc=0.95):
    def arm(w, b, acc):
        return {
            "bias_init": _rows(list(b + WOBBLE)),
            "weight_init": _rows(list(w + WOBBLE)),
            "bias_trained": _rows(list(b + WOBBLE)),
            "weight_trained": _rows(list(w + WOBBLE)),
            "accuracy": list(acc),
            "epoch_losses": [[0.1] * 5],
            "diverged": 0,
        }

    ref = ref_acc + WOBBLE / 10
    bn = ref - np.array(drops) + WOBBLE[::-1] / 10
    arms = {
        "sigmoid": arm(2.5, 2.5, ref - 0.2),
        "sigmoid + BatchNorm": arm(weight, bias, bn),
        "sigmoid, shallow": arm(0.1, 0.1, ref),
    }
    return {"data": "digits", "arms": arms}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, "holds"),  # the β-based spread (1000×) is not what the rule reads
        ({"weight": 1.5}, "does not hold"),
        ({"drops": (0.05,) * 5}, "does not hold"),
        ({"drops": (0.05, -0.01, 0.03, 0.0, 0.02)}, "inconclusive"),
        ({"weight": 1.0}, "inconclusive"),
        ({"ref_acc": 0.5}, "inconclusive"),
    ],
)
def test_g6_judge(kwargs, status):
    (verdict,) = g6.judge(_g6_metrics(**kwargs), G6_CFG)
    assert verdict.status == status, verdict.evidence
    if "ref_acc" in kwargs:
        assert "guard" in verdict.reason


def test_g6_rule_names_the_weight_measure():
    assert "weight-based" in g6.G6_RULE.statistic and "weight-based" in g6.G6_RULE.rationale


# -- G7 -------------------------------------------------------------------------------------------
def _g7_metrics(acts, right=0.0, small=-3.0, large=3.0, drop=0.0, two=0.95, per_scale=None):
    cfg = g7.G7Config(activations=acts, scales=(0.25, 1.0, g7.SQRT2, 4.0, 64.0), depths=(2, 8))
    ratio, train = {}, {}
    for act in acts:
        ratio[act], train[act] = {"2": {}, "8": {}}, {}
        for m in cfg.scales:
            value = {0.25: small, 64.0: large}.get(m, right)
            if per_scale and (act, m) in per_scale:
                value = per_scale[(act, m)]
            for d in ("2", "8"):
                ratio[act][d][g7._key(m)] = list(value + WOBBLE) if np.isscalar(value) else value
        for m in g7.RIGHT_SCALES[act].values():
            a_two = two + WOBBLE / 10
            train[act][g7._key(m)] = {"2": list(a_two), "8": list(a_two - drop + WOBBLE / 10)}
    return {"data": "digits", "log10_ratio": ratio, "first_speed": {}, "train_acc": train}, cfg


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({}, "holds"),
        ({"right": -2.0}, "does not hold"),  # the right scale vanishes
        ({"right": 2.0}, "does not hold"),  # the right scale explodes
        ({"drop": 0.2}, "does not hold"),  # the deep net does not train
        ({"small": 0.0}, "does not hold"),  # the smallest scale does not vanish
        ({"large": 0.0}, "does not hold"),  # the largest scale does not explode
        ({"right": [0.2, 1.8, 1.0, 0.6, 1.4]}, "inconclusive"),  # straddles the band's edge
        ({"two": 0.5}, "inconclusive"),  # guard: the 2-layer net did not train
        ({"two": 0.5, "right": -2.0}, "does not hold"),  # the guard voids training only
    ],
)
def test_g7_judge(kwargs, status):
    metrics, cfg = _g7_metrics(("tanh", "relu"), **kwargs)
    (verdict,) = g7.judge(metrics, cfg)
    assert verdict.status == status, verdict.evidence
    if "two" in kwargs and status == "inconclusive":
        assert "2-layer" in verdict.reason


def test_g7_sigmoid_needs_one_right_scale_and_says_why_it_fails():
    one_ok, cfg = _g7_metrics(("sigmoid",), per_scale={("sigmoid", 1.0): -4.0})
    assert g7.judge(one_ok, cfg)[0].status == "holds"  # Xavier ×4 works
    both_fail, cfg = _g7_metrics(
        ("sigmoid",), per_scale={("sigmoid", 1.0): -4.0, ("sigmoid", 4.0): -1.5}
    )
    (verdict,) = g7.judge(both_fail, cfg)
    assert verdict.status == "does not hold" and "not zero-mean" in verdict.evidence


def test_g7_overflow_counts_as_exploding_and_nan_is_a_guard():
    metrics, cfg = _g7_metrics(("relu",), large=["inf"] * 5)
    assert g7.judge(metrics, cfg)[0].status == "holds"
    metrics, cfg = _g7_metrics(("relu",), large=["nan"] + [3.0] * 4)
    (verdict,) = g7.judge(metrics, cfg)
    assert verdict.status == "inconclusive" and "NaN" in verdict.reason


def test_g7_config_is_checked():
    with pytest.raises(ValueError, match="right scales"):
        g7.G7Config(scales=(0.25, 64.0))
    with pytest.raises(ValueError, match="activations must be among"):
        g7.G7Config(activations=("gelu",))
    assert math.isclose(g7.RIGHT_SCALES["relu"]["He"], math.sqrt(2))
