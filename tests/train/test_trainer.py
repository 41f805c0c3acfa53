import json
import math

import pytest
import torch
from torch import nn

from nndl import ValidationError, seed_everything
from nndl.train import (
    Callback,
    CheckpointError,
    NonFiniteLossError,
    Trainer,
    accuracy,
    load_checkpoint,
    save_checkpoint,
    supervised_loss,
)


def _data(n=96):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=gen)
    y = (x.sum(1) > 0).long()
    return x, y


def _trainer(tmp_path=None, epochs=4, lr=0.1, **kw):
    seed_everything(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    return Trainer(
        model,
        lambda p: torch.optim.Adam(p, lr=lr),
        supervised_loss(),
        epochs=epochs,
        batch_size=16,
        seed=1,
        checkpoint_dir=tmp_path,
        progress=False,
        **kw,
    )


def test_training_reduces_loss_and_records_metrics():
    x, y = _data()
    trainer = _trainer(metrics={"acc": lambda m: accuracy(m, x, y)})
    history = trainer.fit((x, y))
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["acc"] > 0.8
    assert trainer.step == 4 * 6


def test_same_seed_same_result():
    x, y = _data()
    a = _trainer()  # seeds the global RNG (dropout) at construction
    a.fit((x, y))
    b = _trainer()
    b.fit((x, y))
    for p, q in zip(a.module.parameters(), b.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_equals_uninterrupted(tmp_path):
    x, y = _data()
    full = _trainer(tmp_path / "full", epochs=4)
    full.fit((x, y))
    first = _trainer(tmp_path / "resumed", epochs=2)
    first.fit((x, y))
    # a new process would build everything again from scratch, then resume
    torch.manual_seed(999)  # the global RNG must come from the checkpoint, not from here
    second = _trainer(tmp_path / "resumed", epochs=4)
    second.fit((x, y), resume=True)
    assert second.step == full.step
    for p, q in zip(full.module.parameters(), second.module.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [h["loss"] for h in second.history] == pytest.approx([h["loss"] for h in full.history])
    meta = json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())
    assert meta["epoch"] == 4


class _Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_train_start(self, trainer):
        self.events.append("start")

    def on_after_backward(self, trainer):
        grads = [p.grad for p in trainer.module.parameters()]
        assert all(g is not None for g in grads)
        self.events.append("backward")

    def on_step_end(self, trainer, loss):
        self.events.append("step")

    def on_epoch_end(self, trainer, epoch, logs):
        self.events.append(f"epoch{epoch}")

    def on_train_end(self, trainer):
        self.events.append("end")


def test_callbacks_are_called_in_order():
    x, y = _data(32)
    rec = _Recorder()
    _trainer(epochs=1, callbacks=[rec]).fit((x, y))
    assert rec.events == ["start"] + ["backward", "step"] * 2 + ["epoch0", "end"]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    x, y = _data()
    trainer = _trainer(tmp_path, epochs=5)
    trainer.fit((x, y))  # 5 good epochs, checkpoint at epoch 5
    good = load_checkpoint(tmp_path / "checkpoint.safetensors")[0]
    bad_x = x.clone()
    bad_x[40] = math.nan
    more = _trainer(tmp_path, epochs=8)
    with pytest.raises(
        NonFiniteLossError, match=r"loss became nan at epoch 6.*last good checkpoint"
    ):
        more.fit((bad_x, y), resume=True)
    kept = load_checkpoint(tmp_path / "checkpoint.safetensors")[0]
    assert all(torch.equal(good[k], kept[k]) for k in good)


def test_checkpoint_round_trip_and_corruption(tmp_path):
    path = save_checkpoint(tmp_path / "c.safetensors", {"w": torch.arange(3.0)}, {"a": [1, 2]})
    tensors, meta = load_checkpoint(path)
    assert torch.equal(tensors["w"], torch.arange(3.0)) and meta["a"] == [1, 2]
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="is corrupt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="is corrupt"):
        load_checkpoint(path)


def test_checkpoint_of_another_model_is_rejected(tmp_path):
    x, y = _data()
    trainer = _trainer(tmp_path, epochs=1)
    trainer.fit((x, y))
    other = Trainer(
        nn.Linear(4, 2),
        lambda p: torch.optim.SGD(p, lr=0.1),
        supervised_loss(),
        epochs=1,
        batch_size=16,
        checkpoint_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(CheckpointError, match="does not fit this model"):
        other.fit((x, y), resume=True)


def test_bad_arguments():
    model = nn.Linear(4, 2)
    opt = lambda p: torch.optim.SGD(p, lr=0.1)  # noqa: E731
    with pytest.raises(ValidationError, match="epochs must be an int in the range"):
        Trainer(model, opt, supervised_loss(), epochs=0, batch_size=4)
    with pytest.raises(ValidationError, match="grad_clip must be > 0"):
        Trainer(model, opt, supervised_loss(), epochs=1, batch_size=4, grad_clip=-1)
    trainer = Trainer(model, opt, supervised_loss(), epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValidationError, match="share their first dimension"):
        trainer.fit((torch.zeros(4, 4), torch.zeros(3, dtype=torch.long)))
    with pytest.raises(ValidationError, match="resume=True needs a checkpoint_dir"):
        trainer.fit((torch.zeros(4, 4), torch.zeros(4, dtype=torch.long)), resume=True)
