"""Semi-global aggregation against a per-pixel, per-path loop of Hirschmüller's recursion."""

import pytest
import torch

from nndl._validation import ShapeError, ValidationError
from nndl.flow import semi_global_aggregation

DIRECTIONS = {
    2: [(0, 1), (0, -1)],
    4: [(0, 1), (0, -1), (1, 0), (-1, 0)],
    8: [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)],
}


def _sgm_reference(cost: torch.Tensor, p1: float, p2: float, paths: int) -> torch.Tensor:
    """L_r(p, d) = C(p, d) + min(L(p-r, d), L(p-r, d±1) + P1, min_k L(p-r, k) + P2)
    - min_k L(p-r, k), summed over the paths r; one pixel and one disparity at a time."""
    n_disp, h, w = cost.shape
    total = torch.zeros_like(cost)
    for dy, dx in DIRECTIONS[paths]:
        path = torch.zeros_like(cost)
        ys = range(h) if dy >= 0 else range(h - 1, -1, -1)
        xs = list(range(w)) if dx >= 0 else list(range(w - 1, -1, -1))
        for y in ys:
            for x in xs:
                py, px = y - dy, x - dx
                if not (0 <= py < h and 0 <= px < w):
                    path[:, y, x] = cost[:, y, x]
                    continue
                prev = path[:, py, px]
                low = prev.min()
                for d in range(n_disp):
                    options = [prev[d], low + p2]
                    if d > 0:
                        options.append(prev[d - 1] + p1)
                    if d < n_disp - 1:
                        options.append(prev[d + 1] + p1)
                    path[d, y, x] = cost[d, y, x] + min(options) - low
        total += path
    return total


@pytest.mark.parametrize("paths", [2, 4, 8])
def test_matches_reference_recursion(paths):
    gen = torch.Generator().manual_seed(paths)
    cost = torch.rand(2, 5, 6, 7, generator=gen, dtype=torch.float64) * 10
    out = semi_global_aggregation(cost, p1=1.5, p2=4.0, paths=paths)
    for b in range(2):
        ref = _sgm_reference(cost[b], 1.5, 4.0, paths)
        torch.testing.assert_close(out[b], ref, rtol=1e-12, atol=1e-10)


def test_zero_penalties_sum_the_costs_along_each_path():
    # with P1 = P2 = 0 every path keeps only C(p, d) + min_k L(p - r, k) - min_k ... = C(p, d)
    cost = torch.rand(1, 4, 5, 6, dtype=torch.float64)
    out = semi_global_aggregation(cost, p1=0.0, p2=0.0, paths=8)
    torch.testing.assert_close(out, 8 * cost)


def test_smoothness_fills_in_an_ambiguous_pixel():
    # a clear disparity 2 everywhere except one pixel whose costs are flat: SGM takes 2 there
    cost = torch.ones(1, 5, 7, 7)
    cost[:, 2] = 0.0
    cost[:, :, 3, 3] = 0.5
    out = semi_global_aggregation(cost, p1=0.2, p2=1.0)
    assert out.argmin(1)[0, 3, 3] == 2


def test_rejects_bad_input():
    with pytest.raises(ShapeError, match="cost must have shape"):
        semi_global_aggregation(torch.rand(4, 5, 6))
    with pytest.raises(ValidationError, match="paths must be 2, 4 or 8"):
        semi_global_aggregation(torch.rand(1, 4, 5, 6), paths=3)
    with pytest.raises(ValidationError, match="p2 must be in the range"):
        semi_global_aggregation(torch.rand(1, 4, 5, 6), p1=5.0, p2=1.0)
    bad = torch.rand(1, 4, 5, 6)
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValidationError, match="cost must be finite"):
        semi_global_aggregation(bad)
