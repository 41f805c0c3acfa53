r"""G5: the ReLU family instead of sigmoid keeps the layers' learning speeds close, and accuracy.

Backpropagation multiplies the error signal by :math:`W^\top \operatorname{diag}\sigma'(z)` at
every layer. A sigmoid's :math:`\sigma' \le 1/4` shrinks it at every layer; ReLU, Leaky ReLU,
PReLU and RReLU pass it on with slope 1 where the unit is active (and a small slope where not),
and a 2-piece Maxout unit passes it to exactly one of its pieces. With a variance-preserving
initialisation the per-layer gain is then near one, so no layer is left behind.

The notes pair the remedies with their initialisation (He for the ReLU family, gain 1 for
Maxout since :math:`E[\max(z_1, z_2)^2] = E[z^2]`), which mixes two causes. So the experiment has
two arms, both measured at initialisation on :math:`S` seeds side by side:

- **notes**: sigmoid with Nielsen's :math:`N(0, 1/n_{in})` weights and :math:`N(0, 1)` biases,
  the ReLU family with He (Kaiming normal with the slope's gain), zero biases;
- **swapped**: each activation with the *other* family's scale: sigmoid with its own matched
  gain 4 (:math:`N(0, 16/n_{in})`, Xavier for the logistic :math:`\sigma'(0) = 1/4`), the ReLU
  family with gain 1 (:math:`N(0, 1/n_{in})`, Xavier/LeCun for square layers).

If the ReLU family at gain 1 still spreads its layers' speeds less than the sigmoid at its own
matched gain, the activation — not the initialisation — is the remedy. Accuracy is compared
within each activation, deep against shallow, on the same seeds (a paired non-inferiority
test), after a budget long enough for every activation to converge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from torch import Tensor, nn

from nndl.analysis import (
    all_of,
    decide,
    hidden_layer_speeds,
    log10_spread,
    mean_interval,
    paired_interval,
)
from nndl.data import load_digits_split
from nndl.nn import ACTIVATIONS, mlp
from nndl.train import (
    NonFiniteLossError,
    StackedModels,
    Trainer,
    accuracy,
    fit_stacked,
    stacked_accuracy,
    supervised_loss,
)

from .config import ConfigError, Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

__all__ = ["G5_RULE", "REMEDIES", "G5Config", "draw", "judge", "measure"]

#: The remedies the notes name; G5's verdict is about these (sigmoid is the baseline).
REMEDIES: tuple[str, ...] = ("relu", "leaky_relu", "prelu", "rrelu", "maxout")


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
    params={
        "spread_log10": 1.0,
        "margin": 0.02,
        "min_accuracy": 0.8,
        "confidence": 0.95,
    },
)


def _init(act: str, arm: str) -> tuple[str, dict[str, Any]]:
    """The init scheme and keywords of activation ``act`` in arm ``notes`` or ``swapped``."""
    if act in ("sigmoid", "tanh"):
        if arm == "notes":
            return "gaussian", {"std": 1.0, "fan_in_scaled": True, "bias_std": 1.0}
        return "gaussian", {"std": 4.0, "fan_in_scaled": True}
    if arm == "notes":
        return "kaiming_normal", {"nonlinearity": act}
    return "gaussian", {"std": 1.0, "fan_in_scaled": True}


def _stack(cfg: G5Config, ctx: Context, act: str, arm: str, depth: int) -> StackedModels:
    sizes = [64] + [cfg.width] * depth + [10]
    scheme, kwargs = _init(act, arm)
    offset = 1_000_000 * (1 + ACTIVATIONS.index(act)) + 10_000 * depth + 1000 * (arm == "swapped")

    def factory(s: int) -> nn.Module:
        return mlp(
            sizes, act, init=scheme, init_kwargs={**kwargs, "generator": ctx.generator(offset + s)}
        )

    return StackedModels.from_factory(factory, range(cfg.seeds), input_dims=2).to(ctx.device)


#: Activations :class:`~nndl.train.StackedModels` cannot run in training mode (vmap has no
#: batching rule for ``aten::rrelu``): their copies are trained one by one on the Trainer,
#: copy k with the same batches at both depths. Remove once StackedModels runs RReLU.
ONE_BY_ONE: frozenset[str] = frozenset({"rrelu"})


def _speeds(copies: StackedModels | list[nn.Module], x: Tensor, y: Tensor) -> list[list[float]]:
    """Hidden-layer speeds ||dC/db_l|| per copy: seeds × layers."""
    if isinstance(copies, StackedModels):
        return hidden_layer_speeds(copies, x, y).tolist()
    return torch.cat([hidden_layer_speeds(m, x, y) for m in copies]).tolist()


def _fit(
    copies: StackedModels | list[nn.Module],
    x: Tensor,
    y: Tensor,
    xt: Tensor,
    yt: Tensor,
    cfg: G5Config,
    ctx: Context,
) -> tuple[list[float], list[list[float]], int]:
    """Train with SGD; return test accuracies (S), training loss per epoch (epochs × S) and the
    number of copies whose loss became non-finite (frozen or stopped there)."""
    if isinstance(copies, StackedModels):
        history = fit_stacked(
            copies,
            x,
            y,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            seed=ctx.seed,
            on_nonfinite="freeze",
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
        curve = [list(map(float, h["loss"])) for h in history]
        return stacked_accuracy(copies, xt, yt).tolist(), curve, int(copies.diverged.sum())
    accs, curves, bad = [], [], 0
    for k, net in enumerate(copies):
        trainer = Trainer(
            net,
            torch.optim.SGD(
                net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            ),
            supervised_loss(),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            seed=1000 * ctx.seed + k,
            device=ctx.device,
            progress=False,
        )
        try:
            curves.append([float(h["loss"]) for h in trainer.fit((x, y))])
        except NonFiniteLossError:
            bad, curves = bad + 1, [*curves, [math.nan] * cfg.epochs]
        accs.append(accuracy(net, xt, yt))
    return accs, [list(ep) for ep in zip(*curves, strict=True)], bad


def measure(cfg: G5Config, ctx: Context) -> dict[str, Any]:
    """Speeds at init for both arms; the notes' arm trained side by side at both depths."""
    split = load_digits_split(ctx.seed)
    assert split.y_train is not None and split.y_test is not None  # digits are labelled
    x, y = split.x_train.to(ctx.device), split.y_train.to(ctx.device)
    xt, yt = split.x_test.to(ctx.device), split.y_test.to(ctx.device)
    speeds: dict[str, dict[str, dict[str, Any]]] = {"notes": {}, "swapped": {}, "trained": {}}
    acc: dict[str, dict[str, list[float]]] = {}
    losses: dict[str, dict[str, list[list[float]]]] = {}
    diverged: dict[str, dict[str, int]] = {}
    for act in ctx.track(cfg.activations, "G5 activations"):
        for arm in ("notes", "swapped"):
            speeds[arm][act] = {}
            for depth in (cfg.shallow, cfg.deep) if arm == "notes" else (cfg.deep,):
                key, nets = str(depth), _stack(cfg, ctx, act, arm, depth)
                copies = nets.unstack() if act in ONE_BY_ONE else nets
                speeds[arm][act][key] = _speeds(copies, x, y)
                if arm == "notes":
                    a, curve, bad = _fit(copies, x, y, xt, yt, cfg, ctx)
                    acc.setdefault(act, {})[key] = a
                    losses.setdefault(act, {})[key] = curve
                    diverged.setdefault(act, {})[key] = bad
                    speeds["trained"].setdefault(act, {})[key] = _speeds(copies, x, y)
    return {
        "data": split.name,
        "speeds": speeds,
        "accuracy": acc,
        "epoch_losses": losses,
        "diverged": diverged,
    }


