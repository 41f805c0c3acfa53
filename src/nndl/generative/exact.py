r"""Exact checks of latent-variable models: 2-D quadrature, closed forms, sampler tests (V2, V3).

For every distribution :math:`q(z)` and every x,

.. math:: \log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}\big(q(z) \,\|\, p(z \mid x)\big), \qquad
          \mathrm{ELBO}(q) = \mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q \,\|\, p(z)).

With a 2-D latent, :math:`p(x) = \int p(x \mid z)\, p(z)\, dz` is a 2-D integral that the
trapezoidal rule on a grid covering the posterior computes to near machine precision
(:func:`latent_quadrature`); the same grid gives the posterior :math:`p(z \mid x) =
p(x, z) / p(x)`, its moments, and both sides of the identity for any Gaussian q
(:meth:`LatentQuadrature.identity_terms`).

- :func:`linear_gaussian_vae` — a :class:`~nndl.generative.VAE` with a linear decoder and a
  Gaussian likelihood (probabilistic PCA) whose encoder is the *exact* posterior, and its
  closed-form marginal :math:`N(b, WW^\top + \sigma^2 I)`.
- :func:`gaussian_sample_deviations` — standardised deviations of samples from a Gaussian
  (mean, covariance entries, mean log-density), for a max-|z| test of a sampler.
- :func:`importance_gaps` — :math:`\log p(x) - \mathrm{IW}_k` per k, averaged over repeats.
- :func:`diag_gaussian_kl` — KL between two diagonal Gaussians in closed form.
- :func:`linear_gaussian_check`, :func:`identity_check` — the identity checked for several q
  (closed forms for the linear-Gaussian VAE, quadrature and Monte Carlo for any 2-D latent);
  :func:`encoder_identity_checks` — :func:`identity_check` per example with the encoder's q;
  :func:`posterior_picture`, :func:`identity_picture`, :func:`gaussian_ellipse` — what their
  figures draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .._validation import (
    DTypeError,
    ValidationError,
    check_dtype,
    check_finite,
    check_int,
    check_shape,
)
from .vae import VAE, gaussian_kl

__all__ = [
    "LatentQuadrature",
    "LinearGaussianCheck",
    "diag_gaussian_kl",
    "encoder_identity_checks",
    "gaussian_ellipse",
    "gaussian_sample_deviations",
    "identity_check",
    "identity_picture",
    "importance_gaps",
    "latent_quadrature",
    "linear_gaussian_check",
    "linear_gaussian_vae",
    "posterior_box",
    "posterior_picture",
]

_LOG_2PI = math.log(2.0 * math.pi)
_F64 = torch.float64


def _gauss_log_pdf(z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag std²), summed over the last axis."""
    return (-0.5 * ((z - mean) / std) ** 2 - std.log() - 0.5 * _LOG_2PI).sum(-1)


def diag_gaussian_kl(
    mean1: torch.Tensor, std1: torch.Tensor, mean2: torch.Tensor, std2: torch.Tensor
) -> torch.Tensor:
    r"""KL(N(m₁, diag s₁²) ‖ N(m₂, diag s₂²)) in closed form, summed over the last axis.

    .. math:: \mathrm{KL} = \sum_j \Big(\log\frac{s_{2j}}{s_{1j}}
              + \frac{s_{1j}^2 + (m_{1j} - m_{2j})^2}{2 s_{2j}^2} - \frac12\Big)

    Args:
        mean1, std1, mean2, std2: Tensor[..., Z] (broadcastable), standard deviations > 0.

    Returns:
        Tensor[...].

    Raises:
        DTypeError: an argument is not a floating-point tensor.
        ValidationError: a NaN or infinite value, or a standard deviation <= 0.
    """
    for t, name in ((mean1, "mean1"), (std1, "std1"), (mean2, "mean2"), (std2, "std2")):
        check_shape(t, "*", name=name)  # a tensor, of any shape
        check_dtype(t, name=name)
        check_finite(t, name=name)
    for s, name in ((std1, "std1"), (std2, "std2")):
        if bool((s <= 0).any()):
            raise ValidationError(f"{name} must be > 0, got a minimum of {float(s.min()):.3g}")
    return (torch.log(std2 / std1) + (std1**2 + (mean1 - mean2) ** 2) / (2 * std2**2) - 0.5).sum(-1)


