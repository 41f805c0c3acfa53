"""V1–V4 rules on hand-made metrics (both sides of each threshold and every guard)."""

from __future__ import annotations

import numpy as np
import pytest

from nndl.experiments.config import ConfigError, build_config
from nndl.experiments.v_density import V1_RULE, DensityConfig
from nndl.experiments.v_density import judge as judge_v1
from nndl.experiments.v_gan import (
    BASELINE_SETS,
    FLOOR_SET,
    GAN_SET,
    V4_RULE,
    GANQualityConfig,
    seed_statistics,
)
from nndl.experiments.v_gan import judge as judge_v4
from nndl.experiments.v_latent import (
    V2_RULE,
    V3_EM_RULE,
    V3_EXACT_RULE,
    EMConfig,
    ExactConfig,
    em_statistics,
    judge_em,
    judge_exact,
)


# -- V1 ----------------------------------------------------------------------------------------
def v1_metrics(vae, gmm, kde, elbo=None):
    elbo = elbo or [v - 2 for v in vae]
    runs = [
        {"vae_iw": a, "gmm": {"test": b}, "kde": {"test": c}, "vae_elbo": e}
        for a, b, c, e in zip(vae, gmm, kde, elbo, strict=True)
    ]
    return {"runs": runs, "dims": 64, "levels": 17}


def test_v1_holds_when_the_vae_beats_the_better_baseline_on_every_seed():
    [v] = judge_v1(v1_metrics([95, 97, 96], [62, 63, 61], [40, 41, 39]), DensityConfig())
    assert v.status == "holds", v.evidence
    assert V1_RULE["margin"] == 0.0


def test_v1_does_not_hold_when_the_better_baseline_wins():
    # the KDE beats the mixture here: the rule must compare with the better of the two
    [v] = judge_v1(v1_metrics([60, 61, 60], [50, 51, 50], [70, 71, 70]), DensityConfig())
    assert v.status == "does not hold", v.evidence


def test_v1_straddling_interval_is_inconclusive():
    [v] = judge_v1(v1_metrics([64, 60, 63], [62, 62, 62], [40, 40, 40]), DensityConfig())
    assert v.status == "inconclusive" and "straddles" in v.reason


def test_v1_guard_untrained_vae_is_inconclusive():
    metrics = v1_metrics([95, 97, 96], [62, 63, 61], [40, 41, 39], elbo=[90, -5, 91])
    [v] = judge_v1(metrics, DensityConfig())
    assert v.status == "inconclusive" and "guard" in v.reason


def test_v1_single_seed_cannot_decide():
    [v] = judge_v1(v1_metrics([95], [62], [40]), DensityConfig())
    assert v.status == "inconclusive"


def test_v1_config_wants_a_square_grid():
    with pytest.raises(ConfigError, match="square"):
        build_config(DensityConfig, {"n_samples_grid": 10})


# -- V2 / V3 exact ---------------------------------------------------------------------------
def exact_metrics(z=None, residual=1e-13, quad_err=1e-14, mc_z=0.5, gaps=None, elbo_excess=0.0):
    """Metrics of measure_exact with one digit, one q row, and IW gaps per k."""
    log_p, kl = -50.0, 1.0
    row = ["encoder q(z|x)", log_p, log_p - kl - residual, kl]
    if elbo_excess:  # ELBO above log p and a negative KL: the identity holds, the signs do not
        row = ["encoder q(z|x)", log_p, log_p + elbo_excess, -elbo_excess]
    gaps = gaps or [0.4, 0.2, 0.05, 0.01]
    return {
        "ppca": {
            "sampler_z": z or [0.3, -1.1, 2.0, 0.7],
            "identity_residual": 1e-14,
            "quadrature_vs_closed_form": 1e-14,
        },
        "digits": [{"rows": [row], "quadrature_error": quad_err, "mc_z": mc_z}] * 3,
        "iw": [[[g, g, g], [0.005, 0.005, 0.005]] for g in gaps],
        "iw_k": [1, 16, 256, 4096][: len(gaps)],
    }


