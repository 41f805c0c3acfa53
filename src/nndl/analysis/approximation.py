r"""Networks as learned basis functions: test functions, MLP fits side by side, errors (F1).

A one-hidden-layer MLP :math:`\hat f(x) = \sum_k v_k\, \phi(w_k^\top x + b_k) + c` with
:math:`h` hidden units and :math:`D` inputs has :math:`h (D + 2) + 1` parameters and *learns*
its basis functions, where :class:`~nndl.analysis.BasisRegressor` fixes them in advance.

- :data:`TARGET_FUNCTIONS`: four targets on :math:`[-1, 1]^D`, with :math:`w` the unit vector
  :math:`\propto (1, -0.6, 0.36, \dots)` (:func:`target_direction`): smooth
  :math:`\exp(-2\|x\|^2 / D)`, oscillatory :math:`\sin(3\pi\, w^\top x)`, kinked
  :math:`|w^\top x - 0.1|` and discontinuous :math:`\mathbb 1[\|x\|^2 < D/3]`.
- :func:`fit_mlp_regressors`: M one-hidden-layer MLPs, one per column of the targets, trained
  side by side (:func:`~nndl.train.fit_stacked`) by full-batch Adam with cosine decay to 0 on
  the squared error; returns the nets and the training-loss history.
- :func:`relative_rmse`: :math:`\|\hat f - f\|_{rms} / \mathrm{sd}(f)`.
- :func:`relative_drop`: how much each loss still fell over the last steps (a plateau check).

Example:
    >>> x = torch.rand(64, 2, dtype=torch.float64) * 2 - 1
    >>> ys = torch.stack([TARGET_FUNCTIONS["kinked"](x)] * 2, dim=1)
    >>> nets, history = fit_mlp_regressors(x, ys, width=8, seeds=[0, 1], steps=50, lr=1e-2)
    >>> history.shape, bool((history[-1] < history[0]).all())
    ((50, 2), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._validation import ShapeError, ValidationError, check_in_range, check_int
from ..nn import mlp
from ..train import CosineSchedule, StackedModels, fit_stacked

__all__ = [
    "TARGET_FUNCTIONS",
    "fit_mlp_regressors",
    "relative_drop",
    "relative_rmse",
    "target_direction",
]


def target_direction(d: int) -> torch.Tensor:
    """The unit vector :math:`w \\propto (1, -0.6, 0.36, \\dots)` in ``d`` dimensions (float64)."""
    check_int(d, name="d", low=1)
    w = torch.tensor([(-0.6) ** i for i in range(d)], dtype=torch.float64)
    return w / w.norm()


#: ``name -> fn(x: Tensor[N, D]) -> Tensor[N]`` on inputs in :math:`[-1, 1]^D` (float64 x).
TARGET_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "smooth": lambda x: torch.exp(-2 * (x**2).sum(1) / x.shape[1]),
    "oscillatory": lambda x: torch.sin(3 * math.pi * x @ target_direction(x.shape[1])),
    "kinked": lambda x: (x @ target_direction(x.shape[1]) - 0.1).abs(),
    "discontinuous": lambda x: ((x**2).sum(1) < x.shape[1] / 3).to(x.dtype),
}


def fit_mlp_regressors(
    x: torch.Tensor,
    ys: torch.Tensor,
    *,
    width: int,
    seeds: Sequence[int],
    steps: int,
    lr: float,
    activation: str = "relu",
    device: str | torch.device | None = None,
) -> tuple[StackedModels, np.ndarray]:
    """Train one ``D → width → 1`` MLP per column of ``ys``, all side by side, full batch.

    Each net m is initialised after ``torch.manual_seed(seeds[m])`` and minimises the mean
    squared error to ``ys[:, m]`` by Adam with a cosine decay of the learning rate to 0 over
    ``steps`` full-batch updates (float32).

    Args:
        x: Tensor[N, D] inputs.
        ys: Tensor[N, M] targets, one column per net.
        width: hidden units h.
        seeds: M initialisation seeds.
        steps: full-batch updates.
        lr: Adam's initial learning rate.
        activation: hidden activation (see :func:`~nndl.nn.mlp`).
        device: where to train (None: the CPU).

    Returns:
        ``(nets, history)``: the trained :class:`~nndl.train.StackedModels` (``nets(x)`` is
        Tensor[M, N, 1]) and the training losses, float[steps, M], each before its update.

    Raises:
        ShapeError: ``x`` not 2-D or ``ys`` not (N, M) with M = len(seeds).
        ValidationError: width or steps < 1, lr ≤ 0.
    """
    if x.dim() != 2 or ys.shape != (x.shape[0], len(seeds)):
        raise ShapeError(
            f"x must be (N, D) and ys (N, {len(seeds)}) (one column per seed), got "
            f"{tuple(x.shape)} and {tuple(ys.shape)}",
            ("N", len(seeds)),
            tuple(ys.shape),
        )
    check_int(width, name="width", low=1)
    check_int(steps, name="steps", low=1)
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    d = x.shape[1]

    nets = StackedModels.from_factory(lambda _: mlp([d, width, 1], activation=activation), seeds)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # Tensor[M]
        return (out[..., 0] - y.T.to(out.dtype)).pow(2).mean(dim=1)

    history = fit_stacked(
        nets,
        x.float(),
        ys.float(),
        loss=loss,
        optimizer="adam",
        lr=lr,
        epochs=steps,
        batch_size=None,
        callbacks=[CosineSchedule()],
        device=device,
    )
    return nets, np.array([row["loss"] for row in history], dtype=float).reshape(len(history), -1)


def relative_rmse(prediction: np.ndarray, target: np.ndarray) -> float:
    r""":math:`\sqrt{\overline{(\hat f - f)^2}} / \mathrm{sd}(f)` over the points (shapes equal).

    Raises:
        ShapeError: different shapes.
        ValidationError: a constant target (its standard deviation is 0).
    """
    pred, tgt = np.asarray(prediction, dtype=float), np.asarray(target, dtype=float)
    if pred.shape != tgt.shape:
        raise ShapeError(
            f"prediction and target shapes differ: {pred.shape} and {tgt.shape}",
            tgt.shape,
            pred.shape,
        )
    sd = tgt.std()
    if not sd > 0:
        raise ValidationError("target is constant; the relative error is undefined")
    return float(np.sqrt(np.mean((pred - tgt) ** 2)) / sd)


def relative_drop(history: np.ndarray, window: int) -> np.ndarray:
    r"""Per column :math:`(L_{T-1-w} - L_{T-1}) / L_{T-1-w}` (0 where :math:`L_{T-1-w} \le 0`).

    Args:
        history: float[T, M] losses over T steps of M runs.
        window: w, the steps looked back (1 ≤ w < T).

    Returns:
        float[M]: the share by which each loss still fell over the last ``window`` steps; a
        run at a plateau has a drop near 0.

    Raises:
        ShapeError: ``history`` not 2-D. ValidationError: ``window`` outside [1, T − 1].
    """
    h = np.asarray(history, dtype=float)
    if h.ndim != 2:
        raise ShapeError(f"history must be (steps, runs), got shape {h.shape}", ("T", "M"), h.shape)
    check_int(window, name="window", low=1, high=h.shape[0] - 1)
    before, end = h[-1 - window], h[-1]
    safe = np.where(before > 0, before, 1.0)
    return np.where(before > 0, (before - end) / safe, 0.0)
