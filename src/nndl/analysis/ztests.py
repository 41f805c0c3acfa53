r"""Many standardised deviations at once: the Bonferroni max-|z| test and a three-way decision.

A Monte Carlo check often yields m standardised deviations
:math:`z_j = (\hat\theta_j - \theta_j) / \mathrm{se}_j` of estimates from their exact values
(a sample mean against the closed-form mean, a Monte Carlo ELBO against a quadrature, …). Each
:math:`z_j` is approximately :math:`N(0, 1)` when the code is right. The Bonferroni bound on
the family-wise p-value of the largest one,

.. math:: p = \min\!\big(1,\; m \cdot P(|Z| \ge \max_j |z_j|)\big)
          = \min\!\big(1,\; 2m\,\Phi(-\max_j |z_j|)\big)

(one-sided: :math:`m\,\Phi(-\max_j z_j)` for deviations that refute only in one direction),
needs no independence between the :math:`z_j`. :func:`z_decision` turns it into the three-way
verdict of a rule fixed in advance: "holds" when :math:`p \ge \alpha_{hold}` (no evidence of a
deviation), "does not hold" when :math:`p < \alpha_{fail}` (overwhelming evidence), and
"inconclusive" in between, where more samples would settle it.

Example:
    >>> round(max_z_pvalue([0.3, -1.2, 2.0]), 4)
    0.1365
    >>> z_decision(max_z_pvalue([0.3, -1.2, 2.0]), alpha_hold=1e-3, alpha_fail=1e-6)
    'holds'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import stats as _stats

from .._validation import ValidationError, check_in_range
from .stats import Decision

__all__ = ["max_z_pvalue", "z_decision"]


def max_z_pvalue(
    z: Sequence[float] | np.ndarray, *, alternative: Literal["two-sided", "greater"] = "two-sided"
) -> float:
    """Bonferroni family-wise p-value of the largest of ``m`` standardised deviations.

    Args:
        z: the m deviations (finite; NaN or ±inf are refused: a deviation that cannot be
            standardised is not evidence either way).
        alternative: ``"two-sided"`` (large ``|z|`` refutes) or ``"greater"`` (only large
            positive ``z`` refutes, e.g. an increase where a decrease is claimed).

    Returns:
        ``min(1, m · P(tail beyond the largest deviation))``.

    Raises:
        ValidationError: empty or non-finite ``z``, or an unknown ``alternative``.
    """
    if alternative not in ("two-sided", "greater"):
        raise ValidationError(f"alternative must be 'two-sided' or 'greater', got {alternative!r}")
    arr = np.asarray(z, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValidationError("z must hold at least one deviation, got none")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"z must be finite, got {arr.tolist()}")
    if alternative == "two-sided":
        tail = 2.0 * float(_stats.norm.sf(np.abs(arr).max()))
    else:
        tail = float(_stats.norm.sf(arr.max()))
    return min(1.0, arr.size * tail)


def z_decision(p_value: float, *, alpha_hold: float, alpha_fail: float) -> Decision:
    """Three-way decision from a family-wise p-value (see the module docstring).

    Args:
        p_value: from :func:`max_z_pvalue`, in [0, 1].
        alpha_hold: "holds" when ``p_value ≥ alpha_hold``.
        alpha_fail: "does not hold" when ``p_value < alpha_fail`` (≤ ``alpha_hold``).

    Returns:
        ``"holds"``, ``"does not hold"`` or ``"inconclusive"``.

    Raises:
        ValidationError: a value outside [0, 1], or ``alpha_fail > alpha_hold``.
    """
    check_in_range(p_value, name="p_value", low=0.0, high=1.0)
    check_in_range(alpha_hold, name="alpha_hold", low=0.0, high=1.0)
    check_in_range(alpha_fail, name="alpha_fail", low=0.0, high=1.0)
    if alpha_fail > alpha_hold:
        raise ValidationError(
            f"alpha_fail must not exceed alpha_hold, got {alpha_fail} > {alpha_hold}"
        )
    if p_value >= alpha_hold:
        return "holds"
    return "does not hold" if p_value < alpha_fail else "inconclusive"
