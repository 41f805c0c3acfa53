"""The monitor's numbers equal a hand computation from param.grad and the module outputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.diagnostics import HISTORY_FIELDS, GradientMonitor
from nndl.nn import SequenceModel, mlp


def _backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()


def _param_rows(monitor: GradientMonitor, step: int) -> dict[str, dict]:
    return {
        r["parameter"]: r for r in monitor.history if r["kind"] == "parameter" and r["step"] == step
    }


def test_grad_norms_and_learning_speed_equal_hand_computation():
    model = mlp([6, 5, 4, 3], activation="sigmoid")
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    monitor = GradientMonitor(model, activations=False)
    _backward(model, x, y)
    assert monitor.record()
    rows = _param_rows(monitor, 0)
    assert list(rows) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert rows[name]["grad_norm"] == pytest.approx(float(p.grad.norm()), rel=1e-6)
        assert rows[name]["nonfinite"] == 0
        assert set(rows[name]) == set(HISTORY_FIELDS)
    speeds = monitor.learning_speed()
    assert list(speeds) == ["fc1", "fc2", "out"]
    for layer in speeds:
        bias = getattr(model, layer).bias
        assert speeds[layer] == pytest.approx(float(bias.grad.norm()), rel=1e-6)
    # the speed sits on the bias row, named by its measure
    assert rows["fc1.bias"]["learning_speed"] == speeds["fc1"]
    assert rows["fc1.bias"]["speed_measure"] == "||dC/db||"
    assert rows["fc1.weight"]["learning_speed"] is None


def test_layer_without_bias_uses_weight_norm_over_sqrt_fan_in():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.Flatten(), nn.Linear(12, 2))
    monitor = GradientMonitor(model)
    model(torch.randn(4, 2, 4, 4)).square().mean().backward()
    monitor.record()
    fan_in = 2 * 3 * 3
    expected = float(model[0].weight.grad.norm()) / math.sqrt(fan_in)
    assert monitor.learning_speed()["0"] == pytest.approx(expected, rel=1e-6)
    assert monitor.speed_measures() == {"0": "||dC/dW||/sqrt(fan_in)", "2": "||dC/db||"}


def test_nonfinite_values_are_counted_exactly():
    model = mlp([4, 3, 2], activation="relu")
    monitor = GradientMonitor(model)
    _backward(model, torch.randn(8, 4), torch.randint(0, 2, (8,)))
    model.fc1.weight.grad[0, :3] = float("nan")
    model.out.bias.grad[1] = float("inf")
    monitor.record()
    rows = _param_rows(monitor, 0)
    assert rows["fc1.weight"]["nonfinite"] == 3
    assert rows["out.bias"]["nonfinite"] == 1
    assert rows["fc1.bias"]["nonfinite"] == 0
    assert math.isnan(rows["fc1.weight"]["grad_norm"])
    assert math.isinf(monitor.learning_speed()["out"])


def test_norm_overflow_without_nonfinite_values_is_recomputed():
    layer = nn.Linear(2, 2, bias=False).half()
    monitor = GradientMonitor(layer)
    layer.weight.grad = torch.full((2, 2), 60000.0, dtype=torch.float16)  # norm 120000 > fp16 max
    monitor.record()
    row = monitor.history[0]
    assert row["nonfinite"] == 0
    assert row["grad_norm"] == pytest.approx(120000.0)


def test_update_ratio_equals_step_over_weight_norm():
    model = mlp([5, 4, 3], activation="tanh")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = GradientMonitor(model).watch_optimizer(opt)
    _backward(model, torch.randn(10, 5), torch.randint(0, 3, (10,)))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    monitor.record()
    opt.step()
    rows = _param_rows(monitor, 0)
    for name in before:
        expected = 0.1 * float(grads[name].norm()) / float(before[name].norm())
        assert rows[name]["update_ratio"] == pytest.approx(expected, rel=1e-5)
        assert rows[name]["weight_norm"] == pytest.approx(float(before[name].norm()), rel=1e-6)


def test_every_records_one_step_in_every():
    model = mlp([3, 4, 2])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = GradientMonitor(model, every=3).watch_optimizer(opt)
    recorded = []
    for _ in range(8):
        _backward(model, torch.randn(4, 3), torch.randint(0, 2, (4,)))
        recorded.append(monitor.record())
        opt.step()
    assert recorded == [True, False, False, True, False, False, True, False]
    assert monitor.steps == [0, 3, 6]
    assert all(r.update_ratios is not None for r in monitor.records)
    assert monitor.learning_speed(3) == monitor.learning_speed(-2)
    with pytest.raises(ValidationError, match=r"step 4 was not recorded \(every=3\)"):
        monitor.learning_speed(4)


def test_activation_hooks_are_installed_only_for_recorded_steps():
    model = mlp([3, 4, 2], activation="relu")
    monitor = GradientMonitor(model, every=2)
    assert len(model.act1._forward_hooks) == 1  # step 0 is recorded: armed
    _backward(model, torch.randn(4, 3), torch.randint(0, 2, (4,)))
    monitor.record()
    assert len(model.act1._forward_hooks) == 0  # step 1 is not
    _backward(model, torch.randn(4, 3), torch.randint(0, 2, (4,)))
    monitor.record()
    assert len(model.act1._forward_hooks) == 1  # step 2 is


def test_watch_patterns_select_parameters():
    model = mlp([3, 4, 4, 2])
    monitor = GradientMonitor(model, watch=["fc1.*", "out.bias"])
    assert monitor.parameter_names == ["fc1.weight", "fc1.bias", "out.bias"]
    assert monitor.layers == ["fc1", "out"]
    with pytest.raises(ValidationError, match=r"match no trainable parameter; parameters: fc1"):
        GradientMonitor(model, watch="fc9*")


def test_activation_statistics_match_the_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 40), nn.Sigmoid(), nn.Linear(40, 30), nn.ReLU())
    with torch.no_grad():
        model[0].weight.mul_(6.0)  # push some sigmoid units into their flat tails
        model[2].bias[:10] = -100.0  # ten ReLU units dead for every input
    x = torch.randn(32, 5)
    monitor = GradientMonitor(model)
    model(x).sum().backward()
    monitor.record()
    stats = {r["layer"]: r for r in monitor.history if r["kind"] == "activation"}
    with torch.no_grad():
        s = model[1](model[0](x))
        r = model[3](model[2](s))
    derivative = s * (1 - s)
    assert stats["1"]["saturated_fraction"] == pytest.approx(
        float((derivative < 0.0025).float().mean()), abs=1e-6
    )
    assert 0 < stats["1"]["saturated_fraction"] < 1
    assert stats["3"]["dead_fraction"] == pytest.approx(float((r.sum(0) == 0).float().mean()))
    assert stats["3"]["dead_fraction"] >= 10 / 30
    assert stats["1"]["act_mean"] == pytest.approx(float(s.mean()), rel=1e-5)
    assert stats["1"]["act_std"] == pytest.approx(float(s.std(unbiased=False)), rel=1e-4)
    assert stats["0"]["module_type"] == "Linear"  # layers get mean and std of their output
    assert stats["0"]["dead_fraction"] is None and stats["0"]["saturated_fraction"] is None


def test_repeated_calls_in_one_step_are_pooled():
    model = SequenceModel(2, 6, 1)
    model.add_module("squash", nn.Tanh())
    x = torch.randn(3, 5, 2)
    monitor = GradientMonitor(model, watch=["cell.*", "squash"])
    outs = []
    h = torch.zeros(3, 6)
    for t in range(5):  # call the tanh module once per time step
        h = model.squash(model.cell(x[:, t], h))
        outs.append(h.detach())
    h.sum().backward()
    monitor.record()
    stats = next(r for r in monitor.history if r["layer"] == "squash")
    pooled = torch.cat(outs)
    assert stats["act_mean"] == pytest.approx(float(pooled.mean()), rel=1e-5)
    assert stats["act_std"] == pytest.approx(float(pooled.std(unbiased=False)), rel=1e-4)


def test_evaluation_forwards_under_no_grad_are_ignored():
    model = mlp([3, 4, 2], activation="relu")
    monitor = GradientMonitor(model)
    with torch.no_grad():
        model(torch.full((4, 3), 1e6))
    assert not monitor._buffer


def test_default_schedule_samples_activations_and_weight_norms_sparsely():
    model = mlp([3, 4, 2], activation="relu")
    monitor = GradientMonitor(model)  # defaults: every step, activation_every=64
    sampled = [k for k in range(200) if monitor.samples_activations(k)]
    assert sampled == [0, 1, 2, 4, 8, 16, 32, 64, 128, 192]
    x, y = torch.randn(4, 3), torch.randint(0, 2, (4,))
    armed = []
    for _ in range(10):
        armed.append(len(model.act1._forward_hooks))
        _backward(model, x, y)
        monitor.record()
    # hooks are installed only for the forward passes of sampled records
    assert armed == [1, 1, 1, 0, 1, 0, 0, 0, 1, 0]
    with_acts = [r.step for r in monitor.records if r.activations]
    with_weights = [r.step for r in monitor.records if r.weight_norms is not None]
    assert with_acts == with_weights == [0, 1, 2, 4, 8]
    rows = _param_rows(monitor, 4)
    assert rows["fc1.weight"]["weight_norm"] == pytest.approx(
        float(model.fc1.weight.detach().norm())
    )
    assert _param_rows(monitor, 3)["fc1.weight"]["weight_norm"] is None
    every = GradientMonitor(mlp([3, 4, 2]), activation_every=1)
    assert all(every.samples_activations(k) for k in range(20))
    with pytest.raises(ValidationError, match="activation_every"):
        GradientMonitor(model, activation_every=0)
