r"""Synthetic sequence tasks for recurrent networks (claim G8).

The **adding problem** (Hochreiter & Schmidhuber 1997; the form of Le, Jaitly & Hinton 2015):
each sequence has ``length`` time steps with two features, a value :math:`v_t \sim U[0, 1]` and
a marker :math:`m_t \in \{0, 1\}`. Exactly two markers are 1: one at a uniformly drawn position
in the first half :math:`[0, \lfloor T/2 \rfloor)` and one in the second half
:math:`[\lfloor T/2 \rfloor, T)`. The target is the sum of the two marked values,

.. math:: y = \sum_t m_t v_t = v_i + v_j .

Since :math:`v_i, v_j` are independent :math:`U[0, 1]`, :math:`E[y] = 1` and
:math:`\operatorname{Var}[y] = 2 \cdot \tfrac{1}{12} = \tfrac16`: a model that ignores the input
and predicts 1 has mean squared error 1/6 ≈ 0.167, the task's baseline. The first marker lies at
least ``length - length // 2`` steps before the end, so solving the task means carrying
information over about T/2 steps or more.
"""

from __future__ import annotations

import torch

from .._validation import DTypeError, check_int

__all__ = ["ADDING_BASELINE_MSE", "adding_problem"]

#: Mean squared error of the constant prediction E[y] = 1 on the adding problem: Var[y] = 1/6.
ADDING_BASELINE_MSE: float = 1.0 / 6.0


def adding_problem(
    n: int, length: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` sequences of the adding problem (see the module docstring).

    Args:
        n: N, number of sequences (>= 1).
        length: T, time steps per sequence (>= 2, so that each half holds a marker).
        generator: a CPU ``torch.Generator`` for reproducible draws (default: the global RNG).

    Returns:
        ``(x, y)``: x Tensor[N, T, 2] float32 with ``x[..., 0]`` the values and ``x[..., 1]``
        the markers (exactly one 1 in each half), and y Tensor[N] float32, the sums of the two
        marked values.

    Raises:
        ValidationError: ``n`` < 1 or ``length`` < 2.
        DTypeError: ``generator`` is not a ``torch.Generator``.

    Example:
        >>> x, y = adding_problem(4, 10, torch.Generator().manual_seed(0))
        >>> x.shape, y.shape, x[..., 1].sum(dim=1).tolist()
        (torch.Size([4, 10, 2]), torch.Size([4]), [2.0, 2.0, 2.0, 2.0])
    """
    check_int(n, name="n", low=1)
    check_int(length, name="length", low=2)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise DTypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    half = length // 2
    values = torch.rand(n, length, generator=generator)
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)
    y = values[rows, first] + values[rows, second]
    return x, y
