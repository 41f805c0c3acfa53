"""diagnose() fires on built vanishing and exploding nets and stays quiet on a healthy one."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nndl.data import load_digits_split
from nndl.diagnostics import FINDING_KINDS, REMEDIES, GradientMonitor
from nndl.nn import SequenceModel, init_, mlp


@pytest.fixture(scope="module")
def digits():
    split = load_digits_split(seed=0)
    return split.x_train.float(), split.y_train.long()


def _train(model, x, y, *, steps, lr, monitor_kwargs=None, batch=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    monitor = GradientMonitor(model, **(monitor_kwargs or {}))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    monitor.watch_optimizer(opt)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        monitor.record()
        opt.step()
    return monitor


def _kinds(diagnosis):
    return [f.kind for f in diagnosis]


def test_healthy_relu_batchnorm_net_gets_no_finding(digits):
    # torchmortem flags this kind of net as "dead" and its logits as "saturated" (ANCHORS.md)
    torch.manual_seed(0)
    model = mlp([64, 128, 128, 128, 10], activation="relu", batchnorm=True)
    monitor = _train(model, *digits, steps=40, lr=0.1)
    diagnosis = monitor.diagnose()
    assert diagnosis == [], str(diagnosis)
    assert diagnosis.judged and "no problem found" in diagnosis.note


def test_deep_sigmoid_net_vanishes(digits):
    torch.manual_seed(0)
    model = mlp([64, 30, 30, 30, 30, 30, 30, 10], activation="sigmoid")
    init_(model, "gaussian", fan_in_scaled=True, bias_std=1.0)  # Nielsen's initialisation
    monitor = _train(model, *digits, steps=10, lr=0.1)
    diagnosis = monitor.diagnose()
    assert _kinds(diagnosis) == ["vanishing"], str(diagnosis)
    finding = diagnosis[0]
    speeds = monitor.learning_speed()
    assert finding.layers[0] == "fc1"
    assert speeds["fc1"] < speeds["fc6"] / 100
    assert finding.numbers["spread"] > 100
    assert finding.remedies == REMEDIES["vanishing"]
    text = " ".join(finding.remedies)
    assert all(word in text for word in ("ReLU", "BatchNorm", "Xavier", "He/Kaiming", "residual"))


def _exploding_net() -> nn.Module:
    torch.manual_seed(0)
    model = mlp([64] + [64] * 8 + [10], activation="relu")
    return init_(model, "kaiming_normal", std=3.0)  # three times He's scale per layer


def test_large_initialisation_explodes_toward_the_input(digits):
    x, y = digits
    model = _exploding_net()
    monitor = GradientMonitor(model)
    nn.functional.cross_entropy(model(x[:64]), y[:64]).backward()
    monitor.record()
    diagnosis = monitor.diagnose()
    # (deep ReLU nets also map the batch onto few directions, so some units may be dead)
    assert _kinds(diagnosis)[0] == "exploding", str(diagnosis)
    assert "vanishing" not in _kinds(diagnosis)
    speeds = monitor.learning_speed()
    assert speeds["fc1"] > 100 * speeds["out"]
    assert "fc1" in diagnosis[0].layers
    assert diagnosis[0].numbers["factor_toward_input"] > 1
    assert any("Clip" in r for r in diagnosis[0].remedies)


def test_training_the_exploding_net_overflows(digits):
    monitor = _train(_exploding_net(), *digits, steps=6, lr=0.1)
    kinds = _kinds(monitor.diagnose())
    assert "nonfinite" in kinds and "exploding" in kinds and "vanishing" not in kinds
    finding = next(f for f in monitor.diagnose() if f.kind == "nonfinite")
    assert finding.numbers["values"] > 0 and "fc1" in finding.layers
    # summary and plot do not crash on NaN
    monitor.summary()
    monitor.plot()


def test_geometric_growth_over_steps():
    # Gradient descent on a quadratic with a step beyond 2/λ_max diverges geometrically.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen)
    y = x @ torch.randn(8, 1, generator=gen)
    model = nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.5)
    monitor = GradientMonitor(model, every=2)
    for _ in range(24):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        monitor.record()
        opt.step()
    diagnosis = monitor.diagnose()
    assert _kinds(diagnosis) == ["exploding"], str(diagnosis)
    assert diagnosis[0].numbers["growth"] > 1e3
    assert diagnosis[0].numbers["rising_share"] == 1.0


def test_saturation_only_for_sigmoid_and_tanh(digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp([64, 50, 50, 10], activation="sigmoid")
    init_(model, "gaussian", std=3.0)  # |z| of tens: flat tails
    monitor = GradientMonitor(model)
    nn.functional.cross_entropy(model(x[:64]), y[:64]).backward()
    monitor.record()
    saturation = [f for f in monitor.diagnose() if f.kind == "saturation"]
    assert len(saturation) == 1 and set(saturation[0].layers) == {"act1", "act2"}
    assert saturation[0].numbers["saturated_fraction[act1]"] > 0.25
    # logits and ReLU outputs are large too, but never counted as saturated
    relu = mlp([64, 50, 10], activation="relu")
    init_(relu, "gaussian", std=3.0)
    relu_monitor = GradientMonitor(relu)
    nn.functional.cross_entropy(relu(x[:64]), y[:64]).backward()
    relu_monitor.record()
    assert "saturation" not in _kinds(relu_monitor.diagnose())


def test_dead_units_are_units_zero_for_the_whole_batch(digits):
    x, y = digits
    torch.manual_seed(0)
    model = mlp([64, 40, 10], activation="relu")
    with torch.no_grad():
        model.fc1.bias[:20] = -1e3  # half of the units never fire
    monitor = GradientMonitor(model)
    nn.functional.cross_entropy(model(x[:64]), y[:64]).backward()
    monitor.record()
    dead = [f for f in monitor.diagnose() if f.kind == "dead_units"]
    assert len(dead) == 1 and dead[0].layers == ("act1",)
    assert dead[0].numbers["dead_fraction[act1]"] >= 0.5


def test_recurrent_models_get_the_lstm_remedy():
    torch.manual_seed(0)
    model = nn.Sequential()
    rnn = SequenceModel(1, 4, 1)
    deep = mlp([1, 8, 8, 8, 8, 8, 1], activation="sigmoid")
    init_(deep, "gaussian", fan_in_scaled=True, bias_std=1.0)
    model.add_module("rnn", rnn)
    model.add_module("deep", deep)
    monitor = GradientMonitor(model)
    x = torch.randn(16, 3, 1)
    deep(rnn(x)).square().mean().backward()
    monitor.record()
    findings = monitor.diagnose()
    assert any("LSTM" in r for f in findings for r in f.remedies)


def test_before_any_backward_is_a_clear_answer():
    model = mlp([3, 4, 2])
    monitor = GradientMonitor(model)
    with pytest.warns(UserWarning, match="no step was recorded"):
        diagnosis = monitor.diagnose()
    assert diagnosis == [] and not diagnosis.judged
    assert "call monitor.record() after loss.backward()" in diagnosis.note
    monitor.record()  # called before any backward: every param.grad is None
    with pytest.warns(UserWarning, match="was record\\(\\) called before loss.backward"):
        assert not monitor.diagnose().judged
    monitor.summary()
    monitor.plot()


def test_nan_gradients_are_a_finding_not_a_crash():
    model = mlp([3, 4, 2], activation="tanh")
    monitor = GradientMonitor(model)
    out = model(torch.full((4, 3), float("nan")))
    out.sum().backward()
    monitor.record()
    diagnosis = monitor.diagnose()
    assert _kinds(diagnosis) == ["nonfinite"]
    assert "no finite step was recorded before it" in diagnosis[0].message
    assert any("NaN/Inf" in r for r in diagnosis[0].remedies)
    assert math.isnan(monitor.learning_speed()["fc1"])


def test_finding_kinds_and_thresholds_are_validated():
    assert set(REMEDIES) == set(FINDING_KINDS)
    monitor = GradientMonitor(mlp([2, 2]))
    with pytest.raises(ValueError, match="ratio must be in the range"):
        monitor.diagnose(ratio=0.5)
