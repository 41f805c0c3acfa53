"""diagnose() fires on built vanishing and exploding nets and stays quiet on a healthy one."""

from __future__ import annotations

import math
import warnings

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
    assert finding.numbers["end_ratio"] < 1 / 100  # first hidden vs last hidden layer
    assert finding.numbers["factor_toward_input"] < 1
    assert 0.5 < finding.confidence <= 1
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
    assert "grew geometrically" in diagnosis[0].message


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


def _issue_example(x, y, width, seed, steps):
    """Issue 14's example: 20 ReLU layers, weights N(0, 8/n_in), zero biases, SGD lr 0.1."""
    torch.manual_seed(seed)
    model = mlp([64] + [width] * 20 + [10], activation="relu")
    init_(model, "gaussian", std=math.sqrt(8.0), fan_in_scaled=True)
    monitor = GradientMonitor(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor.watch_optimizer(opt)
    gen = torch.Generator().manual_seed(seed)
    diagnoses = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(1, steps + 1):
            idx = torch.randint(0, x.shape[0], (64,), generator=gen)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            monitor.record(loss=loss)
            opt.step()
            if step in (1, 5, steps):
                diagnoses[step] = monitor.diagnose()
    return monitor, diagnoses


@pytest.mark.parametrize(("width", "seed"), [(128, 0), (64, 1)])
def test_issue_example_u_shaped_net_is_exploding_never_vanishing(digits, width, seed):
    # Regression for issue 14: this net was reported as vanishing at 1, 5 and 50 steps.
    monitor, diagnoses = _issue_example(*digits, width, seed, steps=8)
    speeds = monitor.learning_speed(0)
    assert speeds["fc1"] > 1000 * speeds["fc20"]  # the first hidden layer learns faster
    for steps, diagnosis in diagnoses.items():
        kinds = _kinds(diagnosis)
        assert "exploding" in kinds and "vanishing" not in kinds, (steps, str(diagnosis))
        finding = next(f for f in diagnosis if f.kind == "exploding")
        assert finding.confidence == pytest.approx(1.0)
        assert finding.numbers["end_ratio"] > 100
        assert finding.numbers["grad_to_weight"] > 100
        assert finding.numbers["update_to_weight"] > 1
        assert "fc1" in finding.layers
    assert "nonfinite" in _kinds(diagnoses[5])  # the loss is NaN from step 2


def test_a_first_layer_faster_than_the_last_is_never_vanishing():
    # A hand-made U-shaped profile: huge speeds at both ends, a dip in the middle. The old
    # least-squares slope through it was slightly positive (vanishing); the rules now read the
    # ends, a robust trend and the absolute scale.
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(9)])
    monitor = GradientMonitor(model, activations=False)
    speeds = [8e4, 3e4, 1e3, 1e1, 1e0, 1e1, 1e3, 9e3, 1.2e5]
    for layer, speed in zip(model, speeds, strict=True):
        layer.weight.grad = torch.full_like(layer.weight, speed)
        layer.bias.grad = torch.full_like(layer.bias, speed / 2)  # ||b|| = speed
    monitor.record()
    diagnosis = monitor.diagnose()
    assert "vanishing" not in _kinds(diagnosis)
    assert _kinds(diagnosis) == ["exploding"], str(diagnosis)
    assert "times the weights" in diagnosis[0].message
    # the same profile at a small absolute scale is neither vanishing nor exploding
    for layer, speed in zip(model, speeds, strict=True):
        layer.weight.grad = torch.full_like(layer.weight, speed * 1e-7)
        layer.bias.grad = torch.full_like(layer.bias, speed * 1e-7 / 2)
    small = GradientMonitor(model, activations=False)
    small.record()
    assert small.diagnose() == [], str(small.diagnose())


