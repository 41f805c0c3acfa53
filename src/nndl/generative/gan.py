r"""Generative adversarial network (claim V4): a generator g(z) trained against a discriminator.

A GAN never writes down a density. A generator :math:`g_\theta` maps noise from a simple prior,
:math:`z \sim N(0, I)`, to data space, and a discriminator :math:`D_\phi(x) = \sigma(\ell_\phi(x))`
is trained to tell real images from generated ones. The two are updated in turn (Goodfellow et
al. 2014):

* discriminator step (ascend the log-likelihood of "real vs generated"):

  .. math:: L_D = -\mathbb{E}_{x}\log D(x) - \mathbb{E}_{z}\log\big(1 - D(g(z))\big)
            = \mathbb{E}_x \operatorname{softplus}(-\ell(x))
              + \mathbb{E}_z \operatorname{softplus}(\ell(g(z)))

* generator step, *non-saturating* form:

  .. math:: L_G = -\mathbb{E}_{z}\log D(g(z)) = \mathbb{E}_z \operatorname{softplus}(-\ell(g(z)))

  The minimax form :math:`\mathbb{E}_z \log(1 - D(g(z)))` has gradient
  :math:`-\sigma(\ell)\,\partial\ell/\partial\theta` with respect to the generator, which vanishes
  early in training when D confidently rejects the samples (:math:`\ell \to -\infty`); the
  non-saturating loss has gradient :math:`-(1 - \sigma(\ell))\,\partial\ell/\partial\theta`,
  which is largest exactly then. Both have the same fixed point.

:func:`train_gan` runs the alternating updates with Adam, records the
:class:`~nndl.diagnostics.GradientMonitor` numbers of both networks, renders a fixed-noise sample
grid along training, keeps safetensors checkpoints (resuming gives the same result as an
uninterrupted run) and runs unchanged under ``torchrun`` with DistributedDataParallel.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_write, atomic_write_json
from .._seed import torch_generator
from .._validation import (
    ShapeError,
    ValidationError,
    check_choice,
    check_finite,
    check_in_range,
    check_int,
    check_shape,
)
from ..train import Callback, StepFn, Trainer, save_checkpoint
from ._common import RunModel

__all__ = [
    "GAN",
    "GAN_ARCHS",
    "MODEL_FILE",
    "GANRun",
    "discriminator_loss",
    "gan_step",
    "generator_loss",
    "image_grid",
    "image_grid_uint8",
    "save_image_grid",
    "train_gan",
]

GAN_ARCHS: tuple[str, ...] = ("mlp", "conv")
_KIND = "nndl.generative.GAN"
MODEL_FILE = "gan.safetensors"
CHECKPOINT_NAME = "checkpoint.safetensors"
FIXED_NOISE_NAME = "fixed_noise.safetensors"


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy of the discriminator, real labelled 1 and generated 0.

    .. math:: L_D = \overline{\operatorname{softplus}(-\ell_r)}
              + \overline{\operatorname{softplus}(\ell_f)}

    Shape:
        real_logits (N_r,), fake_logits (N_f,) → scalar.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    r"""Generator loss from the discriminator's logits on generated images.

    ``non_saturating=True``:
    :math:`-\overline{\log \sigma(\ell)} = \overline{\operatorname{softplus}(-\ell)}`;
    ``False``, the minimax form:
    :math:`\overline{\log(1 - \sigma(\ell))} = -\overline{\operatorname{softplus}(\ell)}`.
    """
    if non_saturating:
        return F.softplus(-fake_logits).mean()
    return -F.softplus(fake_logits).mean()


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
class GAN(RunModel, nn.Module):
    """Generator and discriminator for images in [0, 1], with the prior N(0, I).

    Args:
        data_shape: (C, H, W) of the images.
        latent_dim: dimension of z (≥ 1).
        arch: ``"mlp"`` (fully connected, built by ``nndl.nn.mlp``) or ``"conv"`` (two
            stride-2 (transposed) convolutions; H and W divisible by 4).
        hidden: hidden widths of the MLP generator (the discriminator uses them reversed).
        channels: (c1, c2) conv channels (``arch="conv"``): the discriminator goes C → c1 → c2,
            the generator c2 → c1 → C.
        negative_slope: slope of the discriminator's leaky ReLUs.
        spectral_norm: divide each discriminator weight by its largest singular value
            (Miyato et al. 2018, ``torch.nn.utils.parametrizations.spectral_norm``), which
            makes D 1-Lipschitz per layer. On the digits, without it the discriminator won
            within a few hundred steps (D(real) ≈ 0.9, D(fake) ≈ 0.1) and the generator
            collapsed onto one to three digit classes (recall ≤ 0.01 in all five settings
            tried); with it D(real) and D(fake) stay near 0.5.
        non_saturating: use the non-saturating generator loss (default) or the minimax one.

    Attributes:
        generator: z (N, latent_dim) → images (N, C, H, W) in (0, 1) (sigmoid output).
        discriminator: images (N, C, H, W) → logits (N, 1).

    Example:
        >>> gan = GAN((1, 8, 8), latent_dim=4)
        >>> gan.sample(3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([3, 1, 8, 8])
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        latent_dim: int = 16,
        *,
        arch: str = "mlp",
        hidden: Sequence[int] = (128, 128),
        channels: Sequence[int] = (32, 64),
        negative_slope: float = 0.2,
        spectral_norm: bool = True,
        non_saturating: bool = True,
    ):
        super().__init__()
        shape = tuple(int(s) for s in data_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValidationError(
                f"data_shape must be (C, H, W) with sizes >= 1, got {tuple(data_shape)}"
            )
        self.data_shape: tuple[int, int, int] = (shape[0], shape[1], shape[2])
        self.latent_dim = check_int(latent_dim, name="latent_dim", low=1)
        self.arch = check_choice(arch, GAN_ARCHS, name="arch")
        self.hidden = tuple(check_int(h, name="hidden width", low=1) for h in hidden)
        self.channels = tuple(check_int(c, name="channel count", low=1) for c in channels)
        self.negative_slope = check_in_range(
            negative_slope, name="negative_slope", low=0.0, high=1.0
        )
        self.spectral_norm = bool(spectral_norm)
        self.non_saturating = bool(non_saturating)
        if self.arch == "mlp":
            if not self.hidden:
                raise ValidationError("hidden must name at least one hidden layer for arch='mlp'")
            self.generator, self.discriminator = self._mlp_nets()
        else:
            if len(self.channels) != 2:
                raise ValidationError(
                    f"channels must be (c1, c2) for arch='conv', got {self.channels}"
                )
            if shape[1] % 4 or shape[2] % 4:
                raise ValidationError(
                    f"arch='conv' needs H and W divisible by 4, got data_shape {shape}"
                )
            self.generator, self.discriminator = self._conv_nets()
        if self.spectral_norm:
            for module in self.discriminator.modules():
                if isinstance(module, nn.Linear | nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(module)

    def _mlp_nets(self) -> tuple[nn.Sequential, nn.Sequential]:
        from ..nn import mlp

        c, h, w = self.data_shape
        gen = mlp([self.latent_dim, *self.hidden, c * h * w], activation="relu")
        gen.add_module("sigmoid", nn.Sigmoid())
        gen.add_module("unflatten", nn.Unflatten(1, self.data_shape))
        body = mlp(
            [c * h * w, *reversed(self.hidden), 1],
            activation="leaky_relu",
            activation_kwargs={"negative_slope": self.negative_slope},
        )
        disc = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), *body.named_children()]))
        return gen, disc

    def _conv_nets(self) -> tuple[nn.Sequential, nn.Sequential]:
        c, h, w = self.data_shape
        c1, c2 = self.channels
        small = (c2, h // 4, w // 4)
        gen = nn.Sequential(
            OrderedDict(
                [
                    ("fc", nn.Linear(self.latent_dim, math.prod(small))),
                    ("act0", nn.ReLU()),
                    ("unflatten", nn.Unflatten(1, small)),
                    ("up1", nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1)),
                    ("act1", nn.ReLU()),
                    ("up2", nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1)),
                    ("sigmoid", nn.Sigmoid()),
                ]
            )
        )
        disc = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(c, c1, 4, stride=2, padding=1)),
                    ("act1", nn.LeakyReLU(self.negative_slope)),
                    ("conv2", nn.Conv2d(c1, c2, 4, stride=2, padding=1)),
                    ("act2", nn.LeakyReLU(self.negative_slope)),
                    ("flatten", nn.Flatten()),
                    ("out", nn.Linear(math.prod(small), 1)),
                ]
            )
        )
        return gen, disc

    # -- configuration and checkpoints (save, from_checkpoint: RunModel) ---------------------
    checkpoint_kind = _KIND
    model_file = MODEL_FILE

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-able: ``GAN(**gan.config)`` rebuilds the model."""
        return {
            "data_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "arch": self.arch,
            "hidden": list(self.hidden),
            "channels": list(self.channels),
            "negative_slope": self.negative_slope,
            "spectral_norm": self.spectral_norm,
            "non_saturating": self.non_saturating,
        }

    # -- the two networks --------------------------------------------------------------------
    def sample_prior(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | None = None
    ) -> torch.Tensor:
        """z ~ N(0, I): Tensor[n, latent_dim] (drawn on the CPU with ``generator``, then moved)."""
        check_int(n, name="n", low=1)
        z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(device if device is not None else self._device())

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """g(z): Tensor[N, latent_dim] → Tensor[N, C, H, W] in (0, 1), differentiable."""
        check_shape(z, ("N", self.latent_dim), name="z")
        return self.generator(z)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """Discriminator logits ℓ(x): Tensor[N, C, H, W] → Tensor[N]; D(x) = σ(ℓ(x))."""
        check_shape(x, ("N", *self.data_shape), name="x")
        return self.discriminator(x).squeeze(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Two steps: z ~ N(0, I), then x = g(z). Returns Tensor[n, C, H, W] in (0, 1).

        Raises:
            ValidationError: ``n`` < 1.
        """
        z = self.sample_prior(n, generator)
        was_training = self.generator.training
        self.generator.eval()
        x = self.generator(z)
        self.generator.train(was_training)
        return x

    def losses(self, real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_D, L_G)`` on one batch (for inspection; :func:`train_gan` steps them in turn)."""
        fake = self.generate(z)
        loss_d = discriminator_loss(self.discriminate(real), self.discriminate(fake.detach()))
        loss_g = generator_loss(self.discriminate(fake), self.non_saturating)
        return loss_d, loss_g

    def _device(self) -> torch.device:
        return next(self.parameters()).device


# ---------------------------------------------------------------------------------------------
# Image grids
# ---------------------------------------------------------------------------------------------
def image_grid(
    images: torch.Tensor, nrow: int | None = None, padding: int = 1, pad_value: float = 1.0
) -> torch.Tensor:
    """Tile images into one picture, row by row.

    Args:
        images: Tensor[N, C, H, W] in [0, 1].
        nrow: images per row (default ⌈√N⌉).
        padding: pixels between images.
        pad_value: colour of the padding.

    Returns:
        Tensor[C, rows·(H+p)+p, nrow·(W+p)+p].
    """
    check_shape(images, "N C H W", name="images")
    n, c, h, w = images.shape
    if n == 0:
        raise ValidationError("images must hold at least one image, got 0")
    nrow = math.ceil(math.sqrt(n)) if nrow is None else check_int(nrow, name="nrow", low=1)
    check_int(padding, name="padding", low=0)
    rows = math.ceil(n / nrow)
    grid = torch.full(
        (c, rows * (h + padding) + padding, nrow * (w + padding) + padding),
        float(pad_value),
        dtype=images.dtype,
    )
    for i, img in enumerate(images.detach().cpu()):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = img
    return grid


def image_grid_uint8(images: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """The first channel of :func:`image_grid` (images clamped to [0, 1]) as 0–255 integers.

    Args:
        images: Tensor[N, C, H, W].
        nrow: images per row (default ⌈√N⌉).

    Returns:
        Tensor[rows·(H+1)+1, nrow·(W+1)+1] of dtype uint8 (white padding).
    """
    check_shape(images, "N C H W", name="images")
    grid = image_grid(images.detach().clamp(0, 1), nrow=nrow)[0]
    return (grid * 255).round().to(torch.uint8)


def save_image_grid(
    path: str | os.PathLike[str],
    images: torch.Tensor,
    *,
    nrow: int | None = None,
    scale: int = 1,
    padding: int = 1,
) -> Path:
    """Write :func:`image_grid` of ``images`` as a PNG (atomically), upscaled ``scale`` times.

    Grey images (C = 1) give a grey PNG, C = 3 an RGB one. Values are clipped to [0, 1].
    """
    import io

    from PIL import Image

    check_int(scale, name="scale", low=1)
    check_finite(images, name="images")
    grid = image_grid(images, nrow=nrow, padding=padding).clamp(0, 1)
    if grid.shape[0] not in (1, 3):
        raise ShapeError(
            f"images must have 1 or 3 channels to save as PNG, got {grid.shape[0]}",
            ("N", "1|3", "H", "W"),
            tuple(images.shape),
        )
    if scale > 1:
        grid = grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    array = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
@dataclass
class GANRun:
    """What :func:`train_gan` returns.

    Attributes:
        history: one dict per epoch: ``epoch``, ``step``, ``loss_d``, ``loss_g`` (means over the
            epoch), ``d_real``/``d_fake`` (mean D(x) on real and generated images), and
            ``grad_generator``/``grad_discriminator``: ``{layer: {"grad_norm", "update_ratio"}}``,
            the GradientMonitor's gradient norm ‖∂L/∂θ_layer‖ and largest update-to-weight
            ratio of the layer, averaged over the steps recorded in that epoch.
        fixed_noise: Tensor[M, latent_dim], the noise the grid is rendered from.
        fixed_samples: {epoch: Tensor[M, C, H, W]} g(fixed_noise) at epoch 0 (before training)
            and every ``grid_every`` epochs.
        gradients: the monitors' raw records (:attr:`GradientMonitor.history` rows), each with
            ``network`` set to ``"generator"`` or ``"discriminator"`` and ``step`` the global
            optimisation step (records of an earlier session are read back from
            ``gradients.json`` when resuming).
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    fixed_noise: torch.Tensor | None = None
    fixed_samples: dict[int, torch.Tensor] = field(default_factory=dict)
    gradients: list[dict[str, Any]] = field(default_factory=list)


