"""Library pieces the depth experiments (G1, G5, G6, G8) call: speeds around training, speeds
recorded along full-batch training, and several recurrent cells raced on the same batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl import DTypeError, ShapeError, ValidationError
from nndl.analysis import (
    fit_and_score,
    hidden_layer_speeds,
    race_on_adding_problem,
    sgd_l2_weights,
    speeds_along_training,
    stacked_mlps,
)
from nndl.data import adding_problem
from nndl.nn import sigmoid_cross_entropy
from nndl.train import fit_stacked


def _gen(k: int) -> torch.Generator:
    return torch.Generator().manual_seed(500 + k)


def _data(n: int = 40, d: int = 6, k: int = 3):
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


# -- fit_and_score(..., speeds=...) -----------------------------------------------------------
def test_fit_and_score_reads_the_speeds_before_and_after_training():
    x, y = _data()
    kw = {"lr": 0.5, "epochs": 5, "batch_size": 8, "seed": 1}
    nets = stacked_mlps([6, 5, 5, 3], "sigmoid", 2, _gen)
    fresh = stacked_mlps([6, 5, 5, 3], "sigmoid", 2, _gen)
    score = fit_and_score(nets, x, y, [(x, y)], speeds=("bias", "weight"), **kw)
    assert list(score.speeds) == ["bias_init", "weight_init", "bias_trained", "weight_trained"]
    for m in ("bias", "weight"):
        torch.testing.assert_close(
            torch.tensor(score.speeds[f"{m}_init"]), hidden_layer_speeds(fresh, x, y, measure=m)
        )
        torch.testing.assert_close(
            torch.tensor(score.speeds[f"{m}_trained"]), hidden_layer_speeds(nets, x, y, measure=m)
        )
    assert score.speeds["bias_init"] != score.speeds["bias_trained"]  # training moved them
    plain = fit_and_score(fresh, x, y, [(x, y)], **kw)  # the speeds do not change the training
    assert plain.speeds == {} and plain.accuracy == score.accuracy
    assert plain.epoch_losses == score.epoch_losses
    copies = stacked_mlps([6, 5, 3], "rrelu", 2, _gen).unstack()  # one by one
    alone = fit_and_score(copies, x, y, [(x, y)], speeds=("bias",), **kw)
    assert np.asarray(alone.speeds["bias_trained"]).shape == (2, 1)


def test_fit_and_score_checks_the_speed_measure_and_nets_before_training():
    x, y = _data()
    nets = stacked_mlps([6, 5, 3], "sigmoid", 2, _gen)
    before = [p.detach().clone() for p in nets.parameters()]
    with pytest.raises(ValidationError, match="speeds"):
        fit_and_score(nets, x, y, [(x, y)], epochs=1, batch_size=None, seed=0, speeds=("w",))
    with pytest.raises(ValidationError, match="one by one"):
        fit_and_score([], x, y, [(x, y)], epochs=1, batch_size=None, seed=0, speeds=("bias",))
    assert all(torch.equal(a, b) for a, b in zip(before, nets.parameters(), strict=True))


# -- speeds_along_training ----------------------------------------------------------------------
def test_speeds_along_training_records_on_schedule_and_matches_fit_stacked():
    x, y = _data()
    target = torch.nn.functional.one_hot(y, 3).float()
    kw = {"loss": sigmoid_cross_entropy, "epochs": 7, "seed": 0}
    nets = stacked_mlps([6, 5, 5, 3], "sigmoid", 2, _gen)
    run = speeds_along_training(
        nets, x, target, y, optimizer=sgd_l2_weights(0.5, 0.01), every=3, **kw
    )
    assert run["epochs"] == [0, 3, 6] and np.asarray(run["speeds"]).shape == (3, 2, 2)
    fresh = stacked_mlps([6, 5, 5, 3], "sigmoid", 2, _gen)
    fit_stacked(fresh, x, target, optimizer=sgd_l2_weights(0.5, 0.01), batch_size=None, **kw)
    for a, b in zip(nets.parameters(), fresh.parameters(), strict=True):
        torch.testing.assert_close(a, b)  # the recorder does not change the training
    expected = [float((m(x).argmax(-1) == y).float().mean()) for m in fresh.unstack()]
    assert run["train_accuracy"] == pytest.approx(expected)


def test_speeds_along_training_checks_before_training():
    x, y = _data()
    nets = stacked_mlps([6, 5, 3], "sigmoid", 2, _gen)
    opt = sgd_l2_weights(0.1, 0.0)
    with pytest.raises(ValidationError, match="epochs"):
        speeds_along_training(nets, x, y, y, loss="cross_entropy", optimizer=opt, epochs=0,
                              every=1, seed=0)  # fmt: skip
    with pytest.raises(DTypeError, match="StackedModels"):
        speeds_along_training(nets.member(0), x, y, y, loss="cross_entropy", optimizer=opt,
                              epochs=2, every=1, seed=0)  # fmt: skip


# -- race_on_adding_problem ---------------------------------------------------------------------
def _race(**kw):
    held = adding_problem(32, 6, torch.Generator().manual_seed(1))
    probe = adding_problem(16, 6, torch.Generator().manual_seed(2))
    args = {
        "length": 6, "hidden": 4, "init_seed": 7, "held_out": held, "probe": probe,
        "generator": lambda: torch.Generator().manual_seed(3), "max_steps": 20,
        "until_mse": 1e-9, "eval_every": 5,
    }  # fmt: skip
    return race_on_adding_problem(("lstm", "rnn"), **(args | kw))


def test_race_gives_the_follower_the_leaders_steps_and_is_reproducible():
    run = _race()
    assert list(run) == ["lstm", "rnn"]
    assert run["lstm"]["curve"][-1][0] == run["rnn"]["curve"][-1][0] == 20.0  # never solved
    assert len(run["rnn"]["grad_init"]) == len(run["rnn"]["grad_trained"]) == 6
    assert run == _race()  # same seeds, same batches: the same race
    goal = run["lstm"]["curve"][2][1] + 1e-6  # the leader reaches it after 10 steps
    early = _race(until_mse=goal)
    assert early["lstm"]["curve"] == run["lstm"]["curve"][:3]
    assert early["rnn"]["curve"] == run["rnn"]["curve"][:3]  # the follower: 10 steps too
    solved = _race(until_mse=100.0)  # solved at once: nobody trains
    assert solved["rnn"]["curve"] == [run["rnn"]["curve"][0]]
    assert solved["rnn"]["grad_init"] == solved["rnn"]["grad_trained"]


def test_race_checks_its_arguments_before_training():
    with pytest.raises(ValidationError, match="cells"):
        race_on_adding_problem(
            (), length=6, hidden=4, init_seed=0, generator=torch.Generator, held_out=None,
            probe=None, max_steps=1, until_mse=0.1,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="hidden"):
        _race(hidden=0)
    with pytest.raises(DTypeError, match="generator"):
        _race(generator=3)
    bad = adding_problem(16, 6, torch.Generator().manual_seed(2))
    with pytest.raises(ShapeError):
        _race(probe=(bad[0], bad[1][:3]))
