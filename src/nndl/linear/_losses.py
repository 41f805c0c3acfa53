r"""Loss functions of the linear classifiers, each with its derivative in closed form.

Two families, both written on the class-major score matrix ``F`` of shape ``(K, N)`` (one row
per discriminant, one column per sample), which is the layout the solvers use because
``F = W X^T + b`` and ``∂/∂W = G X`` are the fast matrix products on a CPU.

**Margin losses** (binary sub-problems: binary, one-vs-rest, one-vs-one) are functions
:math:`\phi(m)` of the margin :math:`m = y f(x)` with :math:`y \in \{-1, +1\}`:

.. math::
    \text{logistic: } \log(1 + e^{-m}) \qquad
    \text{hinge: } \max(0, 1 - m) \qquad
    \text{squared\_hinge: } \max(0, 1 - m)^2

.. math::
    \text{perceptron: } \max(0, -m) \qquad
    \text{squared: } (1 - m)^2 = (y - f)^2

The perceptron's derivative at :math:`m = 0` is taken as :math:`-1` (a point on the boundary
counts as a mistake), as in scikit-learn's ``Perceptron``; otherwise a model started at
:math:`w = 0` would never move.

**Joint losses** (``strategy="argmax"``) take all :math:`C` scores of a sample at once, with
:math:`r = \max_{c \ne y} f_c` the best wrong score:

.. math::
    \text{logistic (softmax): } -\log \frac{e^{f_y}}{\sum_c e^{f_c}} \qquad
    \text{hinge (Crammer–Singer): } \max(0, 1 + r - f_y)

.. math::
    \text{squared\_hinge: } \max(0, 1 + r - f_y)^2 \qquad
    \text{perceptron (multi-class): } \max(0, r - f_y) \qquad
    \text{squared: } \sum_c (f_c - t_c)^2,\ t_c = \pm 1

(the squared loss separates over classes, so it learns the same discriminants as one-vs-rest).

**Smoothing.** The hinge losses have kinks where a quasi-Newton method stalls, so L-BFGS
minimises them through smooth surrogates with a width :math:`\mu > 0` (:data:`NONSMOOTH` lists
the cases): the binary hinge becomes the Huber-like

.. math::
    \phi_\mu(m) = \begin{cases} 0 & m \ge 1 \\ (1 - m)^2 / (2\mu) & 1 - \mu < m < 1 \\
    1 - m - \mu/2 & m \le 1 - \mu \end{cases}, \qquad 0 \le \phi - \phi_\mu \le \mu/2,

and the Crammer–Singer maximum :math:`\max(0, 1 + r - f_y) = \max_c (\Delta_c + f_c - f_y)`
(:math:`\Delta_c = [c \ne y]`) becomes the log-sum-exp
:math:`z_\mu = \mu \log \sum_c e^{(\Delta_c + f_c - f_y)/\mu}`, with
:math:`0 \le z_\mu - z \le \mu \log C` (squared for ``squared_hinge``). Since
:math:`|J - J_\mu| \le \mu c` everywhere, the minimiser of :math:`J_\mu` is within
:math:`2\mu c` of the optimal hinge objective.
"""

from __future__ import annotations

import torch

__all__ = ["LOSSES", "NONSMOOTH", "joint_loss", "margin_loss"]

#: Loss names accepted by :class:`~nndl.linear.LinearClassifier`.
LOSSES: tuple[str, ...] = ("logistic", "hinge", "squared_hinge", "perceptron", "squared")

#: ``(loss, joint)`` pairs whose objective has kinks that smoothing removes (the perceptron's
#: are not listed: it is trained by SGD only).
NONSMOOTH: frozenset[tuple[str, bool]] = frozenset(
    {("hinge", False), ("hinge", True), ("squared_hinge", True)}
)


