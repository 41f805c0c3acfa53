r"""P3: pooling enlarges the receptive field of later units — computed, then checked by gradients.

For a chain of layers with kernel :math:`k_l` and stride :math:`s_l`, the receptive field
:math:`r` of a unit and the *jump* :math:`j` (input pixels between neighbouring units) follow

.. math:: r_l = r_{l-1} + (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l,
          \qquad r_0 = j_0 = 1.

A 3 × 3 convolution adds :math:`2 j` pixels; a 2 × 2 pooling (stride 2) adds :math:`j` and doubles
the jump, so every later convolution adds twice as much: the field grows geometrically with
pooling and linearly without. ``nndl.analysis.receptive_field`` computes this for the same CNN
with max pooling, average pooling, stride-2 convolutions and no downsampling, and
``nndl.analysis.gradient_support`` checks every analytic box against the pixels where the centre
unit's input gradient is non-zero (united over random inputs). Nothing here is random in
outcome: the verdict is exact, and the gradient check guards the computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from nndl.analysis import gradient_support, receptive_field
from nndl.nn import cnn

from .context import Canvas, Context
from .registry import register
from .result import Status, Verdict
from .rules import Rule

VARIANTS: tuple[str, ...] = ("max", "avg", "none", "stride")
_COLOURS = {"max": "C0", "avg": "C1", "none": "C3", "stride": "C2"}


@dataclass
class P3Config:
    variants: tuple[str, ...] = VARIANTS
    channels: tuple[int, ...] = (8, 8, 8, 8)
    kernel_size: int = 3
    image_size: int = 48
    n_samples: int = 8

    def __post_init__(self) -> None:
        from .config import ConfigError

        missing = {"max", "avg", "none"} - set(self.variants)
        if missing:
            raise ConfigError(f"variants must include max, avg and none; missing {sorted(missing)}")


P3_RULE = Rule(
    claim="P3",
    statistic=(
        "receptive-field size (pixels, one axis) of the units after the last conv block, from "
        "the recurrence r ← r + (k − 1)·j, j ← j·s, for the same CNN with max, average and no "
        "pooling; every block's analytic box compared with the support of the centre unit's "
        "input gradient"
    ),
    holds="max- and average-pooled fields are larger than the unpooled one and every box matches",
    does_not_hold="a pooled field is not larger than the unpooled one",
    inconclusive="an analytic box differs from its gradient support (the computation is in doubt)",
    seeds="1 (exact; the gradient check uses n_samples random inputs)",
    rationale="the field is a deterministic function of the architecture; the gradient support is "
    "an independent measurement of the same quantity",
    params={},
)


def measure(cfg: P3Config, ctx: Context) -> dict[str, Any]:
    """Analytic field per block and the gradient support of its centre unit, per variant."""
    shape = (1, cfg.image_size, cfg.image_size)
    gen = ctx.generator(3)
    out: dict[str, Any] = {"size": {}, "jump": {}, "empirical": {}, "mismatches": []}
    for pool in ctx.track(cfg.variants, "P3 variants"):
        torch.manual_seed(ctx.seed)
        model = cnn(
            1, 10, cfg.image_size, channels=cfg.channels, kernel_size=cfg.kernel_size, pool=pool
        )
        layers = {r.name: r for r in receptive_field(model, shape)}
        blocks = [
            layers.get(f"pool{i}") or layers[f"act{i}"] for i in range(1, len(cfg.channels) + 1)
        ]
        out["size"][pool] = [b.size[0] for b in blocks]
        out["jump"][pool] = [b.jump[0] for b in blocks]
        out["empirical"][pool] = []
        for b in blocks:
            centre = tuple(n // 2 for n in b.output_size)
            support = gradient_support(
                model, shape, b.name, centre, n_samples=cfg.n_samples, generator=gen
            )
            analytic = b.box(centre, shape[1:])
            out["empirical"][pool].append(support[0][1] - support[0][0] + 1)
            if tuple(map(tuple, support)) != tuple(map(tuple, analytic)):
                out["mismatches"].append(
                    f"{pool}/{b.name}: gradient {support} vs analytic {analytic}"
                )
    out["layers_checked"] = len(cfg.variants) * len(cfg.channels)
    return out


def judge(metrics: Mapping[str, Any], cfg: P3Config) -> list[Verdict]:
    """P3 by :data:`P3_RULE`: exact comparison of the last block's fields."""
    last = {p: sizes[-1] for p, sizes in metrics["size"].items()}
    larger = all(last[p] > last["none"] for p in ("max", "avg"))
    mismatches = list(metrics["mismatches"])
    checked = metrics["layers_checked"]
    if not larger:
        status: Status = "does not hold"
    elif mismatches:
        status = "inconclusive"
    else:
        status = "holds"
    evidence = (
        f"Receptive field after block {len(metrics['size']['none'])}: "
        + ", ".join(f"{p} {v} px" for p, v in last.items())
        + f"; per block, max pooling {metrics['size']['max']} vs no pooling "
        f"{metrics['size']['none']}. The analytic box equals the gradient support in "
        f"{checked - len(mismatches)}/{checked} layers."
        + (" Mismatches: " + "; ".join(mismatches) if mismatches else "")
    )
    reason = "the gradient check disagrees with the recurrence" if status == "inconclusive" else ""
    key = f"{last['max']} vs {last['none']} px"
    return [Verdict("P3", status, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: P3Config, canvas: Canvas) -> None:
    """Field size per block (log2 axis): lines analytic, crosses from the gradient."""
    fig, ax = canvas.subplots(figsize=(6, 4))
    depth = list(range(1, len(metrics["size"]["none"]) + 1))
    for p, sizes in metrics["size"].items():
        ax.plot(depth, sizes, "o-", color=_COLOURS.get(p, "C7"), label=f"{p} (analytic)")
        ax.plot(depth, metrics["empirical"][p], "x", color=_COLOURS.get(p, "C7"), markersize=10)
    ax.set_xlabel("block (conv + activation + pooling)")
    ax.set_ylabel("receptive field (px, one axis)")
    ax.set_yscale("log", base=2)
    ax.set_xticks(depth)
    ax.legend(fontsize=8, title="× = gradient support")
    canvas.save(
        fig,
        "receptive_field_growth",
        "Receptive-field size per block: lines from the recurrence r ← r + (k−1)·j, crosses "
        "from the support of the centre unit's input gradient (clipped to the image).",
    )
    canvas.table(
        "Receptive field per block (size / jump, px)",
        ["block", *metrics["size"]],
        [
            [d, *(f"{metrics['size'][p][i]} / {metrics['jump'][p][i]}" for p in metrics["size"])]
            for i, d in enumerate(depth)
        ],
    )
    canvas.notes = (
        "Each layer adds (k − 1)·j pixels, where the jump j is the product of the strides before "
        "it. Pooling (or a strided convolution) doubles j, so later convolutions grow the field "
        "geometrically instead of by k − 1 pixels per layer."
    )


register(
    "p3_receptive_field",
    claims=("P3",),
    title="Pooling enlarges the receptive field of later units (analytic and gradient support)",
    config=P3Config,
    presets={
        "tiny": {"channels": (4, 4, 4), "image_size": 24, "n_samples": 4},
        "quick": {},
        "full": {"channels": (8, 8, 8, 8, 8), "image_size": 96, "n_samples": 16},
    },
    rules=(P3_RULE,),
    measure=measure,
    judge=judge,
    draw=draw,
    notes="The recurrence r ← r + (k − 1)·j gives every layer's field exactly; a gradient "
    "probe confirms it.",
)
