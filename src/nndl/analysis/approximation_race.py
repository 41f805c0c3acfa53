r"""Fixed bases against a learned one at a matched parameter count, on every target (F1).

At input dimension :math:`D` and a budget of about :math:`B` parameters, the classical fits
use the largest total order :math:`M` whose basis has at most :math:`B` functions,
:math:`P_{LS} = \binom{D+M}{M}` (:func:`~nndl.analysis.order_for_budget`), and a one-hidden-layer
MLP gets the width :math:`h = \max(1, \text{round}((P_{LS} - 1) / (D + 2)))`, so that its
:math:`h(D + 2) + 1` parameters match. :func:`approximation_race` fits the polynomial and the
Fourier least-squares bases (:class:`~nndl.analysis.BasisRegressor`) and the MLPs
(:func:`~nndl.analysis.fit_mlp_regressors`, several seeds × restarts per target, all side by
side) to every :data:`~nndl.analysis.TARGET_FUNCTIONS` target on the same random training
points, and scores each by its relative RMSE on fresh test points. Per seed, the restart with
the lowest final *training* loss is kept (a choice the test data play no part in).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._validation import ValidationError, check_int
from .approximation import TARGET_FUNCTIONS, fit_mlp_regressors, relative_drop, relative_rmse
from .fitting import BasisRegressor, n_basis, order_for_budget

__all__ = ["approximation_race"]


def approximation_race(
    d: int,
    *,
    n_train: int,
    n_test: int,
    budget: int,
    seeds: Sequence[int],
    restarts: int,
    steps: int,
    lr: float,
    window: int,
    generator: torch.Generator,
    activation: str = "relu",
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Every basis and the MLPs on every target at input dimension ``d``.

    Training points x ~ U[-1, 1]^D (N = ``n_train``, then N' = ``n_test`` test points, both
    float64 from ``generator``).

    Args:
        d: input dimension D >= 1.
        n_train, n_test: numbers of training and test points (>= 2).
        budget: B, the parameter budget of the classical fits (>= 1).
        seeds: one MLP initialisation seed per (target, seed, restart), target-major then
            seed-major: T × S × R seeds for the T targets, S seeds and R = ``restarts``.
        restarts: R >= 1, restarts per seed.
        steps: full-batch Adam updates per MLP (>= 2).
        lr: Adam's initial learning rate.
        window: the plateau window w in steps, 1 <= w < ``steps``
            (:func:`~nndl.analysis.relative_drop`).
        generator: draws the training and test points.
        activation: the MLP's hidden activation.
        device: where the MLPs train (None: the CPU).

    Returns:
        JSON-able ``{"order", "parameters_ls", "width", "parameters_mlp", "targets"}`` with
        ``targets[name] = {"polynomial": e, "fourier": e, "mlp": [S errors], "mlp_drop": [S
        relative drops of the kept restarts' losses over the last w steps]}``.

    Raises:
        ValidationError: a size below its minimum, or a number of seeds that is not a multiple
            of T × R.

    Example:
        >>> cell = approximation_race(1, n_train=50, n_test=100, budget=6, seeds=range(8),
        ...                           restarts=1, steps=20, lr=1e-2, window=5,
        ...                           generator=torch.Generator().manual_seed(0))
        >>> cell["order"], cell["width"], len(cell["targets"]["kinked"]["mlp"])
        (5, 2, 2)
    """
    check_int(d, name="d", low=1)
    check_int(n_train, name="n_train", low=2)
    check_int(n_test, name="n_test", low=2)
    check_int(restarts, name="restarts", low=1)
    check_int(steps, name="steps", low=2)
    check_int(window, name="window", low=1, high=steps - 1)
    names = list(TARGET_FUNCTIONS)
    if not seeds or len(seeds) % (len(names) * restarts):
        raise ValidationError(
            f"seeds must hold a positive multiple of {len(names)} targets × {restarts} restarts "
            f"= {len(names) * restarts} seeds, got {len(seeds)}"
        )
    x = torch.rand(n_train, d, generator=generator, dtype=torch.float64) * 2 - 1
    x_test = torch.rand(n_test, d, generator=generator, dtype=torch.float64) * 2 - 1
    order = order_for_budget(d, budget)
    p_ls = n_basis(d, order)
    width = max(1, round((p_ls - 1) / (d + 2)))
    per = len(seeds) // len(names)
    y = {t: TARGET_FUNCTIONS[t](x) for t in names}
    y_test = {t: TARGET_FUNCTIONS[t](x_test).numpy() for t in names}
    nets, history = fit_mlp_regressors(
        x,
        torch.stack([y[t] for t in names for _ in range(per)], dim=1),
        width=width,
        seeds=list(seeds),
        steps=steps,
        lr=lr,
        activation=activation,
        device=device,
    )
    with torch.no_grad():
        pred = (
            nets(x_test.float().to(device or "cpu"))[..., 0].double().cpu().numpy()
        )  # (T·S·R, N')
    drop = relative_drop(history, window)
    targets: dict[str, Any] = {}
    for i, t in enumerate(names):
        cell: dict[str, Any] = {
            b: relative_rmse(
                BasisRegressor(b, order=order).fit(x.numpy(), y[t].numpy()).predict(x_test.numpy()),
                y_test[t],
            )
            for b in ("polynomial", "fourier")
        }
        best = [
            min(range(c, c + restarts), key=lambda j: history[-1, j])
            for c in range(i * per, (i + 1) * per, restarts)
        ]  # per seed, the restart with the lowest final training loss
        cell["mlp"] = [relative_rmse(pred[b], y_test[t]) for b in best]
        cell["mlp_drop"] = [float(drop[b]) for b in best]
        targets[t] = cell
    sizes = {"order": order, "parameters_ls": p_ls, "width": width}
    return {**sizes, "parameters_mlp": width * (d + 2) + 1, "targets": targets}
