r"""V2/V3: latent-variable models checked exactly — quadrature, closed forms and EM's bound.

**V3 exactly.** For every distribution q(z),

.. math:: \log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}\big(q(z) \,\|\, p(z \mid x)\big), \qquad
          \mathrm{ELBO}(q) = \mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q \,\|\, p(z)).

With a 2-D latent, :math:`p(x) = \int p(x \mid z) p(z)\, dz` is a 2-D integral that a
trapezoidal rule on a grid covering the posterior computes to near machine precision. Two
models built with :class:`~nndl.generative.VAE`:

1. A linear-Gaussian VAE (linear decoder, Gaussian likelihood — probabilistic PCA), where
   log p(x), the posterior and every KL have closed forms: quadrature is checked against the
   closed form, and the identity with the ELBO by quadrature and KL(q ‖ p(z | x)) in closed
   form. Its two-step sampler (V2: z ~ N(0, I), then x ~ p(x | z)) must reproduce the
   closed-form marginal N(b, WWᵀ + σ²I): every standardised deviation of the sample mean,
   covariance and mean log-density is tested at once (Bonferroni max-|z|,
   :func:`~nndl.analysis.max_z_pvalue`).
2. A VAE with a 2-D latent trained on the digits (discretised-logistic decoder, tanh MLP):
   log p(x) by quadrature; for several q (the encoder's, wider, narrower, shifted, and the
   moment-matched posterior) ELBO + KL(q ‖ p(z | x)) must give log p(x); the library's Monte
   Carlo ``elbo`` must agree within its standard error; and the importance-weighted estimate
   must rise towards log p(x) as k grows.

**V3 by EM.** A Gaussian mixture on the digits' first two principal components, fitted one EM
iteration at a time from several k-means starts: the E-step sets q to the responsibilities,
which makes the gap :math:`\log p(x) - \mathrm{ELBO}` zero; the M-step raises the ELBO with q
fixed, so the log-likelihood never decreases. The exact M-step (no ``reg_covar``) can run into
the mixture likelihood's singularity — a component collapsing onto a few points, where the
likelihood is unbounded and the M-step undefined; such a start is recorded as degenerate and
left out (the rule says how many must remain), never hidden by a seed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from nndl import ValidationError
from nndl.analysis import all_of, max_z_pvalue, z_decision
from nndl.data import dequantize, load_digits, split_arrays
from nndl.generative import VAE, GaussianMixtureEM, gaussian_kl, train_vae

from .context import Canvas, Context
from .registry import register
from .result import Verdict
from .rules import Rule, as_float

_LOG_2PI = math.log(2.0 * math.pi)
_F64 = torch.float64


# -- quadrature on a 2-D latent ----------------------------------------------------------------
def _grid(lo: torch.Tensor, hi: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points Tensor[n*n, 2] of a regular grid on the box [lo, hi] and trapezoid weights."""
    axes = [torch.linspace(float(lo[i]), float(hi[i]), n, dtype=_F64) for i in range(2)]
    w1 = [torch.full((n,), float(a[1] - a[0]), dtype=_F64) for a in axes]
    for w in w1:
        w[0] *= 0.5
        w[-1] *= 0.5
    z = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    return z, (w1[0][:, None] * w1[1][None, :]).reshape(-1)


