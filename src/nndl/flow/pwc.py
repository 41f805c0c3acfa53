r"""PWCNetLite: a small learned PWC-Net (Sun et al., CVPR 2018) and its training on synthetic pairs.

PWC-Net = **P**yramid, **W**arping, **C**ost volume. Both images go through one shared
convolutional feature pyramid. From the coarsest level to the finest, the coarser flow is
upsampled (×2 in size and value), the second image's features are backward-warped by it
(:func:`nndl.ops.warp`), a local cost volume (:func:`nndl.ops.cost_volume`, ``(2d+1)²``
channels, mean over channels as in the paper) compares them with the first image's features, and
a small convolutional decoder reads the cost volume, the first image's features and the
upsampled flow and predicts the residual flow of that level. The flow of the finest level
(half resolution) is upsampled to the input size.

Compared with the paper: three levels instead of six, far fewer channels, no context network
and no DenseNet connections — small enough to train on a CPU in minutes.

Training (:func:`pwc_loss`, :func:`train_pwc`) is supervised on :func:`make_flow_pairs` data: the
loss is the end-point error of every level against the ground truth resized to that level,
measured in full-resolution pixels and averaged over levels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import ValidationError, check_in_range, check_int
from ..ops import cost_volume, warp
from ..train import Callback, CheckpointError, Trainer, load_checkpoint, save_checkpoint
from ._checks import check_flow, check_image_pair, to_gray
from .classical import upsample_flow

__all__ = ["PWCNetLite", "load_pwc", "pwc_loss", "save_pwc", "train_pwc"]

_KIND = "pwc_net_lite"


def _conv(c_in: int, c_out: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)]
    if act:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class PWCNetLite(nn.Module):
    """A small PWC-Net: a four-level feature pyramid, flow decoded on the three coarsest levels.

    As in the paper, the finest pyramid level (1/2 resolution) only feeds the next one; flow is
    estimated from the coarsest level down to 1/4 resolution and then upsampled bilinearly.

    Args:
        in_channels: image channels (1 = grey).
        channels: feature channels of the pyramid levels, finest first (one level per entry;
            level ``l`` has resolution ``1 / 2^(l+1)``).
        max_displacement: ``d`` of the cost volume at every level.
        decoder_channels: hidden channels of each level's flow decoder.

    Shape:
        ``forward(img1, img2)``: two Tensor[B, C, H, W] -> flow Tensor[B, 2, H, W] (pixels,
        channel 0 = horizontal ``u``; ``img1(x) ≈ img2(x + flow(x))``).

    Example:
        >>> net = PWCNetLite()
        >>> net(torch.rand(2, 1, 32, 48), torch.rand(2, 1, 32, 48)).shape
        torch.Size([2, 2, 32, 48])
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 24, 32, 48),
        max_displacement: int = 4,
        decoder_channels: Sequence[int] = (32, 16),
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, name="in_channels", low=1)
        self.channels = tuple(check_int(c, name="channels", low=1) for c in channels)
        if not self.channels:
            raise ValidationError("channels must have at least one level")
        self.max_displacement = check_int(max_displacement, name="max_displacement", low=0)
        self.decoder_channels = tuple(
            check_int(c, name="decoder_channels", low=1) for c in decoder_channels
        )
        self.features = nn.ModuleList()
        c_prev = self.in_channels
        for c in self.channels:
            self.features.append(nn.Sequential(_conv(c_prev, c, stride=2), _conv(c, c)))
            c_prev = c
        # flow is decoded on every level but the finest (unless there is only one)
        self.output_level = 1 if len(self.channels) > 1 else 0
        n_cv = (2 * self.max_displacement + 1) ** 2
        self.decoders = nn.ModuleList()
        for c in self.channels[self.output_level :]:
            layers: list[nn.Module] = []
            c_in = n_cv + c + 2
            for hidden in self.decoder_channels:
                layers.append(_conv(c_in, hidden))
                c_in = hidden
            layers.append(_conv(c_in, 2, act=False))
            self.decoders.append(nn.Sequential(*layers))

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (stored in checkpoints)."""
        return {
            "in_channels": self.in_channels,
            "channels": list(self.channels),
            "max_displacement": self.max_displacement,
            "decoder_channels": list(self.decoder_channels),
        }

    def _pyramid(self, img: Tensor) -> list[Tensor]:
        # each image standardised on its own: the features do not depend on exposure
        mean = img.mean((1, 2, 3), keepdim=True)
        std = img.std((1, 2, 3), keepdim=True).clamp_min(1e-3)
        feats, x = [], (img - mean) / std
        for block in self.features:
            x = block(x)
            feats.append(x)
        return feats

    def forward_levels(self, img1: Tensor, img2: Tensor) -> list[Tensor]:
        """The flow of every decoded level, coarsest first, at its level's size and in its pixels.

        Pyramid level ``l`` (0 = finest) has size about ``H / 2^(l+1) × W / 2^(l+1)``; the last
        flow returned is that of :attr:`output_level`.
        """
        a, b, _ = check_image_pair(img1, img2, names=("img1", "img2"))
        if a.shape[1] != self.in_channels:
            raise ValidationError(
                f"img1 must have {self.in_channels} channel(s) for this model, got {a.shape[1]}"
            )
        pyr1, pyr2 = self._pyramid(a), self._pyramid(b)
        flows: list[Tensor] = []
        flow: Tensor | None = None
        for level in reversed(range(self.output_level, len(self.channels))):
            f1, f2 = pyr1[level], pyr2[level]
            if flow is None:
                flow = f1.new_zeros(f1.shape[0], 2, *f1.shape[-2:])
                warped = f2
            else:
                flow = upsample_flow(flow, (f1.shape[-2], f1.shape[-1]))
                warped = warp(f2, flow)
            cv = cost_volume(f1, warped, self.max_displacement, normalize="l2", reduction="sum")
            decoder = self.decoders[level - self.output_level]
            flow = flow + decoder(torch.cat([cv, f1, flow], 1))
            flows.append(flow)
        return flows

    def forward(self, img1: Tensor, img2: Tensor) -> Tensor:
        finest = self.forward_levels(img1, img2)[-1]
        return upsample_flow(finest, (img1.shape[-2], img1.shape[-1]))

    @torch.no_grad()
    def predict(self, img1: Tensor, img2: Tensor) -> Tensor:
        """Flow for images of any channel count, in eval mode, without gradients.

        Args:
            img1, img2: Tensor[C, H, W] or Tensor[B, C, H, W]; RGB is converted to grey when the
                model takes one channel.

        Returns:
            Tensor[2, H, W] or Tensor[B, 2, H, W] (as the input).
        """
        a, b, squeezed = check_image_pair(img1, img2, names=("img1", "img2"), min_size=2)
        if self.in_channels == 1 and a.shape[1] != 1:
            a, b = to_gray(a), to_gray(b)
        param = next(self.parameters())
        was_training = self.training
        self.eval()
        try:
            flow = self(a.to(param), b.to(param)).to(img1.dtype)
        finally:
            self.train(was_training)
        return flow[0] if squeezed else flow


def _resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-average a flow to a smaller ``size`` and rescale its vectors (per-level targets)."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="area")
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device)
    return out * scale.view(1, 2, 1, 1)


def pwc_loss(model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
    r"""Multi-level end-point error for a batch ``(img1, img2, flow)``.

    .. math:: \mathcal{L} = \frac{1}{L} \sum_l \operatorname{mean}_p
              \big\lVert s_l \big(\hat f_l(p) - f^*_l(p)\big) \big\rVert_2

    with :math:`f^*_l` the ground truth area-averaged to level ``l``'s size and rescaled to its
    pixels, and :math:`s_l` the factor back to full-resolution pixels, so every level's error is
    in the same unit.
    """
    img1, img2, target = batch[0], batch[1], batch[2]
    net = model.module if hasattr(model, "module") else model
    levels = net.forward_levels(img1, img2)
    total = img1.new_zeros(())
    for flow in levels:
        size = (flow.shape[-2], flow.shape[-1])
        gt = _resize_flow(target, size)
        scale = target.shape[-1] / size[1]
        total = total + (flow - gt).pow(2).sum(1).add(1e-12).sqrt().mean() * scale
    return total / len(levels)


def save_pwc(model: PWCNetLite, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Write ``model``'s weights and constructor arguments (safetensors + JSON, no pickle)."""
    tensors = dict(model.state_dict())
    return save_checkpoint(path, tensors, {"kind": _KIND, "config": model.config, **metadata})


