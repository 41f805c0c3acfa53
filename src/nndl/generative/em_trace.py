r"""EM one iteration at a time: the log-likelihood and the ELBO around each step (claim V3).

For a Gaussian mixture and responsibilities :math:`q_t = p(z \mid x, \theta_t)` (the E-step),

.. math:: \ell(\theta_t) = \mathrm{ELBO}(q_t, \theta_t) \le \mathrm{ELBO}(q_t, \theta_{t+1})
          \le \ell(\theta_{t+1}),

the first an equality because the E-step makes KL(q ‖ p(z | x)) zero, the second because the
exact M-step maximises the ELBO over θ, the third because the ELBO is a lower bound. So the gap
:math:`\ell - \mathrm{ELBO}` closes after every E-step and the log-likelihood never falls.
:func:`em_trace` records all three numbers per iteration; :func:`em_monotonicity` reduces them
to the three quantities that must be (numerically) zero or non-negative.

The exact M-step (``reg_covar=0``) can meet the mixture likelihood's singularity — a
component collapsing onto a few points, where the likelihood is unbounded and the M-step
undefined; :func:`em_trace` then stops and records the iteration (``degenerate_at``).
:meth:`EMTrace.to_dict` gives a trace as JSON-able values; :func:`largest_bound_fall` measures
how far the *recorded* bound of a regularised fit ever falls.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import DTypeError, ValidationError, check_finite, check_in_range, check_int
from .gmm import GaussianMixtureEM

__all__ = ["EMTrace", "em_monotonicity", "em_trace", "largest_bound_fall"]


@dataclass
class EMTrace:
    """What :func:`em_trace` records (all in nats per sample).

    Attributes:
        loglik: ℓ(θ_t) for t = 0 … T (T + 1 values).
        elbo_after_e: ELBO(q_t, θ_t) right after each E-step (T values).
        elbo_after_m: ELBO(q_t, θ_{t+1}) right after each M-step (T values).
        degenerate_at: the iteration whose M-step failed (a singular covariance), or None.
        start_means: Array[K, D], the initial means.
        model: the mixture after the last successful iteration.
    """

    loglik: list[float]
    elbo_after_e: list[float]
    elbo_after_m: list[float]
    degenerate_at: int | None
    start_means: np.ndarray
    model: GaussianMixtureEM

    def to_dict(self, x: Any) -> dict[str, Any]:
        """The trace as JSON-able values, and the fitted mixture on x (None if degenerate).

        Args:
            x: Array[N, D], the data the trace was run on (for the fitted labels).

        Returns:
            ``loglik``, ``elbo_after_e``, ``elbo_after_m``, ``degenerate_at``, ``start_means``
            (nested lists) and ``fitted``: ``{"means", "covariances", "labels"}`` or None.
        """
        fitted = None
        if self.degenerate_at is None:
            fitted = {
                "means": self.model.means_.tolist(),
                "covariances": self.model.covariances_.tolist(),
                "labels": self.model.predict(x).tolist(),
            }
        return {
            "loglik": self.loglik,
            "elbo_after_e": self.elbo_after_e,
            "elbo_after_m": self.elbo_after_m,
            "degenerate_at": self.degenerate_at,
            "start_means": self.start_means.tolist(),
            "fitted": fitted,
        }


def em_trace(
    x: Any,
    n_components: int,
    *,
    covariance_type: str = "full",
    init_params: str = "kmeans",
    reg_covar: float = 0.0,
    max_steps: int = 100,
    step_tol: float = 1e-10,
    random_state: int | None = None,
) -> EMTrace:
    """Run EM on a Gaussian mixture one iteration at a time, recording ℓ and the ELBO.

    Each iteration: the E-step's responsibilities q_t, ELBO(q_t, θ_t), one
    :class:`GaussianMixtureEM` iteration (E + M), ELBO(q_t, θ_{t+1}) and ℓ(θ_{t+1}). Stops
    after ``max_steps``, when ℓ rises by less than ``step_tol``, or at a degenerate M-step.

    Args:
        x: Array[N, D].
        n_components: K.
        covariance_type, init_params, reg_covar, random_state: as for
            :class:`GaussianMixtureEM` (``reg_covar=0``: the exact M-step).
        max_steps: the most iterations (≥ 1).
        step_tol: stop once ℓ changes by less than this (≥ 0).

    Returns:
        An :class:`EMTrace`.

    Raises:
        ValidationError: bad arguments, or a degenerate *initialisation*.
    """
    check_int(max_steps, name="max_steps", low=1)
    check_in_range(step_tol, name="step_tol", low=0.0)
    gmm = GaussianMixtureEM(
        n_components,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        init_params=init_params,
        max_iter=0,
        warm_start=True,
        random_state=random_state,
    ).fit(x)
    start_means = gmm.means_.copy()
    loglik, elbo_e, elbo_m = [gmm.score(x)], [], []
    degenerate_at = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration per call never "converges"
        gmm.set_params(max_iter=1)
        for t in range(max_steps):
            resp = gmm.predict_proba(x)  # E-step: q(z) = p(z | x, θ_t)
            elbo_e.append(float(gmm.elbo(x, resp).mean()))
            try:
                gmm.fit(x)  # one E-step + M-step: θ_{t+1} = argmax_θ ELBO(q, θ)
            except ValidationError:  # a component's covariance became singular
                degenerate_at = t
                elbo_e.pop()
                break
            elbo_m.append(float(gmm.elbo(x, resp).mean()))
            loglik.append(gmm.score(x))
            if loglik[-1] - loglik[-2] < step_tol:
                break
    return EMTrace(loglik, elbo_e, elbo_m, degenerate_at, start_means, gmm)


def em_monotonicity(
    loglik: Sequence[float], elbo_after_e: Sequence[float], elbo_after_m: Sequence[float]
) -> dict[str, float]:
    r"""The three numbers that EM's theory fixes, from an :class:`EMTrace`'s lists.

    With :math:`s = \max_t |\ell_t|`:

    - ``max_e_gap`` :math:`= \max_t |\ell_t - \mathrm{ELBO}^E_t|` (0 in exact arithmetic);
    - ``min_step`` :math:`= \min_t (\ell_{t+1} - \ell_t) / s` (≥ 0);
    - ``min_m_change`` :math:`= \min_t (\mathrm{ELBO}^M_t - \mathrm{ELBO}^E_t) / s` (≥ 0);
    - ``iterations``: the number of E-steps recorded.

    Empty lists give 0 for the statistic they feed. Pure NumPy (no torch).

    Raises:
        DTypeError: a list that is not numbers.
        ValidationError: ``loglik`` is empty, a value is NaN/Inf, or the lists' lengths do not
            fit together.
    """
    names = ("loglik", "elbo_after_e", "elbo_after_m")
    arrays = []
    for value, name in zip((loglik, elbo_after_e, elbo_after_m), names, strict=True):
        try:
            arrays.append(np.asarray(value, dtype=float).ravel())
        except (TypeError, ValueError):
            raise DTypeError(f"{name} must be a sequence of numbers, got {value!r:.60}") from None
        check_finite(arrays[-1], name=name)
    ll, e, m = arrays
    if ll.size == 0:
        raise ValidationError("loglik must hold at least one value")
    if len(m) > len(e):
        raise ValidationError(
            f"elbo_after_m cannot be longer than elbo_after_e, got {len(m)} and {len(e)}"
        )
    scale = float(np.abs(ll).max())
    n = min(len(e), len(ll))
    return {
        "max_e_gap": float(np.abs(ll[:n] - e[:n]).max()) if n else 0.0,
        "min_step": float(np.diff(ll).min() / scale) if len(ll) > 1 else 0.0,
        "min_m_change": float((m - e[: len(m)]).min() / scale) if len(m) else 0.0,
        "iterations": float(len(e)),
    }


def largest_bound_fall(
    x: Any,
    n_components: int,
    reg_covar: float,
    *,
    covariance_type: str = "diag",
    tol: float = 1e-9,
    max_iter: int = 100,
    random_state: int | None = None,
) -> dict[str, Any]:
    r"""The largest fall of the recorded bound over the iterations of a regularised EM fit.

    :class:`GaussianMixtureEM` records its bound per iteration (``lower_bounds_``); this returns
    :math:`\min(0, \min_t (b_{t+1} - b_t))`, 0 when it never falls (or after one iteration).

    Args:
        x: Array[N, D]; n_components: K.
        reg_covar: added to the covariances' diagonals (0: the exact M-step).
        covariance_type, tol, max_iter, random_state: as for :class:`GaussianMixtureEM`.

    Returns:
        ``{"reg_covar", "largest_fall" (None when degenerate), "degenerate"}``: degenerate when
        a covariance became singular (the fit raised :class:`ValidationError`).

    Raises:
        ValidationError: bad arguments (before any fit).
    """
    check_int(n_components, name="n_components", low=1)
    check_int(max_iter, name="max_iter", low=1)
    check_in_range(reg_covar, name="reg_covar", low=0.0)
    kw: dict[str, Any] = {"covariance_type": covariance_type, "tol": tol, "max_iter": max_iter}
    model = GaussianMixtureEM(n_components, reg_covar=reg_covar, random_state=random_state, **kw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = model.fit(x)
    except ValidationError:
        return {"reg_covar": reg_covar, "largest_fall": None, "degenerate": True}
    dip = float(min(0.0, np.diff(g.lower_bounds_).min())) if g.n_iter_ > 1 else 0.0
    return {"reg_covar": reg_covar, "largest_fall": dip, "degenerate": False}
