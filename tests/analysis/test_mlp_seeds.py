"""S seeds of one MLP: building, Nielsen's weight-only L2, speed recording, train-and-score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl import DTypeError, ValidationError
from nndl.analysis import (
    SpeedRecorder,
    fit_and_score,
    hidden_layer_speeds,
    sgd_l2_weights,
    spread_factor,
    stacked_mlps,
)
from nndl.train import fit_stacked


def _gen(k: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 + k)


def _data(n: int = 48, d: int = 6, k: int = 3):
    g = torch.Generator().manual_seed(7)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def test_stacked_mlps_copy_s_is_drawn_from_generator_offset_plus_s():
    kw = {"std": 1.0, "fan_in_scaled": True}
    a = stacked_mlps([6, 5, 3], "sigmoid", 3, _gen, offset=10, init_kwargs=kw)
    b = stacked_mlps([6, 5, 3], "sigmoid", 2, _gen, offset=11, init_kwargs=kw)
    torch.testing.assert_close(a.member(1).fc1.weight, b.member(0).fc1.weight)  # both gen(11)
    assert not torch.equal(a.member(0).fc1.weight, a.member(1).fc1.weight)
    std = float(
        stacked_mlps([400, 300, 3], "relu", 1, _gen, init_kwargs=kw)
        .member(0)
        .fc1.weight.detach()
        .std()
    )
    assert 0.045 < std < 0.055  # N(0, 1/400)
    bn = stacked_mlps([6, 5, 3], "sigmoid", 2, _gen, batchnorm=True)
    assert "bn1.weight" in dict(bn.stack.named_parameters())


def test_stacked_mlps_rejects_bad_arguments():
    with pytest.raises(ValidationError, match="seeds"):
        stacked_mlps([6, 3], "relu", 0, _gen)
    with pytest.raises(ValidationError, match="offset"):
        stacked_mlps([6, 3], "relu", 2, _gen, offset=-1)
    with pytest.raises(DTypeError, match="generator"):
        stacked_mlps([6, 3], "relu", 2, 3)


def test_sgd_l2_weights_decays_the_stacked_weights_only():
    nets = stacked_mlps([4, 3, 2], "sigmoid", 2, _gen, init_kwargs={"bias_std": 1.0})
    before = {n: p.detach().clone() for n, p in nets.named_parameters()}
    opt = sgd_l2_weights(0.5, 0.1)(nets.parameters())
    for p in nets.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # zero gradient: only the decay moves anything
    for n, p in nets.named_parameters():
        expected = before[n] * (1 - 0.5 * 0.1) if n.endswith("weight") else before[n]
        torch.testing.assert_close(p.detach(), expected)
    with pytest.raises(ValidationError, match="decay"):
        sgd_l2_weights(0.1, -1.0)


def test_speed_recorder_reads_the_hidden_bias_gradients_on_schedule():
    x, y = _data()
    nets = stacked_mlps([6, 5, 5, 3], "sigmoid", 2, _gen)
    rec = SpeedRecorder(nets, every=3, last=7)
    fit_stacked(nets, x, y, lr=0.1, epochs=8, batch_size=None, callbacks=[rec])
    assert rec.steps == [0, 3, 6, 7] and rec.speeds[0].shape == (2, 2)
    fresh = stacked_mlps([6, 5, 5, 3], "sigmoid", 2, _gen)
    np.testing.assert_allclose(rec.speeds[0], hidden_layer_speeds(fresh, x, y).numpy(), rtol=1e-5)
    with pytest.raises(DTypeError):
        SpeedRecorder(fresh.member(0), every=1, last=0)


def test_fit_and_score_stacked_and_one_by_one_both_train():
    x, y = _data()
    xt, yt = _data(30)
    kw = {"lr": 0.2, "momentum": 0.9, "epochs": 15, "batch_size": 16, "seed": 0}
    stacked = stacked_mlps([6, 8, 3], "relu", 2, _gen, init="kaiming_normal")
    score = fit_and_score(stacked, x, y, [(x, y), (xt, yt)], **kw)
    assert len(score.accuracy) == 2 and len(score.accuracy[0]) == 2 and score.diverged == 0
    assert len(score.epoch_losses) == 15 and score.epoch_losses[-1][0] < score.epoch_losses[0][0]
    assert min(score.accuracy[0]) > 0.6  # fits its training data
    np.testing.assert_allclose(score.accuracy[0], [float((s(x).argmax(-1) == y).float().mean())
                               for s in stacked.unstack()])  # fmt: skip
    copies = stacked_mlps([6, 8, 3], "rrelu", 2, _gen, init="kaiming_normal").unstack()
    alone = fit_and_score(copies, x, y, [(x, y)], **kw)
    assert len(alone.epoch_losses) == 15 and len(alone.epoch_losses[0]) == 2
    assert min(alone.accuracy[0]) > 0.6 and alone.diverged == 0


def test_fit_and_score_counts_diverged_copies_and_checks_arguments():
    x, y = _data()
    nets = stacked_mlps([6, 8, 3], "relu", 2, _gen, init_kwargs={"std": 30.0})
    score = fit_and_score(nets, x, y, [(x, y)], lr=1e6, epochs=8, batch_size=None, seed=0)
    assert score.diverged == 2
    copies = nets.unstack()
    alone = fit_and_score(copies, x, y, [(x, y)], lr=1e6, epochs=8, batch_size=None, seed=0)
    assert alone.diverged == 2 and np.isnan(alone.epoch_losses[0]).all()
    with pytest.raises(ValidationError, match="evaluate"):
        fit_and_score(nets, x, y, [], epochs=1, batch_size=None, seed=0)
    with pytest.raises(ValidationError, match="one by one"):
        fit_and_score(copies, x, y, [(x, y)], epochs=1, batch_size=None, seed=0, optimizer="adam")


def test_hidden_layer_speeds_of_a_list_equals_the_stack():
    x, y = _data()
    nets = stacked_mlps([6, 5, 5, 3], "tanh", 3, _gen)
    torch.testing.assert_close(
        hidden_layer_speeds(nets.unstack(), x, y),
        hidden_layer_speeds(nets, x, y),
        rtol=1e-5,
        atol=0,
    )
    with pytest.raises(ValidationError, match="non-empty list"):
        hidden_layer_speeds([], x, y)


def test_spread_factor_is_the_geometric_mean_of_max_over_min():
    assert spread_factor([[0.1, 1.0], [1.0, 1000.0]]) == pytest.approx(100.0)
    assert spread_factor([[2.0, 2.0, 2.0]]) == 1.0
    assert spread_factor([[0.0, 1.0], [1.0, 2.0]]) == float("inf")
    assert np.isnan(spread_factor([["nan", 1.0], [1.0, 2.0]]))
