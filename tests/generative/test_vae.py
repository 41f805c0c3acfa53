"""VAE: ELBO ≤ log p(x) by quadrature on a 1-D latent, the gap equals KL(q‖p(z|x)), the
closed-form KL against Monte Carlo, the importance-weighted estimate rising with k, sampling,
checkpoints, resuming, and bad input rejected before training."""

from __future__ import annotations

import math

import pytest
import torch

from nndl import DTypeError, ShapeError, ValidationError
from nndl.generative import VAE, gaussian_kl, train_vae
from nndl.train import Callback, CheckpointError, save_checkpoint

LOG_2PI = math.log(2 * math.pi)


def _data(n: int = 64, d: int = 16, seed: int = 0) -> torch.Tensor:
    """Dequantised 17-level data in [0, 1] with some structure (two prototypes + noise)."""
    gen = torch.Generator().manual_seed(seed)
    protos = torch.rand(2, d, generator=gen)
    pick = torch.randint(0, 2, (n,), generator=gen)
    pixels = torch.round((protos[pick] + 0.15 * torch.randn(n, d, generator=gen)).clamp(0, 1) * 16)
    return (pixels + torch.rand(n, d, generator=gen)) / 17


def _quadrature_model():
    """A float64 VAE with a 1-D latent, briefly trained, and a few points."""
    torch.manual_seed(0)
    vae = VAE((16,), 1, hidden=(16,), activation="tanh", levels=17)
    x = _data(96)
    train_vae(vae, x, epochs=15, batch_size=32, lr=1e-2, seed=0)
    return vae.double().eval(), x[:4].double()


def _log_joint_grid(vae, x, z):
    """log p(x, z) for each x (B, D) at grid points z (G,) of the 1-D latent: (G, B)."""
    zz = z.reshape(-1, 1, 1).expand(-1, x.shape[0], 1)
    with torch.no_grad():
        return vae.log_prob_x_given_z(x, zz) + vae.log_prior(zz)


@pytest.fixture(scope="module")
def quad():
    vae, x = _quadrature_model()
    z = torch.linspace(-12.0, 12.0, 24001, dtype=torch.float64)
    dz = float(z[1] - z[0])
    lj = _log_joint_grid(vae, x, z)
    log_px = torch.logsumexp(lj, 0) + math.log(dz)  # p(z|x) is negligible at ±12
    return vae, x, z, dz, lj, log_px


def test_elbo_below_log_px_and_gap_is_kl_to_posterior(quad):
    # every assertion compares a number of the library (its Monte Carlo ELBO: reconstruction
    # sampled, KL in closed form) with the test's own quadrature of log p(x) and p(z|x)
    vae, x, z, dz, lj, log_px = quad
    with torch.no_grad():
        mean, log_var = vae.encode(x)
    s = (0.5 * log_var).exp()[:, 0]
    log_q = -0.5 * ((z[:, None] - mean[:, 0]) / s) ** 2 - s.log() - 0.5 * LOG_2PI
    q = log_q.exp() * dz
    exact_elbo = (q * (lj - log_q)).sum(0)  # E_q[log p(x, z) − log q(z)] by quadrature
    kl_post = (q * (log_q - (lj - log_px))).sum(0)  # KL(q ‖ p(z|x)) by quadrature
    n = 20000
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        values = vae.elbo(x.repeat(n, 1), generator=gen)[0].reshape(n, -1)
    lib_elbo, se = values.mean(0), values.std(0) / math.sqrt(n)
    assert torch.all((lib_elbo - exact_elbo).abs() < 5 * se)  # the library's ELBO is right
    assert torch.all(lib_elbo < log_px + 5 * se)  # and does not exceed log p(x)
    # the gap log p(x) − ELBO is the KL divergence from q to the true posterior
    assert torch.all((log_px - lib_elbo - kl_post).abs() < 5 * se)
    assert kl_post.max() > 10 * se.max()  # some gap the estimate resolves: the check has teeth


