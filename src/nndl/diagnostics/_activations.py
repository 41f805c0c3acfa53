r"""Forward-hook statistics of activations: saturation, dead units, mean and std.

Definitions (per recorded step, over every forward call of the module during that step):

- **saturated fraction** (sigmoid and tanh modules): the share of output entries whose
  derivative is below 1 % of its maximum, computed from the output :math:`a`:
  :math:`\sigma'(z) = a (1 - a) < 0.01 \cdot \tfrac14` for the sigmoid,
  :math:`\tanh'(z) = 1 - a^2 < 0.01` for tanh (i.e. :math:`|z| > 5.99` and :math:`|z| > 2.99`).
- **dead fraction** (ReLU-family modules): the share of units whose output is exactly zero for
  every example of the batch (and every call of the step). A unit is a position along
  dimension 1 — a feature of a Linear output (N, F) or a channel of a conv output (N, C, H, W);
  a 1-D output (N,) is one unit. Units that are zero for *some* examples are ReLU working as
  intended and do not count.
- **act_mean, act_std**: mean and standard deviation of all output entries (for activation
  modules and for the monitored layers themselves, whose outputs are pre-activations).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["RELU_FAMILY", "SATURATING", "ActivationStats", "module_kind"]

#: Modules whose units can saturate, with the threshold on the derivative computed from the output.
SATURATING: dict[type[nn.Module], str] = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}

#: Modules with a ReLU-like zero (or near-zero) branch, for the dead-unit count.
RELU_FAMILY: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Hardswish,
    nn.Mish,
)

# σ'(z) = a(1 − a) < 1 % · 1/4  ⇔  |a − 1/2| > √(1/4 − 1/400)
_SIGMOID_CUT = math.sqrt(0.25 - 0.01 * 0.25)
# tanh'(z) = 1 − a² < 1 % · 1  ⇔  |a| > √0.99
_TANH_CUT = math.sqrt(1 - 0.01)


def module_kind(module: nn.Module) -> str | None:
    """ "sigmoid", "tanh", "relu_family" or None (not an activation the monitor knows)."""
    for cls, name in SATURATING.items():
        if isinstance(module, cls):
            return name
    if isinstance(module, RELU_FAMILY):
        return "relu_family"
    return None


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, list | tuple):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


@dataclass
class ActivationStats:
    """Accumulates one module's output statistics over the forward calls of one step.

    Each call adds a handful of tensor reductions and no host synchronisation; the numbers are
    read once, by :meth:`summarise`, when the step is recorded.
    """

    kind: str | None
    moments: list[tuple[torch.Tensor, torch.Tensor, int]] = field(default_factory=list)
    saturated: list[tuple[torch.Tensor, int]] = field(default_factory=list)
    alive: torch.Tensor | None = None  # bool per unit: non-zero for some example
    shape_changed: bool = False

    def add(self, out: torch.Tensor) -> None:
        out = out.detach()
        n = out.numel()
        if n == 0:
            return
        var, mean = torch.var_mean(out, correction=0)
        self.moments.append((mean, var, n))
        if self.kind == "sigmoid":
            self.saturated.append(((out - 0.5).abs_().gt_(_SIGMOID_CUT).sum(), n))
        elif self.kind == "tanh":
            self.saturated.append((out.abs().gt_(_TANH_CUT).sum(), n))
        elif self.kind == "relu_family":
            if out.dim() >= 2:
                alive = torch.any(out, dim=0)  # (units, *spatial): non-zero for some example
                if alive.dim() > 1:
                    alive = alive.flatten(1).any(dim=1)
            else:
                alive = torch.any(out).reshape(1)
            if self.alive is None:
                self.alive = alive
            elif self.alive.shape == alive.shape:
                self.alive = self.alive | alive
            else:
                self.shape_changed = True

    def summarise(self) -> dict[str, float | None]:
        """Combine the calls into act_mean, act_std, saturated_fraction, dead_fraction."""
        result: dict[str, float | None] = {
            "act_mean": None,
            "act_std": None,
            "saturated_fraction": None,
            "dead_fraction": None,
        }
        if len(self.moments) == 1:
            mean_t, var_t, _ = self.moments[0]
            result["act_mean"] = mean_t.item()
            result["act_std"] = math.sqrt(max(0.0, var_t.item()))
        elif self.moments:
            means = torch.stack([m for m, _, _ in self.moments]).double()
            variances = torch.stack([v for _, v, _ in self.moments]).double()
            counts = torch.tensor([c for _, _, c in self.moments], dtype=torch.float64)
            counts = counts.to(means.device)
            total = counts.sum()
            mean = (means * counts).sum() / total
            # law of total variance: mean of the variances + variance of the means
            var = ((variances + (means - mean) ** 2) * counts).sum() / total
            result["act_mean"] = float(mean)
            result["act_std"] = float(var.clamp_min(0).sqrt())
        if self.saturated:
            count = sum(int(c) for c, _ in self.saturated)
            result["saturated_fraction"] = count / sum(n for _, n in self.saturated)
        if self.alive is not None and not self.shape_changed:
            result["dead_fraction"] = 1.0 - int(self.alive.sum()) / self.alive.numel()
        return result


def make_hook(
    name: str, kind: str | None, buffer: dict[str, ActivationStats]
) -> Callable[[nn.Module, object, object], None]:
    """A forward hook that adds the module's output to ``buffer[name]`` in grad-enabled passes.

    Forward passes under ``torch.no_grad()`` (evaluation) are ignored: only the training forward
    whose backward the monitor records is counted.
    """

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        if not torch.is_grad_enabled():
            return
        out = _first_tensor(output)
        if out is None or not out.is_floating_point():
            return
        stats = buffer.get(name)
        if stats is None:
            stats = buffer[name] = ActivationStats(kind)
        stats.add(out)

    return hook
