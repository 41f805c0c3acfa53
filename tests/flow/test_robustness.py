"""Issue 13, flow and stereo: every class of bad input is refused before work, and nothing
silently wrong comes back. Property tests are derandomised by the suite's hypothesis profile."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndl._validation import ShapeError, ValidationError
from nndl.flow import PWCNetLite, estimate_disparity, estimate_flow
from nndl.ops import cost_volume, cost_volume_1d, warp

# derandomised by the suite's hypothesis profile (tests/conftest.py): failures reproduce
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
NONFINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def _poison(img: torch.Tensor, value: float, index: int) -> torch.Tensor:
    out = img.clone()
    out.view(-1)[index % out.numel()] = value
    return out


@PROPERTY
@given(value=NONFINITE, index=st.integers(0, 10_000), which=st.sampled_from([0, 1]))
def test_non_finite_pixels_are_refused_by_every_estimator(value, index, which):
    torch.manual_seed(0)
    pair = [torch.rand(1, 32, 32), torch.rand(1, 32, 32)]
    pair[which] = _poison(pair[which], value, index)
    name = ("img1", "img2")[which]
    with pytest.raises(ValidationError, match=f"{name} must be finite"):
        estimate_flow(*pair)
    with pytest.raises(ValidationError, match=f"{name} must be finite"):
        PWCNetLite().predict(*pair)
    with pytest.raises(ValidationError, match=f"{('left', 'right')[which]} must be finite"):
        estimate_disparity(*pair, 8)


@PROPERTY
@given(h=st.integers(1, 40), w=st.integers(1, 40), levels=st.integers(1, 6))
def test_sizes_the_pyramid_cannot_represent_are_refused(h, w, levels):
    a, b = torch.rand(1, h, w), torch.rand(1, h, w)
    if min(h, w) < 4 * 2 ** (levels - 1):
        with pytest.raises((ShapeError, ValidationError)):
            estimate_flow(a, b, levels=levels)
    else:
        flow = estimate_flow(a, b, levels=levels)
        assert flow.shape == (2, h, w) and bool(torch.isfinite(flow).all())
    net = PWCNetLite()
    if min(h, w) < net.min_size:
        with pytest.raises(ShapeError, match="at least 16"):
            net.predict(a, b)
    else:
        assert bool(torch.isfinite(net.predict(a, b)).all())


@PROPERTY
@given(
    seed=st.integers(0, 1000),
    levels=st.integers(1, 3),
    d=st.integers(1, 4),
    shift=st.floats(-40, 40),
)
def test_estimates_never_exceed_what_the_pyramid_represents(seed, levels, d, shift):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(1, 32, 32, generator=g)
    b = torch.roll(a, int(shift), dims=-1) + 0.05 * torch.rand(1, 32, 32, generator=g)
    flow = estimate_flow(a, b, levels=levels, max_displacement=d)
    assert float(flow.abs().max()) <= d * (2**levels - 1) + 1e-4


@PROPERTY
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    c=st.integers(1, 3),
    d=st.integers(0, 3),
    stride=st.integers(1, 20),
    big=st.booleans(),
)
def test_cost_volume_fast_path_matches_the_reference_for_every_stride(h, w, c, d, stride, big):
    if big:  # large enough for the phase decomposition of the fast strided path
        h, w = h + 64, w + 64
    g = torch.Generator().manual_seed(h * 1000 + w * 10 + stride)
    f1 = torch.randn(1, c, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, c, h, w, generator=g, dtype=torch.float64, requires_grad=True)
    fast = cost_volume(f1, f2, d, stride, impl="fast")
    ref = cost_volume(f1, f2, d, stride, impl="reference")
    torch.testing.assert_close(fast, ref)
    grad = torch.randn(fast.shape, generator=g, dtype=torch.float64)
    g_fast = torch.autograd.grad((fast * grad).sum(), (f1, f2))
    g_ref = torch.autograd.grad((ref * grad).sum(), (f1, f2))
    for x, y in zip(g_fast, g_ref, strict=True):
        torch.testing.assert_close(x, y)


def test_cost_volume_stays_fast_at_large_strides():
    # issue 13: at stride 40 the old fast path tried to allocate 10 GB (stride 16: 15 s, 1 GB)
    # because it sized its buffers by stride × span; now displacements beyond the image are
    # not computed and the strided search works on the image's phases (benchmarks/cost_volume.py
    # --with-strides prints the peak memory: at most 4.3× inputs + output)
    import time

    f1, f2 = torch.randn(1, 8, 64, 64), torch.randn(1, 8, 64, 64)
    for stride in (2, 16, 40, 10_000):
        start = time.process_time()
        out = cost_volume(f1, f2, 4, stride=stride)
        seconds = time.process_time() - start
        ref = cost_volume(f1, f2, 4, stride=stride, impl="reference")
        torch.testing.assert_close(out, ref)
        assert seconds < 1.0, (stride, seconds)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda f: cost_volume(f, f, 10**7), "max_displacement"),
        (lambda f: cost_volume(f, f, 10**4, impl="reference"), "max_displacement"),
        (lambda f: cost_volume_1d(f, f, 10**8), "max_disparity"),
    ],
)
def test_huge_search_ranges_are_validation_errors_before_allocation(call, name):
    f = torch.randn(1, 8, 64, 64)
    with pytest.raises(ValidationError, match=f"{name}=.*more than"):
        call(f)


@PROPERTY
@given(value=NONFINITE, index=st.integers(0, 10_000), channel=st.sampled_from([0, 1]))
def test_warp_by_a_non_finite_vector_gives_zero_and_an_invalid_mask(value, index, channel):
    x = torch.rand(1, 3, 6, 7)
    flow = torch.zeros(1, 2, 6, 7)
    pixel = index % 42
    flow[0, channel].view(-1)[pixel] = value
    flow.requires_grad_(True)
    out, mask = warp(x, flow, return_mask=True)
    y, xx = divmod(pixel, 7)
    assert bool(torch.isfinite(out).all())
    assert out[0, :, y, xx].abs().max() == 0 and mask[0, 0, y, xx] == 0
    out.sum().backward()
    assert bool(torch.isfinite(flow.grad).all())


@PROPERTY
@given(level=st.floats(-10, 10, allow_nan=False), n_disp=st.integers(1, 24))
def test_untextured_images_have_no_valid_disparity(level, n_disp):
    img = torch.full((1, 24, 32), level)
    est = estimate_disparity(img, img.clone(), n_disp)
    assert not bool(est.valid.any())


@PROPERTY
@given(seed=st.integers(0, 1000), flat=st.integers(8, 20))
def test_flat_regions_of_a_textured_pair_are_never_valid(seed, flat):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(1, 32, 48, generator=g)
    img[:, :, :flat] = 0.4  # a flat band, wider than the census window
    right = torch.roll(img, -3, dims=-1)
    est = estimate_disparity(img, right, 8, speckle_size=0)
    assert not bool(est.valid[4:28, : flat - 5].any())
    assert float(est.valid[:, flat + 8 :].float().mean()) > 0.5