def test_importance_weighted_estimate_rises_with_k_towards_log_px(quad):
    vae, x, _, _, _, log_px = quad
    gen = torch.Generator().manual_seed(2)
    means = []
    for k, reps in ((1, 4000), (10, 400), (100, 100), (1000, 20)):
        est = vae.log_likelihood(x.repeat(reps, 1), k, generator=gen).reshape(reps, -1)
        means.append(est.mean(0))
    means = torch.stack(means)  # (k, points)
    gaps = log_px - means
    assert torch.all(gaps[0] > 0)  # the ELBO is below log p(x)
    assert torch.all(means[1:].mean(1) >= means[:-1].mean(1))  # rising with k, on average
    assert gaps[-1].abs().max() < 0.05 * gaps[0].mean() + 0.01


def test_kl_closed_form_matches_monte_carlo_and_torch():
    gen = torch.Generator().manual_seed(3)
    mean = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    log_var = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    closed = gaussian_kl(mean, log_var)
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    torch.testing.assert_close(closed, torch.distributions.kl_divergence(q, p).sum(-1))
    z = q.sample((200000,))
    terms = (q.log_prob(z) - p.log_prob(z)).sum(-1)
    assert torch.all((terms.mean(0) - closed).abs() < 5 * terms.std(0) / math.sqrt(200000))
    assert torch.all(gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)) == 0)


@pytest.mark.parametrize(
    ("likelihood", "arch", "shape"),
    [
        ("discretized_logistic", "mlp", (16,)),
        ("bernoulli", "mlp", (16,)),
        ("gaussian", "mlp", (16,)),
        ("discretized_logistic", "conv", (1, 8, 8)),
    ],
)
def test_sampling_shapes_and_ranges(likelihood, arch, shape):
    torch.manual_seed(0)
    kw = {"levels": 17} if likelihood == "discretized_logistic" else {}
    vae = VAE(shape, 3, hidden=(16,), arch=arch, channels=(4, 8), likelihood=likelihood, **kw)
    xs = vae.sample(50, generator=torch.Generator().manual_seed(0))
    again = vae.sample(50, generator=torch.Generator().manual_seed(0))
    means = vae.sample(50, mean=True)
    assert xs.shape == (50, *shape) and means.shape == (50, *shape)
    torch.testing.assert_close(xs, again)
    if likelihood == "bernoulli":
        assert set(xs.unique().tolist()) <= {0.0, 1.0}
    if likelihood != "gaussian":
        assert xs.min() >= 0 and xs.max() <= 1 and means.min() >= 0 and means.max() <= 1
    x = xs.clamp(0, 1)
    elbo, rec, kl = vae.elbo(x)
    assert elbo.shape == rec.shape == kl.shape == (50,)
    torch.testing.assert_close(elbo, rec - kl)
    assert torch.all(kl >= 0)
    assert vae.log_likelihood(x, 3).shape == (50,)
    mean, log_var = vae.encode(x)
    assert mean.shape == log_var.shape == (50, 3)
    assert vae.decode(mean).shape == (50, *shape)


def test_interpolation_runs_between_the_two_codes():
    torch.manual_seed(0)
    vae = VAE((16,), 2, hidden=(16,), levels=17)
    x = _data(2)
    path = vae.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, 16)
    with torch.no_grad():
        ends = vae.decode(vae.encode(x)[0])
    torch.testing.assert_close(path[[0, -1]], ends)


def test_training_raises_the_elbo_and_logs_validation():
    torch.manual_seed(0)
    vae = VAE((16,), 2, hidden=(32,), levels=17)
    x = _data(128)
    history = train_vae(vae, x, epochs=8, batch_size=32, lr=5e-3, val_data=x[:32])
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert history[-1]["loss"] < history[0]["loss"] - 5
    assert history[-1]["val_elbo"] > history[0]["val_elbo"]


