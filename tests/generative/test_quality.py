"""Sample-quality measures: Fréchet distance against closed forms, precision/recall on toy sets
whose answer is known, and the digits feature classifier."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from nndl import ShapeError, ValidationError
from nndl.data import load_digits_split
from nndl.generative.quality import (
    FeatureClassifier,
    class_histogram,
    evaluate_samples,
    features,
    frechet_distance,
    frechet_distance_from_features,
    gaussian_fit,
    precision_recall,
    real_floor,
    total_variation,
    train_feature_classifier,
)
from nndl.train import CheckpointError, accuracy


def _random_spd(rng: np.random.Generator, f: int) -> np.ndarray:
    a = rng.normal(size=(f, f))
    return a @ a.T + 0.1 * np.eye(f)


# -- Fréchet distance ---------------------------------------------------------------------------
def test_frechet_diagonal_closed_form():
    # for commuting (diagonal) covariances, tr (S1 S2)^½ = Σ √(a_i b_i): FD = |Δμ|² + Σ(√a − √b)²
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_frechet_one_dimensional_is_wasserstein():
    # W2² of N(m1, s1²) and N(m2, s2²) is (m1 − m2)² + (s1 − s2)²
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[0.25]]) == pytest.approx(9.0 + 1.5**2)


@pytest.mark.parametrize("seed", range(4))
def test_frechet_matches_scipy_sqrtm_formula(seed):
    rng = np.random.default_rng(seed)
    s1, s2 = _random_spd(rng, 6), _random_spd(rng, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(reference, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(ours, rel=1e-9)  # symmetric


def test_frechet_zero_for_identical_and_finite_for_singular():
    rng = np.random.default_rng(1)
    s = _random_spd(rng, 4)
    mu = rng.normal(size=4)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-10)
    # a point mass (zero covariance, e.g. "every sample is the mean image"): |Δμ|² + tr S
    zero = np.zeros((4, 4))
    assert frechet_distance(mu, zero, mu + 1, s) == pytest.approx(4.0 + np.trace(s), rel=1e-10)


def test_frechet_from_samples_converges_to_closed_form():
    rng = np.random.default_rng(2)
    s1, s2 = _random_spd(rng, 3), _random_spd(rng, 3)
    mu1, mu2 = np.zeros(3), np.ones(3)
    x1 = rng.multivariate_normal(mu1, s1, size=40_000)
    x2 = rng.multivariate_normal(mu2, s2, size=40_000)
    exact = frechet_distance(mu1, s1, mu2, s2)
    assert frechet_distance_from_features(x1, x2) == pytest.approx(exact, rel=0.05)
    mean, cov = gaussian_fit(torch.from_numpy(x1))
    np.testing.assert_allclose(mean, mu1, atol=0.05)
    np.testing.assert_allclose(cov, s1, atol=0.15 * np.abs(s1).max())


def test_frechet_rejects_bad_input():
    with pytest.raises(ShapeError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValidationError, match="finite"):
        frechet_distance(np.array([np.nan, 0.0]), np.eye(2), np.zeros(2), np.eye(2))
    with pytest.raises(ShapeError, match="N >= 2"):
        gaussian_fit(np.zeros((1, 3)))
    with pytest.raises(ShapeError, match="same dimension"):
        frechet_distance_from_features(np.zeros((5, 3)), np.zeros((5, 4)))


# -- precision and recall -------------------------------------------------------------------
def _grid(xs, ys, dx=0.0) -> torch.Tensor:
    return torch.tensor([[x + dx, y] for x in xs for y in ys], dtype=torch.float64)


def test_precision_recall_identical_sets_are_one():
    pts = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert precision_recall(pts, pts.clone(), k=3) == (1.0, 1.0)


def test_precision_recall_on_a_lattice_is_known_exactly():
    # real: the 10 × 10 integer lattice; with k = 1 every real ball has radius 1 (grid step).
    # fake: the left half (columns 0…4) shifted by −0.3: every fake point is 0.3 from a real one
    # (precision 1). The fake balls also have radius 1, so they cover real columns 0…4 (0.3
    # away) and not column 5 (1.3 away): recall 50/100. This is mode dropping.
    real = _grid(range(10), range(10))
    fake = _grid(range(5), range(10), dx=-0.3)
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == 1.0
    assert recall == 0.5


def test_precision_recall_far_apart_sets_are_zero_and_roles_swap():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(40, 3, generator=gen)
    b = torch.randn(60, 3, generator=gen) + 100.0
    assert precision_recall(a, b, k=3) == (0.0, 0.0)
    # precision of (real, fake) is the recall of (fake, real) and vice versa
    c = torch.randn(60, 3, generator=gen) * 2.0
    p, r = precision_recall(a, c, k=3)
    assert precision_recall(c, a, k=3) == (r, p)
    assert 0.0 < p <= 1.0 and 0.0 < r <= 1.0


def test_precision_recall_chunking_does_not_change_the_answer():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(70, 5, generator=gen), torch.randn(45, 5, generator=gen) * 1.5
    assert precision_recall(a, b, k=3, chunk=7) == precision_recall(a, b, k=3, chunk=1000)


def test_precision_recall_rejects_bad_input():
    with pytest.raises(ValidationError, match="more than k = 3"):
        precision_recall(torch.zeros(3, 2), torch.zeros(10, 2), k=3)
    with pytest.raises(ShapeError, match="F = 2"):
        precision_recall(torch.zeros(10, 2), torch.zeros(10, 3))
    with pytest.raises(ValidationError, match="NaN"):
        precision_recall(torch.full((10, 2), float("nan")), torch.zeros(10, 2))
    with pytest.raises(ValidationError, match="k must be"):
        precision_recall(torch.zeros(10, 2), torch.zeros(10, 2), k=0)


def test_total_variation():
    assert total_variation([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert total_variation([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert total_variation([0.2, 0.3, 0.5], [0.3, 0.3, 0.4]) == pytest.approx(0.1)
    with pytest.raises(ShapeError):
        total_variation([1.0], [0.5, 0.5])


# -- the feature classifier on the digits -------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    split = load_digits_split()
    return split


@pytest.fixture(scope="module")
def classifier(digits):
    torch.set_num_threads(1)
    return train_feature_classifier(
        digits.images(digits.x_train), digits.y_train, epochs=12, progress=False
    )


def test_feature_classifier_learns_the_digits(classifier, digits):
    acc = accuracy(classifier, digits.images(digits.x_test), digits.y_test)
    assert acc > 0.9
    feats = features(classifier, digits.images(digits.x_test))
    assert feats.shape == (digits.x_test.shape[0], classifier.hidden[-1])
    assert feats.dtype == torch.float64
    # flattened input is accepted too and gives the same features
    torch.testing.assert_close(features(classifier, digits.x_test), feats)


def test_real_floor_is_far_below_trivial_baselines(classifier, digits):
    ref, held = digits.images(digits.x_test), digits.images(digits.x_val)
    floor = real_floor(classifier, ref, held)
    noise = evaluate_samples(classifier, ref, torch.rand(held.shape, generator=torch.Generator()))
    mean_image = evaluate_samples(
        classifier, ref, digits.images(digits.x_train).mean(0, keepdim=True).expand_as(held)
    )
    assert floor.fd < 0.1 * min(noise.fd, mean_image.fd)
    assert floor.precision > 0.8 and floor.recall > 0.8
    assert mean_image.recall == 0.0  # one point covers nothing
    assert floor.class_tv < 0.15 and mean_image.class_tv > 0.8
    assert sum(floor.class_hist) == pytest.approx(1.0)
    assert floor.n_samples == held.shape[0]


def test_class_histogram_of_one_class(classifier, digits):
    zeros = digits.images(digits.x_test)[digits.y_test == 0]
    hist = class_histogram(classifier, zeros)
    assert hist.shape == (10,) and hist.sum().item() == pytest.approx(1.0)
    assert hist[0] > 0.9


def test_feature_classifier_round_trip_and_corrupt_file(classifier, digits, tmp_path):
    path = classifier.save(tmp_path / "clf.safetensors", accuracy=0.97)
    loaded, meta = FeatureClassifier.from_checkpoint(path)
    assert meta["accuracy"] == 0.97
    x = digits.images(digits.x_test[:20])
    torch.testing.assert_close(features(loaded, x), features(classifier, x))
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        FeatureClassifier.from_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        FeatureClassifier.from_checkpoint(tmp_path / "missing.safetensors")


def test_feature_classifier_rejects_bad_input(digits):
    x, y = digits.images(digits.x_train[:20]), digits.y_train[:20]
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValidationError, match="NaN"):
        train_feature_classifier(bad, y, epochs=1)
    with pytest.raises(ShapeError):
        train_feature_classifier(x.flatten(1), y, epochs=1)
    with pytest.raises(ValidationError, match="arch"):
        FeatureClassifier((1, 8, 8), 10, arch="resnet")
    with pytest.raises(ValidationError, match="labels must lie"):
        train_feature_classifier(x, y, n_classes=3, epochs=1)


def test_cnn_feature_classifier_builds_and_trains_one_epoch(digits):
    model = train_feature_classifier(
        digits.images(digits.x_train[:128]), digits.y_train[:128], arch="cnn", epochs=1
    )
    assert features(model, digits.images(digits.x_test[:5])).shape == (5, 64)