def load_pwc(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> PWCNetLite:
    """Rebuild a :class:`PWCNetLite` saved by :func:`save_pwc` (or ``nndl train pwc``).

    Raises:
        CheckpointError: missing/corrupt file, or not a PWCNetLite checkpoint.
    """
    tensors, meta = load_checkpoint(path, device=device)
    if meta.get("kind") != _KIND:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a PWCNetLite checkpoint (kind {meta.get('kind')!r}); "
            "write one with nndl.flow.save_pwc or `nndl train pwc`"
        )
    model = PWCNetLite(**meta["config"]).to(device)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit PWCNetLite: {exc}") from None
    model.eval()
    return model


class _CosineLR(Callback):
    """Cosine learning-rate decay from ``lr`` to 0 over ``total`` steps, set from ``trainer.step``.

    Reading the step from the trainer (restored from its checkpoints) keeps the schedule right
    when training resumes.
    """

    def __init__(self, lr: float, total: int) -> None:
        self.lr = lr
        self.total = max(1, total)

    def _set(self, trainer: Trainer) -> None:
        t = min(trainer.step, self.total) / self.total
        for group in trainer.optimizer.param_groups:
            group["lr"] = 0.5 * self.lr * (1 + math.cos(math.pi * t))

    def on_train_start(self, trainer: Trainer) -> None:
        self._set(trainer)

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        self._set(trainer)