def verdicts(metrics):
    return {v.claim: v for v in judge_exact(metrics, ExactConfig())}


def test_v2_holds_for_small_deviations_and_refutes_huge_ones():
    assert verdicts(exact_metrics())["V2"].status == "holds"
    assert verdicts(exact_metrics(z=[0.1] * 20 + [10.0]))["V2"].status == "does not hold"


def test_v2_deviation_between_the_thresholds_is_inconclusive():
    # 21 deviations, the largest 4.6: p = 42·Φ(−4.6) ≈ 9e-5, between 1e-6 and 1e-3
    v = verdicts(exact_metrics(z=[0.1] * 20 + [4.6]))["V2"]
    assert v.status == "inconclusive" and v.reason
    assert (V2_RULE["alpha_hold"], V2_RULE["alpha_fail"]) == (1e-3, 1e-6)


def test_v3_exact_holds_and_each_part_can_refute():
    assert verdicts(exact_metrics())["V3"].status == "holds"
    assert verdicts(exact_metrics(residual=1e-3))["V3"].status == "does not hold"
    assert verdicts(exact_metrics(mc_z=12.0))["V3"].status == "does not hold"
    assert verdicts(exact_metrics(elbo_excess=1e-4))["V3"].status == "does not hold"  # ELBO > log p
    # the IW gap grows with k: both the increase test and the shrink test refute
    assert verdicts(exact_metrics(gaps=[0.2, 0.3, 0.4, 0.5]))["V3"].status == "does not hold"


def test_v3_exact_residual_between_tolerances_is_inconclusive():
    tol, fail = V3_EXACT_RULE["tolerance"], V3_EXACT_RULE["fail_tolerance"]
    assert verdicts(exact_metrics(residual=0.5 * tol))["V3"].status == "holds"
    assert verdicts(exact_metrics(residual=10 * tol))["V3"].status == "inconclusive"
    assert verdicts(exact_metrics(residual=2 * fail))["V3"].status == "does not hold"


def test_v3_exact_gap_that_shrinks_too_little_is_inconclusive():
    # falls from 0.4 to 0.1: below the k = 1 gap, not below a tenth of it
    v = verdicts(exact_metrics(gaps=[0.4, 0.3, 0.2, 0.1]))["V3"]
    assert v.status == "inconclusive"
    assert V3_EXACT_RULE["iw_shrink"] == 0.1


def test_v3_exact_guard_coarse_quadrature_is_inconclusive():
    v = verdicts(exact_metrics(quad_err=1e-7))["V3"]
    assert v.status == "inconclusive" and "guard" in v.reason


def test_exact_config_checks_grids_and_ks():
    with pytest.raises(ConfigError, match="grid_check"):
        build_config(ExactConfig, {"grid": 81, "grid_check": 81})
    with pytest.raises(ConfigError, match="iw_ks"):
        build_config(ExactConfig, {"iw_ks": (16, 4)})


# -- V3 by EM ----------------------------------------------------------------------------------
def em_start(e_gap=1e-16, dip=0.0, m_drop=0.0, degenerate=None):
    loglik = [-2.2, -2.18, -2.17 - dip, -2.16]
    elbo_e = [v - e_gap for v in loglik[:3]]
    elbo_m = [loglik[t + 1] - 0.001 for t in range(3)]
    elbo_m[1] = elbo_e[1] - m_drop if m_drop else elbo_m[1]
    return {"loglik": loglik, "elbo_after_e": elbo_e, "elbo_after_m": elbo_m,
            "degenerate_at": degenerate, "seed": 0}  # fmt: skip


def em_verdict(*starts):
    return judge_em({"starts": list(starts), "regularised": []}, EMConfig())[0]


def test_em_holds_on_exact_steps():
    assert em_verdict(em_start(), em_start(), em_start()).status == "holds"


def test_em_e_gap_above_tolerance_refutes():
    assert V3_EM_RULE["e_gap_tol"] == 1e-12
    assert em_verdict(em_start(), em_start(e_gap=5e-13)).status == "holds"
    assert em_verdict(em_start(), em_start(e_gap=1e-9)).status == "does not hold"


