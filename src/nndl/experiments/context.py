"""What an experiment gets besides its config: seed, device, output folder, figures, progress."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from .._io import atomic_write
from .._progress import ProgressTask, task, track
from .._seed import torch_generator
from .result import FigureRef

__all__ = ["Context"]

T = TypeVar("T")


@dataclass
class Context:
    """Run-time context of one experiment run.

    Attributes:
        out_dir: the experiment's folder, ``OUT/<name>/``; figures go to ``figures/`` below it.
        seed: the run's seed (the runner has already called ``seed_everything(seed)``).
        scale: ``"quick"``, ``"full"`` or ``"tiny"``.
        device: where tensors should live.
        figures: the figures saved so far (the runner adds them to the result).
    """

    out_dir: Path
    seed: int = 0
    scale: str = "quick"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    figures: list[FigureRef] = field(default_factory=list)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded with ``seed + offset`` (one per purpose)."""
        return torch_generator(self.seed + offset)

    def save_figure(self, fig: Any, name: str, caption: str = "") -> FigureRef:
        """Save a matplotlib figure as ``figures/<name>.png`` (atomically), close it, record it."""
        import matplotlib.pyplot as plt

        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"figure name must be letters, digits, '_', '-' or '.', got {name!r}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        rel = f"figures/{name}.png"
        atomic_write(self.out_dir / rel, lambda handle: handle.write(buffer.getvalue()))
        ref = FigureRef(rel, caption)
        self.figures = [f for f in self.figures if f.path != rel] + [ref]
        return ref

    def track(
        self, iterable: Iterable[T], description: str, total: int | None = None
    ) -> Iterator[T]:
        """Iterate with a progress bar nested under the experiment's bar."""
        return track(iterable, description, total)

    def task(self, description: str, total: float | None) -> Any:
        """A bar advanced by hand: ``with ctx.task("epochs", 10) as bar: bar.advance()``."""
        return task(description, total)


__all__ += ["ProgressTask"]
