"""Gradients through time, the adding-problem trainer, decades lost, monitored SGD to overflow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nndl import DTypeError, ShapeError, ValidationError
from nndl.analysis import (
    FLOAT32_DECADES,
    decades_lost,
    fit_adding_problem,
    geometric_mean,
    mean_interval,
    seeds_to_settle,
    sequence_mse,
    sgd_until_nonfinite,
    state_gradient_norms,
)
from nndl.data import adding_problem
from nndl.nn import SequenceModel, mlp


def _model(cell: str = "rnn", hidden: int = 4) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(2, hidden, 1, cell=cell)


def test_state_gradient_norms_match_one_sequence_at_a_time():
    model = _model()
    x, y = adding_problem(3, 6, torch.Generator().manual_seed(0))
    batch = state_gradient_norms(model, x, y)
    singles = torch.stack(
        [state_gradient_norms(model, x[i : i + 1], y[i : i + 1]) for i in range(3)]
    )
    torch.testing.assert_close(batch, singles.mean(0), rtol=1e-5, atol=0)
    assert batch.shape == (6,) and all(p.grad is None for p in model.parameters())


def test_state_gradient_norms_rejects_bad_input():
    x, y = adding_problem(3, 6, torch.Generator().manual_seed(0))
    with pytest.raises(ShapeError):
        state_gradient_norms(_model(), x, y[:2])
    with pytest.raises(DTypeError, match="SequenceModel"):
        state_gradient_norms(torch.nn.Linear(2, 1), x, y)


def test_fit_adding_problem_stops_when_solved_and_replays_the_same_batches():
    held = adding_problem(64, 5, torch.Generator().manual_seed(1))
    run = [
        fit_adding_problem(
            _model("lstm", 8),
            length=5,
            steps=40,
            held_out=held,
            eval_every=10,
            generator=torch.Generator().manual_seed(2),
        )
        for _ in range(2)
    ]
    assert run[0] == run[1]  # same generator state, same model: same curve
    assert [s for s, _ in run[0]] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert run[0][0][1] == pytest.approx(sequence_mse(_model("lstm", 8), *held))
    goal = run[0][2][1] + 1e-6  # reached after 20 steps
    gen = torch.Generator().manual_seed(2)
    early = fit_adding_problem(
        _model("lstm", 8), length=5, steps=40, held_out=held, eval_every=10, generator=gen,
        until_mse=goal,
    )  # fmt: skip
    assert early == run[0][:3]


def test_fit_adding_problem_checks_arguments_before_training():
    held = adding_problem(8, 5, torch.Generator().manual_seed(1))
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValidationError, match="clip"):
        fit_adding_problem(model, length=5, steps=5, held_out=held, clip=0.0,
                           generator=torch.Generator())  # fmt: skip
    with pytest.raises(DTypeError, match="generator"):
        fit_adding_problem(model, length=5, steps=5, held_out=held, generator=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_decades_lost_fits_distances_one_and_beyond_and_floors_underflow():
    distance = np.arange(50)[::-1]  # entry t is at distance 49 - t
    assert decades_lost(list(0.8**distance)) == pytest.approx(-49 * math.log10(0.8))
    spike = np.where(distance == 0, 100.0, 0.9**distance)  # distance 0 is left out
    assert decades_lost(spike) == pytest.approx(-49 * math.log10(0.9))
    assert decades_lost(spike, min_distance=0) != pytest.approx(-49 * math.log10(0.9))
    assert decades_lost([0.0] * 48 + [1e-3, 1.0]) == FLOAT32_DECADES  # only distance 1 is > 0
    assert decades_lost(["inf"] * 48 + [0.0, 1.0]) == FLOAT32_DECADES
    assert decades_lost(list(1.1**distance)) < 0  # growth toward early steps
    with pytest.raises(ShapeError):
        decades_lost([1.0])
    with pytest.raises(ValidationError, match="min_distance"):
        decades_lost([1.0, 0.5, 0.25], min_distance=2)


def test_geometric_mean_and_seeds_to_settle():
    assert float(geometric_mean([1.0, 100.0])) == pytest.approx(10.0)
    np.testing.assert_allclose(geometric_mean([[1, 4], [100, 1]], axis=0), [10.0, 2.0])
    assert float(geometric_mean([0.0, 5.0])) == 0.0 and math.isnan(geometric_mean(["nan", 1.0]))
    iv = mean_interval([0.5, 1.5, 1.0])  # mean 1, sd 0.5
    assert seeds_to_settle(iv, 0.5) == 5  # (2 · 0.5 / 0.5)² + 1
    assert seeds_to_settle(iv, 0.75) == 17  # (2 · 0.5 / 0.25)² + 1
    assert seeds_to_settle(iv, 1.0) == 10**6
    assert seeds_to_settle(mean_interval([0.0, 0.01]), 5.0) == 3  # already clear: one more
    assert seeds_to_settle(mean_interval([0.3]), 0.0) == 2  # one seed: no spread, two at least
    with pytest.raises(DTypeError):
        seeds_to_settle((1.0, 0.5), 0.0)


def _digits_like(n: int = 200):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 16, generator=g), torch.randint(0, 4, (n,), generator=g)


def test_sgd_until_nonfinite_stops_at_the_overflow_and_reports_it():
    x, y = _digits_like()
    kw = {"std": 6.0, "fan_in_scaled": True, "generator": torch.Generator().manual_seed(1)}
    big = mlp([16] + [64] * 6 + [4], "relu", "gaussian", init_kwargs=kw)
    run = sgd_until_nonfinite(
        big, x, y, lr=0.05, steps=30, batch_size=32, generator=torch.Generator().manual_seed(2)
    )
    assert run["nonfinite_loss"] and run["steps"] < 30 and not math.isfinite(run["losses"][-1])
    assert run["findings"] and len(run["messages"]) >= len(run["findings"])
    small = mlp([16, 16, 4], "relu", "kaiming_normal")
    calm = sgd_until_nonfinite(
        small, x, y, lr=0.05, steps=5, batch_size=32, generator=torch.Generator().manual_seed(2)
    )
    assert not calm["nonfinite_loss"] and calm["steps"] == 5
    with pytest.raises(ShapeError):
        sgd_until_nonfinite(
            small, x, y[:5], lr=0.1, steps=1, batch_size=4, generator=torch.Generator()
        )
