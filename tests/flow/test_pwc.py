"""PWCNetLite: shapes, gradients through cost volume and warping, training, checkpoints."""

import pytest
import torch

from nndl._validation import DTypeError, ShapeError, ValidationError
from nndl.flow import (
    PWC_RECIPE,
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
    upsample_flow,
)
from nndl.flow.pwc import convex_upsample
from nndl.ops import warp
from nndl.train import CheckpointError, save_checkpoint, save_model


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


def _mirror(x: torch.Tensor, flow: bool = False) -> torch.Tensor:
    """Left-right mirror of images, or of a flow field (whose u then changes sign)."""
    x = x.flip(-1)
    return torch.cat([-x[:, :1], x[:, 1:]], 1) if flow else x


def test_symmetrised_prediction_is_exactly_flip_equivariant():
    torch.manual_seed(0)
    net = PWCNetLite().eval()
    a, b = torch.rand(2, 1, 48, 64), torch.rand(2, 1, 48, 64)
    sym, sym_mirrored = net.predict(a, b), net.predict(_mirror(a), _mirror(b))
    torch.testing.assert_close(sym_mirrored, _mirror(sym, flow=True), rtol=1e-4, atol=1e-5)
    one, one_mirrored = (
        net.predict(x, y, symmetrize=False) for x, y in ((a, b), (_mirror(a), _mirror(b)))
    )
    assert (one_mirrored - _mirror(one, flow=True)).abs().max() > 1e-3  # one pass is not
    torch.testing.assert_close(one, net(a, b))
    # the mean of the four passes, each mapped back to the original frame
    passes = [
        one,
        _mirror(net(_mirror(a), _mirror(b)), flow=True),
        net(a.flip(-2), b.flip(-2)).flip(-2) * torch.tensor([1.0, -1.0]).view(1, 2, 1, 1),
        _mirror(net(_mirror(a).flip(-2), _mirror(b).flip(-2)).flip(-2), flow=True)
        * torch.tensor([1.0, -1.0]).view(1, 2, 1, 1),
    ]
    torch.testing.assert_close(sym, torch.stack(passes).mean(0), rtol=1e-4, atol=1e-5)
    flow, levels = net.predict(a, b, return_levels=True)
    torch.testing.assert_close(flow, sym)
    assert [f.shape[-2:] for f in levels] == [f.shape[-2:] for f in net.forward_levels(a, b)]


def test_shipped_weights_load_without_download_and_beat_zero_flow():
    assert pretrained_path().is_file()
    net = PWCNetLite.pretrained()
    assert not net.training
    pairs = benchmark_pairs(4)
    pred = net.predict(pairs.img1, pairs.img2)
    zero = endpoint_error(torch.zeros_like(pairs.flow), pairs.flow)
    assert endpoint_error(pred, pairs.flow) < 0.5 * zero


def _bilinear_logits(s: int, h: int, w: int) -> torch.Tensor:
    """Mask logits whose softmax gives the bilinear (align_corners=False) weights of ×s."""
    t = (torch.arange(s, dtype=torch.float64) + 0.5) / s - 0.5  # fine offset in coarse pixels
    taps = torch.stack([(-t).clamp_min(0), 1 - t.abs(), t.clamp_min(0)])  # (3 neighbours, s)
    w2 = taps[:, None, :, None] * taps[None, :, None, :]  # (3, 3, s, s): rows, cols, k, m
    logits = w2.reshape(9, s, s).clamp_min(1e-300).log()
    return logits.reshape(1, 9 * s * s, 1, 1).expand(1, 9 * s * s, h, w).contiguous()


def test_convex_upsampling_keeps_a_constant_flow_exactly():
    g = torch.Generator().manual_seed(0)
    flow = torch.tensor([1.5, -0.25]).view(1, 2, 1, 1).expand(2, 2, 5, 7).contiguous()
    fine = convex_upsample(flow, torch.randn(2, 9 * 16, 5, 7, generator=g), 4)
    assert fine.shape == (2, 2, 20, 28)
    torch.testing.assert_close(fine, 4 * flow[:, :, :1, :1].expand_as(fine))


