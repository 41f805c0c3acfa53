"""The C1/C2 judges on hand-made metrics, on both sides of every threshold and guard."""

import copy

import pytest

from nndl.experiments import get_experiment

COSINE = get_experiment("c2_cosine_cost_volume")
STEREO = get_experiment("c1_stereo_motorcycle")


def _cosine_metrics(peaks_right: int, warps_right: int, n: int = 10, dev: float = 1e-12):
    cases = []
    for i in range(n):
        shift = [1, -1] if i % 2 else [2, 0]
        cases.append(
            {
                "features": "ZNCC",
                "shift": shift,
                "peak": shift if i < peaks_right else [0, 0],
                "peak_after_warp": [1, -1] if i < warps_right else [0, 0],
                "pixel_hit_rate": 0.9,
            }
        )
    return {
        "random_min": -0.99,
        "random_max": 1.0,
        "photo_min": -0.5,
        "photo_max": 1.0,
        "identical_max_deviation": dev,
        "channels": {"0": 1, "1": 9, "2": 25},
        "cases": cases,
    }


def _statuses(exp, metrics, cfg=None):
    cfg = cfg or exp.config("quick")
    return {v.claim: v.status for v in exp.judge(metrics, cfg)}


@pytest.mark.parametrize(
    "peaks,warps,expected",
    [(10, 10, "holds"), (9, 10, "holds"), (10, 8, "inconclusive"), (4, 10, "does not hold")],
)
def test_c1_share_thresholds(peaks, warps, expected):
    assert _statuses(COSINE, _cosine_metrics(peaks, warps))["C1"] == expected


def test_c1_inconclusive_says_why():
    (c1, _) = COSINE.judge(_cosine_metrics(7, 10), COSINE.config("quick"))
    assert c1.status == "inconclusive" and "between" in c1.reason


@pytest.mark.parametrize(
    "change,expected",
    [
        ({}, "holds"),
        ({"photo_max": 1.001}, "does not hold"),
        ({"random_min": -1.0 - 1e-4}, "does not hold"),
        ({"identical_max_deviation": 1e-3}, "does not hold"),
        ({"channels": {"0": 1, "1": 8}}, "does not hold"),
        ({"photo_max": 1.0 + 5e-6}, "holds"),  # within the declared tolerance
    ],
)
def test_c2_identities(change, expected):
    metrics = {**_cosine_metrics(10, 10), **change}
    assert _statuses(COSINE, metrics)["C2"] == expected


def _stereo_metrics(ours, sgbm, bm, minus=0.03, plus=0.18, opencv_error=""):
    methods = {
        "nndl census + SGM + LR check": {"bad_filled": ours, "mae_filled": 1.0},
        "OpenCV StereoSGBM": {"bad_filled": sgbm, "mae_filled": 1.5},
        "OpenCV StereoBM": {"bad_filled": bm, "mae_filled": 2.0},
    }
    if opencv_error:
        methods = {k: v for k, v in methods.items() if not k.startswith("OpenCV")}
    return {
        "methods": methods,
        "opencv_error": opencv_error,
        "convention_abs_diff_x_minus_d": minus,
        "convention_abs_diff_x_plus_d": plus,
    }


@pytest.mark.parametrize(
    "ours,sgbm,bm,expected",
    [
        (0.06, 0.09, 0.13, "holds"),
        (0.10, 0.09, 0.13, "inconclusive"),
        (0.14, 0.09, 0.13, "does not hold"),
    ],
)
def test_c1_stereo_against_opencv(ours, sgbm, bm, expected):
    assert _statuses(STEREO, _stereo_metrics(ours, sgbm, bm))["C1"] == expected


def test_c1_stereo_guards():
    (v,) = STEREO.judge(_stereo_metrics(0.06, 0.09, 0.13, opencv_error="no cv2"), None)
    assert v.status == "inconclusive" and "OpenCV" in v.reason
    (v,) = STEREO.judge(_stereo_metrics(0.06, 0.09, 0.13, minus=0.2, plus=0.1), None)
    assert v.status == "inconclusive" and "convention" in v.reason


def test_judges_do_not_modify_their_metrics():
    metrics = _cosine_metrics(10, 10)
    before = copy.deepcopy(metrics)
    COSINE.judge(metrics, COSINE.config("quick"))
    assert metrics == before


FLOW = get_experiment("c3_coarse_to_fine_flow")


def _flow_metrics(gain_classical=1.0, gain_pwc=1.0, share=1.0, noise=0.05):
    base = [1.0, 1.2, 0.8, 1.1, 0.9, 1.0]
    jitter = [noise * (-1) ** i for i in range(len(base))]

    def entry(values):
        return {"epe": sum(values) / len(values), "per_pair_epe": values}

    scores = {"zero": entry([4.0 + j for j in jitter])}
    for family, gain in (("classical", gain_classical), ("pwc", gain_pwc)):
        scores[family] = entry(base)
        for ablation in ("single-level", "no-warping"):
            scores[f"{family} {ablation}"] = entry(
                [b + gain + j for b, j in zip(base, jitter, strict=True)]
            )
    return {"scores": scores, "share_beyond_radius": share}


@pytest.mark.parametrize(
    "gains,expected",
    [
        ((1.0, 1.0), "holds"),
        ((1.0, -1.0), "does not hold"),  # the learned net's ablations beat it
        ((-1.0, 1.0), "does not hold"),
        ((1.0, 0.0), "inconclusive"),  # the interval of the gain straddles 0
    ],
)
def test_c3_ablations_for_both_estimators(gains, expected):
    metrics = _flow_metrics(*gains)
    assert _statuses(FLOW, metrics)["C3"] == expected


def test_c3_guard_needs_flows_beyond_the_search_radius():
    (v,) = FLOW.judge(_flow_metrics(share=0.2), FLOW.config("quick"))
    assert v.status == "inconclusive" and "beyond d" in v.reason
