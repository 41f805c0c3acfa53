"""The Trainer's pluggable step: several optimisers, full batch, per-value history, checkpoints
of every optimiser, resume, the non-finite stop and the shared callbacks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nndl import ValidationError
from nndl.train import (
    Callback,
    CheckpointError,
    LambdaCallback,
    NonFiniteLossError,
    Trainer,
    load_checkpoint,
    supervised_loss,
)


class TwoPlayers(nn.Module):
    """Two linear maps trained on different losses by different optimisers."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 1)
        self.b = nn.Linear(3, 1)


def _data(n: int = 24):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3


def _step(trainer: Trainer, batch):
    x, t = batch
    model = trainer.module
    loss_a = F.mse_loss(model.a(x).squeeze(1), t)
    trainer.optimize(loss_a, "a")
    loss_b = F.mse_loss(model.b(x).squeeze(1), -t)
    trainer.optimize(loss_b, "b")
    return {"loss_a": loss_a, "loss_b": loss_b, "pair": torch.stack([loss_a, loss_b])}


def _two_player_trainer(tmp_path=None, epochs=3, **kw):
    torch.manual_seed(0)
    model = TwoPlayers()
    return Trainer(
        model,
        optimizers={
            "a": torch.optim.Adam(model.a.parameters(), lr=0.05),
            "b": torch.optim.SGD(model.b.parameters(), lr=0.05, momentum=0.9),
        },
        step=_step,
        epochs=epochs,
        batch_size=8,
        seed=2,
        checkpoint_dir=tmp_path,
        progress=False,
        **kw,
    )


