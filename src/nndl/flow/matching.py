r"""Where a cosine cost volume peaks: mean score per displacement and per-pixel winners (C1).

With every pixel's feature vector L2-normalised, the cost volume of :func:`nndl.ops.cost_volume`

.. math:: c(x, \delta) = \frac{f_1(x)^\top f_2(x + \delta)}
                              {\lVert f_1(x)\rVert\,\lVert f_2(x+\delta)\rVert},
          \qquad \delta \in [-d, d]^2,

is a cosine similarity. If image 2 is image 1 moved by a displacement :math:`t`, the channel
:math:`\delta = t` compares each vector with its own copy and scores highest.
:func:`displacement_scores` computes the volume of one pair, its mean over interior pixels per
displacement (pixels within ``margin`` of the border see zero padding) and reads off the peak,
the runner-up and the share of pixels whose own winner-take-all choice is a given displacement.
With ``flow`` it first warps ``f2`` by that flow (:func:`nndl.ops.warp`), so the peak moves to the
residual :math:`t - \text{flow}`: the cost volume of PWC-Net, which matches "features of image 2
warped by the current flow". :func:`translation_scores` does both for a real photograph moved
by a known whole-pixel shift (:func:`~nndl.flow.translated_pair`), with any feature extractor.

Example:
    >>> f = torch.randn(1, 8, 20, 20)
    >>> moved = torch.roll(f, shifts=(1, 2), dims=(2, 3))  # image 2 = image 1 moved by (2, 1)
    >>> s = displacement_scores(f, moved, 3, margin=4)
    >>> s.peak, round(s.score((2, 1)), 4), s.hit_rate((2, 1))
    ((2, 1), 1.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._validation import ShapeError, ValidationError, check_int, check_shape
from ..ops import cost_volume, displacements, warp
from .synthetic import translated_pair

__all__ = ["DisplacementScores", "displacement_scores", "translation_scores"]


@dataclass(frozen=True)
class DisplacementScores:
    """The cosine cost volume of one image pair and its scores per displacement.

    Attributes:
        volume: Tensor[(2d+1)², H, W] cosine per displacement channel (row-major, ``dy`` outer,
            as :func:`nndl.ops.displacements` lists them).
        mean: Tensor[(2d+1)²] mean of ``volume`` over the interior pixels.
        interior: Tensor[H, W] bool, the pixels averaged over.
        max_displacement: d.
    """

    volume: Tensor
    mean: Tensor
    interior: Tensor
    max_displacement: int

    def index(self, displacement: tuple[int, int]) -> int:
        """Channel of displacement ``(dx, dy)``: ``(dy + d)(2d + 1) + dx + d``."""
        d = self.max_displacement
        dx, dy = displacement
        if max(abs(dx), abs(dy)) > d:
            raise ValidationError(f"displacement must lie in [-{d}, {d}]², got {displacement}")
        return (dy + d) * (2 * d + 1) + (dx + d)

    @property
    def grid(self) -> Tensor:
        """``mean`` as Tensor[2d+1, 2d+1]: row ``dy + d``, column ``dx + d``."""
        n = 2 * self.max_displacement + 1
        return self.mean.view(n, n)

    @property
    def peak(self) -> tuple[int, int]:
        """``(dx, dy)`` with the largest mean score."""
        dx, dy = displacements(self.max_displacement)[int(self.mean.argmax())]
        return int(dx), int(dy)

    @property
    def second_best(self) -> float:
        """The second-largest mean score (how far the peak stands out)."""
        return float(self.mean.sort(descending=True).values[1])

    def score(self, displacement: tuple[int, int]) -> float:
        """Mean score of displacement ``(dx, dy)``."""
        return float(self.mean[self.index(displacement)])

    def hit_rate(self, displacement: tuple[int, int]) -> float:
        """Share of interior pixels whose winner-take-all displacement is ``(dx, dy)``."""
        winners = self.volume.argmax(0)[self.interior]
        return float((winners == self.index(displacement)).double().mean())

    def summary(self, displacement: tuple[int, int]) -> dict[str, Any]:
        """JSON-able scores against the true displacement ``(dx, dy)``.

        Returns:
            ``peak`` ([dx, dy]), ``mean_cos_true`` (:meth:`score`), ``second_best``,
            ``pixel_hit_rate`` (:meth:`hit_rate`) and ``mean_map`` (:attr:`grid` as nested lists).
        """
        return {
            "peak": list(self.peak),
            "mean_cos_true": self.score(displacement),
            "second_best": self.second_best,
            "pixel_hit_rate": self.hit_rate(displacement),
            "mean_map": self.grid.tolist(),
        }


def displacement_scores(
    f1: Tensor,
    f2: Tensor,
    max_displacement: int,
    *,
    margin: int = 0,
    flow: Tensor | tuple[float, float] | None = None,
) -> DisplacementScores:
    """The L2-normalised cost volume of one pair and its mean score per displacement.

    Args:
        f1: Tensor[1, C, H, W] features of image 1.
        f2: Tensor[1, C, H, W] features of image 2.
        max_displacement: d; the volume has (2d+1)² channels.
        margin: pixels left out at each border when averaging (at least 1 pixel stays).
        flow: if given, ``f2`` is first warped by it: Tensor[1, 2, H, W] in pixels (channel 0
            = u), or a constant ``(u, v)``.

    Returns:
        :class:`DisplacementScores`.

    Raises:
        ShapeError: not one pair of equal (1, C, H, W) shapes, a flow tensor not (1, 2, H, W),
            or ``margin`` leaves no pixel.
        ValidationError: ``max_displacement`` or ``margin`` negative, a constant flow not two
            finite numbers.
    """
    sizes = check_shape(f1, "1 C H W", name="f1")
    check_shape(f2, "1 C H W", name="f2", sizes=sizes)
    d = check_int(max_displacement, name="max_displacement", low=0)
    m = check_int(margin, name="margin", low=0)
    h, w = f1.shape[-2:]
    if 2 * m >= min(h, w):
        raise ShapeError(
            f"margin {m} leaves no interior pixel of a {h}×{w} map", (2 * m + 1, 2 * m + 1), (h, w)
        )
    if flow is not None:
        f2 = warp(f2, _flow_field(flow, h, w, f2.dtype))
    volume = cost_volume(f1, f2, d, normalize="l2", reduction="sum")[0]
    interior = torch.zeros(h, w, dtype=torch.bool, device=volume.device)
    interior[m : h - m, m : w - m] = True
    return DisplacementScores(volume, volume[:, interior].mean(1), interior, d)


def translation_scores(
    image: Tensor | str,
    shift: tuple[int, int],
    extract: Callable[[Tensor], Tensor],
    max_displacement: int,
    *,
    residual: tuple[int, int] = (0, 0),
    factor: int = 4,
    margin: int | None = None,
    border: int = 0,
) -> tuple[DisplacementScores, DisplacementScores]:
    r"""Cost-volume scores of a photograph moved by ``shift``, before and after warping.

    Image 2 is image 1 moved by :math:`t` = ``shift`` (:func:`~nndl.flow.translated_pair`:
    ``img1(x) = img2(x + t)`` exactly). Both images go through ``extract``; the first scores
    should peak at :math:`t`. The second warp ``f2`` by the constant flow :math:`t - r`
    (:math:`r` = ``residual``, a flow that is off by :math:`r`) and should peak at :math:`r`.

    Args:
        image: Tensor[C, H, W] at full resolution, or a ``skimage.data`` name (grey).
        shift: ``(u, v)`` whole pixels at the output resolution.
        extract: features of Tensor[1, C, h, w] images, as Tensor[1, C', h, w].
        max_displacement: d of the cost volume.
        residual: :math:`r`, whole pixels within ``[-d, d]``.
        factor, margin: as for :func:`~nndl.flow.translated_pair` (block size, source crop).
        border: pixels left out when averaging (``margin`` of :func:`displacement_scores`).

    Returns:
        ``(scores, scores_after_warp)``, two :class:`DisplacementScores`.

    Raises:
        ValidationError: ``shift`` or ``residual`` not two integers, or what
            :func:`~nndl.flow.translated_pair` and :func:`displacement_scores` refuse.
    """
    for value, name in ((shift, "shift"), (residual, "residual")):
        ints = isinstance(value, tuple | list) and len(value) == 2
        if not ints or not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            raise ValidationError(f"{name} must be two integers (u, v), got {value!r}")
    (u, v), (ru, rv) = shift, residual
    img1, img2, _ = translated_pair(image, (float(u), float(v)), factor=factor, margin=margin)
    f1, f2 = extract(img1[None]), extract(img2[None])
    scores = displacement_scores(f1, f2, max_displacement, margin=border)
    warped = displacement_scores(f1, f2, max_displacement, margin=border, flow=(u - ru, v - rv))
    return scores, warped


def _flow_field(flow: Tensor | tuple[float, float], h: int, w: int, dtype: torch.dtype) -> Tensor:
    """``flow`` as Tensor[1, 2, H, W]: a tensor is checked, a constant ``(u, v)`` is expanded."""
    if isinstance(flow, Tensor):
        check_shape(flow, "1 2 H W", name="flow", sizes={"H": h, "W": w})
        return flow
    numbers = isinstance(flow, tuple | list) and len(flow) == 2
    if not numbers or not all(isinstance(x, int | float) and math.isfinite(x) for x in flow):
        raise ValidationError(
            f"flow must be a Tensor[1, 2, {h}, {w}] or two finite numbers (u, v), got {flow!r}"
        )
    field = torch.tensor([float(flow[0]), float(flow[1])], dtype=dtype).view(1, 2, 1, 1)
    return field.expand(1, 2, h, w).contiguous()
