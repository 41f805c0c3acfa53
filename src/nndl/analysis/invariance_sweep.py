r"""Invariance of layers to families of input transforms, measured inside one network (P2).

:func:`transform_families` builds, once, the transformed copies :math:`T x` of a batch for three
families — translations by :math:`m` pixels in four directions, Simard-style elastic
deformations of strength :math:`\alpha` and rescaling about the centre by :math:`s` — so that
every network sees the same images. :func:`invariance_profile` then reports, per family and
magnitude, the mean relative change

.. math:: \delta_r = \frac{\|r(Tx) - r(x)\|}{\|r(x)\|}

of what enters (:math:`\delta_a`) and what leaves (:math:`\delta_p`) each named layer
(:func:`~nndl.analysis.layer_io_change`, averaged over the batch and over the transforms of one
magnitude), and the accuracy on the transformed batch. A layer makes the features more
invariant to :math:`T` when :math:`\delta_p < \delta_a`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(),
    ...                     nn.Linear(32, 3))
    >>> x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 3, (6,))
    >>> sets = transform_families(x, shifts=(1,), elastic_alphas=(), scales=(0.5,))
    >>> profile = invariance_profile(net, x, y, sets, ["1"])
    >>> sorted(profile), len(profile["translation"]["before"][0])
    (['clean_accuracy', 'elastic', 'rescaling', 'translation'], 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_in_range, check_int, check_shape
from ..train import accuracy
from .invariance import elastic_deform, rescale, translate
from .layer_change import layer_io_change

__all__ = ["TransformSets", "invariance_profile", "transform_families"]

#: ``{family: [(magnitude, [T x, …]), …]}``: the transformed batches of each magnitude.
TransformSets = dict[str, list[tuple[float, list[torch.Tensor]]]]


def transform_families(
    images: torch.Tensor,
    *,
    shifts: Sequence[int] = (1, 2),
    elastic_alphas: Sequence[float] = (1.0, 2.0),
    elastic_sigma: float = 1.0,
    scales: Sequence[float] = (0.5, 0.75, 1.25),
    generator: torch.Generator | None = None,
) -> TransformSets:
    r"""Translated, elastically deformed and rescaled copies of a batch.

    Args:
        images: Tensor[B, C, H, W].
        shifts: translation magnitudes :math:`m` (pixels); each gives the four shifts
            :math:`(\pm m, 0), (0, \pm m)` (:func:`~nndl.analysis.translate`).
        elastic_alphas: displacement strengths :math:`\alpha` of one elastic deformation each
            (:func:`~nndl.analysis.elastic_deform`, drawn from ``generator`` in this order).
        elastic_sigma: smoothness :math:`\sigma` of the elastic displacement field.
        scales: rescaling factors (:func:`~nndl.analysis.rescale`), returned sorted.
        generator: random source of the elastic fields.

    Returns:
        ``{"translation": …, "elastic": …, "rescaling": …}``, each a list of
        ``(magnitude, [Tensor[B, C, H, W], …])``.

    Raises:
        ValidationError: a shift < 1, a negative α, σ ≤ 0 or a scale ≤ 0 (also bad images, from
            the transforms).
    """
    for m in shifts:
        check_int(m, name="shifts", low=1)
    for a in elastic_alphas:
        check_in_range(a, name="elastic_alphas", low=0.0)
    check_in_range(elastic_sigma, name="elastic_sigma", low=0.0, low_inclusive=False)
    for s in scales:
        check_in_range(s, name="scales", low=0.0, low_inclusive=False)

    def four(m: int) -> list[torch.Tensor]:
        return [translate(images, d) for d in ((m, 0), (-m, 0), (0, m), (0, -m))]

    return {
        "translation": [(float(m), four(m)) for m in shifts],
        "elastic": [
            (float(a), [elastic_deform(images, a, elastic_sigma, generator=generator)])
            for a in elastic_alphas
        ],
        "rescaling": [(float(s), [rescale(images, s)]) for s in sorted(scales)],
    }


def invariance_profile(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    transformed: Mapping[str, Sequence[tuple[float, Sequence[torch.Tensor]]]],
    layers: Sequence[str],
) -> dict[str, Any]:
    r"""Relative change before and after each layer, and accuracy, per family and magnitude.

    Args:
        model: a classifier (evaluated as it is; put it in eval mode first).
        images: Tensor[B, C, H, W] clean inputs :math:`x`.
        labels: Tensor[B] class indices.
        transformed: :func:`transform_families`' output (or any ``{family: [(magnitude,
            [T x, …])]}``).
        layers: submodule names to measure across; empty: accuracy only.

    Returns:
        JSON-able ``{"clean_accuracy": float, family: {"before": [[δ_a per layer] per
        magnitude], "after": [[δ_p per layer] per magnitude], "accuracy": [per magnitude]}}``,
        each δ the mean over the batch and over the transforms of that magnitude.

    Raises:
        DTypeError / ShapeError: images not (B, C, H, W) or labels not (B,) (also bad inputs,
            from the measurements).
    """
    sizes = check_shape(images, "B C H W", name="images")
    check_shape(labels, "B", name="labels", sizes=sizes)
    names = list(layers)
    out: dict[str, Any] = {"clean_accuracy": accuracy(model, images, labels)}
    for family, items in transformed.items():
        before, after, acc = [], [], []
        for _, batches in items:
            changes = [layer_io_change(model, images, t, names) for t in batches] if names else []
            before.append([float(np.mean([float(c[n][0].mean()) for c in changes])) for n in names])
            after.append([float(np.mean([float(c[n][1].mean()) for c in changes])) for n in names])
            acc.append(float(np.mean([accuracy(model, t, labels) for t in batches])))
        out[family] = {"before": before, "after": after, "accuracy": acc}
    return out
