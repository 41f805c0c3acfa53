"""own_data_scores: each copy scored on its own training set and on a shared test set."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from nndl import ShapeError, ValidationError
from nndl.nn import mlp
from nndl.train import StackedModels, own_data_scores


def _nets() -> StackedModels:
    return StackedModels.from_factory(lambda _: mlp([4, 6, 3]), [0, 1, 2])


def test_scores_match_each_copy_evaluated_alone():
    nets, gen = _nets(), torch.Generator().manual_seed(0)
    x_tr, y_tr = torch.randn(3, 20, 4, generator=gen), torch.randint(0, 3, (3, 20), generator=gen)
    x_te, y_te = torch.randn(30, 4, generator=gen), torch.randint(0, 3, (30,), generator=gen)
    scores = own_data_scores(nets, x_tr, y_tr, x_te, y_te)
    for s, member in enumerate(nets.unstack()):
        with torch.no_grad():
            train, test = member(x_tr[s]), member(x_te)
        assert scores["train_accuracy"][s] == pytest.approx(
            float((train.argmax(1) == y_tr[s]).float().mean())
        )
        assert scores["train_loss"][s] == pytest.approx(float(F.cross_entropy(train, y_tr[s])))
        assert scores["test_accuracy"][s] == pytest.approx(
            float((test.argmax(1) == y_te).float().mean())
        )
        assert scores["test_loss"][s] == pytest.approx(float(F.cross_entropy(test, y_te)), 1e-5)


def test_training_sets_must_be_one_per_copy():
    nets = _nets()
    x_te, y_te = torch.zeros(5, 4), torch.zeros(5, dtype=torch.long)
    with pytest.raises(ShapeError, match="x_train"):
        own_data_scores(nets, torch.zeros(2, 5, 4), torch.zeros(2, 5).long(), x_te, y_te)
    with pytest.raises(ShapeError, match="y_train"):
        own_data_scores(nets, torch.zeros(3, 5, 4), torch.zeros(3, 4).long(), x_te, y_te)
    with pytest.raises(ShapeError, match="y_test"):
        own_data_scores(nets, torch.zeros(3, 5, 4), torch.zeros(3, 5).long(), x_te, y_te[:2])
    with pytest.raises(ValidationError, match="StackedModels"):
        own_data_scores(mlp([4, 3]), torch.zeros(3, 5, 4), torch.zeros(3, 5).long(), x_te, y_te)
