r"""PWCNetLite: a small learned PWC-Net (Sun et al., CVPR 2018) and its training on synthetic pairs.

PWC-Net = **P**yramid, **W**arping, **C**ost volume. Both images go through one shared
convolutional feature pyramid. From the coarsest level to the finest, the coarser flow is
upsampled (×2 in size and value), the second image's features are backward-warped by it
(:func:`nndl.ops.warp`), a local cost volume (:func:`nndl.ops.cost_volume`, ``(2d+1)²``
channels, mean over channels as in the paper) compares them with the first image's features, and
a small convolutional decoder reads the cost volume, the first image's features and the
upsampled flow and predicts the residual flow of that level. At the output level a context
network of dilated convolutions (the paper's refinement) reads the decoder's last features and
the flow and adds a residual that can use a wide neighbourhood (by default dilations 1, 2, 4,
1 and a last 3 × 3 layer: a receptive field of 19 level pixels, 76 input pixels).

The output level's flow is brought to the input size by **convex upsampling** (Teed & Deng,
RAFT, ECCV 2020; :func:`convex_upsample`): for each coarse pixel a small head on the same
features predicts, for each of the ``s × s`` fine pixels it covers, softmax weights over its
3 × 3 coarse neighbours; the fine flow is that convex combination of ``s ×`` the coarse flows.
Bilinear upsampling is the special case of fixed weights; learned weights can take a fine pixel
at a motion boundary from the side it belongs to instead of blending both.

Compared with the paper: four pyramid levels instead of six, far fewer channels, no DenseNet
connections, output at 1/4 resolution upsampled as in RAFT — small enough to train on a CPU in
minutes.

Training (:func:`pwc_loss`, :func:`train_pwc`) is supervised on :func:`make_flow_pairs` data: the
loss is the end-point error of every level and of the full-size output against the ground truth
resized to each, measured in full-resolution pixels and averaged. :data:`PWC_RECIPE` is the
recipe of the weights shipped in the package (``nndl train pwc`` with its defaults; data from
:func:`pwc_training_data`); :meth:`PWCNetLite.pretrained` loads them without a download. The
model card (``docs/pwc_model_card.md``) gives the data, command, seed and measured errors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import (
    DTypeError,
    ValidationError,
    check_choice,
    check_dtype,
    check_in_range,
    check_int,
    check_same_device,
    check_shape,
)
from ..ops import cost_volume, warp
from ..train import Callback, CheckpointError, Trainer, load_model, save_model
from ._checks import check_flow, check_image_pair, to_gray
from .classical import upsample_flow
from .synthetic import FLOW_KINDS, HELDOUT_IMAGES, TRAIN_IMAGES, FlowPairs, make_flow_pairs

__all__ = [
    "PRETRAINED_FILE",
    "PWC_RECIPE",
    "PWCNetLite",
    "PWCRecipe",
    "convex_upsample",
    "flip_augment",
    "load_pwc",
    "pretrained_path",
    "pwc_loss",
    "pwc_training_data",
    "save_pwc",
    "train_pwc",
]

_KIND = "nndl.flow.PWCNetLite"
#: file name of the shipped weights in ``nndl/flow/weights/``.
PRETRAINED_FILE = "pwc_lite.safetensors"


def _conv(c_in: int, c_out: int, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)]
    if act:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class PWCNetLite(nn.Module):
    """A small PWC-Net: a four-level feature pyramid, flow decoded coarse to fine.

    By default (as in the paper) the finest pyramid level (1/2 resolution) only feeds the next
    one; flow is estimated from the coarsest level down to 1/4 resolution, refined by the
    context network and upsampled ×4 by :func:`convex_upsample`.

    Args:
        in_channels: image channels (1 = grey).
        channels: feature channels of the pyramid levels, finest first (one level per entry;
            level ``l`` has resolution ``1 / 2^(l+1)``).
        max_displacement: ``d`` of the cost volume at every level.
        decoder_channels: hidden channels of each level's flow decoder.
        output_level: the finest decoded pyramid level (0 = 1/2 resolution, 1 = 1/4 ...).
        upsampling: ``"convex"`` (learned, RAFT) or ``"bilinear"`` from the output level to
            the input size.
        context_channels: channels of the context network's dilated convolutions (dilations
            1, 2, 4, 8, 16 … and a last 1); empty for none.

    Shape:
        ``forward(img1, img2)``: two Tensor[B, C, H, W] -> flow Tensor[B, 2, H, W] (pixels,
        channel 0 = horizontal ``u``; ``img1(x) ≈ img2(x + flow(x))``). ``H`` and ``W`` must be
        at least :attr:`min_size` (``2^levels``) and the images finite.

    Example:
        >>> net = PWCNetLite()
        >>> net(torch.rand(2, 1, 32, 48), torch.rand(2, 1, 32, 48)).shape
        torch.Size([2, 2, 32, 48])
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32, 48, 64),
        max_displacement: int = 4,
        decoder_channels: Sequence[int] = (64, 48, 32),
        output_level: int = 1,
        upsampling: str = "convex",
        context_channels: Sequence[int] = (32, 32, 32, 32),
    ) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, name="in_channels", low=1, high=64)
        if isinstance(channels, str | bytes) or not isinstance(channels, Sequence):
            raise ValidationError(f"channels must be a sequence of ints, got {channels!r}")
        self.channels = tuple(check_int(c, name="channels", low=1, high=4096) for c in channels)
        if not self.channels or len(self.channels) > 8:
            raise ValidationError(f"channels must have 1 to 8 levels, got {len(self.channels)}")
        self.max_displacement = check_int(max_displacement, name="max_displacement", low=0, high=16)
        self.decoder_channels = tuple(
            check_int(c, name="decoder_channels", low=1, high=4096) for c in decoder_channels
        )
        self.features = nn.ModuleList()
        c_prev = self.in_channels
        for c in self.channels:
            self.features.append(nn.Sequential(_conv(c_prev, c, stride=2), _conv(c, c)))
            c_prev = c
        self.output_level = check_int(
            output_level, name="output_level", low=0, high=len(self.channels) - 1
        )
        self.upsampling = check_choice(upsampling, ("bilinear", "convex"), name="upsampling")
        if isinstance(context_channels, str | bytes) or not isinstance(context_channels, Sequence):
            raise ValidationError(
                f"context_channels must be a sequence of ints, got {context_channels!r}"
            )
        self.context_channels = tuple(
            check_int(c, name="context_channels", low=1, high=4096) for c in context_channels
        )
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
        c_feat = self.decoder_channels[-1]
        # context network (PWC-Net's refinement): dilated 3x3 convolutions over the finest
        # decoder's last features and flow, dilations 1, 2, 4, ... and 1 before the output
        self.context: nn.Sequential | None = None
        if self.context_channels:
            n = len(self.context_channels)
            dilations = [2 ** min(i, 4) for i in range(n - 1)] + [1]
            layers, c_in = [], c_feat + 2
            for c, dil in zip(self.context_channels, dilations, strict=True):
                layers += [nn.Conv2d(c_in, c, 3, padding=dil, dilation=dil), nn.LeakyReLU(0.1)]
                c_in = c
            layers.append(nn.Conv2d(c_in, 2, 3, padding=1))
            self.context = nn.Sequential(*layers)
        # convex upsampling (RAFT): per coarse pixel, softmax weights over its 3x3 neighbours
        # for each of the s x s fine pixels it covers
        self.upsampler: nn.Sequential | None = None
        if self.upsampling == "convex":
            s = self.upsample_factor
            self.upsampler = nn.Sequential(
                _conv(c_feat + 2, 2 * c_feat), nn.Conv2d(2 * c_feat, 9 * s * s, 1)
            )

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (stored in checkpoints)."""
        return {
            "in_channels": self.in_channels,
            "channels": list(self.channels),
            "max_displacement": self.max_displacement,
            "decoder_channels": list(self.decoder_channels),
            "output_level": self.output_level,
            "upsampling": self.upsampling,
            "context_channels": list(self.context_channels),
        }

    @property
    def min_size(self) -> int:
        """The smallest image side the pyramid can represent: ``2^levels`` pixels."""
        return 2 ** len(self.channels)

    @property
    def upsample_factor(self) -> int:
        """How much larger the input is than the output level's flow: ``2^(output_level+1)``."""
        return 2 ** (self.output_level + 1)

    @property
    def decoded_levels(self) -> int:
        """How many pyramid levels decode a flow (the length of :meth:`forward_levels`)."""
        return len(self.channels) - self.output_level

    @classmethod
    def pretrained(cls, device: str | torch.device = "cpu") -> PWCNetLite:
        """The weights shipped with nndl (trained by ``nndl train pwc``; see the model card).

        Loaded from the package (``nndl/flow/weights/``), no download; in eval mode.

        Raises:
            CheckpointError: the packaged file is missing or corrupt (a broken install).
        """
        return load_pwc(pretrained_path(), device=device)

    def _pyramid(self, img: Tensor) -> list[Tensor]:
        # each image standardised on its own: the features do not depend on exposure
        mean = img.mean((1, 2, 3), keepdim=True)
        std = img.std((1, 2, 3), keepdim=True).clamp_min(1e-3)
        feats, x = [], (img - mean) / std
        for block in self.features:
            x = block(x)
            feats.append(x)
        return feats

    def _check_inputs(self, img1: Tensor, img2: Tensor) -> tuple[Tensor, Tensor]:
        a, b, _ = check_image_pair(img1, img2, names=("img1", "img2"), min_size=self.min_size)
        if a.shape[1] != self.in_channels:
            raise ValidationError(
                f"img1 must have {self.in_channels} channel(s) for this model, got {a.shape[1]}"
            )
        return a, b

    def forward_levels(
        self, img1: Tensor, img2: Tensor, *, warping: bool = True, levels: int | None = None
    ) -> list[Tensor]:
        """The flow of every decoded level, coarsest first, at its level's size and in its pixels.

        Pyramid level ``l`` (0 = finest) has size about ``H / 2^(l+1) × W / 2^(l+1)``; the last
        flow returned is that of :attr:`output_level`, after the context network.

        Args:
            img1, img2: Tensor[B, C, H, W], finite, sides >= :attr:`min_size`.
            warping: warp the second image's features by the upsampled flow before the cost
                volume (the PWC-Net design). ``False`` is the no-warping ablation: every level
                searches around zero displacement, so it can only add ``±d`` of its pixels.
            levels: decode only the ``levels`` finest decoded levels (1 … :attr:`decoded_levels`,
                default all), starting from zero flow: ``levels=1`` is the single-level
                ablation, whose search reaches ``±d`` pixels of the output level only.

        Returns:
            A list of Tensor[B, 2, h_l, w_l].
        """
        return self._decode(img1, img2, warping=warping, levels=levels)[0]

    def _decode(
        self, img1: Tensor, img2: Tensor, *, warping: bool = True, levels: int | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """:meth:`forward_levels` and the finest decoder's last features with the flow."""
        a, b = self._check_inputs(img1, img2)
        n_levels = self.decoded_levels if levels is None else levels
        n_levels = check_int(n_levels, name="levels", low=1, high=self.decoded_levels)
        pyr1, pyr2 = self._pyramid(a), self._pyramid(b)
        flows: list[Tensor] = []
        flow: Tensor | None = None
        feats = a
        first = self.output_level + n_levels - 1
        for level in reversed(range(self.output_level, first + 1)):
            f1, f2 = pyr1[level], pyr2[level]
            if flow is None:
                flow = f1.new_zeros(f1.shape[0], 2, *f1.shape[-2:])
                warped = f2
            else:
                flow = upsample_flow(flow, (f1.shape[-2], f1.shape[-1]))
                warped = warp(f2, flow) if warping else f2
            cv = cost_volume(f1, warped, self.max_displacement, normalize="l2", reduction="sum")
            decoder = cast(nn.Sequential, self.decoders[level - self.output_level])
            feats = decoder[:-1](torch.cat([cv, f1, flow], 1))
            flow = flow + decoder[-1](feats)
            flows.append(flow)
        assert flow is not None
        feats = torch.cat([feats, flow], 1)
        if self.context is not None:
            flows[-1] = flow = flow + self.context(feats)
            feats = torch.cat([feats[:, :-2], flow], 1)
        return flows, feats

    def _upsample(self, flow: Tensor, feats: Tensor, size: tuple[int, int]) -> Tensor:
        """The output level's flow at the input ``size`` (convex or bilinear upsampling)."""
        if self.upsampler is None:
            return upsample_flow(flow, size)
        fine = convex_upsample(flow, self.upsampler(feats), self.upsample_factor)
        return fine[..., : size[0], : size[1]]

    def forward(self, img1: Tensor, img2: Tensor, return_levels: bool = False) -> Any:
        """The flow at the input size, Tensor[B, 2, H, W]; with ``return_levels`` the list of
        :meth:`forward_levels` followed by that full-size flow (what the loss needs; going
        through ``forward`` keeps DDP's gradient synchronisation)."""
        levels, feats = self._decode(img1, img2)
        flow = self._upsample(levels[-1], feats, (img1.shape[-2], img1.shape[-1]))
        return [*levels, flow] if return_levels else flow

    @torch.no_grad()
    def predict(
        self,
        img1: Tensor,
        img2: Tensor,
        *,
        warping: bool = True,
        levels: int | None = None,
        return_levels: bool = False,
        symmetrize: bool = True,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Flow for images of any channel count, in eval mode, without gradients.

        With ``symmetrize`` (the default) the flow is the mean over the four flips of the
        pair, :math:`\\hat f(a, b) = \tfrac14 \\sum_{g} g^{-1} f(g a, g b)` for ``g`` in {identity,
        horizontal, vertical, both} (a flip mirrors the flow field and negates the flipped
        component). The network is trained on flipped pairs (:func:`flip_augment`) but is only
        approximately equivariant; the mean is exactly equivariant, as the classical estimator
        is by construction, and averages out part of the network's error (on the held-out
        benchmark 0.79 → 0.68 px; see the model card). The four flips run as one batch: about
        4× the cost of one pass. Level flows are averaged on their own grids (a flip moves a
        stride-2 grid by one input pixel, so they are a close, not exact, average).

        Args:
            img1, img2: Tensor[C, H, W] or Tensor[B, C, H, W], finite, sides >=
                :attr:`min_size`; RGB is converted to grey when the model takes one channel.
            warping, levels: as in :meth:`forward_levels` (the ablations).
            return_levels: also return every decoded level's flow, coarsest first.
            symmetrize: average over the four flips (False: one pass, what :meth:`forward`
                computes).

        Returns:
            Tensor[2, H, W] or Tensor[B, 2, H, W] (as the input); with ``return_levels`` a tuple
            ``(flow, [level flows])``.

        Raises:
            ShapeError: bad shapes or images smaller than :attr:`min_size`.
            ValidationError: non-finite pixels.
        """
        a, b, squeezed = check_image_pair(
            img1, img2, names=("img1", "img2"), min_size=self.min_size
        )
        if self.in_channels == 1 and a.shape[1] != 1:
            a, b = to_gray(a), to_gray(b)
        param = next(self.parameters())
        was_training = self.training
        self.eval()
        a, b = a.to(param), b.to(param)
        flips = _FLIPS if symmetrize else _FLIPS[:1]
        try:
            per_level, feats = self._decode(
                torch.cat([_flip(a, *g) for g in flips]),
                torch.cat([_flip(b, *g) for g in flips]),
                warping=warping,
                levels=levels,
            )
            flow = self._upsample(per_level[-1], feats, (a.shape[-2], a.shape[-1]))
        finally:
            self.train(was_training)
        flow, *per_level = [_unflip_mean(f, flips) for f in (flow, *per_level)]
        flow = flow.to(img1.dtype)
        per_level = [f.to(img1.dtype) for f in per_level]
        if squeezed:
            flow, per_level = flow[0], [f[0] for f in per_level]
        return (flow, per_level) if return_levels else flow


#: the flips of :meth:`PWCNetLite.predict`'s symmetrised inference: (horizontal, vertical).
_FLIPS: tuple[tuple[bool, bool], ...] = ((False, False), (True, False), (False, True), (True, True))


def _flip(x: Tensor, horizontal: bool, vertical: bool) -> Tensor:
    """Mirror Tensor[B, C, H, W] images left-right and/or top-bottom."""
    dims = [d for d, on in ((-1, horizontal), (-2, vertical)) if on]
    return x.flip(dims) if dims else x


def _flip_flow(flow: Tensor, horizontal: bool, vertical: bool) -> Tensor:
    """The flow Tensor[B, 2, H, W] of the mirrored pair: mirrored, flipped components negated.

    If ``img1(x) ≈ img2(x + f(x))``, the mirrored pair has ``f'(x') = (−u, v)(x)`` for a
    left-right mirror ``x' = (W − 1 − x, y)``, and likewise ``(u, −v)`` top-bottom. Its own
    inverse.
    """
    sign = flow.new_tensor([-1.0 if horizontal else 1.0, -1.0 if vertical else 1.0])
    return _flip(flow, horizontal, vertical) * sign.view(1, 2, 1, 1)


def _unflip_mean(flows: Tensor, flips: Sequence[tuple[bool, bool]]) -> Tensor:
    """Mean over the flips of ``flows`` Tensor[len(flips)·B, 2, h, w], each mapped back."""
    parts = flows.chunk(len(flips))
    return torch.stack([_flip_flow(f, *g) for f, g in zip(parts, flips, strict=True)]).mean(0)


def convex_upsample(flow: Tensor, mask: Tensor, factor: int) -> Tensor:
    r"""Upsample a flow by ``factor`` as convex combinations of coarse neighbours (RAFT).

    Fine pixel ``(s·i + k, s·j + m)`` (``s`` = ``factor``, ``0 ≤ k, m < s``) is

    .. math:: f_{\text{fine}} = s \sum_{n \in 3×3(i, j)} w_n \, f(n), \qquad
              w = \operatorname{softmax}_n\big(\text{mask}[:, (n, k, m), i, j]\big),

    a convex combination of the coarse flows around its coarse pixel (borders replicated), times
    ``s`` to convert to fine pixels. A constant flow stays exactly constant; with weights taken
    as the bilinear ones it is bilinear upsampling; learned weights can keep motion boundaries
    sharp instead of blending the two sides.

    Args:
        flow: Tensor[B, 2, h, w], in coarse pixels.
        mask: Tensor[B, 9·s·s, h, w] of logits, channel index ``(n · s + k) · s + m`` with ``n``
            the neighbour in row-major order over the 3 × 3 window.
        factor: ``s`` >= 1.

    Returns:
        Tensor[B, 2, s·h, s·w] in fine pixels.

    Raises:
        ShapeError: ``flow`` or ``mask`` of the wrong shape.
        DTypeError: ``flow`` or ``mask`` is not a floating-point tensor.
        ValidationError: ``flow`` and ``mask`` on different devices.
    """
    s = check_int(factor, name="factor", low=1, high=64)
    sizes = check_shape(flow, "B 2 h w", name="flow")
    sizes["K"] = 9 * s * s
    check_shape(mask, "B K h w", name="mask", sizes=sizes)
    check_dtype(flow, name="flow")
    check_dtype(mask, name="mask")
    check_same_device(flow, mask, names=("flow", "mask"))
    b, _, h, w = flow.shape
    weights = mask.reshape(b, 1, 9, s, s, h, w).softmax(2)
    padded = F.pad(flow * s, (1, 1, 1, 1), mode="replicate")
    neighbours = F.unfold(padded, 3).view(b, 2, 9, 1, 1, h, w)
    fine = (weights * neighbours).sum(2)  # (B, 2, s, s, h, w)
    return fine.permute(0, 1, 4, 2, 5, 3).reshape(b, 2, h * s, w * s)


def _resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-average a flow to a smaller ``size`` and rescale its vectors (per-level targets)."""
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="area")
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device)
    return out * scale.view(1, 2, 1, 1)


