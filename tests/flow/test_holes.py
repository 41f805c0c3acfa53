"""fill_holes against a line-by-line port of KITTI's interpolateBackground."""

import math

import pytest
import torch

from nndl._validation import DTypeError, ShapeError
from nndl.flow import fill_holes


def _kitti_reference(disp: list[list[float]], valid: list[list[bool]]) -> list[list[float]]:
    """io_disp.h interpolateBackground, plus the vertical background rule for inner empty rows."""
    h, w = len(disp), len(disp[0])
    d = [[disp[v][u] if valid[v][u] else math.nan for u in range(w)] for v in range(h)]
    ok = [row[:] for row in valid]
    for v in range(h):
        count = 0
        for u in range(w):
            if ok[v][u]:
                if count >= 1:
                    u1, u2 = u - count, u - 1
                    if u1 > 0 and u2 < w - 1:
                        fill = min(d[v][u1 - 1], d[v][u2 + 1])
                        for uc in range(u1, u2 + 1):
                            d[v][uc] = fill
                count = 0
            else:
                count += 1
        first = next((u for u in range(w) if ok[v][u]), None)
        if first is not None:
            for u in range(first):
                d[v][u] = d[v][first]
            last = max(u for u in range(w) if ok[v][u])
            for u in range(last + 1, w):
                d[v][u] = d[v][last]
    rows = [v for v in range(h) if any(ok[v])]
    for v in range(h):
        if v in rows:
            continue
        above = [r for r in rows if r < v]
        below = [r for r in rows if r > v]
        for u in range(w):
            values = ([d[above[-1]][u]] if above else []) + ([d[below[0]][u]] if below else [])
            d[v][u] = min(values)
    return d


@pytest.mark.parametrize("seed", range(6))
def test_matches_kitti_background_interpolation(seed):
    gen = torch.Generator().manual_seed(seed)
    disp = torch.rand(7, 11, generator=gen, dtype=torch.float64) * 50
    valid = torch.rand(7, 11, generator=gen) < 0.45
    valid[seed % 7] = False  # an empty row
    out = fill_holes(disp, valid)
    ref = torch.tensor(_kitti_reference(disp.tolist(), valid.tolist()), dtype=torch.float64)
    torch.testing.assert_close(out, ref)


def test_keeps_estimates_and_fills_with_the_background():
    d = torch.tensor([[9.0, 9.0, 0.0, 0.0, 4.0, 4.0]])
    valid = torch.tensor([[True, True, False, False, True, True]])
    out = fill_holes(d, valid)
    assert out.tolist() == [[9.0, 9.0, 4.0, 4.0, 4.0, 4.0]]  # the smaller (farther) side


def test_non_finite_values_are_holes_and_batches_are_independent():
    d = torch.tensor([[[1.0, float("inf"), 3.0]], [[float("nan")] * 3]])
    out = fill_holes(d)
    assert out.tolist() == [[[1.0, 1.0, 3.0]], [[0.0, 0.0, 0.0]]]


def test_rejects_bad_input():
    with pytest.raises(ShapeError, match="disparity must have shape"):
        fill_holes(torch.zeros(5))
    with pytest.raises(ShapeError, match="valid must have shape"):
        fill_holes(torch.zeros(3, 4), torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(DTypeError, match="valid must be a bool tensor"):
        fill_holes(torch.zeros(3, 4), torch.ones(3, 4))
    with pytest.raises(DTypeError, match="disparity must be a floating-point tensor"):
        fill_holes(torch.zeros(3, 4, dtype=torch.int64))
