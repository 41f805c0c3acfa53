"""P1–P3 and F1–F4: what must come out of the tiny runs, MNIST files as input, matched arms."""

from __future__ import annotations

import numpy as np
import pytest

from nndl.data import write_idx
from nndl.experiments import ConfigError, get_experiment, run_experiment
from nndl.experiments.p_pooling_cost import _builders
from nndl.nn import cnn


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


def test_p2_measures_both_sides_of_every_pooling_layer(tmp_path):
    result = _ok(run_experiment("p2_pooling_invariance", scale="tiny", out=tmp_path))
    m = result.metrics
    cfg = get_experiment("p2_pooling_invariance").config("tiny")
    for variant in cfg.variants:
        assert len(m["nets"][variant]) == cfg.seeds
        for net in m["nets"][variant]:
            for family, mags in m["magnitudes"].items():
                before, after = net[family]["before"], net[family]["after"]
                assert len(before) == len(after) == len(mags)
                assert all(len(row) == len(cfg.channels) for row in before + after)
                assert all(v > 0 and np.isfinite(v) for row in before + after for v in row)
                assert all(0.0 <= a <= 1.0 for a in net[family]["accuracy"])


def test_p1_global_average_arm_matches_the_pooled_parameter_count():
    cfg = get_experiment("p1_pooling_cost").config("quick")
    counts = {
        arm: sum(p.numel() for p in build().parameters())
        for arm, build in _builders(cfg, 10).items()
    }
    assert counts["max"] == counts["avg"] < counts["none"]
    assert abs(counts["none_gap"] - counts["max"]) <= 0.01 * counts["max"]


def test_p1_each_seed_needs_its_training_set_inside_the_pool():
    exp = get_experiment("p1_pooling_cost")
    with pytest.raises(ConfigError, match="n_pool"):
        exp.config("quick", {"n_train": 300, "n_pool": 200})


def test_f3_smallest_k_is_exact_below_the_grid_crossing(tmp_path):
    result = _ok(run_experiment("f3_parameter_sensitivity", scale="tiny", out=tmp_path))
    m, drop = result.metrics, get_experiment("f3_parameter_sensitivity").config("tiny").drop
    exact = []
    for net in m["nets"]:
        curve = net["accuracy"]["zero"]["saliency"]
        crossing = [k for k, a in zip(m["ks"], curve, strict=True) if net["baseline"] - a >= drop]
        k = net["smallest_k"]["zero"]["saliency"]
        assert (k is None) == (not crossing)
        if crossing:
            assert 1 <= k <= crossing[0]  # every k up to the grid's first crossing was tried
            exact.append(k)
    assert exact and any(k not in m["ks"] for k in exact)  # not rounded up to the grid


def test_f4_finite_differences_agree_and_cost_two_passes_per_parameter(tmp_path):
    result = _ok(run_experiment("f4_credit_assignment", scale="tiny", out=tmp_path))
    rows = result.metrics["widths"]
    assert max(r["fd_relative_error"] for r in rows) < 1e-6
    assert [r["passes"]["finite_difference"] for r in rows] == [2 * r["parameters"] for r in rows]
    assert all(r["passes"]["backprop"] == 1 for r in rows)


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
        run_experiment("p1_pooling_cost", scale="tiny", out=tmp_path, overrides={"data": spec})
    )
    cfg = get_experiment("p1_pooling_cost").config("tiny")
    expected = cnn(1, 10, cfg.image_size, channels=cfg.channels, pool="max", hidden=cfg.hidden)
    n_expected = sum(p.numel() for p in expected.parameters())
    assert p1.metrics["cost"]["max"]["parameters"] == n_expected
    f3 = _ok(
        run_experiment(
            "f3_parameter_sensitivity", scale="tiny", out=tmp_path, overrides={"data": spec}
        )
    )
    assert f3.metrics["n_parameters"] == 784 * 64 + 64 + 64 * 10 + 10


def test_unknown_data_spec_fails_with_a_clear_error(tmp_path):
    result = run_experiment(
        "p1_pooling_cost", scale="tiny", out=tmp_path, overrides={"data": "cifar10"}
    )
    assert result.status == "failed"
    assert "data must be" in result.error and "cifar10" in result.error