def _geo_spread(rows: Any) -> float:
    """The spread max/min of the layers' speeds, geometric mean over seeds."""
    return 10 ** float(np.mean(log10_spread(rows)))


def _remedy(metrics: Mapping[str, Any], cfg: G5Config, act: str) -> tuple[str, str, str]:
    """(decision, evidence, guard reason) for one remedy."""
    conf, deep, shallow = G5_RULE["confidence"], str(cfg.deep), str(cfg.shallow)
    spread = log10_spread(metrics["speeds"]["notes"][act][deep])
    sig4 = log10_spread(metrics["speeds"]["swapped"]["sigmoid"][deep])
    gain1 = log10_spread(metrics["speeds"]["swapped"][act][deep])
    a_deep = np.array([as_float(v) for v in metrics["accuracy"][act][deep]])
    a_shallow = np.array([as_float(v) for v in metrics["accuracy"][act][shallow]])
    if not all(np.all(np.isfinite(v)) for v in (spread, sig4, gain1, a_deep, a_shallow)):
        return "inconclusive", f"{act}: non-finite speeds", f"guard: {act} has a non-finite speed"
    iv_a = mean_interval(spread, conf)
    iv_b = paired_interval(a_deep, a_shallow, conf)
    iv_c = paired_interval(sig4, gain1, conf)
    text = (
        f"{act}: spread ×{10**iv_a.estimate:.3g} [×{10**iv_a.low:.3g}, ×{10**iv_a.high:.3g}]; "
        f"acc {100 * a_shallow.mean():.1f}→{100 * a_deep.mean():.1f} %, Δ "
        f"{100 * iv_b.estimate:+.1f} [{100 * iv_b.low:+.1f}, {100 * iv_b.high:+.1f}] pts; "
        f"at gain 1 "
        f"×{10 ** gain1.mean():.3g} vs sigmoid×4 ×{10 ** sig4.mean():.3g} "
        f"(Δlog10 {iv_c.estimate:.2f} [{iv_c.low:.2f}, {iv_c.high:.2f}])"
    )
    if a_shallow.mean() < G5_RULE["min_accuracy"]:
        return "inconclusive", text, f"guard: {act}'s shallow net reached {a_shallow.mean():.2f}"
    decision = all_of(
        [
            decide(iv_a, G5_RULE["spread_log10"], above=False),
            decide(iv_b, -G5_RULE["margin"], above=True),
            decide(iv_c, 0.0, above=True),
        ]
    )
    return decision, text, ""


