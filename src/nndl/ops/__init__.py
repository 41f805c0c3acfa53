"""Correlation (cost volume) and warping ops for optical flow and stereo.

PyTorch has no cost-volume op; the ones people use are CUDA/C++ extensions that often fail to
build against new PyTorch versions. These are plain PyTorch: they install with pip alone, run on
CPU and GPU, are exact (checked against brute-force references and with ``gradcheck``), and the
fast path of :func:`cost_volume` has a hand-written backward that never materialises a
``(2d+1)² · C · H · W`` tensor.

Flow convention:
    Everything in :mod:`nndl.ops` and :mod:`nndl.flow` that takes or returns an optical flow uses
    this one convention:

    - a flow is a tensor of shape ``(B, 2, H, W)`` (floating point), in **pixels**;
    - channel 0 is the horizontal displacement ``u`` (along ``W``, positive to the right),
      channel 1 the vertical displacement ``v`` (along ``H``, positive downwards);
    - ``flow[b, :, y, x] = (u, v)`` says that pixel ``(x, y)`` of the first image moves to
      ``(x + u, y + v)`` in the second image, so the second image *backward-warped* by the flow,
      ``warp(img2, flow)``, looks like the first one;
    - pixel ``(x, y)`` has its centre at integer coordinates ``x ∈ {0, …, W−1}``,
      ``y ∈ {0, …, H−1}`` (``align_corners=True`` in :func:`torch.nn.functional.grid_sample`
      terms).

    The displacement index of :func:`cost_volume` follows the same order: displacement
    ``(dx, dy)`` compares ``f1`` at ``(x, y)`` with ``f2`` at ``(x + dx, y + dy)``, i.e. a flow of
    ``(u, v) = (dx, dy)``. Disparity (:func:`cost_volume_1d`) is the rectified-stereo special
    case: left pixel ``x`` matches right pixel ``x − d``, i.e. ``u = −d``, ``v = 0``.

Public API:
    - :func:`cost_volume` / :class:`CostVolume` — local (2-D) correlation, PWC-Net.
    - :func:`cost_volume_1d` / :class:`CostVolume1d` — horizontal correlation for rectified stereo.
    - :func:`all_pairs_cost_volume` — every pixel against every pixel, RAFT.
    - :func:`warp` / :class:`Warp` — backward warping with bilinear sampling and a validity mask.
    - :func:`displacements` — the ``(dx, dy)`` of every channel of :func:`cost_volume`.
"""

from .cost_volume import (
    CostVolume,
    CostVolume1d,
    all_pairs_cost_volume,
    cost_volume,
    cost_volume_1d,
    displacements,
)
from .warp import Warp, warp

__all__ = [
    "CostVolume",
    "CostVolume1d",
    "Warp",
    "all_pairs_cost_volume",
    "cost_volume",
    "cost_volume_1d",
    "displacements",
    "warp",
]
