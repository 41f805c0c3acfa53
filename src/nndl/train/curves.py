r"""The full training-loss curve of S copies trained side by side, for a budget in updates.

:func:`stacked_loss_curve` trains a :class:`~nndl.train.StackedModels` with
:func:`~nndl.train.fit_stacked` for about ``updates`` parameter updates — full batch
(``batch_size=None``: gradient descent :math:`w \leftarrow w - \eta \nabla L(w)` on the mean
loss over all N examples, one update per epoch) or mini-batches (``ceil(N / batch_size)``
updates per epoch) — and records every copy's loss on the *whole* training set before training
and after each epoch. Full batch needs no extra pass: a step's own loss is the full loss before
its update. Copies whose loss becomes NaN/Inf are frozen and flagged, so a learning-rate grid
can be swept without stopping.

Example:
    >>> from nndl.nn import mlp
    >>> x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    >>> nets = StackedModels.from_factory(lambda s: mlp([4, 8, 3]), seeds=[0, 1])
    >>> curve = stacked_loss_curve(nets, x, y, lr=0.5, updates=20, batch_size=None)
    >>> curve["updates"][-1], len(curve["loss"][-1]), curve["diverged"]
    (20, 2, [False, False])
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .._validation import check_int
from .stacked import StackedLoss, StackedModels, fit_stacked, stacked_losses

__all__ = ["stacked_loss_curve"]


def stacked_loss_curve(
    stacked: StackedModels,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str | StackedLoss = "cross_entropy",
    optimizer: str = "sgd",
    lr: float = 0.1,
    updates: int,
    batch_size: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Train ``stacked`` for about ``updates`` updates; the full training loss after each epoch.

    Args:
        stacked: the S copies (trained in place, moved to ``device``).
        x: Tensor[N, \\*] training inputs.
        y: Tensor[N] class indices or Tensor[N, \\*] targets.
        loss: ``"cross_entropy"``, ``"mse"`` or a :data:`~nndl.train.StackedLoss`.
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: learning rate.
        updates: the budget; epochs = ``max(1, round(updates / updates_per_epoch))``.
        batch_size: None for full batch (gradient descent), else examples per update.
        seed: seeds the mini-batch orders.
        device: where to train (None: where ``stacked`` is); ``x`` and ``y`` are moved there.

    Returns:
        JSON-able ``updates`` (updates done after each epoch), ``loss`` (per epoch a list of S
        full training losses after it), ``initial`` (S losses before training) and
        ``diverged`` (S flags: the copy's loss became non-finite and it was frozen).

    Raises:
        ValidationError: ``updates`` or ``batch_size`` < 1 (and :func:`fit_stacked`'s checks).
    """
    check_int(updates, name="updates", low=1)
    if batch_size is not None:
        check_int(batch_size, name="batch_size", low=1)
    if device is not None:
        stacked.to(device)
    x, y = x.to(stacked.diverged.device), y.to(stacked.diverged.device)
    full = batch_size is None
    per_epoch = 1 if batch_size is None else math.ceil(len(x) / batch_size)
    initial = stacked_losses(stacked, x, y, loss).tolist()
    history = fit_stacked(
        stacked,
        x,
        y,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        epochs=max(1, round(updates / per_epoch)),
        batch_size=batch_size,
        seed=seed,
        on_nonfinite="freeze",
        metrics=None if full else {"train_loss": lambda _: stacked_losses(stacked, x, y, loss)},
    )
    final = stacked_losses(stacked, x, y, loss).tolist()
    after = (
        [row["loss"] for row in history[1:]] if full else [r["train_loss"] for r in history[:-1]]
    )
    return {
        "updates": [(i + 1) * per_epoch for i in range(len(history))],
        "loss": [v if isinstance(v, list) else [v] for v in [*after, final]],
        "initial": initial,
        "diverged": stacked.diverged.tolist(),
    }
