"""``nndl`` under ``torchrun``, with evidence of what ran: usage

    python -m torch.distributed.run --standalone --nproc_per_node=2 ddp_cli_job.py ARGS...

runs ``nndl ARGS`` on every rank, with ``{rank}`` in ARGS replaced by the rank (so that each
rank gets its own run folder and a write by rank 1 would show). Every rank prints one
``EVIDENCE {json}`` line: its rank, the exit status, and for every module wrapped in
DistributedDataParallel its class, the world size at wrapping and a checksum of its final
weights.
"""

from __future__ import annotations

import json
import os
import sys

import torch
from torch.nn.parallel import DistributedDataParallel

wrapped: list[dict] = []
modules: list[torch.nn.Module] = []
_init = DistributedDataParallel.__init__


def _spy(self, module, *args, **kwargs):
    wrapped.append({"module": type(module).__name__, "world": torch.distributed.get_world_size()})
    modules.append(module)
    _init(self, module, *args, **kwargs)


DistributedDataParallel.__init__ = _spy  # type: ignore[method-assign]

if __name__ == "__main__":
    from nndl.cli import main

    rank = int(os.environ.get("RANK", "0"))
    code = main([arg.replace("{rank}", str(rank)) for arg in sys.argv[1:]])
    for row, module in zip(wrapped, modules, strict=True):
        row["checksum"] = float(sum(p.detach().double().abs().sum() for p in module.parameters()))
    sys.stdout.write(
        "EVIDENCE " + json.dumps({"rank": rank, "code": code, "wrapped": wrapped}) + "\n"
    )  # one write per record
    sys.stdout.flush()
    sys.exit(code)
