r"""Gradients through time in a recurrent net, and the adding problem to train it on (claim G8).

For a recurrent net the loss's gradient with respect to an early hidden state is a product of
Jacobians, :math:`\partial L/\partial h_t = \partial L/\partial h_T \prod_{s=t+1}^{T}
\partial h_s/\partial h_{s-1}`, which shrinks (or grows) geometrically with the distance
:math:`T - t` when their gains stay below (above) one.

- :func:`state_gradient_norms` measures :math:`g(t) = \lVert \partial L_b/\partial h_t \rVert`,
  mean over the sequences b of a batch, for every time step of a
  :class:`~nndl.nn.SequenceModel` (its ``return_states`` gives every :math:`h_t` as a node of
  the graph); :func:`~nndl.analysis.decades_lost` turns that profile into the orders of
  magnitude lost over the sequence.
- :func:`fit_adding_problem` trains such a model on fresh batches of the adding problem
  (:func:`nndl.data.adding_problem`) with Adam and gradient clipping, optionally until it is
  solved, and returns its held-out MSE curve; :func:`race_on_adding_problem` trains one net
  per cell on the same batches, the first until solved and the others as many steps, with
  their gradient profiles before and after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .._validation import DTypeError, ShapeError, ValidationError, check_in_range, check_int
from ..data import adding_problem
from ..nn import SequenceModel
from ..train import Trainer

__all__ = ["fit_adding_problem", "race_on_adding_problem", "sequence_mse", "state_gradient_norms"]


def _check_sequence(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> None:
    if not isinstance(model, SequenceModel):
        raise DTypeError(f"model must be an nndl.nn.SequenceModel, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise DTypeError(f"x and y must be tensors, got {type(x).__name__}, {type(y).__name__}")
    if x.dim() != 3 or y.shape != (x.shape[0],) or model.output_size != 1:
        raise ShapeError(
            f"x must be (B, T, D), y (B,) and the model have one output, got x {tuple(x.shape)}, "
            f"y {tuple(y.shape)}, {model.output_size} outputs",
            ("B",),
            tuple(y.shape),
        )


def state_gradient_norms(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Mean over sequences of :math:`\lVert \partial L_b / \partial h_t \rVert_2`, t = 1 … T.

    :math:`L_b = (\hat y_b - y_b)^2` is sequence b's own squared error; the batch loss is their
    mean, so each sequence's gradient is B times its share of the batch gradient, computed in one
    backward pass. Parameters' ``.grad`` are not touched.

    Args:
        model: a :class:`~nndl.nn.SequenceModel` with one output.
        x: Tensor[B, T, D] sequences; y: Tensor[B] targets.

    Returns:
        Tensor[T]; entry t is at distance T − 1 − t from the loss.

    Raises:
        DTypeError / ShapeError: not a SequenceModel, or shapes that do not match.
    """
    _check_sequence(model, x, y)
    out, states = model(x, return_states=True)
    (grad,) = torch.autograd.grad(F.mse_loss(out.squeeze(-1), y), states)
    return x.shape[0] * torch.linalg.vector_norm(grad, dim=2).mean(dim=0)


