"""trivial_sets, image_grids, gap_ratio (V4) and the encoder identity checks (V3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nndl import ValidationError
from nndl.generative import (
    BASELINE_SETS,
    VAE,
    encoder_identity_checks,
    gap_ratio,
    identity_check,
    identity_picture,
    image_grids,
    posterior_picture,
    trivial_sets,
)
from nndl.validation import DTypeError


def images(n=10, seed=0):
    return torch.rand((n, 1, 4, 4), generator=torch.Generator().manual_seed(seed))


def test_trivial_sets_noise_mean_and_distinct_copies():
    x = images(10)
    sets = trivial_sets(x, 6, torch.Generator().manual_seed(1))
    assert list(sets) == [*BASELINE_SETS, "training images (copying)"]
    assert all(v.shape == (6, 1, 4, 4) for v in sets.values())
    assert torch.allclose(sets[BASELINE_SETS[1]], x.mean(0).expand(6, 1, 4, 4))
    copies = sets["training images (copying)"]
    hits = [int(torch.nonzero((x == c).flatten(1).all(1))[0]) for c in copies]
    assert len(set(hits)) == 6  # distinct training images, not resampled
    again = trivial_sets(x, 6, torch.Generator().manual_seed(1))
    assert all(torch.equal(sets[k], again[k]) for k in sets)
    noise = sets[BASELINE_SETS[0]]
    assert float(noise.min()) >= 0 and float(noise.max()) < 1 and float(noise.std()) > 0.2


def test_trivial_sets_refuse_bad_input():
    with pytest.raises(ValidationError, match="n"):
        trivial_sets(images(5), 6)
    with pytest.raises(DTypeError, match="x"):
        trivial_sets(torch.zeros(5, 3, dtype=torch.long), 2)


def test_image_grids_first_n_images_with_and_without_reshape():
    x = images(9)
    grids = image_grids({"a": x, "flat": x.flatten(1)}, 4, 2, shape=(1, 4, 4))
    assert np.asarray(grids["a"]).shape == (2 * 5 + 1, 2 * 5 + 1)
    assert grids["a"] == grids["flat"]
    top_left = np.asarray(grids["a"])[1:5, 1:5]
    assert np.array_equal(top_left, (x[0, 0] * 255).round().numpy().astype(int))
    assert image_grids({"a": x}, 9, 3)["a"] != image_grids({"a": x.flip(0)}, 9, 3)["a"]
    with pytest.raises(ValidationError, match="at least 10"):
        image_grids({"a": x}, 10, 2)
    with pytest.raises(DTypeError):
        image_grids({"a": x.numpy()}, 2, 2)
    with pytest.raises(DTypeError, match="sets must map names to tensors, got list"):
        image_grids([x], 2, 2)  # type: ignore[arg-type]


def test_gap_ratio_zero_at_floor_one_at_baseline():
    assert gap_ratio(2.0, 2.0, 12.0) == 0.0
    assert gap_ratio(12.0, 2.0, 12.0) == 1.0
    assert gap_ratio(4.5, 2.0, 12.0) == pytest.approx(0.25)
    assert gap_ratio(3.0, 2.0, 2.0) == pytest.approx(1e12)  # baseline on the floor: no /0
    assert math.isnan(gap_ratio(float("nan"), 2.0, 12.0))
    with pytest.raises(DTypeError, match="floor"):
        gap_ratio(1.0, "2", 3.0)


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return VAE((6,), 2, hidden=(8,), activation="tanh", likelihood="gaussian").double().eval()


GRID = {
    "points_per_axis": 61,
    "check_points": 41,
    "coarse_points": 21,
    "coarse_extent": 6.0,
    "mc_samples": 50,
}


def test_encoder_identity_checks_equal_identity_check_with_the_encoders_q():
    vae = tiny_vae()
    x = torch.randn(2, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    gens = [torch.Generator().manual_seed(10 + i) for i in range(2)]
    checks = encoder_identity_checks(vae, x, gens, **GRID)
    with torch.no_grad():
        m, log_var = vae.encode(x)
    for i, check in enumerate(checks):
        gen = torch.Generator().manual_seed(10 + i)
        one = identity_check(
            vae, x[i : i + 1], m[i], (0.5 * log_var[i]).exp(), generator=gen, **GRID
        )
        assert check == one
    assert checks[0]["log_px"] != checks[1]["log_px"]
    with pytest.raises(ValidationError, match="generators"):
        encoder_identity_checks(vae, x, gens[:1], **GRID)


def test_identity_picture_is_centred_on_the_posterior():
    vae = tiny_vae(1)
    x = torch.randn(1, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    [check] = encoder_identity_checks(vae, x, [None], **GRID)
    pic = identity_picture(vae, x, check)
    pm, ps = torch.tensor(check["posterior_moments"]).split(2)
    half = 6 * max(float(ps.max()), max(check["encoder_q"][2:]))
    assert pic == posterior_picture(vae, x, pm, half, check["log_px"])
    lo1, hi1, lo2, hi2 = pic["extent"]
    assert (lo1 + hi1) / 2 == pytest.approx(float(pm[0]), abs=1e-5)
    assert (lo2 + hi2) / 2 == pytest.approx(float(pm[1]), abs=1e-5)
    assert hi1 - lo1 == pytest.approx(2 * half, rel=1e-5)
    with pytest.raises(ValidationError, match="missing"):
        identity_picture(vae, x, {"log_px": 0.0})
    with pytest.raises(ValidationError, match="sigmas"):
        identity_picture(vae, x, check, sigmas=0.0)