@pytest.mark.parametrize("s", [2, 4])
def test_convex_upsampling_with_bilinear_weights_is_bilinear_upsampling(s):
    # a linear flow with a kink: a wrong neighbour order or fine-pixel layout would differ
    flow = torch.randn(1, 2, 6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fine = convex_upsample(flow, _bilinear_logits(s, 6, 5), s)
    torch.testing.assert_close(fine, upsample_flow(flow, (6 * s, 5 * s)))


def test_convex_upsampling_can_keep_a_motion_boundary_sharp():
    # all weight on the centre neighbour: nearest-neighbour upsampling, no blending at the step
    flow = torch.zeros(1, 2, 4, 4)
    flow[..., 2:] = 3.0
    mask = torch.full((1, 9 * 4, 4, 4), -30.0)
    mask.view(1, 9, 2, 2, 4, 4)[:, 4] = 30.0
    fine = convex_upsample(flow, mask, 2)
    torch.testing.assert_close(fine, flow.repeat_interleave(2, -1).repeat_interleave(2, -2) * 2)


def test_convex_upsampling_gradients_and_bad_shapes():
    g = torch.Generator().manual_seed(2)
    flow = torch.randn(1, 2, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.randn(1, 9 * 4, 3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, m: convex_upsample(f, m, 2), (flow, mask))
    with pytest.raises(ShapeError, match="mask must have shape"):
        convex_upsample(flow, mask, 3)
    with pytest.raises(ShapeError, match="flow must have shape"):
        convex_upsample(flow[:, :1], mask, 2)
    with pytest.raises(DTypeError, match="mask must be a floating-point tensor"):
        convex_upsample(flow, mask.long(), 2)
    with pytest.raises(DTypeError, match="flow must be a torch.Tensor, got list"):
        convex_upsample(flow.tolist(), mask, 2)


@pytest.mark.parametrize("size", [(50, 38), (64, 64)])
def test_output_has_the_input_size_for_every_upsampling(size):
    a, b = torch.rand(1, 1, *size), torch.rand(1, 1, *size)
    for cfg in (
        {},
        {"upsampling": "bilinear", "context_channels": ()},
        {"output_level": 0, "context_channels": (8, 8)},
    ):
        torch.manual_seed(0)
        net = PWCNetLite(channels=(8, 12, 16, 24), decoder_channels=(8,), **cfg)
        levels = net(a, b, return_levels=True)
        assert levels[-1].shape == (1, 2, *size) and len(levels) == net.decoded_levels + 1
        assert net.predict(a, b).shape == (1, 2, *size)


def test_checkpoints_written_before_convex_upsampling_still_load(tmp_path):
    torch.manual_seed(0)
    old = PWCNetLite(
        channels=(8, 12, 16), decoder_channels=(8,), upsampling="bilinear", context_channels=()
    )
    config = {k: old.config[k] for k in ("in_channels", "channels", "max_displacement")}
    config["decoder_channels"] = [8]
    path = save_model(old, tmp_path / "v1.safetensors", kind="nndl.flow.PWCNetLite", config=config)
    loaded = load_pwc(path)
    assert loaded.upsampling == "bilinear" and loaded.context is None
    a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(loaded.predict(a, b), old.predict(a, b))


def test_context_network_refines_only_the_output_level():
    torch.manual_seed(0)
    net = PWCNetLite(channels=(8, 12, 16), decoder_channels=(8,))
    a, b = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    with_context = net.forward_levels(a, b)
    context, net.context = net.context, None
    without = net.forward_levels(a, b)
    net.context = context
    torch.testing.assert_close(with_context[0], without[0])
    assert not torch.allclose(with_context[-1], without[-1])


def test_shipped_weights_are_the_recipe_and_architecture_of_the_defaults():
    import dataclasses
    import json

    meta = json.loads(pretrained_path().with_suffix(".json").read_text())
    assert meta["recipe"] == dataclasses.asdict(PWC_RECIPE)
    assert meta["config"] == PWCNetLite().config
    assert meta["command"] == "OMP_NUM_THREADS=1 nndl train pwc --out RUN"
    assert PWCNetLite.pretrained().config == PWCNetLite().config
