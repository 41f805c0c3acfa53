r"""F3: changing a few parameters of an accurate network can lower its accuracy markedly.

Several digits MLPs are trained side by side (``nndl.train.fit_stacked``, one per seed). In
each, the parameters are ranked by the saliency :math:`|w\, \partial L / \partial w|` (on
validation data), the first-order estimate of the loss increase when one is removed, and the
:math:`k` most salient are perturbed (zeroed, or negated) for :math:`k` on a geometric grid
(``nndl.analysis.parameter_sensitivity``); :math:`k` random parameters are the control. The
grid (a factor ≈ 1.45 between points) only brackets the smallest :math:`k` that costs ``drop``
accuracy points; ``nndl.analysis.exact_smallest_k`` then makes it exact. Which parameters are
salient, and how many matter, depends on the seed, hence an interval over seeds.

**Seeds, from a pilot** (base seeds 100–103, disjoint from the reported 0–4, 24 nets each,
exact :math:`k`): the per-seed sd of :math:`\log_{10}(k/P)` is 0.091–0.137 (pooled 0.124);
the base-seed means are −2.36, −2.37, −2.19, −2.29 (0.44–0.64 % of P; their sd 0.08), against
the threshold :math:`\log_{10} 0.01 = -2`. For a base seed two such sds worse than the pilots'
average (mean −2.14, :math:`\delta = 0.14`), the interval lies below −2 with probability
:math:`1 - F_{t,n-1,\,\delta\sqrt n/\sigma}(t_{0.975,n-1})` = 0.78 at 8 nets, 0.94 at 12,
0.987 at 16 (noncentral t): 16 nets, so that five base seeds agree with probability ≈ 0.94.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nndl import ValidationError
from nndl.analysis import decide, fragility_profile, mean_interval, seeds_to_settle
from nndl.data import load_dataset
from nndl.nn import mlp
from nndl.train import StackedModels, fit_stacked

from . import Canvas, Context, Verdict, as_float, register, rule


@dataclass
class F3Config:
    data: str = "digits"
    hidden: tuple[int, ...] = (64,)
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    seeds: int = 16
    n_ks: int = 24
    repeats: int = 3
    drop: float = 0.10
    perturbations: tuple[str, ...] = ("zero",)


F3_RULE = rule("f3_parameter_sensitivity", "F3")


def measure(cfg: F3Config, ctx: Context) -> dict[str, Any]:
    """Train ``cfg.seeds`` MLPs together, then perturb each one's k most salient parameters."""
    split = load_dataset(cfg.data).split(0.15, 0.2, ctx.seed)
    if split.y_train is None or split.y_val is None or split.y_test is None:
        raise ValidationError(f"data must be labelled, got {cfg.data!r} without labels")
    dev, sizes = ctx.device, [split.n_features, *cfg.hidden, split.n_classes]
    seeds = [1000 * ctx.seed + 3 + s for s in range(cfg.seeds)]
    nets = StackedModels.from_factory(lambda _: mlp(sizes, activation="relu"), seeds)
    fit: dict[str, Any] = {"lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size}
    x, y = split.x_train.to(dev), split.y_train.to(dev)
    fit_stacked(nets, x, y, optimizer="adam", **fit, seed=ctx.seed, device=dev)
    n_params = sum(p.numel() for p in nets.member(0).parameters())
    ks = sorted({int(k) for k in np.round(np.geomspace(1, n_params, cfg.n_ks))})
    test = (split.x_test.to(dev), split.y_test.to(dev))
    val = (split.x_val.to(dev), split.y_val.to(dev))
    out: dict[str, Any] = {"n_parameters": n_params, "ks": ks, "sizes": sizes, "nets": []}
    kw: dict[str, Any] = {"perturbations": cfg.perturbations, "saliency_data": val}
    for i, net in enumerate(ctx.track(nets.unstack(), "F3 networks")):
        gens = [ctx.generator(30 + i) for _ in cfg.perturbations]  # the random selections
        row = fragility_profile(
            net.eval(), test, ks, cfg.drop, generators=gens, repeats=cfg.repeats, **kw
        )
        out["nets"].append(row)
    return out


def _fractions(metrics: Mapping[str, Any], perturbation: str, selection: str) -> list[float]:
    p = metrics["n_parameters"]
    return [(n["smallest_k"][perturbation][selection] or p) / p for n in metrics["nets"]]


def judge(metrics: Mapping[str, Any], cfg: F3Config) -> list[Verdict]:
    """F3 by :data:`F3_RULE` on the first perturbation (zeroing)."""
    pert, few, p = cfg.perturbations[0], F3_RULE["few_fraction"], metrics["n_parameters"]
    sal, rnd = _fractions(metrics, pert, "saliency"), _fractions(metrics, pert, "random")
    iv = mean_interval([math.log10(f) for f in sal], F3_RULE["confidence"])
    baseline = float(np.mean([as_float(n["baseline"]) for n in metrics["nets"]]))
    status, reason = decide(iv, math.log10(few), above=False), ""
    if status == "inconclusive":
        need = seeds_to_settle(iv, math.log10(few))
        reason = (
            f"the interval straddles log10(few_fraction); about {need} seeds at this spread "
            "would settle it"
        )
    if baseline < F3_RULE["min_accuracy"]:
        status = "inconclusive"
        reason = (
            f"guard: mean test accuracy {baseline * 100:.1f}% < "
            f"{F3_RULE['min_accuracy'] * 100:.0f}%; more epochs would settle it"
        )
    evidence = (
        f"MLP {metrics['sizes']} with P = {p} parameters, mean test accuracy {baseline * 100:.1f}% "
        f"over {len(sal)} seeds. Smallest k that costs {cfg.drop * 100:.0f} points ({pert}): "
        f"saliency k/P = {10**iv.estimate * 100:.2f}% (geometric mean; 95% t interval "
        f"[{10**iv.low * 100:.2f}%, {10**iv.high * 100:.2f}%]; per seed "
        f"{', '.join(f'{f * p:.0f}' for f in sal)} exact), random k per seed (on the grid) "
        f"{', '.join(f'{f * p:.0f}' for f in rnd)}; threshold {few * 100:g}% of P ({few * p:.0f})."
    )
    key = f"k/P = {10**iv.estimate * 100:.2f}% (random {np.exp(np.mean(np.log(rnd))) * 100:.0f}%)"
    return [Verdict("F3", status, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: F3Config, canvas: Canvas) -> None:
    """Accuracy against k, saliency against random, every seed."""
    perts, ks = list(metrics["nets"][0]["accuracy"]), metrics["ks"]
    n_params, few = metrics["n_parameters"], F3_RULE["few_fraction"]
    fig, axes = canvas.subplots(1, len(perts), figsize=(6 * len(perts), 4), squeeze=False)
    for ax, p in zip(axes[0], perts, strict=True):
        for sel, colour in (("saliency", "C3"), ("random", "C0")):
            for i, n in enumerate(metrics["nets"]):
                acc = np.array([as_float(a) for a in n["accuracy"][p][sel]]) * 100
                ax.semilogx(ks, acc, color=colour, alpha=0.6, label=sel if i == 0 else None)
        ax.axvline(few * n_params, color="grey", ls="--", lw=1, label=f"{few * 100:g}% of P")
        ax.set(title=f"{p} k parameters (P = {n_params})", xlabel="k", ylabel="test accuracy (%)")
        ax.legend(fontsize=8)
    canvas.save(
        fig,
        "accuracy_vs_k",
        "Test accuracy after perturbing the k most salient parameters |w·∂L/∂w| (red) or k "
        "random ones (blue, mean of the draws); one line per seed.",
    )
    rows = [
        [i, round(as_float(n["baseline"]), 4)]
        + [n["smallest_k"][perts[0]][s] for s in ("saliency", "random")]
        for i, n in enumerate(metrics["nets"])
    ]
    head = ["seed", "test accuracy", "saliency k (exact)", "random k (grid)"]
    canvas.table(f"Smallest k costing {cfg.drop * 100:.0f} points ({perts[0]})", head, rows)
    canvas.notes = (
        "The saliency |w·∂L/∂w| is the first-order estimate of the loss increase when a weight "
        "is removed. A handful of such weights carries much of the function, while random "
        "weights can be removed by the hundreds: robust on average, fragile in the worst case."
    )


register("f3_parameter_sensitivity", F3Config, measure=measure, judge=judge, draw=draw)
