"""A GradientMonitor on a Trainer run both in-process and under ``torchrun --nproc_per_node=2``.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_monitor_job.py OUT
Every rank saves its own numbers to OUT/numbers_rank<r>.json (plain json, for the test); the
monitor itself writes OUT/monitor.json and TensorBoard events to OUT/tb, on rank 0 only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

from nndl import seed_everything
from nndl.diagnostics import GradientMonitor
from nndl.train import Trainer, supervised_loss


def data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(64, 5, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def train(out: Path) -> GradientMonitor:
    seed_everything(7)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    monitor = GradientMonitor(model, every=2).log_to_tensorboard(out / "tb")
    trainer = Trainer(
        model,
        lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.5),
        supervised_loss(),
        epochs=2,
        batch_size=16,
        seed=3,
        progress=False,
        callbacks=[monitor],
    )
    trainer.fit(data())
    monitor.close()
    return monitor


def numbers(monitor: GradientMonitor) -> list[list[float]]:
    return [list(r.grad_norms) + list(r.update_ratios or []) for r in monitor.records]


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    monitor = train(out)
    rank = int(os.environ.get("RANK", "0"))
    written = monitor.to_json(out / "monitor.json")
    (out / f"numbers_rank{rank}.json").write_text(
        json.dumps({"numbers": numbers(monitor), "wrote": written is not None})
    )
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # no rank tears gloo down while another still writes
        torch.distributed.destroy_process_group()
