"""loss_curves_by_method: the same initialisations under GD, SGD and Adam over learning rates."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from nndl import ValidationError
from nndl.nn import mlp
from nndl.train import StackedModels, loss_curves_by_method, stacked_loss_curve


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(48, 3, generator=gen), torch.randint(0, 2, (48,), generator=gen)


def test_every_run_starts_from_the_same_initialisations_and_gd_is_full_batch():
    x, y = _data()
    grids = {"GD": [0.5], "SGD": [0.1, 0.3], "Adam": [1e-2]}
    runs = loss_curves_by_method(
        partial(mlp, [3, 5, 2]), [3, 4], x, y, grids=grids, updates=6, batch_size=12, test=(x, y)
    )
    assert list(runs) == ["GD", "SGD", "Adam"] and list(runs["SGD"]) == ["0.1", "0.3"]
    initial = [r["initial"] for per_lr in runs.values() for r in per_lr.values()]
    assert all(i == initial[0] for i in initial)  # same S initialisations for every run
    assert runs["GD"]["0.5"]["updates"] == [1, 2, 3, 4, 5, 6]  # one update per epoch
    assert runs["SGD"]["0.1"]["updates"][0] == 4  # 48 / 12 mini-batches per epoch
    assert all(0 <= a <= 1 for a in runs["Adam"]["0.01"]["test_accuracy"])
    # the same as training by hand from the same seeds
    nets = StackedModels.from_factory(lambda _: mlp([3, 5, 2]), [3, 4])
    alone = stacked_loss_curve(nets, x, y, optimizer="sgd", lr=0.5, updates=6)
    assert alone["loss"] == runs["GD"]["0.5"]["loss"]


def test_bad_grids_are_refused_before_any_training():
    x, y = _data()
    build = partial(mlp, [3, 2])
    with pytest.raises(ValidationError, match="RMSprop"):
        loss_curves_by_method(build, [0], x, y, grids={"RMSprop": [0.1]}, updates=2, batch_size=4)
    with pytest.raises(ValidationError, match="learning rate"):
        loss_curves_by_method(build, [0], x, y, grids={"GD": []}, updates=2, batch_size=4)
    with pytest.raises(ValidationError, match="updates"):
        loss_curves_by_method(build, [0], x, y, grids={"GD": [0.1]}, updates=0, batch_size=4)
