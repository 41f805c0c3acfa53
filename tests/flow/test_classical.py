"""The training-free coarse-to-fine estimator on real images with known motion."""

import pytest
import torch

from nndl._validation import DTypeError, ShapeError, ValidationError
from nndl.flow import (
    HELDOUT_IMAGES,
    endpoint_error,
    estimate_flow,
    image_pyramid,
    lucas_kanade_step,
    make_flow_pairs,
    translated_pair,
    upsample_flow,
)


def _interior(shape, margin):
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[margin:-margin, margin:-margin] = True
    return mask


@pytest.mark.parametrize(
    ("image", "shift"),
    [
        ("camera", (3.0, -2.0)),
        ("camera", (1.25, -0.5)),
        ("astronaut", (0.25, 0.75)),
        ("coffee", (-2.5, 1.75)),
    ],
)
def test_recovers_integer_and_subpixel_translations(image, shift):
    img1, img2, flow = translated_pair(image, shift)
    est = estimate_flow(img1, img2)
    assert est.shape == flow.shape
    assert endpoint_error(est, flow, _interior(img1.shape[-2:], 12)) < 0.1


def test_beats_zero_flow_on_held_out_smooth_and_affine_flows():
    pairs = make_flow_pairs(
        6, (64, 64), max_flow=5.0, images=HELDOUT_IMAGES, generator=torch.Generator().manual_seed(0)
    )
    est, levels = estimate_flow(pairs.img1, pairs.img2, return_levels=True)
    zero = endpoint_error(torch.zeros_like(pairs.flow), pairs.flow)
    epe = endpoint_error(est, pairs.flow)
    assert epe < 0.5 * zero
    # coarse to fine: every level refines the previous one
    per_level = [endpoint_error(upsample_flow(f, (64, 64)), pairs.flow) for f in levels]
    assert len(levels) == 3 and per_level[-1] < per_level[0]


def test_lucas_kanade_converges_on_a_smooth_image_from_a_wrong_start():
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")

    def image(dx: float, dy: float) -> torch.Tensor:
        return (torch.sin((xs + dx) * 0.3) * torch.cos((ys + dy) * 0.25))[None, None].double()

    img1, img2 = image(0.5, -0.25), image(0.0, 0.0)  # img1(x) = img2(x + (0.5, -0.25))
    flow = torch.zeros(1, 2, 48, 48, dtype=torch.float64)
    for _ in range(5):
        flow = lucas_kanade_step(img1, img2, flow, sigma=3.0, ridge=0.0)
    inner = flow[..., 8:-8, 8:-8]
    assert inner[:, 0].mean().item() == pytest.approx(0.5, abs=0.02)
    assert inner[:, 1].mean().item() == pytest.approx(-0.25, abs=0.02)


def test_pyramid_halves_the_size():
    levels = image_pyramid(torch.rand(1, 1, 33, 40), 3)
    assert [tuple(x.shape[-2:]) for x in levels] == [(33, 40), (17, 20), (9, 10)]


def test_rejects_bad_input():
    img = torch.rand(1, 20, 20)
    with pytest.raises(ShapeError, match="img1 and img2 must have the same size"):
        estimate_flow(img, torch.rand(1, 20, 21))
    with pytest.raises(ShapeError, match="img1 must have shape"):
        estimate_flow(torch.rand(20, 20), torch.rand(20, 20))
    with pytest.raises(DTypeError, match="img1 must be a floating-point tensor"):
        estimate_flow(img.to(torch.int32), img.to(torch.int32))
    with pytest.raises(ValidationError, match="max_displacement must be an int in the range"):
        estimate_flow(img, img, max_displacement=0)


# Issue 12: real pairs are never photometrically identical. The estimator must never do worse
# than zero flow and stay within PHOTOMETRIC_TOLERANCE px of its clean result under each change
# (the tolerance is the stated robustness of the model card).
PHOTOMETRIC_TOLERANCE = 0.3
PERTURBATIONS = {
    "offset +0.05": lambda x, g: x + 0.05,
    "gain x0.9": lambda x, g: x * 0.9,
    "gamma 0.8": lambda x, g: x.clamp(0, 1) ** 0.8,
    "noise 0.01": lambda x, g: x + 0.01 * torch.randn(x.shape, generator=g),
    "blur 1 px": lambda x, g: _blur(x),
}


def _blur(x):
    from nndl.flow._filters import gaussian_blur

    return gaussian_blur(x, 1.0)


@pytest.fixture(scope="module")
def smooth_pairs():
    pairs = make_flow_pairs(
        3,
        (128, 128),
        max_flow=10.0,
        kinds=("smooth", "mixed"),
        images=("coffee", "astronaut", "camera"),
        source_scale=1.0,
        generator=torch.Generator().manual_seed(5),
    )
    clean = estimate_flow(pairs.img1, pairs.img2)
    return pairs, clean


@pytest.mark.parametrize("change", sorted(PERTURBATIONS))
def test_photometric_changes_neither_break_nor_lose_to_zero_flow(smooth_pairs, change):
    pairs, clean = smooth_pairs
    g = torch.Generator().manual_seed(0)
    changed = PERTURBATIONS[change](pairs.img2, g)
    est = estimate_flow(pairs.img1, changed)
    for i in range(len(pairs)):
        zero = endpoint_error(torch.zeros_like(pairs.flow[i]), pairs.flow[i])
        base = endpoint_error(clean[i], pairs.flow[i])
        epe = endpoint_error(est[i], pairs.flow[i])
        assert epe < zero, (change, i, epe, zero)
        assert epe <= base + PHOTOMETRIC_TOLERANCE, (change, i, epe, base)
    assert float(est.abs().max()) <= 4 * (2**4 - 1)


def test_no_warping_and_single_level_ablations_lose_on_large_flows(smooth_pairs):
    pairs, clean = smooth_pairs
    full = endpoint_error(clean, pairs.flow)
    single = endpoint_error(estimate_flow(pairs.img1, pairs.img2, levels=1), pairs.flow)
    no_warp = endpoint_error(estimate_flow(pairs.img1, pairs.img2, warping=False), pairs.flow)
    assert full < single and full < no_warp, (full, single, no_warp)