def _step_noise(seed: int, step: int, n: int, latent_dim: int) -> torch.Tensor:
    """The global batch's noise for optimisation step ``step``: a function of (seed, step) only.

    Drawing the noise from a generator keyed on the step (not from a running RNG) makes a resumed
    run draw exactly what an uninterrupted one would, and lets every DDP rank take its share of
    the same global batch.
    """
    gen = torch_generator((seed * 1_000_003 + step) % (2**63))
    return torch.randn(n, latent_dim, generator=gen)


def _validate_images(model: GAN, images: torch.Tensor) -> None:
    check_shape(images, ("N", *model.data_shape), name="images")
    if images.shape[0] < 1:
        raise ValidationError("images must hold at least one image, got 0")
    if not images.is_floating_point():
        raise ValidationError(f"images must be a floating-point tensor, got dtype {images.dtype}")
    check_finite(images, name="images")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0.0 or hi > 1.0:
        raise ValidationError(
            f"images must lie in [0, 1] (the generator's sigmoid range), got values in "
            f"[{lo:.4g}, {hi:.4g}]"
        )


def _layer_of(name: str) -> str:
    """``fc1.parametrizations.weight`` (spectral norm's holder of the raw weight) → ``fc1``."""
    return name.split(".parametrizations.", 1)[0]


