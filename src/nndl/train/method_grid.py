r"""The same initialisations under full-batch GD, mini-batch SGD and Adam, over learning rates.

Gradient descent :math:`w \leftarrow w - \eta \nabla L(w)` on the mean loss over the whole
training set needs nothing but the gradient (claim F2). To see what it buys against its cheaper
and adaptive cousins, :func:`loss_curves_by_method` trains S copies of one model, from the
*same* S initialisations for every run, under

- ``"GD"``: plain SGD on the full batch (one update per epoch);
- ``"SGD"``: plain SGD on mini-batches of ``batch_size``;
- ``"Adam"``: Adam on mini-batches of ``batch_size``,

for about the same number of updates, at every learning rate of each method's grid, and records
the full training loss after each epoch (:func:`~nndl.train.stacked_loss_curve`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._validation import ValidationError, check_int
from .curves import stacked_loss_curve
from .stacked import StackedLoss, StackedModels, stacked_accuracy

__all__ = ["METHOD_SETTINGS", "loss_curves_by_method"]

#: method -> (optimizer, mini-batches?)
METHOD_SETTINGS: dict[str, tuple[str, bool]] = {
    "GD": ("sgd", False),
    "SGD": ("sgd", True),
    "Adam": ("adam", True),
}


def loss_curves_by_method(
    build: Callable[[], nn.Module],
    seeds: Sequence[int],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    grids: Mapping[str, Sequence[float]],
    loss: str | StackedLoss = "cross_entropy",
    updates: int,
    batch_size: int,
    seed: int = 0,
    device: str | torch.device | None = None,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Train S copies of ``build()`` under every method at every learning rate of its grid.

    Every run starts from the same S initialisations: copy s is ``build()`` after
    ``torch.manual_seed(seeds[s])`` (:meth:`StackedModels.from_factory`).

    Args:
        build: makes one untrained model (no arguments).
        seeds: S distinct initialisation seeds.
        x: Tensor[N, \\*] training inputs.
        y: Tensor[N] class indices or Tensor[N, \\*] targets.
        grids: ``{method: learning rates}``, methods among :data:`METHOD_SETTINGS` (in the
            order given).
        loss: ``"cross_entropy"``, ``"mse"`` or a :data:`~nndl.train.StackedLoss`.
        updates: the update budget of every run.
        batch_size: examples per update of the mini-batch methods.
        seed: seeds the mini-batch orders.
        device: where to train (None: the CPU).
        test: ``(x_test, y_test)`` of a classifier: each run also gets ``test_accuracy`` (S
            values).

    Returns:
        ``{method: {f"{lr:g}": run}}``, each run as :func:`~nndl.train.stacked_loss_curve`
        returns it (``updates``, ``loss``, ``initial``, ``diverged``), JSON-able.

    Raises:
        ValidationError: an unknown method, an empty grid, or ``updates``/``batch_size`` < 1
            (before any training).

    Example:
        >>> from functools import partial
        >>> from nndl.nn import mlp
        >>> x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
        >>> runs = loss_curves_by_method(partial(mlp, [3, 4, 2]), [0, 1], x, y,
        ...                              grids={"GD": [0.1], "Adam": [1e-2]}, updates=5,
        ...                              batch_size=8)
        >>> sorted(runs), list(runs["GD"]), len(runs["Adam"]["0.01"]["initial"])
        (['Adam', 'GD'], ['0.1'], 2)
    """
    for method, lrs in grids.items():
        if method not in METHOD_SETTINGS:
            raise ValidationError(
                f"grids' methods must be among {sorted(METHOD_SETTINGS)}, got {method!r}"
            )
        if not lrs:
            raise ValidationError(f"grids[{method!r}] must hold at least one learning rate")
    check_int(updates, name="updates", low=1)
    check_int(batch_size, name="batch_size", low=1)
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for method, lrs in grids.items():
        optimizer, batched = METHOD_SETTINGS[method]
        runs[method] = {}
        for lr in lrs:
            nets = StackedModels.from_factory(lambda _: build(), seeds)
            run = stacked_loss_curve(
                nets,
                x,
                y,
                loss=loss,
                optimizer=optimizer,
                lr=lr,
                updates=updates,
                batch_size=batch_size if batched else None,
                seed=seed,
                device=device,
            )
            if test is not None:
                x_test, y_test = (t.to(device or "cpu") for t in test)
                run["test_accuracy"] = stacked_accuracy(nets, x_test, y_test).tolist()
            runs[method][f"{lr:g}"] = run
    return runs
