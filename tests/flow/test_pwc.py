"""PWCNetLite: shapes, gradients through cost volume and warping, training, checkpoints."""

import pytest
import torch

from nndl._validation import ShapeError, ValidationError
from nndl.flow import (
    PWCNetLite,
    benchmark_pairs,
    endpoint_error,
    flip_augment,
    load_pwc,
    make_flow_pairs,
    pretrained_path,
    pwc_loss,
    save_pwc,
    train_pwc,
)
from nndl.ops import warp
from nndl.train import CheckpointError, save_checkpoint


def test_shapes_of_levels_and_output():
    torch.manual_seed(0)
    net = PWCNetLite()
    a, b = torch.rand(2, 1, 64, 80), torch.rand(2, 1, 64, 80)
    levels = net.forward_levels(a, b)
    assert [tuple(f.shape[-2:]) for f in levels] == [(4, 5), (8, 10), (16, 20)]
    assert net(a, b).shape == (2, 2, 64, 80)
    # RGB files go through predict, which converts to grey, in eval mode and without gradients
    flow = net.predict(torch.rand(3, 64, 80), torch.rand(3, 64, 80))
    assert flow.shape == (2, 64, 80) and not flow.requires_grad and net.training


def test_loss_reaches_every_layer_through_cost_volume_and_warp():
    torch.manual_seed(0)
    net = PWCNetLite()
    pairs = make_flow_pairs(2, (64, 64), generator=torch.Generator().manual_seed(0))
    pwc_loss(net, pairs.tensors()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_training_lowers_the_loss():
    pairs = make_flow_pairs(
        16,
        (64, 64),
        max_flow=4.0,
        kinds=("translation", "affine"),
        generator=torch.Generator().manual_seed(1),
    )
    torch.manual_seed(0)
    net = PWCNetLite(channels=(8, 16, 24), decoder_channels=(16,))
    with torch.no_grad():
        before = float(pwc_loss(net, pairs.tensors()))
    history = train_pwc(net, pairs.tensors(), epochs=8, batch_size=8, lr=3e-3, augment=False)
    assert len(history) == 8
    with torch.no_grad():
        after = float(pwc_loss(net, pairs.tensors()))
    assert after < 0.9 * before


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    net = PWCNetLite(channels=(8, 12, 16), decoder_channels=(8,))
    path = save_pwc(net, tmp_path / "pwc.safetensors", note="test")
    loaded = load_pwc(path)
    assert loaded.config == net.config
    a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(loaded.predict(a, b), net.predict(a, b))
    save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(1)}, {"kind": "trainer"})
    with pytest.raises(CheckpointError, match="other.safetensors"):
        load_pwc(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pwc(tmp_path / "missing.safetensors")


def test_rejects_bad_input():
    net = PWCNetLite()
    with pytest.raises(ValidationError, match="img1 must have 1 channel"):
        net(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    with pytest.raises(ShapeError, match="at least 16"):
        net.predict(torch.rand(1, 12, 40), torch.rand(1, 12, 40))
    with pytest.raises(ValidationError, match="levels"):
        net.forward_levels(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), levels=4)
    with pytest.raises(ValidationError, match="flow must have shape"):
        train_pwc(
            net,
            (torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32), torch.rand(2, 2, 16, 16)),
            epochs=1,
        )


def test_resumed_training_matches_uninterrupted_training(tmp_path, monkeypatch):
    import nndl.flow.pwc as pwc_module

    pairs = make_flow_pairs(8, (64, 64), generator=torch.Generator().manual_seed(2)).tensors()

    def fresh() -> PWCNetLite:
        torch.manual_seed(0)
        return PWCNetLite(channels=(8, 12, 16), decoder_channels=(8,))

    straight = fresh()
    train_pwc(straight, pairs, epochs=2, batch_size=4, checkpoint_dir=tmp_path / "a")

    # interrupt a second run during its second epoch (after the epoch-1 checkpoint) ...
    calls = {"n": 0}

    def crash_on_third_step(model, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return pwc_loss(model, batch)

    monkeypatch.setattr(pwc_module, "pwc_loss", crash_on_third_step)
    with pytest.raises(KeyboardInterrupt):
        train_pwc(fresh(), pairs, epochs=2, batch_size=4, checkpoint_dir=tmp_path / "b")
    monkeypatch.undo()
    # ... and resume it in a fresh model: the weights, optimiser and cosine schedule continue
    torch.manual_seed(123)
    resumed = PWCNetLite(channels=(8, 12, 16), decoder_channels=(8,))
    train_pwc(resumed, pairs, epochs=2, batch_size=4, checkpoint_dir=tmp_path / "b", resume=True)
    for (name, a), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, msg=name)


def test_ablations_change_only_what_they_say():
    torch.manual_seed(0)
    net = PWCNetLite()
    a, b = torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64)
    full = net.forward_levels(a, b)
    single = net.forward_levels(a, b, levels=1)
    assert len(full) == 3 and len(single) == 1 and single[0].shape == full[-1].shape
    no_warp = net.forward_levels(a, b, warping=False)
    torch.testing.assert_close(no_warp[0], full[0])  # the coarsest level never warps
    assert not torch.allclose(no_warp[-1], full[-1])


def test_flip_augment_keeps_pairs_consistent():
    pairs = make_flow_pairs(4, (48, 48), max_flow=3.0, generator=torch.Generator().manual_seed(3))
    img1, img2, flow = pairs.tensors()
    before = (warp(img2, flow) - img1).abs()[..., 6:-6, 6:-6].mean()
    for seed in range(6):
        a, b, f = flip_augment((img1, img2, flow), torch.Generator().manual_seed(seed))
        after = (warp(b, f) - a).abs()[..., 6:-6, 6:-6].mean()
        torch.testing.assert_close(after, before, rtol=0.05, atol=1e-4)


def test_shipped_weights_load_without_download_and_beat_zero_flow():
    assert pretrained_path().is_file()
    net = PWCNetLite.pretrained()
    assert not net.training
    pairs = benchmark_pairs(4)
    pred = net.predict(pairs.img1, pairs.img2)
    zero = endpoint_error(torch.zeros_like(pairs.flow), pairs.flow)
    assert endpoint_error(pred, pairs.flow) < 0.5 * zero
