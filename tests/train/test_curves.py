"""stacked_loss_curve: the full training loss after each epoch, full batch or mini-batches."""

from __future__ import annotations

import copy

import pytest
import torch

from nndl._validation import ValidationError
from nndl.nn import mlp
from nndl.train import StackedModels, fit_stacked, stacked_loss_curve, stacked_losses


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(40, 4, generator=gen), torch.randint(0, 3, (40,), generator=gen)


def _nets() -> StackedModels:
    return StackedModels.from_factory(lambda _: mlp([4, 8, 3]), [0, 1, 2])


def test_full_batch_curve_is_the_loss_after_each_update():
    x, y = _data()
    nets = _nets()
    before = stacked_losses(nets, x, y).tolist()
    one = copy.deepcopy(nets)
    curve = stacked_loss_curve(nets, x, y, lr=0.5, updates=6)
    assert curve["updates"] == [1, 2, 3, 4, 5, 6] and curve["initial"] == before
    assert curve["loss"][-1] == stacked_losses(nets, x, y).tolist()
    assert curve["diverged"] == [False] * 3
    fit_stacked(one, x, y, lr=0.5, epochs=1, batch_size=None)
    assert curve["loss"][0] == pytest.approx(stacked_losses(one, x, y).tolist(), rel=1e-5)
    assert all(a < b for a, b in zip(curve["loss"][-1], before, strict=True))


def test_mini_batch_curve_counts_updates_and_diverged_copies_are_frozen():
    x, y = _data()
    curve = stacked_loss_curve(_nets(), x, y, lr=0.1, updates=12, batch_size=16)
    assert curve["updates"] == [3, 6, 9, 12]  # ceil(40 / 16) = 3 updates per epoch
    assert len(curve["loss"]) == 4 and all(len(row) == 3 for row in curve["loss"])
    targets = torch.randn(40, 3, generator=torch.Generator().manual_seed(1)) * 100
    wild = stacked_loss_curve(_nets(), x, targets, loss="mse", lr=1e3, updates=30)
    assert all(wild["diverged"]) and len(wild["loss"]) == 30  # frozen, not stopped


def test_bad_budgets_fail_before_training():
    x, y = _data()
    with pytest.raises(ValidationError, match="updates"):
        stacked_loss_curve(_nets(), x, y, updates=0)
    with pytest.raises(ValidationError, match="batch_size"):
        stacked_loss_curve(_nets(), x, y, updates=5, batch_size=0)
