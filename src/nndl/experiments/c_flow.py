r"""C3: pyramid + warping + cost volume estimate optical flow coarse to fine.

A cost volume searches displacements :math:`\delta \in [-d, d]^2` only, so one level of it cannot
find a flow larger than :math:`d`. PWC-Net's answer is a pyramid: at the coarsest level a
displacement of :math:`2^{L}d` pixels is within reach; each finer level upsamples the flow,
**warps** the second image's features by it, and searches only the residual (without warping it
would search the whole displacement again). The claim is tested by ablation, for the
training-free :func:`nndl.flow.estimate_flow` and the learned :class:`nndl.flow.PWCNetLite`
(shipped weights), on held-out pairs (unseen photographs, flows up to 12 px, the photometric
changes of real camera pairs): the full design against a single-level search and against the
pyramid without warping, on the same pairs in the same run. At full scale the network is also
retrained from scratch with the shipped recipe (:func:`nndl.flow.retrain_pwc`) and its
validation curve is drawn beside the shipped model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nndl.analysis import decide, paired_interval
from nndl.data import load_stereo_motorcycle
from nndl.flow import (
    PWC_RECIPE,
    FlowPairs,
    PWCNetLite,
    as_uint8,
    benchmark_pairs,
    evaluate_flow,
    flow_methods,
    flow_picture,
    retrain_pwc,
    stereo_pair_as_flow,
)

from . import Canvas, Context, Status, Verdict, as_float, register, rule

C3_RULE = rule("c3_coarse_to_fine_flow", "C3")


@dataclass
class FlowConfig:
    pairs: int = 8
    motorcycle_downsample: int = 2
    retrain: bool = False
    retrain_epochs: int = PWC_RECIPE.epochs  # the shipped recipe (nndl.flow.PWC_RECIPE)
    retrain_pairs: int = PWC_RECIPE.pairs


def measure(cfg: FlowConfig, ctx: Context) -> dict[str, Any]:
    pairs = benchmark_pairs(cfg.pairs)
    methods = flow_methods(PWCNetLite.pretrained())
    scores = evaluate_flow(pairs.img1, pairs.img2, pairs.flow, methods)
    largest = pairs.flow.norm(dim=1).flatten(1).max(1).values
    moto, ds = load_stereo_motorcycle(), cfg.motorcycle_downsample
    a, b, true = stereo_pair_as_flow(moto.left, moto.right, moto.disparity, downsample=ds)
    real = evaluate_flow(a, b, true, {k: methods[k] for k in ("zero", "classical", "pwc")})
    for name in ("classical", "pwc"):  # the first pair, for the figure
        flow = methods[name](pairs.img1[:1], pairs.img2[:1])[0]
        ctx.save_array(f"example_{name}", flow_picture(flow[0], max_flow=12.0))
    ctx.save_array("example_truth", flow_picture(pairs.flow[0], max_flow=12.0))
    ctx.save_array("example_image", as_uint8(pairs.img1[0]))
    metrics: dict[str, Any] = {
        "scores": {name: vars(s) for name, s in scores.items()},
        "motorcycle": {name: vars(s) for name, s in real.items()},
        "largest_flow": largest.tolist(),
        "share_beyond_radius": float((largest > C3_RULE["search_radius"]).double().mean()),
        "kinds": list(pairs.kinds),
    }
    if cfg.retrain:
        metrics["retrain"] = _retrain(cfg, ctx, pairs)
    return metrics


def _retrain(cfg: FlowConfig, ctx: Context, pairs: FlowPairs) -> dict[str, Any]:
    """Train from scratch with the shipped recipe (fewer epochs/pairs only if the config says)."""
    out, epochs = ctx.out_dir / "pwc_retrain", cfg.retrain_epochs
    model, history = retrain_pwc(pairs=cfg.retrain_pairs, epochs=epochs, checkpoint_dir=out)
    method = flow_methods(model, ablations=False, zero=False)["pwc"]
    fresh = evaluate_flow(pairs.img1, pairs.img2, pairs.flow, {"retrained": method})
    return {"val_epe": [h["val_epe"] for h in history], "epe": fresh["retrained"].epe}


def judge(metrics: Mapping[str, Any], cfg: FlowConfig) -> list[Verdict]:
    scores, conf = metrics["scores"], C3_RULE["confidence"]
    decisions, parts = [], []
    for family in ("classical", "pwc"):
        epe, full = as_float(scores[family]["epe"]), scores[family]["per_pair_epe"]
        for what in ("single-level", "no-warping", "zero flow"):
            other = scores["zero" if what == "zero flow" else f"{family} {what}"]
            iv = paired_interval(other["per_pair_epe"], full, conf)
            decisions.append(decide(iv, 0.0, above=True))
            gain = f"gain {iv.estimate:.2f} px [{iv.low:.2f}, {iv.high:.2f}]"
            parts.append(f"{family} vs {what}: EPE {epe:.2f} px, {gain}")
    share, reason = as_float(metrics["share_beyond_radius"]), ""
    status: Status = "inconclusive"
    if share < C3_RULE["min_share_beyond_radius"]:
        reason = f"guard: only {100 * share:.0f} % of the pairs have flows beyond d = 4"
    elif "does not hold" in decisions:
        status = "does not hold"
    elif all(d == "holds" for d in decisions):
        status = "holds"
    else:
        reason = "an interval straddles 0; more benchmark pairs (the full preset) would settle it"
    c, p, z = (as_float(scores[k]["epe"]) for k in ("classical", "pwc", "zero"))
    evidence = (
        f"On {len(scores['zero']['per_pair_epe'])} held-out pairs ({100 * share:.0f} % with flows "
        f"beyond the search radius): " + "; ".join(parts) + f". Learned {p:.2f} px vs "
        f"classical {c:.2f} px vs zero flow {z:.2f} px."
    )
    key = f"EPE pwc {p:.2f}, classical {c:.2f}, zero {z:.2f} px"
    return [Verdict("C3", status, evidence, key=key, reason=reason)]


def draw(metrics: Mapping[str, Any], cfg: FlowConfig, canvas: Canvas) -> None:
    scores = metrics["scores"]
    fig, axes = canvas.subplots(1, 5, figsize=(15, 3.2))
    for ax, key in zip(axes[:4], ("image", "truth", "classical", "pwc"), strict=True):
        title = {"image": "image 1 (held out)", "truth": "true flow"}.get(key, key)
        canvas.image(ax, canvas.array(f"example_{key}"), title)
    for name, s in scores.items():
        if s["level_epe"]:
            axes[4].plot(range(1, len(s["level_epe"]) + 1), s["level_epe"], marker="o", label=name)
    axes[4].axhline(as_float(scores["zero"]["epe"]), color="k", linestyle=":", label="zero flow")
    axes[4].set_xlabel("pyramid level (coarse → fine)")
    axes[4].set_ylabel("EPE (px)")
    axes[4].legend(fontsize=6)
    text = "A held-out pair, both estimators' flows (colour wheel), and the end-point error of"
    canvas.save(fig, "flow", f"{text} every pyramid level's flow for each method and ablation.")
    if "retrain" in metrics:
        fig, ax = canvas.subplots(figsize=(5, 3))
        val = metrics["retrain"]["val_epe"]
        ax.plot(range(1, len(val) + 1), val, marker="o", label="retrained from scratch (val)")
        ax.axhline(as_float(scores["pwc"]["epe"]), color="C1", label="shipped weights (benchmark)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("EPE (px)")
        ax.legend(fontsize=8)
        canvas.save(fig, "retrain", "Validation EPE of a fresh retrain with the shipped recipe.")
    head = ["method", "EPE (px)", "> 3 px", "ms / pair (CPU)"]

    def cells(s: Mapping[str, Any]) -> list[Any]:
        return [s["epe"], s["bad_3px"], 1000 * as_float(s["cpu_seconds_per_pair"])]

    levels = {n: " → ".join(f"{e:.2f}" for e in s["level_epe"]) or "—" for n, s in scores.items()}
    rows = [[n, *cells(s), levels[n]] for n, s in scores.items()]
    canvas.table("Held-out synthetic pairs", [*head, "EPE per level, coarse → fine"], rows)
    canvas.table(
        "Middlebury motorcycle as flow (u = −d, v = 0 where ground truth exists)",
        head,
        [[n, *cells(s)] for n, s in metrics["motorcycle"].items()],
    )


register("c3_coarse_to_fine_flow", FlowConfig, measure=measure, judge=judge, draw=draw)