def train_pwc(
    model: PWCNetLite,
    train: tuple[Tensor, Tensor, Tensor],
    *,
    epochs: int,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    validation: tuple[Tensor, Tensor, Tensor] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` on ``(img1, img2, flow)`` tensors with Adam and :func:`pwc_loss`.

    Uses :class:`nndl.train.Trainer` (so progress bars, checkpoints every epoch in
    ``checkpoint_dir`` and ``resume`` work as everywhere in nndl). The learning rate follows a
    cosine schedule over all steps.

    Args:
        model: the network.
        train: ``(img1, img2, flow)``: Tensor[N, C, H, W] ×2 and Tensor[N, 2, H, W].
        epochs, batch_size, lr, seed, device: as for :class:`~nndl.train.Trainer`.
        validation: optional held-out ``(img1, img2, flow)``; its mean end-point error is
            logged after every epoch as ``val_epe``.
        checkpoint_dir, resume, progress: passed to the trainer.

    Returns:
        The trainer's history (one dict per epoch: ``loss`` and, with validation, ``val_epe``).
    """
    img1, img2, flow = train
    a, _, _ = check_image_pair(img1, img2, names=("img1", "img2"))
    f, _ = check_flow(flow, name="flow")
    if f.shape[0] != a.shape[0] or f.shape[-2:] != a.shape[-2:]:
        raise ValidationError(
            f"flow must have shape ({a.shape[0]}, 2, {a.shape[2]}, {a.shape[3]}), "
            f"got {tuple(f.shape)}"
        )
    lr = check_in_range(lr, name="lr", low=0.0, low_inclusive=False)
    epochs = check_int(epochs, name="epochs", low=1)
    batch_size = check_int(batch_size, name="batch_size", low=1)
    steps = epochs * -(-a.shape[0] // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    metrics: dict[str, Callable[[nn.Module], float]] = {}
    if validation is not None:
        v1, v2, vf = (t.to(device) for t in validation)

        def val_epe(m: nn.Module) -> float:
            pred = m(v1, v2)
            return float((pred - vf).pow(2).sum(1).sqrt().mean())

        metrics["val_epe"] = val_epe
    trainer = Trainer(
        model,
        optimizer,
        pwc_loss,
        epochs=epochs,
        batch_size=batch_size,
        metrics=metrics,
        callbacks=[_CosineLR(lr, steps)],
        seed=seed,
        device=device,
        checkpoint_dir=checkpoint_dir,
        progress=progress,
        description="train PWCNetLite",
    )
    return trainer.fit((img1, img2, flow), resume=resume)
