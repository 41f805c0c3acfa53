r"""G8: the gradient reaching early time steps vanishes in a vanilla RNN; an LSTM keeps it.

A tanh RNN computes :math:`h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b)`, so the loss's gradient
with respect to an early hidden state is a product of Jacobians,

.. math:: \frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_T}
          \prod_{s=t+1}^{T} \operatorname{diag}(1 - h_s^2)\, W_{hh},

which shrinks geometrically with the distance :math:`T - t` when the Jacobians' gains are
below one. The LSTM's cell state is updated additively, :math:`c_t = f_t \odot c_{t-1} +
i_t \odot g_t`, so along the cell the factor per step is the forget gate :math:`f_t`, which
training can hold near one.

The experiment (1) measures :math:`\lVert \partial L / \partial h_t \rVert` against the distance
:math:`T - t` for both cells at initialisation and after training (through
``SequenceModel(..., return_states=True)``, whose states are nodes of the graph), and (2) trains
both on the **adding problem** (:func:`nndl.data.adding_problem`: baseline MSE 1/6,
"solved" below 0.01) at several lengths with the recipe of ``ANCHORS.md`` (hidden 32, Adam 1e-2,
batch 32, gradient clipping at 1), stopping early once the held-out MSE is below the threshold.
The runner flushes denormal floats to zero: vanishing RNN gradients are full of them and make
the tanh RNN about 4× slower otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nndl.data import ADDING_BASELINE_MSE, adding_problem
from nndl.nn import SequenceModel

from .._validation import check_int
from .context import Context
from .g_speeds import check_config
from .registry import register
from .result import Result, Table, Verdict

__all__ = ["G8Config", "far_near_ratio", "recurrent_verdict", "state_gradient_norms"]

CELLS = ("rnn", "lstm")


@dataclass
class G8Config:
    lengths: tuple[int, ...] = (50, 100, 200)
    hidden: int = 32
    batch_size: int = 32
    lr: float = 1e-2
    clip: float = 1.0
    max_steps: int = 4000
    eval_every: int = 50
    eval_size: int = 1000
    grad_batch: int = 256
    solved_mse: float = 0.01
    at_baseline: float = 0.9  # "stays at the baseline": MSE ≥ this share of the baseline
    vanished: float = 1e-2  # far/near gradient ratio below which the gradient has vanished
    kept: float = 1e-1  # far/near gradient ratio above which the gradient is kept


def far_near_ratio(norms: np.ndarray) -> float:
    r"""How much of the gradient survives the sequence: :math:`g_{T-1} / g_{d_0}`.

    ``norms[t]`` is :math:`\lVert \partial L / \partial h_t \rVert` at distance
    :math:`T - 1 - t` from the loss; the ratio compares the farthest step (distance T − 1) with
    distance :math:`d_0 = \max(1, \lfloor T/10 \rfloor)`. The few steps next to the read-out
    are left out: at distance 0 the gradient comes straight from the read-out, and on the adding
    problem a trained LSTM's falls by about an order of magnitude over the next few steps
    before it levels off (figure ``rnn_vs_lstm``), a drop that is not a decay with distance.
    A gradient that underflowed to zero at both ends gives 0 (nothing survives).
    """
    length = len(norms)
    far, near = float(norms[0]), float(norms[length - 1 - max(1, length // 10)])
    if near == 0.0:
        return 0.0 if far == 0.0 else math.inf
    return far / near


def state_gradient_norms(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    r"""Mean over sequences of :math:`\lVert \partial L_b / \partial h_t \rVert`, for t = 1 … T.

    :math:`L_b` is sequence b's own squared error (the batch loss is their mean, so each
    sequence's gradient is B times its share of the batch gradient).

    Args:
        model: a :class:`~nndl.nn.SequenceModel` with one output.
        x: Tensor[B, T, D] inputs; y: Tensor[B] targets.

    Returns:
        Array [T]; entry t is the gradient norm at time step t (distance T − 1 − t to the loss).
    """
    out, states = model(x, return_states=True)
    loss = F.mse_loss(out.squeeze(-1), y)
    (grad,) = torch.autograd.grad(loss, states)
    return (x.shape[0] * torch.linalg.vector_norm(grad, dim=2).mean(dim=0)).detach().cpu().numpy()


def recurrent_verdict(
    runs: Mapping[int, Mapping[str, Mapping[str, Any]]],
    *,
    baselines: Mapping[int, float],
    solved_mse: float,
    at_baseline: float,
    vanished: float,
    kept: float,
) -> tuple[bool | None, list[int]]:
    """G8's criterion from the per-length results.

    A length T supports the claim when the RNN's held-out MSE stays at the baseline
    (≥ ``at_baseline`` × ``baselines[T]``, the MSE of predicting E[y] = 1), the LSTM's is below
    ``solved_mse``, and after training the far/near gradient ratio (:func:`far_near_ratio`) is
    below ``vanished`` for the RNN and at least ``kept`` for the LSTM.

    Args:
        runs: ``runs[T][cell]`` with keys ``mse`` and ``ratio_trained``.

    Returns:
        ``(holds, lengths)``: True if some length supports the claim (listed in ``lengths``);
        None if the RNN left the baseline at every length (the claim's premise never arose);
        False otherwise.
    """
    supporting, rnn_fails = [], []
    for length, cells in runs.items():
        rnn, lstm = cells["rnn"], cells["lstm"]
        fails = rnn["mse"] >= at_baseline * baselines[length]
        if fails:
            rnn_fails.append(length)
        if (
            fails
            and lstm["mse"] < solved_mse
            and rnn["ratio_trained"] < vanished
            and lstm["ratio_trained"] >= kept
        ):
            supporting.append(length)
    if supporting:
        return True, supporting
    if not rnn_fails:
        return None, []
    return False, []


def _adam(model: nn.Module, lr: float) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(model.parameters(), lr=lr)


@torch.no_grad()
def _mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.mse_loss(model(x).squeeze(-1), y))


def _train(
    model: SequenceModel,
    length: int,
    cfg: G8Config,
    gen: torch.Generator,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor,
    device: torch.device,
) -> tuple[list[tuple[int, float]], int | None]:
    """Adam with gradient clipping on fresh adding-problem batches; stop once solved."""
    optimizer = _adam(model, cfg.lr)
    curve = [(0, _mse(model, x_eval, y_eval))]
    for step in range(1, cfg.max_steps + 1):
        x, y = adding_problem(cfg.batch_size, length, gen)
        loss = F.mse_loss(model(x.to(device)).squeeze(-1), y.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            curve.append((step, _mse(model, x_eval, y_eval)))
            if curve[-1][1] < cfg.solved_mse:
                return curve, step
    return curve, None


@register(
    "g8_lstm_vs_rnn",
    claims=("G8",),
    title="Vanilla RNN vs LSTM: gradient against distance in time, and the adding problem",
    config=G8Config,
    presets={
        "tiny": {
            "lengths": (10,),
            "hidden": 8,
            "max_steps": 20,
            "eval_every": 10,
            "eval_size": 100,
            "grad_batch": 16,
        },
        "quick": {"lengths": (50,), "max_steps": 1000, "eval_size": 500},
        "full": {},
    },
)
def run_g8(cfg: G8Config, ctx: Context) -> Result:
    check_config(cfg, fractions=("at_baseline",))
    for length in cfg.lengths:
        check_int(length, name="lengths item", low=2)
    device = ctx.device
    runs: dict[int, dict[str, dict[str, Any]]] = {}
    baselines: dict[int, float] = {}
    for length in ctx.track(cfg.lengths, "G8 lengths"):
        x_eval, y_eval = adding_problem(cfg.eval_size, length, ctx.generator(10_000 + length))
        x_grad, y_grad = adding_problem(cfg.grad_batch, length, ctx.generator(20_000 + length))
        x_eval, y_eval = x_eval.to(device), y_eval.to(device)
        x_grad, y_grad = x_grad.to(device), y_grad.to(device)
        baselines[length] = float(F.mse_loss(torch.ones_like(y_eval), y_eval))
        runs[length] = {}
        for k, cell in enumerate(CELLS):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(ctx.seed + 1000 * k + length)
                model = SequenceModel(2, cfg.hidden, 1, cell=cell).to(device)
            at_init = state_gradient_norms(model, x_grad, y_grad)
            curve, solved_at = _train(
                model,
                length,
                cfg,
                ctx.generator(30_000 + 1000 * k + length),
                x_eval,
                y_eval,
                device,
            )
            trained = state_gradient_norms(model, x_grad, y_grad)
            runs[length][cell] = {
                "mse": curve[-1][1],
                "steps": curve[-1][0],
                "solved_at": solved_at,
                "curve": curve,
                "grad_init": at_init.tolist(),
                "grad_trained": trained.tolist(),
                "ratio_init": far_near_ratio(at_init),
                "ratio_trained": far_near_ratio(trained),
                "ratio_to_last_trained": float(trained[0] / trained[-1]),
            }

    holds, supporting = recurrent_verdict(
        runs,
        baselines=baselines,
        solved_mse=cfg.solved_mse,
        at_baseline=cfg.at_baseline,
        vanished=cfg.vanished,
        kept=cfg.kept,
    )
    _g8_figures(cfg, ctx, runs)

    def describe(length: int) -> str:
        rnn, lstm = runs[length]["rnn"], runs[length]["lstm"]
        lstm_state = (
            f"solved it at step {lstm['solved_at']} (MSE {lstm['mse']:.4f})"
            if lstm["solved_at"] is not None
            else f"reached MSE {lstm['mse']:.3f} in {lstm['steps']} steps"
        )
        return (
            f"T={length}: RNN MSE {rnn['mse']:.3f} after {rnn['steps']} steps (baseline "
            f"{baselines[length]:.3f}), LSTM {lstm_state}; ||∂L/∂h_t|| at distance {length - 1} "
            f"over distance {max(1, length // 10)} after training: RNN "
            f"{rnn['ratio_trained']:.2g}, LSTM {lstm['ratio_trained']:.2g} (at init "
            f"{rnn['ratio_init']:.2g} and {lstm['ratio_init']:.2g}; over distance 0 after "
            f"training {rnn['ratio_to_last_trained']:.2g} and {lstm['ratio_to_last_trained']:.2g})"
        )

    only = (
        f" (this run: T = {', '.join(map(str, cfg.lengths))} only)"
        if tuple(cfg.lengths) != (50, 100, 200)
        else ""
    )
    evidence = (
        "; ".join(describe(length) for length in cfg.lengths)
        + f"{only}. Criterion: at some T the RNN stays at the baseline (MSE ≥ "
        f"{cfg.at_baseline:g} × the baseline), the LSTM solves it (MSE < {cfg.solved_mse:g}), "
        f"and after training the far/near gradient ratio is < {cfg.vanished:g} for the RNN and ≥ "
        f"{cfg.kept:g} for the LSTM"
        + (f"; met at T = {', '.join(map(str, supporting))}." if supporting else "; not met.")
    )
    rows = []
    for length in cfg.lengths:
        for cell in CELLS:
            r = runs[length][cell]
            rows.append(
                [
                    length,
                    cell.upper(),
                    f"{r['mse']:.4f}",
                    r["steps"],
                    r["solved_at"] if r["solved_at"] is not None else "not solved",
                    f"{r['ratio_init']:.2g}",
                    f"{r['ratio_trained']:.2g}",
                    f"{r['ratio_to_last_trained']:.2g}",
                ]
            )
    table = Table(
        "Adding problem: held-out MSE and the gradient reaching the first time step",
        [
            "T",
            "cell",
            "final MSE",
            "steps run",
            "solved at step",
            "far/near ‖∂L/∂h_t‖ at init",
            "far/near after training",
            "far/distance 0 after training",
        ],
        rows,
        caption=f"Baseline MSE 1/6 ≈ {ADDING_BASELINE_MSE:.3f}; solved < {cfg.solved_mse:g}; "
        f"hidden {cfg.hidden}, Adam {cfg.lr:g}, batch {cfg.batch_size}, clip {cfg.clip:g}, at most "
        f"{cfg.max_steps} steps; far/near = ‖∂L/∂h_t‖ at distance T − 1 over distance "
        "max(1, T/10).",
    )
    key_length = supporting[0] if supporting else cfg.lengths[0]
    key = runs[key_length]
    return Result(
        metrics={
            "baseline_mse": {str(t): v for t, v in baselines.items()},
            "runs": {
                str(length): {
                    cell: {k: v for k, v in r.items() if k not in ("grad_init", "grad_trained")}
                    for cell, r in cells.items()
                }
                for length, cells in runs.items()
            },
            "gradient_profiles": {
                str(length): {
                    cell: {"init": r["grad_init"], "trained": r["grad_trained"]}
                    for cell, r in cells.items()
                }
                for length, cells in runs.items()
            },
            "supporting_lengths": supporting,
        },
        verdicts=[
            Verdict.from_check(
                "G8",
                holds,
                evidence,
                key=f"T={key_length}: RNN {key['rnn']['mse']:.3f}, LSTM {key['lstm']['mse']:.3f}",
            )
        ],
        tables=[table],
        notes="At initialisation both cells pass the gradient back through a product of "
        "Jacobians with gains below one; training teaches the LSTM's forget gates to stay "
        "open, so its cell state carries the gradient across the sequence, while the RNN has "
        "no such path and stays at the mean prediction.",
    )


def _g8_figures(cfg: G8Config, ctx: Context, runs: Mapping[int, Mapping[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = list(cfg.lengths)
    colors = {"rnn": "C3", "lstm": "C0"}
    fig, axes = plt.subplots(2, len(lengths), figsize=(5 * len(lengths), 7), squeeze=False)
    for col, length in enumerate(lengths):
        ax = axes[0][col]
        distance = np.arange(length)[::-1]  # entry t is at distance T - 1 - t
        for cell in CELLS:
            r = runs[length][cell]
            ax.semilogy(distance, r["grad_init"], "--", color=colors[cell], label=f"{cell}, init")
            ax.semilogy(
                distance, r["grad_trained"], "-", color=colors[cell], label=f"{cell}, trained"
            )
        ax.set_xlabel("distance to the loss T − t")
        ax.set_ylabel("mean ||∂L/∂h_t||")
        ax.set_title(f"T = {length}", fontsize=10)
        ax.legend(fontsize=7)
        ax = axes[1][col]
        for cell in CELLS:
            steps, mse = zip(*runs[length][cell]["curve"], strict=True)
            ax.semilogy(steps, mse, "o-", ms=2, color=colors[cell], label=cell.upper())
        ax.axhline(ADDING_BASELINE_MSE, color="k", ls="--", lw=1, label="baseline 1/6")
        ax.axhline(cfg.solved_mse, color="g", ls=":", lw=1, label=f"solved < {cfg.solved_mse:g}")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out MSE")
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "rnn_vs_lstm",
        "Top: gradient norm reaching h_t against its distance to the loss, at initialisation "
        "(dashed) and after training (solid); a curve ends where the gradient underflows "
        "float32 (denormals are flushed to zero). Bottom: held-out MSE on the adding problem.",
    )
