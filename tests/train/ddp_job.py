"""A tiny training job run both in-process and under ``torchrun --nproc_per_node=2``.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_job.py OUT.safetensors
"""

from __future__ import annotations

import sys

import torch
from torch import nn

from nndl import seed_everything
from nndl.train import Trainer, save_checkpoint, supervised_loss


def data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(64, 5, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def train(epochs: int = 3) -> nn.Module:
    seed_everything(7)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    trainer = Trainer(
        model,
        lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.5),
        supervised_loss(),
        epochs=epochs,
        batch_size=16,
        seed=3,
        progress=False,
    )
    trainer.fit(data())
    return trainer.module


if __name__ == "__main__":
    torch.set_num_threads(1)
    model = train()
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        save_checkpoint(sys.argv[1], dict(model.state_dict()), {"world": 2})
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
