r"""Dequantisation of image data, and its inverse for samples of a density model.

Images of :math:`L` grey levels arrive as :math:`x = b / (L - 1)` with integer pixels
:math:`b \in \{0, \dots, L - 1\}`. A continuous density fitted to such data can put unbounded
mass on the :math:`L` points; adding uniform noise,

.. math::
    \tilde x = \frac{b + u}{L}, \qquad u \sim \mathcal U(0, 1),

spreads every pixel over its own bin :math:`[b/L, (b + 1)/L)`, so that a density :math:`p` on
:math:`[0, 1)^D` gives the discrete model :math:`P(b) \ge p(\tilde x) / L^D` on average
(Theis et al. 2016). :func:`requantize` maps a sample back: :math:`b = \lfloor L\tilde x\rfloor`.
"""

from __future__ import annotations

import torch

from .._validation import DTypeError, ValidationError, check_int

__all__ = ["dequantize", "requantize"]


def _check_levels(levels: int | None) -> int | None:
    return None if levels is None else check_int(levels, name="levels", low=2)


def dequantize(
    x: torch.Tensor, levels: int | None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``(pixel + u) / L`` for ``x = pixel / (L − 1)``, with ``u ~ U(0, 1)`` per element.

    Args:
        x: Tensor[...] floating point in [0, 1], on the scale ``pixel / (levels − 1)``.
        levels: the number of grey levels L (17 for the digits, 256 for 8-bit images); None
            returns ``x`` unchanged (data that are not quantised).
        generator: the random stream of ``u`` (drawn on the generator's device in ``x``'s
            dtype, then moved to ``x``'s device); None uses torch's global stream.

    Returns:
        Tensor[...] in [0, 1), same shape, dtype and device as ``x``.

    Raises:
        DTypeError: ``x`` is not a floating-point tensor.
        ValidationError: ``levels`` < 2, or ``x`` has values outside [0, 1] or NaN.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        what = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise DTypeError(f"x must be a floating-point tensor, got {what}")
    levels = _check_levels(levels)
    if levels is None:
        return x
    if x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValidationError(
            f"x must lie in [0, 1] (pixel / (levels − 1)), got values in "
            f"[{float(x.min())}, {float(x.max())}] (NaN counts as outside)"
        )
    pixels = torch.round(x * (levels - 1))
    device = generator.device if generator is not None else x.device
    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=device)
    return (pixels + noise.to(x.device)) / levels


def requantize(x: torch.Tensor, levels: int | None) -> torch.Tensor:
    """A sample on the dequantised scale back to ``pixel / (L − 1)``: ``⌊L x⌋ / (L − 1)``.

    Values outside [0, 1) are clamped to the nearest level; with ``levels`` None, ``x`` is
    clamped to [0, 1].

    Args:
        x: Tensor[...] floating point.
        levels: the number of grey levels L, or None.

    Returns:
        Tensor[...] in [0, 1], same shape, dtype and device as ``x``.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        what = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise DTypeError(f"x must be a floating-point tensor, got {what}")
    levels = _check_levels(levels)
    if levels is None:
        return x.clamp(0, 1)
    return torch.clamp(torch.floor(x * levels), 0, levels - 1) / (levels - 1)
