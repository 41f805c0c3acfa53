"""Trainer callback, CSV/JSON export, TensorBoard, Lightning and DDP (rank 0 writes)."""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.diagnostics import (
    HISTORY_FIELDS,
    GradientMonitor,
    HuggingFaceHooks,
    LightningHooks,
    huggingface_callback,
    lightning_callback,
)
from nndl.nn import mlp
from nndl.train import Trainer, supervised_loss


def _require(name: str):
    """Import an integration's package: lightning and transformers are in the dev extra (pinned
    in constraints.txt), so CI must run these tests; elsewhere they are skipped when absent."""
    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


def _data(n=96):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=gen)
    return x, (x[:, 0] > 0).long()


def _trained_monitor(every=2, **kwargs) -> tuple[GradientMonitor, Trainer]:
    torch.manual_seed(0)
    model = mlp([6, 8, 2], activation="relu")
    monitor = GradientMonitor(model, every=every, **kwargs)
    trainer = Trainer(
        model,
        lambda p: torch.optim.SGD(p, lr=0.1),
        supervised_loss(),
        epochs=2,
        batch_size=16,
        progress=False,
        callbacks=[monitor],
    )
    trainer.fit(_data())
    return monitor, trainer


def test_trainer_callback_records_every_few_steps_with_update_ratios():
    monitor, trainer = _trained_monitor(every=4)
    assert trainer.step == 12
    assert monitor.steps == [0, 4, 8]
    for record in monitor.records:
        assert record.update_ratios is not None
        assert all(r is not None and 0 < r < 1 for r in record.update_ratios)
        assert isinstance(record.loss, float) and 0 < record.loss < 5  # the Trainer's loss
    assert set(monitor.learning_speed()) == {"fc1", "out"}


def test_trainer_with_another_model_is_rejected():
    monitor = GradientMonitor(mlp([6, 2]))
    trainer = Trainer(
        mlp([6, 2]),
        lambda p: torch.optim.SGD(p, lr=0.1),
        supervised_loss(),
        epochs=1,
        batch_size=16,
        progress=False,
        callbacks=[monitor],
    )
    with pytest.raises(ValidationError, match="watches a different model"):
        trainer.fit(_data())


