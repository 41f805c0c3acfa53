"""model_cost, the invariance transforms and measures, and parameter_sensitivity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.analysis import (
    SensitivityResult,
    elastic_deform,
    model_cost,
    parameter_sensitivity,
    prediction_change,
    representation_similarity,
    rescale,
    saliency,
    translate,
)
from nndl.data import load_digits_split
from nndl.nn import cnn
from nndl.train import Trainer, supervised_loss

# -- model_cost ------------------------------------------------------------------------------------
# multiply-adds: C_out·H_out·W_out·C_in·k² per convolution, in·out for the read-out; channels
# (4, 6), 3×3 kernels, an 8×8 input: conv1 out 8×8 (4×4 strided), conv2 out 4×4 / 8×8 / 2×2
MACS = {
    "max": 4 * 64 * 9 + 6 * 16 * 4 * 9 + 6 * 4 * 10,
    "avg": 4 * 64 * 9 + 6 * 16 * 4 * 9 + 6 * 4 * 10,
    "none": 4 * 64 * 9 + 6 * 64 * 4 * 9 + 6 * 64 * 10,
    "stride": 4 * 16 * 9 + 6 * 4 * 4 * 9 + 6 * 4 * 10,
}


@pytest.mark.parametrize("pool", sorted(MACS))
def test_cost_of_the_cnn_variants_matches_closed_forms(pool):
    model = cnn(1, 10, 8, channels=(4, 6), pool=pool)
    cost = model_cost(model, (1, 8, 8))
    assert cost.parameters == sum(p.numel() for p in model.parameters())
    assert cost.multiply_adds == MACS[pool]
    assert cost.layer_outputs["out"] == 10
    assert cost.activation_bytes == 4 * cost.activation_elements
    assert cost.activation_elements == sum(cost.layer_outputs.values())


def test_cost_restores_training_mode_and_needs_a_module():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).train()
    assert model_cost(model, (3,)).multiply_adds == 6
    assert model.training
    with pytest.raises(TypeError, match="torch.nn.Module"):
        model_cost(lambda x: x, (3,))
    with pytest.raises(ValidationError, match=r"input_shape\[0\]"):
        model_cost(model, (0,))


# -- transforms ------------------------------------------------------------------------------------
def test_translate_moves_content_and_fills_with_zeros():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    down_right = translate(x, (1, 2))
    assert torch.equal(down_right[0, 0, 1:, 2:], x[0, 0, :3, :2])
    assert down_right[0, 0, 0].abs().sum() == 0 and down_right[0, 0, :, :2].abs().sum() == 0
    assert torch.equal(translate(translate(x, (0, -1)), (0, 1))[..., 1:], x[..., 1:])
    assert translate(x, (4, 0)).abs().sum() == 0
    with pytest.raises(ValidationError, match="shift"):
        translate(x, (1.5, 0))


def test_rescale_identity_and_shrinking_a_centred_blob():
    coords = torch.arange(32.0) - 15.5
    blob = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * 4.0**2))[None, None]
    torch.testing.assert_close(rescale(blob, 1.0), blob, atol=1e-5, rtol=0)

    def width(img):
        w = img[0, 0] / img.sum()
        return float((w * coords[None, :] ** 2).sum().sqrt())

    assert width(rescale(blob, 0.5)) == pytest.approx(width(blob) / 2, rel=0.1)
    assert width(rescale(blob, 1.5)) == pytest.approx(width(blob) * 1.5, rel=0.1)
    with pytest.raises(ValidationError, match="factor"):
        rescale(blob, 0.0)


def test_elastic_deformation_is_seeded_small_and_identity_at_zero():
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(elastic_deform(x, 0.0), x, atol=1e-6, rtol=0)
    a = elastic_deform(x, 1.0, generator=torch.Generator().manual_seed(3))
    b = elastic_deform(x, 1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, x)
    small = (elastic_deform(x, 0.3, generator=torch.Generator().manual_seed(4)) - x).abs().mean()
    large = (elastic_deform(x, 3.0, generator=torch.Generator().manual_seed(4)) - x).abs().mean()
    assert small < large
    with pytest.raises(ValidationError, match="sigma"):
        elastic_deform(x, 1.0, sigma=0)


def test_similarity_and_prediction_change():
    x = torch.rand(5, 1, 6, 6)
    total = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    torch.testing.assert_close(representation_similarity(total, x, x), torch.ones(5))
    # a global sum does not see a translation that keeps the content inside the image
    pad = torch.zeros(5, 1, 8, 8)
    pad[..., 1:7, 1:7] = x

    def global_sum(z):
        return z.sum(dim=(2, 3))

    torch.testing.assert_close(
        representation_similarity(global_sum, pad, translate(pad, (1, -1))), torch.ones(5)
    )
    assert prediction_change(total, x, x) == 0.0
    sign = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    with torch.no_grad():  # logits (Σx, −Σx): class 0 for positive images, 1 for negative ones
        sign[1].weight.copy_(torch.stack([torch.ones(36), -torch.ones(36)]))
        sign[1].bias.zero_()
    assert prediction_change(sign, x, -x) == 1.0
    with pytest.raises(ValidationError, match="same shape"):
        representation_similarity(total, x, x[:2])


# -- parameter_sensitivity -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_digits():
    torch.manual_seed(0)
    split = load_digits_split(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    Trainer(
        model,
        torch.optim.Adam(model.parameters(), 3e-3),
        supervised_loss(),
        epochs=15,
        batch_size=64,
    ).fit((split.x_train, split.y_train))
    return model, split


def test_saliency_is_weight_times_gradient():
    model = nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    loss = nn.functional.cross_entropy(model(x), y)
    gw, gb = torch.autograd.grad(loss, [model.weight, model.bias])
    expected = torch.cat([(model.weight * gw).flatten(), (model.bias * gb).flatten()]).abs()
    torch.testing.assert_close(saliency(model, (x, y)), expected.detach())


def test_salient_parameters_hurt_more_than_random_ones(trained_digits):
    model, split = trained_digits
    before = [p.detach().clone() for p in model.parameters()]
    result = parameter_sensitivity(
        model,
        (split.x_test, split.y_test),
        [0, 10, 50, 200],
        saliency_data=(split.x_val, split.y_val),
        repeats=3,
        generator=torch.Generator().manual_seed(0),
    )
    assert result.baseline > 0.9
    assert result.accuracy["saliency"][0] == result.baseline == result.accuracy["random"][0]
    assert result.accuracy["saliency"][2] < result.accuracy["random"][2] - 0.05
    assert result.n_parameters == 64 * 32 + 32 + 32 * 10 + 10
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)  # the model is restored


def test_zeroing_every_parameter_leaves_a_constant_classifier(trained_digits):
    model, split = trained_digits
    n = sum(p.numel() for p in model.parameters())
    zero = parameter_sensitivity(model, (split.x_test, split.y_test), [n], selections=["saliency"])
    # an all-zero network outputs equal logits: argmax picks class 0 for every example
    assert zero.accuracy["saliency"][0] == pytest.approx(float((split.y_test == 0).float().mean()))


def test_smallest_k_reads_the_grid():
    result = SensitivityResult(
        ks=[1, 2, 4, 8],
        accuracy={"saliency": [0.95, 0.9, 0.85, 0.5], "random": [0.95, 0.95, 0.95, 0.94]},
        accuracy_std={"saliency": [0.0] * 4, "random": [0.0] * 4},
        baseline=0.95,
        n_parameters=8,
        perturbation="zero",
    )
    assert result.smallest_k(0.10) == 4
    assert result.smallest_k(0.10, "random") is None
    with pytest.raises(ValidationError, match="selection"):
        result.smallest_k(0.1, "best")


def test_sensitivity_rejects_bad_arguments(trained_digits):
    model, split = trained_digits
    data = (split.x_test, split.y_test)
    with pytest.raises(ValidationError, match="k must be an int in the range"):
        parameter_sensitivity(model, data, [10**6])
    with pytest.raises(ValidationError, match="perturbation"):
        parameter_sensitivity(model, data, [1], perturbation="scale")
    with pytest.raises(TypeError, match="int64"):
        parameter_sensitivity(model, (split.x_test, split.y_test.float()), [1])
    with pytest.raises(ValidationError, match="shape"):
        parameter_sensitivity(model, (split.x_test, split.y_test[:5]), [1])
