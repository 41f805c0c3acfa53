r"""A sequence model unrolled step by step: vanilla RNN or LSTM (claim G8).

A vanilla RNN updates :math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`, so

.. math::

    \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\, W_{hh}
    \quad\Rightarrow\quad
    \frac{\partial C}{\partial h_t} = \frac{\partial C}{\partial h_T}
        \prod_{s = t + 1}^{T} \operatorname{diag}(1 - h_s^2)\, W_{hh}

a product of T − t Jacobians that vanishes (or explodes) geometrically with the distance to
the loss. The LSTM's cell state :math:`c_t = f_t \odot c_{t-1} + i_t \odot g_t` adds instead of
multiplying through a squashing non-linearity, and its forget gate :math:`f_t` can learn to keep
:math:`\partial c_t / \partial c_{t-1} \approx 1` over long distances.

The model is unrolled with ``nn.RNNCell`` / ``nn.LSTMCell`` so that every hidden state is a node
of the autograd graph and :math:`\partial C / \partial h_t` can be read for every t.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_choice, check_int, check_shape

__all__ = ["CELLS", "SequenceModel"]

#: Cell types of :class:`SequenceModel`.
CELLS: tuple[str, ...] = ("rnn", "lstm")


class SequenceModel(nn.Module):
    """A one-layer recurrent network read out from its last hidden state.

    Args:
        input_size: D, features per time step.
        hidden_size: H, hidden units.
        output_size: outputs of the linear read-out ``head``.
        cell: ``"rnn"`` (``nn.RNNCell``) or ``"lstm"`` (``nn.LSTMCell``).
        nonlinearity: ``"tanh"`` or ``"relu"`` for the vanilla RNN (ignored by the LSTM).

    Shape:
        - input: (B, T, D).
        - output: (B, output_size), computed from :math:`h_T`.
        - states (``return_states=True``): (B, T, H), the hidden states :math:`h_1 … h_T`.

    Convention: with ``return_states=True`` the returned ``states`` tensor is where the forward
    pass reads each :math:`h_t` from, so ``torch.autograd.grad(loss, states)`` is
    :math:`\\partial C / \\partial h_t` for every t, through all later time steps (the total
    derivative, not just the direct term). It is a leaf tensor holding the values of the
    :math:`h_t`; gradients still reach every parameter as usual.

    Example:
        >>> model = SequenceModel(2, 8, 1, cell="lstm")
        >>> out, states = model(torch.zeros(3, 5, 2), return_states=True)
        >>> out.shape, states.shape
        (torch.Size([3, 1]), torch.Size([3, 5, 8]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        cell: str = "rnn",
        nonlinearity: str = "tanh",
    ):
        super().__init__()
        self.input_size = check_int(input_size, name="input_size", low=1)
        self.hidden_size = check_int(hidden_size, name="hidden_size", low=1)
        self.output_size = check_int(output_size, name="output_size", low=1)
        self.cell_type = check_choice(cell, CELLS, name="cell")
        if cell == "rnn":
            check_choice(nonlinearity, ("tanh", "relu"), name="nonlinearity")
            self.cell: nn.Module = nn.RNNCell(input_size, hidden_size, nonlinearity=nonlinearity)
        else:
            self.cell = nn.LSTMCell(input_size, hidden_size)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(
        self, x: torch.Tensor, return_states: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Run the recurrence over ``x`` (B, T, D); see the class docstring for the outputs."""
        check_shape(x, ("B", "T", self.input_size), name="x")
        batch, steps = x.shape[0], x.shape[1]
        h = x.new_zeros(batch, self.hidden_size)
        c = x.new_zeros(batch, self.hidden_size) if self.cell_type == "lstm" else None
        states = None
        if return_states:
            # A leaf that holds h_1 … h_T. Each step continues from states[:, t] + (h - h.detach()):
            # the value is h_t (the bracket is exactly zero), the parameters get their usual
            # gradient through h, and d(loss)/d(states[:, t]) is the total derivative dC/dh_t.
            states = x.new_zeros(batch, steps, self.hidden_size, requires_grad=True)
        for t in range(steps):
            if c is not None:
                h, c = self.cell(x[:, t], (h, c))
            else:
                h = self.cell(x[:, t], h)
            if states is not None:
                with torch.no_grad():
                    states[:, t] = h
                h = states[:, t] + (h - h.detach())
        out = self.head(h)
        return (out, states) if states is not None else out

    def extra_repr(self) -> str:
        return f"cell={self.cell_type!r}"
