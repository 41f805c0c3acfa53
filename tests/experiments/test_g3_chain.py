"""G3's closed form against autograd, micrograd-style: short and explicit."""

import pytest
import torch

from nndl import ShapeError
from nndl.experiments import run_experiment
from nndl.nn import SigmoidChain, chain_bias_gradients, chain_factors


def test_closed_form_equals_autograd_per_example():
    gen = torch.Generator().manual_seed(0)
    for depth in (1, 2, 4, 7):
        chain = SigmoidChain.random(depth, generator=gen)
        x = torch.randn(5, generator=gen, dtype=torch.float64)
        y = torch.rand(5, generator=gen, dtype=torch.float64)
        closed = chain_bias_gradients(chain, x, chain(x).detach() - y)
        for i in range(5):
            chain.zero_grad()
            (0.5 * (chain(x[i : i + 1]) - y[i]).pow(2)).sum().backward()
            torch.testing.assert_close(closed[i], chain.bias.grad, rtol=1e-12, atol=0)


def test_four_layer_formula_written_out():
    w = torch.tensor([0.5, -1.5, 2.0, 0.3], dtype=torch.float64)
    b = torch.tensor([0.1, 0.2, -0.3, 0.4], dtype=torch.float64)
    chain = SigmoidChain(w, b)
    x = torch.tensor([0.7], dtype=torch.float64)
    z = chain.preactivations(x)[0].detach()
    sp = torch.sigmoid(z) * (1 - torch.sigmoid(z))
    dc_da4 = torch.tensor(1.0, dtype=torch.float64)
    expected = sp[0] * w[1] * sp[1] * w[2] * sp[2] * w[3] * sp[3] * dc_da4
    assert float(
        chain_bias_gradients(chain, x, torch.ones(1, dtype=torch.float64))[0, 0]
    ) == pytest.approx(float(expected), rel=1e-14)
    assert torch.all(chain_factors(chain, x).abs() <= w[1:].abs() / 4)


def test_chain_rejects_bad_parameters():
    with pytest.raises(ShapeError, match="biases must have shape"):
        SigmoidChain(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="weights must be finite"):
        SigmoidChain(torch.tensor([1.0, float("nan")]), torch.zeros(2))


def test_g3_experiment_holds_at_tiny_scale(tmp_path):
    result = run_experiment("g3_product_of_factors", scale="tiny", out=tmp_path)
    assert result.status == "ok", result.traceback
    assert result.metrics["max_relative_error"] < 1e-12
    assert result.metrics["max_factor_with_small_weight"] < 0.25
    assert result.verdict("G3").status == "holds"
