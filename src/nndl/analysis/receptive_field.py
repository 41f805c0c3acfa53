r"""Receptive fields of sequential CNNs: analytic (size, jump, start) and empirical (gradients).

For a layer with kernel :math:`k`, stride :math:`s`, padding :math:`p` (left/top) and dilation
:math:`d`, the effective kernel is :math:`k_e = d(k - 1) + 1` and, per spatial axis,

.. math::

    n_{out} &= \lfloor (n_{in} + 2p - k_e) / s \rfloor + 1 \\
    j_{out} &= j_{in}\, s \\
    r_{out} &= r_{in} + (k_e - 1)\, j_{in} \\
    c_{out} &= c_{in} + \bigl((k_e - 1)/2 - p\bigr)\, j_{in}

where :math:`r` is the receptive-field size in input pixels, :math:`j` the *jump* (the distance in
input pixels between two neighbouring units) and :math:`c` the *start*, the centre of the first
unit's receptive field (Dumoulin & Visin 2016; Araujo et al., Distill 2019). Unit :math:`i` of a
layer sees the input pixels :math:`c + i j \pm (r - 1)/2`.

Convention:
    - Input pixel ``i`` sits at coordinate ``i`` (0-based); boxes are inclusive ``(lo, hi)``.
    - Axes are the spatial axes in PyTorch order: ``(H, W)`` for 2-D, ``(L,)`` for 1-D.
    - Padding beyond the image is counted in the analytic field; :meth:`LayerReceptiveField.box`
      clips it to the image, which is what the gradient can see.
    - The analysis covers the spatial prefix of the model and stops at the first ``nn.Flatten``
      (every unit after it sees the whole input).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._layer_kinds import ELEMENTWISE_ACTIVATIONS
from .._validation import DTypeError, ValidationError, check_int
from ..nn import MaxoutPool

__all__ = ["LayerReceptiveField", "gradient_support", "receptive_field", "sequential_layers"]

# Modules that act on each spatial position separately: they leave the receptive field unchanged.
# BatchNorm counts as pointwise in eval mode (a per-channel affine map).
_POINTWISE: tuple[type[nn.Module], ...] = (
    nn.Identity,
    *ELEMENTWISE_ACTIVATIONS,
    nn.PReLU,  # a learned slope per channel
    nn.RReLU,
    nn.Tanhshrink,
    nn.Threshold,
    nn.Softmax2d,  # across the channels at each position
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    MaxoutPool,  # a maximum over channel groups at each position
)
_CONV = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_POOL = {
    nn.MaxPool1d: 1,
    nn.MaxPool2d: 2,
    nn.MaxPool3d: 3,
    nn.AvgPool1d: 1,
    nn.AvgPool2d: 2,
    nn.AvgPool3d: 3,
}


@dataclass(frozen=True)
class LayerReceptiveField:
    """The receptive field of the units after one layer, per spatial axis.

    Attributes:
        name: the layer's qualified name in the model (``"input"`` for the input itself).
        kind: the module's class name (``"Conv2d"``, ``"MaxPool2d"``, ``"ReLU"``, …).
        size: receptive-field size in input pixels, one entry per spatial axis.
        jump: distance in input pixels between neighbouring units, per axis.
        start: centre of the first unit's receptive field in input coordinates, per axis
            (can be negative or a half-integer).
        output_size: the layer's spatial output size, per axis.
    """

    name: str
    kind: str
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[float, ...]
    output_size: tuple[int, ...]

    def centre(self, position: Sequence[int]) -> tuple[float, ...]:
        """Centre, in input coordinates, of the field of the unit at ``position``."""
        return tuple(s + i * j for s, i, j in zip(self.start, position, self.jump, strict=True))

    def box(
        self, position: Sequence[int], input_size: Sequence[int] | None = None
    ) -> tuple[tuple[int, int], ...]:
        """Inclusive ``(lo, hi)`` input pixels seen by the unit at ``position``, per axis.

        Args:
            position: the unit's index along each spatial axis of this layer's output.
            input_size: when given, clip the box to ``[0, input_size - 1]`` (padding is not
                part of the image, so a unit's gradient can only reach the clipped box).
        """
        if len(position) != len(self.size):
            raise ValidationError(
                f"position must have {len(self.size)} entries (one per spatial axis), "
                f"got {tuple(position)}"
            )
        boxes = []
        for axis, c in enumerate(self.centre(position)):
            half = (self.size[axis] - 1) / 2
            lo, hi = round(c - half), round(c + half)
            if input_size is not None:
                lo, hi = max(lo, 0), min(hi, int(input_size[axis]) - 1)
            boxes.append((lo, hi))
        return tuple(boxes)


def sequential_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaf modules of a (possibly nested) ``nn.Sequential``, in order, with qualified names.

    A module that is not an ``nn.Sequential`` is returned as a single layer named by its class.
    """
    if not isinstance(model, nn.Module):
        raise DTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")

    def walk(module: nn.Module, prefix: str) -> Iterator[tuple[str, nn.Module]]:
        for name, child in module.named_children():
            qualified = f"{prefix}.{name}" if prefix else name
            if isinstance(child, nn.Sequential):
                yield from walk(child, qualified)
            else:
                yield qualified, child

    if isinstance(model, nn.Sequential):
        return list(walk(model, ""))
    return [(type(model).__name__, model)]


def _as_tuple(value: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * ndim
    out = tuple(int(v) for v in value)
    return out * ndim if len(out) == 1 else out


def _window(module: Any, ndim: int):
    """(kernel, stride, left padding, total padding, dilation, ceil_mode) per axis."""
    kernel = _as_tuple(module.kernel_size, ndim)
    stride = _as_tuple(module.stride if module.stride is not None else module.kernel_size, ndim)
    dilation = _as_tuple(getattr(module, "dilation", 1), ndim)
    padding = module.padding
    if padding == "valid":
        left = total = (0,) * ndim
    elif padding == "same":  # total padding d(k-1), the smaller half on the left/top
        total = tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
        left = tuple(t // 2 for t in total)
    else:
        left = _as_tuple(padding, ndim)
        total = tuple(2 * p for p in left)
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    return kernel, stride, left, total, dilation, ceil_mode


def receptive_field(model: nn.Module, input_shape: Sequence[int]) -> list[LayerReceptiveField]:
    """Per-layer receptive field, jump and start of a sequential CNN.

    Supports ``Conv{1,2,3}d`` (stride, padding including ``"same"``/``"valid"``, dilation),
    ``MaxPool{1,2,3}d`` (stride, padding, dilation, ``ceil_mode``), ``AvgPool{1,2,3}d`` and the
    pointwise modules (activations, Maxout over channels, BatchNorm in eval mode, Dropout,
    Identity). The analysis stops at the first ``nn.Flatten``.

    Args:
        model: an ``nn.Sequential`` (nested ones are flattened) or a single conv/pool module.
        input_shape: ``(C, *spatial)`` of one example, e.g. ``(1, 28, 28)``.

    Returns:
        One :class:`LayerReceptiveField` for the input (size 1, jump 1, start 0) and one per
        layer up to the first ``Flatten``.

    Raises:
        ValidationError: a module that is neither supported nor pointwise (the message names its
            type and position), a conv/pool of the wrong dimensionality, or an input too small
            for a layer.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        ...                     nn.Conv2d(4, 4, 3, padding=1))
        >>> for r in receptive_field(net, (1, 16, 16)):
        ...     print(r.name, r.kind, r.size, r.jump, r.start)
        input input (1, 1) (1, 1) (0.0, 0.0)
        0 Conv2d (3, 3) (1, 1) (0.0, 0.0)
        1 ReLU (3, 3) (1, 1) (0.0, 0.0)
        2 MaxPool2d (4, 4) (2, 2) (0.5, 0.5)
        3 Conv2d (8, 8) (2, 2) (0.5, 0.5)
    """
    shape = tuple(input_shape)
    if len(shape) < 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise ValidationError(
            f"input_shape must be (C, *spatial) with at least one spatial axis, got {shape}"
        )
    for axis, v in enumerate(shape):
        check_int(v, name=f"input_shape[{axis}]", low=1)
    ndim = len(shape) - 1
    size, jump = (1,) * ndim, (1,) * ndim
    start: tuple[float, ...] = (0.0,) * ndim
    n = shape[1:]
    layers = [LayerReceptiveField("input", "input", size, jump, start, n)]
    for name, module in sequential_layers(model):
        if isinstance(module, nn.Flatten):
            break
        if isinstance(module, _POINTWISE):
            layers.append(LayerReceptiveField(name, type(module).__name__, size, jump, start, n))
            continue
        kind: Any = type(module)
        dims = _CONV.get(kind) or _POOL.get(kind)
        if dims is None:
            raise ValidationError(
                f"receptive_field does not support module {name!r} of type "
                f"{type(module).__name__}; supported: Conv1d/2d/3d, MaxPool1d/2d/3d, "
                "AvgPool1d/2d/3d, Flatten and pointwise modules (activations, BatchNorm, "
                "Dropout, Identity)"
            )
        if dims != ndim:
            raise ValidationError(
                f"layer {name!r} ({type(module).__name__}) works on {dims}-D inputs but "
                f"input_shape {shape} has {ndim} spatial axes"
            )
        kernel, stride, left, total, dilation, ceil_mode = _window(module, ndim)
        new_size, new_jump, new_start, new_n = [], [], [], []
        for a in range(ndim):
            k_eff = dilation[a] * (kernel[a] - 1) + 1
            span = n[a] + total[a] - k_eff
            if span < 0:
                raise ValidationError(
                    f"input_shape {shape} is too small: layer {name!r} ({type(module).__name__}) "
                    f"gets {n[a]} positions on axis {a} but its window spans {k_eff}"
                )
            out = (math.ceil(span / stride[a]) if ceil_mode else span // stride[a]) + 1
            if ceil_mode and (out - 1) * stride[a] >= n[a] + left[a]:
                out -= 1  # PyTorch drops a last window that would start in the right padding
            new_n.append(out)
            new_size.append(size[a] + (k_eff - 1) * jump[a])
            new_start.append(start[a] + ((k_eff - 1) / 2 - left[a]) * jump[a])
            new_jump.append(jump[a] * stride[a])
        size, jump, start, n = tuple(new_size), tuple(new_jump), tuple(new_start), tuple(new_n)
        layers.append(LayerReceptiveField(name, type(module).__name__, size, jump, start, n))
    return layers


def gradient_support(
    model: nn.Module,
    input_shape: Sequence[int],
    layer: str,
    position: Sequence[int] | None = None,
    *,
    n_samples: int = 8,
    generator: torch.Generator | None = None,
) -> tuple[tuple[int, int], ...]:
    """The empirical receptive field: input pixels where a unit's input gradient is non-zero.

    The unit is a random mix :math:`u = \\sum_c r_c a_c` of the channels of ``layer``'s output at
    ``position``; its gradient with respect to a standard normal input is computed in float64 on
    a copy of the model (in eval mode), and the non-zero support is united over ``n_samples``
    inputs (ReLU and max pooling route the gradient through a data-dependent subset of the field).

    Args:
        model: a sequential CNN (as for :func:`receptive_field`).
        input_shape: ``(C, *spatial)`` of one example.
        layer: qualified name of the layer whose unit to probe (see :func:`sequential_layers`).
        position: the unit's index per spatial axis; default the centre of the output.
        n_samples: number of random inputs to unite.
        generator: random source for inputs and channel weights.

    Returns:
        Inclusive ``(lo, hi)`` per spatial axis of the pixels with a non-zero gradient, which is
        contained in :meth:`LayerReceptiveField.box` of the analytic field (clipped to the image).

    Raises:
        ValidationError: unknown layer, bad position, or a gradient that is zero everywhere.
    """
    import copy

    check_int(n_samples, name="n_samples", low=1)
    layers = sequential_layers(model)
    names = [name for name, _ in layers]
    if layer not in names:
        from .._validation import unknown_name_message

        raise ValidationError(unknown_name_message("layer", layer, names))
    prefix = nn.Sequential(*[copy.deepcopy(m) for _, m in layers[: names.index(layer) + 1]])
    prefix = prefix.double().eval()
    shape = tuple(input_shape)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    with torch.no_grad():
        probe = prefix(torch.zeros(1, *shape, dtype=torch.float64))
    if probe.dim() != len(shape) + 1:
        raise ValidationError(
            f"layer {layer!r} output has shape {tuple(probe.shape[1:])}, not (C, *spatial)"
        )
    spatial = tuple(probe.shape[2:])
    pos = tuple(s // 2 for s in spatial) if position is None else tuple(position)
    if len(pos) != len(spatial) or any(not 0 <= p < s for p, s in zip(pos, spatial, strict=True)):
        raise ValidationError(
            f"position must index the output of {layer!r} of spatial size {spatial}, got {pos}"
        )
    support = torch.zeros(shape[1:], dtype=torch.bool)
    for _ in range(n_samples):
        x = torch.randn(1, *shape, generator=gen, dtype=torch.float64, requires_grad=True)
        out = prefix(x)
        mix = torch.randn(out.shape[1], generator=gen, dtype=torch.float64)
        index = (0, slice(None), *pos)
        unit = (out[index] * mix).sum()
        (grad,) = torch.autograd.grad(unit, x)
        support |= grad[0].abs().sum(0) > 0
    if not support.any():
        raise ValidationError(
            f"the gradient of unit {pos} of layer {layer!r} is zero for all {n_samples} inputs "
            "(dead units?); try more samples"
        )
    boxes = []
    for axis in range(support.dim()):
        other = tuple(a for a in range(support.dim()) if a != axis)
        hit = support.any(dim=other) if other else support
        idx = torch.nonzero(hit).flatten()
        boxes.append((int(idx.min()), int(idx.max())))
    return tuple(boxes)
