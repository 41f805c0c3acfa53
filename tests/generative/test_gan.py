"""GAN: losses against their definitions, sampling shapes and ranges, bad input, the gradient
monitors, checkpoints, and resuming that gives the same weights as an uninterrupted run."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nndl import ShapeError, ValidationError
from nndl.generative.gan import (
    GAN,
    discriminator_loss,
    generator_loss,
    image_grid,
    save_image_grid,
    train_gan,
)
from nndl.train import CheckpointError


def _images(n: int = 48, seed: int = 0) -> torch.Tensor:
    """Small 1×8×8 images in [0, 1]: a bright bar at a random row."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=gen) * 0.1
    rows = torch.randint(0, 8, (n,), generator=gen)
    x[torch.arange(n), 0, rows, :] = 0.9
    return x


def _small_gan(**kw) -> GAN:
    torch.manual_seed(0)
    return GAN((1, 8, 8), latent_dim=4, hidden=(16, 16), **kw)


# -- losses ---------------------------------------------------------------------------------
def test_discriminator_loss_is_binary_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, generator=gen), torch.randn(5, generator=gen)
    expected = F.binary_cross_entropy_with_logits(
        real, torch.ones(7)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros(5))
    torch.testing.assert_close(discriminator_loss(real, fake), expected)


def test_generator_losses_match_their_definitions():
    logits = torch.linspace(-4, 4, 9)
    d = torch.sigmoid(logits)
    torch.testing.assert_close(generator_loss(logits), -torch.log(d).mean())
    torch.testing.assert_close(generator_loss(logits, non_saturating=False), torch.log1p(-d).mean())


def test_non_saturating_loss_keeps_its_gradient_when_d_rejects_the_samples():
    # early in training D(g(z)) ≈ 0 (logit −10): the minimax loss's gradient −σ(ℓ) vanishes,
    # the non-saturating one's −(1 − σ(ℓ)) does not
    logit = torch.tensor([-10.0], requires_grad=True)
    (g_ns,) = torch.autograd.grad(generator_loss(logit), logit)
    (g_mm,) = torch.autograd.grad(generator_loss(logit, non_saturating=False), logit)
    assert g_ns.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-10.0))).item())
    assert g_mm.item() == pytest.approx(-torch.sigmoid(torch.tensor(-10.0)).item())
    assert abs(g_ns.item()) > 1e4 * abs(g_mm.item())


# -- model -------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_sample_shapes_and_range(arch):
    gan = GAN((1, 8, 8), latent_dim=3, arch=arch, hidden=(8,), channels=(4, 8))
    x = gan.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 8, 8)
    assert float(x.min()) > 0.0 and float(x.max()) < 1.0
    assert gan.discriminate(x).shape == (5,)
    same = gan.sample(5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, same)


def test_bad_model_arguments():
    with pytest.raises(ValidationError, match="latent_dim"):
        GAN((1, 8, 8), latent_dim=0)
    with pytest.raises(ValidationError, match="data_shape"):
        GAN((64,))
    with pytest.raises(ValidationError, match="divisible by 4"):
        GAN((1, 6, 6), arch="conv")
    with pytest.raises(ValidationError, match="arch"):
        GAN((1, 8, 8), arch="transformer")
    gan = _small_gan()
    with pytest.raises(ValidationError, match="n must be"):
        gan.sample(0)
    with pytest.raises(ShapeError, match="z"):
        gan.generate(torch.zeros(2, 5))


def test_save_and_load_round_trip(tmp_path):
    gan = _small_gan(spectral_norm=True)
    path = gan.save(tmp_path / "gan.safetensors")
    loaded = GAN.from_checkpoint(tmp_path)  # a folder holding gan.safetensors
    assert loaded.config == gan.config
    torch.testing.assert_close(
        loaded.sample(4, generator=torch.Generator().manual_seed(1)),
        gan.sample(4, generator=torch.Generator().manual_seed(1)),
    )
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="corrupt"):
        GAN.from_checkpoint(path)


# -- grids -------------------------------------------------------------------------------------
def test_image_grid_places_images_row_by_row(tmp_path):
    images = torch.arange(6, dtype=torch.float32).reshape(6, 1, 1, 1).expand(6, 1, 2, 2) / 10
    grid = image_grid(images, nrow=4, padding=1)
    assert grid.shape == (1, 2 * 3 + 1, 4 * 3 + 1)
    assert grid[0, 1, 1] == 0.0 and grid[0, 1, 4] == pytest.approx(0.1)
    assert grid[0, 4, 4] == pytest.approx(0.5)  # image 5: row 1, column 1
    assert grid[0, 4, 7] == 1.0  # the empty cell keeps the padding value
    path = save_image_grid(tmp_path / "g.png", images, nrow=4, scale=3)
    with Image.open(path) as png:
        assert png.size == (3 * 13, 3 * 7) and png.mode == "L"


