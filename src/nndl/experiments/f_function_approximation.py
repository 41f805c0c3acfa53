r"""F1: networks as basis functions — an MLP against polynomial and Fourier least squares.

Classical fitting expands a target :math:`f : [-1, 1]^D \to \mathbb{R}` in a basis fixed in
advance, :math:`\hat f(x) = \sum_\alpha c_\alpha \phi_\alpha(x)` (Legendre polynomials or a
Fourier series of total order :math:`M`, :math:`\binom{D+M}{M}` coefficients, solved by least
squares: ``nndl.analysis.BasisRegressor``). A one-hidden-layer ReLU MLP
:math:`\hat f(x) = \sum_k v_k \max(0, w_k^\top x + b_k) + c` *learns* its basis functions; at
:math:`h` hidden units it has :math:`h(D + 2) + 1` parameters, matched here to the classical fit.

Four targets, fixed before any run, with :math:`w` a fixed unit vector
(:math:`w \propto (1, -0.6, 0.36, \dots)`):

- smooth: :math:`\exp(-2\|x\|^2 / D)`;  oscillatory: :math:`\sin(3\pi\, w^\top x)`;
- kinked: :math:`|w^\top x - 0.1|`;  discontinuous: :math:`\mathbb 1[\|x\|^2 < D/3]`.

The *hard* targets (kinked, discontinuous) are the claim's; the easy ones are where a classical
basis is expected to win, and every case where it does is reported as a finding. The input
dimension is swept over (1, 2, 4, 6): a basis of fixed total order grows combinatorially with
:math:`D`, a network only linearly. Each MLP is trained to a plateau (full-batch Adam, cosine
decay to 0), from several restarts per seed, keeping the restart with the lowest *training*
loss; all seeds × restarts × targets train side by side (``nndl.train.fit_stacked``). Error is
the relative test RMSE :math:`\|\hat f - f\|_{rms} / \mathrm{sd}(f)` on fresh random points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch

from nndl.analysis import BasisRegressor, mean_interval, n_basis, order_for_budget
from nndl.nn import mlp
from nndl.train import CosineSchedule, StackedModels, fit_stacked

from .config import Range
from .context import Canvas, Context
from .registry import register
from .result import Status, Verdict
from .rules import Rule, as_float

TargetFn = Callable[[torch.Tensor], torch.Tensor]
HARD: tuple[str, ...] = ("kinked", "discontinuous")
METHODS: tuple[str, ...] = ("polynomial", "fourier", "mlp")


def _direction(d: int) -> torch.Tensor:
    w = torch.tensor([(-0.6) ** i for i in range(d)], dtype=torch.float64)
    return w / w.norm()


#: name -> fn(x: Tensor[N, D]) -> Tensor[N]; inputs in [-1, 1]^D (fixed before any run)
TARGETS: dict[str, TargetFn] = {
    "smooth": lambda x: torch.exp(-2 * (x**2).sum(1) / x.shape[1]),
    "oscillatory": lambda x: torch.sin(3 * math.pi * x @ _direction(x.shape[1])),
    "kinked": lambda x: (x @ _direction(x.shape[1]) - 0.1).abs(),
    "discontinuous": lambda x: ((x**2).sum(1) < x.shape[1] / 3).to(x.dtype),
}


@dataclass
class F1Config:
    dims: tuple[int, ...] = (1, 2, 4, 6)
    budget: int = 84
    n_train: int = 200
    n_test: int = 2000
    seeds: int = 5
    restarts: int = 2
    steps: int = 500
    lr: float = 1e-2
    activation: str = "relu"
    plateau_window: Annotated[float, Range(0.01, 0.99)] = 0.25


F1_RULE = Rule(
    claim="F1",
    statistic=(
        "per cell (input dimension D ∈ dims, target), the 95 % t interval over seeds of "
        "ln(e_MLP / e_classical), e = relative test RMSE, e_classical = the better of the "
        "polynomial and Fourier least-squares fits at the same parameter budget, e_MLP = the "
        "restart with the lowest training loss; a cell is won by the MLP if the interval lies "
        "below 0, by the classical basis if it lies above 0; a cell the MLP does not win and "
        "whose MLP has not reached a plateau (its training loss still fell by more than "
        "plateau_tol, relatively, over the last plateau_window of the steps, in some seed) is "
        "undecided"
    ),
    holds="the MLP wins at least win_share of the hard cells (kinked, discontinuous × dims)",
    does_not_hold="it cannot: MLP wins plus undecided hard cells are fewer than win_share",
    inconclusive="otherwise (too many hard cells are ties or not at a plateau)",
    seeds=5,
    rationale=(
        "the claim is about hard targets at a comparable budget; restarts and a plateau check "
        "keep an under-trained network from counting as a property of the family, and the easy "
        "cells, where a fixed basis may win, are reported as findings"
    ),
    params={"win_share": 0.75, "plateau_tol": 0.1, "confidence": 0.95},
)


def _fit_mlps(
    cfg: F1Config, x: torch.Tensor, ys: torch.Tensor, width: int, seeds: list[int], ctx: Context
) -> tuple[StackedModels, np.ndarray]:
    """Train one MLP per (target, seed, restart) = column of ``ys``; return them and their
    training-loss history Tensor[steps, M]."""
    d = x.shape[1]
    nets = StackedModels.from_factory(
        lambda s: (torch.manual_seed(s), mlp([d, width, 1], activation=cfg.activation))[1], seeds
    )

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # Tensor[M]
        return (out[..., 0] - y.T.to(out.dtype)).pow(2).mean(dim=1)

    history = fit_stacked(
        nets,
        x.float(),
        ys.float(),
        loss=loss,
        optimizer="adam",
        lr=cfg.lr,
        epochs=cfg.steps,
        batch_size=None,
        callbacks=[CosineSchedule()],
        device=ctx.device,
    )
    return nets, np.array([row["loss"] for row in history])


def _cell(cfg: F1Config, d: int, ctx: Context) -> dict[str, Any]:
    """Every method on every target at input dimension ``d``."""
    gen = ctx.generator(100 + d)
    x = torch.rand(cfg.n_train, d, generator=gen, dtype=torch.float64) * 2 - 1
    x_test = torch.rand(cfg.n_test, d, generator=gen, dtype=torch.float64) * 2 - 1
    order = order_for_budget(d, cfg.budget)
    p_ls = n_basis(d, order)
    width = max(1, round((p_ls - 1) / (d + 2)))
    names = list(TARGETS)
    y = {t: TARGETS[t](x) for t in names}
    y_test = {t: TARGETS[t](x_test).numpy() for t in names}

    def rel(pred: np.ndarray, t: str) -> float:
        return float(np.sqrt(np.mean((pred - y_test[t]) ** 2)) / y_test[t].std())

    out: dict[str, Any] = {
        "order": order,
        "parameters_ls": p_ls,
        "width": width,
        "parameters_mlp": width * (d + 2) + 1,
        "targets": {},
    }
    per = cfg.seeds * cfg.restarts
    seeds = [10_000 * ctx.seed + 100 * d + i for i in range(len(names) * per)]
    ys = torch.stack([y[t] for t in names for _ in range(per)], dim=1)
    nets, history = _fit_mlps(cfg, x, ys, width, seeds, ctx)
    with torch.no_grad():
        pred = nets(x_test.float().to(ctx.device))[..., 0].double().cpu().numpy()  # (M, N)
    tail = max(1, round(cfg.plateau_window * cfg.steps))
    for i, t in enumerate(names):
        cell: dict[str, Any] = {
            b: rel(
                BasisRegressor(b, order=order).fit(x.numpy(), y[t].numpy()).predict(x_test.numpy()),
                t,
            )
            for b in ("polynomial", "fourier")
        }
        cell["mlp"], cell["mlp_drop"] = [], []
        for s in range(cfg.seeds):
            cols = [i * per + s * cfg.restarts + r for r in range(cfg.restarts)]
            best = min(cols, key=lambda c: history[-1, c])
            cell["mlp"].append(rel(pred[best], t))
            before, end = history[-1 - tail, best], history[-1, best]
            cell["mlp_drop"].append(float((before - end) / before) if before > 0 else 0.0)
        out["targets"][t] = cell
    return out


def measure(cfg: F1Config, ctx: Context) -> dict[str, Any]:
    """The three fits of every target at every input dimension."""
    return {"cells": {str(d): _cell(cfg, d, ctx) for d in ctx.track(cfg.dims, "F1 dimensions")}}


def _decide_cell(cell: Mapping[str, Any], rule: Rule) -> tuple[str, Any]:
    """("mlp" | "classical" | "tie" | "no plateau", interval of ln(e_MLP / e_classical))."""
    classical = min(as_float(cell["polynomial"]), as_float(cell["fourier"]))
    ratios = [math.log(max(as_float(e), 1e-300) / max(classical, 1e-300)) for e in cell["mlp"]]
    iv = mean_interval(ratios, rule["confidence"])
    if iv.high < 0:
        return "mlp", iv
    if max(as_float(v) for v in cell["mlp_drop"]) > rule["plateau_tol"]:
        return "no plateau", iv  # more training could still change a loss or a tie
    return ("classical" if iv.low > 0 else "tie"), iv


def judge(metrics: Mapping[str, Any], cfg: F1Config) -> list[Verdict]:
    """F1 by :data:`F1_RULE`: count the hard cells the MLP wins; list the classical wins."""
    rule = F1_RULE
    outcome: dict[str, int] = {"mlp": 0, "classical": 0, "tie": 0, "no plateau": 0}
    hard_lines, classical_wins = [], []
    n_hard = 0
    for d, cells in metrics["cells"].items():
        for t, cell in cells["targets"].items():
            result, _ = _decide_cell(cell, rule)
            best = (
                "polynomial"
                if as_float(cell["polynomial"]) <= as_float(cell["fourier"])
                else "fourier"
            )
            mlp_mean = float(np.mean([as_float(e) for e in cell["mlp"]]))
            if result == "classical":
                classical_wins.append(
                    f"{d}-D {t} ({best} {as_float(cell[best]):.3g} vs MLP {mlp_mean:.3g})"
                )
            if t in HARD:
                n_hard += 1
                outcome[result] += 1
                hard_lines.append(
                    f"{d}-D {t}: MLP {mlp_mean:.3f} vs {best} {as_float(cell[best]):.3f} → {result}"
                )
    need = math.ceil(rule["win_share"] * n_hard)
    if outcome["mlp"] >= need:
        status: Status = "holds"
    elif outcome["mlp"] + outcome["tie"] + outcome["no plateau"] < need:
        status = "does not hold"
    else:
        status = "inconclusive"
    reason = (
        f"{outcome['tie']} ties and {outcome['no plateau']} cells without a plateau leave "
        f"{outcome['mlp']} MLP wins short of {need}; more seeds or steps would settle it"
        if status == "inconclusive"
        else ""
    )
    evidence = (
        f"Relative test RMSE at about {cfg.budget} parameters, MLP = mean over {cfg.seeds} seeds "
        f"(best of {cfg.restarts} restarts each): "
        + "; ".join(hard_lines)
        + f". The MLP wins {outcome['mlp']}/{n_hard} hard cells (needed {need}). "
        + (
            "Findings — a classical basis wins: " + "; ".join(classical_wins) + "."
            if classical_wins
            else "No cell is won by a classical basis."
        )
    )
    return [
        Verdict(
            "F1", status, evidence, key=f"MLP wins {outcome['mlp']}/{n_hard} hard", reason=reason
        )
    ]


def draw(metrics: Mapping[str, Any], cfg: F1Config, canvas: Canvas) -> None:
    """Relative error against input dimension, one panel per target."""
    cells = metrics["cells"]
    dims = [int(d) for d in cells]
    targets = list(next(iter(cells.values()))["targets"])
    fig, axes = canvas.subplots(1, len(targets), figsize=(4 * len(targets), 3.6), squeeze=False)
    styles = {"polynomial": ("C0", "s"), "fourier": ("C2", "^"), "mlp": ("C3", "o")}
    for ax, t in zip(axes[0], targets, strict=True):
        for method, (colour, marker) in styles.items():
            vals = [cells[str(d)]["targets"][t][method] for d in dims]
            if method == "mlp":
                errs = np.array([[as_float(e) for e in v] for v in vals])
                mid = errs.mean(1)
                ax.errorbar(
                    dims,
                    mid,
                    yerr=[mid - errs.min(1), errs.max(1) - mid],
                    color=colour,
                    marker=marker,
                    label="MLP (seeds: min–max)",
                    capsize=3,
                )
            else:
                ax.plot(
                    dims, [as_float(v) for v in vals], color=colour, marker=marker, label=method
                )
        ax.set_yscale("log")
        ax.set_xticks(dims)
        ax.set_xlabel("input dimension D")
        ax.set_title(t + (" (hard)" if t in HARD else ""))
    axes[0, 0].set_ylabel("relative test RMSE")
    axes[0, 0].legend(fontsize=8)
    canvas.save(fig, "error_vs_dimension", f"Test error at about {cfg.budget} parameters per fit.")
    rows = []
    for d in dims:
        c = cells[str(d)]
        for t in targets:
            cell = c["targets"][t]
            result, _ = _decide_cell(cell, F1_RULE)
            rows.append(
                [
                    d,
                    t,
                    c["parameters_ls"],
                    c["parameters_mlp"],
                    round(as_float(cell["polynomial"]), 5),
                    round(as_float(cell["fourier"]), 5),
                    round(float(np.mean([as_float(e) for e in cell["mlp"]])), 5),
                    result,
                ]
            )
    canvas.table(
        "Relative test RMSE per cell",
        [
            "D",
            "target",
            "LS parameters",
            "MLP parameters",
            "polynomial",
            "Fourier",
            "MLP (mean)",
            "winner",
        ],
        rows,
    )
    canvas.notes = (
        "A fixed basis spreads the error of a kink or a jump over all its functions (Gibbs "
        "oscillations), and its size at a given order grows combinatorially with D; the MLP "
        "places its own ReLU hinges where the data need them. On smooth targets in few "
        "dimensions the fixed bases converge very fast."
    )


register(
    "f1_function_approximation",
    claims=("F1",),
    title="Neural networks as basis functions: MLP vs polynomial and Fourier, D = 1…6",
    config=F1Config,
    presets={
        "tiny": {
            "dims": (1, 2),
            "budget": 15,
            "n_train": 64,
            "n_test": 128,
            "seeds": 2,
            "restarts": 1,
            "steps": 30,
        },
        "quick": {},
        "full": {"restarts": 3, "steps": 1500, "n_train": 300},
    },
    rules=(F1_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="Least squares on fixed bases against MLPs trained to a plateau, at matched "
    "parameter counts, over input dimensions 1–6.",
)