def _summarise_gradients(
    records: list[dict[str, Any]], first_step: int
) -> dict[str, dict[str, float]]:
    """Per layer, means over the recorded steps ≥ ``first_step`` of the layer's gradient norm
    (root of the sum of its parameters' squared norms) and of its largest update ratio."""
    grads: dict[tuple[int, str], float] = {}
    updates: dict[tuple[int, str], float] = {}
    for rec in records:
        if rec.get("kind") != "parameter" or int(rec["step"]) < first_step:
            continue
        key = (int(rec["step"]), _layer_of(str(rec["layer"])))
        grad = rec.get("grad_norm")
        if grad is not None and math.isfinite(float(grad)):
            grads[key] = grads.get(key, 0.0) + float(grad) ** 2
        ratio = rec.get("update_ratio")
        if ratio is not None and math.isfinite(float(ratio)):
            updates[key] = max(updates.get(key, 0.0), float(ratio))
    out: dict[str, dict[str, float]] = {}
    for name, table, fn in (("grad_norm", grads, math.sqrt), ("update_ratio", updates, float)):
        per_layer: dict[str, list[float]] = {}
        for (_, layer), value in table.items():
            per_layer.setdefault(layer, []).append(fn(value))
        for layer, values in per_layer.items():
            out.setdefault(layer, {})[name] = sum(values) / len(values)
    return out


