"""Cost volume speed and memory: nndl's fast path against the usual alternatives, one run.

For every size of the table (PWC-Net sizes, B=2, d=4 by default) it measures, on 1 CPU thread:

- forward time (no autograd) and forward+backward time (``out.backward(g)`` with a fixed random
  upstream gradient ``g``, NCHW-contiguous by default; ``--upstream-layout channels_last`` gives
  it the memory format of nndl's output, as the gradient of an op applied to that output
  usually has), as process CPU time (``time.process_time``), the minimum over
  ``--repeats`` runs after a warm-up — CPU time, because the machines this runs on are shared and
  wall time measures the neighbours;
- peak memory of forward+backward: the largest total size of live CPU tensors *created* during
  the call (output, gradients, temporaries; the inputs and ``g`` exist before), read from
  PyTorch's profiler memory timeline (``profile_memory=True``; allocation CREATE/DESTROY events),
  and its ratio to the bytes of the inputs plus the output;

for three implementations:

- ``nndl``: :func:`nndl.ops.cost_volume` (``impl="fast"``: band products on strips,
  hand-written backward);
- ``loop``: the plain autograd shift-and-multiply loop (``impl="reference"``; autograd
  differentiates it);
- ``unfold``: the naive unfold reference, ``F.unfold(f2, 2d+1, padding=d)`` times ``f1``, summed
  over channels — it materialises the ``(2d+1)²·C·H·W`` tensor (skipped above ``--unfold-mib``).

It also prints the ratios, and the ratio to the ``spatial-correlation-sampler`` C++ extension
(0.5.0) measured for ``shared/notes/ANCHORS.md`` on this kind of machine — that extension does not
build here (its ``setup.py`` always builds a ``CUDAExtension`` and stops with "CUDA_HOME
environment variable is not set" on CPU-only PyTorch), so its numbers are taken from ANCHORS:
both the plain ratio (our time now against its time then) and a load-corrected one that scales by
how much slower the autograd loop runs now than it did for ANCHORS.

Run: ``python benchmarks/cost_volume.py`` (``--help`` for sizes, repeats, ``--with-1d``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from nndl.ops import cost_volume, cost_volume_1d

# ANCHORS.md, B=2, d=4, float32, 1 thread: (C, H=W) -> (forward ms, forward+backward ms)
ANCHOR_CPP = {
    (32, 64): (111, 307),
    (64, 64): (219, 631),
    (128, 64): (465, 1438),
    (64, 128): (902, 2796),
    (128, 128): (2241, 6865),
}
ANCHOR_LOOP = {
    (32, 64): (13.6, 91.4),
    (64, 64): (29.1, 197),
    (128, 64): (57.6, 526),
    (64, 128): (118, 1110),
    (128, 128): (296, 2804),
}
SIZES = [(32, 64), (64, 64), (128, 64), (64, 128), (128, 128)]


def unfold_cost_volume(f1: torch.Tensor, f2: torch.Tensor, d: int) -> torch.Tensor:
    """Naive reference: every (2d+1)² neighbour of every pixel, materialised by unfold."""
    b, c, h, w = f1.shape
    n = 2 * d + 1
    patches = F.unfold(f2, n, padding=d).view(b, c, n * n, h, w)  # (B, C, (2d+1)², H, W)
    return (f1.unsqueeze(2) * patches).sum(1) / c


def cpu_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return 1e3 * min(times)


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak total size of live CPU tensors created inside ``fn`` (profiler memory timeline)."""
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    with profile(
        activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
    ) as prof:
        fn()
    live = peak = 0
    for _, action, _, size in sorted(prof._memory_profile().timeline, key=lambda e: e[0]):
        if action == Action.CREATE:
            live += size
        elif action == Action.DESTROY:
            live -= size
        peak = max(peak, live)
    return peak / 2**20


