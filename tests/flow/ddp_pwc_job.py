"""``train_pwc`` under ``torchrun --nproc_per_node=2`` (run by test_pwc_ddp.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from nndl.flow import PWCNetLite, make_flow_pairs, train_pwc
from nndl.train import Callback, rank


class Evidence(Callback):
    def __init__(self) -> None:
        self.wrapper = ""

    def on_train_start(self, trainer) -> None:
        self.wrapper = type(trainer.model).__name__


def main(out: Path) -> None:
    pairs = make_flow_pairs(8, (32, 32), max_flow=3.0, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = PWCNetLite(channels=(8, 12, 16), decoder_channels=(8,))
    evidence = Evidence()
    train_pwc(
        model,
        pairs.tensors(),
        epochs=2,
        batch_size=4,
        checkpoint_dir=out / f"rank{rank()}",
        progress=False,
        callbacks=[evidence],
    )
    checksum = float(sum(p.double().sum() for p in model.parameters()))
    row = {
        "rank": rank(),
        "world": dist.get_world_size() if dist.is_initialized() else 1,
        "wrapper": evidence.wrapper,
        "checksum": checksum,
    }
    print("EVIDENCE " + json.dumps(row), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