def test_resume_equals_uninterrupted_training(tmp_path):
    x = _data(64)
    kw = {"batch_size": 16, "lr": 3e-3, "seed": 5, "lr_schedule": "cosine"}

    def fresh() -> VAE:
        torch.manual_seed(0)
        return VAE((16,), 2, hidden=(16,), levels=17)

    class Crash(Callback):
        def on_epoch_start(self, trainer, epoch):
            if epoch == 2:  # after two epochs (and their checkpoints) the process dies
                raise KeyboardInterrupt

    whole = fresh()
    torch.manual_seed(123)
    train_vae(whole, x, epochs=4, **kw)
    first = fresh()
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        train_vae(first, x, epochs=4, checkpoint_dir=tmp_path, callbacks=[Crash()], **kw)
    second = fresh()  # a new process would start from scratch and resume from the files
    torch.manual_seed(999)
    history = train_vae(second, x, epochs=4, checkpoint_dir=tmp_path, resume=True, **kw)
    assert len(history) == 4
    for (name, a), b in zip(whole.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    loaded = VAE.from_checkpoint(tmp_path)  # vae.safetensors written beside the checkpoint
    for a, b in zip(loaded.state_dict().values(), whole.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), 3, arch="conv", channels=(4, 8), hidden=(16,), likelihood="bernoulli")
    path = vae.save(tmp_path / "model.safetensors")
    loaded = VAE.from_checkpoint(path)
    assert loaded.config == vae.config
    z = torch.randn(4, 3)
    torch.testing.assert_close(loaded.decode(z), vae.decode(z))
    with pytest.raises(CheckpointError, match="does not exist"):
        VAE.from_checkpoint(tmp_path / "missing.safetensors")
    (tmp_path / "corrupt.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        VAE.from_checkpoint(tmp_path / "corrupt.safetensors")
    save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(1)}, {"kind": "gan"})
    with pytest.raises(CheckpointError, match="not a VAE checkpoint"):
        VAE.from_checkpoint(tmp_path / "other.safetensors")


def test_rejects_bad_input_before_training(tmp_path):
    with pytest.raises(ValidationError, match="latent_dim must be an int in the range"):
        VAE((16,), 0)
    with pytest.raises(ValidationError, match="data_shape"):
        VAE((0, 4), 2)
    with pytest.raises(ValidationError, match="H and W divisible by 4"):
        VAE((1, 6, 6), 2, arch="conv")
    with pytest.raises(ValidationError, match="unknown activation 'relu6'"):
        VAE((16,), 2, activation="relu6")
    vae = VAE((16,), 2, hidden=(8,), likelihood="bernoulli")
    before = [p.clone() for p in vae.parameters()]
    x = _data(32)
    with pytest.raises(ValidationError, match=r"must lie in \[0, 1\] for the Bernoulli"):
        train_vae(vae, x * 2, epochs=1, checkpoint_dir=tmp_path)
    nan = x.clone()
    nan[3, 2] = float("nan")
    with pytest.raises(ValidationError, match="data must be finite, got 1 NaN"):
        train_vae(vae, nan, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ShapeError, match="data must have shape"):
        train_vae(vae, x[:, :10], epochs=1)
    with pytest.raises(DTypeError, match="floating-point"):
        train_vae(vae, (x > 0.5).long(), epochs=1)
    with pytest.raises(ValidationError, match="at least one example"):
        train_vae(vae, x[:0], epochs=1)
    with pytest.raises(ValidationError, match="epochs must be an int in the range"):
        train_vae(vae, x, epochs=0)
    with pytest.raises(ValidationError, match="lr must be a number > 0"):
        train_vae(vae, x, epochs=1, lr=-1.0)
    assert not any(tmp_path.iterdir())  # nothing was trained or written
    assert all(torch.equal(a, b) for a, b in zip(before, vae.parameters(), strict=True))
    with pytest.raises(ValidationError, match="n must be an int in the range"):
        vae.sample(0)
    with pytest.raises(ValidationError, match="k must be an int in the range"):
        vae.log_likelihood(x, 0)
    with pytest.raises(ShapeError, match="z must have shape"):
        vae.decode(torch.zeros(3, 5))