def judge(metrics: Mapping[str, Any], cfg: G5Config) -> list[Verdict]:
    remedies = [a for a in cfg.activations if a in REMEDIES]
    if not remedies:
        return [Verdict("G5", "inconclusive", "no remedy measured", reason="guard: add remedies")]
    results = {a: _remedy(metrics, cfg, a) for a in remedies}
    status = all_of(d for d, _, _ in results.values())
    deep, shallow = str(cfg.deep), str(cfg.shallow)
    sig = np.array([as_float(v) for v in metrics["accuracy"]["sigmoid"][deep]])
    sig_s = np.array([as_float(v) for v in metrics["accuracy"]["sigmoid"][shallow]])
    sig_spread = _geo_spread(metrics["speeds"]["notes"]["sigmoid"][deep])
    evidence = (
        f"{cfg.deep} vs {cfg.shallow} hidden layers of {cfg.width}, {cfg.seeds} seeds, "
        f"{metrics['data']}, {cfg.epochs} epochs: "
        + "; ".join(t for _, t, _ in results.values())
        + f". Baseline sigmoid: spread ×{sig_spread:.3g}, acc {100 * sig_s.mean():.1f}→"
        f"{100 * sig.mean():.1f} %. Per remedy: "
        + ", ".join(f"{a} {d}" for a, (d, _, _) in results.items())
        + "."
    )
    reasons = [r for _, _, r in results.values() if r]
    reason = ""
    if status == "inconclusive":
        reason = "; ".join(reasons) or (
            "an interval straddles its threshold; more seeds (narrower t intervals) would settle it"
        )
    worst = max(remedies, key=lambda a: _geo_spread(metrics["speeds"]["notes"][a][deep]))
    worst_spread = _geo_spread(metrics["speeds"]["notes"][worst][deep])
    key = f"max spread ×{worst_spread:.3g} ({worst}) vs sigmoid ×{sig_spread:.3g}"
    return [Verdict("G5", status, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: G5Config, canvas: Canvas) -> None:
    acts, deep, shallow = list(cfg.activations), str(cfg.deep), str(cfg.shallow)
    fig, axes = canvas.subplots(1, 3, figsize=(15, 3.8))
    pos = np.arange(len(acts))
    for k, (arm, label) in enumerate((("notes", "notes' init"), ("swapped", "swapped init"))):
        spreads = [_geo_spread(metrics["speeds"][arm][a][deep]) for a in acts]
        axes[0].bar(pos + (k - 0.5) * 0.4, spreads, 0.4, label=label)
    axes[0].axhline(10.0, color="k", ls="--", lw=1, label="10×")
    axes[0].set(yscale="log", ylabel=f"max/min layer speed at init, {cfg.deep} layers")
    rows = []
    for k, depth in enumerate((shallow, deep)):
        means = [100 * np.mean([as_float(v) for v in metrics["accuracy"][a][depth]]) for a in acts]
        sds = [
            100 * np.std([as_float(v) for v in metrics["accuracy"][a][depth]], ddof=1) for a in acts
        ]
        axes[1].bar(
            pos + (k - 0.5) * 0.4, means, 0.4, yerr=sds, capsize=2, label=f"{depth} hidden layers"
        )
    axes[1].set(ylabel="test accuracy (%)")
    for ax in axes[:2]:
        ax.set_xticks(pos, acts, rotation=30, fontsize=8)
        ax.legend(fontsize=7)
    for a in acts:
        curve = np.array([[as_float(v) for v in ep] for ep in metrics["epoch_losses"][a][deep]])
        axes[2].semilogy(np.arange(1, len(curve) + 1), curve.mean(axis=1), label=a)
        acc_d = [as_float(v) for v in metrics["accuracy"][a][deep]]
        acc_s = [as_float(v) for v in metrics["accuracy"][a][shallow]]
        rows.append(
            [
                a,
                f"{_geo_spread(metrics['speeds']['notes'][a][deep]):.3g}",
                f"{_geo_spread(metrics['speeds']['swapped'][a][deep]):.3g}",
                f"{_geo_spread(metrics['speeds']['trained'][a][deep]):.3g}",
                f"{100 * np.mean(acc_s):.1f}",
                f"{100 * np.mean(acc_d):.1f}",
                f"{100 * np.mean(np.subtract(acc_d, acc_s)):+.1f}",
                f"{float(curve[-1].mean()):.3f}",
                metrics["diverged"][a][deep] + metrics["diverged"][a][shallow],
            ]
        )
    axes[2].set(xlabel="epoch", ylabel=f"training loss, {cfg.deep} layers (mean over seeds)")
    axes[2].legend(fontsize=7)
    canvas.save(
        fig,
        "activations",
        "Left: spread of the hidden layers' learning speeds at initialisation, notes' init "
        "(sigmoid N(0,1/n_in), ReLU family He, Maxout gain 1) and swapped (sigmoid gain 4, ReLU "
        "family gain 1). Middle: test accuracy, shallow and deep. Right: training loss per epoch.",
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


register(
    "g5_activations",
    claims=("G5",),
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
