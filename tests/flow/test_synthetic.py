"""Synthetic pairs: exact translations and flows consistent with the images."""

import pytest
import torch

from nndl._validation import ValidationError
from nndl.flow import (
    FLOW_KINDS,
    HELDOUT_IMAGES,
    TRAIN_IMAGES,
    RandomFlow,
    benchmark_pairs,
    make_flow_pairs,
    photometric_jitter,
    translated_pair,
)
from nndl.ops import warp


def test_integer_translation_is_an_exact_shift():
    img1, img2, flow = translated_pair("camera", (3.0, -2.0), factor=2)
    # img1(x, y) = img2(x + 3, y - 2)
    torch.testing.assert_close(img1[:, 2:, :-3], img2[:, :-2, 3:])
    assert flow[0].unique().tolist() == [3.0] and flow[1].unique().tolist() == [-2.0]


def test_subpixel_translation_is_a_block_average_of_a_whole_pixel_shift():
    source = torch.rand(1, 40, 40, generator=torch.Generator().manual_seed(0))
    # shifting by one more output pixel (4 source pixels) gives the neighbour
    img1b, _, _ = translated_pair(source, (1.25, 0.5), factor=4, margin=5)
    img1c, _, _ = translated_pair(source, (0.25, 0.5), factor=4, margin=5)
    torch.testing.assert_close(img1b[:, :, :-1], img1c[:, :, 1:])
    with pytest.raises(ValidationError, match="multiple of 1/factor"):
        translated_pair(source, (0.3, 0.0), factor=4)


@pytest.mark.parametrize("kind", [k for k in FLOW_KINDS if k != "piecewise"])
def test_random_flows_respect_the_bound(kind):
    gen = torch.Generator().manual_seed(1)
    field = RandomFlow.sample(kind, (32, 40), 5.0, gen)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(40.0), indexing="ij")
    norm = field(xs.double(), ys.double()).pow(2).sum(0).sqrt()
    assert float(norm.max()) <= 5.0 + 1e-9 and float(norm.max()) > 0


def test_pairs_are_consistent_with_their_flow_and_reproducible():
    pairs = make_flow_pairs(
        6, (48, 48), max_flow=4.0, images=HELDOUT_IMAGES, generator=torch.Generator().manual_seed(3)
    )
    again = make_flow_pairs(
        6, (48, 48), max_flow=4.0, images=HELDOUT_IMAGES, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(pairs.img1, again.img1)
    assert pairs.img1.shape == (6, 1, 48, 48) and pairs.flow.shape == (6, 2, 48, 48)
    warped = warp(pairs.img2, pairs.flow)
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    aligned = (warped - pairs.img1)[inner].abs().mean()
    unaligned = (pairs.img2 - pairs.img1)[inner].abs().mean()
    assert float(aligned) < 0.35 * float(unaligned)


def test_rejects_bad_input():
    with pytest.raises(ValidationError, match="unknown flow kind"):
        make_flow_pairs(2, kinds=("spiral",))
    with pytest.raises(ValidationError, match="unknown source image"):
        make_flow_pairs(2, images=("nope",))
    with pytest.raises(ValidationError, match="too small"):
        make_flow_pairs(1, (400, 400), images=("coins",))


def test_piecewise_pairs_show_an_object_moving_over_its_background():
    pairs = make_flow_pairs(
        4,
        (64, 64),
        max_flow=6.0,
        kinds=("piecewise",),
        generator=torch.Generator().manual_seed(4),
    )
    for i in range(len(pairs)):
        f = pairs.flow[i]
        # two motions: the object's constant vector and the background's field
        values, counts = f.view(2, -1).T.unique(dim=0, return_counts=True)
        assert int(counts.max()) > 64 and len(values) > 64
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    err = (warp(pairs.img2, pairs.flow) - pairs.img1)[inner].abs().mean()
    assert float(err) < 0.35 * float((pairs.img2 - pairs.img1)[inner].abs().mean())


def test_benchmark_pairs_are_held_out_fixed_and_perturbed_only_photometrically():
    perturbed, clean = benchmark_pairs(3), benchmark_pairs(3, photometric=False)
    torch.testing.assert_close(perturbed.flow, clean.flow)
    assert perturbed.kinds == clean.kinds
    assert not torch.equal(perturbed.img2, clean.img2)
    torch.testing.assert_close(benchmark_pairs(3).img2, perturbed.img2)
    assert set(HELDOUT_IMAGES).isdisjoint(TRAIN_IMAGES)


def test_photometric_jitter_stays_in_range_and_is_reproducible():
    img = torch.rand(3, 1, 16, 16)
    a = photometric_jitter(img, torch.Generator().manual_seed(0))
    b = photometric_jitter(img, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1 and not torch.allclose(a, img)
    same = photometric_jitter(img, gain=0, offset=0, gamma=0, blur=0, noise=0)
    torch.testing.assert_close(same, img)
    with pytest.raises(ValidationError, match="gain"):
        photometric_jitter(img, gain=-1.0)
