r"""Variational autoencoder (Kingma & Welling 2014), claims V1–V3.

The model is a latent-variable model with a standard-normal prior and a neural decoder,

.. math:: p_\theta(x, z) = p(z)\, p_\theta(x \mid z), \qquad p(z) = \mathcal N(0, I),

and a neural encoder :math:`q_\phi(z \mid x) = \mathcal N(\mu_\phi(x), \operatorname{diag}
\sigma^2_\phi(x))` approximates the posterior. For every x,

.. math::
    \log p_\theta(x) = \underbrace{\mathbb E_{q}[\log p_\theta(x \mid z)]
      - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))}_{\mathrm{ELBO}}
      + \mathrm{KL}(q_\phi(z \mid x) \,\|\, p_\theta(z \mid x)),

so the ELBO is a lower bound that training maximises over θ and φ jointly, with the
reparameterisation :math:`z = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim
\mathcal N(0, I)`, giving low-variance gradients. The importance-weighted estimate
(Burda et al. 2015)

.. math:: \log p(x) \approx \log \frac1k \sum_{i=1}^k \frac{p(x, z_i)}{q(z_i \mid x)}, \quad
          z_i \sim q(z \mid x),

is a lower bound in expectation that increases with k towards log p(x). Sampling follows the
two steps of V2: z from the prior, then x from :math:`p_\theta(x \mid z)`.

**Decoder likelihood for dequantised data.** For intensities quantised to L levels and
dequantised to :math:`x = (\text{pixel} + u)/L`, the default here is the discretised logistic
(:class:`~nndl.generative.likelihoods.DiscretizedLogistic`), not a Gaussian with learned
variance. The dequantised density is constant inside each of the L bins; the discretised
logistic is exactly such a density (bin mass × L), so none of its capacity goes to modelling the
uniform noise within a bin, and its open end bins put mass on the many saturated pixels (0 and
16 on the digits) without the over-dispersion a unimodal Gaussian needs to cover both ends. On
the digits this was measured here at about 95.6 nats per image against 80.1 for a Gaussian
decoder with the same latent size (``shared/notes/ANCHORS.md``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn

from .._validation import (
    DTypeError,
    ValidationError,
    check_choice,
    check_finite,
    check_int,
    check_shape,
)
from ..nn import ACTIVATIONS, mlp
from ..nn import activation as make_activation
from ..train import (
    Callback,
    CosineSchedule,
    LambdaCallback,
    Trainer,
)
from ._common import RunModel
from .likelihoods import Likelihood, _draw, make_likelihood

__all__ = ["MODEL_FILE", "VAE", "gaussian_kl", "train_vae"]

_KIND = "nndl.generative.VAE"
MODEL_FILE = "vae.safetensors"
_LOG_2PI = math.log(2.0 * math.pi)

#: Hidden-layer activations a VAE accepts: nndl's, less maxout (it changes the width).
VAE_ACTIVATIONS: tuple[str, ...] = tuple(a for a in ACTIVATIONS if a != "maxout")


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    r"""KL(N(μ, diag σ²) ‖ N(0, I)) in closed form, summed over the last dimension.

    .. math:: \mathrm{KL} = \tfrac12 \sum_j \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big)

    (Kingma & Welling 2014, *Auto-Encoding Variational Bayes*, Appendix B: the negative KL is
    :math:`\tfrac12 \sum_j (1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2)`.)

    Args:
        mean: Tensor[..., Z].
        log_var: Tensor[..., Z], log σ².

    Returns:
        Tensor[...].
    """
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def _normal_log_prob(z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, diag exp(log_var)), summed over the last dimension."""
    return -0.5 * ((z - mean).pow(2) * torch.exp(-log_var) + log_var + _LOG_2PI).sum(-1)