def test_em_falling_log_likelihood_refutes():
    assert em_verdict(em_start(), em_start(dip=0.02)).status == "does not hold"


def test_em_m_step_lowering_the_elbo_refutes():
    assert em_verdict(em_start(), em_start(m_drop=1e-6)).status == "does not hold"


def test_em_degenerate_starts_are_left_out_and_guarded():
    assert em_verdict(em_start(), em_start(), em_start(degenerate=4)).status == "holds"
    v = em_verdict(em_start(), em_start(degenerate=4), em_start(degenerate=7))
    assert v.status == "inconclusive" and "guard" in v.reason
    v = em_verdict(em_start(degenerate=1), em_start(degenerate=2))
    assert v.status == "inconclusive"
    # a degenerate start's numbers are not judged: a bad one is ignored
    bad_but_degenerate = {**em_start(e_gap=1.0), "degenerate_at": 2}
    assert em_verdict(em_start(), em_start(), bad_but_degenerate).status == "holds"


def test_em_statistics_reads_the_three_numbers():
    s = em_statistics(em_start(e_gap=1e-14, dip=0.02))
    assert s["max_e_gap"] == pytest.approx(1e-14, rel=1e-2)
    assert s["min_step"] < 0 and s["iterations"] == 3


# -- V4 ----------------------------------------------------------------------------------------
def v4_run(fd=3.0, precision=0.9, floor_precision=0.95, recall=0.85, tv=0.1, acc=0.95):
    def q(fd_, precision_, recall_=0.9, tv_=0.05):
        return {"fd": fd_, "precision": precision_, "recall": recall_, "class_tv": tv_,
                "class_hist": [0.1] * 10, "n_samples": 270}  # fmt: skip

    return {
        "seed": 0,
        "classifier_accuracy": acc,
        "quality": {
            FLOOR_SET: q(0.5, floor_precision),
            GAN_SET: q(fd, precision, recall, tv),
            BASELINE_SETS[0]: q(60.0, 0.4, 0.05, 0.5),
            BASELINE_SETS[1]: q(90.0, 0.0, 0.0, 0.9),
        },
    }


def v4_verdict(*runs):
    return judge_v4({"runs": list(runs)}, GANQualityConfig())[0]


def test_v4_holds_when_every_interval_is_on_the_right_side():
    v = v4_verdict(v4_run(fd=3.0), v4_run(fd=3.5, precision=0.91), v4_run(fd=2.5, recall=0.88))
    assert v.status == "holds", v.evidence


def test_v4_precision_far_below_the_real_floor_refutes():
    runs = [v4_run(precision=p) for p in (0.48, 0.42, 0.52)]
    v = v4_verdict(*runs)
    assert v.status == "does not hold" and "precision" in v.evidence
    assert V4_RULE["precision_margin"] == 0.1


def test_v4_far_from_the_floor_refutes():
    v = v4_verdict(v4_run(fd=30.0), v4_run(fd=32.0), v4_run(fd=31.0))
    assert v.status == "does not hold"


def test_v4_mode_collapse_refutes_through_recall_and_tv():
    v = v4_verdict(*[v4_run(recall=0.05, tv=0.5) for _ in range(3)])
    assert v.status == "does not hold"


def test_v4_straddling_recall_is_inconclusive():
    v = v4_verdict(v4_run(recall=0.3), v4_run(recall=0.7), v4_run(recall=0.6))
    assert v.status == "inconclusive" and "recall" in v.reason


def test_v4_guard_weak_classifier_is_inconclusive():
    v = v4_verdict(v4_run(), v4_run(acc=0.85), v4_run())
    assert v.status == "inconclusive" and "guard" in v.reason


def test_v4_seed_statistics_uses_the_better_baseline():
    s = seed_statistics(v4_run(fd=3.0))
    assert s["fd_baseline"] == 60.0
    assert s["r"] == pytest.approx((3.0 - 0.5) / (60.0 - 0.5))
    assert np.isclose(s["precision_floor"], 0.95)
