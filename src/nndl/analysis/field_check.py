r"""Analytic receptive fields checked against the gradient of a unit (P3).

For a chain of layers with kernel :math:`k_l` and stride :math:`s_l` the field size :math:`r`
and the jump :math:`j` (input pixels between neighbouring units) follow

.. math:: r_l = r_{l-1} + (k_l - 1)\, j_{l-1}, \qquad j_l = j_{l-1}\, s_l,
          \qquad r_0 = j_0 = 1

(:func:`~nndl.analysis.receptive_field`). :func:`check_receptive_fields` measures the same
quantity independently: the pixels where the centre unit's input gradient is non-zero, united
over random inputs (:func:`~nndl.analysis.gradient_support`). For a plain CNN both boxes are
equal; a difference means the recurrence (or the model's description) is wrong.

Example:
    >>> import torch
    >>> from nndl.nn import cnn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = cnn(1, 10, 24, channels=(4, 4), pool="max")
    >>> [(c.layer, c.size[0], c.matches) for c in check_receptive_fields(net, (1, 24, 24),
    ...                                                                   ["pool1", "pool2"])]
    [('pool1', 4, True), ('pool2', 10, True)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import (
    DTypeError,
    ValidationError,
    check_finite,
    check_int,
    unknown_name_message,
)
from .receptive_field import gradient_support, receptive_field

__all__ = ["FieldCheck", "check_receptive_fields"]

Box = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class FieldCheck:
    """The analytic field of one layer's centre unit and its measured gradient support.

    Attributes:
        layer: the layer's qualified name.
        size: analytic field size per spatial axis (not clipped to the image).
        jump: input pixels between neighbouring units, per axis.
        analytic: inclusive ``(lo, hi)`` box of the centre unit, clipped to the image.
        empirical: inclusive ``(lo, hi)`` box of the pixels with a non-zero input gradient.
    """

    layer: str
    size: tuple[int, ...]
    jump: tuple[int, ...]
    analytic: Box
    empirical: Box

    @property
    def matches(self) -> bool:
        """Whether the analytic box equals the gradient support."""
        return self.analytic == self.empirical

    @property
    def empirical_size(self) -> tuple[int, ...]:
        """Pixels per axis of the gradient support, ``hi − lo + 1``."""
        return tuple(hi - lo + 1 for lo, hi in self.empirical)


def check_receptive_fields(
    model: nn.Module,
    input_shape: Sequence[int],
    layers: Sequence[str],
    *,
    n_samples: int = 8,
    generator: torch.Generator | None = None,
) -> list[FieldCheck]:
    """Compare the analytic field of each named layer's centre unit with its gradient support.

    Args:
        model: a sequential CNN (as for :func:`~nndl.analysis.receptive_field`).
        input_shape: ``(C, *spatial)`` of one example.
        layers: qualified layer names, checked in this order (``generator`` is consumed in it).
        n_samples: random inputs united per layer (:func:`~nndl.analysis.gradient_support`).
        generator: random source for the probes (None: a fixed seed per layer).

    Returns:
        One :class:`FieldCheck` per layer, in the order of ``layers``.

    Raises:
        DTypeError: ``model`` not an ``nn.Module``, ``input_shape`` not a sequence of ints,
            ``layers`` not a sequence of strings, or ``generator`` neither a
            ``torch.Generator`` nor None.
        ValidationError: a NaN/Inf parameter, an ``input_shape`` entry < 1, no layers, an
            unknown layer name, or ``n_samples`` < 1; all checked before any probe runs.
    """
    if not isinstance(model, nn.Module):
        raise DTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for pname, param in model.named_parameters():
        check_finite(param.detach(), name=f"model parameter {pname}")
    if isinstance(input_shape, str | bytes) or not isinstance(input_shape, Sequence):
        raise DTypeError(
            "input_shape must be a sequence of ints (C, *spatial), got "
            f"{type(input_shape).__name__}"
        )
    for i, n in enumerate(input_shape):
        check_int(n, name=f"input_shape[{i}]", low=1)
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise DTypeError(f"layers must be a sequence of layer names, got {type(layers).__name__}")
    names = list(layers)
    if not names:
        raise ValidationError("layers must name at least one layer, got none")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise DTypeError(f"layers[{i}] must be a str, got {type(name).__name__}")
    check_int(n_samples, name="n_samples", low=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise DTypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    fields = {f.name: f for f in receptive_field(model, input_shape)}
    for name in names:
        if name not in fields:
            raise ValidationError(unknown_name_message("layer", name, fields))
    checks = []
    for name in names:
        field = fields[name]
        centre = tuple(n // 2 for n in field.output_size)
        support = gradient_support(
            model, input_shape, name, centre, n_samples=n_samples, generator=generator
        )
        analytic = field.box(centre, tuple(input_shape)[1:])
        empirical = tuple((int(lo), int(hi)) for lo, hi in support)
        checks.append(FieldCheck(name, field.size, field.jump, analytic, empirical))
    return checks
