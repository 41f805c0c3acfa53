"""Per-layer learning speeds of one MLP or of S stacked copies, and decision combinators."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nndl import DTypeError, ShapeError, ValidationError
from nndl.analysis import all_of, any_of, hidden_layer_speeds, log10_first_last, log10_spread
from nndl.nn import mlp
from nndl.train import StackedModels


def _net(seed: int, batchnorm: bool = False) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    return mlp(
        [6, 5, 4, 3],
        "sigmoid",
        init="gaussian",
        batchnorm=batchnorm,
        init_kwargs={"bias_std": 1.0, "fan_in_scaled": True, "generator": gen},
    )


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(9)
    return torch.randn(20, 6, generator=gen), torch.randint(0, 3, (20,), generator=gen)


def test_bias_and_weight_speeds_of_one_net_match_autograd():
    net, (x, y) = _net(0), _data()
    bias = hidden_layer_speeds(net, x, y)
    weight = hidden_layer_speeds(net, x, y, measure="weight")
    assert all(p.grad is None for p in net.parameters())  # gradients left as they were
    F.cross_entropy(net(x), y).backward()
    assert bias.shape == (1, 2)
    expected_b = [float(net.fc1.bias.grad.norm()), float(net.fc2.bias.grad.norm())]
    expected_w = [float(net.fc1.weight.grad.norm()) / math.sqrt(6)]
    expected_w.append(float(net.fc2.weight.grad.norm()) / math.sqrt(5))
    assert bias[0].tolist() == pytest.approx(expected_b, rel=1e-5)
    assert weight[0].tolist() == pytest.approx(expected_w, rel=1e-5)


def test_stacked_speeds_equal_each_copy_alone():
    (x, y), seeds = _data(), [0, 1, 2]
    stacked = StackedModels.from_factory(_net, seeds, input_dims=2)
    both = hidden_layer_speeds(stacked, x, y, measure="weight")
    assert both.shape == (3, 2)
    for k, s in enumerate(seeds):
        alone = hidden_layer_speeds(_net(s), x, y, measure="weight")
        torch.testing.assert_close(both[k], alone[0], rtol=1e-5, atol=1e-7)


def test_batchnorm_nets_read_the_shift_and_keep_their_running_statistics():
    net, (x, y) = _net(0, batchnorm=True), _data()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    speeds = hidden_layer_speeds(net, x, y)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    F.cross_entropy(net(x), y).backward()
    expected = [float(net.bn1.bias.grad.norm()), float(net.bn2.bias.grad.norm())]
    assert speeds[0].tolist() == pytest.approx(expected, rel=1e-5)


def test_bad_inputs_are_named():
    x, y = _data()
    with pytest.raises(ValidationError, match="measure"):
        hidden_layer_speeds(_net(0), x, y, measure="grad")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="fc1"):
        hidden_layer_speeds(torch.nn.Sequential(torch.nn.Linear(6, 3)), x, y)
    with pytest.raises(DTypeError, match="model must be a torch.nn.Module"):
        hidden_layer_speeds("net", x, y)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="same number of examples"):
        hidden_layer_speeds(_net(0), x, y[:5])


def test_all_of_and_any_of_are_three_valued():
    assert all_of(["holds", "holds"]) == "holds"
    assert all_of(["holds", "inconclusive"]) == "inconclusive"
    assert all_of(["inconclusive", "does not hold"]) == "does not hold"
    assert any_of(["does not hold", "holds"]) == "holds"
    assert any_of(["does not hold", "inconclusive"]) == "inconclusive"
    assert any_of(["does not hold"]) == "does not hold"
    with pytest.raises(ValidationError, match="at least one"):
        all_of([])
    with pytest.raises(ValidationError, match="must be one of"):
        any_of(["maybe"])


def test_log10_spread_and_first_last_read_json_tables():
    rows = [[0.1, 1.0, 0.5], [2.0, 2.0, 2.0], ["inf", 1.0, 1.0], [0.0, 1.0, 1.0]]
    spread = log10_spread(rows)
    assert spread[:2].tolist() == pytest.approx([1.0, 0.0])
    assert math.isnan(spread[2]) and spread[3] == math.inf
    assert log10_first_last([[100.0, 10.0, 1.0], [1.0, 1.0, 10.0]]).tolist() == [2.0, -1.0]
    with pytest.raises(ShapeError, match="seeds × layers"):
        log10_spread([1.0, 2.0])
