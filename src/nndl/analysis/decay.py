r"""Geometric growth or decay: the factor per step of a log-linear fit.

A quantity that shrinks (or grows) by the same factor :math:`\rho` per step — a gradient passed
back through one more layer (G3, G4) or one more time step (G8) — follows
:math:`v(x) = v_0\,\rho^{x}`, a straight line on a log scale:
:math:`\log v = \log v_0 + x \log\rho`. :func:`geometric_fit` fits that line by least squares
and reports :math:`\rho = e^{b}`, the fitted decades lost over the fitted range and the fit's
:math:`R^2`; :func:`geometric_factor` returns :math:`\rho` alone.

Zeros (a gradient that underflowed, or was flushed to zero as a denormal) and non-finite values
carry no magnitude and are left out of the fit; the fit reports how many points it used.

:func:`decades_lost` reads a gradient profile over time steps (G8): the decades the fitted line
loses over the sequence, or float32's whole range when the gradient underflowed.
:func:`geometric_mean` averages such positive quantities on the log scale, as their spread over
seeds is symmetric there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import ShapeError, check_int

__all__ = [
    "FLOAT32_DECADES",
    "GeometricFit",
    "decades_lost",
    "geometric_factor",
    "geometric_fit",
    "geometric_mean",
]

#: Decades of float32's range (its largest finite value is about 3.4e38): the decay assigned to
#: a gradient that underflowed to zero.
FLOAT32_DECADES = 38.0


@dataclass(frozen=True)
class GeometricFit:
    r"""A least-squares fit :math:`\log v = a + b\,x`.

    Attributes:
        factor: :math:`\rho = e^{b}`, the factor per unit of ``x`` (< 1: decay; NaN when fewer
            than two usable points).
        intercept: :math:`e^{a}`, the fitted value at ``x = 0``.
        decades: :math:`-\log_{10}\rho \cdot (x_{max} - x_{min})`, the orders of magnitude the
            fitted line loses from the smallest to the largest ``x`` used (negative: growth).
        r2: coefficient of determination of the fit on the log scale (NaN when undefined).
        n: number of points used (positive and finite values).
    """

    factor: float
    intercept: float
    decades: float
    r2: float
    n: int


def geometric_fit(
    x: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray
) -> GeometricFit:
    r"""Fit :math:`v = v_0 \rho^{x}` to ``values`` at positions ``x`` by least squares on logs.

    Args:
        x: positions (distances, depths), shape (N,).
        values: the quantity at each position, shape (N,); zeros, negatives and non-finite
            values are left out.

    Returns:
        :class:`GeometricFit`; its numbers are NaN when fewer than two usable points remain or
        the usable positions are all equal.

    Raises:
        ShapeError: ``x`` and ``values`` are not 1-D arrays of one length.

    Example:
        >>> fit = geometric_fit([0, 1, 2, 3], [1.0, 0.5, 0.25, 0.125])
        >>> round(fit.factor, 6), round(fit.decades, 4), fit.n
        (0.5, 0.9031, 4)
    """
    xs = np.asarray(x, dtype=np.float64)
    vs = np.asarray(values, dtype=np.float64)
    if xs.ndim != 1 or vs.shape != xs.shape:
        raise ShapeError(
            f"x and values must be 1-D and of one length, got shapes {xs.shape} and {vs.shape}",
            ("N",),
            tuple(vs.shape),
        )
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(vs) & (vs > 0) & np.isfinite(xs)
    n = int(keep.sum())
    xs, logs = xs[keep], np.log(vs[keep])
    if n < 2 or float(np.ptp(xs)) == 0.0:
        return GeometricFit(math.nan, math.nan, math.nan, math.nan, n)
    slope, intercept = np.polyfit(xs, logs, 1)
    residual = logs - (intercept + slope * xs)
    total = float(((logs - logs.mean()) ** 2).sum())
    r2 = 1.0 - float((residual**2).sum()) / total if total > 0 else math.nan
    decades = -float(slope) / math.log(10) * float(np.ptp(xs))
    return GeometricFit(float(math.exp(slope)), float(math.exp(intercept)), decades, r2, n)


def geometric_factor(
    x: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray
) -> float:
    r"""The factor per unit of ``x`` of :func:`geometric_fit`: :math:`\rho = e^{b}` (NaN when
    fewer than two usable points)."""
    return geometric_fit(x, values).factor


def decades_lost(
    profile: Sequence[Any] | np.ndarray,
    *,
    min_distance: int = 1,
    underflow: float = FLOAT32_DECADES,
) -> float:
    r"""Decades :math:`D = -(T-1)\log_{10}\rho` a gradient profile loses over the sequence.

    ``profile[t]`` is the gradient norm at time step t of T, at distance :math:`T - 1 - t` from
    the loss; :math:`\rho` is the :func:`geometric_fit` factor over distances ``min_distance``
    … T − 1 (distance 0, where a read-out's own gradient enters, is left out by default).

    Args:
        profile: Array[T] (JSON's "nan"/"inf" strings allowed), T ≥ 2.
        min_distance: the smallest distance fitted (0 ≤ min_distance ≤ T − 2).
        underflow: returned when fewer than two fitted values are positive and finite (the
            gradient underflowed), or the fitted factor is not finite.

    Returns:
        :math:`D` (negative when the gradient grows toward early steps).

    Raises:
        ShapeError: ``profile`` is not 1-D with T ≥ 2.
        ValidationError: ``min_distance`` out of range.

    Example:
        >>> round(decades_lost([0.1**d for d in range(9, -1, -1)]), 6)
        9.0
    """
    g = np.asarray(profile, dtype=np.float64)
    if g.ndim != 1 or g.shape[0] < 2:
        raise ShapeError(f"profile must be 1-D with T >= 2, got shape {g.shape}", ("T",), g.shape)
    check_int(min_distance, name="min_distance", low=0, high=g.shape[0] - 2)
    distance = np.arange(len(g))[::-1]
    keep = distance >= min_distance
    fit = geometric_fit(distance[keep], g[keep])
    if not math.isfinite(fit.factor) or fit.factor <= 0:
        return float(underflow)
    return -math.log10(fit.factor) * (len(g) - 1)


def geometric_mean(values: Any, axis: int | None = None) -> Any:
    r""":math:`\exp(\overline{\ln v})` along ``axis`` (all values when None).

    Args:
        values: positive numbers (array, nested lists; "nan"/"inf" strings allowed).
        axis: the axis averaged over.

    Returns:
        A float (``axis`` None) or an array; 0 where a value is 0, NaN where one is NaN.

    Example:
        >>> round(float(geometric_mean([1.0, 100.0])), 12)
        10.0
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.log(np.asarray(values, dtype=np.float64)).mean(axis=axis))
