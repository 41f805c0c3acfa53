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
the weight-based speed :math:`\lVert \partial C/\partial W_l \rVert_F/\sqrt{n_{in}}`, fixed
before the run; both are shown. "Trains" is a paired non-inferiority comparison with a
one-hidden-layer sigmoid net (same init, budget and batches per seed).
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
    log10_spread,
    mean_interval,
    mean_sd_text,
    paired_interval,
    spread_factor,
    stacked_mlps,
)
from nndl.data import load_digits_split

from . import Canvas, ConfigError, Context, Range, Verdict, register, rule


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


G6_RULE = rule("g6_batchnorm", "G6")

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
    split = load_digits_split(ctx.seed).to(ctx.device)
    x, y, xt, yt = split.x_train, split.y_train, split.x_test, split.y_test
    assert y is not None and yt is not None  # digits are labelled
    sgd = {k: getattr(cfg, k) for k in ("lr", "momentum", "weight_decay", "epochs", "batch_size")}
    init = {"std": 1.0, "fan_in_scaled": True, "bias_std": 1.0}
    out: dict[str, Any] = {"data": split.name, "arms": {}}
    for k, (label, (bn, deep)) in enumerate(ctx.track(ARMS.items(), "G6 nets")):
        sizes = [64] + [cfg.width] * (cfg.depth if deep else cfg.shallow) + [10]
        nets = stacked_mlps(
            sizes,
            "sigmoid",
            cfg.seeds,
            ctx.generator,
            offset=100_000 * (k + 1),
            batchnorm=bn,
            init_kwargs=init,
            device=ctx.device,
        )
        score = fit_and_score(nets, x, y, [(xt, yt)], seed=ctx.seed, speeds=MEASURES, **sgd)
        out["arms"][label] = score.speeds | {
            "accuracy": score.accuracy[0],
            "epoch_losses": score.epoch_losses,
            "diverged": score.diverged,
        }
    return out


def judge(metrics: Mapping[str, Any], cfg: G6Config) -> list[Verdict]:
    arms, conf = metrics["arms"], G6_RULE["confidence"]
    bn, plain = arms["sigmoid + BatchNorm"], arms["sigmoid"]
    spread = log10_spread(bn["weight_init"])
    a_plain, a_bn, a_ref = (np.asarray(arms[a]["accuracy"], float) for a in ARMS)
    if not (np.all(np.isfinite(spread)) and np.all(np.isfinite(a_bn))):
        evidence = "non-finite speeds or accuracies in the BN net"
        return [Verdict("G6", "inconclusive", evidence, reason="guard: a non-finite speed")]
    iv_a, iv_b = mean_interval(spread, conf), paired_interval(a_bn, a_ref, conf)
    plain_w, plain_b = (spread_factor(plain[f"{m}_init"]) for m in ("weight", "bias"))
    evidence = (
        f"{cfg.depth} hidden sigmoid layers of {cfg.width} ({cfg.seeds} seeds, {metrics['data']}, "
        f"{cfg.epochs} epochs). Weight-based spread at init: plain ×{plain_w:.3g}, BatchNorm "
        f"×{10**iv_a.estimate:.3g} [×{10**iv_a.low:.3g}, ×{10**iv_a.high:.3g}]; bias-based (β for "
        f"BN): plain ×{plain_b:.3g}, BatchNorm ×{spread_factor(bn['bias_init']):.3g} (β's "
        "gradient is cancelled by the next BatchNorm), of which "
        f"×{spread_factor([r[:-1] for r in bn['bias_init']]):.3g} among all but the last layer. "
        f"Test accuracy: BatchNorm {100 * a_bn.mean():.1f} %, plain {100 * a_plain.mean():.1f} %, "
        f"{cfg.shallow}-layer {100 * a_ref.mean():.1f} %; paired Δ(BN − {cfg.shallow}-layer) "
        f"{iv_b.scaled(100):+.1f} pts (margin {100 * G6_RULE['margin']:.0f})."
    )
    if a_ref.mean() < G6_RULE["min_accuracy"]:
        reason = (
            f"guard: the {cfg.shallow}-layer reference reached {a_ref.mean():.2f} < "
            f"{G6_RULE['min_accuracy']}; a longer budget would train it"
        )
        return [Verdict("G6", "inconclusive", evidence, reason=reason)]
    parts = [decide(iv_a, G6_RULE["spread_log10"], above=False), decide(iv_b, -G6_RULE["margin"])]
    status = all_of(parts)
    reason = "an interval straddles its threshold; more seeds would narrow it"
    key = (
        f"weight spread ×{plain_w:.3g} → ×{10**iv_a.estimate:.3g}, "
        f"acc {100 * a_plain.mean():.0f} → {100 * a_bn.mean():.0f} %"
    )
    return [Verdict("G6", status, evidence, key, reason if status == "inconclusive" else "")]


def draw(metrics: Mapping[str, Any], cfg: G6Config, canvas: Canvas) -> None:
    arms, layers = metrics["arms"], np.arange(1, cfg.depth + 1)
    fig, axes = canvas.subplots(1, 3, figsize=(14, 3.8))
    for ax, when, title in zip(axes, WHEN, ("at initialisation", "after training"), strict=False):
        for label, color in (("sigmoid", "C0"), ("sigmoid + BatchNorm", "C1")):
            for m, style in (("weight", "o-"), ("bias", "s--")):
                profile = geometric_mean(arms[label][f"{m}_{when}"], axis=0)
                ax.semilogy(layers, profile, style, color=color, label=f"{label}, {m}")
        ax.set(xlabel="hidden layer", ylabel="learning speed", title=title)
    rows = []
    for label, arm in arms.items():
        curve = np.asarray(arm["epoch_losses"], float)
        axes[2].semilogy(np.arange(1, len(curve) + 1), curve.mean(axis=1), label=label)
        spreads = [f"{spread_factor(arm[f'{m}_{w}']):.3g}" for w in WHEN for m in MEASURES]
        pm = mean_sd_text(arm["accuracy"], scale=100)
        rows.append([label, *spreads, pm, arm["diverged"]])
    axes[2].set(xlabel="epoch", ylabel="training loss (mean over seeds)")
    for ax in axes:
        ax.legend(fontsize=7)
    canvas.save(
        fig,
        "batchnorm",
        "Per-layer learning speed (geometric mean over seeds), weight-based "
        "||∂C/∂W_l||/√n_in (solid) and bias-based ||∂C/∂b_l|| — BatchNorm's shift β in BN nets — "
        "(dashed), at initialisation and after training; right: training loss per epoch.",
    )
    canvas.table(
        "Spread of the layers' learning speeds (max/min, geometric mean over seeds) and accuracy",
        [
            "net",
            *(f"{m} speed, {w}" for w in WHEN for m in MEASURES),
            "test acc. (%)",
            "diverged copies",
        ],
        rows,
        caption="Bias speed ||∂C/∂b_l|| (||∂C/∂β_l|| in BN nets, small by construction for all "
        "but the last layer); weight speed ||∂C/∂W_l||_F/√n_in. Init N(0, 1/n_in), biases "
        f"N(0, 1); SGD lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}, "
        f"{cfg.epochs} epochs.",
    )


register("g6_batchnorm", G6Config, measure=measure, judge=judge, draw=draw)
