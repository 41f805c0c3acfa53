"""DistributedDataParallel plumbing for :class:`~nndl.train.Trainer` under ``torchrun``.

``torchrun --nproc_per_node=N`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; the trainer then
joins the process group (gloo on CPU, nccl on CUDA), wraps the model in DDP and gives each rank a
``DistributedSampler`` share of every global batch. Outside torchrun everything here reports a
world of one.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init_distributed", "is_distributed", "is_main_process", "rank", "world_size"]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """Rank 0 (or no process group): the only process that writes files and shows progress."""
    return rank() == 0


def init_distributed(device: torch.device) -> bool:
    """Join the process group if launched by torchrun with WORLD_SIZE > 1; return whether joined."""
    if not dist.is_available() or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return True
