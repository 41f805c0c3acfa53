"""``nndl flow``, ``nndl stereo`` and ``nndl train pwc``: optical flow and stereo on image files."""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from .._io import atomic_write, check_output_file
from .._validation import ValidationError

__all__ = ["register"]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _write_png(path: str, rgb: torch.Tensor) -> Path:
    """Write a Tensor[3, H, W] in [0, 1] as an 8-bit PNG (:func:`nndl.data.save_image`)."""
    from ..data import save_image

    return save_image(path, rgb)


def _write_npy(path: str, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _check_png(path: str, option: str) -> None:
    if Path(path).suffix.lower() != ".png":
        raise ValidationError(f"{option} must be a .png file, got {path!r}")


def _flow(args: argparse.Namespace) -> int:
    from ..data import load_image
    from ..flow import PWCNetLite, estimate_flow, flow_to_color, load_pwc

    _check_png(args.out, "--out")
    check_output_file(args.out, name="--out")
    if args.npy:
        check_output_file(args.npy, name="--npy")
    if args.method != "pwc" and args.checkpoint:
        raise ValidationError("--checkpoint is only used with --method pwc")
    if args.max_flow is not None and not (math.isfinite(args.max_flow) and args.max_flow > 0):
        raise ValidationError(f"--max-flow must be a finite number > 0, got {args.max_flow}")
    img1, img2 = load_image(args.img1), load_image(args.img2)
    if img1.shape != img2.shape:
        raise ValidationError(
            f"IMG1 and IMG2 must have the same size, got {img1.shape[2]}×{img1.shape[1]} "
            f"({args.img1}) and {img2.shape[2]}×{img2.shape[1]} ({args.img2})"
        )
    model = None
    if args.method == "pwc":
        model = load_pwc(args.checkpoint) if args.checkpoint else PWCNetLite.pretrained()
    start = time.perf_counter()
    if model is not None:
        flow = model.predict(img1, img2)
        assert isinstance(flow, torch.Tensor)
    else:
        flow = estimate_flow(img1, img2, levels=args.levels, max_displacement=args.max_displacement)
        assert isinstance(flow, torch.Tensor)
    seconds = time.perf_counter() - start
    _write_png(args.out, flow_to_color(flow, max_flow=args.max_flow))
    if args.npy:
        _write_npy(args.npy, flow.numpy().astype(np.float32))
    magnitude = flow.pow(2).sum(0).sqrt()
    console = _console()
    console.print(
        f"flow {args.method}: {flow.shape[2]}×{flow.shape[1]} pixels in {seconds:.2f} s; "
        f"mean |flow| {float(magnitude.mean()):.2f} px, max {float(magnitude.max()):.2f} px, "
        f"mean (u, v) = ({float(flow[0].mean()):.2f}, {float(flow[1].mean()):.2f})"
    )
    console.print(
        f"colour image → {args.out}" + (f"; flow (2, H, W) → {args.npy}" if args.npy else "")
    )
    return 0


def _stereo(args: argparse.Namespace) -> int:
    from ..data import load_image
    from ..flow import disparity_to_color, estimate_disparity, fill_holes

    _check_png(args.out, "--out")
    check_output_file(args.out, name="--out")
    if args.npy:
        check_output_file(args.npy, name="--npy")
    left, right = load_image(args.left), load_image(args.right)
    if left.shape != right.shape:
        raise ValidationError(
            f"LEFT and RIGHT must have the same size, got {left.shape[2]}×{left.shape[1]} "
            f"({args.left}) and {right.shape[2]}×{right.shape[1]} ({args.right})"
        )
    start = time.perf_counter()
    est = estimate_disparity(
        left, right, args.max_disparity, p1=args.p1, p2=args.p2, paths=args.paths
    )
    disparity = est.disparity if args.no_fill else fill_holes(est.disparity, est.valid)
    seconds = time.perf_counter() - start
    shown_valid = est.valid if args.no_fill else None
    _write_png(
        args.out,
        disparity_to_color(disparity, shown_valid, max_disparity=float(args.max_disparity)),
    )
    if args.npy:
        out = disparity.clone()
        if args.no_fill:
            out[~est.valid] = float("nan")
        _write_npy(args.npy, out.numpy().astype(np.float32))
    console = _console()
    console.print(
        f"disparity: {left.shape[2]}×{left.shape[1]} pixels, 0…{args.max_disparity - 1} px, "
        f"in {seconds:.2f} s; {100 * float(est.valid.float().mean()):.1f} % passed the "
        f"left-right and speckle checks"
        + ("" if args.no_fill else " (the rest filled from the background)")
    )
    console.print(
        f"disparity image → {args.out}"
        + (
            f"; disparity (H, W) → {args.npy}" + (" (NaN = no estimate)" if args.no_fill else "")
            if args.npy
            else ""
        )
    )
    return 0


def _train_pwc(args: argparse.Namespace) -> int:
    from .._io import ensure_dir
    from ..flow import PWCRecipe, benchmark_pairs, endpoint_error, retrain_pwc, save_pwc
    from ..train import is_main_process

    checks = (
        (args.pairs, "--pairs", 1, 1_000_000),
        (args.val_pairs, "--val-pairs", 1, 100_000),
        (args.epochs, "--epochs", 1, 100_000),
        (args.batch_size, "--batch-size", 1, 1_000_000),
        (args.size, "--size", 16, 1024),
        (args.seed, "--seed", 0, 2**32 - 1),
    )
    for value, name, low, high in checks:
        if not low <= value <= high:
            raise ValidationError(f"{name} must be in [{low}, {high}], got {value}")
    limits: tuple[tuple[float, str, float], ...] = (
        (args.max_flow, "--max-flow", args.size / 2),
        (args.lr, "--lr", 1.0),
    )
    for number, option, top in limits:
        if not 0 < number <= top:
            raise ValidationError(f"{option} must be in (0, {top:g}], got {number}")
    recipe = PWCRecipe(**{f.name: getattr(args, f.name) for f in dataclasses.fields(PWCRecipe)})
    out = ensure_dir(args.out, name="--out folder")
    weights = check_output_file(out / "pwc.safetensors", name="weights file")
    start, cpu_start = time.perf_counter(), time.process_time()
    model, history = retrain_pwc(recipe, device=args.device, checkpoint_dir=out, resume=args.resume)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    if not is_main_process():
        return 0
    model.eval()
    bench = benchmark_pairs()
    pred = model.predict(bench.img1.to(args.device), bench.img2.to(args.device))
    assert isinstance(pred, torch.Tensor)
    epe = endpoint_error(pred.cpu(), bench.flow)
    zero = endpoint_error(torch.zeros_like(bench.flow), bench.flow)
    path = save_pwc(
        model,
        weights,
        recipe=dataclasses.asdict(recipe),
        benchmark_epe=epe,
        benchmark_zero_flow_epe=zero,
        train_seconds=seconds,
        train_cpu_seconds=cpu_seconds,
        torch_threads=torch.get_num_threads(),
        history=history,
    )
    console = _console()
    console.print(
        f"PWCNetLite: {recipe.epochs} epochs on {recipe.pairs} pairs of {recipe.size}×"
        f"{recipe.size} in {seconds:.0f} s ({cpu_seconds:.0f} s CPU); held-out benchmark EPE "
        f"{epe:.3f} px "
        f"(zero flow {zero:.3f} px)"
    )
    console.print(f"model → {path} (use: nndl flow A.png B.png --method pwc --checkpoint {path})")
    return 0


#: Help of the ``nndl train pwc`` option of each :class:`~nndl.flow.PWCRecipe` field.
_RECIPE_HELP = {
    "pairs": "training pairs",
    "val_pairs": "",
    "size": "image side in pixels",
    "max_flow": "largest flow in px",
    "epochs": "",
    "batch_size": "",
    "lr": "Adam, cosine decay",
    "seed": "",
}


def register(commands: Any, train: Any) -> None:
    """Add ``flow``, ``stereo`` and ``train pwc`` to the ``nndl`` parser."""
    p = commands.add_parser(
        "flow",
        help="optical flow between two images → Middlebury colour-wheel PNG",
        description="Estimate the optical flow from IMG1 to IMG2 (IMG1(x) ≈ IMG2(x + flow)) and "
        "save it as a colour-wheel picture (hue = direction, saturation = length).",
    )
    p.add_argument("img1", help="first image file (PNG, JPEG, …)")
    p.add_argument("img2", help="second image file, same size")
    p.add_argument("--out", required=True, help="output PNG (colour-coded flow)")
    p.add_argument("--npy", help="also save the flow as a float32 (2, H, W) .npy: u, v in pixels")
    p.add_argument(
        "--method",
        choices=("classical", "pwc"),
        default="classical",
        help="coarse-to-fine estimator (default) or PWCNetLite (the shipped weights unless "
        "--checkpoint)",
    )
    p.add_argument(
        "--checkpoint", help="PWCNetLite checkpoint for --method pwc (default: shipped weights)"
    )
    p.add_argument("--levels", type=int, default=None, help="pyramid levels (default: automatic)")
    p.add_argument(
        "--max-displacement",
        type=int,
        default=4,
        help="cost-volume search radius per level (default 4)",
    )
    p.add_argument(
        "--max-flow",
        type=float,
        default=None,
        help="flow length shown fully saturated (default: the largest vector)",
    )
    p.set_defaults(handler=_flow)

    p = commands.add_parser(
        "stereo",
        help="disparity of a rectified stereo pair → colour-mapped PNG",
        description="Census cost volume + semi-global matching + left-right check; holes are "
        "filled by KITTI's background interpolation unless --no-fill. Left pixel x matches "
        "right pixel x − d.",
    )
    p.add_argument("left", help="left image file")
    p.add_argument("right", help="right image file, same size")
    p.add_argument(
        "--max-disparity", type=int, required=True, help="number of disparities searched, 0 … N − 1"
    )
    p.add_argument("--out", required=True, help="output PNG (colour-mapped disparity)")
    p.add_argument("--npy", help="also save the disparity as a float32 (H, W) .npy")
    p.add_argument(
        "--no-fill",
        action="store_true",
        help="keep pixels without an estimate (black in the PNG, NaN in the .npy)",
    )
    p.add_argument("--paths", type=int, choices=(2, 4, 8), default=8, help="SGM directions")
    p.add_argument("--p1", type=float, default=8.0, help="SGM penalty for ±1 px steps")
    p.add_argument("--p2", type=float, default=32.0, help="SGM penalty for larger jumps")
    p.set_defaults(handler=_stereo)

    from ..flow.pwc import PWC_RECIPE

    t = train.add_parser(
        "pwc",
        help="train PWCNetLite on synthetic pairs with known flow",
        description="Train a small PWC-Net on random smooth, affine and piecewise flows (with "
        "occlusions and photometric changes) applied to bundled "
        "photographs; report the end-point error on the held-out benchmark.",
    )
    t.add_argument("--out", required=True, help="folder for checkpoints and pwc.safetensors")
    for field in dataclasses.fields(PWC_RECIPE):  # one option a field, defaults of the recipe
        default = getattr(PWC_RECIPE, field.name)
        t.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"{_RECIPE_HELP[field.name]} ({default:g})".strip(),
        )
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors")
    t.set_defaults(handler=_train_pwc)
