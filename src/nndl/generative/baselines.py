r"""Classical density baselines tuned on validation data, and bits per dimension (claim V1).

A learned density is judged against the best simple estimators of the same samples:

- :func:`tune_gaussian_mixture` — ``sklearn.mixture.GaussianMixture`` over a grid of
  component counts, covariance types and ``reg_covar``, scored by the mean validation
  log-likelihood;
- :func:`tune_kernel_density` — ``sklearn.neighbors.KernelDensity`` (Gaussian kernel) over a
  grid of bandwidths;
- :func:`em_agreement` — nndl's :class:`~nndl.generative.GaussianMixtureEM` and scikit-learn's
  ``GaussianMixture`` run from one initialisation, and their test scores compared;
- :func:`bits_per_dim` — nats per example of a dequantised density in bits per discrete
  dimension.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import DTypeError, ValidationError, check_finite, check_in_range, check_int
from .gmm import GaussianMixtureEM

__all__ = ["bits_per_dim", "em_agreement", "tune_gaussian_mixture", "tune_kernel_density"]


def bits_per_dim(nats: float, dims: int, levels: int) -> float:
    r"""Bits per dimension of L-level data from a dequantised log-likelihood in nats.

    Dequantising :math:`x = (\text{pixel} + u)/L` turns a discrete model P into a density
    :math:`p = L^D P` on :math:`[0, 1]^D`, so

    .. math:: \text{bits/dim} = \frac{D \ln L - \log p(x)}{D \ln 2};

    the uniform density (0 nats) scores :math:`\log_2 L`.

    Args:
        nats: log p(x) in nats per example.
        dims: D ≥ 1.
        levels: L ≥ 2.
    """
    check_int(dims, name="dims", low=1)
    check_int(levels, name="levels", low=2)
    return (dims * math.log(levels) - nats) / (dims * math.log(2.0))


def _check_fit_val(x_fit: Any, x_val: Any) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for value, name in ((x_fit, "x_fit"), (x_val, "x_val")):
        try:
            arrays.append(np.asarray(value, dtype=float))
        except (TypeError, ValueError):
            raise DTypeError(f"{name} must be numeric, got {type(value).__name__}") from None
        check_finite(arrays[-1], name=name)
    a, b = arrays
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValidationError(
            f"x_fit and x_val must be 2-D with the same columns, got {a.shape} and {b.shape}"
        )
    return a, b


def tune_gaussian_mixture(
    x_fit: Any,
    x_val: Any,
    *,
    components: Sequence[int],
    covariance_types: Sequence[str],
    reg_covars: Sequence[float],
    random_state: int | None = None,
    max_iter: int = 200,
) -> tuple[dict[str, Any], list[list[Any]]]:
    """The Gaussian mixture with the best mean validation log-likelihood on a grid.

    Args:
        x_fit: Array[N, D] to fit each candidate on; x_val: Array[M, D] to score it on.
        components, covariance_types, reg_covars: the grid (every combination is tried, in
            this order: covariance type, then components, then reg_covar).
        random_state, max_iter: passed to ``GaussianMixture``.

    Returns:
        ``(best, rows)``: best = ``{"covariance_type", "n_components", "reg_covar", "val"}``;
        rows = ``[covariance_type, n_components, reg_covar, validation score]`` per candidate
        (``-inf`` where the covariance is ill-defined at that ``reg_covar``).

    Raises:
        ValidationError: an empty grid, or no candidate could be fitted.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    x_fit, x_val = _check_fit_val(x_fit, x_val)
    if not (components and covariance_types and reg_covars):
        raise ValidationError("components, covariance_types and reg_covars must be non-empty")
    rows: list[list[Any]] = []
    for cov in covariance_types:
        for k in components:
            for reg in reg_covars:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model = GaussianMixture(
                            k,
                            covariance_type=cov,
                            reg_covar=reg,
                            random_state=random_state,
                            max_iter=max_iter,
                        ).fit(x_fit)
                    score = float(model.score(x_val))
                except ValueError:  # ill-defined covariance at this reg_covar
                    score = -math.inf
                rows.append([cov, k, reg, score])
    best = max(rows, key=lambda r: r[3])
    if best[3] == -math.inf:
        raise ValidationError("no Gaussian mixture of the grid could be fitted")
    keys = ("covariance_type", "n_components", "reg_covar", "val")
    return dict(zip(keys, best, strict=True)), rows


def tune_kernel_density(
    x_fit: Any, x_val: Any, bandwidths: Sequence[float]
) -> tuple[float, list[float]]:
    """The Gaussian-kernel bandwidth with the best mean validation log-likelihood.

    Args:
        x_fit: Array[N, D] (the kernels' centres); x_val: Array[M, D] to score on.
        bandwidths: candidate bandwidths (> 0).

    Returns:
        ``(bandwidth, scores)``: the best bandwidth and the validation score of each.
    """
    from sklearn.neighbors import KernelDensity

    x_fit, x_val = _check_fit_val(x_fit, x_val)
    if isinstance(bandwidths, str) or not bandwidths:
        raise ValidationError(f"bandwidths must be a non-empty sequence, got {bandwidths!r}")
    for h in bandwidths:
        check_in_range(h, name="bandwidths[i]", low=0.0, low_inclusive=False)
    scores = [
        float(KernelDensity(bandwidth=h).fit(x_fit).score_samples(x_val).mean()) for h in bandwidths
    ]
    return bandwidths[int(np.argmax(scores))], scores


def em_agreement(
    x_train: Any,
    x_test: Any,
    *,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    random_state: int | None = None,
    max_iter: int = 200,
) -> dict[str, float]:
    """nndl's EM and scikit-learn's, started from one initialisation: their test scores.

    The initial weights, means and precisions come from ``GaussianMixture(max_iter=0)``;
    both estimators then run ``max_iter`` iterations from there.

    Returns:
        ``{"nndl", "sklearn", "relative_difference"}``: mean test log-likelihoods and
        |nndl − sklearn| / |sklearn|.
    """
    from sklearn.mixture import GaussianMixture

    x_train, x_test = _check_fit_val(x_train, x_test)
    kw: dict[str, Any] = {"covariance_type": covariance_type, "reg_covar": reg_covar}
    init = GaussianMixture(n_components, max_iter=0, random_state=random_state, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init.fit(x_train)
    start = {
        "weights_init": init.weights_,
        "means_init": init.means_,
        "precisions_init": init.precisions_,
    }
    ours = GaussianMixtureEM(n_components, max_iter=max_iter, **kw, **start).fit(x_train)
    theirs = GaussianMixture(n_components, max_iter=max_iter, **kw, **start).fit(x_train)
    a, b = float(ours.score(x_test)), float(theirs.score(x_test))
    return {"nndl": a, "sklearn": b, "relative_difference": abs(a - b) / abs(b)}
