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
  modules and for the monitored layers themselves, whose outputs are pre-activations), from
  :math:`\sum a` and :math:`\lVert a \rVert^2` as :math:`\sigma^2 = E[a^2] - E[a]^2` (in float64;
  the float32 sums lose digits only when :math:`|E[a]| \gg \sigma`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

# modules with a ReLU-like zero (or near-zero) branch, for the dead-unit count
from .._layer_kinds import RELU_FAMILY

__all__ = ["RELU_FAMILY", "SATURATING", "ActivationStats", "module_kind", "read_scalars"]

#: Modules whose units can saturate, with the threshold on the derivative computed from the output.
SATURATING: dict[type[nn.Module], str] = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}

#: ReLU-family modules whose output is never negative (a per-unit maximum finds the live units).
_NONNEGATIVE: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)

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

    Each call costs two or three fused reductions over the output and no host synchronisation
    (the total and the squared norm for the moments; a per-unit maximum of the magnitude for
    the ReLU family; a count beyond the cut for sigmoid/tanh). The numbers are read once, by
    :meth:`summarise`, when the step is recorded.
    """

    kind: str | None
    nonnegative: bool = False
    sums: list[tuple[torch.Tensor, torch.Tensor, int]] = field(default_factory=list)
    saturated: list[tuple[torch.Tensor, int]] = field(default_factory=list)
    alive: torch.Tensor | None = None  # bool per unit: non-zero for some example
    shape_changed: bool = False

    def add(self, out: torch.Tensor) -> None:
        """Add one forward call's output (N, units, *spatial) or (N,)."""
        out = out.detach()
        n = out.numel()
        if n == 0:
            return
        # Σa and ||a||²: var = E[a²] − E[a]², combined in float64 by summarise()
        self.sums.append((out.sum(), torch.linalg.vector_norm(out), n))
        if self.kind == "sigmoid":
            self.saturated.append(((out - 0.5).abs_().gt_(_SIGMOID_CUT).sum(), n))
        elif self.kind == "tanh":
            self.saturated.append((out.abs().gt_(_TANH_CUT).sum(), n))
        elif self.kind == "relu_family":
            self._add_alive(out)

    def _add_alive(self, out: torch.Tensor) -> None:
        magnitude = out if self.nonnegative else out.abs()
        if out.dim() >= 2:
            dims = (0, *range(2, out.dim()))
            alive = magnitude.amax(dim=dims) > 0  # (units,): non-zero for some example
        else:
            alive = (magnitude.amax() > 0).reshape(1)
        if self.alive is None:
            self.alive = alive
        elif self.alive.shape == alive.shape:
            self.alive = self.alive | alive
        else:
            self.shape_changed = True

    def scalars(self) -> list[torch.Tensor]:
        """The 0-d tensors :meth:`summarise` reads, in its order (read them all at once)."""
        out = [s for s, _, _ in self.sums] + [q for _, q, _ in self.sums]
        out += [c for c, _ in self.saturated]
        if self.alive is not None and not self.shape_changed:
            out.append(self.alive.sum())
        return out

    def summarise(self, values: list[float] | None = None) -> dict[str, float | None]:
        """Combine the calls into act_mean, act_std, saturated_fraction, dead_fraction.

        Args:
            values: the values of :meth:`scalars`, when the caller read them (with those of
                other modules, in one transfer); None reads them here.
        """
        if values is None:
            values = [float(t) for t in self.scalars()]
        result: dict[str, float | None] = {
            "act_mean": None,
            "act_std": None,
            "saturated_fraction": None,
            "dead_fraction": None,
        }
        k = len(self.sums)
        if k:
            total = sum(n for _, _, n in self.sums)
            mean = sum(values[:k]) / total
            square = sum(q * q for q in values[k : 2 * k]) / total
            result["act_mean"] = mean
            result["act_std"] = math.sqrt(max(0.0, square - mean * mean))
        m = len(self.saturated)
        if m:
            result["saturated_fraction"] = sum(values[2 * k : 2 * k + m]) / sum(
                n for _, n in self.saturated
            )
        if self.alive is not None and not self.shape_changed:
            result["dead_fraction"] = 1.0 - values[2 * k + m] / self.alive.numel()
        return result


def read_scalars(tensors: list[torch.Tensor]) -> list[float]:
    """The values of 0-d tensors with one stack and one host transfer per dtype and device."""
    groups: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault((t.dtype, t.device), []).append(i)
    values = [0.0] * len(tensors)
    for indices in groups.values():
        read = torch.stack([tensors[i] for i in indices]).tolist()
        for i, v in zip(indices, read, strict=True):
            values[i] = float(v)
    return values


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
            stats = buffer[name] = ActivationStats(kind, isinstance(module, _NONNEGATIVE))
        stats.add(out)

    return hook
