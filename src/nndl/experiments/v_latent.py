r"""V2/V3: latent-variable models checked exactly — quadrature, closed forms and EM's bound.

**V3 exactly.** For every distribution q(z),

.. math:: \log p(x) = \mathrm{ELBO}(q) + \mathrm{KL}\big(q(z) \,\|\, p(z \mid x)\big), \qquad
          \mathrm{ELBO}(q) = \mathbb E_q[\log p(x \mid z)] - \mathrm{KL}(q \,\|\, p(z)).

With a 2-D latent, :math:`p(x) = \int p(x \mid z) p(z)\, dz` is a 2-D integral that a
trapezoidal rule on a grid covering the posterior computes to near machine precision. Two
models built with :class:`~nndl.generative.VAE`:

1. A linear-Gaussian VAE (linear decoder, Gaussian likelihood — probabilistic PCA), where log p(x),
   the posterior and every KL have closed forms: quadrature is checked against the closed form,
   and the identity is checked with the ELBO by quadrature and KL(q ‖ p(z | x)) in closed form.
   Its two-step sampler (V2: z ~ N(0, I), then x ~ p(x | z)) must reproduce the closed-form
   marginal N(b, WWᵀ + σ²I).
2. A VAE with a 2-D latent trained on the digits (discretised-logistic decoder, tanh MLP): log p(x)
   by quadrature; for several q (the encoder's, wider, narrower, shifted, and the moment-matched
   posterior) the ELBO (reconstruction by quadrature, KL to the prior in closed form) plus
   KL(q ‖ p(z | x)) must give log p(x); the library's Monte Carlo ``elbo`` must agree within its
   standard error; and the importance-weighted estimate must rise towards log p(x) as k grows.

**V3 by EM.** A Gaussian mixture on the digits' first two principal components, fitted one EM
iteration at a time: the E-step sets q to the responsibilities, which makes the gap
:math:`\log p(x) - \mathrm{ELBO}` zero; the M-step raises the ELBO with q fixed, so the
log-likelihood never decreases.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from nndl.data import load_digits, split_arrays
from nndl.generative import VAE, GaussianMixtureEM, gaussian_kl, train_vae

from .context import Context
from .registry import register
from .result import Result, Table, Verdict

_LOG_2PI = math.log(2.0 * math.pi)


# -- quadrature helpers ----------------------------------------------------------------------
def _grid(lo: torch.Tensor, hi: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points Tensor[n*n, 2] of a regular grid on the box [lo, hi] and trapezoid weights."""
    axes = [torch.linspace(float(lo[i]), float(hi[i]), n, dtype=torch.float64) for i in range(2)]
    w1 = [torch.full((n,), float(a[1] - a[0]), dtype=torch.float64) for a in axes]
    for w in w1:
        w[0] *= 0.5
        w[-1] *= 0.5
    z = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    weights = (w1[0][:, None] * w1[1][None, :]).reshape(-1)
    return z, weights


