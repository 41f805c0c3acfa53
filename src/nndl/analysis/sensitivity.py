r"""How much a trained network's accuracy depends on a few of its parameters (F3).

The *saliency* of parameter :math:`w_i` is the first-order Taylor estimate of how much the loss
changes when the parameter is removed (set to zero; LeCun et al. 1990, Molchanov et al. 2017):

.. math:: L(w - w_i e_i) - L(w) \approx -w_i\, \partial L / \partial w_i,
          \qquad s_i = |w_i\, \partial L / \partial w_i| .

:func:`parameter_sensitivity` perturbs the :math:`k` parameters of largest saliency, or
:math:`k` parameters drawn uniformly at random, for a grid of :math:`k`, and measures the
accuracy after each perturbation. The perturbations are ``"zero"`` (:math:`w_i \to 0`) and
``"negate"`` (:math:`w_i \to -w_i`). The saliency ranking is computed once, on
``saliency_data`` (use training data so that the test set only scores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

from .._validation import DTypeError, ValidationError, check_choice, check_int, check_shape

__all__ = [
    "PERTURBATIONS",
    "SELECTIONS",
    "SensitivityResult",
    "parameter_sensitivity",
    "saliency",
]

SELECTIONS: tuple[str, ...] = ("saliency", "random")
PERTURBATIONS: tuple[str, ...] = ("zero", "negate")

Data = tuple[torch.Tensor, torch.Tensor]


def _check_data(data: Data, name: str) -> Data:
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValidationError(f"{name} must be a pair (x, y) of tensors, got {type(data).__name__}")
    x, y = data
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise DTypeError(f"{name} must hold tensors (x, y)")
    sizes = check_shape(x, "N *", name=f"{name}[0]")
    check_shape(y, "N", name=f"{name}[1]", sizes=sizes)
    if y.dtype != torch.long:
        raise DTypeError(f"{name}[1] must hold int64 class labels, got dtype {y.dtype}")
    return x, y


def _assign(vec: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
    """Copy a flat vector into the parameters in place (their storage is kept)."""
    with torch.no_grad():
        offset = 0
        for p in params:
            p.copy_(vec[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def saliency(
    model: nn.Module,
    data: Data,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Per-parameter saliency :math:`|w \\odot \\partial L/\\partial w|`, flattened.

    Args:
        model: a classifier mapping ``x`` to logits Tensor[N, K].
        data: ``(x, y)`` on which the loss is evaluated (one full batch).
        loss_fn: ``loss_fn(logits, y)``; default cross-entropy (mean over the batch).

    Returns:
        Tensor[P] in the order of ``parameters_to_vector(model.parameters())``.
    """
    x, y = _check_data(data, "data")
    loss_fn = loss_fn if loss_fn is not None else nn.functional.cross_entropy
    params = list(model.parameters())
    was_training = model.training
    model.eval()
    try:
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, params)
    finally:
        model.train(was_training)
    with torch.no_grad():
        return (parameters_to_vector(params) * parameters_to_vector(grads)).abs()


@dataclass
class SensitivityResult:
    """Accuracy after perturbing k parameters.

    Attributes:
        ks: the numbers of perturbed parameters.
        accuracy: ``{selection: [mean accuracy at each k]}`` (random: mean over repeats).
        accuracy_std: ``{selection: [std over repeats]}`` (0 for saliency).
        baseline: accuracy of the unperturbed model.
        n_parameters: P, the number of parameters.
        perturbation: ``"zero"`` or ``"negate"``.
        repeats: random draws per k for ``"random"``.
    """

    ks: list[int]
    accuracy: dict[str, list[float]]
    accuracy_std: dict[str, list[float]]
    baseline: float
    n_parameters: int
    perturbation: str
    repeats: int = 1

    def smallest_k(self, drop: float = 0.10, selection: str = "saliency") -> int | None:
        """The smallest k on the grid whose (mean) accuracy is at least ``drop`` below baseline.

        Returns None if no k on the grid costs that much.
        """
        check_choice(selection, self.accuracy, name="selection")
        for k, acc in zip(self.ks, self.accuracy[selection], strict=True):
            if self.baseline - acc >= drop - 1e-12:
                return k
        return None


def parameter_sensitivity(
    model: nn.Module,
    data: Data,
    ks: Sequence[int],
    *,
    selections: Sequence[str] = SELECTIONS,
    perturbation: str = "zero",
    saliency_data: Data | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    repeats: int = 5,
    generator: torch.Generator | None = None,
) -> SensitivityResult:
    """Accuracy of ``model`` on ``data`` after perturbing ``k`` parameters, for each ``k``.

    Args:
        model: a trained classifier (``model(x)`` gives logits Tensor[N, K]); it is restored to
            its original parameters before returning, also on error.
        data: ``(x, y)`` scored for accuracy, ``y`` int64 labels Tensor[N].
        ks: numbers of parameters to perturb, each in ``[0, P]``.
        selections: any of ``"saliency"`` (the k largest :func:`saliency`) and ``"random"``.
        perturbation: ``"zero"`` (set to 0) or ``"negate"`` (flip the sign).
        saliency_data: ``(x, y)`` for the saliency ranking (default: ``data``).
        loss_fn: loss for the saliency, ``loss_fn(logits, y)``; default cross-entropy.
        repeats: random draws per k for ``"random"``.
        generator: random source for ``"random"``.

    Returns:
        A :class:`SensitivityResult`; ``result.smallest_k(0.10)`` is the smallest k on the grid
        that costs 10 accuracy points.

    Raises:
        ValidationError: a k outside ``[0, P]``, an unknown selection or perturbation, or
            malformed data.
    """
    x, y = _check_data(data, "data")
    sal_data = _check_data(saliency_data, "saliency_data") if saliency_data is not None else (x, y)
    check_choice(perturbation, PERTURBATIONS, name="perturbation")
    for s in selections:
        check_choice(s, SELECTIONS, name="selection")
    check_int(repeats, name="repeats", low=1)
    params = list(model.parameters())
    original = parameters_to_vector(params).detach().clone()
    n = original.numel()
    grid = [check_int(k, name="k", low=0, high=n) for k in ks]
    if not grid:
        raise ValidationError("ks must hold at least one k, got an empty sequence")

    def perturbed_accuracy(index: torch.Tensor) -> float:
        vec = original.clone()
        vec[index] = 0.0 if perturbation == "zero" else -vec[index]
        _assign(vec, params)
        return _accuracy(model, x, y)

    was_training = model.training
    model.eval()
    acc: dict[str, list[float]] = {}
    std: dict[str, list[float]] = {}
    try:
        baseline = _accuracy(model, x, y)
        for selection in selections:
            means, stds = [], []
            if selection == "saliency":
                order = torch.argsort(saliency(model, sal_data, loss_fn), descending=True)
                for k in grid:
                    means.append(perturbed_accuracy(order[:k]))
                    stds.append(0.0)
            else:
                for k in grid:
                    draws = torch.tensor(
                        [
                            perturbed_accuracy(torch.randperm(n, generator=generator)[:k])
                            for _ in range(repeats)
                        ]
                    )
                    means.append(float(draws.mean()))
                    stds.append(float(draws.std(unbiased=False)))
            acc[selection], std[selection] = means, stds
    finally:
        _assign(original, params)
        model.train(was_training)
    return SensitivityResult(
        ks=grid,
        accuracy=acc,
        accuracy_std=std,
        baseline=baseline,
        n_parameters=n,
        perturbation=perturbation,
        repeats=repeats,
    )
