"""The per-step factor of a log-linear fit (G3's per-layer factor, G8's per-step decay)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nndl import ShapeError
from nndl.analysis import geometric_factor, geometric_fit


def test_exact_geometric_sequences_give_their_factor_and_decades():
    x = np.arange(1, 50)
    fit = geometric_fit(x, 3.0 * 0.8**x)
    assert fit.factor == pytest.approx(0.8) and fit.intercept == pytest.approx(3.0)
    assert fit.decades == pytest.approx(-math.log10(0.8) * 48)
    assert fit.r2 == pytest.approx(1.0) and fit.n == 49
    assert geometric_factor(x, 2.0**x) == pytest.approx(2.0)
    assert geometric_fit(x, 2.0**x).decades < 0  # growth loses negative decades


def test_least_squares_on_the_log_scale():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    v = np.array([1.0, 0.1, 0.1, 0.001])
    slope, _ = np.polyfit(x, np.log(v), 1)
    fit = geometric_fit(x, v)
    assert fit.factor == pytest.approx(math.exp(slope))
    assert 0 < fit.r2 < 1


def test_zeros_and_non_finite_values_are_left_out():
    x = np.arange(6)
    v = np.array([0.0, 0.0, 1e-3, 1e-2, np.inf, 1.0])
    fit = geometric_fit(x, v)
    assert fit.n == 3 and fit.factor == pytest.approx(10.0)
    nothing = geometric_fit([1, 2], [0.0, 1.0])
    assert nothing.n == 1 and math.isnan(nothing.factor) and math.isnan(nothing.decades)
    assert math.isnan(geometric_fit([2, 2], [1.0, 0.5]).factor)  # one position: no slope


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ShapeError, match="x and values must be 1-D and of one length"):
        geometric_fit([1, 2, 3], [1.0, 2.0])
    with pytest.raises(ShapeError, match="1-D"):
        geometric_fit(np.ones((2, 2)), np.ones((2, 2)))
