r"""C1, C2: the cosine cost volume on a real photograph.

With every pixel's feature vector L2-normalised, the cost volume's dot product is a cosine
similarity, bounded by Cauchy–Schwarz to :math:`[-1, 1]` and equal to 1 for identical vectors;
a window of displacements :math:`\delta \in [-d, d]^2` gives :math:`(2d+1)^2` channels (C2).
Because the features of a shifted image are the shifted features, the channel of the true
displacement compares each vector with its own copy and scores highest; after warping image 2
by a flow that is off by a residual :math:`r`, the peak moves to :math:`r` — the cost volume
matches "features of image 2 warped by the current flow" (C1; ``nndl.flow.translation_scores``
reads both peaks). Both are measured on skimage's camera photograph shifted by whole pixels, for
zero-mean patch features (ZNCC) and for a random, untrained convolution.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import torch
import torch.nn.functional as F

from nndl.flow import load_source_image, patch_features, translation_scores
from nndl.ops import cost_volume

from . import Canvas, Context, Range, Verdict, as_float, register, rule

SHIFTS = ((0, 0), (3, -2), (-4, 1), (2, 4), (-1, -3))
C1_RULE, C2_RULE = rule("c2_cosine_cost_volume", "C1"), rule("c2_cosine_cost_volume", "C2")


@dataclass
class CosineConfig:
    image: str = "camera"
    factor: int = 4
    max_displacement: int = 4
    shifts: Annotated[tuple[tuple[int, int], ...], Range(-64, 64)] = SHIFTS
    residual: Annotated[tuple[int, int], Range(-8, 8)] = (1, -1)
    patch_size: int = 5
    conv_channels: int = 16
    random_batch: int = 4
    random_channels: int = 32
    random_size: int = 24
    channel_counts: Annotated[tuple[int, ...], Range(0)] = (0, 1, 2, 3, 4, 5)


def _histogram(volume: torch.Tensor) -> list[float]:
    return torch.histc(volume.float(), bins=80, min=-1.0, max=1.0).tolist()


def measure(cfg: CosineConfig, ctx: Context) -> dict[str, Any]:
    gen, d = ctx.generator(), cfg.max_displacement
    # C2 on random float64 features: range, self-similarity and channel counts
    shape = (cfg.random_batch, cfg.random_channels, cfg.random_size, cfg.random_size)
    f, g = (torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(2))
    cv = cost_volume(f, g, d, normalize="l2", reduction="sum")
    self_cv = cost_volume(f, f, d, normalize="l2", reduction="sum")[:, d * (2 * d + 1) + d]
    small = (f[:1, :4, :8, :8], g[:1, :4, :8, :8])
    metrics = {
        "random_min": float(cv.min()),
        "random_max": float(cv.max()),
        "identical_max_deviation": float((self_cv - 1).abs().max()),
        "channels": {str(dd): int(cost_volume(*small, dd).shape[1]) for dd in cfg.channel_counts},
        "random_histogram": _histogram(cv),
    }
    conv = torch.randn(cfg.conv_channels, 1, 5, 5, generator=gen) / 5.0
    p, c = cfg.patch_size, cfg.conv_channels  # C1: the shifted photograph, two feature types
    extractors = {
        f"ZNCC {p}×{p} patches": lambda x: patch_features(x, p),
        f"random conv ({c}×5×5, ReLU)": lambda x: F.relu(F.conv2d(x, conv, padding=2)),
    }
    source = load_source_image(cfg.image)
    margin = cfg.factor * (max(max(abs(u), abs(v)) for u, v in cfg.shifts) + 1)
    scores = partial(  # pixels next to the border see zero padding: border d + p
        translation_scores, residual=cfg.residual, factor=cfg.factor, margin=margin, border=d + p
    )
    cases, lo, hi = [], float("inf"), float("-inf")
    for feature, extract in extractors.items():
        for u, v in ctx.track(cfg.shifts, f"C2 shifts ({feature.split()[0]})"):
            s, w = scores(source, (u, v), extract, d)
            lo, hi = min(lo, float(s.volume.min())), max(hi, float(s.volume.max()))
            case = {"features": feature, "shift": [u, v], "peak_after_warp": list(w.peak)}
            cases.append({**case, **s.summary((u, v))})
    metrics.update(photo_min=lo, photo_max=hi, cases=cases)
    return {**metrics, "photo_histogram": _histogram(s.volume)}


def judge(metrics: Mapping[str, Any], cfg: CosineConfig) -> list[Verdict]:
    lo = min(as_float(metrics["random_min"]), as_float(metrics["photo_min"]))
    hi = max(as_float(metrics["random_max"]), as_float(metrics["photo_max"]))
    dev, tol = as_float(metrics["identical_max_deviation"]), C2_RULE["tol"]
    counts = {int(k): v for k, v in metrics["channels"].items()}
    counts_ok = all(c == (2 * d + 1) ** 2 for d, c in counts.items())
    c2 = lo >= -1 - tol and hi <= 1 + tol and dev <= tol and counts_ok
    c2_text = (
        f"L2-normalised entries ranged over [{lo:.4f}, {hi:.4f}]; identical vectors scored 1 "
        f"within {dev:.1e}; channels for d = {', '.join(map(str, counts))} were "
        f"{', '.join(map(str, counts.values()))}{'' if counts_ok else ' (not (2d+1)²)'}."
    )
    cases, res = metrics["cases"], list(cfg.residual)
    peak = sum(c["peak"] == c["shift"] for c in cases) / len(cases)
    warped = sum(c["peak_after_warp"] == res for c in cases) / len(cases)
    worst, low, high = min(peak, warped), C1_RULE["max_failing_share"], C1_RULE["min_share"]
    holds = True if worst >= high else False if worst < low else None
    hits = sum(c["pixel_hit_rate"] for c in cases) / len(cases)
    c1_text = (
        f"In {len(cases)} shifted-photo cases the mean cost-volume score peaked at the true "
        f"displacement in {100 * peak:.0f} % and, after warping image 2 by a flow off by "
        f"{tuple(res)}, at that residual in {100 * warped:.0f} %; per pixel, winner-take-all hit "
        f"the true displacement at {100 * hits:.0f} % of interior pixels."
    )
    reason = (
        f"the lower share {100 * worst:.0f} % lies between {100 * low:.0f} % and "
        f"{100 * high:.0f} %; more shifts (the full preset) would settle it"
    )
    c1_key = f"peak {100 * peak:.0f} %, warp {100 * warped:.0f} %"
    return [
        Verdict.from_check("C1", holds, c1_text, c1_key, reason if holds is None else ""),
        Verdict.from_check("C2", c2, c2_text, key=f"range [{lo:.2f}, {hi:.2f}], dev {dev:.0e}"),
    ]


def draw(metrics: Mapping[str, Any], cfg: CosineConfig, canvas: Canvas) -> None:
    d = cfg.max_displacement
    zncc = [c for c in metrics["cases"] if c["features"].startswith("ZNCC")]
    fig, axes = canvas.subplots(1, len(zncc), figsize=(2.6 * len(zncc), 2.8), squeeze=False)
    for ax, case in zip(axes[0], zncc, strict=True):
        u, v = case["shift"]
        extent = (-d - 0.5, d + 0.5, d + 0.5, -d - 0.5)
        im = ax.imshow(case["mean_map"], cmap="viridis", vmin=-0.2, vmax=1.0, extent=extent)
        ax.plot([u], [v], "r+", markersize=14, markeredgewidth=2)
        ax.set_title(f"true shift ({u}, {v})", fontsize=9)
        ax.set_xlabel("dx")
    axes[0, 0].set_ylabel("dy")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="mean cosine")
    text = f"Mean cosine (ZNCC of {cfg.patch_size}×{cfg.patch_size} patches) of each of the "
    text += f"(2d+1)² = {(2 * d + 1) ** 2} channels as a grid over (dx, dy), for {cfg.image}"
    canvas.save(fig, "cost_volume_peaks", f"{text} shifted by the red cross.")
    fig, ax = canvas.subplots(figsize=(5.5, 3.2))
    centres = torch.linspace(-1, 1, 81).unfold(0, 2, 1).mean(1).tolist()  # of the 80 bins
    for key, label in (("random_histogram", "random features"), ("photo_histogram", "photo")):
        counts = torch.tensor(metrics[key])
        ax.plot(centres, (counts / counts.sum()).tolist(), label=label)
    for x in (-1, 1):
        ax.axvline(x, color="k", linestyle=":")
    ax.set_xlabel("cost-volume entry (cosine similarity)")
    ax.legend(fontsize=8)
    canvas.save(fig, "cosine_range", "Distribution of cost-volume entries; dotted: ±1.")
    keys = ("features", "shift", "peak", "mean_cos_true", "second_best", "pixel_hit_rate")
    rows = [[*map(c.get, keys), c["peak_after_warp"]] for c in metrics["cases"]]
    head = ["features", "true (dx, dy)", "peak", "mean cos at true", "2nd best", "pixel hit rate"]
    canvas.table(
        "Cost-volume peak on a shifted photograph",
        [*head, f"peak after warp (residual {tuple(cfg.residual)})"],
        [[tuple(v) if isinstance(v, list) else v for v in row] for row in rows],
        caption=f"{cfg.image}, downsampled ×{cfg.factor}, d = {d}; interior pixels.",
    )


register("c2_cosine_cost_volume", CosineConfig, measure=measure, judge=judge, draw=draw)
