r"""Weight initialisation schemes by name (claims G1, G4, G7).

Every scheme draws the weights :math:`W \in \mathbb{R}^{\text{out} \times \text{fan\_in}}` of each
Linear, Conv and :class:`~nndl.nn.Maxout` layer from a distribution whose scale is multiplied by
``std`` (so one knob sweeps the scale around any scheme, as experiment G7 does):

=================  ===========================================================================
scheme             weight distribution
=================  ===========================================================================
gaussian           :math:`N(0, \text{std}^2)`; with ``fan_in_scaled``
                   :math:`N(0, \text{std}^2 / \text{fan\_in})` (Nielsen's :math:`N(0, 1/n_{in})`)
xavier_normal      :math:`N(0, s^2)`, :math:`s = \text{std} \cdot g \sqrt{2 / (\text{fan\_in} +
                   \text{fan\_out})}`
xavier_uniform     :math:`U(\pm \sqrt{3}\, s)` with the same :math:`s`
kaiming_normal     :math:`N(0, s^2)`, :math:`s = \text{std} \cdot g / \sqrt{\text{fan\_in}}`
kaiming_uniform    :math:`U(\pm \sqrt{3}\, s)` with the same :math:`s`
orthogonal         a (semi-)orthogonal matrix times :math:`\text{std} \cdot g`
=================  ===========================================================================

:math:`g` is ``gain`` or, when it is not given, ``nn.init.calculate_gain(nonlinearity)`` (1 for
sigmoid, linear and 2-piece maxout, 5/3 for tanh, √2 for relu). Biases are drawn from
:math:`N(0, \text{bias\_std}^2)`, or set to zero when ``bias_std`` is 0, whatever the scheme.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import DTypeError, ValidationError, check_in_range, unknown_name_message
from .activations import Maxout

__all__ = ["INIT_SCHEMES", "init_", "initialisable_layers"]

#: Names accepted by :func:`init_`.
INIT_SCHEMES: tuple[str, ...] = (
    "gaussian",
    "xavier_normal",
    "xavier_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "orthogonal",
)

_LAYER_TYPES = (nn.Linear, nn.modules.conv._ConvNd, Maxout)

# nonlinearity -> (name understood by calculate_gain, its parameter)
_GAIN_ALIASES: dict[str, tuple[str, float | None]] = {
    "linear": ("linear", None),
    "identity": ("linear", None),
    "sigmoid": ("sigmoid", None),
    "tanh": ("tanh", None),
    "relu": ("relu", None),
    "leaky_relu": ("leaky_relu", 0.01),
    "prelu": ("leaky_relu", 0.25),
    "rrelu": ("leaky_relu", (1 / 8 + 1 / 3) / 2),
    "selu": ("selu", None),
    # No closed-form gain in PyTorch: these behave like ReLU for positive inputs.
    "elu": ("relu", None),
    "gelu": ("relu", None),
    # Maxout of 2 pieces keeps the second moment: for symmetric z1, z2, max(z1, z2)^2 and
    # min(z1, z2)^2 have one distribution and add up to z1^2 + z2^2, so E[max^2] = E[z^2]
    # (no halving as with ReLU): gain 1. ReLU's sqrt(2) would double the variance per layer.
    "maxout": ("linear", None),
}


def initialisable_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The (qualified name, layer) pairs :func:`init_` re-initialises: Linear, Conv, Maxout."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, _LAYER_TYPES)]


def _gain(nonlinearity: str, gain: float | None, param: float | None) -> float:
    if gain is not None:
        return check_in_range(gain, name="gain", low=0.0, low_inclusive=False)
    if nonlinearity not in _GAIN_ALIASES:
        raise ValidationError(unknown_name_message("nonlinearity", nonlinearity, _GAIN_ALIASES))
    torch_name, default_param = _GAIN_ALIASES[nonlinearity]
    value = param if param is not None else default_param
    return nn.init.calculate_gain(torch_name, value)  # type: ignore[arg-type]


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return fan_in, fan_out


@torch.no_grad()
def _init_weight(
    weight: torch.Tensor,
    scheme: str,
    *,
    std: float,
    fan_in_scaled: bool,
    gain: float,
    generator: torch.Generator | None,
) -> None:
    fan_in, fan_out = _fans(weight)
    if scheme == "gaussian":
        scale = std / math.sqrt(fan_in) if fan_in_scaled else std
        weight.normal_(0.0, scale, generator=generator)
    elif scheme.startswith("xavier") or scheme.startswith("kaiming"):
        denom = (fan_in + fan_out) / 2 if scheme.startswith("xavier") else fan_in
        scale = std * gain / math.sqrt(denom)
        if scheme.endswith("normal"):
            weight.normal_(0.0, scale, generator=generator)
        else:
            bound = math.sqrt(3.0) * scale
            weight.uniform_(-bound, bound, generator=generator)
    else:  # orthogonal
        nn.init.orthogonal_(weight, gain=std * gain, generator=generator)


def init_(
    module: nn.Module,
    scheme: str,
    *,
    std: float = 1.0,
    fan_in_scaled: bool = False,
    bias_std: float = 0.0,
    nonlinearity: str = "relu",
    gain: float | None = None,
    param: float | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Re-initialise every Linear/Conv/Maxout weight and bias of ``module`` in place.

    Args:
        module: any module; its Linear, Conv and Maxout layers are re-initialised (others, such
            as BatchNorm, keep their parameters).
        scheme: one of :data:`INIT_SCHEMES` (see the module docstring for the distributions).
        std: the scale for ``gaussian``; a multiplier on the standard scale for the others.
        fan_in_scaled: ``gaussian`` only: divide the standard deviation by √fan_in.
        bias_std: biases ~ N(0, bias_std²); 0 sets them to zero.
        nonlinearity: the activation that follows, for the gain (xavier, kaiming, orthogonal):
            any of :data:`~nndl.nn.ACTIVATIONS` or ``"linear"``/``"selu"``. ELU and GELU use
            ReLU's gain √2; Maxout uses 1, exact for 2 pieces (:math:`E[\\max(z_1, z_2)^2] =
            E[z^2]` for symmetric i.i.d. :math:`z_i`; with k > 2 pieces pass ``gain``).
        gain: overrides the gain derived from ``nonlinearity``.
        param: the negative slope for ``leaky_relu``-type gains (default 0.01; 0.25 for prelu).
        generator: the random generator (default: the global one).

    Returns:
        ``module`` itself.

    Raises:
        ValidationError: unknown scheme or nonlinearity, a scale out of range, or a module
            without any Linear/Conv/Maxout layer.

    Example:
        >>> net = init_(nn.Linear(100, 50), "gaussian", std=1.0, fan_in_scaled=True)
        >>> 0.07 < float(net.weight.detach().std()) < 0.13  # 1/sqrt(100) = 0.1
        True
    """
    if not isinstance(module, nn.Module):
        raise DTypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if scheme not in INIT_SCHEMES:
        raise ValidationError(unknown_name_message("init scheme", str(scheme), INIT_SCHEMES))
    check_in_range(std, name="std", low=0.0, low_inclusive=False)
    check_in_range(bias_std, name="bias_std", low=0.0)
    g = 1.0 if scheme == "gaussian" else _gain(nonlinearity, gain, param)
    layers = initialisable_layers(module)
    if not layers:
        raise ValidationError(
            f"module must contain a Linear, Conv or Maxout layer to initialise, got "
            f"{type(module).__name__} without any"
        )
    with torch.no_grad():
        for _, layer in layers:
            weight = layer.weight
            bias = getattr(layer, "bias", None)
            assert isinstance(weight, torch.Tensor)  # Linear, Conv and Maxout hold tensors
            _init_weight(
                weight,
                scheme,
                std=std,
                fan_in_scaled=fan_in_scaled,
                gain=g,
                generator=generator,
            )
            if isinstance(bias, torch.Tensor):
                if bias_std > 0:
                    bias.normal_(0.0, bias_std, generator=generator)
                else:
                    bias.zero_()
    return module
