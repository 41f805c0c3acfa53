"""What an experiment's parts get besides its config.

- :class:`Context` — for ``measure``: seed, seeded generators, device, scale, progress bars,
  and ``save_array`` for pictures too large for the JSON metrics.
- :class:`Canvas` — for ``draw``: matplotlib figures (one setup, no pyplot state), saved
  atomically as ``figures/<name>.png``, tables, and a notes paragraph.
"""

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
from .result import FigureRef, Table

__all__ = ["Canvas", "Context"]

T = TypeVar("T")


@dataclass
class Context:
    """Run-time context of one experiment run.

    Attributes:
        out_dir: the experiment's folder, ``OUT/<name>/``; figures go to ``figures/`` below it.
        seed: the run's seed (the runner has already called ``seed_everything(seed)``).
        scale: ``"quick"``, ``"full"`` or ``"tiny"``.
        device: where tensors should live.
    """

    out_dir: Path
    seed: int = 0
    scale: str = "quick"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def save_array(self, key: str, array: Any) -> str:
        """Store a large array (an image, a map) as ``arrays/<key>.npy`` for ``draw``; return key.

        Metrics stay small JSON; pictures that only a figure needs go here and are read back by
        :meth:`Canvas.array`, so a redraw still needs no training.
        """
        import numpy as np

        if not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
            raise ValueError(f"array key must be letters, digits, '_', '-' or '.', got {key!r}")
        data = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else array
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(data), allow_pickle=False)
        atomic_write(self.out_dir / "arrays" / f"{key}.npy", lambda h: h.write(buffer.getvalue()))
        return key

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded with ``seed + offset`` (one per purpose)."""
        return torch_generator(self.seed + offset)

    def track(
        self, iterable: Iterable[T], description: str, total: int | None = None
    ) -> Iterator[T]:
        """Iterate with a progress bar nested under the experiment's bar."""
        return track(iterable, description, total)

    def task(self, description: str, total: float | None) -> Any:
        """A bar advanced by hand: ``with ctx.task("epochs", 10) as bar: bar.advance()``."""
        return task(description, total)


__all__ += ["ProgressTask"]


@dataclass
class Canvas:
    """Where ``draw`` puts figures and tables (see :mod:`nndl.experiments.registry`).

    Figures are ``matplotlib.figure.Figure`` objects made without pyplot (no global state, no
    backend to pick), saved as PNG with the same style everywhere.

    Example::

        def draw(metrics, cfg, canvas):
            fig, ax = canvas.subplots(figsize=(5, 3))
            ax.semilogy(metrics["speeds"])
            canvas.save(fig, "speeds", "Learning speed per layer")
            canvas.table("Speeds", ["layer", "speed"], [[1, 0.1], [2, 0.3]])
    """

    out_dir: Path
    figures: list[FigureRef] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: str = ""

    def array(self, key: str) -> Any:
        """The numpy array stored by :meth:`Context.save_array` under ``key``."""
        import numpy as np

        return np.load(self.out_dir / "arrays" / f"{key}.npy", allow_pickle=False)

    def subplots(self, nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
        """``(figure, axes)`` as ``pyplot.subplots`` returns them, on a fresh Agg figure."""
        from matplotlib.figure import Figure

        figsize = kwargs.pop("figsize", (6.4, 4.0))
        layout = kwargs.pop("layout", "constrained")
        fig = Figure(figsize=figsize, layout=layout)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    def save(self, fig: Any, name: str, caption: str = "") -> FigureRef:
        """Write ``figures/<name>.png`` atomically and record it (a second save replaces it)."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"figure name must be letters, digits, '_', '-' or '.', got {name!r}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        rel = f"figures/{name}.png"
        atomic_write(self.out_dir / rel, lambda handle: handle.write(buffer.getvalue()))
        ref = FigureRef(rel, caption)
        self.figures = [f for f in self.figures if f.path != rel] + [ref]
        return ref

    @staticmethod
    def image(ax: Any, img: Any, title: str = "", **kwargs: Any) -> Any:
        """Show an image tensor/array, (C, H, W) with C in {1, 3} or (H, W), on ``ax``, no ticks.

        Values are clipped to [0, 1] for colour images (``uint8`` images are divided by 255);
        grey images keep ``imshow``'s scaling unless ``vmin``/``vmax`` are given.
        """
        import numpy as np

        arr = np.asarray(img.detach().cpu() if hasattr(img, "detach") else img)
        arr = arr / 255.0 if arr.dtype == np.uint8 else arr.astype(float)
        if arr.ndim == 3 and arr.shape[0] in (1, 3):
            arr = arr[0] if arr.shape[0] == 1 else np.clip(arr.transpose(1, 2, 0), 0.0, 1.0)
        if arr.ndim == 2:
            kwargs.setdefault("cmap", "gray")
        shown = ax.imshow(arr, **kwargs)
        ax.set_xticks([])
        ax.set_yticks([])
        if title:
            ax.set_title(title, fontsize=8)
        return shown

    def table(
        self, title: str, columns: list[str], rows: list[list[Any]], caption: str = ""
    ) -> Table:
        """Add a table for the report (rows aligned with ``columns``)."""
        table = Table(title, list(columns), [list(r) for r in rows], caption)
        self.tables.append(table)
        return table
