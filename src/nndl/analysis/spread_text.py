"""Mean ± sample standard deviation over seeds, as the text of a report table or evidence."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import DTypeError, ValidationError, check_finite, check_int

__all__ = ["mean_sd_text"]


def mean_sd_text(values: Any, *, scale: float = 1.0, digits: int = 1) -> str:
    r"""``"m ± s"``: :math:`m = c\,\bar x`, :math:`s = c\,\sqrt{\sum_i (x_i - \bar x)^2/(n-1)}`.

    Args:
        values: the n ≥ 2 values, any array-like of shape (n,).
        scale: the factor c (100 for accuracies in per cent), finite.
        digits: decimals of both numbers, ≥ 0.

    Returns:
        The text, e.g. ``mean_sd_text([0.9, 0.8], scale=100) == "85.0 ± 7.1"``.

    Raises:
        DTypeError: ``values`` are not numbers.
        ValidationError: fewer than two values, values not one-dimensional, NaN/Inf in them,
            a non-finite ``scale`` or negative ``digits``.
    """
    check_finite(scale, name="scale")
    check_int(digits, name="digits", low=0)
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DTypeError(f"values must be numbers, got {values!r:.60}") from None
    check_finite(a, name="values")
    if a.ndim != 1 or a.size < 2:
        raise ValidationError(f"values must be one-dimensional with n >= 2, got shape {a.shape}")
    return f"{scale * a.mean():.{digits}f} ± {scale * a.std(ddof=1):.{digits}f}"
