"""Cost volumes: the fast path equals the reference, gradients, channel layout, memory."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from _ops_specs import TOLERANCES
from hypothesis import given, settings
from hypothesis import strategies as st

import nndl.ops._correlation as correlation
from nndl.ops import (
    CostVolume,
    CostVolume1d,
    all_pairs_cost_volume,
    cost_volume,
    cost_volume_1d,
    displacements,
)
from nndl.ops.cost_volume import _cost_volume_reference

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values with other strides: the fast path must not assume NCHW-contiguous."""
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "transposed":  # H and W strides swapped
        return x.transpose(2, 3).contiguous().transpose(2, 3)
    if layout == "sliced":  # every other column of a wider tensor
        wide = torch.zeros(*x.shape[:3], 2 * x.shape[3], dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    return x


@st.composite
def _cases(draw):
    return {
        "shape": (
            draw(st.integers(1, 3)),
            draw(st.integers(1, 6)),
            draw(st.integers(1, 14)),
            draw(st.integers(1, 21)),
        ),
        "d": draw(st.integers(0, 3)),
        "stride": draw(st.integers(1, 3)),
        "reduction": draw(st.sampled_from(["mean", "sum"])),
        "normalize": draw(st.sampled_from([None, "l2"])),
        "layout": draw(st.sampled_from(["contiguous", "channels_last", "transposed", "sliced"])),
        # small chunks and odd strip widths exercise row splits and partial strips
        "chunk": draw(st.sampled_from([1e-4, 0.02, 0.3, 10.0])),
        "tile": draw(st.sampled_from([3, 8])),
        # the output is channels-last; gradients of ops applied to it usually are too
        "grad_layout": draw(st.sampled_from(["contiguous", "channels_last"])),
        "seed": draw(st.integers(0, 2**16)),
    }


@settings(max_examples=60, deadline=None)
@given(_cases())
def test_fast_path_matches_reference_values_and_gradients(case):
    # the fast path (band products, hand-written backward) against the autograd loop, float64
    gen = torch.Generator().manual_seed(case["seed"])
    base = [torch.randn(*case["shape"], generator=gen, dtype=torch.float64) for _ in range(2)]
    kw = {k: case[k] for k in ("stride", "reduction", "normalize")}
    f1, f2 = (_layout(b, case["layout"]).requires_grad_() for b in base)
    r1, r2 = (b.clone().requires_grad_() for b in base)
    with (
        mock.patch.object(correlation, "_MEMORY_FRACTION", case["chunk"]),
        mock.patch.object(correlation, "_MEMORY_FRACTION_BACKWARD", case["chunk"]),
        mock.patch.object(correlation, "_TILE_CPU", case["tile"]),
    ):
        out = cost_volume(f1, f2, case["d"], impl="fast", **kw)
        upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
        if case["grad_layout"] == "channels_last":
            upstream = upstream.contiguous(memory_format=torch.channels_last)
        g1, g2 = torch.autograd.grad(out, (f1, f2), upstream)
    ref = cost_volume(r1, r2, case["d"], impl="reference", **kw)
    q1, q2 = torch.autograd.grad(ref, (r1, r2), upstream)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g1, q1, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g2, q2, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    st.tuples(st.integers(1, 2), st.integers(1, 5), st.integers(1, 9), st.integers(1, 30)),
    st.integers(1, 12),
    st.sampled_from(["contiguous", "channels_last", "sliced"]),
    st.integers(0, 2**16),
)
def test_fast_1d_path_matches_reference(shape, n_disp, layout, seed):
    gen = torch.Generator().manual_seed(seed)
    base = [torch.randn(*shape, generator=gen, dtype=torch.float64) for _ in range(2)]
    left, right = (_layout(b, layout).requires_grad_() for b in base)
    r1, r2 = (b.clone().requires_grad_() for b in base)
    out = cost_volume_1d(left, right, n_disp, impl="fast")
    ref = cost_volume_1d(r1, r2, n_disp, impl="reference")
    upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(
        torch.autograd.grad(out, (left, right), upstream),
        torch.autograd.grad(ref, (r1, r2), upstream),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("shape", "d", "stride", "normalize", "reduction"),
    [
        ((2, 2, 3, 4), 1, 1, None, "mean"),
        ((1, 2, 4, 5), 2, 2, None, "sum"),
        ((2, 2, 3, 4), 1, 1, "l2", "sum"),
        ((1, 2, 4, 5), 2, 1, "l2", "mean"),
    ],
)
def test_gradcheck(shape, d, stride, normalize, reduction):
    gen = torch.Generator().manual_seed(4)
    f1 = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)

    def fn(a, b):
        return cost_volume(a, b, d, stride, normalize=normalize, reduction=reduction, impl="fast")

    assert torch.autograd.gradcheck(fn, (f1, f2))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradcheck_1d(reduction):
    gen = torch.Generator().manual_seed(5)
    left = torch.randn(2, 2, 2, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    right = torch.randn(2, 2, 2, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: cost_volume_1d(a, b, 4, reduction=reduction, impl="fast"), (left, right)
    )


def test_gradcheck_all_pairs():
    gen = torch.Generator().manual_seed(6)
    f1 = torch.randn(1, 3, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, 3, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(all_pairs_cost_volume, (f1, f2))


def test_gradient_flows_to_one_input_only():
    f1 = torch.randn(1, 4, 6, 6, requires_grad=True)
    f2 = torch.randn(1, 4, 6, 6)
    cost_volume(f1, f2, 2).sum().backward()
    assert f1.grad is not None and f1.grad.shape == f1.shape and f2.grad is None


@pytest.mark.parametrize("stride", [1, 2])
def test_symmetry_swapping_inputs_negates_the_displacement(stride):
    # cv(f1, f2)[k] at p = cv(f2, f1)[K-1-k] at p + δ_k: the same pair of pixels seen from f2
    d = 2
    gen = torch.Generator().manual_seed(7)
    f1 = torch.randn(2, 4, 9, 11, generator=gen, dtype=torch.float64)
    f2 = torch.randn(2, 4, 9, 11, generator=gen, dtype=torch.float64)
    a, b = cost_volume(f1, f2, d, stride), cost_volume(f2, f1, d, stride)
    k_total = (2 * d + 1) ** 2
    for k, (dx, dy) in enumerate(displacements(d, stride).tolist()):
        h, w = f1.shape[-2:]
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        ys2, xs2 = slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx)
        torch.testing.assert_close(a[:, k, ys, xs], b[:, k_total - 1 - k, ys2, xs2])


def test_channel_layout_is_dy_outer_dx_inner():
    # f2 is a single bright pixel at (y, x) = (5, 6); f1 is all ones: channel k lights up at
    # the pixel p with p + δ_k = (5, 6), so k's displacement must be (6 - p_x, 5 - p_y)
    d, s = 2, 2
    f1 = torch.ones(1, 1, 12, 12)
    f2 = torch.zeros(1, 1, 12, 12)
    f2[0, 0, 5, 6] = 1.0
    out = cost_volume(f1, f2, d, s, reduction="sum")
    disp = displacements(d, s)
    assert disp[0].tolist() == [-d * s, -d * s] and disp[1].tolist() == [-d * s + s, -d * s]
    for k, (dx, dy) in enumerate(disp.tolist()):
        lit = out[0, k].nonzero().tolist()
        assert lit == [[5 - dy, 6 - dx]], (k, dx, dy, lit)
        i_dy, i_dx = dy // s + d, dx // s + d
        assert k == i_dy * (2 * d + 1) + i_dx


def test_cosine_similarity_range_and_identity():
    gen = torch.Generator().manual_seed(8)
    f1 = torch.randn(2, 16, 10, 10, generator=gen)
    f2 = torch.randn(2, 16, 10, 10, generator=gen)
    cos = cost_volume(f1, f2, 3, normalize="l2", reduction="sum")
    assert cos.abs().max().item() <= 1.0 + 1e-6
    same = cost_volume(f1, f1, 3, normalize="l2", reduction="sum")
    centre = 3 * 7 + 3
    torch.testing.assert_close(same[:, centre], torch.ones(2, 10, 10))
    assert same.max().item() <= 1.0 + 1e-6
    # reduction="mean" divides the cosine by C
    mean = cost_volume(f1, f2, 3, normalize="l2", reduction="mean")
    torch.testing.assert_close(mean * 16, cos)


def test_zero_feature_vector_scores_zero_cosine():
    f1 = torch.randn(1, 4, 5, 5)
    f1[0, :, 2, 2] = 0.0
    cos = cost_volume(f1, torch.randn(1, 4, 5, 5), 1, normalize="l2")
    assert torch.isfinite(cos).all() and (cos[0, :, 2, 2] == 0).all()


def test_cost_volume_1d_is_the_dy0_slice_of_cost_volume():
    gen = torch.Generator().manual_seed(9)
    left = torch.randn(2, 5, 7, 13, generator=gen, dtype=torch.float64)
    right = torch.randn(2, 5, 7, 13, generator=gen, dtype=torch.float64)
    d = 4
    cv = cost_volume(left, right, d)
    cv1 = cost_volume_1d(left, right, d + 1)
    for disp in range(d + 1):  # disparity δ is displacement (dx, dy) = (-δ, 0)
        torch.testing.assert_close(cv1[:, disp], cv[:, d * (2 * d + 1) + d - disp])


def test_cost_volume_1d_peak_at_the_true_disparity():
    gen = torch.Generator().manual_seed(10)
    right = torch.randn(1, 8, 6, 40, generator=gen)
    left = torch.zeros_like(right)
    left[..., 5:] = right[..., :-5]  # left x <-> right x - 5
    # cosine similarity is 1 only for the matching pixel (raw products favour large norms)
    best = cost_volume_1d(left, right, 12, normalize="l2")[0, :, :, 12:].argmax(0)
    assert (best == 5).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("device", DEVICES)
def test_reduced_precision_forward_and_backward(dtype, device):
    # half inputs are accumulated in float32: compare with float32 on the same rounded inputs
    gen = torch.Generator().manual_seed(11)
    f1 = torch.randn(2, 16, 9, 12, generator=gen).to(device, dtype).requires_grad_()
    f2 = torch.randn(2, 16, 9, 12, generator=gen).to(device, dtype).requires_grad_()
    out = cost_volume(f1, f2, 2)
    assert out.dtype == dtype and out.device.type == device
    r1, r2 = (t.detach().float().requires_grad_() for t in (f1, f2))
    ref = _cost_volume_reference(r1, r2, 2)
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(out.float(), ref, rtol=rtol, atol=atol)
    upstream = torch.randn(out.shape, generator=gen).to(device)
    g1, g2 = torch.autograd.grad(out, (f1, f2), upstream.to(dtype))
    q1, q2 = torch.autograd.grad(ref, (r1, r2), upstream.to(dtype).float())
    assert g1.dtype == dtype and g2.dtype == dtype
    torch.testing.assert_close(g1.float(), q1, rtol=rtol, atol=atol)
    torch.testing.assert_close(g2.float(), q2, rtol=rtol, atol=atol)


def test_fast_path_returns_channels_last_and_reference_contiguous():
    f = torch.randn(1, 3, 6, 7)
    fast = cost_volume(f, f, 1, impl="fast")
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert cost_volume(f, f, 1, impl="reference").is_contiguous()
    assert cost_volume(f, f, 1, impl="auto").shape == (1, 9, 6, 7)


def test_modules_call_the_functions_and_show_their_arguments():
    gen = torch.Generator().manual_seed(12)
    f1, f2 = torch.randn(1, 4, 6, 6, generator=gen), torch.randn(1, 4, 6, 6, generator=gen)
    m = CostVolume(2, stride=1, normalize="l2", reduction="sum")
    torch.testing.assert_close(m(f1, f2), cost_volume(f1, f2, 2, 1, "l2", "sum"))
    assert "max_displacement=2" in repr(m) and "normalize='l2'" in repr(m)
    m1 = CostVolume1d(3)
    torch.testing.assert_close(m1(f1, f2), cost_volume_1d(f1, f2, 3))
    assert "max_disparity=3" in repr(m1)
    with pytest.raises(ValueError, match="max_displacement must be an int"):
        CostVolume(-2)
    with pytest.raises(ValueError, match="unknown reduction"):
        CostVolume1d(3, reduction="avg")


def test_all_pairs_is_scaled_by_sqrt_channels():
    f = torch.randn(2, 9, 4, 5)
    out = all_pairs_cost_volume(f, f)
    assert out.shape == (2, 4, 5, 4, 5)
    torch.testing.assert_close(out[1, 2, 3, 2, 3], f[1, :, 2, 3].pow(2).sum() / 3)


def _peak_bytes(fn) -> tuple[int, int]:
    """Peak of the live CPU tensor bytes created inside ``fn`` and its largest allocation."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    with profile(
        activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
    ) as prof:
        fn()
    live = peak = largest = 0
    for _, action, _, size in sorted(prof._memory_profile().timeline, key=lambda e: e[0]):
        if action == Action.CREATE:
            live += size
            largest = max(largest, size)
        elif action == Action.DESTROY:
            live -= size
        peak = max(peak, live)
    return peak, largest


def test_fast_path_memory_stays_within_inputs_plus_output():
    # the memory target: peak extra memory within 1.5x inputs + output, and never a
    # (2d+1)^2 * C * H * W tensor (here 81x the size of one input)
    b, c, h, w, d = 2, 16, 32, 32, 4
    f1 = torch.randn(b, c, h, w, requires_grad=True)
    f2 = torch.randn(b, c, h, w, requires_grad=True)
    in_bytes = 2 * f1.numel() * 4
    out_bytes = b * (2 * d + 1) ** 2 * h * w * 4
    peak, largest = _peak_bytes(lambda: cost_volume(f1, f2, d).sum().backward())
    assert peak <= 1.5 * (in_bytes + out_bytes), (peak, in_bytes, out_bytes)
    assert largest < (2 * d + 1) ** 2 * f1.numel() * 4 / 8