def _load_gradient_records(path: Path, before: int) -> list[dict[str, Any]]:
    """Records of an earlier session (steps < ``before``) from ``gradients.json``."""
    import json

    from ..train import CheckpointError

    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"gradient records {str(path)!r} are corrupt: {exc}") from None
    if not isinstance(rows, list):
        raise CheckpointError(f"gradient records {str(path)!r} must hold a JSON list")
    return [r for r in rows if isinstance(r, dict) and int(r.get("step", before)) < before]


def _load_fixed_samples(path: Path) -> dict[int, torch.Tensor]:
    from ..train import load_checkpoint

    if not path.exists():
        return {}
    tensors, _ = load_checkpoint(path)
    return {int(k[6:]): v for k, v in tensors.items() if k.startswith("epoch.")}


def train_gan(
    model: GAN,
    images: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 5e-4,
    lr_d: float | None = 2e-3,
    betas: tuple[float, float] = (0.0, 0.9),
    seed: int = 0,
    device: str | torch.device = "cpu",
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    checkpoint_every: int = 1,
    grid_every: int = 1,
    n_fixed: int = 64,
    monitor_every: int = 10,
    progress: bool | None = None,
) -> GANRun:
    """Train ``model`` by alternating discriminator and generator steps (Adam for both).

    Runs on the shared :class:`nndl.train.Trainer` with a two-optimiser step
    (:func:`gan_step`): every step takes a global batch of real images (the order of epoch e is
    ``DistributedSampler(seed=seed).set_epoch(e)``) and the noise :func:`_step_noise` (seed,
    step); it updates D once on ``L_D`` (real and generated images in one forward pass), then g
    once on ``L_G`` through the updated D.

    Under ``torchrun`` the generator and the discriminator are each wrapped in
    DistributedDataParallel and each rank takes every ``world_size``-th image and noise vector
    of the global batch, so the averaged gradients equal the single-process ones (when N is a
    multiple of the number of processes; otherwise ``DistributedSampler`` pads the last batch by
    repeating images); only rank 0 writes files and shows progress.

    With ``out_dir``, the folder receives after every ``checkpoint_every`` epochs (and the last)
    the trainer's ``checkpoint.safetensors`` (+ ``.json``): both networks, both optimisers
    (``"discriminator"``, ``"generator"``), epoch, step, history and ``model_meta``
    ``{"kind": "gan", "model": config}``; ``fixed_noise.safetensors`` (the fixed noise and every
    grid snapshot) and ``fixed_noise/epoch_XXXX.png``; and ``gradients.json`` (the monitors'
    records).

    Args:
        model: the GAN to train (moved to ``device``, updated in place).
        images: Tensor[N, C, H, W] real images in [0, 1], C, H, W = ``model.data_shape``.
        epochs: total number of epochs (a resumed run continues up to it).
        batch_size: global batch size (divisible by the number of processes).
        lr: generator learning rate.
        lr_d: discriminator learning rate (None: ``lr``). The defaults, 5e-4 for g and 2e-3
            for D (the two time-scale update rule of Heusel et al. 2017) with Adam betas
            (0, 0.9), were picked on the digits (MLP GAN, 760-2,300 steps): without spectral
            norm, five settings with one learning rate (2e-4 or 1e-3, betas (0.5, 0.999))
            all collapsed onto one to three classes (recall ≤ 0.01); with spectral norm and
            one learning rate the recall stayed ≤ 0.4; these defaults gave FD 4-6 with recall
            about 0.9 in 760 steps on three seeds.
        betas: Adam's betas for both optimisers.
        seed: seeds the data order, the step noise and the fixed noise.
        device: ``"cpu"`` or ``"cuda"``.
        out_dir: folder for checkpoints, grids and gradient records (None: keep nothing).
        resume: continue from ``out_dir``'s checkpoint if there is one.
        checkpoint_every: save every this many epochs.
        grid_every: render the fixed-noise grid every this many epochs (and before training).
        n_fixed: number of fixed noise vectors M.
        monitor_every: record the gradient monitors every this many steps (0: no monitoring).
        progress: show a bar (None: inside a CLI progress session or on a terminal).

    Returns:
        A :class:`GANRun`.

    Raises:
        ShapeError / ValidationError: bad images (shape, NaN, outside [0, 1]) or settings,
            before any training.
        CheckpointError: ``resume`` with a checkpoint that is corrupt or belongs to another model.
        NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint is kept).
    """
    from ..train import Trainer

    if not isinstance(model, GAN):
        raise ValidationError(f"model must be a GAN, got {type(model).__name__}")
    _validate_images(model, images)
    epochs = check_int(epochs, name="epochs", low=1)
    batch_size = check_int(batch_size, name="batch_size", low=1)
    check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    lr_d = lr if lr_d is None else check_in_range(lr_d, name="lr_d", low=0.0, low_inclusive=False)
    for i, b in enumerate(betas):
        check_in_range(b, name=f"betas[{i}]", low=0.0, high=1.0, high_inclusive=False)
    check_int(checkpoint_every, name="checkpoint_every", low=1)
    check_int(grid_every, name="grid_every", low=1)
    check_int(n_fixed, name="n_fixed", low=1)
    check_int(monitor_every, name="monitor_every", low=0)
    if resume and out_dir is None:
        raise ValidationError("resume=True needs out_dir (the folder holding the checkpoint)")

    adam_betas = (float(betas[0]), float(betas[1]))
    optimizers = {
        "discriminator": torch.optim.Adam(
            model.discriminator.parameters(), lr=lr_d, betas=adam_betas
        ),
        "generator": torch.optim.Adam(model.generator.parameters(), lr=lr, betas=adam_betas),
    }
    run = GANRun(
        fixed_noise=torch.randn(n_fixed, model.latent_dim, generator=torch_generator(seed + 1))
    )
    hooks = _GANHooks(
        model,
        run,
        Path(out_dir) if out_dir is not None else None,
        grid_every=grid_every,
        monitor_every=monitor_every,
    )
    trainer = Trainer(
        model,
        optimizers=optimizers,
        step=gan_step(seed),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[hooks],
        seed=seed,
        device=device,
        checkpoint_dir=out_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_meta={"kind": "gan", "model": model.config},
        distributed_modules=("generator", "discriminator"),
        progress=progress,
        description="GAN",
    )
    trainer.fit((images,), resume=resume)
    run.history = trainer.history
    run.gradients = hooks.finish()
    if trainer.distributed:
        torch.distributed.barrier()
    return run


