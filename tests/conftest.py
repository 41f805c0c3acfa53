"""Shared test setup: one CPU thread, a non-interactive matplotlib, seeded RNGs."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
import torch

import nndl

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    nndl.seed_everything(0)
