r"""G5: the ReLU family instead of sigmoid keeps the layers' learning speeds close, and accuracy.

Backpropagation multiplies the error signal by :math:`W^\top \operatorname{diag}\sigma'(z)` at
every layer. A sigmoid's :math:`\sigma' \le 1/4` shrinks it at every layer; ReLU, Leaky ReLU,
PReLU and RReLU pass it on with slope 1 where the unit is active (a small slope where not), and
a 2-piece Maxout unit passes it to exactly one piece, so with a variance-preserving
initialisation the per-layer gain is near one and no layer is left behind.

The notes pair the remedies with their initialisation (He for the ReLU family, gain 1 for
Maxout since :math:`E[\max(z_1, z_2)^2] = E[z^2]`), which mixes two causes. So speeds are
measured at initialisation in two arms: the **notes'** (sigmoid :math:`N(0, 1/n_{in})` with
:math:`N(0, 1)` biases, ReLU family He) and **swapped** (sigmoid at its matched gain 4, the
ReLU family at gain 1). If the ReLU family at gain 1 still spreads its speeds less than the
sigmoid at gain 4, the activation — not the initialisation — is the remedy. Accuracy is compared
within each activation, deep against shallow on the same seeds (paired non-inferiority).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np

from nndl.analysis import (
    all_of,
    decide,
    fit_and_score,
    hidden_layer_speeds,
    log10_spread,
    mean_interval,
    paired_interval,
    spread_factor,
    stacked_mlps,
)
from nndl.data import load_digits_split
from nndl.nn import ACTIVATIONS

from . import Canvas, ConfigError, Context, Range, Verdict, register, rule

#: The remedies the notes name; G5's verdict is about these (sigmoid is the baseline).
REMEDIES: tuple[str, ...] = ("relu", "leaky_relu", "prelu", "rrelu", "maxout")

#: Activations vmap cannot batch in training mode (no batching rule for ``aten::rrelu``): their
#: copies train one by one (:func:`nndl.analysis.fit_and_score` given a list of nets).
ONE_BY_ONE: frozenset[str] = frozenset({"rrelu"})


@dataclass
class G5Config:
    activations: tuple[str, ...] = ("sigmoid", *REMEDIES)
    shallow: int = 2  # hidden layers of the reference net
    deep: int = 8  # hidden layers of the deep net (speeds judged here)
    width: int = 30
    seeds: Annotated[int, Range(2)] = 5
    epochs: int = 32  # 19 steps per epoch at batch 64: 608 SGD steps
    batch_size: int = 64
    lr: float = 0.01  # effective step lr / (1 - momentum) = Nielsen's η = 0.1
    momentum: Annotated[float, Range(0.0, 0.99)] = 0.9
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown:
            raise ConfigError(f"activations must be among {ACTIVATIONS}, got {unknown}")
        if len(set(self.activations)) != len(self.activations) or "sigmoid" not in self.activations:
            raise ConfigError(
                f"activations must not repeat and must include 'sigmoid' (the baseline of the "
                f"separation arm), got {list(self.activations)}"
            )
        if self.shallow >= self.deep:
            raise ConfigError(f"shallow must be < deep, got {self.shallow} and {self.deep}")


G5_RULE = rule("g5_activations", "G5")


def _nets(cfg: G5Config, ctx: Context, act: str, arm: str, depth: int) -> Any:
    """The seeds' nets of ``act`` in arm ``notes`` or ``swapped``: stacked, or a list for
    :data:`ONE_BY_ONE`."""
    # notes: sigmoid N(0, 1/n_in) with N(0, 1) biases, ReLU family He; swapped: gains 4 and 1
    kw: dict[str, Any] = {"std": 1.0, "fan_in_scaled": True}
    scheme = "gaussian"
    if act in ("sigmoid", "tanh"):
        kw = {**kw, "bias_std": 1.0} if arm == "notes" else {"std": 4.0, "fan_in_scaled": True}
    elif arm == "notes":
        scheme, kw = "kaiming_normal", {"nonlinearity": act}
    offset = 1_000_000 * (1 + ACTIVATIONS.index(act)) + 10_000 * depth + 1000 * (arm == "swapped")
    nets = stacked_mlps(
        [64] + [cfg.width] * depth + [10],
        act,
        cfg.seeds,
        ctx.generator,
        offset=offset,
        init=scheme,
        init_kwargs=kw,
        device=ctx.device,
    )
    return nets.unstack() if act in ONE_BY_ONE else nets


def measure(cfg: G5Config, ctx: Context) -> dict[str, Any]:
    """Speeds at init for both arms; the notes' arm trained side by side at both depths."""
    split = load_digits_split(ctx.seed).to(ctx.device)
    x, y, xt, yt = split.x_train, split.y_train, split.x_test, split.y_test
    assert y is not None and yt is not None  # digits are labelled
    sgd = {k: getattr(cfg, k) for k in ("lr", "momentum", "weight_decay", "epochs", "batch_size")}
    speeds: dict[str, dict[str, Any]] = {"notes": {}, "swapped": {}, "trained": {}}
    out: dict[str, dict[str, Any]] = {
        k: {a: {} for a in cfg.activations} for k in ("accuracy", "epoch_losses", "diverged")
    }
    for act in ctx.track(cfg.activations, "G5 activations"):
        speeds["notes"][act], speeds["trained"][act] = {}, {}
        for depth in (str(cfg.shallow), str(cfg.deep)):
            nets = _nets(cfg, ctx, act, "notes", int(depth))
            score = fit_and_score(nets, x, y, [(xt, yt)], seed=ctx.seed, speeds=("bias",), **sgd)
            speeds["notes"][act][depth] = score.speeds["bias_init"]
            speeds["trained"][act][depth] = score.speeds["bias_trained"]
            out["accuracy"][act][depth] = score.accuracy[0]
            out["epoch_losses"][act][depth] = score.epoch_losses
            out["diverged"][act][depth] = score.diverged
        # the swapped arm last: RReLU's slopes come from the global RNG, in this order
        swapped = _nets(cfg, ctx, act, "swapped", cfg.deep)
        speeds["swapped"][act] = {str(cfg.deep): hidden_layer_speeds(swapped, x, y).tolist()}
    return {"data": split.name, "speeds": speeds, **out}


