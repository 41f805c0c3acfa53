"""sigmoid_chain_survey: shapes, the 1/4 bound, agreement with a direct computation, checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl._validation import DTypeError, ValidationError
from nndl.analysis import sigmoid_chain_survey
from nndl.nn import SigmoidChain


def test_survey_matches_a_direct_computation() -> None:
    s = sigmoid_chain_survey(4, 5, 3, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(1)
    firsts = []
    for _ in range(5):  # the same draws, in the documented order
        chain = SigmoidChain.random(4, generator=gen)
        x = torch.randn(3, generator=gen, dtype=torch.float64)
        y = torch.rand(3, generator=gen, dtype=torch.float64)
        z = chain.preactivations(x).detach()
        sp = torch.sigmoid(z) * (1 - torch.sigmoid(z))
        w = chain.weight.detach()
        product = sp[:, 0] * (w[1:] * sp[:, 1:]).prod(dim=1)
        firsts.append((product * (torch.sigmoid(z[:, -1]) - y)).abs())
    torch.testing.assert_close(s.first_gradients, torch.cat(firsts))
    assert s.first_gradients.shape == (15,)
    assert s.max_relative_error < 1e-12
    assert s.small_factors.numel() > 0
    assert float(s.small_factors.max()) <= 0.25
    summary = s.summary()
    assert summary["q25"] <= summary["median"] <= summary["q75"]
    assert summary["median"] == pytest.approx(float(np.median(s.first_gradients.numpy())))


def test_survey_shrinks_with_depth() -> None:
    gen = torch.Generator().manual_seed(0)
    shallow = sigmoid_chain_survey(2, 40, 4, generator=gen).summary()["median"]
    deep = sigmoid_chain_survey(8, 40, 4, generator=gen).summary()["median"]
    assert deep < shallow / 10


def test_survey_checks_inputs_first() -> None:
    gen = torch.Generator()
    with pytest.raises(ValidationError, match="chains"):
        sigmoid_chain_survey(3, 0, 2, generator=gen)
    with pytest.raises(ValidationError, match="weight_std"):
        sigmoid_chain_survey(3, 1, 2, weight_std=float("nan"), generator=gen)
    with pytest.raises(DTypeError, match="generator"):
        sigmoid_chain_survey(3, 1, 2, generator=0)  # type: ignore[arg-type]
