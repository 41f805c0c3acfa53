r"""Classical function fitting: least squares on polynomial or Fourier bases (F1's baselines).

A target :math:`f : [-1, 1]^D \to \mathbb{R}` is approximated by
:math:`\hat f(x) = \sum_{\alpha} c_\alpha \phi_\alpha(x)` with tensor-product basis functions
:math:`\phi_\alpha(x) = \prod_d \phi_{\alpha_d}(x_d)` over the multi-indices of total order
:math:`|\alpha| = \sum_d \alpha_d \le M`, and the coefficients minimise
:math:`\|\Phi c - y\|^2 + \lambda \|c\|^2` (``numpy.linalg.lstsq``).

1-D functions, by index :math:`m = 0, 1, 2, \dots`:

- ``"polynomial"``: Legendre polynomials :math:`P_m(x)` (same span as :math:`1, x, \dots, x^M`,
  far better conditioned);
- ``"fourier"``: :math:`1, \cos \pi x, \sin \pi x, \cos 2\pi x, \sin 2\pi x, \dots` (period 2,
  the length of the domain).

Both bases therefore have :math:`\binom{D + M}{M}` coefficients at order :math:`M`
(:func:`n_basis`), so a polynomial and a Fourier fit of the same order have the same parameter
count. Inputs outside ``domain`` are mapped linearly onto [-1, 1].
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from .._validation import ValidationError, check_choice, check_int

__all__ = [
    "BASES",
    "BasisRegressor",
    "basis_matrix",
    "multi_indices",
    "n_basis",
    "order_for_budget",
]

BASES: tuple[str, ...] = ("polynomial", "fourier")


def n_basis(n_features: int, order: int) -> int:
    """Number of basis functions (= parameters) of total order <= ``order`` in ``n_features`` D."""
    check_int(n_features, name="n_features", low=1)
    check_int(order, name="order", low=0)
    return math.comb(n_features + order, order)


def multi_indices(n_features: int, order: int) -> np.ndarray:
    """All multi-indices :math:`\\alpha` with :math:`|\\alpha| \\le` ``order``, as int[P, D]."""
    n_basis(n_features, order)
    rows = [
        alpha
        for total in range(order + 1)
        for alpha in itertools.product(range(total + 1), repeat=n_features)
        if sum(alpha) == total
    ]
    return np.asarray(rows, dtype=np.int64).reshape(-1, n_features)


def _one_dim(t: np.ndarray, basis: str, order: int) -> np.ndarray:
    """float[N, order + 1]: the 1-D functions 0..order evaluated at t in [-1, 1]."""
    if basis == "polynomial":
        return np.polynomial.legendre.legvander(t, order)
    m = np.arange(order + 1)
    freq = (m + 1) // 2  # 0, 1, 1, 2, 2, ...
    angle = np.pi * np.outer(t, freq)
    return np.where(m % 2 == 1, np.cos(angle), np.sin(angle)) + (m == 0)


def basis_matrix(
    x: np.ndarray,
    basis: str,
    order: int,
    domain: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """The design matrix :math:`\\Phi` (float[N, P]) of ``basis`` up to total ``order``.

    Args:
        x: float[N, D] inputs (float[N] is read as D = 1).
        basis: ``"polynomial"`` (Legendre) or ``"fourier"``.
        order: total order M >= 0; P = comb(D + M, M) columns.
        domain: the interval mapped onto [-1, 1] on every axis.
    """
    check_choice(basis, BASES, name="basis")
    check_int(order, name="order", low=0)
    lo, hi = (float(v) for v in domain)
    if not hi > lo:
        raise ValidationError(f"domain must be (low, high) with high > low, got {domain!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValidationError(f"x must have shape (N, D) or (N,), got {x.shape}")
    t = 2 * (x - lo) / (hi - lo) - 1
    per_axis = [_one_dim(t[:, d], basis, order) for d in range(x.shape[1])]
    alphas = multi_indices(x.shape[1], order)
    phi = np.ones((x.shape[0], len(alphas)))
    for d, table in enumerate(per_axis):
        phi *= table[:, alphas[:, d]]
    return phi


class BasisRegressor(RegressorMixin, BaseEstimator):
    """Least-squares regression on a polynomial or Fourier basis (scikit-learn estimator).

    Parameters:
        basis: ``"polynomial"`` (Legendre) or ``"fourier"``.
        order: total order M of the basis; the model has ``comb(D + M, M)`` coefficients.
        domain: interval of each input axis, mapped onto [-1, 1].
        alpha: ridge penalty :math:`\\lambda \\ge 0` on the coefficients (0: plain least squares).

    Attributes:
        coef_: float[P] coefficients.
        n_features_in_: D.
        n_params_: P, the number of coefficients.
        rank_: numerical rank of the design matrix.

    The least-squares solve runs with a single BLAS thread (like scikit-learn's ``KMeans``):
    the problems are small, and a multi-threaded BLAS on a busy machine made them 50× slower.

    Example:
        >>> x = np.linspace(-1, 1, 50)[:, None]
        >>> model = BasisRegressor("polynomial", order=2).fit(x, 3 * x[:, 0] ** 2 - 1)
        >>> bool(np.allclose(model.predict(x), 3 * x[:, 0] ** 2 - 1)), model.n_params_
        (True, 3)
    """

    def __init__(
        self,
        basis: str = "polynomial",
        order: int = 5,
        domain: tuple[float, float] = (-1.0, 1.0),
        alpha: float = 0.0,
    ):
        self.basis = basis
        self.order = order
        self.domain = domain
        self.alpha = alpha

    def _check_params(self) -> None:
        check_choice(self.basis, BASES, name="basis")
        check_int(self.order, name="order", low=0)
        if not (isinstance(self.alpha, int | float) and self.alpha >= 0):
            raise ValidationError(f"alpha must be a number >= 0, got {self.alpha!r}")

    def _domain(self) -> tuple[float, float]:
        lo, hi = self.domain
        return float(lo), float(hi)

    def fit(self, X: np.ndarray, y: np.ndarray) -> BasisRegressor:
        """Solve the (ridge) least-squares problem; returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        phi = basis_matrix(X, self.basis, self.order, self._domain())
        if self.alpha > 0:
            p = phi.shape[1]
            phi = np.vstack([phi, math.sqrt(self.alpha) * np.eye(p)])
            y = np.concatenate([y, np.zeros(p)])
        with threadpool_limits(limits=1, user_api="blas"):  # see the class docstring
            self.coef_, _, self.rank_, _ = np.linalg.lstsq(phi, y, rcond=None)
        self.n_params_ = int(self.coef_.shape[0])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """float[N] predictions."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        phi = basis_matrix(X, self.basis, self.order, self._domain())
        with threadpool_limits(limits=1, user_api="blas"):
            return phi @ self.coef_


def order_for_budget(n_features: int, budget: int) -> int:
    """The largest order whose basis has at most ``budget`` functions (at least order 0)."""
    check_int(budget, name="budget", low=1)
    order = 0
    while n_basis(n_features, order + 1) <= budget:
        order += 1
    return order
