"""The monitor on models it has never seen; hooks gone after detach."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from nndl.diagnostics import GradientMonitor
from nndl.nn import SequenceModel, cnn, mlp


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def _assert_matches_grads(monitor: GradientMonitor, model: nn.Module) -> None:
    rows = {r["parameter"]: r for r in monitor.history if r["kind"] == "parameter"}
    for name, p in model.named_parameters():
        if p.grad is None:
            assert rows[name]["grad_norm"] is None, name
        else:
            assert rows[name]["grad_norm"] == pytest.approx(float(p.grad.norm()), rel=1e-5), name


def _hook_state(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, object]:
    """Every hook dictionary of every module, parameter and the optimiser (and the global
    module hooks), with requires_grad and the training flags: what a monitor may touch."""
    from torch.nn.modules import module as module_mod
    from torch.optim import optimizer as optimizer_mod

    state: dict[str, object] = {}
    for name, m in model.named_modules():
        for attr, value in vars(m).items():
            if "hook" in attr and isinstance(value, dict):
                state[f"{name}.{attr}"] = sorted(value)
        state[f"{name}.training"] = m.training
    for name, p in model.named_parameters():
        state[f"{name}.requires_grad"] = p.requires_grad
        state[f"{name}._backward_hooks"] = sorted(p._backward_hooks or {})
        state[f"{name}._post_accumulate_grad_hooks"] = sorted(
            getattr(p, "_post_accumulate_grad_hooks", None) or {}
        )
    for attr, value in vars(opt).items():
        if "hook" in attr and isinstance(value, dict):
            state[f"optimizer.{attr}"] = sorted(value)
    for attr, value in vars(module_mod).items():
        if attr.startswith("_global") and isinstance(value, dict):
            state[f"global.{attr}"] = sorted(value)
    for attr, value in vars(optimizer_mod).items():
        if attr.startswith("_global") and isinstance(value, dict):
            state[f"global.optim.{attr}"] = sorted(value)
    return state


@pytest.mark.parametrize("train_mode", [True, False])
def test_detach_leaves_the_model_as_it_was(train_mode):
    # Attach, train recorded steps (activations sampled, update ratios measured), detach:
    # every hook dictionary, requires_grad and training flag is as it was before attach.
    torch.manual_seed(0)
    model = mlp([4, 6, 3], activation="relu", batchnorm=True)
    model.fc1.weight.requires_grad_(False)  # a frozen parameter stays frozen
    model.train(train_mode)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = _hook_state(model, opt)
    monitor = GradientMonitor(model, every=2).watch_optimizer(opt)
    assert _hook_count(model) > 0
    assert opt._optimizer_step_pre_hooks and opt._optimizer_step_post_hooks
    assert _hook_state(model, opt) != before
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        monitor.record()
        opt.step()
    assert monitor.steps == [0, 2]
    assert monitor.records[0].activations and monitor.records[0].update_ratios is not None
    # the next step (3) is not recorded, step 4 is: arm the hooks and detach mid-way
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    monitor.record()
    assert _hook_count(model) > 0
    monitor.detach()
    assert _hook_state(model, opt) == before
    assert _hook_count(model) == 0
    assert model.training is train_mode
    assert not model.fc1.weight.requires_grad
    assert not monitor.attached
    # a re-attached monitor records again, and detaches as cleanly
    monitor.attach()
    nn.functional.cross_entropy(model(x), y).backward()
    monitor.record()
    monitor.detach()
    assert _hook_state(model, opt) == before


def test_context_manager_attaches_and_detaches():
    model = mlp([4, 6, 3], activation="sigmoid")
    with GradientMonitor(model, attach=False) as monitor:
        assert monitor.attached and _hook_count(model) > 0
        nn.functional.cross_entropy(
            model(torch.randn(5, 4)), torch.tensor([0, 1, 2, 0, 1])
        ).backward()
        monitor.record()
    assert _hook_count(model) == 0
    assert monitor.history  # data are kept
    assert any(r["kind"] == "activation" for r in monitor.history)


def test_cnn():
    model = cnn(1, 10, 8, channels=(4, 8), batchnorm=True)
    monitor = GradientMonitor(model)
    x, y = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    nn.functional.cross_entropy(model(x), y).backward()
    monitor.record()
    _assert_matches_grads(monitor, model)
    assert monitor.layers == ["conv1", "bn1", "conv2", "bn2", "out"]
    dead = {r["layer"]: r["dead_fraction"] for r in monitor.history if r["kind"] == "activation"}
    assert set(dead) >= {"act1", "act2"} and 0 <= dead["act1"] <= 1


def test_lstm_module_and_unrolled_sequence_model():
    lstm = nn.LSTM(3, 5, batch_first=True)
    monitor = GradientMonitor(lstm)
    out, _ = lstm(torch.randn(2, 7, 3))
    out.sum().backward()
    monitor.record()
    _assert_matches_grads(monitor, lstm)
    assert monitor.layers == ["(model)"]
    # the first bias-like parameter defines the speed
    assert monitor.learning_speed()["(model)"] == pytest.approx(float(lstm.bias_ih_l0.grad.norm()))

    model = SequenceModel(3, 5, 1, cell="lstm")
    seq_monitor = GradientMonitor(model)
    model(torch.randn(2, 7, 3)).sum().backward()
    seq_monitor.record()
    _assert_matches_grads(seq_monitor, model)
    assert seq_monitor.layers == ["cell", "head"]


def test_transformer_encoder_layer():
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32, batch_first=True)
    monitor = GradientMonitor(layer)
    layer(torch.randn(3, 5, 16)).square().mean().backward()
    monitor.record()
    _assert_matches_grads(monitor, layer)
    assert monitor.layers == [
        "self_attn",
        "self_attn.out_proj",
        "linear1",
        "linear2",
        "norm1",
        "norm2",
    ]
    speeds = monitor.learning_speed()
    assert speeds["self_attn"] == pytest.approx(float(layer.self_attn.in_proj_bias.grad.norm()))
    monitor.detach()
    assert _hook_count(layer) == 0


def test_model_without_parameters():
    model = nn.Sequential(nn.Flatten(), nn.ReLU())
    monitor = GradientMonitor(model)
    model(torch.ones(2, 3, requires_grad=True)).sum().backward()
    assert monitor.record()
    assert monitor.learning_speed() == {}
    diagnosis = monitor.diagnose()
    assert diagnosis == [] and diagnosis.judged
    assert monitor.layers == []
    empty = GradientMonitor(nn.Identity())
    assert "no trainable parameters" in empty.diagnose().note
    assert "no trainable parameters" in empty.summary().caption
    empty.plot()


def test_torch_compiled_model_reads_gradients_after_backward():
    # aot_eager compiles forward and backward graphs without a C++ toolchain, keeping the test
    # cheap on CPU; the monitor never hooks the compiled internals.
    model = mlp([6, 8, 3], activation="relu")
    compiled = torch.compile(model, backend="aot_eager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        monitor = GradientMonitor(compiled)
        assert monitor.compiled and not monitor.activations
        assert monitor.parameter_names == ["fc1.weight", "fc1.bias", "out.weight", "out.bias"]
        nn.functional.cross_entropy(
            compiled(torch.randn(4, 6)), torch.tensor([0, 1, 2, 0])
        ).backward()
        monitor.record()
    _assert_matches_grads(monitor, model)
    assert _hook_count(model) == 0