def pwc_loss(model: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
    r"""Multi-level end-point error for a batch ``(img1, img2, flow)``.

    .. math:: \mathcal{L} = \frac{1}{L + 1} \sum_{l=0}^{L} \operatorname{mean}_p
              \big\lVert s_l \big(\hat f_l(p) - f^*_l(p)\big) \big\rVert_2

    over the ``L`` decoded levels and the full-size output (``l = L``, :math:`s_L = 1`), with
    :math:`f^*_l` the ground truth area-averaged to level ``l``'s size and rescaled to its
    pixels, and :math:`s_l` the factor back to full-resolution pixels, so every term is in the
    same unit. The output term is the only one that trains the convex-upsampling head.
    """
    img1, img2, target = batch[0], batch[1], batch[2]
    levels: list[Tensor] = model(img1, img2, return_levels=True)
    total = img1.new_zeros(())
    for flow in levels:
        size = (flow.shape[-2], flow.shape[-1])
        gt = _resize_flow(target, size)
        scale = target.shape[-1] / size[1]
        total = total + (flow - gt).pow(2).sum(1).add(1e-12).sqrt().mean() * scale
    return total / len(levels)


def save_pwc(model: PWCNetLite, path: str | os.PathLike[str], **metadata: Any) -> Path:
    """Write ``model``'s weights and constructor arguments (safetensors + JSON, no pickle).

    ``metadata`` (JSON-able) is stored beside them, e.g. the recipe and the held-out error.
    """
    return save_model(model, path, kind=_KIND, config=model.config, **metadata)


def load_pwc(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> PWCNetLite:
    """Rebuild a :class:`PWCNetLite` saved by :func:`save_pwc` (or ``nndl train pwc``).

    The metadata are validated (kind, version, ``config``) before the model is built.

    Raises:
        CheckpointError: missing/corrupt file, metadata that is not a PWCNetLite checkpoint's,
            or weights that do not fit its config.
    """
    model, _ = load_model(path, _KIND, device=device, build=_build)
    if not isinstance(model, PWCNetLite):  # build= makes one; kept for the type checker
        raise CheckpointError(f"checkpoint {str(path)!r} did not build a PWCNetLite")
    model.eval()
    return model


#: constructor arguments of checkpoints written before they existed (bilinear output at 1/4).
_V1_DEFAULTS: dict[str, Any] = {"output_level": 1, "upsampling": "bilinear", "context_channels": []}


def _build(**config: Any) -> PWCNetLite:
    return PWCNetLite(**{**_V1_DEFAULTS, **config})


def pretrained_path() -> Path:
    """Where the shipped PWCNetLite weights live inside the installed package."""
    return Path(str(resources.files("nndl.flow") / "weights" / PRETRAINED_FILE))


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
        for optimizer in trainer.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * self.lr * (1 + math.cos(math.pi * t))

    def on_train_start(self, trainer: Trainer) -> None:
        self._set(trainer)

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        self._set(trainer)


def flip_augment(batch: tuple[Tensor, ...], generator: torch.Generator) -> tuple[Tensor, ...]:
    """A random symmetry of the square (flips, transpose) applied to a whole flow batch.

    ``(img1, img2, flow)`` with Tensor[B, C, H, W] images and Tensor[B, 2, H, W] flow: a
    horizontal flip negates ``u``, a vertical flip negates ``v``, a transpose (square images
    only) swaps ``u`` and ``v``; the pair stays consistent (``img1(x) ≈ img2(x + flow(x))``).
    """
    img1, img2, flow = batch[0], batch[1], batch[2]
    draws = torch.rand(3, generator=generator)
    horizontal, vertical = bool(draws[0] < 0.5), bool(draws[1] < 0.5)
    img1, img2 = _flip(img1, horizontal, vertical), _flip(img2, horizontal, vertical)
    flow = _flip_flow(flow, horizontal, vertical)
    if draws[2] < 0.5 and img1.shape[-1] == img1.shape[-2]:
        img1, img2 = img1.transpose(-1, -2), img2.transpose(-1, -2)
        flow = flow.transpose(-1, -2).flip(1)
    return img1, img2, flow


@dataclass(frozen=True)
class PWCRecipe:
    """The training recipe of the shipped weights (``nndl train pwc`` defaults).

    Data: ``pairs`` training pairs of ``size × size`` pixels from :data:`TRAIN_IMAGES`, flows
    of every kind in :data:`FLOW_KINDS` up to ``max_flow`` pixels, photometric changes on
    (:func:`make_flow_pairs`), random flips and transposes each step (:func:`flip_augment`);
    ``val_pairs`` validation pairs from :data:`HELDOUT_IMAGES`. Optimiser: Adam, cosine decay
    of ``lr`` to 0, batch ``batch_size``, ``epochs`` passes, gradient norm clipped to 10.
    """

    pairs: int = 4000
    val_pairs: int = 32
    size: int = 96
    max_flow: float = 12.0
    epochs: int = 12
    batch_size: int = 8
    lr: float = 1e-3
    seed: int = 0


#: the recipe of the shipped weights.
PWC_RECIPE = PWCRecipe()


def pwc_training_data(
    recipe: PWCRecipe = PWC_RECIPE,
) -> tuple[FlowPairs, FlowPairs]:
    """``(train, validation)`` pairs of ``recipe`` (seeded by ``recipe.seed``).

    Validation pairs come from :data:`HELDOUT_IMAGES` with another seed; the held-out
    benchmark (:func:`benchmark_pairs`) uses a third one.
    """

    def pairs(n: int, images: tuple[str, ...], seed: int) -> FlowPairs:
        return make_flow_pairs(
            n,
            (recipe.size, recipe.size),
            max_flow=recipe.max_flow,
            kinds=FLOW_KINDS,
            images=images,
            photometric=True,
            generator=torch.Generator().manual_seed(seed),
        )

    return (
        pairs(recipe.pairs, TRAIN_IMAGES, recipe.seed),
        pairs(recipe.val_pairs, HELDOUT_IMAGES, recipe.seed + 1),
    )


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
    augment: bool = True,
    callbacks: Sequence[Callback] = (),
) -> list[dict[str, Any]]:
    """Train ``model`` on ``(img1, img2, flow)`` tensors with Adam and :func:`pwc_loss`.

    Uses :class:`nndl.train.Trainer` (so progress bars, checkpoints every epoch in
    ``checkpoint_dir``, ``resume`` and DDP under ``torchrun`` work as everywhere in nndl). The
    learning rate follows a cosine schedule over all steps; with ``augment`` every batch gets a
    random :func:`flip_augment` (drawn from ``seed`` and the step number, so a resumed run
    draws what an uninterrupted one would).

    Args:
        model: the network.
        train: ``(img1, img2, flow)``: Tensor[N, C, H, W] ×2 and Tensor[N, 2, H, W].
        epochs, batch_size, lr, seed, device: as for :class:`~nndl.train.Trainer`.
        validation: optional held-out ``(img1, img2, flow)``; its mean end-point error is
            logged after every epoch as ``val_epe``.
        checkpoint_dir, resume, progress: passed to the trainer.
        augment: random flips and transposes of every batch.
        callbacks: more :class:`~nndl.train.Callback` objects for the trainer (after the
            learning-rate schedule).

    Returns:
        The trainer's history (one dict per epoch: ``loss`` and, with validation, ``val_epe``).

    Raises:
        ShapeError, ValidationError: bad tensors or settings (before any training).
    """
    if not isinstance(model, PWCNetLite):
        raise DTypeError(f"model must be a PWCNetLite, got {type(model).__name__}")
    img1, img2, flow = train
    a, _, _ = check_image_pair(img1, img2, names=("img1", "img2"), min_size=model.min_size)
    f, _ = check_flow(flow, name="flow")
    if f.shape[0] != a.shape[0] or f.shape[-2:] != a.shape[-2:]:
        raise ValidationError(
            f"flow must have shape ({a.shape[0]}, 2, {a.shape[2]}, {a.shape[3]}), "
            f"got {tuple(f.shape)}"
        )
    if not bool(torch.isfinite(f).all()):
        raise ValidationError("flow must be finite everywhere")
    lr = check_in_range(lr, name="lr", low=0.0, high=10.0, low_inclusive=False)
    epochs = check_int(epochs, name="epochs", low=1, high=100_000)
    batch_size = check_int(batch_size, name="batch_size", low=1, high=1_000_000)
    seed = check_int(seed, name="seed", low=0, high=2**63 - 1)
    if validation is not None:
        v1, v2, _ = check_image_pair(
            validation[0], validation[1], names=("validation img1", "validation img2")
        )
        vf, _ = check_flow(validation[2], name="validation flow")
        v1, v2, vf = v1.to(device), v2.to(device), vf.to(device)
    steps = epochs * -(-a.shape[0] // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    metrics: dict[str, Callable[[nn.Module], float]] = {}
    if validation is not None:

        def val_epe(m: nn.Module) -> float:
            with torch.no_grad():
                pred = torch.cat([m(v1[i : i + 16], v2[i : i + 16]) for i in range(0, len(v1), 16)])
            return float((pred - vf).pow(2).sum(1).sqrt().mean())

        metrics["val_epe"] = val_epe

    def step(trainer: Trainer, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        if augment:
            gen = torch.Generator().manual_seed(seed * 1_000_003 + trainer.step)
            batch = flip_augment(batch, gen)
        loss = pwc_loss(trainer.model, batch)
        trainer.optimize(loss)
        return {"loss": loss}

    trainer = Trainer(
        model,
        optimizer,
        step=step,
        epochs=epochs,
        batch_size=batch_size,
        metrics=metrics,
        callbacks=[_CosineLR(lr, steps), *callbacks],
        seed=seed,
        device=device,
        grad_clip=10.0,
        checkpoint_dir=checkpoint_dir,
        checkpoint_meta={"model": model.config, "augment": bool(augment)},
        progress=progress,
        description="train PWCNetLite",
    )
    return trainer.fit((img1, img2, flow), resume=resume)
