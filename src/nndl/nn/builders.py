"""Network builders: fully-connected nets and small CNNs with named, swappable parts.

The builders name every part so that experiments and the
:class:`~nndl.diagnostics.GradientMonitor` can refer to layers by name (``fc1`` is the first
hidden layer, ``out`` the output layer) and so that ``model[:-1]`` is the network up to its
penultimate representation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from torch import nn

from .._validation import DTypeError, ValidationError, check_choice, check_int
from .activations import Maxout, MaxoutPool, activation
from .init import init_

__all__ = ["POOLS", "cnn", "mlp"]

#: Pooling choices of :func:`cnn`.
POOLS: tuple[str, ...] = ("max", "avg", "none", "stride")

ActivationSpec = str | type[nn.Module] | None


def _make_activation(spec: ActivationSpec, kwargs: Mapping[str, Any]) -> nn.Module | None:
    """A fresh activation from a name, an ``nn.Module`` class, or None (no activation)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return activation(spec, **kwargs)
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec(**kwargs)
    raise DTypeError(
        f"activation must be a name, an nn.Module class or None, got {type(spec).__name__}"
    )


def _maxout_pieces(spec: ActivationSpec, kwargs: Mapping[str, Any]) -> int | None:
    if spec == "maxout" or (isinstance(spec, type) and issubclass(spec, MaxoutPool | Maxout)):
        return check_int(kwargs.get("pieces", 2), name="pieces", low=1)
    return None


def _with_output(
    layers: OrderedDict[str, nn.Module],
    features: int,
    n_out: int,
    init: str | None,
    init_kwargs: Mapping[str, Any] | None,
) -> nn.Sequential:
    """``nn.Sequential`` of ``layers`` plus the Linear ``out`` (features → n_out), initialised.

    Raises:
        ValidationError: ``init_kwargs`` without an ``init`` scheme.
    """
    layers["out"] = nn.Linear(features, n_out)
    model = nn.Sequential(layers)
    if init is not None:
        init_(model, init, **dict(init_kwargs or {}))
    elif init_kwargs:
        raise ValidationError("init_kwargs given without an init scheme; pass init=...")
    return model


def mlp(
    sizes: Sequence[int],
    activation: ActivationSpec = "sigmoid",
    init: str | None = None,
    batchnorm: bool = False,
    activation_kwargs: Mapping[str, Any] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
) -> nn.Sequential:
    """A fully-connected network ``sizes = [in, h1, …, hL, out]`` with logits as output.

    Hidden layer l (1-based) is ``fc{l}`` (``nn.Linear``, or :class:`~nndl.nn.Maxout` when
    ``activation="maxout"``), then ``bn{l}`` (``nn.BatchNorm1d``, before the activation) when
    ``batchnorm``, then ``act{l}``. The output layer ``out`` is a Linear with no activation.

    Convention: with ``batchnorm=True`` the ``fc{l}`` layers have no bias: BatchNorm subtracts
    the batch mean, so such a bias would get an exactly zero gradient; BatchNorm's shift β plays
    its role (and is what Nielsen's learning speed ``||dC/db_l||`` reads for that layer). Maxout
    layers are their own non-linearity, so they have no ``act{l}``.

    Args:
        sizes: layer widths, at least [in, out].
        activation: a name from :data:`~nndl.nn.ACTIVATIONS`, an ``nn.Module`` class, or None.
        init: a scheme from :data:`~nndl.nn.INIT_SCHEMES` applied to every Linear/Maxout layer
            (None keeps PyTorch's default).
        batchnorm: insert BatchNorm1d before each hidden activation.
        activation_kwargs: keyword arguments of the activation (e.g. ``negative_slope``,
            ``pieces`` for maxout).
        init_kwargs: keyword arguments of :func:`~nndl.nn.init_` (``std``, ``fan_in_scaled``,
            ``bias_std``, ``nonlinearity``, ``generator`` …).

    Returns:
        ``nn.Sequential``; input (N, in) → logits (N, out).

    Raises:
        ValidationError: fewer than two sizes, a size < 1, unknown activation or scheme.

    Example:
        >>> net = mlp([64, 30, 30, 10], activation="sigmoid")
        >>> [name for name, _ in net.named_children()]
        ['fc1', 'act1', 'fc2', 'act2', 'out']
    """
    if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
        raise DTypeError(f"sizes must be a sequence of ints, got {type(sizes).__name__}")
    if len(sizes) < 2:
        raise ValidationError(f"sizes must have at least 2 entries [in, out], got {list(sizes)}")
    sizes = [check_int(s, name=f"sizes[{i}]", low=1) for i, s in enumerate(sizes)]
    act_kwargs = dict(activation_kwargs or {})
    pieces = _maxout_pieces(activation, act_kwargs)
    _make_activation(activation, act_kwargs)  # validate the name and keywords before building
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for index, (fan_in, fan_out) in enumerate(pairwise(sizes[:-1]), start=1):
        if pieces is not None:
            layers[f"fc{index}"] = Maxout(fan_in, fan_out, pieces)  # BN comes after the max
        else:
            layers[f"fc{index}"] = nn.Linear(fan_in, fan_out, bias=not batchnorm)
        if batchnorm:
            layers[f"bn{index}"] = nn.BatchNorm1d(fan_out)
        if pieces is None:
            act = _make_activation(activation, act_kwargs)
            if act is not None:
                layers[f"act{index}"] = act
    return _with_output(layers, sizes[-2], sizes[-1], init, init_kwargs)


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return check_int(value, name=name, low=1), value
    if isinstance(value, Sequence) and len(value) == 2:
        return (check_int(value[0], name=name, low=1), check_int(value[1], name=name, low=1))
    raise ValidationError(f"{name} must be an int or a pair (H, W), got {value!r}")


