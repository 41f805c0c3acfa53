r"""G6: BatchNorm before every sigmoid makes a deep net learn at comparable speeds, and train.

BatchNorm standardises each unit's pre-activation over the batch,
:math:`y = \gamma (z - \mu_B)/\sigma_B + \beta`, so the sigmoid sees :math:`y` near zero mean
and unit variance, where :math:`\sigma'(y)` is near its maximum, and the backward pass divides
by the :math:`\sigma_B` the forward pass multiplied by: the per-layer gain stays near one
whatever the weights' scale.

**Which learning speed.** In a BatchNorm net the layer's bias is the shift :math:`\beta_l`, whose
gradient :math:`\sum_x \sigma'(y_l(x)) \odot W_{l+1}^\top g_{l+1}(x)` sums a signal whose batch
mean the next BatchNorm removed (:math:`g_{l+1} = \partial C/\partial z_{l+1}`): small by
construction for every hidden layer but the last, not by vanishing. The rule therefore reads
the weight-based speed :math:`\lVert \partial C/\partial W_l \rVert_F/\sqrt{n_{in}}`
(:func:`nndl.analysis.hidden_layer_speeds`), fixed before the run; both are shown. "Trains"
is a paired non-inferiority comparison with a one-hidden-layer sigmoid net (same init, budget
and batches per seed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np

from nndl.analysis import (
    all_of,
    decide,
    fit_and_score,
    geometric_mean,
    hidden_layer_speeds,
    log10_spread,
    mean_interval,
    paired_interval,
    spread_factor,
    stacked_mlps,
)
from nndl.data import load_digits_split

from .config import ConfigError, Range
from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule

__all__ = ["ARMS", "G6_RULE", "G6Config", "draw", "judge", "measure"]


@dataclass
class G6Config:
    depth: int = 8  # hidden layers of the deep nets
    shallow: int = 1  # hidden layers of the reference net
    width: int = 30
    seeds: Annotated[int, Range(2)] = 5
    epochs: int = 32  # 19 steps per epoch at batch 64: 608 SGD steps
    batch_size: int = 64
    lr: float = 0.01  # effective step lr / (1 - momentum) = Nielsen's η = 0.1
    momentum: Annotated[float, Range(0.0, 0.99)] = 0.9
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        if self.shallow >= self.depth:
            raise ConfigError(f"shallow must be < depth, got {self.shallow} and {self.depth}")


G6_RULE = Rule(
    claim="G6",
    statistic="over seeds: (a) log10 of the spread max_l / min_l of the BatchNorm net's "
    "weight-based speeds ||dC/dW_l||_F / sqrt(n_in) at initialisation (deep net); (b) the "
    "paired difference of test accuracy, deep BatchNorm sigmoid net − one-hidden-layer "
    "sigmoid net, after the same SGD budget (seed k trains both on the same batches); "
    "95 % t intervals",
    holds="(a) lies wholly below log10(10) = 1 and (b) wholly above −margin",
    does_not_hold="(a) lies wholly above 1 or (b) wholly below −margin",
    inconclusive="an interval straddles its threshold, or a guard fails: the one-layer "
    "reference below min_accuracy (did not train) or a non-finite speed",
    seeds=5,
    rationale="weight-based, because BatchNorm's shift β_l gets a batch sum of a gradient whose "
    "batch mean the next BatchNorm removes — small by construction, not by vanishing (both "
    "measures are reported); 'trains' is non-inferiority against a net without depth",
    params={"spread_log10": 1.0, "margin": 0.02, "min_accuracy": 0.8, "confidence": 0.95},
)

#: The three nets: label -> (BatchNorm?, deep?).
ARMS: dict[str, tuple[bool, bool]] = {
    "sigmoid": (False, True),
    "sigmoid + BatchNorm": (True, True),
    "sigmoid, shallow": (False, False),
}
MEASURES: tuple[Literal["bias", "weight"], ...] = ("bias", "weight")
WHEN = ("init", "trained")


def measure(cfg: G6Config, ctx: Context) -> dict[str, Any]:
    """Both speed measures at init and after training, test accuracy, per net and seed."""
    split = load_digits_split(ctx.seed)
    assert split.y_train is not None and split.y_test is not None  # digits are labelled
    x, y = split.x_train.to(ctx.device), split.y_train.to(ctx.device)
    xt, yt = split.x_test.to(ctx.device), split.y_test.to(ctx.device)
    out: dict[str, Any] = {"data": split.name, "arms": {}}
    for k, (label, (bn, deep)) in enumerate(ctx.track(ARMS.items(), "G6 nets")):
        nets = stacked_mlps(
            [64] + [cfg.width] * (cfg.depth if deep else cfg.shallow) + [10], "sigmoid", cfg.seeds,
            ctx.generator, offset=100_000 * (k + 1), batchnorm=bn, input_dims=2,
            init_kwargs={"std": 1.0, "fan_in_scaled": True, "bias_std": 1.0}, device=ctx.device,
        )  # fmt: skip
        arm = {f"{m}_init": hidden_layer_speeds(nets, x, y, measure=m).tolist() for m in MEASURES}
        score = fit_and_score(
            nets, x, y, [(xt, yt)], lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
            epochs=cfg.epochs, batch_size=cfg.batch_size, seed=ctx.seed,
        )  # fmt: skip
        arm |= {
            f"{m}_trained": hidden_layer_speeds(nets, x, y, measure=m).tolist() for m in MEASURES
        }
        out["arms"][label] = arm | {
            "accuracy": score.accuracy[0], "epoch_losses": score.epoch_losses,
            "diverged": score.diverged,
        }  # fmt: skip
    return out


def judge(metrics: Mapping[str, Any], cfg: G6Config) -> list[Verdict]:
    arms, conf = metrics["arms"], G6_RULE["confidence"]
    bn, plain = arms["sigmoid + BatchNorm"], arms["sigmoid"]
    spread = log10_spread(bn["weight_init"])
    a_bn, a_ref, a_plain = (
        np.asarray(arms[a]["accuracy"], float)
        for a in ("sigmoid + BatchNorm", "sigmoid, shallow", "sigmoid")
    )
    if not (np.all(np.isfinite(spread)) and np.all(np.isfinite(a_bn))):
        evidence = "non-finite speeds or accuracies in the BN net"
        return [Verdict("G6", "inconclusive", evidence, reason="guard: a non-finite speed")]
    iv_a = mean_interval(spread, conf)
    iv_b = paired_interval(a_bn, a_ref, conf)
    plain_w, plain_b, bn_b = (spread_factor(a) for a in (plain["weight_init"], plain["bias_init"],
                                                           bn["bias_init"]))  # fmt: skip
    evidence = (
        f"{cfg.depth} hidden sigmoid layers of {cfg.width} ({cfg.seeds} seeds, {metrics['data']}, "
        f"{cfg.epochs} epochs). Weight-based spread at init: plain ×{plain_w:.3g}, BatchNorm "
        f"×{10**iv_a.estimate:.3g} [×{10**iv_a.low:.3g}, ×{10**iv_a.high:.3g}]; bias-based (β for "
        f"BN): plain ×{plain_b:.3g}, BatchNorm ×{bn_b:.3g} (β's gradient is cancelled by the next "
        f"BatchNorm), of which ×{spread_factor([r[:-1] for r in bn['bias_init']]):.3g} among all "
        "but the last layer. Test "
        f"accuracy: BatchNorm {100 * a_bn.mean():.1f} %, plain {100 * a_plain.mean():.1f} %, "
        f"{cfg.shallow}-layer {100 * a_ref.mean():.1f} %; paired Δ(BN − {cfg.shallow}-layer) "
        f"{100 * iv_b.estimate:+.1f} [{100 * iv_b.low:+.1f}, {100 * iv_b.high:+.1f}] pts "
        f"(margin {100 * G6_RULE['margin']:.0f})."
    )
    if a_ref.mean() < G6_RULE["min_accuracy"]:
        reason = (
            f"guard: the {cfg.shallow}-layer reference reached {a_ref.mean():.2f} < "
            f"{G6_RULE['min_accuracy']}; a longer budget would train it"
        )
        return [Verdict("G6", "inconclusive", evidence, reason=reason)]
    status = all_of(
        [decide(iv_a, G6_RULE["spread_log10"], above=False), decide(iv_b, -G6_RULE["margin"])]
    )
    reason = "an interval straddles its threshold; more seeds would narrow it"
    key = (
        f"weight spread ×{plain_w:.3g} → ×{10**iv_a.estimate:.3g}, "
        f"acc {100 * a_plain.mean():.0f} → {100 * a_bn.mean():.0f} %"
    )
    return [Verdict("G6", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: G6Config, canvas: Canvas) -> None:
    arms, layers = metrics["arms"], np.arange(1, cfg.depth + 1)
    fig, axes = canvas.subplots(1, 3, figsize=(14, 3.8))
    for label, color in (("sigmoid", "C0"), ("sigmoid + BatchNorm", "C1")):
        for m, style in (("weight", "o-"), ("bias", "s--")):
            for ax, when in ((axes[0], "init"), (axes[1], "trained")):
                profile = geometric_mean(arms[label][f"{m}_{when}"], axis=0)
                ax.semilogy(layers, profile, style, color=color, label=f"{label}, {m}")
    for ax, when in ((axes[0], "at initialisation"), (axes[1], "after training")):
        ax.set(xlabel="hidden layer", ylabel="learning speed", title=when)
    rows = []
    for label, arm in arms.items():
        curve = np.asarray(arm["epoch_losses"], float)
        axes[2].semilogy(np.arange(1, len(curve) + 1), curve.mean(axis=1), label=label)
        acc = np.asarray(arm["accuracy"], float)
        rows.append(
            [label, *(f"{spread_factor(arm[f'{m}_{w}']):.3g}" for w in WHEN for m in MEASURES),
             f"{100 * acc.mean():.1f} ± {100 * acc.std(ddof=1):.1f}", arm["diverged"]]
        )  # fmt: skip
    axes[2].set(xlabel="epoch", ylabel="training loss (mean over seeds)")
    for ax in axes:
        ax.legend(fontsize=7)
    canvas.save(
        fig, "batchnorm", "Per-layer learning speed (geometric mean over seeds), weight-based "
        "||∂C/∂W_l||/√n_in (solid) and bias-based ||∂C/∂b_l|| — BatchNorm's shift β in BN nets — "
        "(dashed), at initialisation and after training; right: training loss per epoch.",
    )  # fmt: skip
    canvas.table(
        "Spread of the layers' learning speeds (max/min, geometric mean over seeds) and accuracy",
        ["net", *(f"{m} speed, {w}" for w in WHEN for m in MEASURES),
         "test acc. (%)", "diverged copies"],
        rows,
        caption="Bias speed ||∂C/∂b_l|| (||∂C/∂β_l|| in BN nets, small by construction for all "
        "but the last layer); weight speed ||∂C/∂W_l||_F/√n_in. Init N(0, 1/n_in), biases "
        f"N(0, 1); SGD lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}, "
        f"{cfg.epochs} epochs.",
    )  # fmt: skip


register(
    "g6_batchnorm",
    title="BatchNorm makes a deep sigmoid net learn at comparable speeds across layers, and train",
    config=G6Config,
    presets={
        "tiny": {"depth": 3, "seeds": 2, "epochs": 1, "batch_size": 256},
        "quick": {},
        "full": {"seeds": 10, "epochs": 40},
    },
    rules=(G6_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="BatchNorm rescales each layer's pre-activations to zero mean and unit variance, so "
    "σ'(z) stays near its maximum and the backward pass divides by the same scale the forward "
    "pass multiplied by: the per-layer gain stays near one. Its shift β is a poor speed gauge: "
    "the next BatchNorm removes the batch mean of the gradient that β sums.",
)
