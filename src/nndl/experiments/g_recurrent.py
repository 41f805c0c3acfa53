r"""G8: the gradient reaching early time steps vanishes in a vanilla RNN; an LSTM keeps it.

A tanh RNN computes :math:`h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b)`, so the loss's gradient
with respect to an early hidden state is a product of Jacobians,

.. math:: \frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_T}
          \prod_{s=t+1}^{T} \operatorname{diag}(1 - h_s^2)\, W_{hh},

which shrinks geometrically with the distance :math:`T - t` when the Jacobians' gains are
below one. The LSTM's cell state is updated additively, :math:`c_t = f_t \odot c_{t-1} +
i_t \odot g_t`, so along the cell the factor per step is the forget gate :math:`f_t`, which
training can hold near one. At initialisation both cells' gradients decay; after training only
the RNN's still does.

The experiment trains both cells on the **adding problem** (:func:`nndl.data.adding_problem`:
baseline MSE 1/6, "solved" below 0.01) with the recipe of ``ANCHORS.md`` (hidden 32, Adam 1e-2,
batch 32, gradient clipping at 1) for several seeds. Seed s draws the same stream of training
batches for both cells; the LSTM trains until it solves the task (at most ``max_steps``), and
the RNN gets the same number of steps. Before and after training it measures
:math:`g(d) = \lVert \partial L/\partial h_{T-d} \rVert` against the distance :math:`d`
(``SequenceModel(..., return_states=True)``, mean over 256 sequences) and fits a per-step factor
:math:`\rho` by least squares on :math:`\log g` over :math:`d = 1 … T-1`
(:func:`nndl.analysis.geometric_fit`; distance 0, where the read-out's gradient enters, is left
out). The decay over the sequence is :math:`D = -(T-1)\log_{10}\rho` decades. Gradients that
underflow (the runner flushes denormal floats to zero, which also keeps the tanh RNN fast) are
left out of the fit; when fewer than two distances keep a non-zero gradient,
:math:`D` is float32's full range, 38 decades.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F

from nndl.analysis import geometric_fit, mean_interval
from nndl.data import ADDING_BASELINE_MSE, adding_problem
from nndl.nn import SequenceModel
from nndl.train import Trainer

from .config import Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

CELLS = ("lstm", "rnn")  # the LSTM trains first: the RNN gets the steps it needed
#: Decades of float32's range: the decay D of a gradient that underflowed beyond distance 1.
UNDERFLOW_DECADES = 38.0


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


G8_RULE = Rule(
    claim="G8",
    statistic="per seed and cell, D = −(T−1)·log10 ρ: the decades the gradient ||∂L/∂h_t|| "
    "loses over the sequence by a log-linear fit over distances 1 … T−1 after training; 95 % t "
    "intervals of D over seeds, per length T",
    holds="at every length where the guards pass, the RNN's interval lies wholly above "
    "vanished decades and the LSTM's wholly below kept decades (and some length passes)",
    does_not_hold="at some length where the guards pass, the RNN's interval lies wholly below "
    "vanished or the LSTM's wholly above kept",
    inconclusive="an interval straddles its threshold, or a guard fails at every length: the "
    "RNN left the baseline (final MSE < at_baseline × baseline in some seed: the premise 'the "
    "RNN stays at the baseline' does not arise) or the LSTM did not solve the task (MSE ≥ "
    "solved_mse in some seed within max_steps)",
    seeds=3,
    rationale="a fitted factor over all distances instead of one reference point; the LSTM "
    "not learning says nothing against the claim, so it is inconclusive",
    params={"vanished": 2.0, "kept": 1.0, "at_baseline": 0.9, "confidence": 0.95},
)


def state_gradient_norms(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    r"""Mean over sequences of :math:`\lVert \partial L_b / \partial h_t \rVert`, t = 1 … T.

    :math:`L_b` is sequence b's own squared error (the batch loss is their mean, so each
    sequence's gradient is B times its share of the batch gradient). Entry t is at distance
    T − 1 − t from the loss.
    """
    out, states = model(x, return_states=True)
    (grad,) = torch.autograd.grad(F.mse_loss(out.squeeze(-1), y), states)
    return (x.shape[0] * torch.linalg.vector_norm(grad, dim=2).mean(dim=0)).tolist()


@torch.no_grad()
def _mse(model: SequenceModel, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.mse_loss(model(x).squeeze(-1), y))


def _train(
    model: SequenceModel,
    cfg: G8Config,
    length: int,
    gen: torch.Generator,
    held_out: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    until_solved: bool,
    device: torch.device,
) -> list[list[float]]:
    """Adam with clipping on fresh batches, ``eval_every`` steps per Trainer run; the curve."""
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)

    def loss_fn(m: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return F.mse_loss(m(batch[0]).squeeze(-1), batch[1])

    curve = [[0.0, _mse(model, *held_out)]]
    done = 0
    while done < steps and not (until_solved and curve[-1][1] < cfg.solved_mse):
        chunk = min(cfg.eval_every, steps - done)
        x, y = adding_problem(chunk * cfg.batch_size, length, gen)
        Trainer(
            model, optimizer, loss_fn, epochs=1, batch_size=cfg.batch_size, shuffle=False,
            grad_clip=cfg.clip, device=device, progress=False,
        ).fit((x.to(device), y.to(device)))  # fmt: skip
        done += chunk
        curve.append([float(done), _mse(model, *held_out)])
    return curve


def measure(cfg: G8Config, ctx: Context) -> dict[str, Any]:
    """Per length, seed and cell: the MSE curve and the gradient profiles before/after."""
    dev = ctx.device
    out: dict[str, Any] = {"baseline_mse": {}, "runs": {}}
    for length in cfg.lengths:
        x_held, y_held = adding_problem(cfg.eval_size, length, ctx.generator(10_000))
        held = (x_held.to(dev), y_held.to(dev))
        probe = [t.to(dev) for t in adding_problem(cfg.grad_batch, length, ctx.generator(20_000))]
        out["baseline_mse"][str(length)] = float(F.mse_loss(torch.ones_like(held[1]), held[1]))
        runs: list[dict[str, Any]] = []
        for s in ctx.track(range(cfg.seeds), f"G8 T={length}"):
            run: dict[str, Any] = {}
            steps = cfg.max_steps
            for k, cell in enumerate(CELLS):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(ctx.seed * 100_003 + 1000 * s + 10 * k + length)
                    model = SequenceModel(2, cfg.hidden, 1, cell=cell).to(dev)
                grad_init = state_gradient_norms(model, *probe)
                stream = ctx.generator(30_000 + 1000 * s + length)  # same batches for both cells
                curve = _train(model, cfg, length, stream, held, steps, cell == "lstm", dev)
                if cell == "lstm":
                    steps = int(curve[-1][0])
                run[cell] = {
                    "curve": curve,
                    "grad_init": grad_init,
                    "grad_trained": state_gradient_norms(model, *probe),
                }
            runs.append(run)
        out["runs"][str(length)] = runs
    return out


def decades(profile: list[Any]) -> float:
    r"""Decades :math:`D = -(T-1)\log_{10}\rho` lost over the sequence by the fitted factor.

    ``profile[t]`` is the gradient norm at time step t (distance T − 1 − t); the fit runs over
    distances 1 … T − 1. Fewer than two non-zero values: :data:`UNDERFLOW_DECADES`.
    """
    g = np.array([as_float(v) for v in profile])
    distance = np.arange(len(g))[::-1]
    fit = geometric_fit(distance[distance >= 1], g[distance >= 1])
    if not math.isfinite(fit.factor) or fit.factor <= 0:
        return UNDERFLOW_DECADES
    return -math.log10(fit.factor) * (len(g) - 1)


def _length_summary(runs: list[Mapping[str, Any]], baseline: float) -> dict[str, Any]:
    final = {c: [as_float(r[c]["curve"][-1][1]) for r in runs] for c in CELLS}
    return {
        "final": final,
        "steps": [int(as_float(r["lstm"]["curve"][-1][0])) for r in runs],
        "d_init": {c: [decades(r[c]["grad_init"]) for r in runs] for c in CELLS},
        "d_trained": {c: [decades(r[c]["grad_trained"]) for r in runs] for c in CELLS},
        "rnn_at_baseline": min(final["rnn"]) >= G8_RULE["at_baseline"] * baseline,
    }


def _judge_length(summary: Mapping[str, Any], cfg: G8Config) -> tuple[bool | None, str, str]:
    """(outcome, evidence, reason) at one length; outcome None is inconclusive."""
    conf, vanished, kept = G8_RULE["confidence"], G8_RULE["vanished"], G8_RULE["kept"]
    rnn = mean_interval(summary["d_trained"]["rnn"], conf)
    lstm = mean_interval(summary["d_trained"]["lstm"], conf)
    init = {c: float(np.mean(summary["d_init"][c])) for c in CELLS}
    solved = max(summary["final"]["lstm"]) < cfg.solved_mse
    text = (
        f"RNN final MSE {', '.join(f'{v:.3f}' for v in summary['final']['rnn'])}, LSTM "
        f"{', '.join(f'{v:.4f}' for v in summary['final']['lstm'])} after "
        f"{', '.join(map(str, summary['steps']))} steps; decades lost over the sequence after "
        f"training: RNN {rnn.estimate:.2f} [{rnn.low:.2f}, {rnn.high:.2f}], LSTM "
        f"{lstm.estimate:.2f} [{lstm.low:.2f}, {lstm.high:.2f}] (at init {init['rnn']:.1f} and "
        f"{init['lstm']:.1f})"
    )
    if not summary["rnn_at_baseline"]:
        return None, text, "guard: the RNN left the baseline in some seed (premise not met)"
    if not solved:
        return None, text, f"guard: the LSTM did not reach MSE < {cfg.solved_mse:g} in every seed"
    if rnn.high < vanished or lstm.low > kept:
        return False, text, ""
    if rnn.low > vanished and lstm.high < kept:
        return True, text, ""
    wide = [(name, iv, t) for name, iv, t in (("RNN", rnn, vanished), ("LSTM", lstm, kept))
            if iv.low <= t <= iv.high]  # fmt: skip
    need = [_seeds_needed(iv, t) for _, iv, t in wide]
    return None, text, (
        "the " + " and the ".join(f"{n}'s interval straddles {t:g} decades (sd {iv.sd:.2g} over "
                                   f"{iv.n} seeds)" for n, iv, t in wide)
        + f"; at this spread about {max(need)} seeds would settle it"
    )  # fmt: skip


def _seeds_needed(iv: Any, threshold: float) -> int:
    """Seeds for a 95 % interval with this mean and sd to clear ``threshold`` (≈ (2 sd/gap)²)."""
    gap = abs(iv.estimate - threshold)
    return max(iv.n + 1, math.ceil((2.0 * iv.sd / gap) ** 2) + 1) if gap > 0 else 10**6


def judge(metrics: Mapping[str, Any], cfg: G8Config) -> list[Verdict]:
    """G8_RULE on the stored metrics (pure)."""
    parts, outcomes, reasons = [], [], []
    straddled = False  # an interval straddled its threshold at a length whose guards passed
    for length, runs in metrics["runs"].items():
        summary = _length_summary(runs, as_float(metrics["baseline_mse"][length]))
        outcome, text, reason = _judge_length(summary, cfg)
        parts.append(f"T={length} ({len(runs)} seeds): {text}")
        outcomes.append(outcome)
        straddled |= outcome is None and not reason.startswith("guard")
        if reason:
            reasons.append(f"T={length}: {reason}")
    evidence = "; ".join(parts) + (
        f". Rule: RNN > {G8_RULE['vanished']:g} and LSTM < {G8_RULE['kept']:g} decades, "
        f"baseline MSE ≈ {ADDING_BASELINE_MSE:.3f}."
    )
    first = next(iter(metrics["runs"]))
    s = _length_summary(metrics["runs"][first], as_float(metrics["baseline_mse"][first]))
    key = (
        f"T={first}: decades lost RNN {np.mean(s['d_trained']['rnn']):.1f}, LSTM "
        f"{np.mean(s['d_trained']['lstm']):.1f}"
    )
    if False in outcomes:
        return [Verdict.from_check("G8", False, evidence, key)]
    if True in outcomes and not straddled:
        return [Verdict.from_check("G8", True, evidence, key)]
    return [Verdict.from_check("G8", None, evidence, key, reason="; ".join(reasons))]


def draw(metrics: Mapping[str, Any], cfg: G8Config, canvas: Canvas) -> None:
    lengths = list(metrics["runs"])
    colors = {"rnn": "C3", "lstm": "C0"}
    fig, axes = canvas.subplots(2, len(lengths), figsize=(5 * len(lengths), 7), squeeze=False)
    rows = []
    for col, length in enumerate(lengths):
        runs = metrics["runs"][length]
        ax = axes[0][col]
        distance = np.arange(int(length))[::-1]
        for cell in CELLS:
            for i, r in enumerate(runs):
                for key, style in (("grad_init", "--"), ("grad_trained", "-")):
                    label = f"{cell}, {key[5:]}" if i == 0 else None
                    g = np.array([as_float(v) for v in r[cell][key]])
                    ax.semilogy(distance, g, style, color=colors[cell], alpha=0.6, label=label)
        ax.set_xlabel("distance to the loss T − t")
        ax.set_ylabel("mean ||∂L/∂h_t||")
        ax.set_title(f"T = {length}, {len(runs)} seeds", fontsize=10)
        ax.legend(fontsize=7)
        ax = axes[1][col]
        for cell in CELLS:
            for i, r in enumerate(runs):
                c = np.array([[as_float(v) for v in p] for p in r[cell]["curve"]])
                ax.semilogy(c[:, 0], c[:, 1], "-", color=colors[cell], alpha=0.6,
                            label=cell.upper() if i == 0 else None)  # fmt: skip
        ax.axhline(ADDING_BASELINE_MSE, color="k", ls="--", lw=1, label="baseline 1/6")
        ax.axhline(cfg.solved_mse, color="g", ls=":", lw=1, label=f"solved < {cfg.solved_mse:g}")
        ax.set_xlabel("training step")
        ax.set_ylabel("held-out MSE")
        ax.legend(fontsize=7)
        s = _length_summary(runs, as_float(metrics["baseline_mse"][length]))
        for cell in CELLS:
            for i in range(len(runs)):
                rows.append([
                    length, cell.upper(), i, f"{s['final'][cell][i]:.4f}", s["steps"][i],
                    f"{s['d_init'][cell][i]:.2f}", f"{s['d_trained'][cell][i]:.2f}",
                ])  # fmt: skip
    canvas.save(
        fig, "rnn_vs_lstm", "Top: gradient norm reaching h_t against its distance to the loss, "
        "at initialisation (dashed) and after training (solid), one line per seed; a curve "
        "ends where the gradient underflows float32. Bottom: held-out MSE on the adding problem.",
    )  # fmt: skip
    canvas.table(
        "Adding problem: held-out MSE and the decades the gradient loses over the sequence",
        ["T", "cell", "seed", "final MSE", "steps", "decades lost at init", "after training"],
        rows,
        caption=f"Baseline MSE 1/6 ≈ {ADDING_BASELINE_MSE:.3f}; solved < {cfg.solved_mse:g}; "
        f"hidden {cfg.hidden}, Adam {cfg.lr:g}, batch {cfg.batch_size}, clip {cfg.clip:g}; the "
        f"LSTM trains until solved (at most {cfg.max_steps} steps), the RNN as many steps; "
        "decades = −(T−1)·log10 ρ, ρ fitted over distances 1 … T−1.",
    )


register(
    "g8_lstm_vs_rnn",
    claims=("G8",),
    title="Vanilla RNN vs LSTM: the gradient's decay over time steps, and the adding problem",
    config=G8Config,
    presets={
        "tiny": {
            "lengths": (10,),
            "seeds": 2,
            "hidden": 8,
            "max_steps": 20,
            "eval_every": 10,
            "eval_size": 100,
            "grad_batch": 16,
        },
        "quick": {},
        "full": {"seeds": 5, "max_steps": 2500},
    },
    rules=(G8_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="At initialisation both cells pass the gradient back through a product of "
    "Jacobians with gains below one; training teaches the LSTM's forget gates to stay "
    "open, so its cell state carries the gradient across the sequence, while the RNN has "
    "no such path and stays at the mean prediction.",
)
