"""mlp, cnn and SequenceModel: names, shapes, and the dC/dh_t contract of G8."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nndl import ShapeError, ValidationError
from nndl.nn import Maxout, MaxoutPool, SequenceModel, cnn, mlp


def test_mlp_names_and_output():
    net = mlp([64, 30, 30, 30, 10], activation="relu", batchnorm=True)
    names = [n for n, _ in net.named_children()]
    assert names == ["fc1", "bn1", "act1", "fc2", "bn2", "act2", "fc3", "bn3", "act3", "out"]
    assert net.fc1.bias is None and net.out.bias is not None  # BN's shift replaces the bias
    assert net(torch.randn(4, 64)).shape == (4, 10)


def test_mlp_accepts_class_none_and_maxout():
    assert isinstance(mlp([3, 5, 2], activation=nn.Tanh).act1, nn.Tanh)
    assert [n for n, _ in mlp([3, 5, 2], activation=None).named_children()] == ["fc1", "out"]
    net = mlp([6, 4, 2], activation="maxout", activation_kwargs={"pieces": 3})
    assert isinstance(net.fc1, Maxout) and net.fc1.weight.shape == (12, 6)
    assert net(torch.randn(5, 6)).shape == (5, 2)


def test_mlp_rejects_bad_sizes_and_names():
    with pytest.raises(ValidationError, match="at least 2 entries"):
        mlp([5])
    with pytest.raises(
        ValidationError,
        match=r"sizes\[1\] must be an int in the range \[1, inf\], got 0",
    ):
        mlp([5, 0, 2])
    with pytest.raises(ValidationError, match="unknown activation 'sigmod'; valid: sigmoid"):
        mlp([5, 3, 2], activation="sigmod")


@pytest.mark.parametrize("pool", ["max", "avg", "none", "stride"])
def test_cnn_shapes_and_penultimate(pool):
    net = cnn(1, 10, 8, channels=(4, 6), pool=pool, batchnorm=True, hidden=12)
    x = torch.randn(3, 1, 8, 8)
    assert net(x).shape == (3, 10)
    assert net[:-1](x).shape == (3, 12)
    names = [n for n, _ in net.named_children()]
    assert ("pool1" in names) == (pool in ("max", "avg"))
    assert net.conv1.stride == ((2, 2) if pool == "stride" else (1, 1))


def test_cnn_maxout_groups_channels():
    net = cnn(3, 5, (9, 7), channels=(4,), activation="maxout", activation_kwargs={"pieces": 2})
    assert net.conv1.out_channels == 8 and isinstance(net.act1, MaxoutPool)
    assert net(torch.randn(2, 3, 9, 7)).shape == (2, 5)


def test_cnn_rejects_too_many_pools():
    with pytest.raises(ValidationError, match="too small"):
        cnn(1, 10, 4, channels=(4, 4, 4))
    with pytest.raises(ValidationError, match="unknown pool 'mean'"):
        cnn(1, 10, 8, pool="mean")


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_states_gradient_is_total_derivative(cell):
    torch.manual_seed(0)
    model = SequenceModel(3, 5, 2, cell=cell).double()
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    out, states = model(x, return_states=True)
    grads = torch.autograd.grad(out.pow(2).sum(), states)[0]
    # reference: the same unrolling, reading dC/dh_t from retain_grad on each h_t
    h = x.new_zeros(4, 5)
    c = x.new_zeros(4, 5)
    hs = []
    for t in range(6):
        if cell == "lstm":
            h, c = model.cell(x[:, t], (h, c))
        else:
            h = model.cell(x[:, t], h)
        h.retain_grad()
        hs.append(h)
    ref_out = model.head(h)
    ref_out.pow(2).sum().backward()
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(states, torch.stack([v.detach() for v in hs], dim=1))
    torch.testing.assert_close(grads, torch.stack([v.grad for v in hs], dim=1))


def test_states_do_not_change_parameter_gradients():
    model = SequenceModel(2, 4, 1)
    x = torch.randn(3, 5, 2)
    model(x).sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x, return_states=True)[0].sum().backward()
    for a, b in zip(plain, model.parameters(), strict=True):
        torch.testing.assert_close(a, b.grad)


def test_sequence_model_validates():
    with pytest.raises(ShapeError, match=r"x must have shape \(B, T, 2\)"):
        SequenceModel(2, 4, 1)(torch.zeros(3, 5, 3))
    with pytest.raises(ValidationError, match="unknown cell 'gru'"):
        SequenceModel(2, 4, 1, cell="gru")
