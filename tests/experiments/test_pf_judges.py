"""The judges of P1–P3 and F1–F4 on hand-made metrics, on both sides of every threshold.

No torch work: each test builds metrics as they come back from JSON and checks the verdict, so
an inverted comparison or a guard that does not fire fails here in milliseconds.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from nndl.experiments import get_experiment
from nndl.experiments.f_credit_assignment import F4_RULE
from nndl.experiments.f_function_approximation import F1_RULE
from nndl.experiments.f_gradient_descent import F2_RULE, best_run
from nndl.experiments.f_parameter_sensitivity import F3_RULE
from nndl.experiments.p_pooling_cost import P1_RULE
from nndl.experiments.p_pooling_invariance import P2_RULE

NOISE = (0.002, -0.001, 0.0, 0.001, -0.002)  # five seeds of small, zero-mean spread


def _status(name: str, metrics: dict[str, Any], **overrides: Any) -> str:
    exp = get_experiment(name)
    cfg = exp.config("quick", overrides)
    (verdict,) = exp.judge(metrics, cfg)
    assert verdict.evidence
    if verdict.status == "inconclusive":
        assert verdict.reason, "an inconclusive verdict must say why"
    return verdict.status


# -- P1 --------------------------------------------------------------------------------------------
def _p1(
    loss_gain: float | list[float] = 0.2,
    acc_gain: float | list[float] = 0.01,
    none_fit: float = 1.0,
    pooled_params: int = 3000,
) -> dict[str, Any]:
    """Pooled arms better than ``none`` by ``loss_gain`` (test loss) and ``acc_gain``."""
    lg = [loss_gain] * 5 if isinstance(loss_gain, float) else loss_gain
    ag = [acc_gain] * 5 if isinstance(acc_gain, float) else acc_gain
    none_loss = [0.8 + n for n in NOISE]
    none_acc = [0.85 + n for n in NOISE]
    cost = {
        a: {"parameters": pooled_params, "multiply_adds": 20000, "activation_bytes": 9000}
        for a in ("max", "avg", "none_gap")
    }
    cost["none"] = {"parameters": 37000, "multiply_adds": 90000, "activation_bytes": 20000}
    m: dict[str, Any] = {"data": "mnist-5k", "n_train": 200, "n_test": 2000, "cost": cost}
    m["train_accuracy"] = {
        "max": [1.0] * 5,
        "avg": [0.99] * 5,
        "none": [none_fit] * 5,
        "none_gap": [0.4] * 5,
    }
    m["train_loss"] = {a: [0.01] * 5 for a in ("max", "avg", "none", "none_gap")}
    m["test_loss"] = {"none": none_loss, "none_gap": [1.8] * 5}
    m["test_accuracy"] = {"none": none_acc, "none_gap": [0.35] * 5}
    for arm in ("max", "avg"):
        m["test_loss"][arm] = [
            v - g + 0.5 * n for v, g, n in zip(none_loss, lg, NOISE, strict=True)
        ]
        m["test_accuracy"][arm] = [
            v + g - 0.5 * n for v, g, n in zip(none_acc, ag, NOISE, strict=True)
        ]
    return m


def test_p1_holds_when_pooling_lowers_test_loss_and_keeps_accuracy():
    assert _status("p1_pooling_cost", _p1()) == "holds"


def test_p1_accuracy_margin_is_non_inferiority():
    margin = P1_RULE["margin"]
    assert _status("p1_pooling_cost", _p1(acc_gain=-0.5 * margin)) == "holds"
    assert _status("p1_pooling_cost", _p1(acc_gain=-1.5 * margin)) == "does not hold"


def test_p1_does_not_hold_when_pooling_raises_test_loss():
    assert _status("p1_pooling_cost", _p1(loss_gain=-0.2)) == "does not hold"


def test_p1_straddling_loss_interval_is_inconclusive():
    assert _status("p1_pooling_cost", _p1(loss_gain=[0.3, -0.3, 0.2, -0.2, 0.05])) == "inconclusive"


def test_p1_inconclusive_reason_names_the_interval_and_the_seeds_that_would_settle_it():
    exp = get_experiment("p1_pooling_cost")
    margin = P1_RULE["margin"]
    acc = [-margin + d for d in (0.03, -0.02, 0.025, -0.015, 0.01)]  # mean −margin + 0.006
    (verdict,) = exp.judge(_p1(acc_gain=acc), exp.config("quick"))
    assert verdict.status == "inconclusive"
    assert "max test accuracy" in verdict.reason and "avg test accuracy" in verdict.reason
    assert "test loss" not in verdict.reason  # the loss intervals are clear of 0
    seeds = int(verdict.reason.split("about ")[1].split(" seeds")[0])
    assert seeds > 5  # more than the five it had


def test_p1_guard_an_arm_that_underfits_voids_the_comparison():
    fit = P1_RULE["min_train_accuracy"]
    assert _status("p1_pooling_cost", _p1(none_fit=fit - 0.01)) == "inconclusive"
    assert _status("p1_pooling_cost", _p1(none_fit=fit - 0.01, acc_gain=-0.1)) == "inconclusive"
    assert _status("p1_pooling_cost", _p1(none_fit=fit + 0.01)) == "holds"


def test_p1_without_compression_does_not_hold():
    assert _status("p1_pooling_cost", _p1(pooled_params=37000)) == "does not hold"
    assert _status("p1_pooling_cost", _p1(pooled_params=37000, none_fit=0.5)) == "does not hold"


# -- P2 --------------------------------------------------------------------------------------------
def _p2(
    ratios: dict[tuple[str, str], list[float]] | None = None, seeds: int = 5, clean: float = 0.9
) -> dict[str, Any]:
    """δ_after/δ_before per (variant, family) and seed; default 0.6 everywhere."""
    ratios = ratios or {}
    families = ("translation", "elastic", "rescaling")
    nets: dict[str, list[dict[str, Any]]] = {}
    for v in ("max", "avg"):
        nets[v] = []
        for s in range(seeds):
            net: dict[str, Any] = {"clean_accuracy": clean}
            for f in families:
                r = ratios.get((v, f), [0.6] * seeds)[s]
                net[f] = {
                    "before": [[0.5, 0.4], [0.7, 0.6]],
                    "after": [[0.5 * r, 0.4 * r], [0.7 * r, 0.6 * r]],
                    "accuracy": [clean * 0.9, clean * 0.7],
                }
            nets[v].append(net)
    mags = {"translation": [1.0, 2.0], "elastic": [1.0, 2.0], "rescaling": [0.75, 1.25]}
    return {"magnitudes": mags, "nets": nets, "n_eval": 300, "data": "mnist-5k"}


def test_p2_holds_when_every_seed_shrinks_every_family():
    assert _status("p2_pooling_invariance", _p2()) == "holds"


def test_p2_does_not_hold_when_one_family_grows_in_every_seed():
    assert _status("p2_pooling_invariance", _p2({("avg", "elastic"): [1.3] * 5})) == "does not hold"


def test_p2_sign_test_threshold():
    assert P2_RULE["alpha"] == 0.05
    # 4 of 5 seeds below 1: p = 6/32 > alpha
    mixed = {("max", "rescaling"): [0.5, 0.6, 0.7, 0.8, 1.2]}
    assert _status("p2_pooling_invariance", _p2(mixed)) == "inconclusive"
    # 4 of 4 seeds: p = 1/16 > alpha; 5 of 5: p = 1/32 < alpha
    assert _status("p2_pooling_invariance", _p2(seeds=4)) == "inconclusive"
    assert _status("p2_pooling_invariance", _p2(seeds=5)) == "holds"


def test_p2_guard_untrained_nets_are_inconclusive():
    low = P2_RULE["min_clean_accuracy"] - 0.05
    assert _status("p2_pooling_invariance", _p2(clean=low)) == "inconclusive"


# -- P3 --------------------------------------------------------------------------------------------
def _p3(max_last: int = 46, mismatches: tuple[str, ...] = ()) -> dict[str, Any]:
    sizes = {
        "max": [4, 10, 22, max_last],
        "avg": [4, 10, 22, max_last],
        "none": [3, 5, 7, 9],
        "stride": [3, 7, 15, 31],
    }
    return {
        "size": sizes,
        "jump": {k: [1, 2, 4, 8] for k in sizes},
        "empirical": sizes,
        "mismatches": list(mismatches),
        "layers_checked": 16,
    }


def test_p3_holds_larger_and_confirmed():
    assert _status("p3_receptive_field", _p3()) == "holds"


def test_p3_does_not_hold_when_pooled_field_is_not_larger():
    assert _status("p3_receptive_field", _p3(max_last=9)) == "does not hold"
    assert _status("p3_receptive_field", _p3(max_last=9, mismatches=("x",))) == "does not hold"


def test_p3_mismatch_with_the_gradient_is_inconclusive():
    assert _status("p3_receptive_field", _p3(mismatches=("max/pool4: ...",))) == "inconclusive"


# -- F1 --------------------------------------------------------------------------------------------
def _f1(hard: dict[tuple[int, str], tuple[float, float]] | None = None) -> dict[str, Any]:
    """Per (D, target): (MLP error, plateau drop); classical error 0.1. Default MLP 0.01."""
    hard = hard or {}
    cells: dict[str, Any] = {}
    for d in (1, 2, 4, 6):
        targets = {}
        for t in ("smooth", "oscillatory", "kinked", "discontinuous"):
            err, drop = hard.get((d, t), (0.01, 0.0))
            if t == "smooth" and (d, t) not in hard:
                err = 1.0  # an easy cell a classical basis wins: a finding
            targets[t] = {
                "polynomial": 0.1,
                "fourier": 0.2,
                "mlp": [err * math.exp(n * 10) for n in NOISE],
                "mlp_drop": [drop] * 5,
            }
        cells[str(d)] = {
            "order": 3,
            "parameters_ls": 84,
            "width": 10,
            "parameters_mlp": 81,
            "targets": targets,
        }
    return {"cells": cells}


def _f1_losses(
    n: int, value: tuple[float, float] = (1.0, 0.0)
) -> dict[tuple[int, str], tuple[float, float]]:
    cells = [(d, t) for t in ("discontinuous", "kinked") for d in (1, 2, 4, 6)]
    return dict.fromkeys(cells[:n], value)


def test_f1_holds_when_the_mlp_wins_the_hard_cells_and_lists_classical_wins():
    exp = get_experiment("f1_function_approximation")
    (verdict,) = exp.judge(_f1(), exp.config("quick"))
    assert verdict.status == "holds"
    assert "1-D smooth" in verdict.evidence  # the classical win is reported as a finding


def test_f1_win_share_threshold():
    assert F1_RULE["win_share"] == 0.75  # 6 of 8 hard cells
    assert _status("f1_function_approximation", _f1(_f1_losses(2))) == "holds"
    assert _status("f1_function_approximation", _f1(_f1_losses(3))) == "does not hold"


def test_f1_ties_are_inconclusive():
    tie = (0.1, 0.0)  # same error as the classical fit: the interval straddles 0
    assert _status("f1_function_approximation", _f1(_f1_losses(3, tie))) == "inconclusive"


def test_f1_a_loss_without_plateau_is_undecided_but_a_win_without_plateau_counts():
    drop = F1_RULE["plateau_tol"] + 0.1
    assert _status("f1_function_approximation", _f1(_f1_losses(3, (1.0, drop)))) == "inconclusive"
    assert _status("f1_function_approximation", _f1(_f1_losses(8, (0.01, drop)))) == "holds"


# -- F2 --------------------------------------------------------------------------------------------
def _f2_run(
    ratio: float | list[float], acc: float | None = 0.95, diverged: bool = False
) -> dict[str, Any]:
    ratios = [ratio] * 5 if isinstance(ratio, float) else ratio
    run: dict[str, Any] = {
        "updates": [1, 2],
        "initial": [2.0] * 5,
        "diverged": [diverged] * 5,
        "loss": [[2.0] * 5, [2.0 * r * math.exp(n) for r, n in zip(ratios, NOISE, strict=True)]],
    }
    if acc is not None:
        run["test_accuracy"] = [acc + n for n in NOISE]
    return run


def _f2(gd_cls: dict[str, Any], gd_reg: dict[str, Any] | None = None) -> dict[str, Any]:
    other = _f2_run(0.05)
    return {
        "data": "digits",
        "runs": {
            "classification": {
                "GD": {"0.3": gd_cls},
                "SGD": {"0.1": other},
                "Adam": {"0.003": other},
            },
            "regression": {
                "GD": {"0.3": gd_reg or _f2_run(0.1, None)},
                "SGD": {"0.1": _f2_run(0.1, None)},
                "Adam": {"0.003": _f2_run(0.1, None)},
            },
        },
    }


def test_f2_holds_when_gd_halves_the_loss_and_classifies():
    assert _status("f2_gradient_descent", _f2(_f2_run(0.1))) == "holds"


def test_f2_loss_ratio_threshold():
    limit = F2_RULE["max_loss_ratio"]
    assert _status("f2_gradient_descent", _f2(_f2_run(limit * 0.8))) == "holds"
    assert _status("f2_gradient_descent", _f2(_f2_run(limit * 1.25))) == "does not hold"
    assert _status("f2_gradient_descent", _f2(_f2_run(0.1), _f2_run(0.9, None))) == "does not hold"


def test_f2_accuracy_threshold():
    low = F2_RULE["min_accuracy"]
    assert _status("f2_gradient_descent", _f2(_f2_run(0.1, acc=low + 0.02))) == "holds"
    assert _status("f2_gradient_descent", _f2(_f2_run(0.1, acc=low - 0.02))) == "does not hold"


def test_f2_straddling_ratio_is_inconclusive():
    assert _status("f2_gradient_descent", _f2(_f2_run([0.2, 0.9, 0.3, 0.8, 0.5]))) == "inconclusive"


def test_f2_every_gd_rate_diverged_does_not_hold_and_best_run_skips_diverged():
    assert _status("f2_gradient_descent", _f2(_f2_run(0.1, diverged=True))) == "does not hold"
    runs = {"0.3": _f2_run(0.4), "1": _f2_run(0.1, diverged=True), "0.1": _f2_run(0.2)}
    chosen = best_run(runs)
    assert chosen is not None and chosen[0] == "0.1"


# -- F3 --------------------------------------------------------------------------------------------
def _f3(k_sal: list[int | None], baseline: float = 0.95, p: int = 4810) -> dict[str, Any]:
    nets = [
        {
            "baseline": baseline,
            "accuracy": {},
            "smallest_k": {"zero": {"saliency": k, "random": 900}},
        }
        for k in k_sal
    ]
    return {"n_parameters": p, "ks": [1, 10, 100], "sizes": [64, 64, 10], "nets": nets}


def test_f3_holds_when_a_few_salient_parameters_cost_the_drop():
    assert _status("f3_parameter_sensitivity", _f3([10, 12, 20, 15, 10])) == "holds"


def test_f3_few_fraction_threshold():
    # few_fraction 1 % of 4810 = 48 parameters
    assert _status("f3_parameter_sensitivity", _f3([40] * 5)) == "holds"
    assert _status("f3_parameter_sensitivity", _f3([60] * 5)) == "does not hold"
    assert _status("f3_parameter_sensitivity", _f3([None] * 5)) == "does not hold"


def test_f3_straddling_and_guard_are_inconclusive():
    assert _status("f3_parameter_sensitivity", _f3([10, 500, 10, 500, 30])) == "inconclusive"
    exp = get_experiment("f3_parameter_sensitivity")
    (verdict,) = exp.judge(_f3([40, 60, 30, 70, 45]), exp.config("quick"))
    assert verdict.status == "inconclusive" and "seeds at this spread" in verdict.reason
    low = F3_RULE["min_accuracy"] - 0.05
    assert _status("f3_parameter_sensitivity", _f3([10] * 5, baseline=low)) == "inconclusive"


# -- F4 --------------------------------------------------------------------------------------------
def _f4(
    fd_error: float = 1e-9,
    fd_power: float = 1.0,
    cos_small: float = 0.9,
    cos_large: float | list[float] = 0.3,
) -> dict[str, Any]:
    cl = [cos_large] * 5 if isinstance(cos_large, float) else cos_large
    rows = []
    for i, p in enumerate((27, 99, 387, 1539)):
        cos = (
            [cos_small + n for n in NOISE]
            if i == 0
            else [c + n for c, n in zip(cl, NOISE, strict=True)]
        )
        rows.append(
            {
                "parameters": p,
                "fd_relative_error": fd_error,
                "wp_cosine": cos,
                "wp_relative_error": [0.5] * 5,
                "passes": {"backprop": 1, "finite_difference": 2 * p, "weight_perturbation": 100},
                "seconds": {
                    "backprop": 1e-3,
                    "finite_difference": 1e-4 * p**fd_power,
                    "weight_perturbation": 5e-3,
                },
            }
        )
    return {"widths": rows}


def test_f4_holds_exact_costly_and_degrading():
    assert _status("f4_credit_assignment", _f4()) == "holds"


def test_f4_fd_tolerance_and_slope_thresholds():
    tol, slope = F4_RULE["fd_tolerance"], F4_RULE["min_slope"]
    assert _status("f4_credit_assignment", _f4(fd_error=tol * 0.5)) == "holds"
    assert _status("f4_credit_assignment", _f4(fd_error=tol * 2)) == "does not hold"
    assert _status("f4_credit_assignment", _f4(fd_power=slope + 0.1)) == "holds"
    assert _status("f4_credit_assignment", _f4(fd_power=slope - 0.1)) == "does not hold"


def test_f4_perturbation_cosine_direction():
    assert _status("f4_credit_assignment", _f4(cos_small=0.3, cos_large=0.9)) == "does not hold"
    straddle = [0.95, 0.3, 0.85, 0.35, 0.9]
    assert _status("f4_credit_assignment", _f4(cos_small=0.6, cos_large=straddle)) == "inconclusive"


@pytest.mark.parametrize(
    "name",
    [
        "p1_pooling_cost",
        "p2_pooling_invariance",
        "p3_receptive_field",
        "f1_function_approximation",
        "f2_gradient_descent",
        "f3_parameter_sensitivity",
        "f4_credit_assignment",
    ],
)
def test_every_rule_is_declared_and_printed(name):
    exp = get_experiment(name)
    (rule,) = exp.rules.values()
    text = rule.text()
    assert "Holds if" in text and "Does not hold if" in text and "Inconclusive if" in text
