r"""Per-layer learning speeds of fully-connected nets, for one net or S stacked copies at once.

Nielsen's *learning speed* of hidden layer :math:`l` is the norm of the cost's gradient with
respect to its biases, :math:`\lVert \partial C / \partial b_l \rVert`; it is also the norm of
the batch-summed error signal :math:`\sum_x \delta_l(x) / N`. A second reading, which every
layer has whether or not it has a bias, uses the weights:
:math:`\lVert \partial C / \partial W_l \rVert_F / \sqrt{n_{in}}` (the :math:`\sqrt{n_{in}}`
puts layers of different fan-in on one scale).

The two differ in BatchNorm nets. There the layer's bias is BatchNorm's shift :math:`\beta_l`,
and :math:`\partial C / \partial \beta_l = \sum_x \partial C / \partial y_l(x)` is a *sum over the
batch*. The next BatchNorm's backward pass removes the batch mean of the gradient it passes on
(:math:`\partial C / \partial z_{l+1}` has zero batch mean per unit), so
:math:`\sum_x \sigma'(y_l(x)) \odot W_{l+1}^\top \partial C/\partial z_{l+1}(x)` is zero up to
the variation of :math:`\sigma'(y_l)` over the batch: :math:`\beta_l`'s gradient is small for
every hidden layer but the last, by construction rather than by vanishing. The weight-based
speed sums products :math:`\delta_l(x)\, a_{l-1}(x)^\top` instead and is not cancelled.

:func:`hidden_layer_speeds` reads either measure for the hidden layers ``fc1 … fcL`` of a net
built by :func:`nndl.nn.mlp` (where ``bn{l}`` is the BatchNorm of layer ``l``), or of a
:class:`~nndl.train.StackedModels` of such nets, from one forward and backward pass of the mean
cross-entropy over a batch, without changing the model (gradients and BatchNorm statistics are
restored).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import DTypeError, ShapeError, ValidationError, _tensors, check_choice

__all__ = [
    "SPEED_MEASURES",
    "hidden_layer_speeds",
    "log10_first_last",
    "log10_spread",
    "spread_factor",
]

#: The two readings of a layer's learning speed (see the module docstring).
SPEED_MEASURES: tuple[str, ...] = ("bias", "weight")


def _hidden_layers(module: nn.Module) -> int:
    names = dict(module.named_modules())
    depth = 0
    while f"fc{depth + 1}" in names:
        depth += 1
    if depth == 0:
        raise ValidationError(
            "model must be an nndl.nn.mlp (hidden layers named fc1, fc2, …) or a StackedModels "
            f"of them, got a {type(module).__name__} without an 'fc1'"
        )
    return depth


def _speed_tensor(
    params: dict[str, nn.Parameter], layer: int, measure: str, stacked: bool
) -> torch.Tensor:
    if measure == "weight":
        name = f"fc{layer}.weight"
    else:
        name = f"bn{layer}.bias" if f"bn{layer}.bias" in params else f"fc{layer}.bias"
        if name not in params:
            raise ValidationError(
                f"hidden layer {layer} has neither a bias nor a BatchNorm shift; "
                "use measure='weight'"
            )
    p = params[name]
    grad = p.grad if p.grad is not None else torch.zeros_like(p)
    flat = grad.detach().flatten(1) if stacked else grad.detach().flatten().unsqueeze(0)
    norm = flat.norm(dim=1)
    if measure == "weight":
        norm = norm / math.sqrt(p.shape[-1])
    return norm


def hidden_layer_speeds(
    model: nn.Module | Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    measure: Literal["bias", "weight"] = "bias",
) -> torch.Tensor:
    r"""Learning speeds of the hidden layers for the mean cross-entropy over ``(x, y)``.

    Args:
        model: an :func:`nndl.nn.mlp` net (logits (B, K)) or a
            :class:`~nndl.train.StackedModels` of S such nets (logits (S, B, K)); its training
            mode is used as it is (BatchNorm with batch statistics in training mode); or a
            list of S such nets (read one by one).
        x: Tensor[B, D] inputs, shared by the copies.
        y: Tensor[B] class indices.
        measure: ``"bias"`` for :math:`\lVert \partial C/\partial b_l \rVert` (BatchNorm's
            shift :math:`\beta_l` where layer l has one), ``"weight"`` for
            :math:`\lVert \partial C/\partial W_l \rVert_F / \sqrt{n_{in}}`.

    Returns:
        Tensor[S, L] (S = 1 for a single net; L hidden layers, input side first).

    Raises:
        DTypeError: ``model`` is not a module or ``x``/``y`` not tensors.
        ShapeError: ``x`` and ``y`` differ in length.
        ValidationError: an unknown ``measure``; a model without ``fc1``; a bias speed asked of
            a layer with neither bias nor BatchNorm.

    Example:
        >>> from nndl.nn import mlp
        >>> net = mlp([6, 5, 5, 3], "relu", init="kaiming_normal")
        >>> hidden_layer_speeds(net, torch.randn(8, 6), torch.zeros(8, dtype=torch.long)).shape
        torch.Size([1, 2])
    """
    check_choice(measure, SPEED_MEASURES, name="measure")
    if isinstance(model, list | tuple):
        if not model:
            raise ValidationError("model must be a net, a StackedModels or a non-empty list")
        return torch.cat([hidden_layer_speeds(m, x, y, measure=measure) for m in model])
    if not isinstance(model, nn.Module):
        raise DTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _tensors((x, y), ("x", "y"))
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"x and y must hold the same number of examples, got {x.shape[0]} and {y.shape[0]}",
            ("B",),
            tuple(y.shape),
        )
    inner = getattr(model, "stack", model)
    stacked = inner is not model
    depth = _hidden_layers(inner)
    params = dict(inner.named_parameters())
    saved_grads = {n: p.grad for n, p in params.items()}
    saved_buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        for p in params.values():
            p.grad = None
        logits = model(x)
        if stacked:
            s, b = logits.shape[:2]
            losses = F.cross_entropy(logits.reshape(s * b, -1), y.repeat(s), reduction="none")
            loss = losses.reshape(s, b).mean(dim=1).sum()  # copy s's gradient is its own
        else:
            loss = F.cross_entropy(logits, y)
        loss.backward()
        speeds = [_speed_tensor(params, layer, measure, stacked) for layer in range(1, depth + 1)]
    finally:
        for n, p in params.items():
            p.grad = saved_grads[n]
        with torch.no_grad():
            for n, buf in model.named_buffers():
                buf.copy_(saved_buffers[n])
    return torch.stack(speeds, dim=1)


def _speed_array(speeds: Any) -> np.ndarray:
    arr = np.asarray(speeds, dtype=np.float64)  # also parses JSON's "nan"/"inf" strings
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ShapeError(
            f"speeds must be a seeds × layers table, got shape {arr.shape}", ("S", "L"), arr.shape
        )
    return arr


def log10_spread(speeds: Any) -> np.ndarray:
    r"""Per seed, :math:`\log_{10}(\max_l s_l / \min_l s_l)`: how far apart the layers learn.

    Args:
        speeds: seeds × layers (array, tensor or nested lists; "nan"/"inf" strings allowed).

    Returns:
        Array[S]; ``inf`` where a speed is zero, ``nan`` where one is not finite.

    Example:
        >>> log10_spread([[0.1, 1.0, 0.5], [2.0, 2.0, 2.0]]).tolist()
        [1.0, 0.0]
    """
    arr = _speed_array(speeds)
    with np.errstate(all="ignore"):
        out = np.log10(arr.max(axis=1) / arr.min(axis=1))
    out[~np.isfinite(arr).all(axis=1)] = np.nan
    return out


def log10_first_last(speeds: Any) -> np.ndarray:
    r"""Per seed, :math:`\log_{10}(s_1 / s_L)`: > 0 when the gradient grows toward the input.

    Args:
        speeds: seeds × layers, input side first (as :func:`log10_spread`).

    Returns:
        Array[S] (``±inf``/``nan`` where a speed is zero or not finite).

    Example:
        >>> log10_first_last([[100.0, 10.0, 1.0]]).tolist()
        [2.0]
    """
    arr = _speed_array(speeds)
    with np.errstate(all="ignore"):
        return np.log10(arr[:, 0] / arr[:, -1])


def spread_factor(speeds: Any) -> float:
    r"""The layers' spread :math:`\max_l s_l / \min_l s_l`, geometric mean over seeds.

    :math:`10^{\overline{r}}` with :math:`r` = :func:`log10_spread` per seed: the typical
    factor between the fastest and the slowest layer (``inf`` if a speed is zero in some seed,
    ``nan`` if one is not finite).

    Args:
        speeds: seeds × layers (as :func:`log10_spread`).

    Example:
        >>> spread_factor([[0.1, 1.0], [1.0, 1000.0]])
        100.0
    """
    return float(10 ** np.mean(log10_spread(speeds)))
