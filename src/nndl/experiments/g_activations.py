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

from .config import ConfigError, Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule

__all__ = ["G5_RULE", "REMEDIES", "G5Config", "draw", "judge", "measure"]

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


G5_RULE = Rule(
    claim="G5",
    statistic="for each remedy R (ReLU, Leaky ReLU, PReLU, RReLU, Maxout), over seeds: "
    "(a) log10 of the spread max_l s_l / min_l s_l of the deep net's hidden-layer speeds "
    "||dC/db_l|| at initialisation (notes' init); (b) the paired difference of test accuracy "
    "deep − shallow after the same SGD budget (seed k trains both, same batches); (c) the "
    "paired difference of log10 spread, sigmoid at its matched gain 4 minus R at gain 1 "
    "(swapped init); 95 % t intervals",
    holds="for every R: (a) lies wholly below log10(10) = 1, (b) wholly above −margin and "
    "(c) wholly above 0",
    does_not_hold="for some R one of them lies wholly on the wrong side",
    inconclusive="an interval straddles its threshold, or a guard fails: R's shallow net "
    "below min_accuracy (did not train in the budget) or a non-finite speed",
    seeds=5,
    rationale="'within an order of magnitude' is 10× on the spread; 'keeps accuracy' is "
    "non-inferiority, which a point estimate cannot show; (c) tells the activation's effect "
    "from the initialisation's",
    params={"spread_log10": 1.0, "margin": 0.02, "min_accuracy": 0.8, "confidence": 0.95},
)


def _nets(cfg: G5Config, ctx: Context, act: str, arm: str, depth: int) -> Any:
    """The seeds' nets of ``act`` in arm ``notes`` or ``swapped``: stacked, or a list for
    :data:`ONE_BY_ONE`."""
    kw: dict[str, Any]
    if act in ("sigmoid", "tanh"):
        scheme, kw = "gaussian", {"std": 4.0, "fan_in_scaled": True}
        if arm == "notes":
            kw = {"std": 1.0, "fan_in_scaled": True, "bias_std": 1.0}
    elif arm == "notes":
        scheme, kw = "kaiming_normal", {"nonlinearity": act}
    else:
        scheme, kw = "gaussian", {"std": 1.0, "fan_in_scaled": True}
    offset = 1_000_000 * (1 + ACTIVATIONS.index(act)) + 10_000 * depth + 1000 * (arm == "swapped")
    nets = stacked_mlps(
        [64] + [cfg.width] * depth + [10], act, cfg.seeds, ctx.generator, offset=offset,
        init=scheme, init_kwargs=kw, input_dims=2, device=ctx.device,
    )  # fmt: skip
    return nets.unstack() if act in ONE_BY_ONE else nets


def measure(cfg: G5Config, ctx: Context) -> dict[str, Any]:
    """Speeds at init for both arms; the notes' arm trained side by side at both depths."""
    split = load_digits_split(ctx.seed)
    assert split.y_train is not None and split.y_test is not None  # digits are labelled
    x, y = split.x_train.to(ctx.device), split.y_train.to(ctx.device)
    xt, yt = split.x_test.to(ctx.device), split.y_test.to(ctx.device)
    speeds: dict[str, dict[str, dict[str, Any]]] = {"notes": {}, "swapped": {}, "trained": {}}
    acc: dict[str, dict[str, Any]] = {a: {} for a in cfg.activations}
    losses: dict[str, dict[str, Any]] = {a: {} for a in cfg.activations}
    diverged: dict[str, dict[str, int]] = {a: {} for a in cfg.activations}
    for act in ctx.track(cfg.activations, "G5 activations"):
        speeds["notes"][act], speeds["trained"][act] = {}, {}
        for depth in (cfg.shallow, cfg.deep):
            key, nets = str(depth), _nets(cfg, ctx, act, "notes", depth)
            speeds["notes"][act][key] = hidden_layer_speeds(nets, x, y).tolist()
            score = fit_and_score(
                nets, x, y, [(xt, yt)], lr=cfg.lr, momentum=cfg.momentum,
                weight_decay=cfg.weight_decay, epochs=cfg.epochs, batch_size=cfg.batch_size,
                seed=ctx.seed,
            )  # fmt: skip
            acc[act][key], losses[act][key] = score.accuracy[0], score.epoch_losses
            diverged[act][key] = score.diverged
            speeds["trained"][act][key] = hidden_layer_speeds(nets, x, y).tolist()
        # the swapped arm last: RReLU's slopes come from the global RNG, in this order
        swapped = _nets(cfg, ctx, act, "swapped", cfg.deep)
        speeds["swapped"][act] = {str(cfg.deep): hidden_layer_speeds(swapped, x, y).tolist()}
    return {"data": split.name, "speeds": speeds, "accuracy": acc, "epoch_losses": losses,
            "diverged": diverged}  # fmt: skip


