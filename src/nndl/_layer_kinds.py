"""Families of ``torch.nn`` activation layers that several parts of nndl recognise, listed once.

- :data:`ELEMENTWISE_ACTIVATIONS`: parameter-free, deterministic, element by element
  (:math:`y_i = f(x_i)` for every entry of a tensor of any shape);
- :data:`RELU_FAMILY`: a ReLU-like zero (or near-zero) branch for negative inputs, so that
  units can die.
"""

from __future__ import annotations

from torch import nn

__all__ = ["ELEMENTWISE_ACTIVATIONS", "RELU_FAMILY"]

#: ReLU-like activations: a zero (or near-zero) branch for negative inputs.
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

#: Parameter-free, deterministic element-wise activations: the ReLU family less PReLU (a
#: learned slope) and RReLU (a random slope in training), and the squashing functions.
ELEMENTWISE_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    *(a for a in RELU_FAMILY if a not in (nn.PReLU, nn.RReLU)),
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardsigmoid,
    nn.LogSigmoid,
)
