r"""F2: the parameters are found by plain gradient descent.

Full-batch gradient descent :math:`w \leftarrow w - \eta \nabla L(w)`, with :math:`L` the mean
loss over the whole training set, needs nothing but the gradient. It trains two MLPs here: a
digits classifier (cross-entropy) and a 1-D regression of a kinked function (squared error),
from ``seeds`` random initialisations trained side by side (``nndl.train.stacked_loss_curve``
with ``batch_size=None``). Mini-batch SGD and Adam from the *same* initialisations, for the same
number of updates, are shown beside it; each method's learning rate is fixed by its grid (the
lowest mean final training loss), not chosen after the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from nndl.analysis import all_of, decide, mean_interval
from nndl.data import load_dataset
from nndl.nn import mlp
from nndl.train import loss_curves_by_method

from . import Canvas, Context, Verdict, as_float, register, rule

_COLOURS = {"GD": "C0", "SGD": "C1", "Adam": "C2"}


@dataclass
class F2Config:
    data: str = "digits"
    steps: int = 200
    hidden: int = 32
    regression_hidden: int = 16
    batch_size: int = 32
    seeds: int = 5
    gd_lrs: tuple[float, ...] = (0.3, 1.0)
    sgd_lrs: tuple[float, ...] = (0.3,)
    adam_lrs: tuple[float, ...] = (1e-2,)


F2_RULE = rule("f2_gradient_descent", "F2")


def measure(cfg: F2Config, ctx: Context) -> dict[str, Any]:
    """Every task × method × learning rate, all seeds at once per run."""
    split = load_dataset(cfg.data).split(0.15, 0.2, ctx.seed)
    x_reg = torch.rand(256, 1, generator=ctx.generator(2)) * 2 - 1
    digits = ([split.n_features, cfg.hidden, split.n_classes], split.x_train, split.y_train)
    tasks: dict[str, tuple[Any, ...]] = {  # (layer sizes, x, y, loss, test data or None)
        "classification": (*digits, "cross_entropy", (split.x_test, split.y_test)),
        "regression": ([1, cfg.regression_hidden, 1], x_reg, (x_reg - 0.3).abs(), "mse", None),
    }
    grids = {"GD": cfg.gd_lrs, "SGD": cfg.sgd_lrs, "Adam": cfg.adam_lrs}
    seeds = [1000 * ctx.seed + 7 + s for s in range(cfg.seeds)]  # the same nets for every run
    train = {"updates": cfg.steps, "batch_size": cfg.batch_size, "seed": ctx.seed}
    runs = {}
    for name in ctx.track(tasks, "F2 tasks"):
        sizes, x, y, loss, test = tasks[name]
        build = partial(mlp, sizes, activation="relu")
        runs[name] = loss_curves_by_method(
            build, seeds, x, y, grids=grids, loss=loss, test=test, device=ctx.device, **train
        )
    return {"runs": runs, "data": cfg.data}


def _mean(values: list[Any]) -> float:
    return float(np.mean([as_float(v) for v in values]))


def _ratio(run: Mapping[str, Any]) -> float:
    """Mean final over mean initial training loss of a run's seeds."""
    return _mean(run["loss"][-1]) / _mean(run["initial"])


def best_run(runs: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The learning rate (key) whose seeds all stayed finite with the lowest mean final loss."""
    ok = {lr: r for lr, r in runs.items() if not any(r["diverged"])}
    return min(ok.items(), key=lambda kv: _mean(kv[1]["loss"][-1])) if ok else None


def judge(metrics: Mapping[str, Any], cfg: F2Config) -> list[Verdict]:
    """F2 by :data:`F2_RULE`: GD's loss ratio per task and the classifier's accuracy."""
    conf = F2_RULE["confidence"]
    parts, lines = [], []
    for task, per_method in metrics["runs"].items():
        chosen = best_run(per_method["GD"])
        if chosen is None:
            parts.append("does not hold")
            lines.append(f"{task}: every GD learning rate diverged")
            continue
        lr, run = chosen
        pairs = zip(run["loss"][-1], run["initial"], strict=True)
        iv = mean_interval([math.log(as_float(f) / as_float(i)) for f, i in pairs], conf)
        parts.append(decide(iv, math.log(F2_RULE["max_loss_ratio"]), above=False))
        low, mid, high = (math.exp(v) for v in (iv.low, iv.estimate, iv.high))
        text = f"{task}: GD (lr {lr}) loss × {mid:.3g} [{low:.3g}, {high:.3g}]"
        if "test_accuracy" in run:
            acc = mean_interval([as_float(a) for a in run["test_accuracy"]], conf)
            parts.append(decide(acc, F2_RULE["min_accuracy"], above=True))
            pct = acc.scaled(100)
            text += f", test accuracy {pct.estimate:.1f}% [{pct.low:.1f}, {pct.high:.1f}]"
        picks = [(m, best_run(per_method[m])) for m in ("SGD", "Adam")]
        others = [f"{m} (lr {p[0]}) × {_ratio(p[1]):.3g}" for m, p in picks if p]
        lines.append(text + ("; " + ", ".join(others) if others else ""))
    status = all_of(parts)
    reason = "an interval straddles its threshold; more seeds would settle it"
    evidence = (
        f"Training loss final/initial after {cfg.steps} updates, geometric mean over {cfg.seeds} "
        "seeds with 95% t interval: " + "; ".join(lines) + "."
    )
    gd = best_run(metrics["runs"]["classification"]["GD"])
    key = f"GD loss ×{_ratio(gd[1]):.2g}" if gd else "GD diverged"
    return [Verdict("F2", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: F2Config, canvas: Canvas) -> None:
    """Training loss against updates, best learning rate of each method (mean over seeds)."""
    runs = metrics["runs"]
    fig, axes = canvas.subplots(1, len(runs), figsize=(6 * len(runs), 3.8), squeeze=False)
    rows = []
    for ax, (task, per_method) in zip(axes[0], runs.items(), strict=True):
        for m, per_lr in per_method.items():
            pick = best_run(per_lr)
            if pick is not None:
                loss = [_mean(run) for run in [pick[1]["initial"], *pick[1]["loss"]]]
                label = f"{m}, lr {pick[0]}"
                ax.semilogy([0, *pick[1]["updates"]], loss, color=_COLOURS[m], label=label)
            for lr, r in per_lr.items():
                acc = r.get("test_accuracy")
                losses = [round(_mean(r["initial"]), 4), round(_mean(r["loss"][-1]), 5)]
                diverged = sum(bool(d) for d in r["diverged"])
                rows.append([task, m, lr, *losses, diverged, round(_mean(acc), 4) if acc else ""])
        ax.set(title=task, xlabel="updates")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("training loss (mean over seeds)")
    canvas.save(
        fig,
        "loss_curves",
        f"Full training loss under full-batch gradient descent, mini-batch SGD (batch "
        f"{cfg.batch_size}) and Adam from the same initialisations; best learning rate of each "
        "grid.",
    )
    head = ["task", "method", "lr", "initial loss", "final loss", "diverged seeds", "test accuracy"]
    canvas.table("Training loss per method and learning rate (means over seeds)", head, rows)
    canvas.notes = (
        "Gradient descent needs nothing but the gradient: each update moves the weights downhill "
        "by η∇L. Per update the full gradient is best; per pass over the data, SGD's many cheap "
        "noisy steps and Adam's per-parameter step sizes get further."
    )


register("f2_gradient_descent", F2Config, measure=measure, judge=judge, draw=draw)
