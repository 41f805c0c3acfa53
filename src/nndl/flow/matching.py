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

Example:
    >>> f = torch.randn(1, 8, 20, 20)
    >>> moved = torch.roll(f, shifts=(1, 2), dims=(2, 3))  # image 2 = image 1 moved by (2, 1)
    >>> s = displacement_scores(f, moved, 3, margin=4)
    >>> s.peak, round(s.score((2, 1)), 4), s.hit_rate((2, 1))
    ((2, 1), 1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import ShapeError, ValidationError, check_int, check_shape
from ..ops import cost_volume, displacements

__all__ = ["DisplacementScores", "displacement_scores"]


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


def displacement_scores(
    f1: Tensor, f2: Tensor, max_displacement: int, *, margin: int = 0
) -> DisplacementScores:
    """The L2-normalised cost volume of one pair and its mean score per displacement.

    Args:
        f1: Tensor[1, C, H, W] features of image 1.
        f2: Tensor[1, C, H, W] features of image 2.
        max_displacement: d; the volume has (2d+1)² channels.
        margin: pixels left out at each border when averaging (at least 1 pixel stays).

    Returns:
        :class:`DisplacementScores`.

    Raises:
        ShapeError: not one pair of equal (1, C, H, W) shapes, or ``margin`` leaves no pixel.
        ValidationError: ``max_displacement`` or ``margin`` negative.
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
    volume = cost_volume(f1, f2, d, normalize="l2", reduction="sum")[0]
    interior = torch.zeros(h, w, dtype=torch.bool, device=volume.device)
    interior[m : h - m, m : w - m] = True
    return DisplacementScores(volume, volume[:, interior].mean(1), interior, d)
