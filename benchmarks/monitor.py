"""Cost of the GradientMonitor: training-step time with the monitor ÷ without, in the same run.

Models (batch 64, SGD with momentum, cross-entropy, 1 thread):

- MLP 64-256-256-256-10 (ReLU) on random 64-dimensional inputs;
- small CNN (``nndl.nn.cnn(1, 10, 8, channels=(16, 32))``: two 3×3 conv + ReLU + max-pool
  blocks and a linear output) on random 1×8×8 inputs (the size of the digits images; a small
  input makes the step cheap, so the monitor's share of it is the largest).

Configurations: the **defaults** a user gets, ``GradientMonitor(model)`` (every step, activation
statistics and weight norms on their own sparser schedule: records 0, 1, 2, 4, …, 32, then
every 64th) and
``GradientMonitor(model, every=10)`` — issue 14's targets: at most 1.10× and 1.03× — and, for
information, gradients only (``activations=False``) at ``every=1``/``every=10``, ``every=1`` with
update ratios (``watch_optimizer``), and activation statistics on every recorded step
(``activation_every=1``). Each configuration runs ``--steps``
steps per round from the same initial weights; every round runs all configurations interleaved
in chunks of 10 steps (alternating the order, so they share the machine's load), the first round
is a warm-up, and the reported ratio is the median over the rounds of CPU time with ÷ CPU time
without in the same round (``time.process_time``, because the machine is shared). An **A/A
control** — a second copy of the bare step, configured exactly like the baseline — measures the
benchmark's own noise and bias: its ratio would be 1.000 on a quiet machine, and a monitored
ratio is only resolved to within the control's distance from 1. The table also gives the CPU time
spent inside ``record()`` itself and the ratio it implies (1 + record time / step time), which is
exact for the configurations whose only work is ``record()`` (activations off, no update ratios).

The second table times ``record()`` alone on networks with more and more parameter tensors to
show how the cost grows with their number.

Usage::

    python benchmarks/monitor.py            # full: 300 steps, 11 rounds
    python benchmarks/monitor.py --steps 100 --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from nndl.diagnostics import GradientMonitor
from nndl.nn import cnn, mlp

BATCH = 64


def _configs() -> dict[str, Callable[[nn.Module, torch.optim.Optimizer], GradientMonitor | None]]:
    def make(every: int, activations: bool, updates: bool = False, activation_every: int = 64):
        def build(model: nn.Module, opt: torch.optim.Optimizer) -> GradientMonitor:
            monitor = GradientMonitor(
                model, every=every, activations=activations, activation_every=activation_every
            )
            if updates:
                monitor.watch_optimizer(opt)
            return monitor

        return build

    return {
        "without monitor": lambda model, opt: None,
        "without monitor (A/A control)": lambda model, opt: None,
        "defaults: GradientMonitor(model)": lambda model, opt: GradientMonitor(model),
        "defaults, every=10": lambda model, opt: GradientMonitor(model, every=10),
        "every=1, activations=False": make(1, False),
        "every=10, activations=False": make(10, False),
        "every=1 + update ratios": make(1, True, updates=True),
        "every=1, activation_every=1": make(1, True, activation_every=1),
    }


class _Runner:
    """One configuration's training state: a copy of the model, its optimiser and monitor."""

    def __init__(self, model: nn.Module, build, data) -> None:
        self.model = copy.deepcopy(model)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.monitor = build(self.model, self.opt)
        self.loss_fn = nn.CrossEntropyLoss()
        self.xs, self.ys = data
        self.i = 0

    def run(self, steps: int) -> tuple[float, float]:
        """CPU seconds for ``steps`` training steps, and the part spent in record()."""
        model, opt, monitor, loss_fn = self.model, self.opt, self.monitor, self.loss_fn
        clock = time.process_time
        own = 0.0
        start = clock()
        for _ in range(steps):
            x, y = self.xs[self.i % len(self.xs)], self.ys[self.i % len(self.ys)]
            self.i += 1
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            t0 = clock()  # timed in every configuration, so the clock's own cost cancels
            if monitor is not None:
                monitor.record()
            own += clock() - t0
            opt.step()
        return clock() - start, own


