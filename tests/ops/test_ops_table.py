"""Generic tests over the OpSpec table: brute-force references and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _ops_specs import (
    OP_SPECS,
    brute_all_pairs,
    brute_cost_volume,
    brute_cost_volume_1d,
)

from nndl.ops import all_pairs_cost_volume, cost_volume, cost_volume_1d

ERROR_CASES = [
    pytest.param(spec.fn, sample, id=f"{spec.name}-{i}")
    for spec in OP_SPECS
    for i, sample in enumerate(spec.error_samples)
]


@pytest.mark.parametrize(("fn", "sample"), ERROR_CASES)
def test_rejects_bad_input_with_a_message_naming_the_argument(fn, sample):
    with pytest.raises(sample.error, match=sample.match):
        fn(*sample.args, **sample.kwargs)


@pytest.mark.parametrize("impl", ["reference", "fast"])
@pytest.mark.parametrize(
    ("shape", "d", "stride"),
    [((2, 3, 5, 7), 1, 1), ((1, 4, 6, 5), 2, 1), ((2, 2, 7, 6), 1, 2), ((1, 1, 3, 4), 3, 1)],
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cost_volume_matches_brute_force(impl, shape, d, stride, reduction):
    gen = torch.Generator().manual_seed(1)
    f1 = torch.randn(*shape, generator=gen, dtype=torch.float64)
    f2 = torch.randn(*shape, generator=gen, dtype=torch.float64)
    out = cost_volume(f1, f2, d, stride, reduction=reduction, impl=impl)
    want = brute_cost_volume(f1.numpy(), f2.numpy(), d, stride, reduction)
    assert out.shape == (shape[0], (2 * d + 1) ** 2, *shape[2:])
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["reference", "fast"])
@pytest.mark.parametrize(("shape", "n_disp"), [((2, 3, 4, 9), 4), ((1, 2, 3, 5), 7)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cost_volume_1d_matches_brute_force(impl, shape, n_disp, reduction):
    gen = torch.Generator().manual_seed(2)
    left = torch.randn(*shape, generator=gen, dtype=torch.float64)
    right = torch.randn(*shape, generator=gen, dtype=torch.float64)
    out = cost_volume_1d(left, right, n_disp, reduction=reduction, impl=impl)
    want = brute_cost_volume_1d(left.numpy(), right.numpy(), n_disp, reduction)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)


def test_all_pairs_matches_brute_force():
    gen = torch.Generator().manual_seed(3)
    f1 = torch.randn(2, 5, 3, 4, generator=gen, dtype=torch.float64)
    f2 = torch.randn(2, 5, 3, 4, generator=gen, dtype=torch.float64)
    out = all_pairs_cost_volume(f1, f2)
    np.testing.assert_allclose(out.numpy(), brute_all_pairs(f1.numpy(), f2.numpy()), rtol=1e-12)
