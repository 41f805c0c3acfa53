"""P1–P3 and F1–F4: metrics that must come out of the tiny runs, MNIST input, the F1 ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl.data import write_idx
from nndl.experiments import run_experiment
from nndl.experiments.f_foundations import _Ensemble
from nndl.nn import cnn, mlp


def _ok(result):
    assert result.status == "ok", f"{result.error}\n{result.traceback}"
    return result


def test_p3_receptive_fields_are_exact_and_grow_with_pooling(tmp_path):
    result = _ok(run_experiment("p3_receptive_field", scale="tiny", out=tmp_path))
    sizes = result.metrics["size"]
    assert sizes["none"] == [3, 5, 7]  # +2 per 3×3 convolution
    assert sizes["max"] == sizes["avg"] == [4, 10, 22]  # the jump doubles after each pool
    assert result.metrics["mismatches"] == []
    assert result.verdict("P3").status == "holds"


def test_p2_identity_transform_changes_nothing(tmp_path):
    result = _ok(run_experiment("p2_pooling_invariance", scale="tiny", out=tmp_path))
    m = result.metrics
    for family in ("translation", "elastic", "rescaling"):
        identity = m["magnitudes"][family].index(1.0 if family == "rescaling" else 0.0)
        for pool, values in m["cosine"][family].items():
            assert values[identity] == pytest.approx(1.0, abs=1e-5), (family, pool)
            assert m["prediction_change"][family][pool][identity] == 0.0
            assert all(-1.0 - 1e-6 <= v <= 1.0 + 1e-6 for v in values)


def test_f4_finite_differences_agree_and_cost_two_passes_per_parameter(tmp_path):
    result = _ok(run_experiment("f4_credit_assignment", scale="tiny", out=tmp_path))
    m = result.metrics
    assert max(m["fd_relative_error"]) < 1e-6
    assert m["passes"]["finite_difference"] == [2 * p for p in m["parameters"]]
    assert m["passes"]["backprop"] == [1] * len(m["parameters"])


@pytest.fixture()
def fake_mnist(tmp_path):
    """Four IDX files shaped like MNIST (28×28, labels 0–9), with random pixels."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n in (("train", 120), ("t10k", 40)):
        write_idx(
            folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8)
        )
        write_idx(folder / f"{split}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return folder


def test_p1_and_f3_read_mnist_files(fake_mnist, tmp_path):
    spec = f"mnist:{fake_mnist}"
    p1 = _ok(
        run_experiment(
            "p1_pooling_cost",
            scale="tiny",
            out=tmp_path,
            overrides={"data": spec, "max_train": 64, "max_test": 32},
        )
    )
    expected = sum(p.numel() for p in cnn(1, 10, 28, channels=(4, 8), pool="max").parameters())
    assert p1.metrics["cost"]["max"]["parameters"] == expected
    f3 = _ok(
        run_experiment(
            "f3_parameter_sensitivity",
            scale="tiny",
            out=tmp_path,
            overrides={"data": spec, "max_train": 64, "max_test": 32},
        )
    )
    assert f3.metrics["n_parameters"] == 784 * 64 + 64 + 64 * 10 + 10


def test_ensemble_trains_each_member_as_if_alone():
    torch.manual_seed(0)
    members = [mlp([2, 5, 1], activation="tanh") for _ in range(3)]
    alone = [torch.nn.utils.parameters_to_vector(m.parameters()).clone() for m in members]
    ensemble = _Ensemble(members)
    x, y = torch.randn(16, 2), torch.randn(16, 3)
    torch.testing.assert_close(ensemble(x)[..., 0].T, torch.cat([m(x) for m in members], dim=1))
    # one Adam step on the summed loss = one Adam step on each member's own loss
    opt = torch.optim.Adam(ensemble.parameters(), lr=0.1)
    ((ensemble(x)[..., 0] - y.T) ** 2).mean(dim=1).sum().backward()
    opt.step()
    for i, member in enumerate(members):
        torch.nn.utils.vector_to_parameters(alone[i], member.parameters())
        opt_i = torch.optim.Adam(member.parameters(), lr=0.1)
        ((member(x)[:, 0] - y[:, i]) ** 2).mean().backward()
        opt_i.step()
    torch.testing.assert_close(ensemble(x)[..., 0].T, torch.cat([m(x) for m in members], dim=1))


def test_unknown_data_spec_fails_with_a_clear_error(tmp_path):
    result = run_experiment(
        "p1_pooling_cost", scale="tiny", out=tmp_path, overrides={"data": "cifar10"}
    )
    assert result.status == "failed"
    assert "data must be 'digits' or 'mnist:DIR', got 'cifar10'" in result.error
