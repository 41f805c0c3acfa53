"""Training: the shared :class:`Trainer` (pluggable steps, several optimisers), learning-rate
schedules, many seeds side by side (:class:`StackedModels`), safetensors checkpoints and DDP."""

from .checkpoint import (
    CheckpointError,
    MetadataSchema,
    load_checkpoint,
    load_model,
    pack_optimizer_state,
    register_schema,
    save_checkpoint,
    save_model,
    unpack_optimizer_state,
    validate_metadata,
)
from .curves import stacked_loss_curve
from .device import resolve_device
from .distributed import init_distributed, is_distributed, is_main_process, rank, world_size
from .method_grid import METHOD_SETTINGS, loss_curves_by_method
from .schedule import CosineSchedule, cosine_factor
from .scores import own_data_scores
from .stacked import (
    StackedLoss,
    StackedModels,
    copy_orders,
    fit_stacked,
    stacked_accuracy,
    stacked_losses,
    stacked_trainer,
)
from .trainer import (
    Callback,
    LambdaCallback,
    LossFn,
    NonFiniteLossError,
    StepFn,
    Trainer,
    accuracy,
    supervised_loss,
)

__all__ = [
    "METHOD_SETTINGS",
    "Callback",
    "CheckpointError",
    "CosineSchedule",
    "LambdaCallback",
    "LossFn",
    "MetadataSchema",
    "NonFiniteLossError",
    "StackedLoss",
    "StackedModels",
    "StepFn",
    "Trainer",
    "accuracy",
    "copy_orders",
    "cosine_factor",
    "fit_stacked",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "load_checkpoint",
    "load_model",
    "loss_curves_by_method",
    "own_data_scores",
    "pack_optimizer_state",
    "rank",
    "register_schema",
    "resolve_device",
    "save_checkpoint",
    "save_model",
    "stacked_accuracy",
    "stacked_loss_curve",
    "stacked_losses",
    "stacked_trainer",
    "supervised_loss",
    "unpack_optimizer_state",
    "validate_metadata",
    "world_size",
]