@torch.no_grad()
def _log_joint(vae: VAE, x: torch.Tensor, z: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """log p(x, z) for one example x Tensor[1, D] and z Tensor[G, 2]: Tensor[G]."""
    out = []
    for start in range(0, z.shape[0], chunk):
        zc = z[start : start + chunk].unsqueeze(1)  # (g, 1, 2)
        out.append((vae.log_prob_x_given_z(x, zc) + vae.log_prior(zc))[:, 0])
    return torch.cat(out)


def _gauss_log_pdf(z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag std²) summed over the last axis."""
    return (-0.5 * ((z - mean) / std) ** 2 - std.log() - 0.5 * _LOG_2PI).sum(-1)


def _kl_diag_gauss(m1: torch.Tensor, s1: torch.Tensor, m2: torch.Tensor, s2: torch.Tensor) -> float:
    """KL(N(m1, diag s1²) ‖ N(m2, diag s2²))."""
    return float((torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5).sum())


@dataclass
class _Quad:
    """One quadrature of log p(x): grid z Tensor[G, 2], weights w, log p(x, z), log p(x)."""

    z: torch.Tensor
    w: torch.Tensor
    log_joint: torch.Tensor
    log_px: float


def _quadrature(vae: VAE, x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, n: int) -> _Quad:
    z, w = _grid(lo, hi, n)
    lj = _log_joint(vae, x, z)
    return _Quad(z, w, lj, float(torch.logsumexp(lj + w.log(), 0)))


def _identity_terms(quad: _Quad, mean: torch.Tensor, std: torch.Tensor) -> tuple[float, float]:
    """ELBO(q) (reconstruction by quadrature − closed-form KL to the prior) and KL(q ‖ p(z|x))."""
    log_q = _gauss_log_pdf(quad.z, mean, std)
    q = log_q.exp() * quad.w
    log_prior = -0.5 * (quad.z.pow(2) + _LOG_2PI).sum(-1)
    rec = float((q * (quad.log_joint - log_prior)).sum())
    kl_prior = float(gaussian_kl(mean, 2 * std.log()))
    kl_post = float((q * (log_q - (quad.log_joint - quad.log_px))).sum())
    return rec - kl_prior, kl_post


# -- V2 / V3 exactly ---------------------------------------------------------------------------
@dataclass
class ExactConfig:
    """Settings of ``v3_latent_exact``.

    Attributes:
        ppca_dim, ppca_scales, ppca_noise: the linear-Gaussian VAE (data dimension, the two
            column norms of W, the noise σ).
        ppca_points: points on which its identity is checked; ppca_samples: two-step samples.
        ppca_grid: quadrature points per axis for it.
        n_points: test digits on which the digits VAE's identity is checked.
        epochs, hidden: training of the 2-D-latent digits VAE.
        grid, grid_check: quadrature points per axis (the result, and a coarser grid whose
            difference estimates the quadrature error); coarse_grid, coarse_extent: the first
            pass over the prior's bulk that locates the posterior.
        elbo_mc_samples: Monte Carlo samples of the library's ELBO per test digit.
        iw_ks: importance-sample counts; iw_repeats, iw_budget: repeats per k (≥ iw_repeats,
            about iw_budget / k).
    """

    ppca_dim: int = 5
    ppca_scales: tuple[float, float] = (2.0, 1.0)
    ppca_noise: float = 0.5
    ppca_points: int = 6
    ppca_samples: int = 20000
    ppca_grid: int = 401
    n_points: int = 6
    epochs: int = 40
    hidden: int = 64
    grid: int = 181
    grid_check: int = 121
    coarse_grid: int = 81
    coarse_extent: float = 6.0
    elbo_mc_samples: int = 10000
    iw_ks: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)
    iw_repeats: int = 4
    iw_budget: int = 4096

    def __post_init__(self) -> None:
        from .config import ConfigError

        if self.grid_check >= self.grid:
            raise ConfigError(f"grid_check must be below grid ({self.grid}), got {self.grid_check}")
        if len(self.iw_ks) < 2 or list(self.iw_ks) != sorted(set(self.iw_ks)):
            raise ConfigError(f"iw_ks must be ≥ 2 increasing values, got {list(self.iw_ks)}")
        if self.iw_repeats < 2:
            raise ConfigError(f"iw_repeats must be at least 2, got {self.iw_repeats}")


V2_RULE = Rule(
    claim="V2",
    statistic="the standardised deviations z of the two-step samples (z ~ N(0, I), then "
    "x ~ p(x|z)) of a linear-Gaussian VAE from its closed-form marginal N(b, WWᵀ + σ²I) — sample "
    "mean (d values), sample covariance (d(d+1)/2 entries, Gaussian standard errors) and mean "
    "log-density (1) — combined into the Bonferroni family-wise p-value of the largest |z|",
    holds="p ≥ alpha_hold (no deviation from the closed-form marginal)",
    does_not_hold="p < alpha_fail",
    inconclusive="alpha_fail ≤ p < alpha_hold (more samples would settle it)",
    seeds="1 sample set per run (20,000 samples at quick, 200,000 at full)",
    rationale="the sampler is right exactly when its samples follow the closed-form marginal; "
    "a family-wise test keeps the false alarm rate per run at alpha_hold whatever m is",
    params={"alpha_hold": 1e-3, "alpha_fail": 1e-6},
)

V3_EXACT_RULE = Rule(
    claim="V3",
    statistic="(a) |log p(x) − ELBO(q) − KL(q‖p(z|x))| by 2-D quadrature for five q per point "
    "(linear-Gaussian VAE against its closed form; 2-D-latent digits VAE), and the signs "
    "ELBO ≤ log p, KL ≥ 0; (b) Bonferroni p-value of the library's Monte Carlo ELBO + KL "
    "against the quadrature log p(x) over the test digits; (c) Bonferroni one-sided p-value of "
    "the increases of the importance-weighted gap log p − IW_k between adjacent k, and the gap "
    "at the largest k relative to k = 1",
    holds="every residual ≤ tolerance with the right signs, both p-values ≥ alpha_hold and the "
    "gap at the largest k below iw_shrink × the gap at k = 1",
    does_not_hold="a residual > fail_tolerance or a wrong sign beyond tolerance, a p-value < "
    "alpha_fail, or a gap at the largest k not below the gap at k = 1",
    inconclusive="guard: the quadrature's own error estimate (fine vs coarser grid) exceeds "
    "tolerance, so the identity cannot be verified to that precision (a finer grid settles "
    "it); or any value between the hold and fail thresholds",
    seeds="1 trained digits VAE and 1 linear-Gaussian VAE per run (the identity is exact)",
    rationale="the identity is exact, so only floating-point error may remain; the Monte "
    "Carlo parts are judged against their own standard errors",
    params={
        "tolerance": 1e-9,
        "fail_tolerance": 1e-6,
        "alpha_hold": 1e-3,
        "alpha_fail": 1e-6,
        "iw_shrink": 0.1,
    },
)


def _ppca_vae(cfg: ExactConfig, gen: torch.Generator) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """A linear-Gaussian VAE (PPCA) with an exact encoder; its bias b and marginal covariance."""
    d, sigma = cfg.ppca_dim, cfg.ppca_noise
    s = torch.tensor(cfg.ppca_scales, dtype=_F64)
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=gen, dtype=_F64))
    w = q * s  # orthogonal columns: the exact posterior covariance is diagonal
    b = torch.randn(d, generator=gen, dtype=_F64)
    post_var = 1.0 / (1.0 + s**2 / sigma**2)  # (I + WᵀW/σ²)⁻¹, diagonal
    vae = VAE((d,), 2, hidden=(), likelihood="gaussian").double()
    # the single Linear of each network
    dec = cast(nn.Linear, vae.decoder.get_submodule("out"))
    enc = cast(nn.Linear, vae.encoder.get_submodule("1.out"))
    with torch.no_grad():
        for p in (dec.weight, dec.bias, enc.weight, enc.bias):
            p.zero_()
        dec.weight[:d] = w  # mean = W z + b
        dec.bias[:d] = b
        dec.bias[d:] = math.log(sigma)  # log-scale = log σ
        enc.weight[:2] = (post_var[:, None] * w.T) / sigma**2  # posterior mean Σ Wᵀ(x − b)/σ²
        enc.bias[:2] = -(post_var[:, None] * w.T) @ b / sigma**2
        enc.bias[2:] = post_var.log()  # log-variance of the exact posterior
    return vae, b, w @ w.T + sigma**2 * torch.eye(d, dtype=_F64)


def _sampler_deviations(xs: torch.Tensor, b: torch.Tensor, cov: torch.Tensor) -> list[float]:
    """Standardised deviations of sample mean, covariance entries, mean log-density (V2)."""
    n, d = xs.shape
    var = cov.diagonal()
    z_mean = (xs.mean(0) - b) / (var / n).sqrt()
    se_cov = ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    iu = torch.triu_indices(d, d)
    z_cov = ((torch.cov(xs.T) - cov) / se_cov)[iu[0], iu[1]]
    mvn = torch.distributions.MultivariateNormal(b, cov)
    z_ent = (float(mvn.log_prob(xs).mean()) + float(mvn.entropy())) / math.sqrt(d / 2 / n)
    return [*z_mean.tolist(), *z_cov.tolist(), z_ent]


def _ppca_identity(
    cfg: ExactConfig, vae: VAE, b: torch.Tensor, cov: torch.Tensor, points: torch.Tensor
) -> dict[str, Any]:
    """Quadrature vs closed form, and the identity for five q per point (closed-form KL)."""
    mvn = torch.distributions.MultivariateNormal(b, cov)
    with torch.no_grad():
        mean_q, log_var_q = vae.encode(points)
    std_q = (0.5 * log_var_q).exp()
    rows, quad_err, resid = [], 0.0, 0.0
    for i in range(points.shape[0]):
        m, sd = mean_q[i], std_q[i]
        zeros = torch.zeros(2, dtype=_F64)
        qs = {
            "exact posterior": (m, sd),
            "shifted by 2σ": (m + 2 * sd, sd),
            "σ × 2": (m, 2 * sd),
            "σ × 0.5": (m, 0.5 * sd),
            "prior N(0, I)": (zeros, zeros + 1),
        }
        lo = torch.minimum(m - 12 * sd, zeros - 9.0)
        hi = torch.maximum(m + 12 * sd, zeros + 9.0)
        quad = _quadrature(vae, points[i : i + 1], lo, hi, cfg.ppca_grid)
        closed = float(mvn.log_prob(points[i]))
        quad_err = max(quad_err, abs(quad.log_px - closed))
        for name, (qm, qsd) in qs.items():
            elbo, _ = _identity_terms(quad, qm, qsd)
            kl_post = _kl_diag_gauss(qm, qsd, m, sd)  # closed form: the posterior is N(m, sd²)
            resid = max(resid, abs(closed - elbo - kl_post))
            if i == 0:
                rows.append([name, closed, elbo, kl_post, closed - elbo - kl_post])
    return {"quadrature_vs_closed_form": quad_err, "identity_residual": resid, "rows": rows}


def _measure_ppca(cfg: ExactConfig, ctx: Context) -> dict[str, Any]:
    vae, b, cov = _ppca_vae(cfg, ctx.generator(10))
    xs = vae.sample(cfg.ppca_samples, generator=ctx.generator(11))
    out = _ppca_identity(cfg, vae, b, cov, xs[: cfg.ppca_points])
    out["sampler_z"] = _sampler_deviations(xs, b, cov)
    out["samples_2d"] = np.round(xs[:3000, :2].numpy(), 3).tolist()
    out["cov_2d"] = cov[:2, :2].tolist()
    out["b_2d"] = b[:2].tolist()
    return out


def _digits_vae(cfg: ExactConfig, ctx: Context) -> tuple[VAE, torch.Tensor]:
    """A 2-D-latent VAE trained on dequantised digits, and dequantised test digits (float64)."""
    data = load_digits()
    levels = int(data.levels or 17)
    split = split_arrays(
        data.images.reshape(len(data), -1),
        data.labels,
        val_fraction=0.0,
        test_fraction=397 / len(data),
        seed=ctx.seed,
    )
    gen = ctx.generator(20)
    torch.manual_seed(ctx.seed + 20)
    vae = VAE((64,), 2, hidden=(cfg.hidden,), activation="tanh", levels=levels)
    train_vae(
        vae,
        dequantize(split.x_train, levels, gen),
        epochs=cfg.epochs,
        batch_size=128,
        lr=3e-3,
        lr_schedule="cosine",
        seed=ctx.seed,
    )
    return vae.double().eval(), dequantize(split.x_test[: cfg.n_points], levels, gen).double()


def _posterior_box(
    cfg: ExactConfig, vae: VAE, x: torch.Tensor, qs: Mapping[str, tuple[torch.Tensor, torch.Tensor]]
) -> tuple[Any, Any]:
    """A box holding the posterior (density above e^-30 of its peak) and every q (10σ)."""
    ext = torch.full((2,), cfg.coarse_extent, dtype=_F64)
    coarse = _quadrature(vae, x, -ext, ext, cfg.coarse_grid)
    keep = coarse.log_joint > coarse.log_joint.max() - 30.0
    step = 2 * cfg.coarse_extent / (cfg.coarse_grid - 1)
    lo, hi = coarse.z[keep].min(0).values - 2 * step, coarse.z[keep].max(0).values + 2 * step
    for qm, qsd in qs.values():
        lo, hi = torch.minimum(lo, qm - 10 * qsd), torch.maximum(hi, qm + 10 * qsd)
    return lo, hi


def _digit_point(
    cfg: ExactConfig,
    ctx: Context,
    vae: VAE,
    x: torch.Tensor,
    m: torch.Tensor,
    sd: torch.Tensor,
    i: int,
) -> dict[str, Any]:
    """Quadrature log p(x), the identity for five q, and the MC ELBO's z against it."""
    qs = {
        "encoder q(z|x)": (m, sd),
        "σ × 2": (m, 2 * sd),
        "σ × 0.5": (m, 0.5 * sd),
        "shifted by 2σ": (m + 2 * sd, sd),
    }
    lo, hi = _posterior_box(cfg, vae, x, qs)
    quad = _quadrature(vae, x, lo, hi, cfg.grid)
    check = _quadrature(vae, x, lo, hi, cfg.grid_check)
    post = (quad.log_joint - quad.log_px).exp() * quad.w
    pm = (post[:, None] * quad.z).sum(0)
    ps = (post[:, None] * (quad.z - pm) ** 2).sum(0).sqrt()
    qs["moment-matched posterior"] = (pm, ps)
    rows = [[name, quad.log_px, *_identity_terms(quad, qm, qsd)] for name, (qm, qsd) in qs.items()]
    with torch.no_grad():
        values = vae.elbo(x.expand(cfg.elbo_mc_samples, -1), generator=ctx.generator(30 + i))[0]
    se = float(values.std() / math.sqrt(cfg.elbo_mc_samples))
    kl_encoder = _identity_terms(quad, m, sd)[1]
    mc_z = (quad.log_px - float(values.mean()) - kl_encoder) / se
    return {
        "log_px": quad.log_px,
        "quadrature_error": abs(quad.log_px - check.log_px),
        "rows": rows,
        "mc_z": mc_z,
        "box": [*lo.tolist(), *hi.tolist()],
        "encoder_q": [*m.tolist(), *sd.tolist()],
        "posterior_moments": [*pm.tolist(), *ps.tolist()],
    }


def _posterior_picture(vae: VAE, x: torch.Tensor, point: Mapping[str, Any], n: int = 81) -> Any:
    """The posterior density on an n×n grid around its mean (6 posterior/encoder σ each way)."""
    pm, ps = (
        torch.tensor(point["posterior_moments"][:2]),
        torch.tensor(point["posterior_moments"][2:]),
    )
    half = 6 * max(float(ps.max()), max(point["encoder_q"][2:]))
    quad = _quadrature(vae, x, (pm - half).double(), (pm + half).double(), n)
    density = (quad.log_joint - point["log_px"]).exp().reshape(n, n)
    return {
        "extent": [
            float(pm[0] - half),
            float(pm[0] + half),
            float(pm[1] - half),
            float(pm[1] + half),
        ],
        "density": np.round(density.numpy(), 6).tolist(),
    }


def _iw_gaps(
    cfg: ExactConfig, ctx: Context, vae: VAE, xs: torch.Tensor, log_px: list[float]
) -> list[list[list[float]]]:
    """Per k: log p(x) − IW_k for each point, averaged over R_k ≈ iw_budget / k repeats, and
    its standard error: ``[[mean per point…], [se per point…]]`` per k."""
    target = torch.tensor(log_px, dtype=_F64)
    gen = ctx.generator(40)
    out = []
    for k in cfg.iw_ks:
        reps = max(cfg.iw_repeats, cfg.iw_budget // k)
        est = vae.log_likelihood(xs.repeat(reps, 1), k, generator=gen).reshape(reps, -1)
        gap = target - est  # (repeats, points)
        out.append([gap.mean(0).tolist(), (gap.std(0) / math.sqrt(reps)).tolist()])
    return out


def measure_exact(cfg: ExactConfig, ctx: Context) -> dict[str, Any]:
    """The linear-Gaussian VAE's sampler and identity; the digits VAE's identity, MC and IW."""
    ppca = _measure_ppca(cfg, ctx)
    vae, xs = _digits_vae(cfg, ctx)
    with torch.no_grad():
        mean_q, log_var_q = vae.encode(xs)
    std_q = (0.5 * log_var_q).exp()
    points = [
        _digit_point(cfg, ctx, vae, xs[i : i + 1], mean_q[i], std_q[i], i)
        for i in ctx.track(range(xs.shape[0]), "V3 test digits")
    ]
    iw = _iw_gaps(cfg, ctx, vae, xs, [p["log_px"] for p in points])
    picture = _posterior_picture(vae, xs[:1], points[0])
    return {
        "ppca": ppca,
        "digits": points,
        "iw": iw,
        "iw_k": list(cfg.iw_ks),
        "posterior_picture": picture,
        "first_digit": xs[0].tolist(),
    }


def _iw_summary(iw: list[Any]) -> tuple[list[float], list[float]]:
    """Mean gap over points per k, and its standard error (points fixed, repeats random)."""
    means, ses = [], []
    for mean, se in iw:
        m = np.asarray([as_float(v) for v in mean])
        s = np.asarray([as_float(v) for v in se])
        means.append(float(m.mean()))
        ses.append(float(np.sqrt((s**2).sum()) / len(s)))
    return means, ses


def judge_v2(metrics: Mapping[str, Any]) -> Verdict:
    """V2 by :data:`V2_RULE`."""
    z = [as_float(v) for v in metrics["ppca"]["sampler_z"]]
    p = max_z_pvalue(z)
    status = z_decision(p, alpha_hold=V2_RULE["alpha_hold"], alpha_fail=V2_RULE["alpha_fail"])
    evidence = (
        f"two-step samples of a linear-Gaussian VAE against its closed-form marginal: the largest "
        f"of {len(z)} standardised deviations (mean, covariance entries, mean log-density) is "
        f"|z| = {max(abs(v) for v in z):.2f}, family-wise p = {p:.3g}."
    )
    reason = (
        "" if status != "inconclusive" else "p between alpha_fail and alpha_hold: draw more samples"
    )
    return Verdict(
        "V2", status, evidence, f"max |z| {max(abs(v) for v in z):.1f}, p {p:.2g}", reason
    )


def _v3_parts(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers V3's rule reads, from the stored metrics."""
    ppca, digits = metrics["ppca"], metrics["digits"]
    rows = [r for p in digits for r in p["rows"]]
    means, ses = _iw_summary(metrics["iw"])
    iw_z = [
        (means[a + 1] - means[a]) / math.hypot(ses[a], ses[a + 1]) for a in range(len(means) - 1)
    ]
    return {
        "residual": max(
            as_float(ppca["identity_residual"]),
            as_float(ppca["quadrature_vs_closed_form"]),
            *(abs(as_float(r[1]) - as_float(r[2]) - as_float(r[3])) for r in rows),
        ),
        "sign_violation": max(
            0.0, *(as_float(r[2]) - as_float(r[1]) for r in rows), *(-as_float(r[3]) for r in rows)
        ),
        "quadrature_error": max(as_float(p["quadrature_error"]) for p in digits),
        "p_mc": max_z_pvalue([as_float(p["mc_z"]) for p in digits]),
        "p_iw": max_z_pvalue(iw_z, alternative="greater"),
        "gap_first": means[0],
        "gap_last": means[-1],
    }


def judge_v3_exact(metrics: Mapping[str, Any]) -> Verdict:
    """V3 (exact part) by :data:`V3_EXACT_RULE`."""
    r, v = V3_EXACT_RULE, _v3_parts(metrics)
    tol, fail = r["tolerance"], r["fail_tolerance"]
    alphas = {"alpha_hold": r["alpha_hold"], "alpha_fail": r["alpha_fail"]}
    exact = (
        "holds"
        if max(v["residual"], v["sign_violation"]) <= tol
        else ("does not hold" if max(v["residual"], v["sign_violation"]) > fail else "inconclusive")
    )
    shrink = (
        "holds"
        if abs(v["gap_last"]) < r["iw_shrink"] * v["gap_first"]
        else ("does not hold" if v["gap_last"] >= v["gap_first"] else "inconclusive")
    )
    parts = [exact, z_decision(v["p_mc"], **alphas), z_decision(v["p_iw"], **alphas), shrink]
    status = all_of(parts)
    evidence = (
        f"largest |log p − ELBO(q) − KL(q‖p(z|x))| {v['residual']:.1e} over every q (quadrature "
        f"error {v['quadrature_error']:.0e}); library MC ELBO + KL vs quadrature: p = "
        f"{v['p_mc']:.3g}; importance-weighted gap {v['gap_first']:.3f} nats at k = "
        f"{metrics['iw_k'][0]} → {v['gap_last']:.4f} at k = {metrics['iw_k'][-1]} (increases: "
        f"p = {v['p_iw']:.3g})."
    )
    key = f"residual {v['residual']:.0e}, IW gap {v['gap_first']:.2f}→{v['gap_last']:.3f}"
    if status != "does not hold" and v["quadrature_error"] > tol:
        reason = (
            f"guard: the quadrature error estimate {v['quadrature_error']:.1e} exceeds "
            f"{tol:g}; a finer grid would settle it"
        )
        return Verdict("V3", "inconclusive", evidence, key, reason)
    reason = (
        ""
        if status != "inconclusive"
        else (
            "parts (identity, MC, IW increases, IW shrink): "
            + ", ".join(parts)
            + "; more Monte Carlo samples or a finer grid would settle it"
        )
    )
    return Verdict("V3", status, evidence, key, reason)


def judge_exact(metrics: Mapping[str, Any], cfg: ExactConfig) -> list[Verdict]:
    """V2 and V3 by their rules."""
    return [judge_v2(metrics), judge_v3_exact(metrics)]


def _draw_iw(metrics: Mapping[str, Any], canvas: Canvas) -> None:
    ks = metrics["iw_k"]
    means, ses = _iw_summary(metrics["iw"])
    per_point = np.array([[as_float(v) for v in mean] for mean, _ in metrics["iw"]])
    fig, ax = canvas.subplots(figsize=(5.5, 3.8))
    for j in range(per_point.shape[1]):
        ax.semilogx(ks, -per_point[:, j], color="0.75", lw=0.8)
    ax.errorbar(
        ks,
        -np.array(means),
        yerr=2 * np.array(ses),
        fmt="o-",
        color="C0",
        capsize=3,
        label="mean over test digits ± 2 SE",
    )
    ax.axhline(0.0, color="k", lw=1, label="log p(x) by quadrature")
    ax.set_xlabel("importance samples k (k = 1: the ELBO)")
    ax.set_ylabel("IW estimate − log p(x)  (nats)")
    ax.set_title("Importance-weighted estimate → log p(x), 2-D latent digits VAE", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    canvas.save(
        fig,
        "iw_convergence",
        "Gap between the quadrature log p(x) and the "
        "importance-weighted estimate as k grows (grey: single test digits).",
    )


def _draw_posterior(metrics: Mapping[str, Any], canvas: Canvas) -> None:
    pic, point = metrics["posterior_picture"], metrics["digits"][0]
    fig, axes = canvas.subplots(1, 3, figsize=(13, 3.8))
    axes[0].imshow(np.asarray(pic["density"]).T, origin="lower", extent=pic["extent"], cmap="Blues")
    t = np.linspace(0, 2 * np.pi, 100)
    for q, style, label in (
        (point["encoder_q"], "r-", "encoder q (2σ)"),
        (point["posterior_moments"], "k--", "moment-matched (2σ)"),
    ):
        axes[0].plot(q[0] + 2 * q[2] * np.cos(t), q[1] + 2 * q[3] * np.sin(t), style, label=label)
    axes[0].set_title("true posterior p(z | x) by quadrature", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[0].set_xlabel("z₁")
    axes[0].set_ylabel("z₂")
    axes[1].imshow(np.asarray(metrics["first_digit"]).reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[1].set_title("the test digit x", fontsize=9)
    axes[1].axis("off")
    rows = point["rows"]
    names = [r[0] for r in rows]
    elbo, kl = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    base = min(elbo.min(), rows[0][1]) - 2
    axes[2].barh(names, elbo - base, left=base, color="C0", label="ELBO(q)")
    axes[2].barh(names, kl, left=elbo, color="C1", label="KL(q ‖ p(z|x))")
    axes[2].axvline(rows[0][1], color="k", ls="--", lw=1, label="log p(x), quadrature")
    axes[2].set_xlabel("nats")
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    axes[2].set_title("ELBO + KL = log p(x) for every q", fontsize=9)
    canvas.save(
        fig,
        "posterior_identity",
        "Left: the exact posterior of a 2-D-latent VAE and two "
        "Gaussian q's; right: ELBO(q) and KL(q‖p(z|x)) add up to log p(x).",
    )


def _draw_samples(metrics: Mapping[str, Any], canvas: Canvas) -> None:
    ppca = metrics["ppca"]
    xs, cov, b = (
        np.asarray(ppca["samples_2d"]),
        np.asarray(ppca["cov_2d"]),
        np.asarray(ppca["b_2d"]),
    )
    fig, ax = canvas.subplots(figsize=(4.2, 4.0))
    ax.scatter(xs[:, 0], xs[:, 1], s=2, alpha=0.3, label="two-step samples")
    vals, vecs = np.linalg.eigh(cov)
    t = np.linspace(0, 2 * np.pi, 100)
    for k in (1, 2, 3):
        ell = vecs @ (np.sqrt(vals)[:, None] * k * np.stack([np.cos(t), np.sin(t)]))
        ax.plot(b[0] + ell[0], b[1] + ell[1], "k-", lw=0.8)
    ax.set_title("linear-Gaussian VAE: samples vs closed-form\nmarginal (1, 2, 3σ)", fontsize=9)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    canvas.save(
        fig,
        "two_step_samples",
        "Two-step samples (z from the prior, then x from p(x|z)) "
        "of a linear-Gaussian VAE against the closed-form marginal.",
    )


def _identity_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Table rows: q, log p, ELBO, KL, and the residual log p − ELBO − KL."""
    return [
        [
            r[0],
            *(round(as_float(v), 6) for v in r[1:4]),
            f"{as_float(r[1]) - as_float(r[2]) - as_float(r[3]):.1e}",
        ]
        for r in rows
    ]


def draw_exact(metrics: Mapping[str, Any], cfg: ExactConfig, canvas: Canvas) -> None:
    """IW convergence, posterior and identity, two-step samples; the identity tables."""
    _draw_iw(metrics, canvas)
    _draw_posterior(metrics, canvas)
    _draw_samples(metrics, canvas)
    cols = ["q", "log p(x)", "ELBO(q)", "KL(q ‖ p(z|x))", "log p − ELBO − KL"]
    canvas.table(
        "Linear-Gaussian VAE, first point: the identity for several q",
        cols,
        _identity_rows(metrics["ppca"]["rows"]),
    )
    canvas.table(
        "Digits VAE (2-D latent), first test digit: the identity for several q",
        cols,
        _identity_rows(metrics["digits"][0]["rows"]),
    )
    means, ses = _iw_summary(metrics["iw"])
    canvas.table(
        "Importance-weighted estimate: mean gap log p(x) − IW_k (nats)",
        ["k", "mean gap", "standard error"],
        [[k, g, s] for k, g, s in zip(metrics["iw_k"], means, ses, strict=True)],
    )


register(
    "v3_latent_exact",
    claims=("V2", "V3"),
    title="log p(x) = ELBO + KL(q‖p(z|x)) by quadrature on 2-D latents; IW → log p; two-step "
    "sampling",
    config=ExactConfig,
    presets={
        "tiny": {
            "ppca_points": 2,
            "ppca_samples": 4000,
            "ppca_grid": 121,
            "n_points": 2,
            "epochs": 1,
            "hidden": 16,
            "grid": 81,
            "grid_check": 61,
            "coarse_grid": 41,
            "elbo_mc_samples": 2000,
            "iw_ks": (1, 16, 256),
            "iw_repeats": 2,
            "iw_budget": 256,
        },
        "quick": {
            "ppca_points": 3,
            "ppca_grid": 301,
            "n_points": 4,
            "epochs": 20,
            "elbo_mc_samples": 5000,
            "iw_ks": (1, 4, 16, 64, 256, 1024),
            "iw_budget": 2048,
        },
        "full": {
            "n_points": 12,
            "epochs": 100,
            "grid": 301,
            "grid_check": 201,
            "elbo_mc_samples": 50000,
            "iw_ks": (1, 4, 16, 64, 256, 1024, 4096, 16384),
            "iw_budget": 16384,
            "ppca_samples": 200000,
        },
    },
    rules=(V2_RULE, V3_EXACT_RULE),
    measure=measure_exact,
    judge=judge_exact,
    draw=draw_exact,
    notes="The ELBO falls short of log p(x) by exactly the KL divergence from q to the true "
    "posterior: zero for the exact posterior of the linear model, positive for every other q. "
    "Averaging k importance weights shrinks that gap, roughly like 1/k once q covers the "
    "posterior.",
)


# -- V3 by EM ---------------------------------------------------------------------------------
@dataclass
class EMConfig:
    """Settings of ``v3_em_gap``.

    Attributes:
        n_components: mixture components on the digits' first two principal components.
        starts: k-means initialisations (seeds), each run one EM iteration at a time.
        max_steps: EM iterations per start (fewer once a step changes log p by < step_tol).
        step_tol: convergence threshold of the per-step log-likelihood change.
        reg_components, reg_covar, reg_max_iter: the side table — a diagonal mixture on the
            64-D dequantised digits with reg_covar 0 and ``reg_covar``.
    """

    n_components: int = 5
    starts: int = 3
    max_steps: int = 80
    step_tol: float = 1e-10
    reg_components: int = 5
    reg_covar: float = 1e-3
    reg_max_iter: int = 100


V3_EM_RULE = Rule(
    claim="V3",
    statistic="per k-means start of a full-covariance mixture on the digits' first two principal "
    "components, run one exact EM iteration (reg_covar = 0) at a time: the largest |log p − "
    "ELBO| right after each E-step, the smallest per-iteration change of log p and the smallest "
    "change of the ELBO over each M-step (nats per sample, relative to |log p|)",
    holds="on every non-degenerate start: E-step gaps ≤ e_gap_tol, no log-likelihood step and "
    "no M-step change of the ELBO below −step_tol·|log p|; and at least min_starts starts are "
    "non-degenerate",
    does_not_hold="any of these fails on a non-degenerate start",
    inconclusive="guard: fewer than min_starts starts stay non-degenerate (a component collapsed "
    "onto a few points, where the likelihood is unbounded and the exact M-step undefined); more "
    "starts or fewer components would settle it",
    seeds="3 k-means starts at quick, 5 at full",
    rationale="EM's monotonicity and the zero gap after the E-step are exact, so only float64 "
    "rounding may remain; a degenerate start tests nothing, so it is excluded, not counted",
    params={"e_gap_tol": 1e-12, "step_tol": 1e-12, "min_starts": 2},
)


def _em_start(cfg: EMConfig, x: np.ndarray, seed: int) -> dict[str, Any]:
    """One EM run from a k-means start, one iteration per call; None fields when degenerate."""
    gmm = GaussianMixtureEM(
        cfg.n_components,
        covariance_type="full",
        reg_covar=0.0,
        init_params="kmeans",
        max_iter=0,
        warm_start=True,
        random_state=seed,
    ).fit(x)
    start_means = gmm.means_.tolist()
    loglik, elbo_e, elbo_m = [gmm.score(x)], [], []
    degenerate_at = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration per call never "converges"
        gmm.set_params(max_iter=1)
        for t in range(cfg.max_steps):
            resp = gmm.predict_proba(x)  # E-step: q(z) = p(z | x, θ_t)
            elbo_e.append(float(gmm.elbo(x, resp).mean()))
            try:
                gmm.fit(x)  # one E-step + M-step: θ_{t+1} = argmax_θ ELBO(q, θ)
            except ValidationError:  # a component's covariance became singular
                degenerate_at = t
                elbo_e.pop()
                break
            elbo_m.append(float(gmm.elbo(x, resp).mean()))
            loglik.append(gmm.score(x))
            if loglik[-1] - loglik[-2] < cfg.step_tol:
                break
    fitted = (
        {
            "means": gmm.means_.tolist(),
            "covariances": gmm.covariances_.tolist(),
            "labels": gmm.predict(x).tolist(),
        }
        if degenerate_at is None
        else None
    )
    return {
        "seed": seed,
        "loglik": loglik,
        "elbo_after_e": elbo_e,
        "elbo_after_m": elbo_m,
        "degenerate_at": degenerate_at,
        "start_means": start_means,
        "fitted": fitted,
    }


def _regularised_dips(cfg: EMConfig, x64: np.ndarray, seed: int) -> list[dict[str, Any]]:
    """Largest fall of the recorded log-likelihood bound with reg_covar 0 and > 0 (64-D)."""
    gen = np.random.default_rng(seed)
    x_deq = (np.round(x64 * 16) + gen.uniform(size=x64.shape)) / 17
    rows: list[dict[str, Any]] = []
    for reg in (0.0, cfg.reg_covar):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g = GaussianMixtureEM(
                    cfg.reg_components,
                    covariance_type="diag",
                    reg_covar=reg,
                    max_iter=cfg.reg_max_iter,
                    tol=1e-9,
                    random_state=seed,
                ).fit(x_deq)
            dip = float(min(0.0, np.diff(g.lower_bounds_).min())) if g.n_iter_ > 1 else 0.0
            rows.append({"reg_covar": reg, "largest_fall": dip, "degenerate": False})
        except ValidationError:
            rows.append({"reg_covar": reg, "largest_fall": None, "degenerate": True})
    return rows


def measure_em(cfg: EMConfig, ctx: Context) -> dict[str, Any]:
    """Exact EM step by step from several starts; the regularised side table."""
    from sklearn.decomposition import PCA

    data = load_digits()
    x64 = data.images.reshape(len(data), -1).double().numpy()
    x = PCA(2, random_state=0).fit_transform(x64)
    seeds = [(ctx.seed * 1000 + i) % 2**32 for i in range(cfg.starts)]
    starts = [_em_start(cfg, x, s) for s in ctx.track(seeds, "V3 EM starts")]
    return {
        "starts": starts,
        "regularised": _regularised_dips(cfg, x64, ctx.seed),
        "points_2d": np.round(x, 3).tolist(),
    }


def em_statistics(start: Mapping[str, Any]) -> dict[str, float]:
    """The rule's three numbers for one start: E-gap, smallest LL step and M-step change."""
    ll = np.array([as_float(v) for v in start["loglik"]])
    e = np.array([as_float(v) for v in start["elbo_after_e"]])
    m = np.array([as_float(v) for v in start["elbo_after_m"]])
    scale = float(np.abs(ll).max())
    n = min(len(e), len(ll))
    return {
        "max_e_gap": float(np.abs(ll[:n] - e[:n]).max()) if n else 0.0,
        "min_step": float(np.diff(ll).min() / scale) if len(ll) > 1 else 0.0,
        "min_m_change": float((m - e[: len(m)]).min() / scale) if len(m) else 0.0,
        "iterations": float(len(e)),
    }


def judge_em(metrics: Mapping[str, Any], cfg: EMConfig) -> list[Verdict]:
    """V3 (EM part) by :data:`V3_EM_RULE`."""
    r = V3_EM_RULE
    valid = [s for s in metrics["starts"] if s["degenerate_at"] is None]
    stats = [em_statistics(s) for s in valid]
    n_deg = len(metrics["starts"]) - len(valid)
    if not stats:
        evidence = f"all {n_deg} starts degenerated (a component's covariance became singular)."
        return [
            Verdict(
                "V3",
                "inconclusive",
                evidence,
                "all starts degenerate",
                "guard: no non-degenerate start; more starts or fewer components",
            )
        ]
    gap = max(s["max_e_gap"] for s in stats)
    step = min(s["min_step"] for s in stats)
    m_change = min(s["min_m_change"] for s in stats)
    evidence = (
        f"{len(stats)} of {len(metrics['starts'])} starts non-degenerate, "
        f"{min(s['iterations'] for s in stats):.0f}–{max(s['iterations'] for s in stats):.0f} EM "
        f"iterations each: after every E-step |log p − ELBO| ≤ {gap:.1e} nats/sample; smallest "
        f"log-likelihood step {step:.1e}·|ℓ|; smallest M-step change of the ELBO "
        f"{m_change:.1e}·|ℓ|."
    )
    key = f"E-gap {gap:.0e}, min step {step:.0e}·|ℓ|"
    ok = gap <= r["e_gap_tol"] and step >= -r["step_tol"] and m_change >= -r["step_tol"]
    if not ok:
        return [Verdict("V3", "does not hold", evidence, key)]
    if len(stats) < r["min_starts"]:
        reason = (
            f"guard: only {len(stats)} non-degenerate starts (< {r['min_starts']}); "
            "more starts or fewer components would settle it"
        )
        return [Verdict("V3", "inconclusive", evidence, key, reason)]
    return [Verdict("V3", "holds", evidence, key)]


def draw_em(metrics: Mapping[str, Any], cfg: EMConfig, canvas: Canvas) -> None:
    """Log-likelihood and ELBO staircase, the gaps, the fitted mixture; two tables."""
    start = next((s for s in metrics["starts"] if s["degenerate_at"] is None), None)
    if start is not None:
        _draw_em_start(metrics, start, canvas)
        ll, e, m = start["loglik"], start["elbo_after_e"], start["elbo_after_m"]
        canvas.table(
            "EM, first iterations of the first start (nats per sample)",
            [
                "t",
                "log p(X|θ_t)",
                "ELBO(q_t, θ_t) after E",
                "ELBO(q_t, θ_t+1) after M",
                "gap after M",
            ],
            [[t, ll[t], e[t], m[t], ll[t + 1] - m[t]] for t in range(min(8, len(m)))],
        )
    canvas.table(
        "Starts",
        ["seed", "iterations", "degenerate at iteration", "max E-gap", "smallest step / |ℓ|"],
        [
            [
                s["seed"],
                len(s["elbo_after_e"]),
                s["degenerate_at"] if s["degenerate_at"] is not None else "—",
                *(
                    [em_statistics(s)["max_e_gap"], em_statistics(s)["min_step"]]
                    if s["degenerate_at"] is None
                    else ["—", "—"]
                ),
            ]
            for s in metrics["starts"]
        ],
    )
    canvas.table(
        f"Regularised M-step (64-D dequantised digits, diagonal, k={cfg.reg_components}): "
        "largest fall of the recorded log-likelihood",
        ["reg_covar", "largest fall (nats/sample)"],
        [
            [
                row["reg_covar"],
                "degenerate (singular covariance)" if row["degenerate"] else row["largest_fall"],
            ]
            for row in metrics["regularised"]
        ],
    )


def _draw_em_start(metrics: Mapping[str, Any], start: Mapping[str, Any], canvas: Canvas) -> None:
    ll, e, m = (np.asarray(start[k]) for k in ("loglik", "elbo_after_e", "elbo_after_m"))
    fig, axes = canvas.subplots(1, 3, figsize=(13, 3.8))
    shown = min(len(m), 12)  # the first iterations, where the steps are visible
    axes[0].plot(np.arange(shown + 1), ll[: shown + 1], "k.-", label="log p(X | θ_t)")
    stair_x = np.repeat(np.arange(shown), 2) + np.tile([0, 1], shown)
    axes[0].plot(
        stair_x,
        np.ravel(np.column_stack([e[:shown], m[:shown]])),
        "C1-",
        lw=1,
        label="ELBO(q_t, θ): E-step → M-step",
    )
    axes[0].set_xlabel(f"EM iteration t (first {shown} of {len(m)})")
    axes[0].set_ylabel("nats per sample")
    axes[0].legend(fontsize=8)
    axes[0].set_title("log-likelihood never decreases", fontsize=9)
    axes[1].semilogy(np.maximum(np.abs(ll[: len(e)] - e), 1e-17), "C0.", label="after E-step")
    axes[1].semilogy(np.maximum(ll[1 : len(m) + 1] - m, 1e-17), "C1.", label="after M-step")
    axes[1].set_xlabel("EM iteration t")
    axes[1].set_ylabel("log p − ELBO = KL(q ‖ p(z|x))")
    axes[1].legend(fontsize=8)
    axes[1].set_title("the E-step closes the gap (to rounding)", fontsize=9)
    x = np.asarray(metrics["points_2d"])
    fitted = start["fitted"]
    axes[2].scatter(x[:, 0], x[:, 1], s=3, c=fitted["labels"], cmap="tab10", alpha=0.6)
    tt = np.linspace(0, 2 * np.pi, 100)
    for mean, cov in zip(fitted["means"], fitted["covariances"], strict=True):
        vals, vecs = np.linalg.eigh(np.asarray(cov))
        ell = vecs @ (2 * np.sqrt(vals)[:, None] * np.stack([np.cos(tt), np.sin(tt)]))
        axes[2].plot(mean[0] + ell[0], mean[1] + ell[1], "k-", lw=1)
    sm = np.asarray(start["start_means"])
    axes[2].plot(sm[:, 0], sm[:, 1], "rx", label="start (k-means)")
    axes[2].legend(fontsize=8)
    axes[2].set_title("digits, 2 principal components: fitted mixture (2σ)", fontsize=9)
    canvas.save(
        fig,
        "em_curve",
        "EM on a Gaussian mixture (first start): log-likelihood and "
        "ELBO per iteration, the gap after each step, and the fitted components.",
    )


register(
    "v3_em_gap",
    claims=("V3",),
    title="EM on a Gaussian mixture: the E-step closes the gap, the log-likelihood never falls",
    config=EMConfig,
    presets={
        "tiny": {"n_components": 3, "starts": 2, "max_steps": 10, "reg_max_iter": 5},
        "quick": {"reg_max_iter": 60},
        "full": {"n_components": 8, "starts": 5, "max_steps": 300, "reg_max_iter": 300},
    },
    rules=(V3_EM_RULE,),
    measure=measure_em,
    judge=judge_em,
    draw=draw_em,
    notes="The E-step makes q the exact posterior, so KL(q‖p(z|x)) = 0 and the bound touches "
    "log p; the M-step can only raise the bound, and log p lies above it. Adding reg_covar to "
    "the covariances (as scikit-learn does) leaves the exact maximiser, and the curve may then "
    "dip slightly — the last table measures by how much; without it a 64-D mixture may collapse "
    "a component onto a few points (the likelihood's singularity).",
)
