"""Input checks of compare_gradient_estimators (F4) and check_receptive_fields (P3).

Every bad argument must raise nndl's own error naming it, before any pass or probe runs.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from nndl._validation import DTypeError, ValidationError
from nndl.analysis import check_receptive_fields, compare_gradient_estimators
from nndl.nn import cnn


class _Counting(nn.Module):
    """A linear model that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2).double()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.lin(x)


def _setup() -> tuple[_Counting, Any]:
    model = _Counting()
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return model, lambda: model(x).pow(2).mean()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": float("nan")}, ValidationError, "eps"),
        ({"eps": 0.0}, ValidationError, "eps"),
        ({"eps": "small"}, DTypeError, "eps"),
        ({"wp_sigma": float("inf")}, ValidationError, "wp_sigma"),
        ({"wp_sigma": -1e-3}, ValidationError, "wp_sigma"),
        ({"wp_samples": 0}, ValidationError, "wp_samples"),
        ({"wp_samples": 2.5}, DTypeError, "wp_samples"),
        ({"repeats": 1.0}, DTypeError, "repeats"),
        ({"generators": [None, 3]}, DTypeError, r"generators\[1\]"),
    ],
)
def test_compare_gradient_estimators_rejects_bad_settings_before_any_pass(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    model, loss = _setup()
    with pytest.raises(error, match=match):
        compare_gradient_estimators(loss, model, **kwargs)
    assert model.calls == 0


def test_compare_gradient_estimators_rejects_bad_loss_and_params_before_any_pass() -> None:
    model, loss = _setup()
    with pytest.raises(DTypeError, match="loss_fn must be callable, got float"):
        compare_gradient_estimators(1.0, model)  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match=r"params\[0\] must be a torch.Tensor, got list"):
        compare_gradient_estimators(loss, [[1.0]])  # type: ignore[list-item]
    with pytest.raises(DTypeError, match=r"params\[0\] must be floating point"):
        compare_gradient_estimators(loss, [torch.ones(2, dtype=torch.long)])
    with torch.no_grad():
        model.lin.bias[1] = float("nan")
    with pytest.raises(ValidationError, match=r"params\[1\] must be finite, got 1 NaN"):
        compare_gradient_estimators(loss, model)
    with torch.no_grad():
        model.lin.bias[1] = float("inf")
    with pytest.raises(ValidationError, match=r"params\[1\] must be finite, got 0 NaN and 1 inf"):
        compare_gradient_estimators(loss, model)
    assert model.calls == 0


def test_check_receptive_fields_rejects_bad_input_before_any_probe() -> None:
    net = cnn(1, 10, 12, channels=(2,), pool="max")
    calls: list[int] = []
    net.register_forward_hook(lambda *_: calls.append(1))
    shape = (1, 12, 12)
    with pytest.raises(DTypeError, match="model must be a torch.nn.Module, got str"):
        check_receptive_fields("net", shape, ["pool1"])  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match="input_shape must be a sequence of ints"):
        check_receptive_fields(net, 12, ["pool1"])  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match=r"input_shape\[1\] must be an int, got float"):
        check_receptive_fields(net, (1, 12.0, 12), ["pool1"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"input_shape\[2\] must be an int in the range"):
        check_receptive_fields(net, (1, 12, 0), ["pool1"])
    with pytest.raises(DTypeError, match="layers must be a sequence of layer names, got str"):
        check_receptive_fields(net, shape, "pool1")
    with pytest.raises(DTypeError, match=r"layers\[0\] must be a str, got int"):
        check_receptive_fields(net, shape, [1])  # type: ignore[list-item]
    with pytest.raises(DTypeError, match="n_samples must be an int"):
        check_receptive_fields(net, shape, ["pool1"], n_samples=2.0)  # type: ignore[arg-type]
    with pytest.raises(DTypeError, match="generator must be a torch.Generator or None, got int"):
        check_receptive_fields(net, shape, ["pool1"], generator=0)  # type: ignore[arg-type]
    weight = next(net.parameters())
    with torch.no_grad():
        weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValidationError, match="must be finite, got 0 NaN and 1 infinite"):
        check_receptive_fields(net, shape, ["pool1"])
    with torch.no_grad():
        weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValidationError, match="must be finite, got 1 NaN"):
        check_receptive_fields(net, shape, ["pool1"])
    assert calls == []