def _remedy(metrics: Mapping[str, Any], cfg: G5Config, act: str) -> tuple[str, str, str]:
    """(decision, evidence, guard reason) for one remedy."""
    conf, deep, shallow = G5_RULE["confidence"], str(cfg.deep), str(cfg.shallow)
    spread = log10_spread(metrics["speeds"]["notes"][act][deep])
    sig4 = log10_spread(metrics["speeds"]["swapped"]["sigmoid"][deep])
    gain1 = log10_spread(metrics["speeds"]["swapped"][act][deep])
    a_deep, a_shallow = (np.asarray(metrics["accuracy"][act][d], float) for d in (deep, shallow))
    if not all(np.all(np.isfinite(v)) for v in (spread, sig4, gain1, a_deep, a_shallow)):
        return "inconclusive", f"{act}: non-finite speeds", f"guard: {act} has a non-finite speed"
    iv_a = mean_interval(spread, conf)
    iv_b = paired_interval(a_deep, a_shallow, conf)
    iv_c = paired_interval(sig4, gain1, conf)
    text = (
        f"{act}: spread ×{10**iv_a.estimate:.3g} [×{10**iv_a.low:.3g}, ×{10**iv_a.high:.3g}]; "
        f"acc {100 * a_shallow.mean():.1f}→{100 * a_deep.mean():.1f} %, Δ "
        f"{100 * iv_b.estimate:+.1f} [{100 * iv_b.low:+.1f}, {100 * iv_b.high:+.1f}] pts; "
        f"at gain 1 ×{10 ** gain1.mean():.3g} vs sigmoid×4 ×{10 ** sig4.mean():.3g} "
        f"(Δlog10 {iv_c.estimate:.2f} [{iv_c.low:.2f}, {iv_c.high:.2f}])"
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
    sig_d, sig_s = (
        np.asarray(metrics["accuracy"]["sigmoid"][d], float) for d in (deep, str(cfg.shallow))
    )
    sig_spread = spread_factor(notes["sigmoid"][deep])
    evidence = (
        f"{cfg.deep} vs {cfg.shallow} hidden layers of {cfg.width}, {cfg.seeds} seeds, "
        f"{metrics['data']}, {cfg.epochs} epochs: " + "; ".join(t for _, t, _ in results.values())
        + f". Baseline sigmoid: spread ×{sig_spread:.3g}, acc {100 * sig_s.mean():.1f}→"
        f"{100 * sig_d.mean():.1f} %. Per remedy: "
        + ", ".join(f"{a} {d}" for a, (d, _, _) in results.items()) + "."
    )  # fmt: skip
    reason = "; ".join(r for _, _, r in results.values() if r) or (
        "an interval straddles its threshold; more seeds (narrower t intervals) would settle it"
    )
    worst = max(remedies, key=lambda a: spread_factor(notes[a][deep]))
    spread = spread_factor(notes[worst][deep])
    key = f"max spread ×{spread:.3g} ({worst}) vs sigmoid ×{sig_spread:.3g}"
    return [Verdict("G5", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: G5Config, canvas: Canvas) -> None:
    acts, deep, shallow = list(cfg.activations), str(cfg.deep), str(cfg.shallow)
    fig, axes = canvas.subplots(1, 3, figsize=(15, 3.8))
    pos, acc = np.arange(len(acts)), metrics["accuracy"]
    for k, (arm, label) in enumerate((("notes", "notes' init"), ("swapped", "swapped init"))):
        spreads = [spread_factor(metrics["speeds"][arm][a][deep]) for a in acts]
        axes[0].bar(pos + (k - 0.5) * 0.4, spreads, 0.4, label=label)
    axes[0].axhline(10.0, color="k", ls="--", lw=1, label="10×")
    axes[0].set(yscale="log", ylabel=f"max/min layer speed at init, {cfg.deep} layers")
    for k, depth in enumerate((shallow, deep)):
        pct = [100 * np.asarray(acc[act][depth], float) for act in acts]
        axes[1].bar(pos + (k - 0.5) * 0.4, [v.mean() for v in pct], 0.4, capsize=2,
                    yerr=[v.std(ddof=1) for v in pct], label=f"{depth} hidden layers")  # fmt: skip
    axes[1].set(ylabel="test accuracy (%)")
    for ax in axes[:2]:
        ax.set_xticks(pos, acts, rotation=30, fontsize=8)
    rows = []
    for a in acts:
        curve = np.asarray(metrics["epoch_losses"][a][deep], float)
        axes[2].semilogy(np.arange(1, len(curve) + 1), curve.mean(axis=1), label=a)
        acc_d, acc_s = (np.asarray(acc[a][d], float) for d in (deep, shallow))
        arms = ("notes", "swapped", "trained")
        rows.append(
            [a, *(f"{spread_factor(metrics['speeds'][w][a][deep]):.3g}" for w in arms),
             f"{100 * acc_s.mean():.1f}", f"{100 * acc_d.mean():.1f}",
             f"{100 * np.mean(acc_d - acc_s):+.1f}", f"{float(curve[-1].mean()):.3f}",
             metrics["diverged"][a][deep] + metrics["diverged"][a][shallow]]
        )  # fmt: skip
    axes[2].set(xlabel="epoch", ylabel=f"training loss, {cfg.deep} layers (mean over seeds)")
    for ax in axes:
        ax.legend(fontsize=7)
    canvas.save(
        fig, "activations", "Left: spread of the hidden layers' learning speeds at initialisation, "
        "notes' init (sigmoid N(0,1/n_in), ReLU family He, Maxout gain 1) and swapped (sigmoid "
        "gain 4, ReLU family gain 1). Middle: test accuracy, shallow and deep. Right: training "
        "loss per epoch.",
    )  # fmt: skip
    canvas.table(
        "Learning-speed spread (max/min, geometric mean over seeds) and accuracy by activation",
        ["activation", f"spread at init ({cfg.deep} layers)", "spread, swapped init",
         "spread after training", f"test acc. {cfg.shallow} layers (%)",
         f"test acc. {cfg.deep} layers (%)", "paired Δ (pts)", "final training loss",
         "diverged copies"],
        rows,
        caption=f"SGD lr {cfg.lr}, momentum {cfg.momentum}, weight decay {cfg.weight_decay}, "
        f"batch {cfg.batch_size}, {cfg.epochs} epochs, {cfg.seeds} seeds side by side.",
    )  # fmt: skip


register(
    "g5_activations",
    title="ReLU, Leaky ReLU, PReLU, RReLU, Maxout keep the layers' speeds close; sigmoid does not",
    config=G5Config,
    presets={
        "tiny": {
            "activations": ("sigmoid", "relu", "maxout"),
            "shallow": 1,
            "deep": 3,
            "seeds": 2,
            "epochs": 1,
            "batch_size": 256,
        },
        "quick": {},
        "full": {"activations": ("sigmoid", *REMEDIES, "elu", "gelu"), "seeds": 10, "epochs": 40},
    },
    rules=(G5_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="ReLU-family units pass the error on with slope 1 where they are active, and a "
    "variance-preserving initialisation keeps the per-layer gain near one, so no layer is left "
    "behind; the sigmoid's σ' ≤ 1/4 shrinks the signal at every layer whatever its scale.",
)
