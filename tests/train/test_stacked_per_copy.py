"""fit_stacked with one data set per copy: copy s trained on x[s] ends where it ends alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nndl import ShapeError, ValidationError
from nndl.nn import cnn
from nndl.train import StackedModels, copy_orders, fit_stacked

SEEDS = (3, 5, 11)
N, BATCH, EPOCHS = 20, 8, 2


def _factory(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return cnn(1, 3, 6, channels=(2, 3), pool="max", hidden=5)


def _data():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(len(SEEDS), N, 1, 6, 6, generator=gen)
    y = torch.randint(0, 3, (len(SEEDS), N), generator=gen)
    return x, y


@pytest.mark.parametrize("batch_size", [BATCH, None])
def test_each_copy_trains_on_its_own_data_set(batch_size):
    x, y = _data()
    stacked = StackedModels.from_factory(_factory, SEEDS)
    fit_stacked(stacked, x, y, optimizer="adam", lr=0.01, epochs=EPOCHS, batch_size=batch_size)
    for i, seed in enumerate(SEEDS):
        alone = _factory(seed)
        opt = torch.optim.Adam(alone.parameters(), lr=0.01)
        for epoch in range(EPOCHS):
            order = copy_orders(N, [seed], seed=0, epoch=epoch)[0]
            step = N if batch_size is None else batch_size
            for start in range(0, N, step):
                idx = torch.arange(N) if batch_size is None else order[start : start + step]
                opt.zero_grad()
                F.cross_entropy(alone(x[i, idx]), y[i, idx]).backward()
                opt.step()
        member = stacked.member(i)
        pairs = zip(alone.state_dict().items(), member.state_dict().values(), strict=True)
        for (name, a), b in pairs:
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5, msg=name)


def test_per_copy_data_are_not_mixed_up_with_shared_data():
    x, y = _data()
    apart = StackedModels.from_factory(_factory, SEEDS)
    fit_stacked(apart, x, y, epochs=1, batch_size=BATCH)
    shared = StackedModels.from_factory(_factory, SEEDS)
    fit_stacked(shared, x[0], y[0], epochs=1, batch_size=BATCH)
    torch.testing.assert_close(apart.member(0).state_dict(), shared.member(0).state_dict())
    assert not torch.allclose(apart.member(1).out.weight, shared.member(1).out.weight)


def test_per_copy_data_bad_input():
    x, y = _data()
    stacked = StackedModels.from_factory(_factory, SEEDS)
    with pytest.raises(ShapeError, match="one data set per copy"):
        fit_stacked(stacked, x, y[:, :-1], epochs=1)
    with pytest.raises(ShapeError, match="one data set per copy"):
        fit_stacked(stacked, x, y[:, 0], epochs=1)
    with pytest.raises(ValidationError, match="independent_batches"):
        fit_stacked(stacked, x, y, epochs=1, batch_size=BATCH, independent_batches=False)
