"""Tables and figures of a :class:`~nndl.diagnostics.GradientMonitor` (rich, matplotlib).

matplotlib is imported only when a figure is asked for, and figures are built with the
object-oriented API (``matplotlib.figure.Figure``), so no pyplot state is touched.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure
    from rich.table import Table

    from .monitor import GradientMonitor

__all__ = ["plot", "summary"]


def _num(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.1%}" if pct else f"{x:.3g}"


def summary(monitor: GradientMonitor, step: int = -1) -> Table:
    """One row per monitored layer and activation module at one recorded step.

    Columns: gradient norm of the layer (all its parameters), learning speed (and its measure),
    update-to-weight ratio of the layer, non-finite gradient values, and for activation modules
    the saturated and dead fractions, mean and std. The caption is the diagnosis note.

    Before anything is recorded the table is empty and its caption says so.
    """
    from rich.table import Table

    table = Table(title="GradientMonitor", caption_justify="left")
    for column, justify in (
        ("layer", "left"),
        ("grad norm", "right"),
        ("learning speed", "right"),
        ("update/weight", "right"),
        ("non-finite", "right"),
        ("saturated", "right"),
        ("dead", "right"),
        ("act mean ± std", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    if not monitor.records:
        table.caption = (
            "nothing recorded yet: call monitor.record() after loss.backward()"
            if monitor.parameter_names
            else "the model has no trainable parameters to monitor"
        )
        return table
    record = monitor._record_at(step)
    table.title = f"GradientMonitor — step {record.step}"
    speeds = monitor._speeds(record)
    measures = monitor.speed_measures()
    acts = dict(record.activations)
    for k, (name, indices) in enumerate(zip(monitor.layers, monitor._layer_params, strict=True)):
        norms = [record.grad_norms[i] for i in indices]
        grad = (
            math.sqrt(sum(n * n for n in norms if n is not None))
            if any(n is not None for n in norms)
            else None
        )
        ratio = None
        if record.update_ratios is not None and record.weight_norms is not None:
            pairs: list[tuple[float, float]] = []
            for i in indices:
                u, w = record.update_ratios[i], record.weight_norms[i]
                if u is not None and w is not None:
                    pairs.append((u, w))
            weight = math.sqrt(sum(w * w for _, w in pairs))
            if pairs and weight > 0:
                ratio = math.sqrt(sum((r * w) ** 2 for r, w in pairs)) / weight
        bad = sum(record.nonfinite[i] for i in indices)
        stats = acts.pop(name, {})
        speed = _num(speeds[k]) + (" (W)" if measures[name] != "||dC/db||" else "")
        table.add_row(
            name,
            _num(grad),
            speed,
            _num(ratio),
            f"[red]{bad}[/red]" if bad else "0",
            _num(stats.get("saturated_fraction"), pct=True),
            _num(stats.get("dead_fraction"), pct=True),
            _mean_std(stats),
        )
    for name, stats in acts.items():
        table.add_row(
            f"[dim]{name}[/dim]",
            "",
            "",
            "",
            "",
            _num(stats.get("saturated_fraction"), pct=True),
            _num(stats.get("dead_fraction"), pct=True),
            _mean_std(stats),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        note = monitor.diagnose().note
    table.caption = (
        "learning speed = ||dC/db||; (W) = ||dC/dW||/sqrt(fan_in) for layers without a bias. "
        + note
    )
    return table


def _mean_std(stats: dict[str, float | None]) -> str:
    if stats.get("act_mean") is None:
        return "–"
    return f"{_num(stats['act_mean'])} ± {_num(stats['act_std'])}"


def plot(monitor: GradientMonitor) -> Figure:
    """Two panels: learning speed per layer against step (log scale), and a heat map.

    The heat map shows log10 of the learning speed with layers as rows (input side on top) and
    recorded steps as columns; missing or non-finite values are blank. With a single recorded
    step the first panel is a bar chart over the layers.

    Returns:
        A ``matplotlib.figure.Figure`` (not registered with pyplot; save it with ``savefig``).
    """
    import numpy as np
    from matplotlib.figure import Figure

    speeds = monitor.learning_speeds()
    steps = monitor.steps
    layers = list(speeds)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax_speed, ax_heat = fig.subplots(1, 2, width_ratios=(1, 1.15))
    if not steps or not layers:
        for ax in (ax_speed, ax_heat):
            ax.text(0.5, 0.5, "nothing recorded", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return fig
    matrix = np.array([speeds[name] for name in layers], dtype=float)  # (L, S)
    valid = np.isfinite(matrix) & (matrix > 0)
    if len(steps) == 1:
        values = np.where(valid[:, 0], matrix[:, 0], np.nan)
        ax_speed.bar(range(len(layers)), values, color="tab:blue")
        ax_speed.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
        ax_speed.set_xlabel("layer (input → output)")
    else:
        colours = _colours(len(layers))
        for row, name in enumerate(layers):
            ax_speed.plot(
                steps, np.where(valid[row], matrix[row], np.nan), label=name, color=colours[row]
            )
        ax_speed.set_xlabel("step")
        ax_speed.legend(
            fontsize="small",
            ncol=1 if len(layers) <= 12 else 2,
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
        )
    if valid.any():
        ax_speed.set_yscale("log")
    ax_speed.set_ylabel("learning speed ||dC/db_l||")
    ax_speed.set_title("Learning speed per layer")
    ax_speed.grid(True, which="both", alpha=0.3)
    logs = np.where(valid, np.log10(np.where(valid, matrix, 1.0)), np.nan)
    image = ax_heat.imshow(
        np.ma.masked_invalid(logs), aspect="auto", interpolation="nearest", cmap="viridis"
    )
    ax_heat.set_yticks(range(len(layers)), layers)
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int))
    ax_heat.set_xticks(ticks, [str(steps[t]) for t in ticks])
    ax_heat.set_xlabel("step")
    ax_heat.set_title("log10 learning speed (layer × step)")
    fig.colorbar(image, ax=ax_heat, label="log10 ||dC/db_l||")
    return fig


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(1, n - 1) * 0.9) for i in range(n)]