def margin_loss(name: str, m: torch.Tensor, mu: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise margin loss :math:`\\phi(m)` and its derivative :math:`\\phi'(m)`.

    Args:
        name: one of :data:`LOSSES`.
        m: margins :math:`y f(x)`, any shape.
        mu: smoothing width for the hinge (0: exact; see the module docstring).

    Returns:
        ``(phi, dphi)``, both of the shape of ``m``.
    """
    if name == "logistic":
        # log(1 + exp(-m)) = softplus(-m); d/dm = -sigmoid(-m)
        return torch.nn.functional.softplus(-m), -torch.sigmoid(-m)
    if name == "hinge":
        slack = 1.0 - m
        if mu > 0:  # Huber-like: quadratic on (0, mu), linear beyond
            quad = slack.clamp(0.0, mu)
            return quad * (slack - 0.5 * quad) / mu, -quad / mu
        return slack.clamp_min(0.0), -(slack > 0).to(m.dtype)
    if name == "squared_hinge":
        slack = (1.0 - m).clamp_min(0.0)
        return slack.square(), -2.0 * slack
    if name == "perceptron":
        active = m <= 0  # sklearn's convention: m = 0 is a mistake
        return torch.where(active, -m, torch.zeros_like(m)), -active.to(m.dtype)
    if name == "squared":
        slack = 1.0 - m
        return slack.square(), -2.0 * slack
    raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")


def joint_loss(
    name: str, F: torch.Tensor, y: torch.Tensor, mu: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint multi-class loss per sample and its gradient with respect to the scores.

    Args:
        name: one of :data:`LOSSES`.
        F: scores, ``Tensor[C, N]`` (class-major).
        y: class indices in ``[0, C)``, ``Tensor[N]`` (int64).
        mu: smoothing width for ``hinge``/``squared_hinge`` (0: exact; see module docstring).

    Returns:
        ``(loss, G)``: ``loss`` is ``Tensor[N]`` and ``G = ∂loss_i/∂F[:, i]`` is ``Tensor[C, N]``.
    """
    if name == "logistic":
        # loss = logsumexp(F) - F_y and G = softmax(F) - onehot(y), from one exp pass
        top = F.amax(dim=0, keepdim=True)
        G = torch.exp(F - top)
        total = G.sum(dim=0)
        loss = torch.log(total) + top[0] - F.gather(0, y[None])[0]
        G.div_(total)
        G.scatter_add_(0, y[None], -torch.ones_like(loss)[None])
        return loss, G
    if name == "squared":
        target = torch.full_like(F, -1.0)
        target.scatter_(0, y[None], 1.0)
        diff = F - target
        return diff.square().sum(0), 2.0 * diff
    if mu > 0 and name in ("hinge", "squared_hinge"):
        # z_mu = mu·logsumexp((Δ + F - F_y)/mu); ∂z_mu/∂F = softmax((Δ + F)/mu) - onehot(y)
        scaled = (F + 1.0).scatter(0, y[None], F.gather(0, y[None])) / mu  # (Δ + F)/mu
        log_p = torch.log_softmax(scaled, dim=0)
        z = -mu * log_p.gather(0, y[None]).squeeze(0)
        G = log_p.exp()
        G.scatter_add_(0, y[None], -torch.ones_like(z)[None])
        if name == "hinge":
            return z, G
        return z.square(), G * (2.0 * z)[None]
    # Crammer–Singer family: compare the true score with the best wrong one.
    f_true = F.gather(0, y[None]).squeeze(0)
    wrong = F.scatter(0, y[None], float("-inf"))
    r = wrong.amax(dim=0)
    if name == "hinge":
        z = 1.0 + r - f_true
        loss, g = z.clamp_min(0.0), (z > 0).to(F.dtype)
    elif name == "squared_hinge":
        z = (1.0 + r - f_true).clamp_min(0.0)
        loss, g = z.square(), 2.0 * z
    elif name == "perceptron":
        z = r - f_true
        active = z >= 0  # a tie with a wrong class is a mistake, as in the binary case
        loss, g = torch.where(active, z, torch.zeros_like(z)), active.to(F.dtype)
    else:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    # A subgradient: +g on the best wrong class, -g on the true one. Where several wrong classes
    # tie for the best (at w = 0 all of them do), share +g equally among them, the symmetric
    # choice; picking one of them arbitrarily makes -G an ascent direction at the start.
    tied = (wrong == r[None]).to(F.dtype)
    G = tied * (g / tied.sum(dim=0))[None]
    G.scatter_add_(0, y[None], -g[None])
    return loss, G
