r"""Learning-rate schedules computed from the trainer's clock, so that resuming is exact.

A schedule that counts its own calls restarts from zero when training resumes from a
checkpoint; :class:`CosineSchedule` instead reads :attr:`Trainer.step` (or
:attr:`Trainer.epoch`), which the checkpoint restores, and the base learning rate from each
parameter group's ``"initial_lr"``, which is saved with the optimiser's state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._validation import ValidationError, check_choice, check_in_range, check_int
from .trainer import Callback, Trainer

__all__ = ["CosineSchedule", "cosine_factor"]


def cosine_factor(progress: float, final_lr_ratio: float = 0.0) -> float:
    r"""The cosine decay factor at ``progress`` ∈ [0, 1] (clipped to it).

    .. math:: \phi(p) = f + (1 - f)\,\tfrac12\big(1 + \cos(\pi p)\big)

    so :math:`\phi(0) = 1` and :math:`\phi(1) = f` (``final_lr_ratio``).

    Example:
        >>> cosine_factor(0.0), cosine_factor(0.5), cosine_factor(1.0, 0.1)
        (1.0, 0.5, 0.1)
    """
    p = min(max(float(progress), 0.0), 1.0)
    f = float(final_lr_ratio)
    return f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * p))


class CosineSchedule(Callback):
    r"""Cosine decay of every parameter group's learning rate, set from the trainer's clock.

    Per step (``unit="step"``), the update number :math:`t` (0-based, :attr:`Trainer.step`)
    uses :math:`\eta_t = \eta_0\,\phi(t / T)`; per epoch (``unit="epoch"``), epoch :math:`e`
    (0-based) uses :math:`\eta_0\,\phi(e / T)`, with :math:`\phi` from :func:`cosine_factor`.
    :math:`\eta_0` is the group's ``"initial_lr"`` (set to its ``lr`` the first time, then
    saved and restored with the optimiser's state), so a resumed run follows the same schedule
    as an uninterrupted one.

    Args:
        total: T, steps (or epochs) over which the rate decays (None: the whole run,
            :attr:`Trainer.total_steps` or :attr:`Trainer.epochs`).
        final_lr_ratio: f, the rate at the end as a share of :math:`\eta_0` (0: decay to 0).
        unit: ``"step"`` (set before every step) or ``"epoch"`` (set before every epoch).
        optimizers: names of the trainer's optimisers to schedule (None: all of them).

    Example:
        >>> schedule = CosineSchedule(final_lr_ratio=0.05, unit="epoch")
        >>> # Trainer(model, optimizer, loss_fn, epochs=10, batch_size=32, callbacks=[schedule])

    Raises:
        ValidationError: ``total`` < 1, ``final_lr_ratio`` outside [0, 1], unknown ``unit``.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        final_lr_ratio: float = 0.0,
        unit: str = "step",
        optimizers: Sequence[str] | None = None,
    ):
        self.total = None if total is None else check_int(total, name="total", low=1)
        self.final_lr_ratio = check_in_range(
            final_lr_ratio, name="final_lr_ratio", low=0.0, high=1.0
        )
        self.unit = check_choice(unit, ("step", "epoch"), name="unit")
        self.names = None if optimizers is None else tuple(optimizers)

    def lr_factor(self, trainer: Trainer) -> float:
        """:math:`\\phi` at the trainer's current step (or epoch)."""
        if self.unit == "step":
            now, total = trainer.step, self.total or max(1, trainer.total_steps)
        else:
            now, total = trainer.epoch, self.total or trainer.epochs
        return cosine_factor(now / total, self.final_lr_ratio)

    def _apply(self, trainer: Trainer) -> None:
        factor = self.lr_factor(trainer)
        for name, optimizer in trainer.optimizers.items():
            if self.names is not None and name not in self.names:
                continue
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor

    def on_train_start(self, trainer: Trainer) -> None:
        if self.names is not None:
            unknown = sorted(set(self.names) - set(trainer.optimizers))
            if unknown:
                raise ValidationError(
                    f"CosineSchedule optimizers must be among {', '.join(trainer.optimizers)}, "
                    f"got {unknown}"
                )

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if self.unit == "epoch":
            self._apply(trainer)

    def on_step_start(self, trainer: Trainer) -> None:
        if self.unit == "step":
            self._apply(trainer)

    def __repr__(self) -> str:
        return (
            f"CosineSchedule(total={self.total}, final_lr_ratio={self.final_lr_ratio}, "
            f"unit={self.unit!r})"
        )