def measure(fn, f1, f2, upstream, repeats: int) -> dict[str, float]:
    def forward():
        with torch.no_grad():
            fn(f1, f2)

    def forward_backward():
        fn(f1, f2).backward(upstream)
        f1.grad = f2.grad = None

    return {
        "fwd": cpu_ms(forward, repeats),
        "fb": cpu_ms(forward_backward, repeats),
        "mem": peak_mib(forward_backward),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(f"{c}x{h}" for c, h in SIZES),
        help="comma-separated CxH (H = W), default: the table of the issue",
    )
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--max-displacement", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--unfold-mib",
        type=float,
        default=8000,
        help="skip the unfold reference when its (2d+1)²·C·H·W tensor is larger",
    )
    parser.add_argument(
        "--upstream-layout",
        choices=["nchw", "channels_last"],
        default="nchw",
        help="memory format of the upstream gradient g (default: NCHW-contiguous)",
    )
    parser.add_argument(
        "--with-1d",
        action="store_true",
        help="also time cost_volume_1d (stereo, B=1, C=32, 128x256, D=64)",
    )
    parser.add_argument(
        "--with-strides",
        action="store_true",
        help="also time strides 1, 2, 4, 16, 40 on B=1, C=8, 64x64, d=4 (issue 13: memory and "
        "time stay bounded by the input and output sizes)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d, b = args.max_displacement, args.batch
    k = (2 * d + 1) ** 2
    impls = {
        "nndl": lambda a, c: cost_volume(a, c, d, impl="fast"),
        "loop": lambda a, c: cost_volume(a, c, d, impl="reference"),
        "unfold": lambda a, c: unfold_cost_volume(a, c, d),
    }
    print(
        f"cost volume, B={b}, d={d}, float32, {args.threads} thread(s), torch {torch.__version__},"
        f" upstream gradient {args.upstream_layout}"
    )
    print("times: CPU ms, min of", args.repeats, "| mem: peak MiB of fwd+bwd, (× inputs+output)")
    header = (
        f"{'C, H=W':>9} | {'impl':>6} | {'fwd ms':>8} | {'fwd+bwd ms':>10} | "
        f"{'peak MiB':>9} | {'×(in+out)':>9} | {'loop/nndl fb':>12} | {'C++/nndl fb':>11} | "
        f"{'C++/nndl fb, load-corr.':>23}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes.split(","):
        c, h = (int(v) for v in size.lower().split("x"))
        f1 = torch.randn(b, c, h, h, requires_grad=True)
        f2 = torch.randn(b, c, h, h, requires_grad=True)
        upstream = torch.randn(b, k, h, h)
        if args.upstream_layout == "channels_last":
            upstream = upstream.contiguous(memory_format=torch.channels_last)
        io_mib = (2 * f1.numel() + upstream.numel()) * 4 / 2**20
        res = {}
        for name, fn in impls.items():
            if name == "unfold" and k * f1.numel() * 4 / 2**20 > args.unfold_mib:
                continue
            res[name] = measure(fn, f1, f2, upstream, args.repeats)
        ours = res["nndl"]
        for name, r in res.items():
            extra = ""
            if name == "nndl":
                loop_ratio = res["loop"]["fb"] / ours["fb"]
                extra = f" | {loop_ratio:>12.1f}"
                if (c, h) in ANCHOR_CPP:
                    cpp, loop_then = ANCHOR_CPP[c, h][1], ANCHOR_LOOP[c, h][1]
                    load = res["loop"]["fb"] / loop_then  # > 1 when the machine is busier now
                    extra += f" | {cpp / ours['fb']:>11.1f} | {cpp * load / ours['fb']:>23.1f}"
            else:
                extra = f" | {r['fb'] / ours['fb']:>10.1f}× nndl's fwd+bwd time"
            print(
                f"{c:>4}, {h:>3} | {name:>6} | {r['fwd']:>8.1f} | {r['fb']:>10.1f} | "
                f"{r['mem']:>9.1f} | {r['mem'] / io_mib:>9.2f}{extra}"
            )
        if "unfold" not in res:
            print(
                f"{c:>4}, {h:>3} | unfold | skipped: its (2d+1)²·C·H·W tensor exceeds "
                f"--unfold-mib={args.unfold_mib:g}"
            )
    if args.with_1d:
        left = torch.randn(1, 32, 128, 256, requires_grad=True)
        right = torch.randn(1, 32, 128, 256, requires_grad=True)
        up = torch.randn(1, 64, 128, 256)
        print("\ncost_volume_1d, B=1, C=32, 128x256, D=64")
        for impl in ("fast", "reference"):
            r = measure(
                lambda a, c, i=impl: cost_volume_1d(a, c, 64, impl=i), left, right, up, args.repeats
            )
            print(
                f"{impl:>9}: fwd {r['fwd']:.1f} ms, fwd+bwd {r['fb']:.1f} ms, "
                f"peak {r['mem']:.1f} MiB"
            )
    if args.with_strides:
        a = torch.randn(1, 8, 64, 64, requires_grad=True)
        c = torch.randn(1, 8, 64, 64, requires_grad=True)
        up = torch.randn(1, 81, 64, 64)
        io_mib = (2 * a.numel() + up.numel()) * 4 / 2**20
        print("\ncost_volume with stride s, B=1, C=8, 64x64, d=4")
        for stride in (1, 2, 4, 16, 40):
            for impl in ("fast", "reference"):
                r = measure(
                    lambda x, y, i=impl, s=stride: cost_volume(x, y, 4, stride=s, impl=i),
                    a,
                    c,
                    up,
                    args.repeats,
                )
                print(
                    f"s={stride:>2} {impl:>9}: fwd {r['fwd']:.1f} ms, fwd+bwd {r['fb']:.1f} ms, "
                    f"peak {r['mem']:.2f} MiB ({r['mem'] / io_mib:.2f}× inputs+output)"
                )


if __name__ == "__main__":
    main()