def gan_step(seed: int) -> StepFn:
    """The :class:`~nndl.train.Trainer` step of :func:`train_gan`: one D update, then one g update.

    Expects a trainer over a :class:`GAN` with optimisers ``"discriminator"`` and
    ``"generator"`` and a batch ``(real,)`` of Tensor[B, C, H, W]. The noise is
    :func:`_step_noise` (seed, trainer.step) for the global batch, of which each rank takes
    every ``world_size``-th row.

    Returns:
        The step; it returns ``loss_d``, ``loss_g`` and ``d_real`` / ``d_fake`` (mean D(x) on
        the real and generated images), which the trainer averages over each epoch.
    """

    def step(trainer: Trainer, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        gan = trainer.module
        if not isinstance(gan, GAN):
            raise ValidationError(f"gan_step trains a GAN, got {type(gan).__name__}")
        real = batch[0]
        b = real.shape[0]
        z = _step_noise(seed, trainer.step, b * trainer.world, gan.latent_dim)
        z = z[trainer.rank :: trainer.world].to(real.device)
        gen, disc = trainer.parallel("generator"), trainer.parallel("discriminator")
        # discriminator step: real and generated images in one forward pass
        fake = gen(z)
        logits = disc(torch.cat([real, fake.detach()])).squeeze(1)
        loss_d = discriminator_loss(logits[:b], logits[b:])
        trainer.optimize(loss_d, "discriminator")
        # generator step through the updated discriminator (its parameters frozen)
        gan.discriminator.requires_grad_(False)
        try:
            loss_g = generator_loss(gan.discriminator(fake).squeeze(1), gan.non_saturating)
            trainer.optimize(loss_g, "generator")
        finally:
            gan.discriminator.requires_grad_(True)
        with torch.no_grad():
            probs = torch.sigmoid(logits)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": probs[:b].mean(),
            "d_fake": probs[b:].mean(),
        }

    return step


