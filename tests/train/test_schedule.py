"""CosineSchedule: the cosine formula, per step and per epoch, and exact after a resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.train import Callback, CosineSchedule, Trainer, cosine_factor, supervised_loss


class LrRecorder(Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_after_backward(self, trainer: Trainer) -> None:  # the rate the update will use
        self.lrs.append(trainer.optimizer.param_groups[0]["lr"])


def _data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=gen)
    return x, (x.sum(1) > 0).long()


def _trainer(schedule, tmp_path=None, epochs=4, lr=0.2):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    recorder = LrRecorder()
    trainer = Trainer(
        model,
        lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9),
        supervised_loss(),
        epochs=epochs,
        batch_size=10,
        checkpoint_dir=tmp_path,
        callbacks=[schedule, recorder],
        progress=False,
    )
    return trainer, recorder


def test_cosine_factor():
    assert cosine_factor(0.0) == 1.0
    assert cosine_factor(0.5) == pytest.approx(0.5)
    assert cosine_factor(1.0) == pytest.approx(0.0)
    assert cosine_factor(1.0, 0.05) == pytest.approx(0.05)
    assert cosine_factor(0.25, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_factor(2.0) == cosine_factor(1.0)  # clipped past the end


def test_per_step_schedule_follows_the_formula():
    trainer, rec = _trainer(CosineSchedule())
    trainer.fit(_data())
    total = 4 * 4
    assert rec.lrs == pytest.approx([0.2 * cosine_factor(t / total) for t in range(total)])
    assert trainer.optimizer.param_groups[0]["initial_lr"] == 0.2


def test_per_epoch_schedule_with_a_floor():
    trainer, rec = _trainer(CosineSchedule(unit="epoch", final_lr_ratio=0.05))
    trainer.fit(_data())
    expected = [0.2 * cosine_factor(e / 4, 0.05) for e in range(4) for _ in range(4)]
    assert rec.lrs == pytest.approx(expected)


def test_resumed_run_follows_the_same_schedule(tmp_path):
    full, rec_full = _trainer(CosineSchedule(total=12), tmp_path / "full")
    full.fit(_data())
    first, _ = _trainer(CosineSchedule(total=12), tmp_path / "part", epochs=2)
    first.fit(_data())
    second, rec_second = _trainer(CosineSchedule(total=12), tmp_path / "part")
    second.fit(_data(), resume=True)
    assert rec_second.lrs == pytest.approx(rec_full.lrs[8:])  # steps 8..15, not a fresh start
    assert rec_full.lrs[-1] == 0.0  # past `total` the rate stays at the floor
    for p, q in zip(full.module.parameters(), second.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_named_optimisers_only():
    model = nn.ModuleDict({"g": nn.Linear(2, 1), "d": nn.Linear(2, 1)})
    opts = {
        "g": torch.optim.SGD(model["g"].parameters(), lr=1.0),
        "d": torch.optim.SGD(model["d"].parameters(), lr=1.0),
    }

    def step(trainer, batch):
        for name in ("g", "d"):
            trainer.optimize(model[name](batch[0]).pow(2).mean(), name)
        return {}

    trainer = Trainer(
        model,
        optimizers=opts,
        step=step,
        epochs=2,
        batch_size=None,
        callbacks=[CosineSchedule(optimizers=["g"])],
        progress=False,
    )
    trainer.fit((torch.randn(6, 2),))
    assert opts["g"].param_groups[0]["lr"] == pytest.approx(cosine_factor(1 / 2))
    assert opts["d"].param_groups[0]["lr"] == 1.0
    bad = Trainer(
        model,
        optimizers=opts,
        step=step,
        epochs=1,
        batch_size=None,
        callbacks=[CosineSchedule(optimizers=["x"])],
        progress=False,
    )
    with pytest.raises(ValidationError, match="optimizers must be among g, d"):
        bad.fit((torch.randn(6, 2),))


def test_bad_arguments():
    with pytest.raises(ValidationError, match="final_lr_ratio"):
        CosineSchedule(final_lr_ratio=1.5)
    with pytest.raises(ValidationError, match="unit"):
        CosineSchedule(unit="batch")
    with pytest.raises(ValidationError, match="total"):
        CosineSchedule(total=0)
