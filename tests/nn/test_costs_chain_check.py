"""Nielsen's sigmoid cross-entropy and the chain's closed-form gradient check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nndl import DTypeError, ShapeError
from nndl.nn import SigmoidChain, chain_gradient_check, sigmoid_cross_entropy


def test_sigmoid_cross_entropy_is_nielsens_cost_per_copy():
    gen = torch.Generator().manual_seed(0)
    out = torch.randn(3, 5, 4, generator=gen)
    target = F.one_hot(torch.tensor([0, 3, 1, 1, 2]), 4).float()
    a = torch.sigmoid(out)
    expected = -(target * a.log() + (1 - target) * (1 - a).log()).sum(-1).mean(-1)
    torch.testing.assert_close(sigmoid_cross_entropy(out, target), expected)
    torch.testing.assert_close(sigmoid_cross_entropy(out, target.expand(3, 5, 4)), expected)
    single = sigmoid_cross_entropy(out[1], target)  # one net: a 0-d cost
    assert single.shape == () and float(single) == pytest.approx(float(expected[1]))


def test_sigmoid_cross_entropy_gradient_has_no_sigmoid_prime():
    out = torch.tensor([[4.0, -4.0]], requires_grad=True)  # saturated outputs, wrong targets
    target = torch.tensor([[0.0, 1.0]])
    sigmoid_cross_entropy(out, target).backward()
    torch.testing.assert_close(out.grad, torch.sigmoid(out.detach()) - target)


def test_sigmoid_cross_entropy_rejects_bad_input():
    with pytest.raises(ShapeError, match="logits must have shape"):
        sigmoid_cross_entropy(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ShapeError, match="target must broadcast"):
        sigmoid_cross_entropy(torch.zeros(2, 5, 4), torch.zeros(3, 4))
    with pytest.raises(DTypeError, match="target must be a floating"):
        sigmoid_cross_entropy(torch.zeros(5, 4), torch.zeros(5, 4, dtype=torch.long))


def test_chain_gradient_check_agrees_with_autograd_and_leaves_grad_alone():
    gen = torch.Generator().manual_seed(1)
    chain = SigmoidChain.random(6, generator=gen)
    x = torch.randn(7, generator=gen, dtype=torch.float64)
    y = torch.rand(7, generator=gen, dtype=torch.float64)
    grads, err = chain_gradient_check(chain, x, y)
    assert grads.shape == (7, 6) and err < 1e-12 and chain.bias.grad is None
    (0.5 * (chain(x) - y).pow(2)).sum().backward()
    torch.testing.assert_close(grads.sum(0), chain.bias.grad)


def test_chain_gradient_check_reports_a_wrong_closed_form(monkeypatch):
    import nndl.nn.chain as chain_module

    real = chain_module.chain_bias_gradients
    monkeypatch.setattr(chain_module, "chain_bias_gradients", lambda c, x, g: 2 * real(c, x, g))
    chain = SigmoidChain.random(3, generator=torch.Generator().manual_seed(2))
    x = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    _, err = chain_gradient_check(chain, x, torch.zeros(4, dtype=torch.float64))
    assert err > 0.1


def test_chain_gradient_check_rejects_mismatched_targets():
    chain = SigmoidChain.random(3)
    with pytest.raises(ShapeError):
        chain_gradient_check(chain, torch.zeros(4, dtype=torch.float64), torch.zeros(3))