def cnn(
    in_channels: int,
    n_classes: int,
    image_size: int | Sequence[int],
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    pool: str = "max",
    activation: ActivationSpec = "relu",
    batchnorm: bool = False,
    hidden: int | None = None,
    activation_kwargs: Mapping[str, Any] | None = None,
    init: str | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
) -> nn.Sequential:
    """A small CNN: conv blocks, then ``flatten``, an optional hidden ``fc``, and ``out``.

    Block i (1-based) is ``conv{i}`` (padding ``kernel_size // 2``), ``bn{i}`` (BatchNorm2d,
    when ``batchnorm``), ``act{i}`` and ``pool{i}``: ``MaxPool2d(2)`` for ``"max"``,
    ``AvgPool2d(2)`` for ``"avg"``; with ``"stride"`` the convolution itself has stride 2 and
    there is no pooling module; with ``"none"`` the stride is 1 and there is no pooling. With
    ``activation="maxout"`` each convolution produces ``pieces`` × channels maps and ``act{i}``
    takes the maximum over groups of ``pieces`` channels.

    ``model[:-1](x)`` is the penultimate representation (the input of ``out``).

    Args:
        in_channels: C of the input images.
        n_classes: K, outputs of ``out`` (logits).
        image_size: H (square) or (H, W) of the input.
        channels: output channels of the conv blocks.
        kernel_size: odd kernel size.
        pool: one of :data:`POOLS`.
        activation: a name, an ``nn.Module`` class, or None.
        batchnorm: BatchNorm2d before each activation (the convolutions then have no bias).
        hidden: width of an optional hidden layer ``fc`` (Linear + ``fc_act``; a Maxout layer
            for ``activation="maxout"``).
        activation_kwargs: keyword arguments of the activation.
        init: an init scheme for every conv/linear layer (None keeps PyTorch's default).
        init_kwargs: keyword arguments of :func:`~nndl.nn.init_`.

    Returns:
        ``nn.Sequential``; input (N, C, H, W) → logits (N, K).

    Raises:
        ValidationError: bad sizes, an even kernel, an unknown pool or activation, or an image
            that pooling would shrink below 1×1.

    Example:
        >>> import torch
        >>> net = cnn(1, 10, 8, channels=(8, 16))
        >>> net(torch.zeros(2, 1, 8, 8)).shape, net[:-1](torch.zeros(2, 1, 8, 8)).shape
        (torch.Size([2, 10]), torch.Size([2, 64]))
    """
    check_int(in_channels, name="in_channels", low=1)
    check_int(n_classes, name="n_classes", low=1)
    height, width = _pair(image_size, "image_size")
    if isinstance(channels, int) or not channels:
        raise ValidationError(f"channels must be a non-empty sequence of ints, got {channels!r}")
    channels = [check_int(c, name=f"channels[{i}]", low=1) for i, c in enumerate(channels)]
    check_int(kernel_size, name="kernel_size", low=1)
    if kernel_size % 2 == 0:
        raise ValidationError(f"kernel_size must be odd (same padding), got {kernel_size}")
    check_choice(pool, POOLS, name="pool")
    if hidden is not None:
        check_int(hidden, name="hidden", low=1)
    act_kwargs = dict(activation_kwargs or {})
    pieces = _maxout_pieces(activation, act_kwargs) or 1
    _make_activation(activation, act_kwargs)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    previous = in_channels
    for index, out_ch in enumerate(channels, start=1):
        stride = 2 if pool == "stride" else 1
        layers[f"conv{index}"] = nn.Conv2d(
            previous,
            out_ch * pieces,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            bias=not batchnorm,
        )
        if batchnorm:
            layers[f"bn{index}"] = nn.BatchNorm2d(out_ch * pieces)
        act = _make_activation(activation, act_kwargs)
        if act is not None:
            layers[f"act{index}"] = act
        if pool in ("max", "avg", "stride"):
            # floor(H / 2) for the pools; floor((H - 1) / 2) + 1 for a stride-2 same conv
            height = height // 2 if pool != "stride" else (height - 1) // 2 + 1
            width = width // 2 if pool != "stride" else (width - 1) // 2 + 1
            if height < 1 or width < 1:
                raise ValidationError(
                    f"image_size {image_size!r} is too small for {len(channels)} pooled blocks "
                    f"(block {index} would give {height}×{width})"
                )
        if pool == "max":
            layers[f"pool{index}"] = nn.MaxPool2d(2)
        elif pool == "avg":
            layers[f"pool{index}"] = nn.AvgPool2d(2)
        previous = out_ch
    layers["flatten"] = nn.Flatten()
    features = previous * height * width
    if hidden is not None:
        if pieces > 1:  # a Maxout layer is its own non-linearity
            layers["fc"] = Maxout(features, hidden, pieces)
        else:
            layers["fc"] = nn.Linear(features, hidden)
            fc_act = _make_activation(activation, act_kwargs)
            if fc_act is not None:
                layers["fc_act"] = fc_act
        features = hidden
    return _with_output(layers, features, n_classes, init, init_kwargs)
