"""Library mechanics of the P2, P3, F1 and F4 experiments, on small hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nndl._validation import ShapeError, ValidationError
from nndl.analysis import (
    TARGET_FUNCTIONS,
    check_receptive_fields,
    compare_gradient_estimators,
    fit_mlp_regressors,
    invariance_profile,
    layer_io_change,
    power_law_exponent,
    relative_drop,
    relative_rmse,
    target_direction,
    transform_families,
)
from nndl.nn import cnn


# -- receptive fields (P3) ---------------------------------------------------------------------
def test_fields_grow_with_pooling_and_match_the_gradient():
    torch.manual_seed(0)
    pooled = cnn(1, 10, 24, channels=(4, 4, 4), pool="max")
    checks = check_receptive_fields(pooled, (1, 24, 24), ["pool1", "pool2", "pool3"], n_samples=4)
    assert [c.size[0] for c in checks] == [4, 10, 22]
    assert [c.jump[0] for c in checks] == [2, 4, 8]
    assert all(c.matches and c.empirical_size == c.size for c in checks)
    flat = cnn(1, 10, 24, channels=(4, 4, 4), pool="none")
    assert [c.size[0] for c in check_receptive_fields(flat, (1, 24, 24), ["act3"])] == [7]


def test_a_kernel_that_ignores_its_border_is_reported_as_a_mismatch():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0  # the unit only sees its own pixel
    (check,) = check_receptive_fields(nn.Sequential(conv), (1, 9, 9), ["0"], n_samples=2)
    assert check.size == (3, 3) and check.analytic == ((3, 5), (3, 5))
    assert check.empirical == ((4, 4), (4, 4)) and not check.matches


def test_field_check_rejects_bad_layers_before_any_work():
    net = cnn(1, 10, 24, channels=(4,), pool="max")
    with pytest.raises(ValidationError, match="layer"):
        check_receptive_fields(net, (1, 24, 24), ["pool9"])
    with pytest.raises(ValidationError, match="at least one"):
        check_receptive_fields(net, (1, 24, 24), [])
    with pytest.raises(ValidationError, match="n_samples"):
        check_receptive_fields(net, (1, 24, 24), ["pool1"], n_samples=0)


# -- invariance across a layer (P2) ------------------------------------------------------------
def _images(n: int = 6, size: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0))


def test_transform_families_shapes_order_and_seeding():
    x = _images()
    sets = transform_families(
        x,
        shifts=(1, 2),
        elastic_alphas=(1.0,),
        scales=(1.25, 0.5),
        generator=torch.Generator().manual_seed(3),
    )
    assert list(sets) == ["translation", "elastic", "rescaling"]
    assert [m for m, _ in sets["translation"]] == [1.0, 2.0]
    assert [len(b) for _, b in sets["translation"]] == [4, 4]  # four directions
    assert [m for m, _ in sets["rescaling"]] == [0.5, 1.25]  # sorted
    assert all(t.shape == x.shape for items in sets.values() for _, b in items for t in b)
    from nndl.analysis import translate

    down, _, _, left = sets["translation"][0][1]
    assert torch.equal(down, translate(x, (1, 0))) and torch.equal(left, translate(x, (0, -1)))
    assert torch.equal(down[:, :, 1:], x[:, :, :-1])  # down by one
    again = transform_families(x, elastic_alphas=(1.0,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(again["elastic"][0][1][0], sets["elastic"][0][1][0])
    with pytest.raises(ValidationError, match="shifts"):
        transform_families(x, shifts=(0,))
    with pytest.raises(ValidationError, match="scales"):
        transform_families(x, scales=(0.0,))


def test_invariance_profile_averages_layer_io_change_and_scores_accuracy():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(48, 3)
    ).eval()
    x = _images()
    y = net(x).argmax(1)  # labels the net gets right
    shifted = [torch.roll(x, 1, dims=3), torch.roll(x, -1, dims=3)]
    profile = invariance_profile(net, x, y, {"id": [(0.0, [x])], "roll": [(1.0, shifted)]}, ["2"])
    assert profile["clean_accuracy"] == 1.0
    assert profile["id"] == {"before": [[0.0]], "after": [[0.0]], "accuracy": [1.0]}
    expected = [layer_io_change(net, x, t, ["2"])["2"] for t in shifted]
    before = float(np.mean([float(e[0].mean()) for e in expected]))
    after = float(np.mean([float(e[1].mean()) for e in expected]))
    assert profile["roll"]["before"] == [[pytest.approx(before)]]
    assert profile["roll"]["after"] == [[pytest.approx(after)]] and after > 0
    only_acc = invariance_profile(net, x, y, {"roll": [(1.0, shifted)]}, [])
    assert only_acc["roll"]["before"] == [[]]
    with pytest.raises(ValidationError, match="labels"):
        invariance_profile(net, x, y[:3], {"id": [(0.0, [x])]}, ["2"])


# -- gradient estimators (F4) ------------------------------------------------------------------
def test_compare_gradient_estimators_counts_passes_and_agrees():
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    x = torch.randn(8, 3, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return model(x).pow(2).mean()

    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    out = compare_gradient_estimators(loss, model, wp_samples=7, repeats=2, generators=gens)
    assert out["parameters"] == 8
    assert out["fd_relative_error"] < 1e-6
    assert out["passes"] == {"backprop": 1, "finite_difference": 16, "weight_perturbation": 14}
    assert len(out["wp_cosine"]) == len(out["wp_relative_error"]) == 3
    assert all(-1 <= c <= 1 for c in out["wp_cosine"]) and set(out["seconds"]) == set(out["passes"])
    again = compare_gradient_estimators(
        loss, model, wp_samples=7, generators=[torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    )
    assert again["wp_cosine"] == out["wp_cosine"]  # the directions come from the generators
    with pytest.raises(ValidationError, match="generators"):
        compare_gradient_estimators(loss, model, generators=[])
    with pytest.raises(ValidationError, match="repeats"):
        compare_gradient_estimators(loss, model, repeats=0)


def test_power_law_exponent():
    assert power_law_exponent([1, 10, 100], [3.0, 300.0, 30000.0]) == pytest.approx(2.0)
    assert power_law_exponent([2, 4, 8], [5.0, 5.0, 5.0]) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(power_law_exponent([2], [3.0]))
    with pytest.raises(ValidationError, match="positive"):
        power_law_exponent([1, 2], [1.0, 0.0])
    with pytest.raises(ValidationError, match="one length"):
        power_law_exponent([1, 2], [1.0])


# -- function approximation (F1) ---------------------------------------------------------------
def test_target_functions_at_known_points():
    w = target_direction(3)
    assert float(w.norm()) == pytest.approx(1.0) and float(w[1] / w[0]) == pytest.approx(-0.6)
    origin = torch.zeros(1, 3, dtype=torch.float64)
    assert float(TARGET_FUNCTIONS["smooth"](origin)) == 1.0
    assert float(TARGET_FUNCTIONS["oscillatory"](origin)) == 0.0
    assert float(TARGET_FUNCTIONS["kinked"](0.1 * w[None])) == pytest.approx(0.0, abs=1e-15)
    inside, outside = (
        torch.full((1, 3), 0.5, dtype=torch.float64),
        torch.ones(1, 3, dtype=torch.float64),
    )
    assert float(TARGET_FUNCTIONS["discontinuous"](inside)) == 1.0  # |x|² = 0.75 < 1
    assert float(TARGET_FUNCTIONS["discontinuous"](outside)) == 0.0


def test_relative_rmse_and_drop():
    target = np.array([0.0, 1.0, 2.0, 3.0])
    assert relative_rmse(target, target) == 0.0
    assert relative_rmse(np.full(4, target.mean()), target) == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="constant"):
        relative_rmse(target, np.ones(4))
    with pytest.raises(ShapeError):
        relative_rmse(target[:3], target)
    history = np.array([[4.0, 1.0, 0.0], [2.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    assert relative_drop(history, 1).tolist() == [0.5, 0.0, 0.0]
    assert relative_drop(history, 2).tolist() == [0.75, 0.0, 0.0]
    with pytest.raises(ValidationError, match="window"):
        relative_drop(history, 3)


def test_fit_mlp_regressors_trains_each_column_as_if_alone():
    x = torch.rand(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    kinked, smooth = TARGET_FUNCTIONS["kinked"](x), TARGET_FUNCTIONS["smooth"](x)
    ys = torch.stack([kinked, smooth, kinked], 1)
    nets, history = fit_mlp_regressors(x, ys, width=6, seeds=[5, 6, 7], steps=40, lr=1e-2)
    assert history.shape == (40, 3) and (history[-1] < history[0]).all()
    _, alone = fit_mlp_regressors(x, ys[:, 2:], width=6, seeds=[7], steps=40, lr=1e-2)
    np.testing.assert_allclose(history[:, 2], alone[:, 0], rtol=1e-5)  # as if trained alone
    assert nets(x.float()).shape == (3, 32, 1)
    with pytest.raises(ShapeError, match="one column per seed"):
        fit_mlp_regressors(x, kinked[:, None], width=4, seeds=[1, 2], steps=5, lr=1e-2)
