r"""G8: the gradient reaching early time steps vanishes in a vanilla RNN; an LSTM keeps it.

A tanh RNN's gradient at an early state is a product of Jacobians,
:math:`\partial L/\partial h_t = \partial L/\partial h_T \prod_{s=t+1}^{T}
\operatorname{diag}(1 - h_s^2) W_{hh}`, which shrinks geometrically with the distance
:math:`T - t` when their gains are below one. The LSTM's cell state is updated additively,
:math:`c_t = f_t \odot c_{t-1} + i_t \odot g_t`, so along the cell the factor per step is the
forget gate, which training can hold near one.

Both cells train on the **adding problem** (baseline MSE 1/6) with the recipe of
``ANCHORS.md`` on the same batches per seed: the LSTM until solved (at most ``max_steps``), the
RNN as many steps. Before and after, :math:`\lVert \partial L/\partial h_{T-d} \rVert` gives
the decades :math:`D = -(T-1)\log_{10}\rho` lost over the sequence (:math:`\rho` fitted over
:math:`d = 1 … T-1`; underflowed gradients are left out; with fewer than two left, :math:`D` is
float32's 38).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from itertools import product
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F

from nndl.analysis import (
    decades_lost,
    mean_interval,
    race_on_adding_problem,
    seeds_to_settle,
)
from nndl.data import ADDING_BASELINE_MSE, adding_problem

from . import Canvas, Context, Range, Verdict, register, rule

CELLS = ("lstm", "rnn")


@dataclass
class G8Config:
    lengths: tuple[Annotated[int, Range(3, 10_000)], ...] = (50,)
    seeds: Annotated[int, Range(2, 100)] = 3
    hidden: int = 32
    batch_size: int = 32
    lr: float = 1e-2
    clip: float = 1.0
    max_steps: int = 1500
    eval_every: int = 50
    eval_size: int = 500
    grad_batch: int = 256
    solved_mse: float = 0.01


G8_RULE = rule("g8_lstm_vs_rnn", "G8")


def measure(cfg: G8Config, ctx: Context) -> dict[str, Any]:
    """Per length, seed and cell: the MSE curve and the gradient profiles before/after."""
    recipe = {k: getattr(cfg, k) for k in ("hidden", "max_steps", "batch_size", "lr", "clip")}
    out: dict[str, Any] = {"baseline_mse": {}, "runs": {}}
    for length in cfg.lengths:
        held = adding_problem(cfg.eval_size, length, ctx.generator(10_000))
        probe = adding_problem(cfg.grad_batch, length, ctx.generator(20_000))
        held, probe = ((x.to(ctx.device), y.to(ctx.device)) for x, y in (held, probe))
        out["baseline_mse"][str(length)] = float(F.mse_loss(torch.ones_like(held[1]), held[1]))
        out["runs"][str(length)] = [
            race_on_adding_problem(
                CELLS,  # the LSTM trains first: the RNN gets the steps it needed
                length=length,
                init_seed=ctx.seed * 100_003 + 1000 * s + length,
                generator=partial(ctx.generator, 30_000 + 1000 * s + length),  # same batches
                held_out=held,
                probe=probe,
                until_mse=cfg.solved_mse,
                eval_every=cfg.eval_every,
                **recipe,
            )
            for s in ctx.track(range(cfg.seeds), f"G8 T={length}")
        ]
    return out


def _summary(runs: list[Mapping[str, Any]], baseline: Any) -> dict[str, Any]:
    final = {c: [float(r[c]["curve"][-1][1]) for r in runs] for c in CELLS}
    return {
        "final": final,
        "steps": [int(float(r["lstm"]["curve"][-1][0])) for r in runs],
        **{
            f"d_{w}": {c: [decades_lost(r[c][f"grad_{w}"]) for r in runs] for c in CELLS}
            for w in ("init", "trained")
        },
        "rnn_at_baseline": min(final["rnn"]) >= G8_RULE["at_baseline"] * float(baseline),
    }


def _judge_length(s: Mapping[str, Any], cfg: G8Config) -> tuple[bool | None, str, str]:
    """(outcome, evidence, reason) at one length; outcome None is inconclusive."""
    conf, vanished, kept = G8_RULE["confidence"], G8_RULE["vanished"], G8_RULE["kept"]
    rnn, lstm = (mean_interval(s["d_trained"][c], conf) for c in ("rnn", "lstm"))
    init = {c: float(np.mean(s["d_init"][c])) for c in CELLS}
    text = (
        f"RNN final MSE {', '.join(f'{v:.3f}' for v in s['final']['rnn'])}, LSTM "
        f"{', '.join(f'{v:.4f}' for v in s['final']['lstm'])} after "
        f"{', '.join(map(str, s['steps']))} steps; decades lost over the sequence after "
        f"training: RNN {rnn:.2f}, LSTM {lstm:.2f} (at init {init['rnn']:.1f} and "
        f"{init['lstm']:.1f})"
    )
    if not s["rnn_at_baseline"]:
        return None, text, "guard: the RNN left the baseline in some seed (premise not met)"
    if not max(s["final"]["lstm"]) < cfg.solved_mse:
        return None, text, f"guard: the LSTM did not reach MSE < {cfg.solved_mse:g} in every seed"
    if rnn.high < vanished or lstm.low > kept:
        return False, text, ""
    if rnn.low > vanished and lstm.high < kept:
        return True, text, ""
    arms = (("RNN", rnn, vanished), ("LSTM", lstm, kept))
    wide = [(n, iv, t) for n, iv, t in arms if iv.low <= t <= iv.high]
    why = " and the ".join(
        f"{n}'s interval straddles {t:g} decades (sd {iv.sd:.2g} over {iv.n} seeds)"
        for n, iv, t in wide
    )
    more = max(seeds_to_settle(iv, t) for _, iv, t in wide)
    return None, text, f"the {why}; at this spread about {more} seeds would settle it"


def judge(metrics: Mapping[str, Any], cfg: G8Config) -> list[Verdict]:
    """G8_RULE at every length: one passing length decides unless another disagrees."""
    parts, outcomes, reasons, straddled = [], [], [], False
    for length, runs in metrics["runs"].items():
        outcome, text, reason = _judge_length(_summary(runs, metrics["baseline_mse"][length]), cfg)
        parts.append(f"T={length} ({len(runs)} seeds): {text}")
        outcomes.append(outcome)
        straddled |= outcome is None and not reason.startswith("guard")
        reasons += [f"T={length}: {reason}"] if reason else []
    evidence = "; ".join(parts) + (
        f". Rule: RNN > {G8_RULE['vanished']:g} and LSTM < {G8_RULE['kept']:g} decades, "
        f"baseline MSE ≈ {ADDING_BASELINE_MSE:.3f}."
    )
    first = next(iter(metrics["runs"]))
    d = _summary(metrics["runs"][first], metrics["baseline_mse"][first])["d_trained"]
    key = f"T={first}: decades lost RNN {np.mean(d['rnn']):.1f}, LSTM {np.mean(d['lstm']):.1f}"
    if False in outcomes:
        return [Verdict.from_check("G8", False, evidence, key)]
    if True in outcomes and not straddled:
        return [Verdict.from_check("G8", True, evidence, key)]
    return [Verdict.from_check("G8", None, evidence, key, reason="; ".join(reasons))]


def draw(metrics: Mapping[str, Any], cfg: G8Config, canvas: Canvas) -> None:
    lengths, colors = list(metrics["runs"]), {"rnn": "C3", "lstm": "C0"}
    fig, axes = canvas.subplots(2, len(lengths), figsize=(5 * len(lengths), 7), squeeze=False)
    rows = []
    for col, length in enumerate(lengths):
        runs, (top, bottom) = metrics["runs"][length], (axes[0][col], axes[1][col])
        s = _summary(runs, metrics["baseline_mse"][length])
        for cell, i in product(CELLS, range(len(runs))):
            run, style = runs[i][cell], {"color": colors[cell], "alpha": 0.6}
            for key, ls in (("grad_init", "--"), ("grad_trained", "-")):
                label = f"{cell}, {key[5:]}" if i == 0 else None
                grad = np.asarray(run[key], float)
                top.semilogy(np.arange(int(length))[::-1], grad, ls, label=label, **style)
            c = np.asarray(run["curve"], float)
            bottom.semilogy(c[:, 0], c[:, 1], "-", label=cell.upper() if i == 0 else None, **style)
            d = [f"{s[f'd_{w}'][cell][i]:.2f}" for w in ("init", "trained")]
            rows.append([length, cell.upper(), i, f"{s['final'][cell][i]:.4f}", s["steps"][i], *d])
        top.set(xlabel="distance to the loss T − t", ylabel="mean ||∂L/∂h_t||")
        top.set_title(f"T = {length}, {len(runs)} seeds", fontsize=10)
        bottom.axhline(ADDING_BASELINE_MSE, color="k", ls="--", lw=1, label="baseline 1/6")
        solved = f"solved < {cfg.solved_mse:g}"
        bottom.axhline(cfg.solved_mse, color="g", ls=":", lw=1, label=solved)
        bottom.set(xlabel="training step", ylabel="held-out MSE")
        for ax in (top, bottom):
            ax.legend(fontsize=7)
    canvas.save(
        fig,
        "rnn_vs_lstm",
        "Top: gradient norm reaching h_t against its distance to the loss, "
        "at initialisation (dashed) and after training (solid), one line per seed; a curve "
        "ends where the gradient underflows float32. Bottom: held-out MSE on the adding problem.",
    )
    canvas.table(
        "Adding problem: held-out MSE and the decades the gradient loses over the sequence",
        ["T", "cell", "seed", "final MSE", "steps", "decades lost at init", "after training"],
        rows,
        caption=f"Baseline MSE 1/6 ≈ {ADDING_BASELINE_MSE:.3f}; solved < {cfg.solved_mse:g}; "
        f"hidden {cfg.hidden}, Adam {cfg.lr:g}, batch {cfg.batch_size}, clip {cfg.clip:g}; the "
        f"LSTM trains until solved (at most {cfg.max_steps} steps), the RNN as many steps; "
        "decades = −(T−1)·log10 ρ, ρ fitted over distances 1 … T−1.",
    )


register("g8_lstm_vs_rnn", G8Config, measure=measure, judge=judge, draw=draw)