class _GANHooks(Callback):
    """What :func:`train_gan` adds to the Trainer: gradient monitors of both networks, the
    fixed-noise grids, and their files beside each checkpoint (rank 0)."""

    def __init__(
        self,
        model: GAN,
        run: GANRun,
        out: Path | None,
        *,
        grid_every: int,
        monitor_every: int,
    ):
        self.model, self.run, self.out = model, run, out
        self.grid_every, self.monitor_every = grid_every, monitor_every
        self.monitors: dict[str, Any] = {}
        self.offset = 0  # global step at which the monitors started counting
        self.earlier: list[dict[str, Any]] = []
        self.first_step = 0

    def on_train_start(self, trainer: Trainer) -> None:
        resumed = trainer.step > 0
        if resumed and self.out is not None:
            self.run.fixed_samples = _load_fixed_samples(self.out / FIXED_NOISE_NAME)
        gen_mod, disc_mod = self.model.generator, self.model.discriminator
        self.monitors = _make_monitors(
            gen_mod,
            disc_mod,
            self.monitor_every,
            trainer.optimizers["generator"],
            trainer.optimizers["discriminator"],
        )
        self.offset = trainer.step
        records = self.out / "gradients.json" if self.out is not None else None
        if self.monitors and resumed and records is not None and records.exists():
            self.earlier = _load_gradient_records(records, before=trainer.step)
        self._snapshot(trainer, trainer.epoch)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.first_step = trainer.step

    def on_after_backward(self, trainer: Trainer) -> None:
        if self.monitors and trainer.active_optimizer in self.monitors:
            self.monitors[trainer.active_optimizer].record()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        row = {"epoch": logs.pop("epoch"), "step": trainer.step, **logs}
        for name, mon in self.monitors.items():
            row[f"grad_{name}"] = _summarise_gradients(mon.history, self.first_step - self.offset)
        logs.clear()
        logs.update(row)  # the same dict is the trainer's history row
        self._snapshot(trainer, epoch + 1)

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        out = path.parent
        grids = {f"epoch.{e}": s for e, s in self.run.fixed_samples.items()}
        if self.run.fixed_noise is not None:
            grids["noise"] = self.run.fixed_noise
        save_checkpoint(
            out / FIXED_NOISE_NAME,
            grids,
            {"kind": "gan_fixed_noise", "epochs": sorted(self.run.fixed_samples)},
        )
        scale = 4 if max(self.model.data_shape[1:]) <= 16 else 1
        for e, s in self.run.fixed_samples.items():
            png = out / "fixed_noise" / f"epoch_{e:04d}.png"
            if not png.exists():
                save_image_grid(png, s, scale=scale)
        if self.monitors:
            atomic_write_json(
                out / "gradients.json", self.earlier + _monitor_records(self.monitors, self.offset)
            )

    def finish(self) -> list[dict[str, Any]]:
        """Detach the monitors; all gradient records, earlier sessions' included."""
        for mon in self.monitors.values():
            mon.detach()
        return self.earlier + _monitor_records(self.monitors, self.offset)

    def _snapshot(self, trainer: Trainer, epoch: int) -> None:
        """g(fixed noise) at ``epoch`` on rank 0, every ``grid_every`` epochs and at the end."""
        due = epoch % self.grid_every == 0 or epoch == trainer.epochs
        if trainer.rank != 0 or not due or epoch in self.run.fixed_samples:
            return
        if self.run.fixed_noise is None:
            return
        gen = self.model.generator
        with torch.no_grad():
            gen.eval()
            self.run.fixed_samples[epoch] = gen(self.run.fixed_noise.to(trainer.device)).cpu()
            gen.train()


def _make_monitors(
    gen: nn.Module,
    disc: nn.Module,
    every: int,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
) -> dict[str, Any]:
    """One :class:`~nndl.diagnostics.GradientMonitor` per network, watching its optimiser.

    Activation statistics are off: the discriminator runs twice per step (D step and G step),
    and the fixed-noise snapshots run the generator outside the training steps.
    """
    if every == 0:
        return {}
    from ..diagnostics import GradientMonitor

    monitors = {
        "generator": GradientMonitor(gen, every=every, activations=False),
        "discriminator": GradientMonitor(disc, every=every, activations=False),
    }
    monitors["generator"].watch_optimizer(opt_g)
    monitors["discriminator"].watch_optimizer(opt_d)
    return monitors


def _monitor_records(monitors: dict[str, Any], offset: int) -> list[dict[str, Any]]:
    """The monitors' rows with ``network`` added and ``step`` made global (monitors count from
    0 at each (re)start, which was global step ``offset``), ordered by step, D before g."""
    rows = [
        {"network": name, **rec, "step": int(rec["step"]) + offset}
        for name, mon in monitors.items()
        for rec in mon.history
    ]
    return sorted(rows, key=lambda r: (r["step"], r["network"] != "discriminator"))