def test_csv_and_json_exports(tmp_path):
    monitor, _ = _trained_monitor(every=3)
    monitor.to_csv(tmp_path / "h.csv")
    monitor.to_json(tmp_path / "h.json")
    with open(tmp_path / "h.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(HISTORY_FIELDS)
    assert len(rows) == len(monitor.history)
    first = monitor.history[0]
    assert float(rows[0]["grad_norm"]) == pytest.approx(first["grad_norm"])
    data = json.loads((tmp_path / "h.json").read_text())
    assert data["every"] == 3
    assert [layer["name"] for layer in data["layers"]] == ["fc1", "out"]
    assert data["history"][0]["grad_norm"] == pytest.approx(first["grad_norm"])
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_json_keeps_nan_as_a_string(tmp_path):
    model = nn.Linear(2, 1)
    monitor = GradientMonitor(model)
    model(torch.tensor([[float("nan"), 1.0]])).sum().backward()
    monitor.record()
    monitor.to_json(tmp_path / "nan.json")
    rows = json.loads((tmp_path / "nan.json").read_text())["history"]
    assert rows[0]["grad_norm"] == "nan" and rows[0]["nonfinite"] == 1


def test_tensorboard_scalars_equal_the_history(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    model = mlp([6, 8, 2], activation="relu")
    monitor = GradientMonitor(model, every=2).log_to_tensorboard(tmp_path / "tb")
    trainer = Trainer(
        model,
        lambda p: torch.optim.SGD(p, lr=0.1),
        supervised_loss(),
        epochs=1,
        batch_size=16,
        progress=False,
        callbacks=[monitor],
    )
    trainer.fit(_data())
    monitor.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"learning_speed/fc1", "grad_norm/fc1.weight", "update_ratio/out.bias"} <= set(tags)
    assert "dead_fraction/act1" in tags
    logged = [(e.step, e.value) for e in events.Scalars("learning_speed/fc1")]
    expected = list(zip(monitor.steps, monitor.learning_speeds()["fc1"], strict=True))
    assert [s for s, _ in logged] == [s for s, _ in expected]
    for (_, got), (_, want) in zip(logged, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-6)


def test_lightning_hooks_drive_the_monitor():
    # The callback's logic, with stand-ins for Lightning's trainer and module.
    torch.manual_seed(0)
    model = mlp([6, 8, 2], activation="relu")
    logged = []
    module = SimpleNamespace(log_dict=lambda d, **kw: logged.append((d, kw)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hooks = LightningHooks(every=2)
    hooks.on_fit_start(None, model)
    x, y = _data(32)
    for step in range(4):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        hooks.on_before_optimizer_step(None, module, opt)
        opt.step()
        hooks.on_train_batch_end(None, module, None, (x, y), step)
    hooks.on_fit_end(None, model)
    monitor = hooks.monitor
    assert monitor.steps == [0, 2] and not monitor.attached
    assert all(r.update_ratios is not None for r in monitor.records)
    assert len(logged) == 2 and logged[0][1]["rank_zero_only"] is True
    assert logged[0][0]["learning_speed/fc1"] == pytest.approx(monitor.learning_speed(0)["fc1"])


def test_lightning_callback_in_a_real_fit():
    lightning = _require("lightning")

    x, y = _data(64)

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = mlp([6, 8, 2], activation="relu")

        def training_step(self, batch, _):
            return nn.functional.cross_entropy(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    callback = lightning_callback(every=2, activations=True)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    trainer = lightning.Trainer(
        max_epochs=1,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        accelerator="cpu",
    )
    trainer.fit(Module(), loader)
    assert callback.monitor.steps == [0, 2]
    assert callback.monitor.layers == ["net.fc1", "net.out"]
    assert all(r.update_ratios is not None for r in callback.monitor.records)
    assert "learning_speed/net.fc1" in trainer.callback_metrics
    assert not callback.monitor.attached
    # the loss of each recorded step came from training_step's output
    losses = [r.loss for r in callback.monitor.records]
    assert all(isinstance(v, float) and 0 < v < 10 for v in losses)
    assert callback.monitor.records[0].activations  # the default activation schedule ran
    assert callback.monitor.diagnose().judged
    # no hook of the monitor is left on the module after fit
    assert all(not m._forward_hooks for m in trainer.lightning_module.modules())


def _tiny_bert(seed: int = 0):
    transformers = _require("transformers")
    config = transformers.BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    transformers.set_seed(seed)
    return transformers, transformers.BertForSequenceClassification(config)  # random weights


class _TokenData(torch.utils.data.Dataset):
    def __init__(self, n=48, length=12):
        gen = torch.Generator().manual_seed(0)
        self.ids = torch.randint(1, 50, (n, length), generator=gen)
        self.labels = (self.ids[:, 0] > 25).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones_like(self.ids[i]),
            "labels": self.labels[i],
        }


def test_huggingface_callback_in_a_real_trainer(tmp_path):
    transformers, model = _tiny_bert()
    callback = huggingface_callback(every=2)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        max_steps=6,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        max_grad_norm=0.0,  # raw gradients
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=_TokenData(), callbacks=[callback]
    )
    trainer.train()
    monitor = callback.monitor
    assert monitor.steps == [0, 2, 4]
    assert "bert.embeddings.word_embeddings.weight" in monitor.parameter_names
    assert all(r.update_ratios is not None for r in monitor.records)
    # the numbers are those of the model's gradients: a one-step replay gives the same first
    # update ratio as a hand computation (the Trainer's optimiser is AdamW: ratio > 0, finite)
    assert all(0 < max(u for u in r.update_ratios if u is not None) < 1 for r in monitor.records)
    assert [r.loss is not None for r in monitor.records] == [True, True, True]
    assert not monitor.attached
    assert all(not m._forward_hooks for m in model.modules())
    diagnosis = monitor.diagnose()
    assert diagnosis.judged
    assert not {"vanishing", "exploding", "nonfinite"} & set(diagnosis.kinds), str(diagnosis)


def test_huggingface_hooks_record_the_gradients_the_optimiser_sees():
    # The callback's logic with a plain loop: the recorded norms equal param.grad's
    torch.manual_seed(0)
    model = mlp([6, 8, 2], activation="relu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hooks = HuggingFaceHooks(every=1)
    hooks.on_train_begin(None, None, None, model=model)
    x, y = _data(32)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        hooks.on_pre_optimizer_step(None, None, None)
        expected = float(model.fc1.weight.grad.norm())
        opt.step()
        hooks.on_optimizer_step(None, None, None)
        hooks.on_log(None, None, None, logs={"loss": 0.5})
        row = next(
            r
            for r in hooks.monitor.history
            if r["parameter"] == "fc1.weight" and r["step"] == hooks.monitor.steps[-1]
        )
        assert row["grad_norm"] == pytest.approx(expected, rel=1e-6)
        assert row["loss"] == 0.5 and row["update_ratio"] > 0
    hooks.on_train_end(None, None, None)
    assert not hooks.monitor.attached
    with pytest.raises(ValidationError, match="no model"):
        HuggingFaceHooks().on_train_begin(None, None, None)


def test_callbacks_without_their_package_say_how_to_install(monkeypatch):
    # a module set to None in sys.modules fails to import, as an absent package does
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "transformers"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pip install lightning"):
        lightning_callback()
    with pytest.raises(ImportError, match=r"pip install 'nndl\[huggingface\]'"):
        huggingface_callback()


def test_ddp_rank_zero_writes_and_numbers_are_synchronised(tmp_path):
    job = Path(__file__).with_name("ddp_monitor_job.py")
    out = tmp_path / "ddp"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(job.parent)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(job),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = json.loads((out / "numbers_rank0.json").read_text())
    rank1 = json.loads((out / "numbers_rank1.json").read_text())
    assert rank0["wrote"] and not rank1["wrote"]
    assert (out / "monitor.json").exists()
    assert len(list((out / "tb").glob("events.out.tfevents.*"))) == 1  # rank 0 only
    # every rank sees the same, synchronised gradients ...
    torch.testing.assert_close(torch.tensor(rank0["numbers"]), torch.tensor(rank1["numbers"]))
    # ... which equal the single-process gradients of the same global batches
    sys.path.insert(0, str(job.parent))
    try:
        import ddp_monitor_job
    finally:
        sys.path.remove(str(job.parent))
    single = ddp_monitor_job.numbers(ddp_monitor_job.train(tmp_path / "single"))
    assert len(single) == 4
    torch.testing.assert_close(
        torch.tensor(rank0["numbers"]), torch.tensor(single), rtol=1e-5, atol=1e-7
    )
    assert all(math.isfinite(v) for row in single for v in row)
