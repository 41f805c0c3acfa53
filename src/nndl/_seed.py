"""Seeding: one call makes Python, NumPy and PyTorch draw the same numbers again."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "torch_generator"]


def seed_everything(seed: int) -> None:
    """Seed :mod:`random`, NumPy's global state and PyTorch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds code that uses the legacy global state
    torch.manual_seed(seed)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` seeded with ``seed`` (use one per purpose, not the global)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
