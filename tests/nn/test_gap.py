"""gap_cnn and gap_width_for: the unpooled CNN with a global-average head at a matched count."""

from __future__ import annotations

import pytest
import torch

from nndl import ValidationError
from nndl.nn import cnn, gap_cnn, gap_width_for


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_gap_cnn_averages_each_channel_before_the_read_out():
    net = gap_cnn(1, 10, 12, (4, 8), hidden=16)
    names = [name for name, _ in net.named_children()]
    assert names.index("gap") == names.index("flatten") - 1
    assert net[:-1](torch.zeros(3, 1, 12, 12)).shape == (3, 16)
    assert net(torch.zeros(3, 1, 12, 12)).shape == (3, 10)
    # the count does not depend on the image size: the maps are averaged away
    assert _count(net) == _count(gap_cnn(1, 10, 20, (4, 8), hidden=16))


def test_gap_cnn_init_scheme_is_applied():
    torch.manual_seed(0)
    net = gap_cnn(1, 10, 8, (4,), hidden=5, init="kaiming_normal")
    assert all(
        float(m.bias.detach().abs().max()) == 0.0 for m in net.modules() if hasattr(m, "bias")
    )


@pytest.mark.parametrize("hidden", [1, 7, 40])
def test_gap_width_for_recovers_the_width_of_a_count(hidden):
    target = _count(gap_cnn(1, 10, 12, (4, 8), hidden=hidden))
    assert gap_width_for(target, 1, 10, 12, (4, 8)) == hidden


def test_gap_width_for_matches_a_pooled_cnn_to_one_hidden_unit():
    pooled = _count(cnn(1, 10, 12, channels=(4, 8), pool="max", hidden=32))
    width = gap_width_for(pooled, 1, 10, 12, (4, 8))
    per_unit = 8 + 1 + 10  # a hidden unit's fan-in, bias and fan-out weights
    assert abs(_count(gap_cnn(1, 10, 12, (4, 8), hidden=width)) - pooled) <= per_unit // 2


def test_bad_input_is_refused_before_any_work():
    with pytest.raises(ValidationError, match="hidden"):
        gap_cnn(1, 10, 12, (4, 8), hidden=0)
    with pytest.raises(ValidationError, match="parameters"):
        gap_width_for(0, 1, 10, 12, (4, 8))
