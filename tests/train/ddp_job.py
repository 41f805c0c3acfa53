"""A tiny training job run both in-process and under ``torchrun --nproc_per_node=2``.

Usage: python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_job.py OUT

Every rank trains with its own checkpoint folder ``OUT/rank<R>`` (only rank 0 may write there)
and prints one ``EVIDENCE {json}`` line: its rank, the world size the process group reports,
the class that wraps the model and a checksum of the final weights.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

from nndl import seed_everything
from nndl.train import Trainer, supervised_loss


def data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(64, 5, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def train(epochs: int = 3, checkpoint_dir: Path | None = None) -> Trainer:
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
        checkpoint_dir=checkpoint_dir,
    )
    trainer.fit(data())
    return trainer


def checksum(module: nn.Module) -> float:
    return float(sum(p.detach().double().abs().sum() for p in module.parameters()))


if __name__ == "__main__":
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    trainer = train(checkpoint_dir=Path(sys.argv[1]) / f"rank{rank}")
    dist = torch.distributed
    evidence = {
        "rank": rank,
        "world": dist.get_world_size() if dist.is_initialized() else 1,
        "wrapper": type(trainer.model).__name__,
        "checksum": checksum(trainer.module),
    }
    sys.stdout.write("EVIDENCE " + json.dumps(evidence) + "\n")  # one write per record
    sys.stdout.flush()
    if dist.is_initialized():
        dist.barrier()  # no rank tears gloo down while another still writes
        dist.destroy_process_group()
