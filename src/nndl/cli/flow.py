"""``nndl flow``, ``nndl stereo`` and ``nndl train pwc``: optical flow and stereo on image files."""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from .._io import atomic_write
from .._validation import ValidationError

__all__ = ["register"]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _write_png(path: str, rgb: torch.Tensor) -> Path:
    """Write a Tensor[3, H, W] in [0, 1] as an 8-bit PNG, atomically."""
    from PIL import Image

    arr = (rgb.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG")
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _write_npy(path: str, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _check_png(path: str, option: str) -> None:
    if Path(path).suffix.lower() != ".png":
        raise ValidationError(f"{option} must be a .png file, got {path!r}")


def _flow(args: argparse.Namespace) -> int:
    from ..data import load_image
    from ..flow import estimate_flow, flow_to_color, load_pwc

    _check_png(args.out, "--out")
    if args.method == "pwc" and not args.checkpoint:
        raise ValidationError(
            "--method pwc needs --checkpoint PATH (write one with `nndl train pwc`)"
        )
    if args.max_flow is not None and not args.max_flow > 0:
        raise ValidationError(f"--max-flow must be > 0, got {args.max_flow}")
    img1, img2 = load_image(args.img1), load_image(args.img2)
    if img1.shape != img2.shape:
        raise ValidationError(
            f"IMG1 and IMG2 must have the same size, got {img1.shape[2]}×{img1.shape[1]} "
            f"({args.img1}) and {img2.shape[2]}×{img2.shape[1]} ({args.img2})"
        )
    start = time.perf_counter()
    if args.method == "pwc":
        flow = load_pwc(args.checkpoint).predict(img1, img2)
    else:
        flow = estimate_flow(img1, img2, levels=args.levels, max_displacement=args.max_displacement)
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
    from ..flow import (
        HELDOUT_IMAGES,
        PWCNetLite,
        endpoint_error,
        make_flow_pairs,
        save_pwc,
        train_pwc,
    )

    for value, name in (
        (args.pairs, "--pairs"),
        (args.epochs, "--epochs"),
        (args.batch_size, "--batch-size"),
    ):
        if value < 1:
            raise ValidationError(f"{name} must be >= 1, got {value}")
    if args.size < 16:
        raise ValidationError(f"--size must be >= 16, got {args.size}")
    out = ensure_dir(args.out, name="--out folder")
    gen = torch.Generator().manual_seed(args.seed)
    size = (args.size, args.size)
    train = make_flow_pairs(args.pairs, size, max_flow=args.max_flow, generator=gen)
    val = make_flow_pairs(
        args.val_pairs,
        size,
        max_flow=args.max_flow,
        images=HELDOUT_IMAGES,
        generator=torch.Generator().manual_seed(args.seed + 1),
    )
    torch.manual_seed(args.seed)
    model = PWCNetLite()
    history = train_pwc(
        model,
        train.tensors(),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        validation=val.tensors(),
        checkpoint_dir=out,
        resume=args.resume,
    )
    model.eval()
    pred = model.predict(val.img1.to(args.device), val.img2.to(args.device)).cpu()
    epe = endpoint_error(pred, val.flow)
    zero = endpoint_error(torch.zeros_like(val.flow), val.flow)
    path = save_pwc(
        model,
        out / "pwc.safetensors",
        epochs=args.epochs,
        pairs=args.pairs,
        size=args.size,
        max_flow=args.max_flow,
        val_epe=epe,
        zero_flow_epe=zero,
        history=history,
    )
    console = _console()
    console.print(
        f"PWCNetLite: {args.epochs} epochs on {args.pairs} pairs of {args.size}×{args.size}; "
        f"held-out EPE {epe:.3f} px (zero flow {zero:.3f} px)"
    )
    console.print(f"model → {path} (use: nndl flow A.png B.png --method pwc --checkpoint {path})")
    return 0


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
        help="coarse-to-fine estimator (default) or a trained PWCNetLite",
    )
    p.add_argument("--checkpoint", help="PWCNetLite checkpoint for --method pwc")
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

    t = train.add_parser(
        "pwc",
        help="train PWCNetLite on synthetic pairs with known flow",
        description="Train a small PWC-Net on random smooth and affine flows applied to "
        "scikit-image photographs; report the end-point error on held-out photographs.",
    )
    t.add_argument("--out", required=True, help="folder for checkpoints and pwc.safetensors")
    t.add_argument("--pairs", type=int, default=2048, help="training pairs (default 2048)")
    t.add_argument("--val-pairs", type=int, default=64, help="held-out pairs (default 64)")
    t.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    t.add_argument("--max-flow", type=float, default=6.0, help="largest flow in pixels")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors")
    t.set_defaults(handler=_train_pwc)
