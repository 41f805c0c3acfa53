r"""What a model costs per example: parameters, multiply-adds and activation memory.

Multiply-adds come from PyTorch's own :class:`torch.utils.flop_counter.FlopCounterMode`
(convolutions and matrix products; one multiply-add = 2 FLOPs). Pooling, activations and
normalisation do no multiply-adds and are not counted. For a convolution with :math:`C_{in}`
input and :math:`C_{out}` output channels, a :math:`k \times k` kernel and an
:math:`H_{out} \times W_{out}` output this is :math:`C_{out} H_{out} W_{out} \cdot C_{in} k^2`.

Activation memory is the number of elements every leaf module outputs for one example (what
autograd may keep for the backward pass), times the element size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import DTypeError, ValidationError, check_int

__all__ = ["ModelCost", "model_cost"]


@dataclass(frozen=True)
class ModelCost:
    """Per-example cost of a model's forward pass.

    Attributes:
        parameters: number of trainable parameter elements.
        multiply_adds: multiply-accumulate operations of one forward pass on one example.
        activation_elements: elements output by all leaf modules for one example.
        activation_bytes: ``activation_elements`` times the element size of the model's dtype.
        layer_outputs: ``{qualified name: output elements}`` of every leaf module.
    """

    parameters: int
    multiply_adds: int
    activation_elements: int
    activation_bytes: int
    layer_outputs: dict[str, int]


def model_cost(
    model: nn.Module, input_shape: Sequence[int], *, dtype: torch.dtype | None = None
) -> ModelCost:
    """Count parameters, multiply-adds and activation memory for one example.

    Args:
        model: any module taking a batch ``Tensor[1, *input_shape]``.
        input_shape: shape of one example, e.g. ``(1, 8, 8)``.
        dtype: dtype of the probe input (default: the dtype of the model's first parameter,
            float32 if it has none).

    Returns:
        A :class:`ModelCost`. The model is run once in eval mode under ``torch.no_grad`` on a
        zero input; its training mode is restored.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(256, 10))
        >>> cost = model_cost(net, (1, 8, 8))
        >>> cost.parameters, cost.multiply_adds, cost.activation_elements
        (2610, 4864, 522)
    """
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(model, nn.Module):
        raise DTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(input_shape)
    if not shape:
        raise ValidationError("input_shape must have at least one dimension, got ()")
    for axis, v in enumerate(shape):
        check_int(v, name=f"input_shape[{axis}]", low=1)
    params = list(model.parameters())
    if dtype is None:
        dtype = params[0].dtype if params else torch.float32
    device = params[0].device if params else torch.device("cpu")
    outputs: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if name and not list(module.children()):

            def hook(_m, _inp, out, name=name):
                if isinstance(out, torch.Tensor):
                    outputs[name] = outputs.get(name, 0) + out.numel()

            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *shape, dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    elements = sum(outputs.values())
    return ModelCost(
        parameters=sum(p.numel() for p in params if p.requires_grad),
        multiply_adds=int(counter.get_total_flops()) // 2,
        activation_elements=elements,
        activation_bytes=elements * torch.empty((), dtype=dtype).element_size(),
        layer_outputs=outputs,
    )