def test_theil_sen_ignores_one_outlying_layer():
    from nndl.diagnostics.findings import theil_sen

    values = [0.0, 1.0, 2.0, 3.0, 4.0, -40.0, 6.0]  # one dead layer in a rising profile
    slope, agreement = theil_sen(values)
    assert slope == pytest.approx(1.0)
    assert 0.6 < agreement < 1.0
    # least squares through the same points is pulled far down by the outlier
    n = len(values)
    mean = sum(values) / n
    ls = sum((i - (n - 1) / 2) * (v - mean) for i, v in enumerate(values)) / sum(
        (i - (n - 1) / 2) ** 2 for i in range(n)
    )
    assert ls < 0


def test_weak_signals_carry_a_lower_confidence():
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(5)])
    monitor = GradientMonitor(model, activations=False)
    for speeds in (
        [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
        [1e-4, 1e-2, 1e-3, 1e-1, 1.0],
        [1e-1, 1e-2, 1e-3, 1e-4, 1.0],
    ):
        for layer, speed in zip(model, speeds, strict=True):
            layer.weight.grad = torch.full_like(layer.weight, speed)
            layer.bias.grad = torch.full_like(layer.bias, speed / 2)
        monitor.record()
    diagnosis = monitor.diagnose()
    # two of three steps vanish (one with a layer out of order), the third explodes
    assert _kinds(diagnosis) == ["vanishing"], str(diagnosis)
    assert diagnosis[0].confidence < 0.75
    assert "weak signal" in diagnosis[0].message


def test_loss_growth_and_nonfinite_loss_are_read():
    model = nn.Linear(3, 1)
    monitor = GradientMonitor(model, activations=False)
    for loss in (1.0, 3.0, 2.0, 40.0, 900.0, float("inf")):
        model.weight.grad = torch.ones_like(model.weight) * 0.1
        model.bias.grad = torch.ones_like(model.bias) * 0.1
        monitor.record(loss=torch.tensor(loss))
    diagnosis = monitor.diagnose()
    assert _kinds(diagnosis) == ["exploding", "nonfinite"], str(diagnosis)
    assert diagnosis[0].numbers["loss_growth"] > 10
    assert "the loss is inf" in diagnosis[1].message
    with pytest.raises(TypeError, match="loss must be a number or a one-element tensor"):
        monitor.record(loss=torch.ones(2))
    with pytest.raises(TypeError, match="loss must be"):
        monitor.record(loss="1.0")


# -- the labelled zoo (benchmarks/gradient_zoo.py): a fast subset as regression tests ---------
_ZOO_SUBSET = (
    "mlp sigmoid ×6, Nielsen init",
    "mlp relu ×10, init 0.5×He",
    "mlp relu ×20 w64, N(0, 8/n)",
    "mlp tanh, diverging lr (MSE)",
    "rnn relu, recurrent 1.5×orthogonal, T=60",
    "rnn tanh, recurrent 3×orthogonal, T=60",
    "mlp relu, biases −3",
    "mlp relu, lr too high",
    "mlp tanh, N(0, 1) weights",
    "mlp sigmoid, shallow",
    "mlp relu ×6 + BatchNorm",
    "cnn relu + BatchNorm",
    "lstm, T=30",
)


@pytest.mark.parametrize("name", _ZOO_SUBSET)
def test_zoo_subset_is_labelled_right(name):
    from nndl.diagnostics.zoo import ZOO, run_zoo_case

    run = next(r for r in ZOO if r.name == name)
    case = run_zoo_case(run, seed=1, steps=(1, 5, 12))
    for steps in (5, 12):
        assert case.right(steps), (steps, case.messages[steps])
    if run.label == "exploding":
        assert all("vanishing" not in kinds for kinds in case.kinds.values())
    if run.label == "healthy":
        assert all(not kinds for kinds in case.kinds.values()), case.messages


def test_zoo_covers_the_issue():
    from nndl.diagnostics.zoo import ARCHITECTURES, LABELS, ZOO

    assert len(ZOO) >= 24
    assert {r.arch for r in ZOO} == set(ARCHITECTURES)
    assert {r.label for r in ZOO} == set(LABELS)
    assert len({r.name for r in ZOO}) == len(ZOO)
    healthy = {r.arch for r in ZOO if r.label == "healthy"}
    assert {"mlp", "cnn", "resnet", "rnn", "lstm", "transformer"} <= healthy