@torch.no_grad()
def _log_joint(vae: VAE, x: torch.Tensor, z: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """log p(x, z) for one example x Tensor[1, D] and z Tensor[G, 2]: Tensor[G]."""
    out = []
    for start in range(0, z.shape[0], chunk):
        zc = z[start : start + chunk].unsqueeze(1)  # (g, 1, 2)
        out.append((vae.log_prob_x_given_z(x, zc) + vae.log_prior(zc))[:, 0])
    return torch.cat(out)


def _gauss_log_pdf(z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (-0.5 * ((z - mean) / std) ** 2 - std.log() - 0.5 * _LOG_2PI).sum(-1)


def _kl_diag_gauss(m1, s1, m2, s2) -> float:
    """KL(N(m1, diag s1²) ‖ N(m2, diag s2²))."""
    return float((torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5).sum())


def _quadrature(vae: VAE, x: torch.Tensor, lo, hi, n: int):
    z, w = _grid(lo, hi, n)
    lj = _log_joint(vae, x, z)
    log_px = float(torch.logsumexp(lj + w.log(), 0))
    return z, w, lj, log_px


def _identity_terms(vae, z, w, lj, log_px, mean, std):
    """ELBO (reconstruction by quadrature − closed-form KL to the prior), KL(q ‖ p(z|x))."""
    log_q = _gauss_log_pdf(z, mean, std)
    q = log_q.exp() * w
    log_prior = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
    rec = float((q * (lj - log_prior)).sum())
    kl_prior = float(gaussian_kl(mean, 2 * std.log()))
    kl_post = float((q * (log_q - (lj - log_px))).sum())
    return rec - kl_prior, kl_post, float(q.sum())


# -- V3 exactly ------------------------------------------------------------------------------
@dataclass
class ExactConfig:
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
    tolerance: float = 1e-9


def _ppca_vae(cfg: ExactConfig, gen: torch.Generator):
    """A linear-Gaussian VAE (PPCA) with an exact encoder, and its closed-form pieces."""
    d, s, sigma = cfg.ppca_dim, torch.tensor(cfg.ppca_scales, dtype=torch.float64), cfg.ppca_noise
    q, _ = torch.linalg.qr(torch.randn(d, 2, generator=gen, dtype=torch.float64))
    w = q * s  # orthogonal columns: the exact posterior covariance is diagonal
    b = torch.randn(d, generator=gen, dtype=torch.float64)
    post_var = 1.0 / (1.0 + s**2 / sigma**2)  # (I + WᵀW/σ²)⁻¹, diagonal
    vae = VAE((d,), 2, hidden=(), likelihood="gaussian").double()
    with torch.no_grad():
        dec, enc = vae.decoder.out, vae.encoder[1].out  # the single Linear of each network
        dec.weight.zero_()
        dec.bias.zero_()
        dec.weight[:d] = w  # mean = W z + b
        dec.bias[:d] = b
        dec.bias[d:] = math.log(sigma)  # log-scale = log σ
        enc.weight.zero_()
        enc.bias.zero_()
        enc.weight[:2] = (post_var[:, None] * w.T) / sigma**2  # posterior mean Σ Wᵀ(x − b)/σ²
        enc.bias[:2] = -(post_var[:, None] * w.T) @ b / sigma**2
        enc.bias[2:] = post_var.log()  # log-variance of the exact posterior
    cov = w @ w.T + sigma**2 * torch.eye(d, dtype=torch.float64)
    return vae, w, b, cov


def _ppca_part(cfg: ExactConfig, ctx: Context) -> dict:
    gen = ctx.generator(10)
    vae, _, b, cov = _ppca_vae(cfg, gen)
    mvn = torch.distributions.MultivariateNormal(b, cov)
    # V2: two-step samples against the closed-form marginal N(b, WWᵀ + σ²I)
    n = cfg.ppca_samples
    xs = vae.sample(n, generator=ctx.generator(11))
    mean_z = (xs.mean(0) - b) / (cov.diagonal() / n).sqrt()
    emp = torch.cov(xs.T)
    se = ((cov.diagonal()[:, None] * cov.diagonal()[None, :] + cov**2) / n).sqrt()
    iu = torch.triu_indices(cfg.ppca_dim, cfg.ppca_dim)
    cov_z = ((emp - cov) / se)[iu[0], iu[1]]
    logp_samples = mvn.log_prob(xs)
    entropy = float(mvn.entropy())
    ent_z = (float(logp_samples.mean()) + entropy) / math.sqrt(cfg.ppca_dim / 2 / n)
    max_std_dev = float(torch.cat([mean_z.abs(), cov_z.abs(), torch.tensor([abs(ent_z)])]).max())

    # V3: quadrature vs closed form; identity for several q
    points = xs[: cfg.ppca_points]
    with torch.no_grad():
        mean_q, log_var_q = vae.encode(points)
    std_q = (0.5 * log_var_q).exp()
    rows, quad_err, resid = [], 0.0, 0.0
    for i in range(points.shape[0]):
        x = points[i : i + 1]
        m, sd = mean_q[i], std_q[i]
        qs = {
            "exact posterior": (m, sd),
            "shifted by 2σ": (m + 2 * sd, sd),
            "σ × 2": (m, 2 * sd),
            "σ × 0.5": (m, 0.5 * sd),
            "prior N(0, I)": (
                torch.zeros(2, dtype=torch.float64),
                torch.ones(2, dtype=torch.float64),
            ),
        }
        lo = torch.minimum(m - 12 * sd, torch.full((2,), -9.0, dtype=torch.float64))
        hi = torch.maximum(m + 12 * sd, torch.full((2,), 9.0, dtype=torch.float64))
        z, wq, lj, log_quad = _quadrature(vae, x, lo, hi, cfg.ppca_grid)
        log_closed = float(mvn.log_prob(x[0]))
        quad_err = max(quad_err, abs(log_quad - log_closed))
        for name, (qm, qs_) in qs.items():
            elbo, _, _ = _identity_terms(vae, z, wq, lj, log_quad, qm, qs_)
            kl_post = _kl_diag_gauss(qm, qs_, m, sd)  # closed form: the posterior is N(m, sd²)
            r = log_closed - (elbo + kl_post)
            resid = max(resid, abs(r))
            if i == 0:
                rows.append([name, log_closed, elbo, kl_post, r])
    return {
        "vae": vae,
        "samples": xs,
        "cov": cov,
        "b": b,
        "max_standardised_deviation": max_std_dev,
        "quadrature_vs_closed_form": quad_err,
        "identity_residual": resid,
        "rows": rows,
    }


def _digits_vae(cfg: ExactConfig, ctx: Context):
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

    def deq(v: torch.Tensor) -> torch.Tensor:
        return (torch.round(v * (levels - 1)) + torch.rand(v.shape, generator=gen)) / levels

    torch.manual_seed(ctx.seed + 20)
    vae = VAE((64,), 2, hidden=(cfg.hidden,), activation="tanh", levels=levels)
    train_vae(
        vae,
        deq(split.x_train),
        epochs=cfg.epochs,
        batch_size=128,
        lr=3e-3,
        lr_schedule="cosine",
        seed=ctx.seed,
    )
    vae = vae.double().eval()
    return vae, deq(split.x_test[: cfg.n_points]).double()


def _digits_part(cfg: ExactConfig, ctx: Context) -> dict:
    vae, xs = _digits_vae(cfg, ctx)
    with torch.no_grad():
        mean_q, log_var_q = vae.encode(xs)
    std_q = (0.5 * log_var_q).exp()
    log_px, quad_err, resid, rows, mc_z, bounds_ok = [], 0.0, 0.0, [], [], True
    posts = []
    for i in range(xs.shape[0]):
        x = xs[i : i + 1]
        # 1) coarse grid over the prior's bulk to find where the posterior lies
        ext = torch.full((2,), cfg.coarse_extent, dtype=torch.float64)
        zc, _, ljc, _ = _quadrature(vae, x, -ext, ext, cfg.coarse_grid)
        keep = ljc > ljc.max() - 30.0  # posterior density above e^-30 of its peak
        step = 2 * cfg.coarse_extent / (cfg.coarse_grid - 1)
        lo, hi = zc[keep].min(0).values - 2 * step, zc[keep].max(0).values + 2 * step
        m, sd = mean_q[i], std_q[i]
        qs = {
            "encoder q(z|x)": (m, sd),
            "σ × 2": (m, 2 * sd),
            "σ × 0.5": (m, 0.5 * sd),
            "shifted by 2σ": (m + 2 * sd, sd),
        }
        for qm, qsd in qs.values():  # the box also holds every q but e^-50 of its mass
            lo = torch.minimum(lo, qm - 10 * qsd)
            hi = torch.maximum(hi, qm + 10 * qsd)
        # 2) fine grids on that box: the result and a coarser one for the error estimate
        z, w, lj, lp = _quadrature(vae, x, lo, hi, cfg.grid)
        _, _, _, lp_check = _quadrature(vae, x, lo, hi, cfg.grid_check)
        quad_err = max(quad_err, abs(lp - lp_check))
        log_px.append(lp)
        post = (lj - lp).exp() * w
        pm = (post[:, None] * z).sum(0)
        ps = ((post[:, None] * (z - pm) ** 2).sum(0)).sqrt()
        posts.append((z, lj - lp, lo, hi, m, sd, pm, ps))
        qs["moment-matched posterior"] = (pm, ps)
        for name, (qm, qsd) in qs.items():
            elbo, kl_post, _ = _identity_terms(vae, z, w, lj, lp, qm, qsd)
            r = lp - (elbo + kl_post)
            resid = max(resid, abs(r))
            bounds_ok &= elbo <= lp + 1e-9 and kl_post >= -1e-9
            if i == 0:
                rows.append([name, lp, elbo, kl_post, r])
        # 3) the library's Monte Carlo ELBO (encoder q) + KL(q ‖ p(z|x)) against log p(x)
        n = cfg.elbo_mc_samples
        with torch.no_grad():
            values = vae.elbo(x.expand(n, -1), generator=ctx.generator(30 + i))[0]
        kl_post_enc = _identity_terms(vae, z, w, lj, lp, m, sd)[1]
        se = float(values.std() / math.sqrt(n))
        mc_z.append((lp - (float(values.mean()) + kl_post_enc)) / se)
    log_px_t = torch.tensor(log_px, dtype=torch.float64)

    # importance-weighted estimates against the quadrature value: R_k independent estimates
    # per image with R_k·k ≈ iw_budget, so every k gets about the same Monte Carlo precision
    gaps = []
    gen = ctx.generator(40)
    for k in cfg.iw_ks:
        reps = max(cfg.iw_repeats, cfg.iw_budget // k)
        est = vae.log_likelihood(xs.repeat(reps, 1), k, generator=gen).reshape(reps, -1)
        gaps.append((log_px_t - est).numpy())  # (repeats, points)
    return {
        "vae": vae,
        "xs": xs,
        "log_px": log_px,
        "quadrature_error": quad_err,
        "identity_residual": resid,
        "elbo_below_log_px": bool(bounds_ok),
        "mc_elbo_z": mc_z,
        "rows": rows,
        "gaps": gaps,
        "posts": posts,
    }


@register(
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
        "quick": {},
        "full": {
            "n_points": 24,
            "epochs": 200,
            "grid": 401,
            "grid_check": 241,
            "elbo_mc_samples": 200000,
            "iw_ks": (1, 4, 16, 64, 256, 1024, 4096, 16384),
            "iw_budget": 16384,
            "ppca_samples": 200000,
        },
    },
)
def run_exact(cfg: ExactConfig, ctx: Context) -> Result:
    ppca = _ppca_part(cfg, ctx)
    dig = _digits_part(cfg, ctx)

    gaps = dig["gaps"]  # per k: (repeats, points); the points are fixed, the repeats random
    mean_gap = np.array([g.mean() for g in gaps])
    se_gap = np.array(
        [np.sqrt(g.var(axis=0, ddof=1).sum() / g.shape[0]) / g.shape[1] for g in gaps]
    )
    steps_ok = all(
        mean_gap[a + 1] <= mean_gap[a] + 2 * math.hypot(se_gap[a], se_gap[a + 1])
        for a in range(len(mean_gap) - 1)
    )
    converges = abs(mean_gap[-1]) < mean_gap[0] / 10
    max_mc_z = float(np.max(np.abs(dig["mc_elbo_z"])))

    _figures(ctx, cfg, ppca, dig, mean_gap, se_gap)

    v2_ok = ppca["max_standardised_deviation"] < 5.0
    v3_exact = (
        ppca["quadrature_vs_closed_form"] <= cfg.tolerance
        and ppca["identity_residual"] <= cfg.tolerance
        and dig["identity_residual"] <= cfg.tolerance
        and dig["elbo_below_log_px"]
    )
    v3_ok = v3_exact and max_mc_z < 4.0 and steps_ok and converges
    v2_evidence = (
        f"{cfg.ppca_samples} two-step samples (z ~ N(0, I), x ~ p(x|z)) of a linear-Gaussian VAE "
        f"match its closed-form marginal N(b, WWᵀ + σ²I): the largest of the standardised "
        f"deviations of the sample mean, covariance entries and mean log-density is "
        f"{ppca['max_standardised_deviation']:.2f} (criterion: < 5)."
    )
    v3_evidence = (
        f"quadrature vs closed-form log p(x): {ppca['quadrature_vs_closed_form']:.1e}; "
        f"|log p − ELBO(q) − KL(q‖p(z|x))| over 5 q's: {ppca['identity_residual']:.1e} "
        f"(linear-Gaussian) and {dig['identity_residual']:.1e} (digits VAE, quadrature error "
        f"{dig['quadrature_error']:.0e}); library MC ELBO + KL within {max_mc_z:.1f} standard "
        f"errors of log p; importance-weighted gap {mean_gap[0]:.2f} nats at k={cfg.iw_ks[0]} → "
        f"{mean_gap[-1]:.3f} at k={cfg.iw_ks[-1]}, monotone: {steps_ok}. Criterion: residuals ≤ "
        f"{cfg.tolerance:g}, MC within 4 SE, mean gap not rising with k (2 SE) and |gap| at the "
        f"largest k < 1/10 of the ELBO's."
    )
    fmt = [[n, round(a, 6), round(b, 6), round(c, 6), f"{d:.1e}"] for n, a, b, c, d in ppca["rows"]]
    fmt2 = [[n, round(a, 6), round(b, 6), round(c, 6), f"{d:.1e}"] for n, a, b, c, d in dig["rows"]]
    cols = ["q", "log p(x)", "ELBO(q)", "KL(q ‖ p(z|x))", "log p − ELBO − KL"]
    return Result(
        metrics={
            "ppca_max_standardised_deviation": ppca["max_standardised_deviation"],
            "ppca_quadrature_vs_closed_form": ppca["quadrature_vs_closed_form"],
            "ppca_identity_residual": ppca["identity_residual"],
            "digits_identity_residual": dig["identity_residual"],
            "digits_quadrature_error": dig["quadrature_error"],
            "digits_log_px": dig["log_px"],
            "elbo_below_log_px": dig["elbo_below_log_px"],
            "mc_elbo_max_standard_errors": max_mc_z,
            "iw_k": list(cfg.iw_ks),
            "iw_mean_gap": mean_gap.tolist(),
            "iw_gap_standard_error": se_gap.tolist(),
            "iw_monotone": steps_ok,
        },
        verdicts=[
            Verdict.from_check(
                "V2", v2_ok, v2_evidence, key=f"max dev {ppca['max_standardised_deviation']:.1f} SE"
            ),
            Verdict.from_check(
                "V3",
                v3_ok,
                v3_evidence,
                key=f"residual {max(ppca['identity_residual'], dig['identity_residual']):.0e}",
            ),
        ],
        tables=[
            Table("Linear-Gaussian VAE, first point: the identity for several q", cols, fmt),
            Table(
                "Digits VAE (2-D latent), first test image: the identity for several q", cols, fmt2
            ),
            Table(
                "Importance-weighted estimate: mean gap log p(x) − IW_k (nats)",
                ["k", "mean gap", "standard error"],
                [
                    [k, float(g), float(s)]
                    for k, g, s in zip(cfg.iw_ks, mean_gap, se_gap, strict=True)
                ],
            ),
        ],
        notes="The ELBO falls short of log p(x) by exactly the KL divergence from q to the true "
        "posterior: zero for the exact posterior of the linear model, positive for every other q. "
        "Averaging k importance weights shrinks that gap, roughly like 1/k once q covers the "
        "posterior.",
    )


def _figures(ctx, cfg, ppca, dig, mean_gap, se_gap) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gaps = dig["gaps"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    per_point = np.stack([g.mean(0) for g in gaps])  # (k, points)
    for j in range(per_point.shape[1]):
        ax.semilogx(cfg.iw_ks, -per_point[:, j], color="0.75", lw=0.8)
    ax.errorbar(
        cfg.iw_ks,
        -mean_gap,
        yerr=2 * se_gap,
        fmt="o-",
        color="C0",
        capsize=3,
        label="mean over test images ± 2 SE",
    )
    ax.axhline(0.0, color="k", lw=1, label="log p(x) by quadrature")
    ax.set_xlabel("importance samples k (k = 1: the ELBO)")
    ax.set_ylabel("IW estimate − log p(x)  (nats)")
    ax.set_title("Importance-weighted estimate → log p(x), 2-D latent digits VAE", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ctx.save_figure(
        fig,
        "iw_convergence",
        "Gap between the quadrature log p(x) and the "
        "importance-weighted estimate as k grows (grey: single test images).",
    )

    # posterior on the grid with q's 2σ ellipses, and the identity as stacked bars
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    z, log_post, _, _, m, sd, pm, ps = dig["posts"][0]
    n = cfg.grid
    zz = z.reshape(n, n, 2).numpy()
    axes[0].contourf(
        zz[..., 0], zz[..., 1], log_post.exp().reshape(n, n).numpy(), levels=20, cmap="Blues"
    )
    t = np.linspace(0, 2 * np.pi, 100)
    for (mu, s), style, label in (
        ((m, sd), "r-", "encoder q (2σ)"),
        ((pm, ps), "k--", "moment-matched (2σ)"),
    ):
        mu, s = mu.numpy(), s.numpy()
        axes[0].plot(mu[0] + 2 * s[0] * np.cos(t), mu[1] + 2 * s[1] * np.sin(t), style, label=label)
    half = 6 * float(torch.maximum(ps.max(), sd.max()))
    axes[0].set_xlim(float(pm[0]) - half, float(pm[0]) + half)
    axes[0].set_ylim(float(pm[1]) - half, float(pm[1]) + half)
    axes[0].set_aspect("equal")
    axes[0].set_title("true posterior p(z | x) by quadrature", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[0].set_xlabel("z₁")
    axes[0].set_ylabel("z₂")
    axes[1].imshow(dig["xs"][0].reshape(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
    axes[1].set_title("the test digit x", fontsize=9)
    axes[1].axis("off")
    rows = dig["rows"]
    names = [r[0] for r in rows]
    elbo = np.array([r[2] for r in rows])
    kl = np.array([r[3] for r in rows])
    base = min(elbo.min(), rows[0][1]) - 2
    axes[2].barh(names, elbo - base, left=base, color="C0", label="ELBO(q)")
    axes[2].barh(names, kl, left=elbo, color="C1", label="KL(q ‖ p(z|x))")
    axes[2].axvline(rows[0][1], color="k", ls="--", lw=1, label="log p(x), quadrature")
    axes[2].set_xlabel("nats")
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    axes[2].set_title("ELBO + KL = log p(x) for every q", fontsize=9)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "posterior_identity",
        "Left: the exact posterior of a 2-D-latent VAE "
        "and two Gaussian q's; right: ELBO(q) and KL(q‖p(z|x)) add up to log p(x).",
    )

    xs, cov, b = ppca["samples"].numpy(), ppca["cov"].numpy(), ppca["b"].numpy()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.scatter(xs[:3000, 0], xs[:3000, 1], s=2, alpha=0.3, label="two-step samples")
    vals, vecs = np.linalg.eigh(cov[:2, :2])
    for k in (1, 2, 3):
        ell = vecs @ (np.sqrt(vals)[:, None] * k * np.stack([np.cos(t), np.sin(t)]))
        ax.plot(b[0] + ell[0], b[1] + ell[1], "k-", lw=0.8)
    ax.set_title("linear-Gaussian VAE: samples vs closed-form\nmarginal (1, 2, 3σ)", fontsize=9)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ctx.save_figure(
        fig,
        "two_step_samples",
        "Two-step samples (z from the prior, then x from "
        "p(x|z)) of a linear-Gaussian VAE against the closed-form marginal.",
    )


# -- V3 by EM ------------------------------------------------------------------------------
@dataclass
class EMConfig:
    n_components: int = 5
    max_steps: int = 80
    step_tol: float = 1e-10
    reg_components: int = 5
    reg_covar: float = 1e-3
    reg_max_iter: int = 100


@register(
    "v3_em_gap",
    claims=("V3",),
    title="EM on a Gaussian mixture: the E-step closes the gap, the log-likelihood never falls",
    config=EMConfig,
    presets={
        "tiny": {"n_components": 3, "max_steps": 10, "reg_max_iter": 5},
        "quick": {},
        "full": {"n_components": 8, "max_steps": 300, "reg_max_iter": 300},
    },
)
def run_em(cfg: EMConfig, ctx: Context) -> Result:
    from sklearn.decomposition import PCA

    data = load_digits()
    x64 = data.images.reshape(len(data), -1).double().numpy()
    x = PCA(2, random_state=ctx.seed).fit_transform(x64)
    gmm = GaussianMixtureEM(
        cfg.n_components,
        covariance_type="full",
        reg_covar=0.0,
        init_params="kmeans",
        max_iter=0,
        warm_start=True,
        random_state=ctx.seed,
    ).fit(x)
    start_means = gmm.means_.copy()
    loglik, elbo_e, elbo_m, gap_e, gap_m = [], [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration per call never "converges"
        gmm.set_params(max_iter=1)
        for _ in range(cfg.max_steps):
            ll = gmm.score(x)
            resp = gmm.predict_proba(x)  # E-step: q(z) = p(z | x, θ_t)
            e = float(gmm.elbo(x, resp).mean())
            gmm.fit(x)  # one E-step + M-step: θ_{t+1} = argmax_θ ELBO(q, θ)
            ll_next = gmm.score(x)
            m = float(gmm.elbo(x, resp).mean())
            loglik.append(ll)
            elbo_e.append(e)
            elbo_m.append(m)
            gap_e.append(ll - e)
            gap_m.append(ll_next - m)
            if ll_next - ll < cfg.step_tol:
                loglik.append(ll_next)
                break
        else:
            loglik.append(gmm.score(x))
    loglik_a = np.array(loglik)
    diffs = np.diff(loglik_a)
    never_decreases = bool(diffs.min() >= -1e-12 * abs(loglik_a).max())
    max_gap_e = float(np.max(np.abs(gap_e)))
    m_raises = bool(np.min(np.array(elbo_m) - np.array(elbo_e)) >= -1e-12)
    bound_holds = bool(np.min(gap_m) >= -1e-12)
    # the same fit in one call records the same curve in lower_bounds_
    full = GaussianMixtureEM(
        cfg.n_components,
        covariance_type="full",
        reg_covar=0.0,
        init_params="kmeans",
        max_iter=len(elbo_e),
        tol=0.0,
        random_state=ctx.seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full.fit(x)
    same_curve = float(np.max(np.abs(np.array(full.lower_bounds_) - loglik_a[: len(elbo_e)])))

    # reg_covar > 0 makes the M-step inexact: measure the dips on the dequantised 64-D digits
    gen = np.random.default_rng(ctx.seed)
    x_deq = (np.round(x64 * 16) + gen.uniform(size=x64.shape)) / 17
    dips = {}
    for reg in (0.0, cfg.reg_covar):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = GaussianMixtureEM(
                cfg.reg_components,
                covariance_type="diag",
                reg_covar=reg,
                max_iter=cfg.reg_max_iter,
                tol=1e-9,
                random_state=ctx.seed,
            ).fit(x_deq)
        dips[reg] = float(min(0.0, np.diff(g.lower_bounds_).min())) if g.n_iter_ > 1 else 0.0

    _em_figures(ctx, x, start_means, gmm, loglik_a, elbo_e, elbo_m, gap_e, gap_m)
    ok = never_decreases and max_gap_e <= 1e-12 and m_raises and bound_holds
    evidence = (
        f"{len(elbo_e)} EM iterations of a {cfg.n_components}-component full-covariance mixture "
        f"on the digits' two principal components: the log-likelihood rose from {loglik_a[0]:.4f} "
        f"to {loglik_a[-1]:.4f} nats/sample, smallest step {diffs.min():.1e}; after each E-step "
        f"|log p − ELBO| ≤ {max_gap_e:.1e}; every M-step raised the ELBO (the gap it reopened "
        f"peaked at {max(gap_m):.2e}). Criterion: no step below −1e-12·|ℓ|, E-step gaps ≤ 1e-12, "
        f"M-steps never lower the ELBO."
    )
    return Result(
        metrics={
            "iterations": len(elbo_e),
            "loglik": loglik_a.tolist(),
            "smallest_step": float(diffs.min()),
            "max_gap_after_e_step": max_gap_e,
            "max_gap_after_m_step": float(max(gap_m)),
            "m_step_raises_elbo": m_raises,
            "lower_bounds_match_stepwise": same_curve,
            "largest_dip_reg_covar_0": dips[0.0],
            f"largest_dip_reg_covar_{cfg.reg_covar:g}": dips[cfg.reg_covar],
        },
        verdicts=[
            Verdict.from_check(
                "V3", ok, evidence, key=f"E-gap {max_gap_e:.0e}, min step {diffs.min():.0e}"
            )
        ],
        tables=[
            Table(
                "EM, first iterations (nats per sample)",
                [
                    "t",
                    "log p(X|θ_t)",
                    "ELBO(q_t, θ_t) after E",
                    "ELBO(q_t, θ_t+1) after M",
                    "gap after M",
                ],
                [
                    [t, loglik[t], elbo_e[t], elbo_m[t], gap_m[t]]
                    for t in range(min(8, len(elbo_e)))
                ],
            ),
            Table(
                "Regularised M-step (64-D dequantised digits, diagonal, k="
                f"{cfg.reg_components}): largest fall of the recorded log-likelihood",
                ["reg_covar", "largest fall (nats/sample)"],
                [[r, d] for r, d in dips.items()],
            ),
        ],
        notes="The E-step makes q the exact posterior, so KL(q‖p(z|x)) = 0 and the bound touches "
        "log p; the M-step can only raise the bound, and log p lies above it. Adding reg_covar "
        "to the covariances (as scikit-learn does) leaves the exact maximiser, and the curve may "
        "then dip slightly — the table measures by how much.",
    )


def _em_figures(ctx, x, start_means, gmm, loglik, elbo_e, elbo_m, gap_e, gap_m) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    shown = min(len(elbo_e), 12)  # the first iterations, where the steps are visible
    t = np.arange(shown + 1)
    axes[0].plot(t, loglik[: shown + 1], "k.-", label="log p(X | θ_t)")
    stair_x = np.repeat(np.arange(shown), 2) + np.tile([0, 1], shown)
    stair_y = np.ravel(np.column_stack([elbo_e[:shown], elbo_m[:shown]]))
    axes[0].plot(stair_x, stair_y, "C1-", lw=1, label="ELBO(q_t, θ): E-step → M-step")
    axes[0].set_xlabel(f"EM iteration t (first {shown} of {len(elbo_e)})")
    axes[0].set_ylabel("nats per sample")
    axes[0].legend(fontsize=8)
    axes[0].set_title("log-likelihood never decreases", fontsize=9)
    axes[1].semilogy(np.maximum(np.abs(gap_e), 1e-17), "C0.", label="after E-step")
    axes[1].semilogy(np.maximum(gap_m, 1e-17), "C1.", label="after M-step")
    axes[1].set_xlabel("EM iteration t")
    axes[1].set_ylabel("log p − ELBO = KL(q ‖ p(z|x))")
    axes[1].legend(fontsize=8)
    axes[1].set_title("the E-step closes the gap (to rounding)", fontsize=9)
    axes[2].scatter(x[:, 0], x[:, 1], s=3, c=gmm.predict(x), cmap="tab10", alpha=0.6)
    tt = np.linspace(0, 2 * np.pi, 100)
    for mean, cov in zip(gmm.means_, gmm.covariances_, strict=True):
        vals, vecs = np.linalg.eigh(cov)
        ell = vecs @ (2 * np.sqrt(vals)[:, None] * np.stack([np.cos(tt), np.sin(tt)]))
        axes[2].plot(mean[0] + ell[0], mean[1] + ell[1], "k-", lw=1)
    axes[2].plot(start_means[:, 0], start_means[:, 1], "rx", label="start (k-means)")
    axes[2].legend(fontsize=8)
    axes[2].set_title("digits, 2 principal components: fitted mixture (2σ)", fontsize=9)
    fig.tight_layout()
    ctx.save_figure(
        fig,
        "em_curve",
        "EM on a Gaussian mixture: log-likelihood and ELBO per "
        "iteration, the gap after each step, and the fitted components.",
    )
