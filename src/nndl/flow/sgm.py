r"""Semi-global aggregation of a stereo cost volume (Hirschmüller, PAMI 2008), vectorised in torch.

Winner-take-all on a local matching cost fails wherever the local window is ambiguous (low
texture, repetitive patterns). SGM approximates a 2-D smoothness prior by summing 1-D dynamic
programmes along several scanline directions ``r``:

.. math::

    L_r(p, d) = C(p, d) + \min\big(L_r(p-r, d),\; L_r(p-r, d \pm 1) + P_1,\;
                \min_k L_r(p-r, k) + P_2\big) - \min_k L_r(p-r, k),

    S(p, d) = \sum_r L_r(p, d).

``P_1`` penalises disparity changes of one pixel (slanted surfaces), ``P_2 > P_1`` larger jumps
(depth discontinuities). Subtracting :math:`\min_k L_r(p-r, k)` keeps the values bounded.

Implementation: the recursion is sequential along a path but independent across paths and across
the pixels of one scanline, so each step updates a whole row (or column) of ``D`` costs for
several paths at once with a handful of in-place tensor ops on pre-allocated buffers. The
horizontal paths (→, ←) walk the columns; the vertical and diagonal paths (↓, ↑, ↘, ↙, ↗, ↖)
walk the rows, with a diagonal's predecessor read from a one-pixel shifted view of the previous
row's state. Paths are summed into ``S`` as they go, so memory is the cost volume, ``S`` and a
few row buffers.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import ValidationError, check_dtype, check_in_range, check_shape

__all__ = ["semi_global_aggregation"]

# (rows walked forwards?, column shift per step) of the paths that walk the rows; the
# predecessor of (y, x) is (y - 1, x - shift) going down and (y + 1, x - shift) going up.
_ROW_PATHS = {
    4: ((True, 0), (False, 0)),
    8: ((True, 0), (True, 1), (True, -1), (False, 0), (False, 1), (False, -1)),
}


def _scan(
    cost: Tensor, total: Tensor, paths: tuple[tuple[bool, int], ...], p1: float, p2: float
) -> None:
    """Add the path costs of ``paths`` to ``total``, walking dimension 0 of ``cost`` (T, N, D)."""
    steps, n, n_disp = cost.shape
    n_paths = len(paths)
    inf = float("inf")
    # state q = L_r(p - r, .) - min_k L_r(p - r, k), padded by one pixel on each side of the
    # scanline (zero state: a path entering the image starts fresh, L = C) and by +inf on each
    # side of the disparity axis (no d - 1 below 0, no d + 1 above D - 1).
    state = cost.new_zeros(n_paths, n + 2, n_disp + 2)
    state[..., 0] = inf
    state[..., -1] = inf
    inner = state[:, 1:-1, 1:-1]
    smooth = cost.new_empty(n_paths, n, n_disp)
    level = cost.new_empty(n_paths, n, 1)
    current = cost.new_empty(n_paths, n, n_disp)
    forward = [i for i, (fwd, _) in enumerate(paths) if fwd]
    backward = [i for i, (fwd, _) in enumerate(paths) if not fwd]
    groups = [(idx, slice(idx[0], idx[-1] + 1)) for idx in (forward, backward) if idx]
    for t in range(steps):
        for i, (_, shift) in enumerate(paths):
            prev = state[i, 1 - shift : 1 - shift + n]
            out = smooth[i]
            torch.minimum(prev[:, :-2], prev[:, 2:], out=out)  # L(d - 1), L(d + 1)
            out.add_(p1)
            torch.minimum(out, prev[:, 1:-1], out=out)  # L(d)
            out.clamp_(max=p2)  # min_k L(k) + P2, with min_k = 0 after the shift
        for idx, sl in groups:
            row = t if paths[idx[0]][0] else steps - 1 - t
            torch.add(smooth[sl], cost[row], out=current[sl])
            total[row] += current[sl].sum(0)
        torch.amin(current, dim=-1, keepdim=True, out=level)
        torch.sub(current, level, out=inner)


def semi_global_aggregation(
    cost: Tensor, p1: float = 8.0, p2: float = 32.0, paths: int = 8
) -> Tensor:
    r"""Aggregate a matching-cost volume along 2, 4 or 8 scanline directions (SGM).

    Args:
        cost: Tensor[B, D, H, W] of matching *costs* (lower is better), channel ``d`` =
            disparity ``d``, e.g. a census Hamming distance from :func:`nndl.ops.cost_volume_1d`.
        p1: penalty for a disparity change of one pixel between neighbours (>= 0).
        p2: penalty for a larger change (>= ``p1``).
        paths: 2 (horizontal), 4 (+ vertical) or 8 (+ diagonals).

    Returns:
        Tensor[B, D, H, W], the summed path costs :math:`S(p, d)` (same dtype as ``cost``).

    Raises:
        ShapeError: ``cost`` is not 4-D.
        ValidationError: bad penalties or number of paths; non-finite costs.

    Example:
        >>> cost = torch.rand(1, 16, 8, 12)
        >>> semi_global_aggregation(cost, paths=4).shape
        torch.Size([1, 16, 8, 12])
    """
    check_shape(cost, "B D H W", name="cost")
    check_dtype(cost, name="cost")
    p1 = check_in_range(p1, name="p1", low=0.0)
    p2 = check_in_range(p2, name="p2", low=p1)
    if paths not in (2, 4, 8):
        raise ValidationError(f"paths must be 2, 4 or 8, got {paths!r}")
    if not bool(torch.isfinite(cost).all()):
        raise ValidationError("cost must be finite everywhere")
    out = torch.empty_like(cost)
    for b in range(cost.shape[0]):
        c = cost[b].permute(1, 2, 0).contiguous()  # (H, W, D): disparities contiguous
        total = torch.zeros_like(c)
        # → and ←: walk the columns; a column of c is (H, D)
        _scan(c.transpose(0, 1), total.transpose(0, 1), ((True, 0), (False, 0)), p1, p2)
        if paths > 2:
            _scan(c, total, _ROW_PATHS[paths], p1, p2)
        out[b] = total.permute(2, 0, 1)
    return out