# -- training ----------------------------------------------------------------------------------
def test_rejects_bad_data_before_training():
    gan = _small_gan()
    before = [p.clone() for p in gan.parameters()]
    bad = _images()
    bad[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValidationError, match="NaN"):
        train_gan(gan, bad, epochs=1)
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        train_gan(gan, _images() * 2, epochs=1)
    with pytest.raises(ShapeError):
        train_gan(gan, _images().flatten(1), epochs=1)
    with pytest.raises(ValidationError, match="batch_size"):
        train_gan(gan, _images(), epochs=1, batch_size=0)
    with pytest.raises(ValidationError, match="resume=True needs out_dir"):
        train_gan(gan, _images(), epochs=1, resume=True)
    assert all(torch.equal(a, b) for a, b in zip(before, gan.parameters(), strict=True))


def test_training_records_both_monitors_and_fixed_noise_grids(tmp_path):
    gan = _small_gan()
    run = train_gan(
        gan, _images(), epochs=2, batch_size=16, monitor_every=2, n_fixed=9, out_dir=tmp_path
    )
    assert [h["epoch"] for h in run.history] == [1, 2]
    assert run.history[-1]["step"] == 6
    for network in ("generator", "discriminator"):
        layers = run.history[-1][f"grad_{network}"]
        assert set(layers) == {"fc1", "fc2", "out"}  # spectral norm's holders fold into layers
        assert all(v["grad_norm"] > 0 and v["update_ratio"] > 0 for v in layers.values())
    steps = {r["step"] for r in run.gradients if r["network"] == "discriminator"}
    assert steps == {0, 2, 4}
    assert sorted(run.fixed_samples) == [0, 1, 2]
    assert run.fixed_samples[0].shape == (9, 1, 8, 8)
    assert not torch.equal(run.fixed_samples[0], run.fixed_samples[2])
    assert (tmp_path / "fixed_noise" / "epoch_0002.png").is_file()
    assert len(json.loads((tmp_path / "gradients.json").read_text())) == len(run.gradients)


def test_conv_gan_trains_with_spectral_norm_on_convolutions():
    gan = GAN((1, 8, 8), latent_dim=4, arch="conv", channels=(4, 8))
    run = train_gan(gan, _images(32), epochs=1, batch_size=16, monitor_every=1)
    assert set(run.history[0]["grad_discriminator"]) == {"conv1", "conv2", "out"}
    assert set(run.history[0]["grad_generator"]) == {"fc", "up1", "up2"}
    assert all(math.isfinite(run.history[0][k]) for k in ("loss_d", "loss_g"))


def test_resume_equals_uninterrupted(tmp_path):
    data = _images(40)
    full = _small_gan()
    run_full = train_gan(
        full, data, epochs=3, batch_size=16, out_dir=tmp_path / "a", monitor_every=1
    )

    part = _small_gan()
    train_gan(part, data, epochs=1, batch_size=16, out_dir=tmp_path / "b", monitor_every=1)
    resumed = GAN(**part.config)  # a fresh process would start from a new model
    run_resumed = train_gan(
        resumed, data, epochs=3, batch_size=16, out_dir=tmp_path / "b", resume=True, monitor_every=1
    )
    for (name, a), (_, b) in zip(
        full.state_dict().items(), resumed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert run_resumed.history == run_full.history
    for epoch in range(4):
        assert torch.equal(run_resumed.fixed_samples[epoch], run_full.fixed_samples[epoch])
    assert [r["step"] for r in run_resumed.gradients] == [r["step"] for r in run_full.gradients]


def test_resume_rejects_corrupt_or_foreign_checkpoints(tmp_path):
    data = _images(16)
    train_gan(_small_gan(), data, epochs=1, batch_size=16, out_dir=tmp_path, monitor_every=0)
    other = GAN((1, 8, 8), latent_dim=5, hidden=(16, 16))
    with pytest.raises(CheckpointError, match="another model"):
        train_gan(other, data, epochs=2, batch_size=16, out_dir=tmp_path, resume=True)
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="corrupt"):
        train_gan(_small_gan(), data, epochs=2, batch_size=16, out_dir=tmp_path, resume=True)


def test_generator_learns_the_data_mean():
    # all real images are 0.8 everywhere; the initial generator outputs about 0.5. The
    # adversarial dynamics oscillate around the equilibrium (overshooting to about 0.9), so
    # the check is on the mean over the last 20 epochs' fixed-noise samples.
    data = torch.full((64, 1, 4, 4), 0.8)
    torch.manual_seed(0)
    gan = GAN((1, 4, 4), latent_dim=2, hidden=(16,))
    run = train_gan(gan, data, epochs=40, batch_size=32, lr=1e-2, lr_d=1e-2, monitor_every=0)
    start = float(run.fixed_samples[0].mean())
    late = sum(float(run.fixed_samples[e].mean()) for e in range(21, 41)) / 20
    assert abs(start - 0.8) > 0.25
    assert abs(late - 0.8) < 0.1
