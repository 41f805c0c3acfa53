"""Learned against classical optical flow, side by side in one run (issue 12's targets).

On 1 CPU thread, for :class:`nndl.flow.PWCNetLite` (the shipped weights, or ``--weights``) and
:func:`nndl.flow.estimate_flow`, with the ablations of :func:`nndl.flow.flow_methods`
(single level; pyramid without warping) and the zero flow:

1. the held-out benchmark (:func:`nndl.flow.benchmark_pairs`: 24 pairs of 160 × 160 from
   photographs never used in training, affine / smooth / mixed / piecewise flows up to 12 px,
   with the photometric changes and noise of real pairs): mean end-point error (EPE), the share
   of pixels off by more than 3 px, and the EPE of every pyramid level (upsampled), coarse to
   fine; the same on the clean (unperturbed) pairs;
2. the Middlebury motorcycle pair read as optical flow (``u = −d``, ``v = 0`` where the ground
   truth exists), block-averaged ×2: EPE and share > 3 px;
3. the classical estimator under one photometric change at a time of the second image
   (offset +0.05, gain ×0.9, gamma 0.8, Gaussian noise σ = 0.01, blur σ = 1 px) on the clean
   benchmark pairs, beside the same estimator with its Lucas–Kanade refinement on raw
   intensities (``norm_sigma=0``, what it did before issue 12) and the zero flow;
4. inference time per 256 × 256 pair (a crop of ``camera``; process CPU time, minimum of
   ``--repeats`` after a warm-up) for both estimators, and their ratio.

The targets checked at the end (printed, and in the JSON): learned EPE below classical and
below half of zero flow on the perturbed benchmark, and per pyramid level at equal resolution
(each level's flow upsampled to full size; the network decodes at 1/16, 1/8 and 1/4 of the
input and upsamples its 1/4 flow by learned convex combinations; the classical estimator at
1/8 … 1 for 160-px pairs, so they share 1/8 and 1/4). The network is scored as
``PWCNetLite.predict`` runs it by default: the mean over the four flips of each pair.

Run: ``python benchmarks/flow.py [--weights PATH] [--json OUT.json]``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from nndl.data import load_stereo_motorcycle
from nndl.flow import (
    BENCHMARK_SETTINGS,
    PWCNetLite,
    benchmark_pairs,
    endpoint_error,
    estimate_flow,
    evaluate_flow,
    flow_methods,
    format_scores,
    load_pwc,
    make_flow_pairs,
    stereo_pair_as_flow,
)
from nndl.flow._filters import gaussian_blur


def _timing(model: PWCNetLite, repeats: int) -> dict[str, float]:
    pair = make_flow_pairs(
        1,
        (256, 256),
        max_flow=8.0,
        images=("camera",),
        factor=1,
        source_scale=1.0,
        generator=torch.Generator().manual_seed(0),
    )
    a, b = pair.img1, pair.img2
    out = {}
    for name, fn in (
        ("classical", lambda: estimate_flow(a, b)),
        ("pwc", lambda: model.predict(a, b)),
    ):
        fn()  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.process_time()
            fn()
            best = min(best, time.process_time() - t0)
        out[name] = best
    out["classical / pwc"] = out["classical"] / out["pwc"]
    return out


def _scores(scores: dict) -> dict:
    return {
        name: {
            "epe": s.epe,
            "bad_3px": s.bad_3px,
            "cpu_seconds_per_pair": s.cpu_seconds_per_pair,
            "level_epe": s.level_epe,
            "level_scale": s.level_scale,
        }
        for name, s in scores.items()
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", help="PWCNetLite checkpoint (default: the shipped weights)")
    parser.add_argument("--pairs", type=int, default=BENCHMARK_SETTINGS.n)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_pwc(args.weights) if args.weights else PWCNetLite.pretrained()
    methods = flow_methods(model)
    result: dict = {"threads": torch.get_num_threads(), "weights": args.weights or "shipped"}

    for label, photometric in (("perturbed", True), ("clean", False)):
        pairs = benchmark_pairs(args.pairs, photometric=photometric)
        scores = evaluate_flow(pairs.img1, pairs.img2, pairs.flow, methods)
        result[f"benchmark_{label}"] = _scores(scores)
        print(f"\nheld-out benchmark, {label}: {len(pairs)} pairs of {pairs.img1.shape[-1]} px")
        print("\n".join(format_scores(scores)))

    clean = benchmark_pairs(args.pairs, photometric=False)
    zero_epe = endpoint_error(torch.zeros_like(clean.flow), clean.flow)
    g = torch.Generator().manual_seed(0)
    changes = {
        "none": lambda x: x,
        "offset +0.05": lambda x: x + 0.05,
        "gain x0.9": lambda x: x * 0.9,
        "gamma 0.8": lambda x: x.clamp(0, 1) ** 0.8,
        "noise 0.01": lambda x: x + 0.01 * torch.randn(x.shape, generator=g),
        "blur 1 px": lambda x: gaussian_blur(x, 1.0),
    }
    robust = {}
    print(f"\nclassical under one photometric change (zero flow {zero_epe:.3f} px)")
    for change, fn in changes.items():
        img2 = fn(clean.img2)
        row = {
            "normalised LK": endpoint_error(estimate_flow(clean.img1, img2), clean.flow),
            "raw LK": endpoint_error(estimate_flow(clean.img1, img2, norm_sigma=0), clean.flow),
        }
        robust[change] = row
        print(
            f"{change:>13}: EPE {row['normalised LK']:.3f} px "
            f"(raw-intensity LK {row['raw LK']:.3f})"
        )
    result["classical_photometric"] = {"zero": zero_epe, **robust}

    pair = load_stereo_motorcycle()
    a, b, flow = stereo_pair_as_flow(pair.left, pair.right, pair.disparity, 2)
    real = evaluate_flow(a, b, flow, {k: methods[k] for k in ("zero", "classical", "pwc")})
    result["motorcycle"] = _scores(real)
    print(f"\nmotorcycle as flow (u = -d), {a.shape[-1]}×{a.shape[-2]}, pixels with ground truth")
    print("\n".join(format_scores(real)))

    timing = _timing(model, args.repeats)
    result["seconds_per_256px_pair"] = timing
    print(
        f"\n256×256 pair, 1 thread (CPU time): classical {timing['classical'] * 1000:.0f} ms, "
        f"pwc {timing['pwc'] * 1000:.0f} ms, ratio classical/pwc {timing['classical / pwc']:.1f}"
    )

    bench = result["benchmark_perturbed"]
    learned, classical, zero = bench["pwc"], bench["classical"], bench["zero"]
    # pyramid levels compared at equal resolution (each level's flow upsampled to full size)
    per_level = {}
    for scale, epe in zip(learned["level_scale"], learned["level_epe"], strict=True):
        for c_scale, c_epe in zip(classical["level_scale"], classical["level_epe"], strict=True):
            if abs(c_scale - scale) <= 0.1 * scale:
                per_level[f"1/{round(1 / scale)}"] = {
                    "pwc": epe,
                    "classical": c_epe,
                    "pwc_below_classical": epe < c_epe,
                }
    targets = {
        "pwc_below_classical": learned["epe"] < classical["epe"],
        "pwc_below_half_zero": learned["epe"] < 0.5 * zero["epe"],
        "per_level_at_equal_resolution": per_level,
    }
    result["targets"] = targets
    print(f"\ntargets: {targets}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return result


if __name__ == "__main__":
    main()
