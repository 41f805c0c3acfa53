"""Closed-form loss gradients against autograd on independent reference formulas (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nndl.linear import LOSSES
from nndl.linear._losses import joint_loss, margin_loss
from nndl.linear._objective import Objective
from nndl.linear._strategies import build_targets


def _margins(n: int = 400) -> torch.Tensor:
    """Margins in [-3, 3] kept 1e-3 away from the kinks at 0 and 1."""
    m = torch.linspace(-3, 3, n, dtype=torch.float64)
    return m[((m.abs() > 1e-3) & ((m - 1).abs() > 1e-3))]


REFERENCE_MARGIN = {
    "logistic": lambda m: torch.log1p(torch.exp(-m)),
    "hinge": lambda m: torch.relu(1 - m),
    "squared_hinge": lambda m: torch.relu(1 - m) ** 2,
    "perceptron": lambda m: torch.relu(-m),
    "squared": lambda m: (1 - m) ** 2,
}


@pytest.mark.parametrize("loss", LOSSES)
def test_margin_loss_matches_reference_and_autograd(loss):
    m = _margins().requires_grad_(True)
    ref = REFERENCE_MARGIN[loss](m)
    (grad,) = torch.autograd.grad(ref.sum(), m)
    phi, dphi = margin_loss(loss, m.detach())
    torch.testing.assert_close(phi, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dphi, grad, rtol=1e-12, atol=1e-12)


def test_perceptron_counts_the_boundary_as_a_mistake():
    # sklearn's convention: otherwise a perceptron started at w = 0 never moves
    _, dphi = margin_loss("perceptron", torch.zeros(3, dtype=torch.float64))
    assert torch.equal(dphi, -torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("mu", [1.0, 0.1, 1e-3])
def test_smoothed_hinge_is_below_hinge_by_at_most_half_mu(mu):
    m = torch.linspace(-3, 3, 2001, dtype=torch.float64).requires_grad_(True)
    phi_mu, dphi_mu = margin_loss("hinge", m.detach(), mu)
    gap = torch.relu(1 - m.detach()) - phi_mu
    assert gap.min() >= -1e-15 and gap.max() <= mu / 2 + 1e-15
    # its derivative is the autograd derivative of the same piecewise formula
    s = 1 - m
    ref = torch.where(s <= 0, 0.0, torch.where(s < mu, s**2 / (2 * mu), s - mu / 2))
    (grad,) = torch.autograd.grad(ref.sum(), m)
    torch.testing.assert_close(dphi_mu, grad, rtol=1e-12, atol=1e-12)


def _reference_joint(loss: str, F: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample joint losses written sample by sample (F is (C, N))."""
    out = []
    for i in range(F.shape[1]):
        f, t = F[:, i], int(y[i])
        wrong = torch.cat([f[:t], f[t + 1 :]])
        if loss == "logistic":
            out.append(torch.logsumexp(f, 0) - f[t])
        elif loss == "hinge":
            out.append(torch.relu(1 + wrong.max() - f[t]))
        elif loss == "squared_hinge":
            out.append(torch.relu(1 + wrong.max() - f[t]) ** 2)
        elif loss == "perceptron":
            out.append(torch.relu(wrong.max() - f[t]))
        else:
            target = -torch.ones_like(f)
            target[t] = 1
            out.append(((f - target) ** 2).sum())
    return torch.stack(out)


@pytest.mark.parametrize("loss", LOSSES)
def test_joint_loss_matches_reference_and_autograd(loss):
    gen = torch.Generator().manual_seed(0)
    F = (2 * torch.randn(4, 60, generator=gen, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, 4, (60,), generator=gen)
    ref = _reference_joint(loss, F, y)
    (grad,) = torch.autograd.grad(ref.sum(), F)
    value, G = joint_loss(loss, F.detach(), y)
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(G, grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("mu", [1.0, 1e-2])
def test_smoothed_crammer_singer_bounds_and_gradient(loss, mu):
    gen = torch.Generator().manual_seed(1)
    C = 5
    F = (2 * torch.randn(C, 80, generator=gen, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, C, (80,), generator=gen)
    z_true = torch.sqrt(_reference_joint("squared_hinge", F.detach(), y))  # max(0, 1 + r - f_y)
    value, G = joint_loss(loss, F.detach(), y, mu)
    z_mu = value if loss == "hinge" else value.sqrt()
    gap = z_mu - z_true
    assert gap.min() >= -1e-12 and gap.max() <= mu * math.log(C) + 1e-12
    # gradient: autograd of mu * logsumexp((Δ + F - F_y) / mu), squared for squared_hinge
    delta = torch.ones_like(F).scatter(0, y[None], 0.0)
    z = mu * torch.logsumexp((delta + F - F.gather(0, y[None])) / mu, dim=0)
    (grad,) = torch.autograd.grad((z if loss == "hinge" else z**2).sum(), F)
    torch.testing.assert_close(G, grad, rtol=1e-10, atol=1e-12)


def test_tied_wrong_classes_share_the_crammer_singer_subgradient():
    F = torch.zeros(3, 1, dtype=torch.float64)  # all scores tied, as at w = 0
    _, G = joint_loss("hinge", F, torch.tensor([0]))
    torch.testing.assert_close(G[:, 0], torch.tensor([-1.0, 0.5, 0.5], dtype=torch.float64))


@pytest.mark.parametrize("strategy", ["ovr", "ovo", "argmax"])
def test_objective_gradient_matches_autograd(strategy):
    gen = torch.Generator().manual_seed(2)
    n, d, C = 50, 3, 4
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, C, (n,), generator=gen)
    K, targets, weights, _ = build_targets(strategy, y, C)
    obj = Objective(X.T.contiguous(), "logistic", 0.3, targets, weights, K)
    W = torch.randn(K, d, generator=gen, dtype=torch.float64).requires_grad_(True)
    b = torch.randn(K, generator=gen, dtype=torch.float64).requires_grad_(True)
    value, gW, gb = obj.value_and_grad(W.detach(), b.detach())
    # the same objective written per sub-problem with autograd
    F = X @ W.T + b
    if strategy == "argmax":
        data = torch.nn.functional.cross_entropy(F, y)
    else:
        data = (weights * torch.nn.functional.softplus(-targets * F.T)).sum()
    ref = data + 0.15 * (W**2).sum()
    ref.backward()
    torch.testing.assert_close(value, ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gW, W.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gb, b.grad, rtol=1e-12, atol=1e-12)


def test_minibatch_objective_is_unbiased():
    gen = torch.Generator().manual_seed(3)
    n, d = 40, 2
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=gen)
    K, targets, weights, _ = build_targets("ovo", y, 3)
    obj = Objective(X.T.contiguous(), "squared", 0.0, targets, weights, K)
    W, b = (
        torch.randn(K, d, generator=gen, dtype=torch.float64),
        torch.zeros(K, dtype=torch.float64),
    )
    full = obj.value_and_grad(W, b)[0]
    # averaging the rescaled value over the 4 disjoint batches of 10 gives the full value
    parts = [obj.value_and_grad(W, b, slice(i, i + 10))[0] for i in range(0, n, 10)]
    np.testing.assert_allclose(float(torch.stack(parts).mean()), float(full), rtol=1e-12)