def _remedy(metrics: Mapping[str, Any], cfg: G5Config, act: str) -> tuple[str, str, str]:
    """(decision, evidence, guard reason) for one remedy."""
    conf, deep, speeds = G5_RULE["confidence"], str(cfg.deep), metrics["speeds"]
    spread = log10_spread(speeds["notes"][act][deep])
    sig4 = log10_spread(speeds["swapped"]["sigmoid"][deep])
    gain1 = log10_spread(speeds["swapped"][act][deep])
    a_deep, a_shallow = (
        np.asarray(metrics["accuracy"][act][d], float) for d in (deep, str(cfg.shallow))
    )
    if not all(np.all(np.isfinite(v)) for v in (spread, sig4, gain1, a_deep, a_shallow)):
        return "inconclusive", f"{act}: non-finite speeds", f"guard: {act} has a non-finite speed"
    iv_a = mean_interval(spread, conf)
    iv_b = paired_interval(a_deep, a_shallow, conf)
    iv_c = paired_interval(sig4, gain1, conf)
    text = (
        f"{act}: spread ×{10**iv_a.estimate:.3g} [×{10**iv_a.low:.3g}, ×{10**iv_a.high:.3g}]; "
        f"acc {100 * a_shallow.mean():.1f}→{100 * a_deep.mean():.1f} %, Δ "
        f"{iv_b.scaled(100):+.1f} pts; at gain 1 ×{10 ** gain1.mean():.3g} vs sigmoid×4 "
        f"×{10 ** sig4.mean():.3g} (Δlog10 {iv_c:.2f})"
    )
    if a_shallow.mean() < G5_RULE["min_accuracy"]:
        return "inconclusive", text, f"guard: {act}'s shallow net reached {a_shallow.mean():.2f}"
    parts = [
        decide(iv_a, G5_RULE["spread_log10"], above=False),
        decide(iv_b, -G5_RULE["margin"], above=True),
        decide(iv_c, 0.0, above=True),
    ]
    return all_of(parts), text, ""


