"""Training: the shared :class:`Trainer`, safetensors checkpoints and DDP helpers."""

from .checkpoint import (
    CheckpointError,
    load_checkpoint,
    pack_optimizer_state,
    save_checkpoint,
    unpack_optimizer_state,
)
from .distributed import init_distributed, is_distributed, is_main_process, rank, world_size
from .trainer import (
    Callback,
    LossFn,
    NonFiniteLossError,
    Trainer,
    accuracy,
    supervised_loss,
)

__all__ = [
    "Callback",
    "CheckpointError",
    "LossFn",
    "NonFiniteLossError",
    "Trainer",
    "accuracy",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "load_checkpoint",
    "pack_optimizer_state",
    "rank",
    "save_checkpoint",
    "supervised_loss",
    "unpack_optimizer_state",
    "world_size",
]