@torch.no_grad()
def sequence_mse(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean squared error of the model's one output against ``y`` (B,), without gradients."""
    _check_sequence(model, x, y)
    return float(F.mse_loss(model(x).squeeze(-1), y))


def fit_adding_problem(
    model: SequenceModel,
    *,
    length: int,
    steps: int,
    generator: torch.Generator,
    held_out: tuple[torch.Tensor, torch.Tensor],
    batch_size: int = 32,
    lr: float = 1e-2,
    clip: float = 1.0,
    eval_every: int = 50,
    until_mse: float | None = None,
) -> list[list[float]]:
    r"""Train on fresh adding-problem batches with Adam and clipping; the held-out MSE curve.

    Every ``eval_every`` steps (one :class:`~nndl.train.Trainer` epoch over
    ``eval_every · batch_size`` new sequences of ``length`` from ``generator``, in order, each
    step's gradient norm clipped to ``clip``; one Adam optimiser throughout) the held-out MSE is
    recorded. Training stops after ``steps`` steps, or as soon as the held-out MSE is below
    ``until_mse`` when it is given. The same generator state gives the same batches to any model.

    Args:
        model: a :class:`~nndl.nn.SequenceModel` with D = 2 inputs and one output (trained in
            place, on its device).
        length: T ≥ 2.
        steps: the most steps to take (≥ 0).
        generator: the stream of training batches.
        held_out: ``(x, y)`` on the model's device, x (B, T, 2).
        batch_size, lr, clip, eval_every: the recipe.
        until_mse: stop once the held-out MSE is below this (None: run all ``steps``).

    Returns:
        ``[[step, mse], …]`` from ``[0, mse at the start]`` to the last step taken.

    Raises:
        ValidationError / DTypeError / ShapeError: bad arguments, before any training.
    """
    check_int(length, name="length", low=2)
    check_int(steps, name="steps", low=0)
    for name, v in (("batch_size", batch_size), ("eval_every", eval_every)):
        check_int(v, name=name, low=1)
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    check_in_range(clip, name="clip", low=0.0, low_inclusive=False)
    if not isinstance(generator, torch.Generator):
        raise DTypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    _check_sequence(model, *held_out)
    device = held_out[0].device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)

    def loss_fn(m: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return F.mse_loss(m(batch[0]).squeeze(-1), batch[1])

    curve = [[0.0, sequence_mse(model, *held_out)]]
    done = 0
    while done < steps and not (until_mse is not None and curve[-1][1] < until_mse):
        chunk = min(eval_every, steps - done)
        x, y = adding_problem(chunk * batch_size, length, generator)
        Trainer(
            model, optimizer, loss_fn, epochs=1, batch_size=batch_size, shuffle=False,
            grad_clip=clip, device=device, progress=False,
        ).fit((x.to(device), y.to(device)))  # fmt: skip
        done += chunk
        curve.append([float(done), sequence_mse(model, *held_out)])
    return curve


def race_on_adding_problem(
    cells: Sequence[str],
    *,
    length: int,
    hidden: int,
    init_seed: int,
    generator: Callable[[], torch.Generator],
    held_out: tuple[torch.Tensor, torch.Tensor],
    probe: tuple[torch.Tensor, torch.Tensor],
    max_steps: int,
    until_mse: float,
    batch_size: int = 32,
    lr: float = 1e-2,
    clip: float = 1.0,
    eval_every: int = 50,
) -> dict[str, dict[str, list[Any]]]:
    r"""One fresh net per cell on the same adding-problem batches, with gradient profiles.

    Cell k's :class:`~nndl.nn.SequenceModel` (2 inputs, ``hidden`` units, one output) draws
    its weights under ``torch.manual_seed(init_seed + 10 k)`` (the global generator is restored
    afterwards) and trains with :func:`fit_adding_problem` on the batches of a fresh
    ``generator()``, so every cell sees the same sequences. The first cell trains until its
    held-out MSE is below ``until_mse`` (at most ``max_steps`` steps); every later cell trains
    exactly as many steps as the first took. Before and after training,
    :func:`state_gradient_norms` on ``probe`` gives the profile :math:`\lVert \partial L /
    \partial h_t \rVert`, t = 1 … T.

    Args:
        cells: cell names of :class:`~nndl.nn.SequenceModel` (e.g. ``("lstm", "rnn")``), the
            leader first.
        length: T ≥ 2, the sequences' length.
        hidden: hidden units ≥ 1.
        init_seed: see above (≥ 0).
        generator: a fresh ``torch.Generator`` per call, always in the same state.
        held_out: ``(x, y)`` with x (B, T, 2), on the device the nets train on.
        probe: ``(x, y)`` for the gradient profiles, same layout.
        max_steps: the most steps the leader takes (≥ 0).
        until_mse: the leader's target held-out MSE.
        batch_size, lr, clip, eval_every: the recipe of :func:`fit_adding_problem`.

    Returns:
        ``{cell: {"curve": [[step, mse], …], "grad_init": [T floats], "grad_trained": [T
        floats]}}`` in the order of ``cells``.

    Raises:
        ValidationError: no cells, or bad numbers; DTypeError: ``generator`` not callable;
            ShapeError: ``probe`` or ``held_out`` of the wrong shape — all before any training.
    """
    if not cells:
        raise ValidationError("cells must name at least one cell, got none")
    check_int(length, name="length", low=2)
    check_int(hidden, name="hidden", low=1)
    check_int(init_seed, name="init_seed", low=0)
    check_int(max_steps, name="max_steps", low=0)
    check_in_range(until_mse, name="until_mse", low=0.0)
    if not callable(generator):
        raise DTypeError(f"generator must be a callable () -> torch.Generator, got {generator!r}")
    models = []
    for k, cell in enumerate(cells):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed + 10 * k)
            models.append(SequenceModel(2, hidden, 1, cell=cell).to(held_out[0].device))
        _check_sequence(models[-1], *probe)
    out: dict[str, dict[str, list[Any]]] = {}
    steps = max_steps
    for k, (cell, model) in enumerate(zip(cells, models, strict=True)):
        grad_init = state_gradient_norms(model, *probe).tolist()
        curve = fit_adding_problem(
            model, length=length, steps=steps, held_out=held_out, generator=generator(),
            batch_size=batch_size, lr=lr, clip=clip, eval_every=eval_every,
            until_mse=until_mse if k == 0 else None,
        )  # fmt: skip
        steps = int(curve[-1][0])
        grad_trained = state_gradient_norms(model, *probe).tolist()
        out[cell] = {"curve": curve, "grad_init": grad_init, "grad_trained": grad_trained}
    return out
