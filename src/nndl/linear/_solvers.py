r"""Solvers for :class:`~nndl.linear._objective.Objective`: full-batch L-BFGS and mini-batch SGD.

* ``lbfgs``: SciPy's L-BFGS-B driving the PyTorch objective (value and gradient computed by
  PyTorch on the fitting device, a flat float64 parameter vector on the host). Same options as
  scikit-learn's ``LogisticRegression``: ``gtol=tol`` on the largest gradient component,
  ``ftol = 64·eps``, at most 50 line-search steps. SciPy's BLAS is held to one thread during
  the fit: L-BFGS-B works on vectors of a few hundred numbers, and a multi-threaded OpenBLAS
  spends ~7 ms per iteration waking its threads (measured on 2 busy cores; 20× the cost of the
  iteration itself on iris). A hinge objective has kinks on which L-BFGS stalls; it is
  minimised through smooth surrogates of width :math:`\mu` = 0.1, 0.01, 0.001 in turn, each
  warm-started from the last, so the result is within :math:`2\mu c` = O(1e-3) of the hinge
  optimum (see :mod:`._losses`; iterations of all stages count towards ``max_iter``).
* ``sgd``: shuffled mini-batches, plain gradient steps :math:`\theta \leftarrow \theta - \eta
  \nabla J_B(\theta)` at a constant learning rate :math:`\eta` (written out rather than taken
  from ``torch.optim``, whose first use imports ``torch._dynamo``, seconds per process); an epoch
  counts as an iteration, and training stops once the epoch's mean objective has not improved
  by more than ``tol`` for ``n_iter_no_change`` epochs in a row (scikit-learn's ``SGDClassifier``
  rule), separately for each independent sub-problem.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import torch
from threadpoolctl import ThreadpoolController

from ._objective import Objective

__all__ = ["SMOOTHING_SCHEDULE", "SOLVERS", "Problem", "SolverResult", "lbfgs", "sgd"]

#: Widths of the smooth surrogates a hinge objective is minimised through, in order.
SMOOTHING_SCHEDULE: tuple[float, ...] = (1e-1, 1e-2, 1e-3)

#: Solver names accepted by :class:`~nndl.linear.LinearClassifier` (``"auto"`` picks one).
SOLVERS: tuple[str, ...] = ("auto", "lbfgs", "sgd")


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's BLAS/OpenMP pools, inspected once (a fresh inspection costs ~8 ms)."""
    return ThreadpoolController()


@dataclass
class SolverResult:
    """Learned ``W`` (K, D) and ``b`` (K,), iterations run, and whether the stop rule was met."""

    W: torch.Tensor
    b: torch.Tensor
    n_iter: int
    converged: bool
    message: str


@dataclass(frozen=True)
class Problem:
    """What a solver minimises: ``obj`` from ``W0`` (K, D) and ``b0`` (K,).

    ``fit_intercept=False`` fits ``W`` alone (``b0`` is then zero); ``max_iter`` bounds the
    iterations (L-BFGS) or epochs (SGD) and ``tol`` is the stop tolerance (see module docstring).
    """

    obj: Objective
    W0: torch.Tensor
    b0: torch.Tensor
    fit_intercept: bool
    max_iter: int
    tol: float


def lbfgs(problem: Problem) -> SolverResult:
    """Minimise ``problem.obj`` with full-batch L-BFGS-B (see module docstring)."""
    obj, W0, b0 = problem.obj, problem.W0, problem.b0
    fit_intercept, max_iter, tol = problem.fit_intercept, problem.max_iter, problem.tol
    K, D = W0.shape
    n_w = K * D
    device, dtype = W0.device, W0.dtype
    zero_b = torch.zeros(K, dtype=dtype, device=device)

    def unpack(theta: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.from_numpy(theta).to(device=device, dtype=dtype)
        return t[:n_w].view(K, D), (t[n_w:] if fit_intercept else zero_b)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = unpack(theta)
        value, gW, gb = obj.value_and_grad(W, b)
        grad = torch.cat([gW.reshape(-1), gb]) if fit_intercept else gW.reshape(-1)
        return float(value), grad.to(device="cpu", dtype=torch.float64).numpy()

    parts = [W0.reshape(-1), b0] if fit_intercept else [W0.reshape(-1)]
    theta = torch.cat(parts).to(device="cpu", dtype=torch.float64).numpy()
    schedule = SMOOTHING_SCHEDULE if obj.nonsmooth else (0.0,)
    n_iter, status, message = 0, 0, ""
    with _threadpools().limit(limits=1, user_api="blas"):
        for mu in schedule:
            obj.smoothing = mu
            res = scipy.optimize.minimize(
                fun,
                theta,
                jac=True,
                method="L-BFGS-B",
                options={
                    "maxiter": max(max_iter - n_iter, 1),
                    "maxls": 50,
                    "gtol": tol,
                    "ftol": 64 * np.finfo(np.float64).eps,
                },
            )
            theta, n_iter = res.x, n_iter + int(res.nit)
            status, message = int(res.status), str(res.message)
            if n_iter >= max_iter:
                break
    W, b = unpack(theta)
    # status 0: a stop rule was met; 1: max_iter reached; 2: the line search gave up.
    converged = status != 1 and obj.smoothing == schedule[-1]
    return SolverResult(W.clone(), b.clone(), n_iter, converged, message)


def sgd(
    problem: Problem,
    *,
    batch_size: int,
    learning_rate: float,
    n_iter_no_change: int,
    generator: torch.Generator,
) -> SolverResult:
    """Minimise ``problem.obj`` with shuffled mini-batch SGD (see module docstring).

    The sub-problems of the margin form (binary, one-vs-rest, one-vs-one) share no parameter,
    so each one is stopped on its own as soon as its own loss stalls, as if it had been trained
    alone; the joint form stops as a whole. ``n_iter`` is the epoch at which the last one
    stopped.
    """
    obj = problem.obj
    W = problem.W0.clone()
    b = problem.b0.clone()
    n = obj.n_samples
    batch = min(batch_size, n)
    n_terms = 1 if obj.joint else W.shape[0]
    best = torch.full((n_terms,), float("inf"), dtype=torch.float64)
    stale = torch.zeros(n_terms, dtype=torch.int64)
    active = torch.ones(n_terms, dtype=torch.bool)
    step = torch.full((W.shape[0], 1), learning_rate, dtype=W.dtype, device=W.device)
    epoch = 0
    for epoch in range(1, problem.max_iter + 1):
        shuffled = obj.take(torch.randperm(n, generator=generator).to(W.device))
        total = torch.zeros(n_terms, dtype=W.dtype, device=W.device)
        for start in range(0, n, batch):
            cols = slice(start, min(start + batch, n))
            value, gW, gb = shuffled.value_and_grad(W, b, cols, per_output=True)
            W.sub_(gW * step)
            if problem.fit_intercept:
                b.sub_(gb * step[:, 0])
            total.add_(value, alpha=cols.stop - cols.start)
        mean = total.to(device="cpu", dtype=torch.float64) / n
        stale = torch.where(mean > best - problem.tol, stale + 1, 0)
        best = torch.minimum(best, mean)
        active &= stale < n_iter_no_change
        if not obj.joint:
            step[:, 0] = active.to(step.dtype).to(step.device) * learning_rate
        if not active.any():
            return SolverResult(W, b, epoch, True, "no improvement > tol")
    return SolverResult(W, b, epoch, False, "max_iter epochs reached")
