"""warp: exact identity and integer shifts, bilinear closed form, grid_sample agreement, mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nndl.ops import Warp, warp

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _grid_sample_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The documented equivalent: grid_sample, align_corners=True, bilinear, zero padding."""
    _, _, h, w = x.shape
    gy, gx = torch.meshgrid(
        torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij"
    )
    px, py = gx + flow[:, 0], gy + flow[:, 1]  # flow channel 0 is u (along W)
    grid = torch.stack((2 * px / (w - 1) - 1, 2 * py / (h - 1) - 1), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


@pytest.mark.parametrize("device", DEVICES)
def test_zero_flow_warp_is_identity(device):
    x = torch.randn(2, 3, 7, 9, device=device)
    out, mask = warp(x, torch.zeros(2, 2, 7, 9, device=device), return_mask=True)
    assert torch.equal(out, x)
    assert torch.equal(mask, torch.ones(2, 1, 7, 9, device=device))


@pytest.mark.parametrize(("u", "v"), [(2, 0), (0, -3), (-1, 2), (4, 5)])
def test_integer_flow_is_an_exact_shift(u, v):
    x = torch.randn(2, 3, 8, 10)
    flow = torch.zeros(2, 2, 8, 10)
    flow[:, 0], flow[:, 1] = float(u), float(v)
    out, mask = warp(x, flow, return_mask=True)
    want = torch.zeros_like(x)
    want_mask = torch.zeros(2, 1, 8, 10)
    h, w = 8, 10
    ys, xs = slice(max(0, -v), min(h, h - v)), slice(max(0, -u), min(w, w - u))
    want[..., ys, xs] = x[..., ys.start + v : ys.stop + v, xs.start + u : xs.stop + u]
    want_mask[..., ys, xs] = 1.0
    assert torch.equal(out, want)  # bit-exact, not merely close
    assert torch.equal(mask, want_mask)


def test_subpixel_warp_of_a_bilinear_image_is_exact():
    # bilinear interpolation reproduces a + b x + c y + e x y exactly at any interior point
    h, w = 9, 12
    gy, gx = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )

    def image(px, py):
        return 0.5 + 0.3 * px - 0.7 * py + 0.05 * px * py

    gen = torch.Generator().manual_seed(0)
    flow = torch.rand(1, 2, h, w, generator=gen, dtype=torch.float64) * 4 - 2
    px = (gx + flow[0, 0]).clamp(0, w - 1)  # keep every sample inside the image
    py = (gy + flow[0, 1]).clamp(0, h - 1)
    flow = torch.stack((px - gx, py - gy))[None]
    out, mask = warp(image(gx, gy)[None, None], flow, return_mask=True)
    torch.testing.assert_close(out[0, 0], image(px, py), rtol=0, atol=1e-12)
    assert mask.all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_grid_sample_with_align_corners(dtype):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 6, 7, generator=gen, dtype=dtype)
    flow = torch.randn(2, 2, 6, 7, generator=gen, dtype=dtype) * 3  # many samples leave
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(warp(x, flow), _grid_sample_warp(x, flow), rtol=tol, atol=tol)


def test_mask_marks_samples_inside_the_image():
    flow = torch.zeros(1, 2, 4, 5)
    flow[0, 0, :, 4] = 0.5  # last column samples x = 4.5 > W - 1
    flow[0, 1, 0, 0] = -0.25  # top-left samples y = -0.25 < 0
    flow[0, 0, 2, 2] = 2.0  # (4, 2): exactly on the border, still inside
    _, mask = warp(torch.ones(1, 1, 4, 5), flow, return_mask=True)
    want = torch.ones(1, 1, 4, 5)
    want[0, 0, :, 4] = 0.0
    want[0, 0, 0, 0] = 0.0
    assert torch.equal(mask, want)


def test_gradcheck_image_and_flow():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    # non-integer sample positions: the bilinear weights are differentiable there
    flow = torch.rand(2, 2, 4, 5, generator=gen, dtype=torch.float64) * 3 - 1.5 + 0.013
    flow.requires_grad_()
    assert torch.autograd.gradcheck(warp, (x, flow))


def test_half_precision_and_non_contiguous_input():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 6, 8, generator=gen)
    flow = torch.randn(1, 2, 6, 8, generator=gen)
    ref = warp(x, flow)
    out = warp(
        x.contiguous(memory_format=torch.channels_last),
        flow.transpose(2, 3).contiguous().transpose(2, 3),
    )
    torch.testing.assert_close(out, ref)
    half = warp(x.to(torch.bfloat16), flow)
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), ref, rtol=2e-2, atol=2e-2)


def test_module_calls_the_function():
    x, flow = torch.randn(1, 2, 5, 5), torch.randn(1, 2, 5, 5)
    out, mask = Warp(return_mask=True)(x, flow)
    ref, ref_mask = warp(x, flow, return_mask=True)
    assert torch.equal(out, ref) and torch.equal(mask, ref_mask)
    assert "return_mask=True" in repr(Warp(return_mask=True))
