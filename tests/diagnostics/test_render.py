"""summary() as a rich table and plot() figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rich.console import Console
from torch import nn

from nndl.diagnostics import GradientMonitor
from nndl.nn import mlp


def _monitor(steps: int) -> GradientMonitor:
    torch.manual_seed(0)
    model = mlp([5, 6, 6, 3], activation="sigmoid")
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    monitor = GradientMonitor(model).watch_optimizer(opt)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        monitor.record()
        opt.step()
    return monitor


def _text(table) -> str:
    console = Console(width=160, record=True)
    console.print(table)
    return console.export_text()


def test_summary_lists_layers_and_activations():
    monitor = _monitor(3)
    table = monitor.summary()
    assert table.title == "GradientMonitor — step 2"
    assert [c.header for c in table.columns][:3] == ["layer", "grad norm", "learning speed"]
    assert table.row_count == 5  # fc1, fc2, out, act1, act2
    text = _text(table)
    speed = monitor.learning_speed()["fc2"]
    assert f"{speed:.3g}" in text
    assert "act1" in text and "no problem found" in text
    assert monitor.summary(step=0).title == "GradientMonitor — step 0"


def test_summary_before_anything_is_recorded():
    table = GradientMonitor(mlp([2, 2])).summary()
    assert table.row_count == 0 and "nothing recorded yet" in table.caption


def test_plot_speed_curves_and_heat_map():
    monitor = _monitor(4)
    fig = monitor.plot()
    speed_ax, heat_ax = fig.axes[:2]
    assert speed_ax.get_yscale() == "log"
    assert [line.get_label() for line in speed_ax.get_lines()] == ["fc1", "fc2", "out"]
    image = heat_ax.get_images()[0].get_array()
    assert image.shape == (3, 4)  # layers × recorded steps
    expected = np.log10(np.array(monitor.learning_speeds()["fc1"]))
    np.testing.assert_allclose(image[0], expected, rtol=1e-6)


@pytest.mark.parametrize("steps", [0, 1])
def test_plot_with_few_records(steps):
    fig = _monitor(steps).plot()
    assert len(fig.axes) >= 2
