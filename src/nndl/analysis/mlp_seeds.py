r"""Many seeds of one fully-connected net: build them, train and score them, record their speeds.

The depth experiments (G1, G2, G4–G7) ask the same questions of S copies of one
:func:`nndl.nn.mlp` that differ only in their random initialisation: how fast each hidden layer
learns at initialisation (:func:`~nndl.analysis.hidden_layer_speeds`), how that changes along
training (:class:`SpeedRecorder`), and how well the copies do after the same budget
(:func:`fit_and_score`). The copies run side by side as one :class:`~nndl.train.StackedModels`
(:func:`stacked_mlps`), so S seeds cost little more than one.

Copy :math:`s` draws its weights from ``generator(offset + s)``, so a caller that keys the
generators on its run seed and on what it builds gets the same nets whatever else it builds.

Nielsen's recipe for his sigmoid nets regularises the weights only,
:math:`w \leftarrow (1 - \eta\lambda/n)\,w - \eta\nabla_w C`, :math:`b \leftarrow b - \eta
\nabla_b C`: :func:`sgd_l2_weights` builds that optimiser for stacked copies (stacked weight
matrices are the parameters of 3 or more dimensions, (S, out, in)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from .._validation import DTypeError, ValidationError, check_choice, check_in_range, check_int
from ..nn import mlp
from ..train import (
    Callback,
    NonFiniteLossError,
    StackedLoss,
    StackedModels,
    Trainer,
    accuracy,
    fit_stacked,
    stacked_accuracy,
    supervised_loss,
)
from .layer_speeds import SPEED_MEASURES, hidden_layer_speeds

__all__ = [
    "FitScore",
    "SpeedRecorder",
    "fit_and_score",
    "sgd_l2_weights",
    "speeds_along_training",
    "stacked_mlps",
]


def stacked_mlps(
    sizes: Sequence[int],
    activation: str,
    seeds: int,
    generator: Callable[[int], torch.Generator],
    *,
    offset: int = 0,
    init: str = "gaussian",
    init_kwargs: Mapping[str, Any] | None = None,
    batchnorm: bool = False,
    input_dims: int | None = None,
    device: str | torch.device | None = None,
) -> StackedModels:
    r"""``seeds`` copies of ``mlp(sizes, activation, init, batchnorm)``, copy s drawn from
    ``generator(offset + s)``, stacked.

    Args:
        sizes: ``[in, h1, …, hL, out]`` (see :func:`nndl.nn.mlp`).
        activation: hidden activation name.
        seeds: S ≥ 1 copies.
        generator: ``k -> torch.Generator``; copy s's weights come from ``generator(offset + s)``
            (s = 0 … S−1), e.g. an experiment context's ``generator``.
        offset: see ``generator``.
        init: the scheme of :func:`nndl.nn.init_`.
        init_kwargs: its keywords (``std``, ``fan_in_scaled``, ``bias_std``, ``nonlinearity``);
            ``generator`` is added per copy.
        batchnorm: BatchNorm before each hidden activation.
        input_dims: passed to :class:`~nndl.train.StackedModels` (None: read from the net).
        device: where to put the copies (None: stay on the CPU).

    Returns:
        :class:`~nndl.train.StackedModels` of S nets; logits (S, B, out).

    Raises:
        ValidationError: ``seeds`` < 1, ``offset`` < 0, bad sizes, activation or scheme.
        DTypeError: ``generator`` is not callable.

    Example:
        >>> nets = stacked_mlps([4, 8, 3], "relu", 5, lambda s: torch.Generator().manual_seed(s))
        >>> nets(torch.zeros(10, 4)).shape
        torch.Size([5, 10, 3])
    """
    check_int(seeds, name="seeds", low=1)
    check_int(offset, name="offset", low=0)
    if not callable(generator):
        raise DTypeError(f"generator must be a callable s -> torch.Generator, got {generator!r}")
    kwargs = dict(init_kwargs or {})

    def factory(s: int) -> nn.Module:
        return mlp(
            sizes,
            activation,
            init,
            batchnorm,
            init_kwargs={**kwargs, "generator": generator(offset + s)},
        )

    stacked = StackedModels.from_factory(factory, range(seeds), input_dims=input_dims)
    return stacked.to(device) if device is not None else stacked


def sgd_l2_weights(
    lr: float, decay: float
) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
    r"""An optimiser factory for :func:`nndl.train.fit_stacked`: SGD whose L2 decay acts on the
    stacked weight matrices only (Nielsen's regulariser; biases are not decayed).

    Each step is :math:`w \leftarrow w - \eta(\nabla_w C + \text{decay}\cdot w)` for parameters
    of 3 or more dimensions (stacked weights (S, out, in)) and plain SGD for the others
    (stacked biases (S, out)). Nielsen's :math:`\lambda` on :math:`n` training examples is
    ``decay = λ / n``.

    Args:
        lr: :math:`\eta` > 0.
        decay: ≥ 0.

    Raises:
        ValidationError: ``lr`` ≤ 0 or ``decay`` < 0.
    """
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    check_in_range(decay, name="decay", low=0.0)

    def make(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        params = list(params)
        return torch.optim.SGD(
            [
                {"params": [p for p in params if p.dim() >= 3], "weight_decay": decay},
                {"params": [p for p in params if p.dim() < 3], "weight_decay": 0.0},
            ],
            lr=lr,
        )

    return make


class SpeedRecorder(Callback):
    r"""Records the stacked copies' gradient norms (e.g. hidden-layer speeds
    :math:`\lVert \partial C/\partial b_l \rVert`) every ``every`` steps, after backward.

    Args:
        stacked: the copies being trained.
        every: record when ``trainer.step % every == 0``.
        last: also record at this step (the last one, so the end of training is seen).
        pattern: the parameters whose norms are read (:meth:`StackedModels.grad_norms`),
            ``"fc*.bias"`` for the hidden layers of an :func:`~nndl.nn.mlp`.

    Attributes:
        steps: the steps recorded.
        speeds: one Array[S, L] per recorded step (L matched parameters, in order).
    """

    def __init__(self, stacked: StackedModels, every: int, last: int, pattern: str = "fc*.bias"):
        if not isinstance(stacked, StackedModels):
            raise DTypeError(f"stacked must be a StackedModels, got {type(stacked).__name__}")
        self.every = check_int(every, name="every", low=1)
        self.stacked, self.last, self.pattern = (
            stacked,
            check_int(last, name="last", low=0),
            pattern,
        )
        self.steps: list[int] = []
        self.speeds: list[np.ndarray] = []

    def read(self) -> np.ndarray:
        """The current gradient norms of every copy: Array[S, L]."""
        norms = self.stacked.grad_norms(self.pattern)
        return torch.stack(list(norms.values()), dim=1).cpu().numpy()

    def on_after_backward(self, trainer: Trainer) -> None:
        if trainer.step % self.every == 0 or trainer.step == self.last:
            self.steps.append(trainer.step)
            self.speeds.append(self.read())


@dataclass
class FitScore:
    """What :func:`fit_and_score` returns.

    Attributes:
        accuracy: per evaluation set, the S copies' accuracies.
        epoch_losses: per epoch, the S copies' mean training losses (NaN for a copy trained
            alone whose loss became non-finite).
        diverged: how many copies' losses became non-finite (frozen or stopped there).
        speeds: the hidden-layer speeds asked for, ``"{measure}_init"`` and
            ``"{measure}_trained"`` -> S × L lists (:func:`~nndl.analysis.hidden_layer_speeds`
            on the training data, before and after training).
    """

    accuracy: list[list[float]]
    epoch_losses: list[list[float]]
    diverged: int
    speeds: dict[str, list[list[float]]] = field(default_factory=dict)


def fit_and_score(
    models: StackedModels | Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    evaluate: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    epochs: int,
    batch_size: int | None,
    seed: int,
    lr: float = 0.1,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    loss: str | StackedLoss = "cross_entropy",
    optimizer: str | Callable[[Any], torch.optim.Optimizer] = "sgd",
    speeds: Sequence[Literal["bias", "weight"]] = (),
) -> FitScore:
    r"""Train S copies with SGD on ``(x, y)``, then score each on every ``evaluate`` set.

    With ``speeds``, the hidden layers' learning speeds of every copy are read on ``(x, y)``
    before and after training, one reading per measure (in the order given; layers that draw
    random numbers in training mode, such as RReLU, draw them in that order).

    A :class:`~nndl.train.StackedModels` trains side by side with
    :func:`~nndl.train.fit_stacked` (``on_nonfinite="freeze"``, example orders keyed on
    ``seed``). A list of nets — for layers vmap cannot batch in training mode, such as RReLU —
    trains one by one on the :class:`~nndl.train.Trainer` with SGD(``lr``, ``momentum``,
    ``weight_decay``) and cross-entropy, copy k with seed ``1000·seed + k`` (same seed, same
    batches whatever the net's depth); such a copy stops where its loss becomes non-finite.

    Args:
        models: the copies (trained in place).
        x: Tensor[N, D] training inputs; y: Tensor[N] labels (or targets for ``loss``).
        evaluate: ``(inputs, labels)`` pairs to score accuracy on.
        epochs, batch_size, seed, lr, momentum, weight_decay, loss, optimizer: as
            :func:`~nndl.train.fit_stacked` (``loss`` and ``optimizer`` only for stacked copies).
        speeds: measures of :func:`~nndl.analysis.hidden_layer_speeds` (``"bias"``,
            ``"weight"``) to read before and after training; ``y`` must then be class indices.

    Returns:
        :class:`FitScore`.

    Raises:
        ValidationError: no evaluation set, an unknown speed measure, an empty list of nets, or
            a custom loss/optimiser with a list of nets; bad arguments as
            :func:`~nndl.train.fit_stacked`.
    """
    check_int(epochs, name="epochs", low=1)
    for m in speeds:
        check_choice(m, SPEED_MEASURES, name="speeds")
    if not evaluate:
        raise ValidationError("evaluate must hold at least one (inputs, labels) pair, got none")
    if not isinstance(models, StackedModels):
        models = list(models)
        if not models or loss != "cross_entropy" or optimizer != "sgd":
            raise ValidationError(
                "models given one by one must be a non-empty list trained with the default "
                f"cross-entropy and SGD, got {len(models)} nets, loss {loss!r}, "
                f"optimizer {optimizer!r}"
            )
    before = {f"{m}_init": hidden_layer_speeds(models, x, y, measure=m).tolist() for m in speeds}
    if isinstance(models, StackedModels):
        history = fit_stacked(
            models, x, y, loss=loss, optimizer=optimizer, lr=lr, momentum=momentum,
            weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, seed=seed,
            on_nonfinite="freeze",
        )  # fmt: skip
        score = FitScore(
            [stacked_accuracy(models, xe, ye).tolist() for xe, ye in evaluate],
            [list(map(float, h["loss"])) for h in history],
            int(models.diverged.sum()),
        )
    else:
        sgd = (lr, momentum, weight_decay)
        score = _fit_one_by_one(list(models), x, y, evaluate, epochs, batch_size, seed, sgd)
    after = {f"{m}_trained": hidden_layer_speeds(models, x, y, measure=m).tolist() for m in speeds}
    score.speeds = before | after
    return score


def _fit_one_by_one(
    nets: list[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    evaluate: Sequence[tuple[torch.Tensor, torch.Tensor]],
    epochs: int,
    batch_size: int | None,
    seed: int,
    sgd: tuple[float, float, float],
) -> FitScore:
    """:func:`fit_and_score` for a list of nets, each on the Trainer with SGD(lr, momentum,
    weight_decay) = ``sgd``."""
    lr, momentum, weight_decay = sgd
    curves, bad = [], 0
    for k, net in enumerate(nets):
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        trainer = Trainer(
            net, opt, supervised_loss(), epochs=epochs, batch_size=batch_size,
            seed=1000 * seed + k, device=x.device, progress=False,
        )  # fmt: skip
        try:
            curves.append([float(h["loss"]) for h in trainer.fit((x, y))])
        except NonFiniteLossError:
            bad, curves = bad + 1, [*curves, [math.nan] * epochs]
    scores = [[accuracy(net, xe, ye) for net in nets] for xe, ye in evaluate]
    return FitScore(scores, [list(ep) for ep in zip(*curves, strict=True)], bad)


def speeds_along_training(
    models: StackedModels,
    x: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor,
    *,
    loss: StackedLoss,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
    epochs: int,
    every: int,
    seed: int,
) -> dict[str, list[Any]]:
    r"""Full-batch training of stacked copies, their hidden-layer speeds recorded along the way.

    Each epoch is one step of gradient descent on all of ``(x, target)``
    (:func:`~nndl.train.fit_stacked`, ``batch_size=None``, ``on_nonfinite="freeze"``); a
    :class:`SpeedRecorder` reads :math:`\lVert \partial C/\partial b_l \rVert` of every hidden
    layer after the backward pass of steps 0, ``every``, 2·``every``, … and of the last step.

    Args:
        models: S stacked :func:`~nndl.nn.mlp` copies (trained in place).
        x: Tensor[N, D] inputs; target: the targets ``loss`` takes (e.g. one-hot (N, K)).
        labels: Tensor[N] class indices for the final training accuracy.
        loss: a stacked loss (per-copy losses (S,)).
        optimizer: an optimiser factory (e.g. :func:`sgd_l2_weights`).
        epochs: ≥ 1 full-batch steps; every: ≥ 1; seed: as :func:`~nndl.train.fit_stacked`.

    Returns:
        ``{"epochs": [steps recorded], "speeds": records × S × L, "train_accuracy": [S]}``.

    Raises:
        DTypeError: ``models`` is not a StackedModels; ValidationError: ``epochs`` or
            ``every`` < 1 — before any training.
    """
    check_int(epochs, name="epochs", low=1)
    recorder = SpeedRecorder(models, every, epochs - 1)
    fit_stacked(
        models, x, target, loss=loss, epochs=epochs, batch_size=None, optimizer=optimizer,
        seed=seed, callbacks=[recorder], on_nonfinite="freeze",
    )  # fmt: skip
    return {
        "epochs": recorder.steps,
        "speeds": np.stack(recorder.speeds).tolist(),
        "train_accuracy": stacked_accuracy(models, x, labels).tolist(),
    }