def test_step_with_two_optimisers_matches_a_plain_loop():
    x, t = _data()
    trainer = _two_player_trainer(shuffle=False)
    history = trainer.fit((x, t))
    torch.manual_seed(0)
    ref = TwoPlayers()
    opt_a = torch.optim.Adam(ref.a.parameters(), lr=0.05)
    opt_b = torch.optim.SGD(ref.b.parameters(), lr=0.05, momentum=0.9)
    sums = torch.zeros(2, dtype=torch.float64)
    for _ in range(3):
        sums.zero_()
        for start in range(0, 24, 8):
            xb, tb = x[start : start + 8], t[start : start + 8]
            for net, opt, target, k in ((ref.a, opt_a, tb, 0), (ref.b, opt_b, -tb, 1)):
                loss = F.mse_loss(net(xb).squeeze(1), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sums[k] += float(loss.detach()) * 8
    for p, q in zip(trainer.module.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert trainer.step == 9
    last = history[-1]
    assert last["loss_a"] == pytest.approx(float(sums[0]) / 24)
    assert last["loss_b"] == pytest.approx(float(sums[1]) / 24)
    assert last["pair"] == pytest.approx([last["loss_a"], last["loss_b"]])  # tensors -> lists


def test_full_batch_is_gradient_descent_on_all_data():
    x, t = _data()
    torch.manual_seed(1)
    model = nn.Linear(3, 1)
    ref = nn.Linear(3, 1)
    ref.load_state_dict(model.state_dict())

    def loss_fn(m, batch):
        assert batch[0].shape[0] == 24  # every step sees the whole data set
        return F.mse_loss(m(batch[0]).squeeze(1), batch[1])

    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn,
        epochs=5,
        batch_size=None,
        progress=False,
    )
    trainer.fit((x, t))
    assert trainer.step == 5 and trainer.steps_per_epoch == 1
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        F.mse_loss(ref(x).squeeze(1), t).backward()
        opt.step()
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_resume_with_two_optimisers_equals_uninterrupted(tmp_path):
    x, t = _data()
    full = _two_player_trainer(tmp_path / "full", epochs=4)
    full.fit((x, t))
    first = _two_player_trainer(tmp_path / "part", epochs=2)
    first.fit((x, t))
    second = _two_player_trainer(tmp_path / "part", epochs=4)
    second.fit((x, t), resume=True)
    for p, q in zip(full.module.parameters(), second.module.parameters(), strict=True):
        assert torch.equal(p, q)
    assert second.history == full.history
    tensors, meta = load_checkpoint(tmp_path / "part" / "checkpoint.safetensors")
    assert set(meta["optimizers"]) == {"a", "b"}
    assert any(k.startswith("optim.a.state.") for k in tensors)
    assert any(k.startswith("optim.b.state.") for k in tensors)


def test_checkpoint_meta_guards_resume(tmp_path):
    x, t = _data()
    _two_player_trainer(tmp_path, epochs=1, checkpoint_meta={"config": {"width": 1}}).fit((x, t))
    other = _two_player_trainer(tmp_path, epochs=2, checkpoint_meta={"config": {"width": 2}})
    with pytest.raises(CheckpointError, match="belongs to another model"):
        other.fit((x, t), resume=True)


def test_non_finite_loss_names_the_optimiser():
    x, t = _data()
    t = t.clone()
    t[5] = math.inf
    trainer = _two_player_trainer(epochs=1, shuffle=False)
    with pytest.raises(NonFiniteLossError, match=r"a loss became inf at epoch 1, step 1"):
        trainer.fit((x, t))


def test_hooks_order_active_optimizer_and_checkpoint_hook(tmp_path):
    x, t = _data(16)
    events = []

    class Recorder(Callback):
        def on_step_start(self, trainer):
            events.append("start")

        def on_after_backward(self, trainer):
            events.append(f"backward {trainer.active_optimizer}")

        def on_checkpoint(self, trainer, path):
            events.append(f"checkpoint {path.name}")

    _two_player_trainer(tmp_path, epochs=1, callbacks=[Recorder()]).fit((x, t))
    assert events == ["start", "backward a", "backward b"] * 2 + [
        "checkpoint checkpoint.safetensors"
    ]
    epochs = []
    hook = LambdaCallback(on_epoch_start=lambda trainer, epoch: epochs.append(epoch))
    _two_player_trainer(epochs=2, callbacks=[hook]).fit((x, t))
    assert epochs == [0, 1]
    with pytest.raises(ValidationError, match="hooks must be among"):
        LambdaCallback(on_batch=lambda trainer: None)


def test_bad_settings():
    model = TwoPlayers()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValidationError, match="exactly one of optimizer= and optimizers="):
        Trainer(model, opt, supervised_loss(), optimizers={"a": opt}, epochs=1, batch_size=4)
    with pytest.raises(ValidationError, match="need a step function"):
        Trainer(
            model,
            loss_fn=supervised_loss(),
            optimizers={"a": opt, "b": opt},
            epochs=1,
            batch_size=4,
        )
    with pytest.raises(ValidationError, match="loss_fn"):
        Trainer(model, opt, epochs=1, batch_size=4)
    with pytest.raises(ValidationError, match="not a submodule"):
        Trainer(model, opt, supervised_loss(), epochs=1, batch_size=4, distributed_modules=("c",))
    trainer = _two_player_trainer()
    with pytest.raises(ValidationError, match="use trainer.optimizers"):
        _ = trainer.optimizer
    with pytest.raises(ValidationError, match="optimizer must be one of a, b"):
        trainer.optimize(torch.tensor(1.0, requires_grad=True), "c")
    assert trainer.parallel("a") is trainer.module.a  # no DDP: the plain submodule


def test_max_steps_ends_the_run_mid_epoch(tmp_path):
    x, t = _data()
    trainer = _two_player_trainer(tmp_path, epochs=10, max_steps=4)
    history = trainer.fit((x, t))
    assert trainer.step == 4 and trainer.total_steps == 4
    assert [h["epoch"] for h in history] == [1, 2]  # 3 steps, then 1 of the second epoch
    _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert meta["step"] == 4 and meta["epoch"] == 2
