"""BasisRegressor: exact recovery of basis functions, counts, scikit-learn's estimator checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from nndl import ValidationError
from nndl.analysis import BasisRegressor, basis_matrix, multi_indices, n_basis, order_for_budget


# the checks' data reach |x| ≈ 3: give the periodic basis a domain that holds them
@parametrize_with_checks(
    [BasisRegressor(order=2), BasisRegressor("fourier", order=2, domain=(-10.0, 10.0))]
)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def test_polynomial_recovers_a_polynomial_of_its_order():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 5, size=(40, 2))
    y = 1 - 2 * x[:, 0] + 0.5 * x[:, 0] * x[:, 1] ** 2 + x[:, 1] ** 3
    model = BasisRegressor("polynomial", order=3, domain=(-3, 5)).fit(x, y)
    grid = rng.uniform(-3, 5, size=(100, 2))
    expected = 1 - 2 * grid[:, 0] + 0.5 * grid[:, 0] * grid[:, 1] ** 2 + grid[:, 1] ** 3
    np.testing.assert_allclose(model.predict(grid), expected, rtol=1e-9, atol=1e-9)
    assert model.n_params_ == 10 == n_basis(2, 3)


def test_fourier_recovers_a_trigonometric_series():
    x = np.linspace(-1, 1, 64, endpoint=False)[:, None]
    y = 0.5 + np.cos(np.pi * x[:, 0]) - 2 * np.sin(3 * np.pi * x[:, 0])
    model = BasisRegressor("fourier", order=6).fit(x, y)
    np.testing.assert_allclose(model.predict(x), y, atol=1e-10)
    # columns: 1, cos πx, sin πx, cos 2πx, sin 2πx, cos 3πx, sin 3πx
    np.testing.assert_allclose(model.coef_, [0.5, 1, 0, 0, 0, 0, -2], atol=1e-10)


def test_basis_sizes_and_multi_indices():
    assert [n_basis(1, m) for m in range(4)] == [1, 2, 3, 4]
    assert [n_basis(2, m) for m in range(4)] == [1, 3, 6, 10]
    alphas = multi_indices(2, 2)
    assert alphas.tolist() == [[0, 0], [0, 1], [1, 0], [0, 2], [1, 1], [2, 0]]
    assert basis_matrix(np.zeros((5, 3)), "fourier", 4).shape == (5, math.comb(7, 4))
    assert order_for_budget(2, 66) == 10 and order_for_budget(2, 65) == 9
    assert order_for_budget(1, 1) == 0


def test_ridge_shrinks_the_coefficients():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, size=(30, 1)), rng.normal(size=30)
    plain = BasisRegressor(order=8).fit(x, y)
    ridge = BasisRegressor(order=8, alpha=1.0).fit(x, y)
    assert np.linalg.norm(ridge.coef_) < np.linalg.norm(plain.coef_)


def test_rejects_bad_parameters():
    x, y = np.zeros((4, 1)), np.zeros(4)
    with pytest.raises(ValidationError, match="unknown basis 'chebyshev'"):
        BasisRegressor("chebyshev").fit(x, y)
    with pytest.raises(ValidationError, match="order"):
        BasisRegressor(order=-1).fit(x, y)
    with pytest.raises(ValidationError, match="alpha"):
        BasisRegressor(alpha=-1.0).fit(x, y)
    with pytest.raises(ValidationError, match="domain"):
        basis_matrix(x, "polynomial", 2, domain=(1, 1))
