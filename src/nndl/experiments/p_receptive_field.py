r"""P3: pooling enlarges the receptive field of later units — computed, then checked by gradients.

A 3 × 3 convolution adds :math:`2 j` pixels to the field (:math:`j`, the jump, is the product of
the strides before it); a 2 × 2 pooling adds :math:`j` and doubles the jump, so the field grows
geometrically with pooling and linearly without. ``nndl.analysis.check_receptive_fields``
computes this for the same CNN with max pooling, average pooling, stride-2 convolutions and no
downsampling, and checks every analytic box against the gradient support of the centre unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from nndl.analysis import check_receptive_fields, sequential_layers
from nndl.nn import cnn

from . import Canvas, ConfigError, Context, Verdict, register, rule

_COLOURS = {"max": "C0", "avg": "C1", "none": "C3", "stride": "C2"}


@dataclass
class P3Config:
    variants: tuple[str, ...] = ("max", "avg", "none", "stride")
    channels: tuple[int, ...] = (8, 8, 8, 8)
    kernel_size: int = 3
    image_size: int = 48
    n_samples: int = 8

    def __post_init__(self) -> None:
        missing = {"max", "avg", "none"} - set(self.variants)
        if missing:
            raise ConfigError(f"variants must include max, avg and none; missing {sorted(missing)}")


P3_RULE = rule("p3_receptive_field", "P3")


def measure(cfg: P3Config, ctx: Context) -> dict[str, Any]:
    """Analytic field per block and the gradient support of its centre unit, per variant."""
    shape, gen, n = (1, cfg.image_size, cfg.image_size), ctx.generator(3), len(cfg.channels)
    out: dict[str, Any] = {"size": {}, "jump": {}, "empirical": {}, "mismatches": []}
    for pool in ctx.track(cfg.variants, "P3 variants"):
        torch.manual_seed(ctx.seed)
        model = cnn(1, 10, cfg.image_size, cfg.channels, cfg.kernel_size, pool=pool)
        names = {name for name, _ in sequential_layers(model)}
        blocks = [f"pool{i}" if f"pool{i}" in names else f"act{i}" for i in range(1, n + 1)]
        checks = check_receptive_fields(
            model, shape, blocks, n_samples=cfg.n_samples, generator=gen
        )
        for key, attr in (("size", "size"), ("jump", "jump"), ("empirical", "empirical_size")):
            out[key][pool] = [getattr(c, attr)[0] for c in checks]  # one axis (square images)
        out["mismatches"] += [
            f"{pool}/{c.layer}: gradient {c.empirical} vs analytic {c.analytic}"
            for c in checks
            if not c.matches
        ]
    out["layers_checked"] = len(cfg.variants) * len(cfg.channels)
    return out


def judge(metrics: Mapping[str, Any], cfg: P3Config) -> list[Verdict]:
    """P3 by :data:`P3_RULE`: exact comparison of the last block's fields."""
    size, mismatches = metrics["size"], list(metrics["mismatches"])
    checked = metrics["layers_checked"]
    last = {p: sizes[-1] for p, sizes in size.items()}
    grows = all(last[p] > last["none"] for p in ("max", "avg"))
    holds = grows and (None if mismatches else True)  # a mismatch voids the comparison
    evidence = (
        f"Receptive field after block {len(size['none'])}: "
        + ", ".join(f"{p} {v} px" for p, v in last.items())
        + f"; per block, max pooling {size['max']} vs no pooling {size['none']}. The analytic "
        f"box equals the gradient support in {checked - len(mismatches)}/{checked} layers."
        + (" Mismatches: " + "; ".join(mismatches) if mismatches else "")
    )
    reason = "the gradient check disagrees with the recurrence" if holds is None else ""
    key = f"{last['max']} vs {last['none']} px"
    return [Verdict.from_check("P3", holds, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: P3Config, canvas: Canvas) -> None:
    """Field size per block (log2 axis): lines analytic, crosses from the gradient."""
    size, jump = metrics["size"], metrics["jump"]
    fig, ax = canvas.subplots(figsize=(6, 4))
    depth = list(range(1, len(size["none"]) + 1))
    for p, sizes in size.items():
        ax.plot(depth, sizes, "o-", color=_COLOURS.get(p, "C7"), label=f"{p} (analytic)")
        ax.plot(depth, metrics["empirical"][p], "x", color=_COLOURS.get(p, "C7"), markersize=10)
    ax.set(xlabel="block (conv + activation + pooling)", ylabel="receptive field (px, one axis)")
    ax.set_yscale("log", base=2)
    ax.set_xticks(depth)
    ax.legend(fontsize=8, title="× = gradient support")
    canvas.save(
        fig,
        "receptive_field_growth",
        "Receptive-field size per block: lines from the recurrence r ← r + (k−1)·j, crosses "
        "from the support of the centre unit's input gradient (clipped to the image).",
    )
    rows = [[d, *(f"{size[p][i]} / {jump[p][i]}" for p in size)] for i, d in enumerate(depth)]
    canvas.table("Receptive field per block (size / jump, px)", ["block", *size], rows)
    canvas.notes = (
        "Each layer adds (k − 1)·j pixels, where the jump j is the product of the strides before "
        "it. Pooling (or a strided convolution) doubles j, so later convolutions grow the field "
        "geometrically instead of by k − 1 pixels per layer."
    )


register("p3_receptive_field", P3Config, measure=measure, judge=judge, draw=draw)