class VAE(RunModel, nn.Module):
    r"""Variational autoencoder with MLP or small convolutional encoder and decoder.

    Args:
        data_shape: shape of one example: ``(D,)`` for flat vectors or ``(C, H, W)`` images.
        latent_dim: Z, the size of the latent code (≥ 1).
        hidden: hidden widths of the MLP encoder (the decoder mirrors them); ``()`` makes both
            linear (with a Gaussian likelihood: probabilistic PCA). For ``"conv"`` only the last
            entry is used, as the fully connected layer around the code.
        arch: ``"mlp"`` or ``"conv"`` (needs ``(C, H, W)`` with H and W divisible by 4: two
            stride-2 convolutions down, two transposed ones up).
        channels: the two channel counts of the conv encoder (mirrored in the decoder).
        likelihood: ``"discretized_logistic"`` (default; see the module docstring),
            ``"bernoulli"``, ``"gaussian"``, a config dict, or a
            :class:`~nndl.generative.likelihoods.Likelihood`.
        levels: intensity levels for the discretised logistic (17 for the digits).
        activation: hidden activation, a name from :data:`nndl.nn.ACTIVATIONS` except
            ``"maxout"`` (the networks are built with :func:`nndl.nn.mlp`).

    Shape:
        x: (B, \*data_shape) with values in the likelihood's support; z: (B, Z).

    Example:
        >>> vae = VAE((64,), latent_dim=2, hidden=(32,), levels=17)
        >>> x = torch.rand(5, 64)
        >>> elbo, rec, kl = vae.elbo(x)
        >>> elbo.shape, bool(torch.allclose(elbo, rec - kl))
        (torch.Size([5]), True)
        >>> vae.sample(3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 64])
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int = 8,
        *,
        hidden: Sequence[int] = (256, 256),
        arch: str = "mlp",
        channels: Sequence[int] = (32, 64),
        likelihood: str | dict[str, Any] | Likelihood = "discretized_logistic",
        levels: int = 256,
        activation: str = "relu",
    ):
        super().__init__()
        if isinstance(data_shape, int) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in data_shape
        ):
            raise ValidationError(
                f"data_shape must be a sequence of positive ints such as (64,) or (1, 8, 8), "
                f"got {data_shape!r}"
            )
        self.data_shape = tuple(int(d) for d in data_shape)
        self.latent_dim = check_int(latent_dim, name="latent_dim", low=1)
        self.arch = check_choice(arch, ("mlp", "conv"), name="arch")
        self.activation = check_choice(activation, VAE_ACTIVATIONS, name="activation")
        for value, label in ((hidden, "hidden"), (channels, "channels")):
            if isinstance(value, int | str):
                raise DTypeError(f"{label} must be a sequence of ints, got {value!r}")
        self.hidden = tuple(check_int(h, name="hidden width", low=1) for h in hidden)
        self.channels = tuple(check_int(c, name="channels", low=1) for c in channels)
        if isinstance(likelihood, str) and likelihood == "discretized_logistic":
            self.likelihood = make_likelihood(likelihood, levels=levels)
        else:
            self.likelihood = make_likelihood(likelihood)
        n_out = self.likelihood.n_params
        d = math.prod(self.data_shape)
        self.encoder: nn.Module
        self.decoder: nn.Module
        if self.arch == "mlp":
            self.encoder = nn.Sequential(
                nn.Flatten(), mlp([d, *self.hidden, 2 * self.latent_dim], self.activation)
            )
            self.decoder = mlp([self.latent_dim, *self.hidden[::-1], n_out * d], self.activation)
        else:
            self.encoder, self.decoder = self._conv_nets(n_out)

    def _conv_nets(self, n_out: int) -> tuple[nn.Module, nn.Module]:
        if len(self.data_shape) != 3 or self.data_shape[1] % 4 or self.data_shape[2] % 4:
            raise ValidationError(
                f"arch='conv' needs data_shape (C, H, W) with H and W divisible by 4, "
                f"got {self.data_shape}"
            )
        if len(self.channels) != 2 or not self.hidden:
            raise ValidationError(
                f"arch='conv' needs two channel counts and a hidden width, got channels="
                f"{self.channels}, hidden={self.hidden}"
            )
        c, h, w = self.data_shape
        c1, c2 = self.channels
        flat = c2 * (h // 4) * (w // 4)

        def act() -> nn.Module:
            return make_activation(self.activation)

        encoder = nn.Sequential(
            nn.Conv2d(c, c1, 3, padding=1),
            act(),
            nn.Conv2d(c1, c1, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            act(),
            nn.Flatten(),
            nn.Linear(flat, self.hidden[-1]),
            act(),
            nn.Linear(self.hidden[-1], 2 * self.latent_dim),
        )
        decoder = nn.Sequential(
            nn.Linear(self.latent_dim, self.hidden[-1]),
            act(),
            nn.Linear(self.hidden[-1], flat),
            act(),
            nn.Unflatten(1, (c2, h // 4, w // 4)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            act(),
            nn.ConvTranspose2d(c1, c1, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(c1, n_out * c, 3, padding=1),
        )
        return encoder, decoder

    # -- configuration and checkpoints (save, from_checkpoint: RunModel) ---------------------
    checkpoint_kind = _KIND
    model_file = MODEL_FILE

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able: ``VAE(**vae.config)`` rebuilds the model."""
        return {
            "data_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "arch": self.arch,
            "channels": list(self.channels),
            "likelihood": self.likelihood.config(),
            "activation": self.activation,
        }

    # -- checks ----------------------------------------------------------------------------
    def check_data(self, x: Any, *, name: str = "x") -> torch.Tensor:
        """Validate a batch: Tensor[B, \\*data_shape], floating, finite, in the support.

        A batch of flat vectors is accepted for image models (and vice versa) when the number
        of elements per example matches; it is reshaped to ``(B, *data_shape)``.

        Raises:
            DTypeError: not a floating-point tensor.
            ShapeError: the wrong shape.
            ValidationError: NaN/Inf, an empty batch, or values outside the likelihood's support.
        """
        if not isinstance(x, torch.Tensor):
            raise DTypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise DTypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
        if (
            x.dim() >= 1
            and x.dim() - 1 != len(self.data_shape)
            and math.prod(x.shape[1:]) == math.prod(self.data_shape)
        ):
            x = x.reshape(x.shape[0], *self.data_shape)
        check_shape(x, ["B", *self.data_shape], name=name)
        if x.shape[0] == 0:
            raise ValidationError(f"{name} must hold at least one example, got an empty batch")
        check_finite(x, name=name)
        self.likelihood.check_support(x, name=name)
        return x

    def _device_dtype(self) -> tuple[torch.device, torch.dtype]:
        p = next(self.parameters())
        return p.device, p.dtype

    # -- the model -------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(self.likelihood.preprocess(x))
        mean, log_var = out.chunk(2, dim=-1)
        return mean, log_var.clamp(-30.0, 20.0)

    def _decode_params(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        lead = z.shape[:-1]
        raw = self.decoder(z.reshape(-1, self.latent_dim))
        raw = raw.reshape(*lead, self.likelihood.n_params, *self.data_shape)
        return tuple(raw.unbind(dim=len(lead)))

    def _log_px_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        params = self._decode_params(z)
        return self.likelihood.log_prob(params, x).flatten(start_dim=z.dim() - 1).sum(-1)

    def _elbo_terms(
        self, x: torch.Tensor, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = self._encode(x)
        eps = _draw("randn", (n_samples, *mean.shape), generator, mean.device, mean.dtype)
        z = mean + torch.exp(0.5 * log_var) * eps  # reparameterisation: z = μ + σ ⊙ ε
        rec = self._log_px_z(x, z).mean(0)  # Monte Carlo estimate of E_q[log p(x | z)]
        kl = gaussian_kl(mean, log_var)  # closed form, Kingma & Welling 2014, appendix B
        return rec - kl, rec, kl

    def forward(self, x: torch.Tensor, kl_weight: float = 1.0) -> torch.Tensor:
        """Per-sample training objective rec − kl_weight·KL (the ELBO at weight 1): Tensor[B].

        No input checks (the training loop validates the data once); use :meth:`elbo` otherwise.
        """
        _, rec, kl = self._elbo_terms(x)
        return rec - kl_weight * kl

    # -- public inference ------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x): (mean Tensor[B, Z], log-variance Tensor[B, Z])."""
        return self._encode(self.check_data(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean E[x | z] of p(x | z): Tensor[B, \\*data_shape] for z Tensor[B, Z]."""
        z = self._check_latent(z)
        return self.likelihood.mean(self._decode_params(z))

    def decode_params(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The decoder's distribution parameters for z Tensor[..., Z] (see the likelihood)."""
        return self._decode_params(self._check_latent(z))

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I), summed over the last dimension: Tensor[...]."""
        z = self._check_latent(z)
        return -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)

    def log_prob_x_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) for x Tensor[B, \\*data_shape] and z Tensor[..., B, Z]: Tensor[..., B]."""
        x = self.check_data(x)
        z = self._check_latent(z)
        if z.dim() < 2 or z.shape[-2] != x.shape[0]:
            raise ValidationError(
                f"z must have shape (..., {x.shape[0]}, {self.latent_dim}) to match x's batch, "
                f"got {tuple(z.shape)}"
            )
        return self._log_px_z(x, z)

    def log_q(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log q(z | x) for x Tensor[B, \\*data_shape] and z Tensor[..., B, Z]: Tensor[..., B]."""
        x = self.check_data(x)
        mean, log_var = self._encode(x)
        return _normal_log_prob(self._check_latent(z), mean, log_var)

    def elbo(
        self, x: torch.Tensor, *, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample ELBO and its two terms.

        Args:
            x: Tensor[B, \\*data_shape] in the likelihood's support.
            n_samples: Monte Carlo samples of z per example for the reconstruction term.
            generator: random stream for ε (the global one if None).

        Returns:
            (elbo, reconstruction E_q[log p(x|z)], KL(q(z|x) ‖ p(z))), each Tensor[B], with
            elbo = reconstruction − KL.
        """
        x = self.check_data(x)
        check_int(n_samples, name="n_samples", low=1)
        return self._elbo_terms(x, n_samples, generator)

    @torch.no_grad()
    def log_likelihood(
        self,
        x: torch.Tensor,
        k: int = 500,
        *,
        generator: torch.Generator | None = None,
        max_elements: int = 1 << 24,
    ) -> torch.Tensor:
        r"""Importance-weighted estimate of log p(x) with k samples from q(z | x): Tensor[B].

        .. math:: \log \hat p(x) = \operatorname{logsumexp}_i \big[\log p(x \mid z_i)
                  + \log p(z_i) - \log q(z_i \mid x)\big] - \log k

        Its expectation is a lower bound that rises with k to log p(x) (k = 1 is the ELBO).

        Args:
            x: Tensor[B, \\*data_shape].
            k: importance samples per example (≥ 1).
            generator: random stream for the samples.
            max_elements: bound on the decoder-output elements held at once (memory).
        """
        x = self.check_data(x)
        check_int(k, name="k", low=1)
        mean, log_var = self._encode(x)
        std = torch.exp(0.5 * log_var)
        per_sample = x.shape[0] * math.prod(self.data_shape) * self.likelihood.n_params
        chunk = max(1, min(k, max_elements // max(1, per_sample)))
        log_w = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            eps = _draw("randn", (n, *mean.shape), generator, mean.device, mean.dtype)
            z = mean + std * eps
            log_w.append(
                self._log_px_z(x, z)
                - 0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
                - _normal_log_prob(z, mean, log_var)
            )
        return torch.logsumexp(torch.cat(log_w, 0), dim=0) - math.log(k)

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, mean: bool = False
    ) -> torch.Tensor:
        """Two-step sampling: z ~ N(0, I), then x ~ p(x | z) (or E[x | z] with ``mean=True``).

        Returns:
            Tensor[n, \\*data_shape].
        """
        check_int(n, name="n", low=1)
        device, dtype = self._device_dtype()
        z = _draw("randn", (n, self.latent_dim), generator, device, dtype)
        params = self._decode_params(z)
        return self.likelihood.mean(params) if mean else self.likelihood.sample(params, generator)

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decoded means along the straight line between the codes (q's means) of two examples.

        Args:
            x_a, x_b: single examples, Tensor[\\*data_shape] (or Tensor[1, \\*data_shape]).
            steps: points on the line, ends included (≥ 2).

        Returns:
            Tensor[steps, \\*data_shape]: E[x | z_t] for z_t = (1 − t) z_a + t z_b.
        """
        check_int(steps, name="steps", low=2)
        pair = [
            self.check_data(
                v.reshape(1, *v.shape) if v.dim() == len(self.data_shape) else v, name=nm
            )
            for v, nm in ((x_a, "x_a"), (x_b, "x_b"))
        ]
        for v, nm in zip(pair, ("x_a", "x_b"), strict=True):
            if v.shape[0] != 1:
                raise ValidationError(f"{nm} must be a single example, got a batch of {v.shape[0]}")
        z_a, z_b = (self._encode(v)[0][0] for v in pair)
        t = torch.linspace(0.0, 1.0, steps, device=z_a.device, dtype=z_a.dtype).unsqueeze(1)
        return self.likelihood.mean(self._decode_params((1 - t) * z_a + t * z_b))

    def _check_latent(self, z: Any) -> torch.Tensor:
        if not isinstance(z, torch.Tensor):
            raise DTypeError(f"z must be a torch.Tensor, got {type(z).__name__}")
        check_shape(z, ["*", self.latent_dim], name="z")
        check_finite(z, name="z")
        return z

    def extra_repr(self) -> str:
        return (
            f"data_shape={self.data_shape}, latent_dim={self.latent_dim}, arch={self.arch!r}, "
            f"likelihood={self.likelihood!r}"
        )


def _kl_weight(epoch: int, warmup: int) -> float:
    """The KL weight of epoch ``epoch`` (0-based): min(1, (epoch + 1) / warmup), 1 without one."""
    return min(1.0, (epoch + 1) / warmup) if warmup else 1.0


def train_vae(
    model: VAE,
    data: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    val_data: torch.Tensor | None = None,
    kl_warmup_epochs: int = 0,
    lr_schedule: str = "constant",
    grad_clip: float | None = None,
    progress: bool | None = None,
) -> list[dict[str, float]]:
    """Maximise the mean ELBO with Adam on the shared :class:`~nndl.train.Trainer`.

    The trainer brings mini-batches in a seeded order, DDP under ``torchrun`` (each rank takes
    its share of every global batch), checkpoints of model, optimiser and RNG state, resuming
    (``resume=True`` continues to the same weights as an uninterrupted run) and a progress bar.
    With ``checkpoint_dir`` set, ``vae.safetensors`` (weights + config, readable by
    :meth:`VAE.from_checkpoint`) is written beside the trainer's ``checkpoint.safetensors``.

    Args:
        model: the :class:`VAE` (trained in place, moved to ``device``).
        data: Tensor[N, \\*data_shape] (or flat Tensor[N, D]) in the likelihood's support.
        epochs: passes over the data (≥ 1).
        batch_size: global batch size.
        lr: Adam's learning rate (fused Adam where the device supports it).
        seed: seeds the example order (the caller seeds the initial weights).
        device: ``"cpu"`` or ``"cuda"``.
        checkpoint_dir: folder for the checkpoints (None: none written).
        resume: continue from ``checkpoint_dir`` if it holds a checkpoint.
        callbacks: extra :class:`~nndl.train.Callback` hooks (e.g. a GradientMonitor).
        val_data: optional held-out data; its mean ELBO is logged as ``val_elbo`` each epoch.
        kl_warmup_epochs: weight the KL term by min(1, epoch / kl_warmup_epochs) (0: off).
        lr_schedule: ``"constant"`` or ``"cosine"`` (from ``lr`` down to ``lr/20`` at the last
            epoch; set per epoch, so resuming follows the same schedule).
        grad_clip: clip the global gradient norm to this value.
        progress: show a progress bar (None: only in a CLI session or on a terminal).

    Returns:
        The trainer's history: one dict per epoch with ``epoch``, ``loss`` (mean negative
        training objective) and ``val_elbo`` when ``val_data`` is given.

    Raises:
        ValidationError / ShapeError / DTypeError: bad arguments or data (NaN, outside the
            likelihood's support, wrong shape, empty) — before any training.
        CheckpointError: ``resume=True`` and the checkpoint is corrupt or does not fit.
    """
    if not isinstance(model, VAE):
        raise DTypeError(f"model must be a VAE, got {type(model).__name__}")
    data = model.check_data(data, name="data")
    if val_data is not None:
        val_data = model.check_data(val_data, name="val_data")
    check_int(epochs, name="epochs", low=1)
    check_int(batch_size, name="batch_size", low=1)
    check_int(kl_warmup_epochs, name="kl_warmup_epochs", low=0)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise ValidationError(f"lr must be a number > 0, got {lr!r}")
    check_choice(lr_schedule, ("constant", "cosine"), name="lr_schedule")
    device = torch.device(device)
    state = {"kl_weight": 1.0}

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return -net(batch[0], kl_weight=state["kl_weight"]).mean()

    metrics: dict[str, Callable[[nn.Module], float]] = {}
    if val_data is not None:
        held_out = val_data.to(device)

        def val_elbo(net: nn.Module) -> float:
            gen = torch.Generator(device=held_out.device).manual_seed(seed)
            vae = cast(VAE, getattr(net, "module", net))  # the trainer passes the bare model
            return float(vae._elbo_terms(held_out, 1, gen)[0].mean())

        metrics["val_elbo"] = val_elbo

    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, TypeError):  # a device without a fused kernel
            return torch.optim.Adam(params, lr=lr)

    # set from the trainer's epoch, so a resumed run follows the same warm-up and schedule
    extra: list[Callback] = [
        LambdaCallback(
            on_epoch_start=lambda trainer, epoch: state.update(
                kl_weight=_kl_weight(epoch, kl_warmup_epochs)
            )
        )
    ]
    if lr_schedule == "cosine":
        extra.append(CosineSchedule(unit="epoch", final_lr_ratio=0.05))
    if checkpoint_dir is not None:  # vae.safetensors beside every trainer checkpoint
        extra.append(
            LambdaCallback(on_checkpoint=lambda trainer, path: model.save(path.parent / MODEL_FILE))
        )
    trainer = Trainer(
        model,
        make_optimizer,
        loss_fn,
        epochs=epochs,
        batch_size=batch_size,
        metrics=metrics,
        callbacks=[*extra, *callbacks],
        seed=seed,
        device=device,
        grad_clip=grad_clip,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
        description="VAE",
    )
    return trainer.fit((data,), resume=resume)
