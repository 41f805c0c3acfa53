"""F4 estimators against autograd, micrograd style: build the expression, compare every gradient."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nndl import ValidationError
from nndl.analysis import (
    backprop_grad,
    finite_difference_grad,
    gradient_agreement,
    weight_perturbation_grad,
)


def test_finite_differences_match_autograd_on_an_explicit_expression():
    a = torch.tensor([-4.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[2.0], [0.5]], dtype=torch.float64, requires_grad=True)

    def loss():
        c = a * b.T + b.T**3  # (1, 2)
        d = (c * a).tanh() + (c - a).relu() ** 2
        return (d.sum() + (a / b.squeeze(1)).sum()) / 3

    ref = backprop_grad(loss, [a, b])
    fd = finite_difference_grad(loss, [a, b], eps=1e-6)
    for g_fd, g_ref in zip(fd.grads, ref.grads, strict=True):
        torch.testing.assert_close(g_fd, g_ref, rtol=1e-7, atol=1e-8)
    assert fd.forward_passes == 2 * 4 and ref.forward_passes == 1 and ref.backward_passes == 1


def test_forward_scheme_error_is_first_order():
    w = torch.tensor([0.3, -1.2], dtype=torch.float64)
    exact = torch.cos(w) * w**3 + torch.sin(w) * 3 * w**2  # d/dw sin(w) w^3

    def loss():
        return (torch.sin(w) * w**3).sum()

    errors = []
    for eps in (1e-2, 1e-3):
        est = finite_difference_grad(loss, [w], eps=eps, scheme="forward")
        assert est.forward_passes == 2 + 1
        errors.append(float((est.flat() - exact).abs().max()))
    assert 5 < errors[0] / errors[1] < 20  # O(eps): ten times smaller step, ten times smaller error


def test_parameters_are_restored_exactly():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.randn(5, 3, dtype=torch.float64)

    def loss():
        return model(x).pow(2).mean()

    finite_difference_grad(loss, model)
    weight_perturbation_grad(loss, model, n_samples=3)
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)


def test_weight_perturbation_is_exact_per_direction_on_a_quadratic():
    # for L = ½ wᵀAw + bᵀw the antithetic difference (L(w+σu) − L(w−σu)) / 2σ equals uᵀ∇L,
    # so the estimate is an average of u uᵀ ∇L: unbiased, with relative error ≈ √((P + 1) / S)
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=gen, dtype=torch.float64)
    a, b = m @ m.T, torch.randn(6, generator=gen, dtype=torch.float64)
    w = torch.randn(6, generator=gen, dtype=torch.float64)

    def loss():
        return 0.5 * w @ a @ w + b @ w

    grad = a @ w + b
    est = weight_perturbation_grad(loss, [w], n_samples=2000, sigma=0.1, generator=gen)
    assert est.forward_passes == 4000 and est.backward_passes == 0
    agree = gradient_agreement(est, backprop_grad(loss, [w.requires_grad_()]))
    torch.testing.assert_close(backprop_grad(loss, [w]).flat(), grad.detach())
    assert agree["relative_error"] < 3 * math.sqrt(7 / 2000)
    assert agree["cosine"] > 0.99


def test_weight_perturbation_degrades_with_parameter_count():
    # with S directions the cosine with the true gradient is about sqrt(S / (S + P))
    gen = torch.Generator().manual_seed(1)
    cosines = {}
    for p in (10, 1000):
        w = torch.randn(p, generator=gen, dtype=torch.float64)
        target = torch.randn(p, generator=gen, dtype=torch.float64)

        def loss(w=w, target=target):
            return 0.5 * ((w - target) ** 2).sum()

        est = weight_perturbation_grad(loss, [w], n_samples=50, generator=gen)
        cosines[p] = float(torch.nn.functional.cosine_similarity(est.flat(), w - target, dim=0))
    assert cosines[10] > 0.9
    assert abs(cosines[1000] - math.sqrt(50 / 1050)) < 0.1


def test_backprop_gives_zero_for_unused_parameters():
    used, unused = torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)
    est = backprop_grad(lambda: (used * 2).sum(), [used, unused])
    assert est.flat().tolist() == [2.0, 2.0, 0.0, 0.0, 0.0]


def test_gradient_agreement_values():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    exact = backprop_grad(lambda: (w**2).sum() / 2, [w])  # gradient (3, 4), norm 5
    off = type(exact)([torch.tensor([3.0, 1.0])], 0, 0, 0.0)
    agree = gradient_agreement(off, exact)
    assert agree["relative_error"] == pytest.approx(3 / 5)
    assert agree["max_abs_error"] == pytest.approx(3.0)
    assert agree["cosine"] == pytest.approx((9 + 4) / (5 * math.sqrt(10)))


def test_rejects_bad_arguments():
    w = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(ValidationError, match="eps"):
        finite_difference_grad(lambda: w.sum(), [w], eps=0)
    with pytest.raises(ValidationError, match="scheme"):
        finite_difference_grad(lambda: w.sum(), [w], scheme="backward")
    with pytest.raises(ValidationError, match="scalar"):
        finite_difference_grad(lambda: w, [w])
    with pytest.raises(ValidationError, match="n_samples"):
        weight_perturbation_grad(lambda: w.sum(), [w], n_samples=0)
    with pytest.raises(ValidationError, match="at least one tensor"):
        backprop_grad(lambda: w.sum(), [])
    with pytest.raises(TypeError, match="floating point"):
        finite_difference_grad(lambda: w.sum(), [torch.zeros(2, dtype=torch.long)])
