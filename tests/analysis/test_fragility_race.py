"""exact_smallest_k and fragility_profile (F3), approximation_race (F1)."""

from __future__ import annotations

import pytest
import torch

from nndl import DTypeError, ValidationError
from nndl.analysis import (
    TARGET_FUNCTIONS,
    approximation_race,
    exact_smallest_k,
    fragility_profile,
    parameter_sensitivity,
)


def _classifier() -> tuple[torch.nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """A linear classifier on 8 one-hot inputs whose class k is carried by weight (k, k) alone."""
    net = torch.nn.Linear(8, 8)
    with torch.no_grad():
        net.weight.copy_(torch.eye(8) * torch.arange(1.0, 9.0))  # weight (k, k) = k + 1
        net.bias.zero_()
    return net, (torch.eye(8), torch.arange(8))


def test_exact_smallest_k_is_below_the_grid_crossing_and_exact():
    net, data = _classifier()
    grid = parameter_sensitivity(net, data, [1, 4, 8], selections=("saliency",))
    # saliency |w ∂L/∂w| = w·7/(e^w + 7) ranks the diagonal weights 2, 3, 1, 4, ...: zeroing
    # the first costs class 1 (1/8 of the accuracy), the first two cost classes 1 and 2 (2/8)
    assert grid.smallest_k(0.2) == 4  # the grid brackets it: 1 is not enough, 4 is
    assert exact_smallest_k(net, data, grid, 0.2) == 2
    assert torch.equal(net.weight, torch.eye(8) * torch.arange(1.0, 9.0))  # restored


def test_exact_smallest_k_none_without_a_crossing_and_checks_first():
    net, data = _classifier()
    grid = parameter_sensitivity(net, data, [1], selections=("saliency",))
    assert exact_smallest_k(net, data, grid, 0.5) is None
    with pytest.raises(ValidationError, match="drop"):
        exact_smallest_k(net, data, grid, 0.0)
    with pytest.raises(DTypeError, match="grid"):
        exact_smallest_k(net, data, {"ks": [1]}, 0.5)  # type: ignore[arg-type]


def test_approximation_race_matches_parameters_and_keeps_one_restart_per_seed():
    gen = torch.Generator().manual_seed(0)
    kw = {"n_train": 60, "n_test": 80, "budget": 10, "steps": 30, "lr": 1e-2, "window": 5}
    cell = approximation_race(2, seeds=range(16), restarts=2, generator=gen, **kw)
    assert cell["order"] == 3 and cell["parameters_ls"] == 10  # C(2 + 3, 3) = 10 <= 10
    assert cell["width"] == 2 and cell["parameters_mlp"] == 2 * 4 + 1
    assert list(cell["targets"]) == list(TARGET_FUNCTIONS)
    for errors in cell["targets"].values():
        assert len(errors["mlp"]) == len(errors["mlp_drop"]) == 2  # 16 / 4 targets / 2 restarts
        assert all(e >= 0 for e in [errors["polynomial"], errors["fourier"], *errors["mlp"]])
    # the smooth target in 2-D is fitted far better by a cubic than a constant would be
    assert cell["targets"]["smooth"]["polynomial"] < 0.5


def test_approximation_race_refuses_a_seed_count_that_does_not_divide():
    gen = torch.Generator().manual_seed(0)
    kw = {"n_train": 20, "n_test": 20, "budget": 4, "steps": 10, "lr": 1e-2, "window": 2}
    with pytest.raises(ValidationError, match="seeds"):
        approximation_race(1, seeds=range(6), restarts=1, generator=gen, **kw)
    with pytest.raises(ValidationError, match="window"):
        approximation_race(1, seeds=range(8), restarts=1, generator=gen, **{**kw, "window": 10})


def test_fragility_profile_gives_curves_and_both_smallest_k_per_perturbation():
    net, data = _classifier()
    gens = [torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)]
    row = fragility_profile(
        net, data, [1, 4, 8], 0.2, perturbations=("zero", "negate"), generators=gens, repeats=2
    )
    assert row["baseline"] == 1.0
    assert set(row["accuracy"]) == set(row["smallest_k"]) == {"zero", "negate"}
    assert len(row["accuracy"]["zero"]["saliency"]) == len(row["accuracy"]["zero"]["random"]) == 3
    assert row["smallest_k"]["zero"]["saliency"] == 2  # exact, below the grid's 4
    random_k = row["smallest_k"]["zero"]["random"]
    assert random_k is None or random_k in (1, 4, 8)  # the control stays on the grid
    with pytest.raises(ValidationError, match="generators"):
        fragility_profile(net, data, [1], 0.2, perturbations=("zero",), generators=gens)