def _check_2d_vae(vae: VAE, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(vae, VAE):
        raise DTypeError(f"vae must be an nndl.generative.VAE, got {type(vae).__name__}")
    if vae.latent_dim != 2:
        raise ValidationError(f"vae must have a 2-D latent for quadrature, got {vae.latent_dim}")
    if next(vae.parameters()).dtype != _F64:
        raise DTypeError("vae must be in float64 (call .double()): quadrature needs it")
    x = vae.check_data(x)
    if x.shape[0] != 1:
        raise ValidationError(f"x must hold a single example, got a batch of {x.shape[0]}")
    return x


def _check_box(low: torch.Tensor, high: torch.Tensor) -> None:
    check_shape(low, [2], name="low")
    check_shape(high, [2], name="high")
    if not bool((low < high).all()):
        raise ValidationError(f"low must lie below high, got {low.tolist()} and {high.tolist()}")


@dataclass
class LatentQuadrature:
    """The trapezoidal rule on a 2-D latent grid for one example x.

    Attributes:
        z: Tensor[G, 2] grid points (G = n², float64).
        weights: Tensor[G] trapezoid weights (their sum is the box's area).
        log_joint: Tensor[G] log p(x, z) at the grid points.
        log_px: log p(x) = log Σ_g w_g p(x, z_g).
    """

    z: torch.Tensor
    weights: torch.Tensor
    log_joint: torch.Tensor
    log_px: float

    def posterior_weights(self) -> torch.Tensor:
        """Tensor[G]: w_g p(z_g | x), the posterior mass of each grid cell (sums to 1)."""
        return (self.log_joint - self.log_px).exp() * self.weights

    def posterior_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean Tensor[2] and per-axis standard deviation Tensor[2] of p(z | x)."""
        post = self.posterior_weights()
        mean = (post[:, None] * self.z).sum(0)
        return mean, (post[:, None] * (self.z - mean) ** 2).sum(0).sqrt()

    def identity_terms(self, mean: torch.Tensor, std: torch.Tensor) -> tuple[float, float]:
        r"""ELBO(q) and KL(q ‖ p(z | x)) for q = N(mean, diag std²), mean and std Tensor[2].

        The reconstruction :math:`\mathbb E_q[\log p(x|z)]` and KL(q ‖ p(z | x)) are integrated
        on the grid, KL(q ‖ p(z)) is closed-form; :math:`\log p(x) - \mathrm{ELBO} - \mathrm{KL}`
        is then the quadrature's error alone.
        """
        log_q = _gauss_log_pdf(self.z, mean, std)
        q = log_q.exp() * self.weights
        log_prior = -0.5 * (self.z.pow(2) + _LOG_2PI).sum(-1)
        rec = float((q * (self.log_joint - log_prior)).sum())
        kl_prior = float(gaussian_kl(mean, 2 * std.log()))
        kl_post = float((q * (log_q - (self.log_joint - self.log_px))).sum())
        return rec - kl_prior, kl_post


def _grid(low: torch.Tensor, high: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    axes = [torch.linspace(float(low[i]), float(high[i]), n, dtype=_F64) for i in range(2)]
    w1 = [torch.full((n,), float(a[1] - a[0]), dtype=_F64) for a in axes]
    for w in w1:
        w[0] *= 0.5
        w[-1] *= 0.5
    z = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    return z, (w1[0][:, None] * w1[1][None, :]).reshape(-1)


@torch.no_grad()
def latent_quadrature(
    vae: VAE,
    x: torch.Tensor,
    low: torch.Tensor,
    high: torch.Tensor,
    points_per_axis: int,
    *,
    chunk: int = 16384,
) -> LatentQuadrature:
    r"""log p(x) of a 2-D-latent VAE by the trapezoidal rule on the box [low, high].

    .. math:: \log p(x) \approx \log \sum_g w_g\, p(x \mid z_g)\, p(z_g)

    The box must hold (nearly) all of the posterior's mass; :func:`posterior_box` finds one.

    Args:
        vae: a float64 :class:`~nndl.generative.VAE` with ``latent_dim == 2``.
        x: Tensor[1, \*data_shape], one example.
        low, high: Tensor[2], the box's corners (low < high).
        points_per_axis: n ≥ 2 grid points per axis (G = n² in all).
        chunk: grid points decoded at once (memory).

    Returns:
        A :class:`LatentQuadrature`.

    Raises:
        DTypeError: ``vae`` is not a float64 VAE.
        ValidationError: a latent other than 2-D, a batch other than one, a bad box or n.
    """
    x = _check_2d_vae(vae, x)
    _check_box(low, high)
    n = check_int(points_per_axis, name="points_per_axis", low=2)
    check_int(chunk, name="chunk", low=1)
    z, w = _grid(low, high, n)
    out = []
    for start in range(0, z.shape[0], chunk):
        zc = z[start : start + chunk].unsqueeze(1)  # (g, 1, 2)
        out.append((vae.log_prob_x_given_z(x, zc) + vae.log_prior(zc))[:, 0])
    log_joint = torch.cat(out)
    return LatentQuadrature(z, w, log_joint, float(torch.logsumexp(log_joint + w.log(), 0)))


def posterior_box(
    vae: VAE,
    x: torch.Tensor,
    *,
    extent: float,
    points_per_axis: int,
    cover: Iterable[tuple[torch.Tensor, torch.Tensor]] = (),
    log_ratio: float = 30.0,
    cover_sigmas: float = 10.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A box holding the posterior p(z | x) of a 2-D-latent VAE, and every given Gaussian.

    A coarse pass over [−extent, extent]² keeps the points whose density is above
    ``exp(−log_ratio)`` of the peak, widened by two grid steps; each ``(mean, std)`` in
    ``cover`` widens the box to mean ± ``cover_sigmas``·std.

    Args:
        vae, x: as for :func:`latent_quadrature`.
        extent: half-width of the coarse pass (> 0), in prior standard deviations.
        points_per_axis: points per axis of the coarse pass.
        cover: Gaussians (mean Tensor[2], std Tensor[2]) the box must also hold.
        log_ratio: how far below the peak (in nats) the posterior still counts.
        cover_sigmas: how many standard deviations of each Gaussian the box holds.

    Returns:
        ``(low, high)``, each Tensor[2] float64.
    """
    for value, name in (
        (extent, "extent"),
        (log_ratio, "log_ratio"),
        (cover_sigmas, "cover_sigmas"),
    ):
        if not value > 0:
            raise ValidationError(f"{name} must be > 0, got {value}")
    ext = torch.full((2,), float(extent), dtype=_F64)
    coarse = latent_quadrature(vae, x, -ext, ext, points_per_axis)
    keep = coarse.log_joint > coarse.log_joint.max() - log_ratio
    step = 2 * extent / (points_per_axis - 1)
    low = coarse.z[keep].min(0).values - 2 * step
    high = coarse.z[keep].max(0).values + 2 * step
    for mean, std in cover:
        low = torch.minimum(low, mean - cover_sigmas * std)
        high = torch.maximum(high, mean + cover_sigmas * std)
    return low, high


def linear_gaussian_vae(
    weight: torch.Tensor, bias: torch.Tensor, noise: float
) -> tuple[VAE, torch.Tensor]:
    r"""Probabilistic PCA as a :class:`~nndl.generative.VAE` whose encoder is the exact posterior.

    The model :math:`z \sim N(0, I_Z)`, :math:`x \mid z \sim N(Wz + b, \sigma^2 I_D)` has the
    marginal :math:`N(b, WW^\top + \sigma^2 I)` and the posterior
    :math:`N(\Sigma W^\top (x - b)/\sigma^2, \Sigma)` with :math:`\Sigma = (I + W^\top W /
    \sigma^2)^{-1}`, diagonal when W's columns are orthogonal — which the VAE's diagonal
    Gaussian encoder then represents exactly.

    Args:
        weight: W, Tensor[D, Z] with orthogonal columns (WᵀW diagonal).
        bias: b, Tensor[D].
        noise: σ > 0.

    Returns:
        ``(vae, cov)``: a float64 VAE (``hidden=()``, Gaussian likelihood) and the marginal
        covariance Tensor[D, D].

    Raises:
        ShapeError: mismatched shapes. ValidationError: σ ≤ 0 or columns not orthogonal.
    """
    sizes = check_shape(weight, "D Z", name="weight")
    check_shape(bias, ["D"], name="bias", sizes=sizes)
    if not noise > 0:
        raise ValidationError(f"noise must be > 0, got {noise}")
    w, b = weight.to(_F64), bias.to(_F64)
    d, k = w.shape
    gram = w.T @ w
    off = gram - torch.diag(gram.diagonal())
    if float(off.abs().max()) > 1e-10 * max(1.0, float(gram.abs().max())):
        raise ValidationError("weight's columns must be orthogonal (WᵀW diagonal)")
    post_var = 1.0 / (1.0 + gram.diagonal() / noise**2)  # (I + WᵀW/σ²)⁻¹, diagonal
    vae = VAE((d,), k, hidden=(), likelihood="gaussian").double()
    dec = cast(nn.Linear, vae.decoder.get_submodule("out"))
    enc = cast(nn.Linear, vae.encoder.get_submodule("1.out"))
    with torch.no_grad():
        for p in (dec.weight, dec.bias, enc.weight, enc.bias):
            p.zero_()
        dec.weight[:d] = w  # mean = W z + b
        dec.bias[:d] = b
        dec.bias[d:] = math.log(noise)  # log-scale = log σ
        enc.weight[:k] = (post_var[:, None] * w.T) / noise**2  # posterior mean Σ Wᵀ(x − b)/σ²
        enc.bias[:k] = -(post_var[:, None] * w.T) @ b / noise**2
        enc.bias[k:] = post_var.log()  # log-variance of the exact posterior
    return vae, w @ w.T + noise**2 * torch.eye(d, dtype=_F64)


def gaussian_sample_deviations(
    samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor
) -> torch.Tensor:
    r"""Standardised deviations of N samples from the Gaussian N(mean, cov) they should follow.

    Three families, each approximately N(0, 1) under the hypothesis:

    - the sample mean, :math:`(\bar x_i - \mu_i) / \sqrt{\Sigma_{ii}/N}` (D values);
    - the sample covariance entries i ≤ j, with the Gaussian standard error
      :math:`\sqrt{(\Sigma_{ii}\Sigma_{jj} + \Sigma_{ij}^2)/N}` (D(D+1)/2 values);
    - the mean log-density plus the entropy, over :math:`\sqrt{D/(2N)}` (1 value).

    Feed them to :func:`nndl.analysis.max_z_pvalue` for a family-wise test.

    Args:
        samples: Tensor[N, D]; mean: Tensor[D]; cov: Tensor[D, D] positive definite.

    Returns:
        Tensor[D + D(D+1)/2 + 1].
    """
    sizes = check_shape(samples, "N D", name="samples")
    check_shape(mean, ["D"], name="mean", sizes=sizes)
    check_shape(cov, ["D", "D"], name="cov", sizes=sizes)
    n, d = samples.shape
    if n < 2:
        raise ValidationError(f"samples must hold at least 2 rows, got {n}")
    var = cov.diagonal()
    z_mean = (samples.mean(0) - mean) / (var / n).sqrt()
    se_cov = ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    iu = torch.triu_indices(d, d)
    z_cov = ((torch.cov(samples.T) - cov) / se_cov)[iu[0], iu[1]]
    mvn = torch.distributions.MultivariateNormal(mean, cov)
    z_ent = (float(mvn.log_prob(samples).mean()) + float(mvn.entropy())) / math.sqrt(d / 2 / n)
    return torch.cat([z_mean, z_cov, torch.tensor([z_ent], dtype=z_mean.dtype)])


def importance_gaps(
    vae: VAE,
    x: torch.Tensor,
    log_px: torch.Tensor,
    ks: Sequence[int],
    *,
    repeats: int = 2,
    budget: int = 0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The gap :math:`\log p(x) - \mathrm{IW}_k(x)` per k and example, averaged over repeats.

    For each k the importance-weighted estimate (:meth:`VAE.log_likelihood`) is drawn
    :math:`R_k = \max(\text{repeats}, \lfloor \text{budget}/k \rfloor)` times per example;
    its mean gap is ≥ 0 in expectation and shrinks with k.

    Args:
        vae: the model; x: Tensor[B, \*data_shape]; log_px: Tensor[B], the exact log p(x).
        ks: importance-sample counts (≥ 1 each).
        repeats: the fewest repeats per k (≥ 2, for a standard error).
        budget: about how many samples per example and k (0: ``repeats`` only).
        generator: random stream.

    Returns:
        ``(mean, se)``: Tensor[K, B] mean gap and its standard error over the repeats.

    Raises:
        DTypeError: ``vae`` is not a VAE, a k or a count is not an int, ``x`` or ``log_px``
            is not a floating-point tensor.
        ShapeError: ``x`` does not fit the model or ``log_px`` is not Tensor[B].
        ValidationError: no k, a k < 1, ``repeats`` < 2, ``budget`` < 0, NaN/Inf in ``x`` or
            ``log_px``.
    """
    if not isinstance(vae, VAE):
        raise DTypeError(f"vae must be an nndl.generative.VAE, got {type(vae).__name__}")
    check_int(repeats, name="repeats", low=2)
    check_int(budget, name="budget", low=0)
    if isinstance(ks, str) or not ks:
        raise ValidationError(f"ks must be a non-empty sequence of ints, got {ks!r}")
    for k in ks:
        check_int(k, name="ks[i]", low=1)
    x = vae.check_data(x)
    check_shape(log_px, [x.shape[0]], name="log_px")
    check_finite(log_px, name="log_px")
    target = log_px.to(_F64)
    means, ses = [], []
    for k in ks:
        reps = max(repeats, budget // k)
        est = vae.log_likelihood(x.repeat(reps, *([1] * (x.dim() - 1))), k, generator=generator)
        gap = target - est.reshape(reps, -1)  # (repeats, points)
        means.append(gap.mean(0))
        ses.append(gap.std(0) / math.sqrt(reps))
    return torch.stack(means), torch.stack(ses)


@dataclass
class LinearGaussianCheck:
    """What :func:`linear_gaussian_check` measures.

    Attributes:
        quadrature_error: the largest |log p(x) by quadrature − closed form| over the points.
        identity_residual: the largest |log p − ELBO(q) − KL(q ‖ p(z|x))| over points and q.
        rows: the first point's identity per q: ``[name, log p, ELBO, KL, residual]``.
        sampler_z: Tensor[D + D(D+1)/2 + 1], :func:`gaussian_sample_deviations` of the samples.
        samples: Tensor[N, D] two-step samples; bias: Tensor[D]; cov: Tensor[D, D] marginal.
    """

    quadrature_error: float
    identity_residual: float
    rows: list[list[Any]]
    sampler_z: torch.Tensor
    samples: torch.Tensor
    bias: torch.Tensor
    cov: torch.Tensor

    def to_dict(self, shown: int = 3000) -> dict[str, Any]:
        """JSON-able values; of the samples, the first two coordinates of ``shown`` (3 decimals).

        Keys: ``quadrature_vs_closed_form``, ``identity_residual``, ``rows``, ``sampler_z``,
        ``samples_2d``, ``cov_2d``, ``b_2d`` (the marginal's first two coordinates).
        """
        return {
            "quadrature_vs_closed_form": self.quadrature_error,
            "identity_residual": self.identity_residual,
            "rows": self.rows,
            "sampler_z": self.sampler_z.tolist(),
            "samples_2d": np.round(self.samples[:shown, :2].numpy(), 3).tolist(),
            "cov_2d": self.cov[:2, :2].tolist(),
            "b_2d": self.bias[:2].tolist(),
        }


def linear_gaussian_check(
    scales: Sequence[float],
    noise: float,
    dim: int,
    *,
    n_points: int,
    n_samples: int,
    points_per_axis: int,
    generator: torch.Generator | None = None,
    sample_generator: torch.Generator | None = None,
) -> LinearGaussianCheck:
    r"""The identity and the two-step sampler of a random 2-D-latent linear-Gaussian VAE.

    W = Q diag(scales) with Q a random orthonormal D×2 matrix and b ~ N(0, I) (both from
    ``generator``) give :func:`linear_gaussian_vae`, whose log p(x), posterior and every KL
    are closed-form. On the first ``n_points`` of ``n_samples`` two-step samples (from
    ``sample_generator``): log p(x) by :func:`latent_quadrature` (box: the posterior ± 12σ and
    the prior ± 9) against the closed form, and for five q — the exact posterior, shifted by
    2σ, σ × 2, σ × 0.5, the prior — the residual of

    .. math:: \log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}(q \,\|\, p(z \mid x))

    with the ELBO by quadrature and both log p(x) and the KL in closed form.

    Args:
        scales: the two column norms of W (> 0); noise: σ > 0; dim: D ≥ 2.
        n_points: points the identity is checked on (1 ≤ n_points ≤ n_samples).
        n_samples: two-step samples (≥ 2); points_per_axis: quadrature points per axis.

    Returns:
        A :class:`LinearGaussianCheck`.

    Raises:
        ValidationError: bad sizes, scales or noise.
    """
    check_int(dim, name="dim", low=2)
    check_int(n_samples, name="n_samples", low=2)
    check_int(n_points, name="n_points", low=1, high=n_samples)
    check_int(points_per_axis, name="points_per_axis", low=2)
    if len(scales) != 2 or min(scales) <= 0:
        raise ValidationError(f"scales must be two values > 0, got {list(scales)}")
    q, _ = torch.linalg.qr(torch.randn(dim, 2, generator=generator, dtype=_F64))
    b = torch.randn(dim, generator=generator, dtype=_F64)  # orthogonal columns: diagonal posterior
    vae, cov = linear_gaussian_vae(q * torch.tensor(scales, dtype=_F64), b, noise)
    xs = vae.sample(n_samples, generator=sample_generator)
    mvn = torch.distributions.MultivariateNormal(b, cov)
    with torch.no_grad():
        mean_q, log_var_q = vae.encode(xs[:n_points])
    rows, quad_err, resid, zeros = [], 0.0, 0.0, torch.zeros(2, dtype=_F64)
    for i, (m, sd) in enumerate(zip(mean_q, (0.5 * log_var_q).exp(), strict=True)):
        qs = {
            "exact posterior": (m, sd),
            "shifted by 2σ": (m + 2 * sd, sd),
            "σ × 2": (m, 2 * sd),
            "σ × 0.5": (m, 0.5 * sd),
            "prior N(0, I)": (zeros, zeros + 1),
        }
        lo, hi = torch.minimum(m - 12 * sd, zeros - 9.0), torch.maximum(m + 12 * sd, zeros + 9.0)
        quad = latent_quadrature(vae, xs[i : i + 1], lo, hi, points_per_axis)
        closed = float(mvn.log_prob(xs[i]))
        quad_err = max(quad_err, abs(quad.log_px - closed))
        for name, (qm, qsd) in qs.items():
            elbo, _ = quad.identity_terms(qm, qsd)
            kl_post = float(diag_gaussian_kl(qm, qsd, m, sd))  # the posterior is N(m, sd²)
            resid = max(resid, abs(closed - elbo - kl_post))
            if i == 0:
                rows.append([name, closed, elbo, kl_post, closed - elbo - kl_post])
    z = gaussian_sample_deviations(xs, b, cov)
    return LinearGaussianCheck(quad_err, resid, rows, z, xs, b, cov)


def identity_check(
    vae: VAE,
    x: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    *,
    points_per_axis: int,
    check_points: int,
    coarse_points: int,
    coarse_extent: float,
    mc_samples: int,
    generator: torch.Generator | None = None,
) -> dict[str, Any]:
    r"""log p(x) by quadrature, the identity for five q, and the library's Monte Carlo ELBO.

    The box comes from :func:`posterior_box` (covering every q); log p(x) is computed on
    ``points_per_axis``² points and again on ``check_points``² (their difference estimates
    the quadrature error). For q = the given N(mean, std²), σ × 2, σ × 0.5, shifted by 2σ and
    the moment-matched posterior, ELBO(q) and KL(q ‖ p(z|x)) come from
    :meth:`LatentQuadrature.identity_terms`. The mean of ``mc_samples`` draws of
    :meth:`VAE.elbo` for the first q, plus its quadrature KL, should equal log p(x):
    ``mc_z`` is that difference over its standard error.

    Args:
        vae: a float64 VAE with a 2-D latent; x: Tensor[1, \*data_shape].
        mean, std: Tensor[2], e.g. the encoder's q(z|x).
        points_per_axis, check_points: the two quadrature grids (check_points the coarser).
        coarse_points, coarse_extent: :func:`posterior_box`'s first pass.
        mc_samples: Monte Carlo ELBO samples (≥ 2); generator: their random stream.

    Returns:
        ``log_px``, ``quadrature_error``, ``rows`` (``[name, log p, ELBO, KL]`` per q),
        ``mc_z``, ``box`` ([low₁, low₂, high₁, high₂]), ``encoder_q`` ([mean, std]) and
        ``posterior_moments`` ([mean, std] of p(z|x)).
    """
    check_int(mc_samples, name="mc_samples", low=2)
    check_int(check_points, name="check_points", low=2)
    qs = {
        "encoder q(z|x)": (mean, std),
        "σ × 2": (mean, 2 * std),
        "σ × 0.5": (mean, 0.5 * std),
        "shifted by 2σ": (mean + 2 * std, std),
    }
    lo, hi = posterior_box(
        vae, x, extent=coarse_extent, points_per_axis=coarse_points, cover=qs.values()
    )
    quad = latent_quadrature(vae, x, lo, hi, points_per_axis)
    check = latent_quadrature(vae, x, lo, hi, check_points)
    pm, ps = quad.posterior_moments()
    qs["moment-matched posterior"] = (pm, ps)
    rows = [[name, quad.log_px, *quad.identity_terms(qm, qsd)] for name, (qm, qsd) in qs.items()]
    with torch.no_grad():
        values = vae.elbo(x.expand(mc_samples, -1), generator=generator)[0]
    se = float(values.std() / math.sqrt(mc_samples))
    mc_z = (quad.log_px - float(values.mean()) - quad.identity_terms(mean, std)[1]) / se
    return {
        "log_px": quad.log_px,
        "quadrature_error": abs(quad.log_px - check.log_px),
        "rows": rows,
        "mc_z": mc_z,
        "box": [*lo.tolist(), *hi.tolist()],
        "encoder_q": [*mean.tolist(), *std.tolist()],
        "posterior_moments": [*pm.tolist(), *ps.tolist()],
    }


def encoder_identity_checks(
    vae: VAE,
    x: torch.Tensor,
    generators: Sequence[torch.Generator | None],
    **kwargs: Any,
) -> list[dict[str, Any]]:
    r""":func:`identity_check` for every example, with q the encoder's own q(z | x_i).

    The encoder gives :math:`q(z \mid x_i) = N(\mu_i, \operatorname{diag}\sigma_i^2)` with
    :math:`(\mu_i, \log\sigma_i^2)` = ``vae.encode(x)[·, i]`` (one batched call); example i's
    Monte Carlo ELBO draws from ``generators[i]``.

    Args:
        vae: a float64 VAE with a 2-D latent; x: Tensor[N, \*data_shape], N ≥ 1.
        generators: N random streams (or None), one per example.
        **kwargs: ``points_per_axis``, ``check_points``, ``coarse_points``, ``coarse_extent``
            and ``mc_samples`` of :func:`identity_check`.

    Returns:
        N dicts of :func:`identity_check`.

    Raises:
        ValidationError: no examples, or not one generator per example (and what
            :func:`identity_check` raises).
    """
    _check_2d_vae(vae, x[:1])  # the model, and the shape and dtype of one example
    if x.shape[0] < 1 or len(generators) != x.shape[0]:
        raise ValidationError(
            f"generators must hold one generator per example of x (N = {x.shape[0]} ≥ 1), "
            f"got {len(generators)}"
        )
    with torch.no_grad():
        mean, log_var = vae.encode(x)
    std = (0.5 * log_var).exp()
    return [
        identity_check(vae, x[i : i + 1], mean[i], std[i], generator=g, **kwargs)
        for i, g in enumerate(generators)
    ]


def identity_picture(
    vae: VAE, x: torch.Tensor, check: dict[str, Any], *, sigmas: float = 6.0
) -> dict[str, Any]:
    """:func:`posterior_picture` of x around the posterior an :func:`identity_check` found.

    The square is centred on the moment-matched posterior mean (in float32, as drawn) with
    half-width ``sigmas`` × the largest standard deviation of that posterior and of the
    encoder's q, normalised by the check's log p(x).

    Args:
        vae, x: as for :func:`identity_check`; check: its dict; sigmas: > 0.

    Returns:
        :func:`posterior_picture`'s dict (81 points per axis).

    Raises:
        ValidationError: ``check`` lacks ``posterior_moments``, ``encoder_q`` or ``log_px``,
            or sigmas ≤ 0.
    """
    missing = [k for k in ("posterior_moments", "encoder_q", "log_px") if k not in check]
    if missing:
        raise ValidationError(f"check must be an identity_check dict; missing {missing}")
    if not sigmas > 0:
        raise ValidationError(f"sigmas must be > 0, got {sigmas}")
    pm, ps = torch.tensor(check["posterior_moments"]).split(2)
    half = sigmas * max(float(ps.max()), max(check["encoder_q"][2:]))
    return posterior_picture(vae, x, pm, half, check["log_px"])


def posterior_picture(
    vae: VAE,
    x: torch.Tensor,
    center: torch.Tensor,
    half_width: float,
    log_px: float,
    points_per_axis: int = 81,
) -> dict[str, Any]:
    """The posterior density p(z|x) = p(x, z)/p(x) on a square grid, for a figure.

    Args:
        vae, x: as for :func:`latent_quadrature`.
        center: Tensor[2]; half_width: > 0 (the square center ± half_width, computed in
            center's dtype, then float64).
        log_px: log p(x) to normalise by (e.g. from a finer quadrature).
        points_per_axis: n.

    Returns:
        ``{"extent": [z₁ low, z₁ high, z₂ low, z₂ high], "density": n × n nested lists,
        axis 0 along z₁, rounded to 6 decimals}``.
    """
    if not half_width > 0:
        raise ValidationError(f"half_width must be > 0, got {half_width}")
    n = check_int(points_per_axis, name="points_per_axis", low=2)
    lo, hi = center - half_width, center + half_width
    quad = latent_quadrature(vae, x, lo.to(_F64), hi.to(_F64), n)
    density = (quad.log_joint - log_px).exp().reshape(n, n)
    extent = [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]
    return {"extent": extent, "density": np.round(density.numpy(), 6).tolist()}


def gaussian_ellipse(mean: Any, cov: Any, scale: float = 1.0, n: int = 100) -> np.ndarray:
    r"""Points of the ``scale``-σ ellipse of a 2-D Gaussian: Array[2, n] (x row, y row).

    .. math:: \mu + V \operatorname{diag}(s\sqrt{\lambda}) (\cos t, \sin t)^\top,
              \quad \Sigma = V \operatorname{diag}(\lambda) V^\top

    Args:
        mean: 2 values; cov: a 2×2 covariance matrix, or two standard deviations (diagonal).
        scale: s, how many standard deviations; n: points (≥ 3).
    """
    cov = np.asarray(cov, dtype=float)
    if cov.shape not in ((2, 2), (2,)) or np.asarray(mean).shape != (2,):
        raise ValidationError(f"mean must have 2 values and cov be 2×2 or 2, got {cov.shape}")
    check_int(n, name="n", low=3)
    vals, vecs = np.linalg.eigh(cov) if cov.ndim == 2 else (cov**2, np.eye(2))
    t = np.linspace(0, 2 * np.pi, n)
    ell = vecs @ (scale * np.sqrt(vals)[:, None] * np.stack([np.cos(t), np.sin(t)]))
    return np.asarray(mean, dtype=float)[:, None] + ell
