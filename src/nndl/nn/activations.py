r"""Activation functions by name, and Maxout (claim G5).

PyTorch's own modules are used wherever they exist; only Maxout is written here.

.. math::

    \mathrm{sigmoid}(z) = \frac{1}{1 + e^{-z}}, \qquad
    \mathrm{tanh}(z), \qquad
    \mathrm{ReLU}(z) = \max(0, z), \qquad
    \mathrm{LeakyReLU}(z) = \max(0, z) + \gamma \min(0, z)

PReLU learns the slope :math:`\gamma` (one shared value or one per channel); RReLU draws it
from :math:`U(\text{lower}, \text{upper})` for every element in training and uses the mean
:math:`(\text{lower} + \text{upper}) / 2` in evaluation. Maxout with :math:`k` pieces takes the
maximum of :math:`k` affine functions of the input:

.. math::

    h_i(x) = \max_{j = 1 \dots k} \left( w_{ij}^\top x + b_{ij} \right)

Convention: the :math:`k \cdot F` inputs of :func:`maxout` are split into :math:`F` contiguous
groups of :math:`k` along dimension 1 (unit :math:`i` takes inputs :math:`ik, \dots, ik + k - 1`),
so the same function serves fully-connected ``(N, k·F)`` and convolutional ``(N, k·C, H, W)``
tensors.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import (
    DTypeError,
    ValidationError,
    check_int,
    check_shape,
    unknown_name_message,
)

__all__ = ["ACTIVATIONS", "Maxout", "MaxoutPool", "activation", "maxout"]

#: Names accepted by :func:`activation`.
ACTIVATIONS: tuple[str, ...] = (
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "prelu",
    "rrelu",
    "maxout",
    "elu",
    "gelu",
)


def maxout(x: torch.Tensor, pieces: int) -> torch.Tensor:
    """Maximum over ``pieces`` contiguous groups of dimension 1.

    Args:
        x: Tensor[N, k·F, *], the k affine pieces of F units (k = ``pieces``).
        pieces: k >= 1.

    Returns:
        Tensor[N, F, *]; ``out[:, i] = max(x[:, i*k], …, x[:, i*k + k - 1])``.

    Raises:
        ValidationError: ``pieces`` < 1, or dimension 1 of ``x`` is not a multiple of it.

    Example:
        >>> maxout(torch.tensor([[1.0, 3.0, -2.0, -5.0]]), pieces=2)
        tensor([[ 3., -2.]])
    """
    check_int(pieces, name="pieces", low=1)
    check_shape(x, "N C *", name="maxout input")
    channels = x.shape[1]
    if channels % pieces:
        raise ValidationError(
            f"maxout input must have a multiple of pieces={pieces} features in dimension 1, "
            f"got {channels}"
        )
    grouped = x.reshape(x.shape[0], channels // pieces, pieces, *x.shape[2:])
    return grouped.amax(dim=2)


class MaxoutPool(nn.Module):
    """The Maxout non-linearity alone: (N, k·F, *) → (N, F, *). See :func:`maxout`."""

    def __init__(self, pieces: int = 2):
        super().__init__()
        self.pieces = check_int(pieces, name="pieces", low=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return maxout(x, self.pieces)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class Maxout(nn.Module):
    r"""A Maxout layer: ``pieces`` affine maps of the input, then their maximum.

    The layer owns its parameters directly (``weight`` and ``bias``, laid out like a
    :class:`torch.nn.Linear` with ``out_features * pieces`` outputs), so initialisers and the
    :class:`~nndl.diagnostics.GradientMonitor` treat it as one layer. See :func:`maxout`.

    Args:
        in_features: D, inputs per example.
        out_features: F, units after the maximum.
        pieces: k, affine pieces per unit.
        bias: learn a bias per piece.

    Shape:
        - input: (N, D).
        - output: (N, F).

    Example:
        >>> Maxout(4, 3, pieces=2)(torch.zeros(5, 4)).shape
        torch.Size([5, 3])
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True):
        super().__init__()
        self.in_features = check_int(in_features, name="in_features", low=1)
        self.out_features = check_int(out_features, name="out_features", low=1)
        self.pieces = check_int(pieces, name="pieces", low=1)
        self.weight = nn.Parameter(torch.empty(out_features * pieces, in_features))
        self.bias = nn.Parameter(torch.empty(out_features * pieces)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default for ``nn.Linear``: U(±1/√D) for weights and biases."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape(x, ("N", self.in_features), name="Maxout input")
        return maxout(F.linear(x, self.weight, self.bias), self.pieces)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pieces={self.pieces}, bias={self.bias is not None}"
        )


def _rrelu(lower: float = 1 / 8, upper: float = 1 / 3) -> nn.Module:
    if not 0 <= lower <= upper:
        raise ValidationError(f"rrelu needs 0 <= lower <= upper, got lower={lower}, upper={upper}")
    return nn.RReLU(lower=lower, upper=upper)


def _prelu(num_parameters: int = 1, init: float = 0.25) -> nn.Module:
    check_int(num_parameters, name="num_parameters", low=1)
    return nn.PReLU(num_parameters=num_parameters, init=init)


_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "prelu": _prelu,
    "rrelu": _rrelu,
    "maxout": MaxoutPool,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def _keywords(factory: Callable[..., nn.Module]) -> list[str]:
    params = inspect.signature(factory).parameters.values()
    return [p.name for p in params if p.name not in ("self", "inplace")]


def activation(name: str, **kwargs: object) -> nn.Module:
    """A new activation module by name.

    Args:
        name: one of :data:`ACTIVATIONS`.
        **kwargs: passed to the module: ``negative_slope`` (leaky_relu, default 0.01),
            ``num_parameters`` (prelu: 1 = one shared slope, C = one per channel) and ``init``
            (prelu, default 0.25), ``lower``/``upper`` (rrelu, default 1/8 and 1/3),
            ``pieces`` (maxout, default 2), ``alpha`` (elu), ``approximate`` (gelu).

    Returns:
        ``nn.Sigmoid``, ``nn.Tanh``, ``nn.ReLU``, ``nn.LeakyReLU``, ``nn.PReLU``, ``nn.RReLU``,
        :class:`MaxoutPool`, ``nn.ELU`` or ``nn.GELU``. Maxout maps (N, k·F, *) → (N, F, *);
        every other activation keeps the shape.

    Raises:
        ValidationError: unknown name (the message lists the valid names, closest first) or a
            keyword the activation does not take.

    Example:
        >>> activation("rrelu").eval()(torch.tensor([-48.0]))  # eval slope = (1/8 + 1/3) / 2
        tensor([-11.])
    """
    if not isinstance(name, str):
        raise DTypeError(f"activation name must be a str, got {type(name).__name__}")
    if name not in _FACTORIES:
        raise ValidationError(unknown_name_message("activation", name, ACTIVATIONS))
    factory = _FACTORIES[name]
    allowed = _keywords(factory)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValidationError(
            f"activation {name!r} does not take {', '.join(unknown)}; "
            f"it takes: {', '.join(allowed) or 'no keyword arguments'}"
        )
    return factory(**kwargs)
