r"""The exact number of salient parameters whose perturbation costs a given accuracy drop.

:func:`~nndl.analysis.parameter_sensitivity` scores a network on a geometric grid of k (a factor
of about 1.45 between points), so ``result.smallest_k(drop)`` only brackets the smallest k whose
k most salient parameters (:math:`|w\,\partial L/\partial w|`), perturbed, cost ``drop``
accuracy: the true k lies in :math:`(k_{i-1}, k_i]`. :func:`exact_smallest_k` tries every k from
1 up to the grid's first crossing, so the answer is exact rather than rounded up to a grid point
(claim F3). :func:`fragility_profile` gives one network's whole picture: the accuracy curves on
the grid, saliency against random selection, and both smallest k, per perturbation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._validation import DTypeError, ValidationError, check_in_range
from .sensitivity import Data, SensitivityResult, parameter_sensitivity

__all__ = ["exact_smallest_k", "fragility_profile"]


def exact_smallest_k(
    model: nn.Module,
    data: Data,
    grid: SensitivityResult,
    drop: float,
    *,
    saliency_data: Data | None = None,
) -> int | None:
    """The smallest k whose k most salient parameters, perturbed, cost ``drop`` accuracy.

    Args:
        model: the classifier ``grid`` was measured on (restored before returning).
        data: ``(x, y)`` scored for accuracy, as for ``grid``.
        grid: a :func:`~nndl.analysis.parameter_sensitivity` result with the ``"saliency"``
            selection; its perturbation (zero or negate) is used.
        drop: the accuracy drop, in (0, 1] (0.10 = ten points).
        saliency_data: ``(x, y)`` for the saliency ranking, as for ``grid``.

    Returns:
        The exact smallest k in ``[1, grid's first crossing]``, or None when no k on the grid
        costs ``drop``.

    Raises:
        DTypeError: ``grid`` is not a :class:`~nndl.analysis.SensitivityResult`.
        ValidationError: ``drop`` outside (0, 1], ``grid`` without ``"saliency"``, or malformed
            data.

    Example:
        >>> import torch
        >>> net = torch.nn.Linear(8, 8)  # class k carried by weight (k, k) = k + 1 alone
        >>> with torch.no_grad():
        ...     _ = net.weight.copy_(torch.diag(torch.arange(1.0, 9.0))), net.bias.zero_()
        >>> data = (torch.eye(8), torch.arange(8))
        >>> grid = parameter_sensitivity(net, data, [1, 4, 8], selections=("saliency",))
        >>> grid.smallest_k(0.2), exact_smallest_k(net, data, grid, 0.2)
        (4, 2)
    """
    if not isinstance(grid, SensitivityResult):
        raise DTypeError(f"grid must be a SensitivityResult, got {type(grid).__name__}")
    check_in_range(drop, name="drop", low=0.0, high=1.0, low_inclusive=False)
    k = grid.smallest_k(drop, "saliency")
    if k is None:
        return None
    exact = parameter_sensitivity(
        model,
        data,
        range(1, k + 1),
        selections=("saliency",),
        perturbation=grid.perturbation,
        saliency_data=saliency_data,
    )
    return exact.smallest_k(drop, "saliency")


def fragility_profile(
    model: nn.Module,
    data: Data,
    ks: Sequence[int],
    drop: float,
    *,
    perturbations: Sequence[str],
    generators: Sequence[torch.Generator],
    saliency_data: Data | None = None,
    repeats: int = 5,
) -> dict[str, Any]:
    """Accuracy against k and the smallest damaging k of one network, per perturbation.

    For each perturbation, :func:`~nndl.analysis.parameter_sensitivity` on the grid ``ks`` (the
    k most salient parameters and, as the control, k random ones), then the smallest k that
    costs ``drop``: exact for the salient ones (:func:`exact_smallest_k`), on the grid for the
    random ones.

    Args:
        model: a trained classifier (restored before returning).
        data: ``(x, y)`` scored for accuracy.
        ks: the grid of k, each in [0, P].
        drop: the accuracy drop, in (0, 1].
        perturbations: ``"zero"`` and/or ``"negate"``.
        generators: one random source per perturbation (the random selections).
        saliency_data: ``(x, y)`` for the saliency ranking (default: ``data``).
        repeats: random draws per k.

    Returns:
        JSON-able ``{"baseline": accuracy, "accuracy": {perturbation: {selection: [accuracy
        at each k]}}, "smallest_k": {perturbation: {"random": k or None, "saliency": k or
        None}}}``.

    Raises:
        ValidationError: ``generators`` not one per perturbation, ``drop`` outside (0, 1], or
            :func:`~nndl.analysis.parameter_sensitivity`'s checks.
    """
    if len(generators) != len(perturbations):
        raise ValidationError(
            f"generators must hold one generator per perturbation ({len(perturbations)}), got "
            f"{len(generators)}"
        )
    check_in_range(drop, name="drop", low=0.0, high=1.0, low_inclusive=False)
    row: dict[str, Any] = {"baseline": None, "accuracy": {}, "smallest_k": {}}
    for p, gen in zip(perturbations, generators, strict=True):
        grid = parameter_sensitivity(
            model,
            data,
            ks,
            perturbation=p,
            saliency_data=saliency_data,
            repeats=repeats,
            generator=gen,
        )
        row["baseline"], row["accuracy"][p] = grid.baseline, grid.accuracy
        row["smallest_k"][p] = {
            "random": grid.smallest_k(drop, "random"),
            "saliency": exact_smallest_k(model, data, grid, drop, saliency_data=saliency_data),
        }
    return row
