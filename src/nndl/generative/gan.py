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
from torch.utils.data import DistributedSampler, TensorDataset

from .._io import atomic_write, ensure_dir
from .._progress import ProgressTask, task
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

__all__ = [
    "GAN",
    "GAN_ARCHS",
    "MODEL_FILE",
    "GANRun",
    "discriminator_loss",
    "generator_loss",
    "image_grid",
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
class GAN(nn.Module):
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
        self.data_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
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

    # -- configuration and checkpoints -----------------------------------------------------
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

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write both networks and :attr:`config` as safetensors + JSON (see from_checkpoint)."""
        from ..train import save_checkpoint

        tensors = {f"model.{k}": v for k, v in self.state_dict().items()}
        return save_checkpoint(path, tensors, {"kind": _KIND, "config": self.config})

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device = "cpu"
    ) -> GAN:
        """Rebuild a GAN written by :meth:`save` (a ``.safetensors`` file, or a folder holding
        ``gan.safetensors``).

        Raises:
            CheckpointError: the file is missing, corrupt, not a GAN checkpoint, or its weights
                do not fit its config.
        """
        from ..train import CheckpointError, load_checkpoint

        path = Path(path)
        if path.is_dir():
            path = path / MODEL_FILE
        tensors, meta = load_checkpoint(path, device=device)
        if meta.get("kind") != _KIND or not isinstance(meta.get("config"), dict):
            raise CheckpointError(
                f"checkpoint {str(path)!r} is not a GAN checkpoint (kind {meta.get('kind')!r}); "
                "write one with GAN.save"
            )
        try:
            model = cls(**meta["config"])
            model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        except (RuntimeError, TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit its GAN config: {exc}"
            ) from None
        return model.to(device)

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

    Every step takes a global batch of real images (the order of epoch e is
    ``DistributedSampler(seed=seed).set_epoch(e)``, as in :class:`nndl.train.Trainer`) and the
    noise :func:`_step_noise` (seed, step); it updates D once on ``L_D`` (real and generated
    images in one forward pass), then g once on ``L_G`` through the updated D.

    Under ``torchrun`` both networks are wrapped in DistributedDataParallel and each rank takes
    every ``world_size``-th image and noise vector of the global batch, so the averaged gradients
    equal the single-process ones (when N is a multiple of the number of processes; otherwise
    ``DistributedSampler`` pads the last batch by repeating images, as in the Trainer); only
    rank 0 writes files and shows progress.

    With ``out_dir``, the folder receives after every ``checkpoint_every`` epochs (and the last)
    ``checkpoint.safetensors`` (+ ``.json``): both networks, both optimisers, epoch, step and
    history; ``fixed_noise.safetensors`` (the fixed noise and every grid snapshot) and
    ``fixed_noise/epoch_XXXX.png``; and ``gradients.json`` (the monitors' records).

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
    """
    from ..train import (
        CheckpointError,
        init_distributed,
        load_checkpoint,
        pack_optimizer_state,
        rank,
        save_checkpoint,
        unpack_optimizer_state,
        world_size,
    )

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
    dev = torch.device(device)
    distributed = init_distributed(dev)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())  # LOCAL_RANK's GPU under DDP
    world, rk = world_size(), rank()
    if batch_size % world:
        raise ValidationError(
            f"batch_size must be divisible by the number of processes ({world}), got {batch_size}"
        )
    out = ensure_dir(out_dir) if out_dir is not None and rk == 0 else None
    out_path = Path(out_dir) if out_dir is not None else None

    model.to(dev).train()
    gen_mod, disc_mod = model.generator, model.discriminator
    gen: nn.Module = gen_mod
    disc: nn.Module = disc_mod
    if distributed:
        ids = [dev.index] if dev.type == "cuda" else None
        gen = nn.parallel.DistributedDataParallel(gen_mod, device_ids=ids)
        disc = nn.parallel.DistributedDataParallel(disc_mod, device_ids=ids)
    opt_g = torch.optim.Adam(gen_mod.parameters(), lr=lr, betas=tuple(betas))
    opt_d = torch.optim.Adam(disc_mod.parameters(), lr=lr_d, betas=tuple(betas))

    run = GANRun(
        fixed_noise=torch.randn(n_fixed, model.latent_dim, generator=torch_generator(seed + 1))
    )
    epoch0, step = 0, 0
    ckpt = out_path / CHECKPOINT_NAME if out_path is not None else None
    if resume and ckpt is not None and ckpt.exists():
        tensors, meta = load_checkpoint(ckpt, device=dev)
        if meta.get("kind") != "gan" or meta.get("model") != model.config:
            raise CheckpointError(
                f"checkpoint {str(ckpt)!r} belongs to another model "
                f"(kind {meta.get('kind')!r}, model {meta.get('model')}); expected a GAN "
                f"{model.config}"
            )
        try:
            gen_mod.load_state_dict(
                {k[10:]: v for k, v in tensors.items() if k.startswith("generator.")}
            )
            disc_mod.load_state_dict(
                {k[14:]: v for k, v in tensors.items() if k.startswith("discriminator.")}
            )
            opt_g.load_state_dict(unpack_optimizer_state(tensors, meta["optim_g"], "optim_g."))
            opt_d.load_state_dict(unpack_optimizer_state(tensors, meta["optim_d"], "optim_d."))
            epoch0, step = int(meta["epoch"]), int(meta["step"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {str(ckpt)!r} does not fit this GAN: {exc}"
            ) from None
        run.history = list(meta.get("history", []))
        run.fixed_samples = _load_fixed_samples(out_path / FIXED_NOISE_NAME)

    monitors = _make_monitors(gen_mod, disc_mod, monitor_every, opt_g, opt_d)
    offset = step  # global step at which the monitors started counting
    earlier: list[dict[str, Any]] = []
    if monitors and resume and out_path is not None and (out_path / "gradients.json").exists():
        earlier = _load_gradient_records(out_path / "gradients.json", before=step)
    dataset = TensorDataset(images)
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rk, shuffle=True, seed=seed)
    per_rank = batch_size // world
    steps_per_epoch = math.ceil(len(sampler) / per_rank)

    def snapshot(epoch: int) -> None:
        if (
            rk == 0
            and (epoch % grid_every == 0 or epoch == epochs)
            and epoch not in run.fixed_samples
        ):
            with torch.no_grad():
                gen_mod.eval()
                run.fixed_samples[epoch] = gen_mod(run.fixed_noise.to(dev)).cpu()
                gen_mod.train()

    def save(epoch: int) -> None:
        if out is None:
            return
        tensors = {f"generator.{k}": v for k, v in gen_mod.state_dict().items()}
        tensors.update({f"discriminator.{k}": v for k, v in disc_mod.state_dict().items()})
        g_t, g_meta = pack_optimizer_state(opt_g, "optim_g.")
        d_t, d_meta = pack_optimizer_state(opt_d, "optim_d.")
        tensors.update(g_t)
        tensors.update(d_t)
        meta = {
            "kind": "gan",
            "model": model.config,
            "train": {
                "batch_size": batch_size,
                "lr": lr,
                "lr_d": lr_d,
                "betas": list(betas),
                "seed": seed,
                "n_fixed": n_fixed,
            },
            "epoch": epoch,
            "step": step,
            "history": run.history,
            "optim_g": g_meta,
            "optim_d": d_meta,
        }
        save_checkpoint(out / CHECKPOINT_NAME, tensors, meta)
        grids = {f"epoch.{e}": s for e, s in run.fixed_samples.items()}
        grids["noise"] = run.fixed_noise
        save_checkpoint(
            out / FIXED_NOISE_NAME,
            grids,
            {"kind": "gan_fixed_noise", "epochs": sorted(run.fixed_samples)},
        )
        for e, s in run.fixed_samples.items():
            png = out / "fixed_noise" / f"epoch_{e:04d}.png"
            if not png.exists():
                save_image_grid(png, s, scale=4 if max(model.data_shape[1:]) <= 16 else 1)
        if monitors:
            from .._io import atomic_write_json

            atomic_write_json(out / "gradients.json", earlier + _monitor_records(monitors, offset))

    snapshot(epoch0)
    show = progress if rk == 0 else False
    bar_ctx = task("GAN", (epochs - epoch0) * steps_per_epoch, show=show) if rk == 0 else None
    with bar_ctx if bar_ctx is not None else _null_task() as bar:
        for epoch in range(epoch0, epochs):
            sampler.set_epoch(epoch)
            order = torch.tensor(list(iter(sampler)), dtype=torch.long)
            first_step = step
            sums = torch.zeros(5, dtype=torch.float64)  # loss_d, loss_g, d_real, d_fake, count
            for start in range(0, len(order), per_rank):
                idx = order[start : start + per_rank]
                b = idx.numel()
                real = images[idx].to(dev, non_blocking=True)
                z = _step_noise(seed, step, b * world, model.latent_dim)[rk::world].to(dev)
                # discriminator step: real and generated images in one forward pass
                fake = gen(z)
                logits = disc(torch.cat([real, fake.detach()])).squeeze(1)
                loss_d = discriminator_loss(logits[:b], logits[b:])
                _check_finite_loss(loss_d, "discriminator", epoch, step)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                if monitors:
                    monitors["discriminator"].record()
                opt_d.step()
                # generator step through the updated discriminator (its parameters frozen)
                disc_mod.requires_grad_(False)
                fake_logits = disc_mod(fake).squeeze(1)
                loss_g = generator_loss(fake_logits, model.non_saturating)
                _check_finite_loss(loss_g, "generator", epoch, step)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                disc_mod.requires_grad_(True)
                if monitors:
                    monitors["generator"].record()
                opt_g.step()
                step += 1
                with torch.no_grad():
                    sums += torch.tensor(
                        [
                            float(loss_d) * b,
                            float(loss_g) * b,
                            float(torch.sigmoid(logits[:b]).sum()),
                            float(torch.sigmoid(logits[b:]).sum()),
                            b,
                        ],
                        dtype=torch.float64,
                    )
                bar.advance()
            if distributed:
                reduced = sums.to(dev)
                torch.distributed.all_reduce(reduced)
                sums = reduced.cpu()
            count = max(1.0, float(sums[4]))
            logs: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": step,
                "loss_d": float(sums[0]) / count,
                "loss_g": float(sums[1]) / count,
                "d_real": float(sums[2]) / count,
                "d_fake": float(sums[3]) / count,
            }
            for name, mon in monitors.items():
                logs[f"grad_{name}"] = _summarise_gradients(mon.history, first_step - offset)
            run.history.append(logs)
            bar.status(f"D {logs['loss_d']:.3f} G {logs['loss_g']:.3f}")
            snapshot(epoch + 1)
            if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs:
                save(epoch + 1)
    for mon in monitors.values():
        mon.detach()
    run.gradients = earlier + _monitor_records(monitors, offset)
    if distributed:
        torch.distributed.barrier()
    return run


class _null_task:
    """A no-op progress bar for ranks other than 0."""

    def __enter__(self) -> ProgressTask:
        return ProgressTask(None, None)

    def __exit__(self, *exc: object) -> None:
        return None


def _check_finite_loss(loss: torch.Tensor, network: str, epoch: int, step: int) -> None:
    from ..train import NonFiniteLossError

    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"the {network} loss became {value} at epoch {epoch + 1}, step {step + 1}; training "
            "stopped before the update. Try a lower learning rate."
        )


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