def judge(metrics: Mapping[str, Any], cfg: G5Config) -> list[Verdict]:
    remedies = [a for a in cfg.activations if a in REMEDIES]
    if not remedies:
        return [Verdict("G5", "inconclusive", "no remedy measured", reason="guard: add remedies")]
    results = {a: _remedy(metrics, cfg, a) for a in remedies}
    status = all_of(d for d, _, _ in results.values())
    deep, notes = str(cfg.deep), metrics["speeds"]["notes"]
    sig = {d: 100 * np.asarray(a, float).mean() for d, a in metrics["accuracy"]["sigmoid"].items()}
    sig_spread = spread_factor(notes["sigmoid"][deep])
    evidence = (
        f"{cfg.deep} vs {cfg.shallow} hidden layers of {cfg.width}, {cfg.seeds} seeds, "
        f"{metrics['data']}, {cfg.epochs} epochs: "
        + "; ".join(t for _, t, _ in results.values())
        + f". Baseline sigmoid: spread ×{sig_spread:.3g}, acc {sig[str(cfg.shallow)]:.1f}→"
        f"{sig[deep]:.1f} %. Per remedy: "
        + ", ".join(f"{a} {d}" for a, (d, _, _) in results.items())
        + "."
    )
    reason = "; ".join(r for _, _, r in results.values() if r) or (
        "an interval straddles its threshold; more seeds (narrower t intervals) would settle it"
    )
    spreads = {a: spread_factor(notes[a][deep]) for a in remedies}
    worst = max(spreads, key=spreads.__getitem__)
    key = f"max spread ×{spreads[worst]:.3g} ({worst}) vs sigmoid ×{sig_spread:.3g}"
    return [Verdict("G5", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: G5Config, canvas: Canvas) -> None:
    acts, deep, shallow = list(cfg.activations), str(cfg.deep), str(cfg.shallow)
    speeds, acc = metrics["speeds"], metrics["accuracy"]
    fig, axes = canvas.subplots(1, 3, figsize=(15, 3.8))
    pos = np.arange(len(acts))
    for k, (arm, label) in enumerate((("notes", "notes' init"), ("swapped", "swapped init"))):
        spreads = [spread_factor(speeds[arm][a][deep]) for a in acts]
        axes[0].bar(pos + (k - 0.5) * 0.4, spreads, 0.4, label=label)
    axes[0].axhline(10.0, color="k", ls="--", lw=1, label="10×")
    axes[0].set(yscale="log", ylabel=f"max/min layer speed at init, {cfg.deep} layers")
    for k, depth in enumerate((shallow, deep)):
        pct = [100 * np.asarray(acc[act][depth], float) for act in acts]
        means, sds = [v.mean() for v in pct], [v.std(ddof=1) for v in pct]
        x = pos + (k - 0.5) * 0.4
        axes[1].bar(x, means, 0.4, capsize=2, yerr=sds, label=f"{depth} hidden layers")
    axes[1].set(ylabel="test accuracy (%)")
    for ax in axes[:2]:
        ax.set_xticks(pos, acts, rotation=30, fontsize=8)
    rows = []
    for a in acts:
        curve = np.asarray(metrics["epoch_losses"][a][deep], float)
        axes[2].semilogy(np.arange(1, len(curve) + 1), curve.mean(axis=1), label=a)
        acc_d, acc_s = (np.asarray(acc[a][d], float) for d in (deep, shallow))
        arms = ("notes", "swapped", "trained")
        row = [a, *(f"{spread_factor(speeds[w][a][deep]):.3g}" for w in arms)]
        row += [f"{100 * acc_s.mean():.1f}", f"{100 * acc_d.mean():.1f}"]
        row += [f"{100 * np.mean(acc_d - acc_s):+.1f}", f"{float(curve[-1].mean()):.3f}"]
        rows.append([*row, metrics["diverged"][a][deep] + metrics["diverged"][a][shallow]])
    axes[2].set(xlabel="epoch", ylabel=f"training loss, {cfg.deep} layers (mean over seeds)")
    for ax in axes:
        ax.legend(fontsize=7)
    canvas.save(
        fig,
        "activations",
        "Left: spread of the hidden layers' learning speeds at initialisation, "
        "notes' init (sigmoid N(0,1/n_in), ReLU family He, Maxout gain 1) and swapped (sigmoid "
        "gain 4, ReLU family gain 1). Middle: test accuracy, shallow and deep. Right: training "
        "loss per epoch.",
    )
    canvas.table(
        "Learning-speed spread (max/min, geometric mean over seeds) and accuracy by activation",
        [
            "activation",
            f"spread at init ({cfg.deep} layers)",
            "spread, swapped init",
            "spread after training",
            f"test acc. {cfg.shallow} layers (%)",
            f"test acc. {cfg.deep} layers (%)",
            "paired Δ (pts)",
            "final training loss",
            "diverged copies",
        ],
        rows,
        caption=f"SGD lr {cfg.lr}, momentum {cfg.momentum}, weight decay {cfg.weight_decay}, "
        f"batch {cfg.batch_size}, {cfg.epochs} epochs, {cfg.seeds} seeds side by side.",
    )


register("g5_activations", G5Config, measure=measure, judge=judge, draw=draw)
