r"""F1: networks as basis functions — an MLP against polynomial and Fourier least squares.

Classical fitting expands a target :math:`f : [-1, 1]^D \to \mathbb{R}` in a basis fixed in
advance (Legendre polynomials or a Fourier series of total order :math:`M`,
:math:`\binom{D+M}{M}` coefficients, ``nndl.analysis.BasisRegressor``); a one-hidden-layer ReLU
MLP *learns* its basis functions, and at :math:`h` hidden units has :math:`h(D + 2) + 1`
parameters, matched here to the classical fit. The four targets of
``nndl.analysis.TARGET_FUNCTIONS`` (smooth, oscillatory, kinked, discontinuous) were fixed
before any run; the *hard* ones (kinked, discontinuous) are the claim's, and every easy cell a
classical basis wins is reported as a finding. The input dimension is swept over (1, 2, 4, 6):
a basis of fixed total order grows combinatorially with :math:`D`, a network only linearly.
Each MLP is trained to a plateau (full-batch Adam, cosine decay to 0) from several restarts per
seed, keeping the restart with the lowest *training* loss; all seeds × restarts × targets train
side by side (``nndl.analysis.fit_mlp_regressors``). Error is the relative test RMSE
:math:`\|\hat f - f\|_{rms} / \mathrm{sd}(f)` on fresh random points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch

from nndl.analysis import (
    TARGET_FUNCTIONS,
    BasisRegressor,
    fit_mlp_regressors,
    mean_interval,
    n_basis,
    order_for_budget,
    relative_drop,
    relative_rmse,
)

from .config import Range
from .context import Canvas, Context
from .registry import register
from .result import Status, Verdict
from .rules import Rule, as_float

HARD: tuple[str, ...] = ("kinked", "discontinuous")
_STYLES = {"polynomial": ("C0", "s"), "fourier": ("C2", "^"), "mlp": ("C3", "o")}


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
    statistic="per cell (input dimension D ∈ dims, target), the 95 % t interval over seeds of "
    "ln(e_MLP / e_classical), e = relative test RMSE, e_classical = the better of the polynomial "
    "and Fourier least-squares fits at the same parameter budget, e_MLP = the restart with the "
    "lowest training loss; a cell is won by the MLP if the interval lies below 0, by the "
    "classical basis if it lies above 0; a cell the MLP does not win and whose MLP has not "
    "reached a plateau (its training loss still fell by more than plateau_tol, relatively, over "
    "the last plateau_window of the steps, in some seed) is undecided",
    holds="the MLP wins at least win_share of the hard cells (kinked, discontinuous × dims)",
    does_not_hold="it cannot: MLP wins plus undecided hard cells are fewer than win_share",
    inconclusive="otherwise (too many hard cells are ties or not at a plateau)",
    seeds=5,
    rationale="the claim is about hard targets at a comparable budget; restarts and a plateau "
    "check keep an under-trained network from counting as a property of the family, and the easy "
    "cells, where a fixed basis may win, are reported as findings",
    params={"win_share": 0.75, "plateau_tol": 0.1, "confidence": 0.95},
)


def _cell(cfg: F1Config, d: int, ctx: Context) -> dict[str, Any]:
    """Every method on every target at input dimension ``d``."""
    gen = ctx.generator(100 + d)
    x = torch.rand(cfg.n_train, d, generator=gen, dtype=torch.float64) * 2 - 1
    x_test = torch.rand(cfg.n_test, d, generator=gen, dtype=torch.float64) * 2 - 1
    order = order_for_budget(d, cfg.budget)
    p_ls = n_basis(d, order)
    width = max(1, round((p_ls - 1) / (d + 2)))
    names, per = list(TARGET_FUNCTIONS), cfg.seeds * cfg.restarts
    y = {t: TARGET_FUNCTIONS[t](x) for t in names}
    y_test = {t: TARGET_FUNCTIONS[t](x_test).numpy() for t in names}
    nets, history = fit_mlp_regressors(
        x,
        torch.stack([y[t] for t in names for _ in range(per)], dim=1),
        width=width,
        seeds=[10_000 * ctx.seed + 100 * d + i for i in range(len(names) * per)],
        steps=cfg.steps,
        lr=cfg.lr,
        activation=cfg.activation,
        device=ctx.device,
    )
    with torch.no_grad():
        pred = nets(x_test.float().to(ctx.device))[..., 0].double().cpu().numpy()  # (M, N)
    drop = relative_drop(history, max(1, round(cfg.plateau_window * cfg.steps)))
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
            min(range(c, c + cfg.restarts), key=lambda j: history[-1, j])
            for c in range(i * per, (i + 1) * per, cfg.restarts)
        ]  # per seed, the restart with the lowest final training loss
        cell["mlp"] = [relative_rmse(pred[b], y_test[t]) for b in best]
        cell["mlp_drop"] = [float(drop[b]) for b in best]
        targets[t] = cell
    sizes = {"order": order, "parameters_ls": p_ls, "width": width}
    return {**sizes, "parameters_mlp": width * (d + 2) + 1, "targets": targets}


def measure(cfg: F1Config, ctx: Context) -> dict[str, Any]:
    """The three fits of every target at every input dimension."""
    return {"cells": {str(d): _cell(cfg, d, ctx) for d in ctx.track(cfg.dims, "F1 dimensions")}}


def _decide_cell(cell: Mapping[str, Any], rule: Rule) -> str:
    """ "mlp" | "classical" | "tie" | "no plateau", from the interval of ln(e_MLP / e_classical)."""
    classical = min(as_float(cell["polynomial"]), as_float(cell["fourier"]))
    ratios = [math.log(max(as_float(e), 1e-300) / max(classical, 1e-300)) for e in cell["mlp"]]
    iv = mean_interval(ratios, rule["confidence"])
    if iv.high < 0:
        return "mlp"
    if max(as_float(v) for v in cell["mlp_drop"]) > rule["plateau_tol"]:
        return "no plateau"  # more training could still change a loss or a tie
    return "classical" if iv.low > 0 else "tie"


def _summary(cell: Mapping[str, Any]) -> tuple[str, float, float]:
    """(the better classical basis, its error, the MLP's mean error over seeds)."""
    best = "polynomial" if as_float(cell["polynomial"]) <= as_float(cell["fourier"]) else "fourier"
    return best, as_float(cell[best]), float(np.mean([as_float(e) for e in cell["mlp"]]))


def judge(metrics: Mapping[str, Any], cfg: F1Config) -> list[Verdict]:
    """F1 by :data:`F1_RULE`: count the hard cells the MLP wins; list the classical wins."""
    outcome = dict.fromkeys(("mlp", "classical", "tie", "no plateau"), 0)
    hard_lines, classical_wins = [], []
    for d, cells in metrics["cells"].items():
        for t, cell in cells["targets"].items():
            result, (best, err, mlp_mean) = _decide_cell(cell, F1_RULE), _summary(cell)
            if result == "classical":
                classical_wins.append(f"{d}-D {t} ({best} {err:.3g} vs MLP {mlp_mean:.3g})")
            if t in HARD:
                outcome[result] += 1
                hard_lines.append(f"{d}-D {t}: MLP {mlp_mean:.3f} vs {best} {err:.3f} → {result}")
    n_hard, wins = len(hard_lines), outcome["mlp"]
    need = math.ceil(F1_RULE["win_share"] * n_hard)
    status: Status = "inconclusive"
    if wins >= need:
        status = "holds"
    elif wins + outcome["tie"] + outcome["no plateau"] < need:
        status = "does not hold"
    reason = (
        f"{outcome['tie']} ties and {outcome['no plateau']} cells without a plateau leave "
        f"{wins} MLP wins short of {need}; more seeds or steps would settle it"
    )
    findings = "No cell is won by a classical basis."
    if classical_wins:
        findings = "Findings — a classical basis wins: " + "; ".join(classical_wins) + "."
    evidence = (
        f"Relative test RMSE at about {cfg.budget} parameters, MLP = mean over {cfg.seeds} seeds "
        f"(best of {cfg.restarts} restarts each): " + "; ".join(hard_lines) + ". The MLP wins "
        f"{wins}/{n_hard} hard cells (needed {need}). {findings}"
    )
    key = f"MLP wins {wins}/{n_hard} hard"
    return [Verdict("F1", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: F1Config, canvas: Canvas) -> None:
    """Relative error against input dimension, one panel per target."""
    cells = metrics["cells"]
    dims = [int(d) for d in cells]
    targets = list(next(iter(cells.values()))["targets"])
    fig, axes = canvas.subplots(1, len(targets), figsize=(4 * len(targets), 3.6), squeeze=False)
    for ax, t in zip(axes[0], targets, strict=True):
        for method, (colour, marker) in _STYLES.items():
            vals = [cells[str(d)]["targets"][t][method] for d in dims]
            if method != "mlp":
                errs = np.array([[as_float(v)] for v in vals])
                ax.plot(dims, errs[:, 0], color=colour, marker=marker, label=method)
                continue
            errs = np.array([[as_float(e) for e in v] for v in vals])
            mid = errs.mean(1)
            ax.errorbar(
                dims, mid, yerr=[mid - errs.min(1), errs.max(1) - mid], color=colour,
                marker=marker, label="MLP (seeds: min–max)", capsize=3,
            )  # fmt: skip
        ax.set(yscale="log", xticks=dims, xlabel="input dimension D")
        ax.set_title(t + (" (hard)" if t in HARD else ""))
    axes[0, 0].set_ylabel("relative test RMSE")
    axes[0, 0].legend(fontsize=8)
    canvas.save(fig, "error_vs_dimension", f"Test error at about {cfg.budget} parameters per fit.")
    rows = [
        [int(d), t, c["parameters_ls"], c["parameters_mlp"]]
        + [round(as_float(cell[b]), 5) for b in ("polynomial", "fourier")]
        + [round(_summary(cell)[2], 5), _decide_cell(cell, F1_RULE)]
        for d, c in cells.items()
        for t, cell in c["targets"].items()
    ]
    head = ("D", "target", "LS parameters", "MLP parameters", "polynomial", "Fourier")
    canvas.table("Relative test RMSE per cell", [*head, "MLP (mean)", "winner"], rows)
    canvas.notes = (
        "A fixed basis spreads the error of a kink or a jump over all its functions (Gibbs "
        "oscillations), and its size at a given order grows combinatorially with D; the MLP "
        "places its own ReLU hinges where the data need them. On smooth targets in few "
        "dimensions the fixed bases converge very fast."
    )


register(
    "f1_function_approximation",
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
