"""Shared test setup: one CPU thread, a non-interactive matplotlib, seeded RNGs."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
import torch
from hypothesis import settings

import nndl

torch.set_num_threads(1)

# Hypothesis draws the same examples on every run (derandomize), so a failure reproduces;
# `--hypothesis-profile=explore` (or HYPOTHESIS_PROFILE=explore) searches randomly instead.
settings.register_profile("nndl", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "nndl"))


@pytest.fixture(autouse=True)
def _seeded() -> None:
    nndl.seed_everything(0)
