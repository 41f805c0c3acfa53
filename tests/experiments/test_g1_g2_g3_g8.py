"""G1, G2, G3, G8: each judge on hand-made metrics on both sides of every threshold, and G8's task.

The measurements the judges rely on are library functions, tested in tests/analysis and
tests/nn; the experiments themselves run at the tiny scale in ``test_smoke.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl import DTypeError, ValidationError
from nndl.data import ADDING_BASELINE_MSE, adding_problem
from nndl.experiments import g_chain, g_recurrent, g_speeds
from nndl.experiments.config import ConfigError

NIELSEN = g_speeds.NIELSEN_SPEEDS


# -- the adding problem (G8's task) ------------------------------------------------------------
def test_adding_problem_marks_one_value_in_each_half_and_sums_them():
    x, y = adding_problem(64, 11, torch.Generator().manual_seed(1))
    assert x.shape == (64, 11, 2) and y.shape == (64,) and x.dtype == y.dtype == torch.float32
    markers = x[..., 1]
    assert torch.equal(markers[:, :5].sum(1), torch.ones(64))  # first half: [0, 5)
    assert torch.equal(markers[:, 5:].sum(1), torch.ones(64))  # second half: [5, 11)
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1))
    assert float(x[..., 0].min()) >= 0 and float(x[..., 0].max()) < 1


def test_adding_problem_baseline_mse_is_one_sixth():
    _, y = adding_problem(40_000, 20, torch.Generator().manual_seed(0))
    # Var[y] = 2/12; the standard error of this estimate is about 0.0011
    assert float(((y - 1) ** 2).mean()) == pytest.approx(ADDING_BASELINE_MSE, abs=0.005)


def test_adding_problem_is_reproducible_and_validates():
    a = adding_problem(5, 8, torch.Generator().manual_seed(3))
    b = adding_problem(5, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValidationError, match="length must be an int in the range"):
        adding_problem(5, 1)
    with pytest.raises(DTypeError, match="generator must be a torch.Generator"):
        adding_problem(5, 8, generator=3)


# -- G1 judge ----------------------------------------------------------------------------------
def _g1_metrics(rows_by_depth, plain=None):
    init = {str(d): [list(map(float, r)) for r in rows] for d, rows in rows_by_depth.items()}
    return {
        "data": "test",
        "at_init": {"N(0,1/n_in)": init, "N(0,1)": plain or init},
    }


def _nielsen_rows(seeds=5, scale=None, spread=0.02):
    rng = np.random.default_rng(0)
    rows = {}
    for depth, ref in NIELSEN.items():
        s = np.array(ref) * (scale or {}).get(depth, 1.0)
        rows[depth] = s * (1 + spread * rng.standard_normal((seeds, depth)))
    return rows


def _g1(metrics):
    (verdict,) = g_speeds.judge_g1(metrics, g_speeds.G1Config())
    return verdict


def test_g1_holds_on_nielsens_own_figures():
    v = _g1(_g1_metrics(_nielsen_rows()))
    assert v.status == "holds", v.evidence
    assert "9 of 9 hidden-layer speeds are within ×1.5" in v.evidence


@pytest.mark.parametrize(("factor", "status"), [(1.4, "holds"), (1.6, "does not hold")])
def test_g1_book_match_threshold_on_both_sides(factor, status):
    rows = _nielsen_rows()
    rows[3][:, 1] *= factor  # the middle layer of 3: 0.060 → ×factor (still monotone)
    assert _g1(_g1_metrics(rows)).status == status
    rows = _nielsen_rows()
    rows[2][:, 0] /= factor  # below Nielsen by the same factor
    assert _g1(_g1_metrics(rows)).status == status


def test_g1_speeds_that_do_not_rise_toward_the_output_do_not_hold():
    rows = _nielsen_rows()
    rows[5] = np.tile([0.003, 0.02, 0.01, 0.07, 0.3], (5, 1))  # no Nielsen figure for 5
    v = _g1(_g1_metrics(rows))
    assert v.status == "does not hold" and "do not rise" in v.evidence


def _ratio_only(monkeypatch, log_ratios):
    """Depth-4 rows with given per-seed log10(last/first), and no book figures to match."""
    monkeypatch.setattr(g_speeds, "NIELSEN_SPEEDS", {})
    rows = {4: [[1.0, 10 ** (r / 3), 10 ** (2 * r / 3), 10**r] for r in log_ratios]}
    return _g1(_g1_metrics(rows))


def test_g1_ratio_band_on_both_sides(monkeypatch):
    assert _ratio_only(monkeypatch, [1.95, 2.0, 2.05]).status == "holds"
    assert _ratio_only(monkeypatch, [1.58, 1.6, 1.62]).status == "holds"
    assert _ratio_only(monkeypatch, [1.38, 1.4, 1.42]).status == "does not hold"  # too flat
    assert _ratio_only(monkeypatch, [2.58, 2.6, 2.62]).status == "does not hold"  # too steep
    v = _ratio_only(monkeypatch, [1.3, 2.0, 2.7])  # interval straddles both edges
    assert v.status == "inconclusive" and "straddles" in v.reason


def test_g1_straddling_interval_with_the_book_matched_is_inconclusive():
    rows = _nielsen_rows(seeds=2, spread=0.0)
    rows[4][0, 0] *= 2  # seed 1: log ratio 1.68, seed 2: 2.28; mean first speed ×1.25
    rows[4][1, 0] /= 2
    v = _g1(_g1_metrics(rows))
    assert v.status == "inconclusive" and "straddles" in v.reason


def test_g1_without_four_hidden_layers_is_inconclusive():
    rows = _nielsen_rows()
    del rows[4]
    v = _g1(_g1_metrics(rows))
    assert v.status == "inconclusive" and "4 hidden layers were not measured" in v.evidence


def test_g1_config_ranges():
    with pytest.raises(ConfigError, match="train_seeds must be at most seeds"):
        g_speeds.G1Config(seeds=3, train_seeds=4)


# -- G2 judge ----------------------------------------------------------------------------------
def _g2_metrics(test, val=None):
    fmt = {str(d): list(map(float, a)) for d, a in test.items()}
    vfmt = {str(d): list(map(float, a)) for d, a in (val or test).items()}
    return {"data": "test", "steps_per_run": 100, "val_accuracy": vfmt, "test_accuracy": fmt}


def _g2(metrics):
    (verdict,) = g_speeds.judge_g2(metrics, g_speeds.G2Config())
    return verdict


def _accs(means, noise=0.002, seeds=5):
    rng = np.random.default_rng(1)
    return {d: m + noise * rng.standard_normal(seeds) for d, m in means.items()}


def test_g2_holds_when_the_deepest_net_is_worse_than_the_best_shallower_one():
    v = _g2(_g2_metrics(_accs({1: 0.90, 2: 0.91, 3: 0.90, 4: 0.88})))
    assert v.status == "holds", v.evidence
    assert "best shallower depth on validation: 2" in v.evidence


def test_g2_does_not_hold_when_the_deepest_net_is_better():
    v = _g2(_g2_metrics(_accs({1: 0.90, 2: 0.91, 3: 0.92, 4: 0.93})))
    assert v.status == "does not hold"


def test_g2_is_inconclusive_when_the_paired_interval_straddles_zero():
    test = {1: [0.90, 0.90, 0.90], 2: [0.91, 0.91, 0.91], 4: [0.93, 0.90, 0.88]}
    v = _g2(_g2_metrics(test))
    assert v.status == "inconclusive" and "straddles" in v.reason


def test_g2_picks_the_reference_depth_on_validation_not_on_test():
    test = {1: [0.90, 0.901, 0.899], 2: [0.95, 0.951, 0.949], 3: [0.92, 0.921, 0.919]}
    val = {1: [0.96, 0.96, 0.96], 2: [0.90, 0.90, 0.90], 3: [0.90, 0.90, 0.90]}
    v = _g2(_g2_metrics(test, val))
    # on validation depth 1 is best; on test depth 3 beats depth 1: the drop is not there
    assert "best shallower depth on validation: 1" in v.evidence
    assert v.status == "does not hold"


def test_g2_guard_reference_nets_that_did_not_train():
    v = _g2(_g2_metrics(_accs({1: 0.45, 2: 0.40, 3: 0.12})))
    assert v.status == "inconclusive" and "did not train" in v.reason
    assert _g2(_g2_metrics(_accs({1: 0.55, 2: 0.40, 3: 0.12}))).status == "holds"


# -- G3 judge ----------------------------------------------------------------------------------
def _g3_metrics(err=1e-16, largest=0.2, n_small=100, medians=(1e-1, 1e-2, 1e-3, 1e-4)):
    per_depth = {
        str(d): {"median": m, "q25": m / 2, "q75": m * 2, "first_over_last": m}
        for d, m in zip((2, 3, 4, 5), medians, strict=True)
    }
    return {
        "max_relative_error": err,
        "factors_with_small_weight": n_small,
        "max_factor_with_small_weight": largest,
        "per_depth": per_depth,
    }


def _g3(metrics):
    (verdict,) = g_chain.judge(metrics, g_chain.G3Config())
    return verdict


def test_g3_holds_on_an_exact_bounded_geometric_product():
    v = _g3(_g3_metrics())
    assert v.status == "holds" and "×0.100 per layer" in v.evidence


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"err": 0.9e-12}, "holds"),
        ({"err": 1.1e-12}, "does not hold"),  # closed form ≠ autograd
        ({"largest": 0.249}, "holds"),
        ({"largest": 0.251}, "does not hold"),  # a factor above 1/4 with |w| < 1
        ({"medians": (1.0, 0.5, 0.2, 0.09)}, "holds"),  # 11× from depth 2 to 5
        ({"medians": (1.0, 0.5, 0.2, 0.11)}, "does not hold"),  # only 9×
        ({"medians": (1e-4, 1e-3, 1e-2, 1e-1)}, "does not hold"),  # grows with depth
        ({"n_small": 0, "largest": 0.0}, "inconclusive"),  # the bound was never exercised
    ],
)
def test_g3_each_threshold_on_both_sides(kwargs, status):
    assert _g3(_g3_metrics(**kwargs)).status == status


# -- G8 judge ----------------------------------------------------------------------------------
def _profile(rho, length=50):
    return [float(rho**d) for d in range(length - 1, -1, -1)]


def _g8_run(rnn_rho, lstm_rho, rnn_mse=0.168, lstm_mse=0.005, steps=800):
    def cell(rho, mse):
        return {
            "curve": [[0.0, 0.17], [float(steps), mse]],
            "grad_init": _profile(0.7),
            "grad_trained": _profile(rho),
        }

    return {"rnn": cell(rnn_rho, rnn_mse), "lstm": cell(lstm_rho, lstm_mse)}


def _g8(runs, baseline=0.167):
    metrics = {"baseline_mse": {"50": baseline}, "runs": {"50": runs}}
    (verdict,) = g_recurrent.judge(metrics, g_recurrent.G8Config())
    return verdict


# decades over 49 steps: ρ = 0.8 → 4.75, 0.95 → 1.09, 0.96 → 0.87, 0.99 → 0.21, 0.9 → 2.24
def test_g8_holds_when_only_the_rnn_still_decays_after_training():
    v = _g8([_g8_run(0.8, 0.99), _g8_run(0.79, 0.985), _g8_run(0.81, 0.99)])
    assert v.status == "holds", v.evidence


@pytest.mark.parametrize(
    ("rnn", "lstm", "status"),
    [
        ((0.899, 0.9, 0.901), (0.99, 0.99, 0.99), "holds"),  # RNN ≈ 2.24 decades > 2
        ((0.915, 0.916, 0.914), (0.99, 0.99, 0.99), "does not hold"),  # RNN ≈ 1.89 < 2
        ((0.8, 0.8, 0.8), (0.96, 0.961, 0.959), "holds"),  # LSTM ≈ 0.87 < 1
        ((0.8, 0.8, 0.8), (0.95, 0.951, 0.949), "does not hold"),  # LSTM ≈ 1.09 > 1
        ((0.8, 0.8, 0.8), (0.99, 0.90, 0.999), "inconclusive"),  # LSTM interval straddles 1
    ],
)
def test_g8_thresholds_on_both_sides(rnn, lstm, status):
    v = _g8([_g8_run(r, s) for r, s in zip(rnn, lstm, strict=True)])
    assert v.status == status, v.evidence


def test_g8_guards_make_it_inconclusive_not_false():
    lstm_fails = [_g8_run(0.8, 0.7, lstm_mse=0.05)] + [_g8_run(0.8, 0.7)] * 2
    v = _g8(lstm_fails)  # the LSTM's gradient decays too, but it did not solve the task
    assert v.status == "inconclusive" and "LSTM did not reach" in v.reason
    rnn_learns = [_g8_run(0.8, 0.99, rnn_mse=0.12)] + [_g8_run(0.8, 0.99)] * 2
    v = _g8(rnn_learns)
    assert v.status == "inconclusive" and "RNN left the baseline" in v.reason
    at_edge = [_g8_run(0.8, 0.99, rnn_mse=0.9 * 0.167)] * 3  # exactly 0.9 × baseline: stays
    assert _g8(at_edge).status == "holds"


def test_g8_over_several_lengths_every_passing_length_must_agree():
    good = [_g8_run(0.8, 0.99), _g8_run(0.79, 0.985), _g8_run(0.81, 0.99)]
    straddle = [_g8_run(0.8, r) for r in (0.99, 0.90, 0.999)]
    no_lstm = [_g8_run(0.8, 0.99, lstm_mse=0.05)] * 3

    def verdict(runs_by_length):
        metrics = {
            "baseline_mse": dict.fromkeys(runs_by_length, 0.167),
            "runs": runs_by_length,
        }
        (v,) = g_recurrent.judge(metrics, g_recurrent.G8Config())
        return v.status

    assert verdict({"50": good, "100": no_lstm}) == "holds"  # a guard-failed length is skipped
    assert verdict({"50": good, "100": straddle}) == "inconclusive"
    bad = [_g8_run(0.8, 0.9)] * 3  # LSTM still loses 2.2 decades
    assert verdict({"50": good, "100": bad}) == "does not hold"