def bench_model(
    name: str, model: nn.Module, shape: tuple[int, ...], steps: int, rounds: int, chunk: int
):
    """Rows (configuration, ms/step, median ratio, min ratio, max ratio, record() µs/step).

    Every round runs ``steps`` steps of every configuration, interleaved in chunks of ``chunk``
    steps (alternating the order), so that all configurations share the machine's load; a
    configuration's ratio in a round is its CPU time over the baseline's. Round 0 is a warm-up.
    """
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(BATCH, *shape, generator=gen) for _ in range(16)]
    ys = [torch.randint(0, 10, (BATCH,), generator=gen) for _ in range(16)]
    configs = _configs()
    times: dict[str, list[float]] = {k: [] for k in configs}
    owns: dict[str, list[float]] = {k: [] for k in configs}
    for r in range(rounds + 1):
        # fresh copies each round, allocated in a shuffled order: where a copy lands in memory
        # shifts its step time by a few per cent (the A/A control shows it), so no
        # configuration keeps the same place round after round
        keys = list(configs)
        random.Random(r).shuffle(keys)
        runners = {k: _Runner(model, configs[k], (xs, ys)) for k in keys}
        total = dict.fromkeys(configs, 0.0)
        own = dict.fromkeys(configs, 0.0)
        for c in range(0, steps, chunk):
            order = list(configs) if (c // chunk) % 2 == 0 else list(reversed(configs))
            for key in order:
                t, o = runners[key].run(min(chunk, steps - c))
                total[key] += t
                own[key] += o
        for key, runner in runners.items():
            if runner.monitor is not None:
                runner.monitor.detach()
            if r > 0:  # round 0 warms up
                times[key].append(total[key])
                owns[key].append(own[key])
    baseline = "without monitor"
    base = times[baseline]
    rows = []
    for key, values in times.items():
        ratios = [t / b for t, b in zip(values, base, strict=True)]
        rows.append(
            (
                key,
                1e3 * statistics.median(values) / steps,
                statistics.median(ratios),
                min(ratios),
                max(ratios),
                1e6 * (statistics.median(owns[key]) - statistics.median(owns[baseline])) / steps,
            )
        )
    return name, rows


def bench_tensor_count(counts: tuple[int, ...], repeats: int = 300) -> list[tuple[int, float]]:
    """µs per recorded step of record() on Linear(32, 32) stacks with 2·k parameter tensors."""
    out = []
    for k in counts:
        model = nn.Sequential(*[nn.Linear(32, 32) for _ in range(k)])
        model(torch.randn(8, 32)).sum().backward()
        monitor = GradientMonitor(model, every=1, activations=False)
        for _ in range(20):
            monitor.record()
        start = time.process_time()
        for _ in range(repeats):
            monitor.record()
        out.append((2 * k, 1e6 * (time.process_time() - start) / repeats))
        monitor.detach()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--chunk", type=int, default=10, help="steps per interleaved chunk")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    console = Console(width=140)
    models = [
        ("MLP 64-256-256-256-10", mlp([64, 256, 256, 256, 10], activation="relu"), (64,)),
        ("small CNN 1×8×8 (16, 32 channels)", cnn(1, 10, 8, channels=(16, 32)), (1, 8, 8)),
    ]
    for title, model, shape in models:
        name, rows = bench_model(title, model, shape, args.steps, args.rounds, args.chunk)
        table = Table(title=f"{name}: {args.steps} steps × {args.rounds} rounds, batch {BATCH}")
        for column in (
            "configuration",
            "ms / step (CPU)",
            "ratio (median)",
            "ratio range",
            "record() µs / step",
            "1 + record share",
        ):
            table.add_column(column, justify="left" if column == "configuration" else "right")
        base_ms = rows[0][1]
        for key, ms, ratio, low, high, own_us in rows:
            table.add_row(
                key,
                f"{ms:.3f}",
                f"{ratio:.3f}",
                f"{low:.3f}–{high:.3f}",
                f"{own_us:.1f}",
                f"{1 + own_us / 1e3 / base_ms:.4f}",
            )
        console.print(table)
    counts = bench_tensor_count((2, 8, 32, 128))
    table = Table(title="record() cost against the number of parameter tensors (every=1)")
    table.add_column("parameter tensors", justify="right")
    table.add_column("µs per recorded step", justify="right")
    table.add_column("µs per tensor", justify="right")
    for n, us in counts:
        table.add_row(str(n), f"{us:.1f}", f"{us / n:.2f}")
    console.print(table)
    (n0, t0), (n1, t1) = counts[0], counts[-1]
    console.print(
        f"slope: {(t1 - t0) / (n1 - n0):.2f} µs per extra parameter tensor "
        f"(fixed cost ≈ {t0 - n0 * (t1 - t0) / (n1 - n0):.1f} µs per recorded step)"
    )


if __name__ == "__main__":
    main()
