"""The measurable pieces of experiments G1, G2, G4–G8: data, measurements and verdict criteria.

The experiments themselves run at the tiny scale in ``test_smoke.py``; here each criterion is
fed numbers it must accept or reject, and each measurement is compared with a hand computation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nndl import DTypeError, ValidationError
from nndl.data import write_idx
from nndl.data.sequences import ADDING_BASELINE_MSE, adding_problem
from nndl.experiments import run_experiment
from nndl.experiments.g_recurrent import far_near_ratio, recurrent_verdict, state_gradient_norms
from nndl.experiments.g_remedies import (
    accuracy_kept,
    activation_mlp,
    geometric_factor,
    init_scale_checks,
    speed_spread,
    train_stacked,
)
from nndl.experiments.g_speeds import (
    G2Config,
    check_config,
    depth_drop,
    hidden_speeds,
    init_speeds,
    layer_speed_criterion,
    load_split,
)
from nndl.nn import SequenceModel, mlp


# -- the adding problem ------------------------------------------------------------------------
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
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)


def test_adding_problem_is_reproducible_and_validates():
    a = adding_problem(5, 8, torch.Generator().manual_seed(3))
    b = adding_problem(5, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValidationError, match="length must be an int in the range"):
        adding_problem(5, 1)
    with pytest.raises(ValidationError, match="n must be an int"):
        adding_problem(0, 8)
    with pytest.raises(DTypeError, match="generator must be a torch.Generator"):
        adding_problem(5, 8, generator=3)


# -- measurements ------------------------------------------------------------------------------
def test_init_speeds_are_the_bias_gradient_norms_of_the_mean_cost():
    gen = torch.Generator().manual_seed(0)
    net = mlp(
        [6, 5, 4, 3], "sigmoid", init="gaussian", init_kwargs={"bias_std": 1.0, "generator": gen}
    )
    x, y = torch.randn(20, 6, generator=gen), torch.randint(0, 3, (20,), generator=gen)
    speeds = init_speeds(net, x, y, depth=2)
    F.cross_entropy(net(x), y).backward()
    expected = [float(net.fc1.bias.grad.norm()), float(net.fc2.bias.grad.norm())]
    assert speeds == pytest.approx(expected, rel=1e-6)


def test_hidden_speeds_read_the_batchnorm_shift_when_there_is_one():
    speeds = {"fc1": 0.0, "bn1": 0.3, "fc2": 0.0, "bn2": 0.5, "out": 1.0}
    assert hidden_speeds(speeds, 2) == [0.3, 0.5]
    assert hidden_speeds({"fc1": 0.1, "fc2": 0.2, "out": 1.0}, 2) == [0.1, 0.2]
    with pytest.raises(ValidationError, match="no layer 'fc3'"):
        hidden_speeds({"fc1": 0.1, "fc2": 0.2}, 3)


def test_state_gradient_norms_match_one_sequence_at_a_time():
    torch.manual_seed(0)
    model = SequenceModel(2, 4, 1, cell="rnn")
    x, y = adding_problem(3, 6, torch.Generator().manual_seed(0))
    batch = state_gradient_norms(model, x, y)
    singles = np.mean(
        [state_gradient_norms(model, x[i : i + 1], y[i : i + 1]) for i in range(3)], 0
    )
    np.testing.assert_allclose(batch, singles, rtol=1e-5)
    assert batch.shape == (6,)


def test_train_stacked_equals_training_each_model_alone():
    gen = torch.Generator().manual_seed(0)
    models = [
        mlp([5, 4, 3], "tanh", init="gaussian", init_kwargs={"generator": gen}) for _ in range(2)
    ]
    copies = [mlp([5, 4, 3], "tanh") for _ in range(2)]
    for c, m in zip(copies, models, strict=True):
        c.load_state_dict(m.state_dict())
    x, y = torch.randn(30, 5, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    accuracies = train_stacked(
        models,
        x,
        y,
        steps=6,
        batch_size=8,
        lr=0.1,
        momentum=0.9,
        generator=torch.Generator().manual_seed(1),
    )
    for model, copy, acc in zip(models, copies, accuracies, strict=True):
        batches = torch.Generator().manual_seed(1)
        opt = torch.optim.SGD(copy.parameters(), lr=0.1, momentum=0.9)
        for _ in range(6):
            idx = torch.randint(0, 30, (8,), generator=batches)
            opt.zero_grad()
            F.cross_entropy(copy(x[idx]), y[idx]).backward()
            opt.step()
        for p, q in zip(model.parameters(), copy.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        assert acc == pytest.approx(float((copy(x).argmax(1) == y).float().mean()))


def test_g5_inits_preserve_the_signal_and_he_would_blow_maxout_up():
    # E[max(z1, z2)^2] = E[z^2]: with gain 1 a deep Maxout net keeps the second moment, as
    # ReLU does with He's gain √2; Maxout with He's gain doubles it at every layer
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 200, generator=gen)
    sizes = [200] + [200] * 6 + [10]
    with torch.no_grad():
        for act in ("maxout", "relu"):
            second_moment = float(activation_mlp(sizes, act, gen)[:-1](x).pow(2).mean())
            assert 0.3 < second_moment < 3, (act, second_moment)
        he = mlp(sizes, "maxout", init="kaiming_normal", init_kwargs={"generator": gen})
        assert float(he[:-1](x).pow(2).mean()) > 20


# -- verdict criteria --------------------------------------------------------------------------
def test_layer_speed_criterion_follows_the_numbers():
    nielsen = {2: [0.07, 0.31], 3: [0.012, 0.06, 0.283], 4: [0.003, 0.017, 0.07, 0.285]}
    assert layer_speed_criterion(nielsen) == (True, True, pytest.approx(95, rel=0.01))
    flat = {4: [0.1, 0.12, 0.2, 0.4]}  # rises, but only 4x
    assert layer_speed_criterion(flat)[0] is False
    bumpy = {4: [0.003, 0.02, 0.01, 0.3]}  # 100x but not monotone
    assert layer_speed_criterion(bumpy)[:2] == (False, False)
    assert layer_speed_criterion({2: [0.1, 0.5]})[0] is None  # depth 4 not measured


def test_depth_drop_separates_real_drops_from_noise():
    depths = (1, 2, 4)
    real = {1: [0.95, 0.96, 0.94], 2: [0.96, 0.97, 0.96], 4: [0.90, 0.91, 0.89]}
    best, drop, se, holds = depth_drop(depths, real)
    assert (best, holds) == (2, True) and drop == pytest.approx(0.0633, abs=1e-3)
    assert se == pytest.approx(math.sqrt((0.01**2 / 3 + 0.01**2) / 3), rel=1e-6)
    noisy = {1: [0.95, 0.90, 0.99], 2: [0.96, 0.90, 0.99], 4: [0.95, 0.88, 0.99]}
    assert depth_drop(depths, noisy)[3] is None
    rising = {1: [0.90, 0.91], 2: [0.92, 0.93], 4: [0.95, 0.96]}
    assert depth_drop(depths, rising)[:2] == (4, 0.0) and depth_drop(depths, rising)[3] is False


def test_accuracy_kept_tolerates_two_points_and_noise():
    assert accuracy_kept([0.93, 0.94], [0.925, 0.93]) is True
    assert accuracy_kept([0.93, 0.94, 0.935], [0.80, 0.81, 0.805]) is False
    assert accuracy_kept([0.93, 0.99], [0.80, 0.98]) is None  # 7 points down, but noisy


def test_spread_and_geometric_factor():
    assert speed_spread([0.1, 1.0, 0.5]) == pytest.approx(10.0)
    assert speed_spread([0.0, 1.0]) == math.inf
    assert math.isnan(speed_spread([float("nan"), 1.0]))
    x = np.arange(1, 7)
    assert geometric_factor(x, 3.0 * 2.0**x) == pytest.approx(2.0)
    assert geometric_factor(x, 3.0 * 0.5**x) == pytest.approx(0.5)
    assert math.isnan(geometric_factor([1, 2], [float("inf"), 1.0]))


def test_init_scale_checks_follow_the_numbers():
    scales = [0.25, 1.0, 64.0]
    ok = init_scale_checks(
        scales, {0.25: 1e-5, 1.0: 0.8, 64.0: 1e4}, {0.25: False, 1.0: True, 64.0: False}, [1.0]
    )
    assert ok == {"right_ok": True, "small_vanishes": True, "large_explodes": True}
    untrainable = init_scale_checks(
        scales,
        {0.25: 1e-5, 1.0: 0.8, 64.0: float("nan")},
        {0.25: False, 1.0: False, 64.0: False},
        [1.0],
    )
    assert untrainable == {"right_ok": False, "small_vanishes": True, "large_explodes": True}
    vanishing_right = init_scale_checks(
        scales, {0.25: 1e-9, 1.0: 1e-4, 64.0: 0.5}, dict.fromkeys(scales, True), [1.0]
    )
    assert vanishing_right == {"right_ok": False, "small_vanishes": True, "large_explodes": False}


def test_far_near_ratio_skips_the_steps_next_to_the_readout():
    distance = np.arange(50)[::-1]  # entry t is at distance 49 - t
    assert far_near_ratio(0.8**distance) == pytest.approx(0.8**44)  # from distance 5 to 49
    drop_then_flat = np.where(distance < 4, 10.0 ** -distance.astype(float), 1e-4)
    assert far_near_ratio(drop_then_flat) == pytest.approx(1.0)
    assert far_near_ratio(np.array([0.5, 1.0])) == 1.0  # T = 2: d0 = T - 1, nothing to compare
    underflow = np.concatenate([np.zeros(46), [1e-3, 1e-2, 1e-1, 1.0]])
    assert far_near_ratio(underflow) == 0.0  # zero at distance 49 and at distance 5: 0/0 → 0


def _runs(rnn_mse, lstm_mse, rnn_ratio, lstm_ratio):
    return {
        "rnn": {"mse": rnn_mse, "ratio_trained": rnn_ratio},
        "lstm": {"mse": lstm_mse, "ratio_trained": lstm_ratio},
    }


def test_recurrent_verdict_follows_the_numbers():
    kw = {
        "baselines": {50: 0.167, 100: 0.167},
        "solved_mse": 0.01,
        "at_baseline": 0.9,
        "vanished": 1e-2,
        "kept": 0.1,
    }
    good = {50: _runs(0.120, 0.004, 1e-3, 0.5), 100: _runs(0.168, 0.006, 1e-6, 0.3)}
    assert recurrent_verdict(good, **kw) == (True, [100])  # at 50 the RNN left the baseline
    rnn_learns = {50: _runs(0.05, 0.004, 1e-3, 0.5), 100: _runs(0.10, 0.006, 1e-6, 0.3)}
    assert recurrent_verdict(rnn_learns, **kw) == (None, [])
    lstm_fails = {50: _runs(0.168, 0.05, 1e-5, 0.5), 100: _runs(0.168, 0.16, 1e-6, 0.3)}
    assert recurrent_verdict(lstm_fails, **kw) == (False, [])
    lstm_gradient_vanishes = {50: _runs(0.168, 0.004, 1e-5, 1e-4)}
    assert recurrent_verdict(lstm_gradient_vanishes, **kw) == (False, [])


# -- data ---------------------------------------------------------------------------------------
def test_load_split_reads_mnist_folders_and_rejects_other_specs(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 12)):
        write_idx(
            tmp_path / f"{prefix}-images-idx3-ubyte",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(
            tmp_path / f"{prefix}-labels-idx1-ubyte",
            np.tile(np.arange(10, dtype=np.uint8), n // 10 + 1)[:n],
        )
    split = load_split(f"mnist:{tmp_path}")
    assert split.n_features == 784 and split.x_test.shape == (12, 784)
    assert split.x_train.shape[0] + split.x_val.shape[0] == 60
    assert load_split("digits").n_features == 64
    for bad in ("mnist", "cifar", "digits:x"):
        with pytest.raises(ValidationError, match="data must be 'digits' or 'mnist:DIR'"):
            load_split(bad)


def test_configs_are_checked_before_any_work(tmp_path):
    check_config(G2Config())
    for bad, message in (
        ({"seeds": 0}, "seeds must be an int in the range"),
        ({"momentum": 1.0}, "momentum must be in the range"),
        ({"lr": 0.0}, "lr must be in the range"),
        ({"depths": ()}, "depths must not be empty"),
        ({"depths": (1, 0)}, "depths item must be an int"),
    ):
        with pytest.raises(ValidationError, match=message):
            check_config(G2Config(**bad), fractions=("momentum",))
    result = run_experiment(
        "g5_activations", scale="tiny", out=tmp_path, overrides={"activations": "relu,sigmod"}
    )
    assert (
        result.status == "failed" and "unknown activation 'sigmod'; valid: sigmoid" in result.error
    )
