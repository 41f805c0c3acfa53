r"""Scoring flow estimators side by side: end-point error overall and per pyramid level.

:func:`flow_methods` names the estimators compared in the model card and the C3 experiment:

- ``"zero"``: the zero flow (the baseline every estimator must beat);
- ``"classical"``: :func:`~nndl.flow.estimate_flow` (pyramid + warping + cost volume);
- ``"classical single-level"``: one level (no pyramid), so one search of ``±d`` pixels
  (plus the Lucas–Kanade refinement);
- ``"classical no-warping"``: the pyramid without warping (``warping=False``);
- ``"pwc"``: :class:`~nndl.flow.PWCNetLite` (the shipped weights by default);
- ``"pwc single-level"`` / ``"pwc no-warping"``: the same trained network run with only its
  finest decoded level (search ``±d`` pixels of 1/4 resolution) or without warping
  (:meth:`~nndl.flow.PWCNetLite.forward_levels`). These are inference-time ablations of the
  network trained with the full design, not retrained networks.

:func:`evaluate_flow` runs each on the same pairs and returns :class:`FlowScore` objects: mean
end-point error, the share of pixels off by more than 3 px, the time per pair, and the
end-point error of every pyramid level's flow (upsampled to full resolution), coarsest first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import ValidationError, check_int
from ._checks import check_flow, check_image_pair
from .classical import estimate_flow, upsample_flow
from .metrics import end_point_error
from .pwc import PWCNetLite

__all__ = [
    "FlowMethod",
    "FlowScore",
    "evaluate_flow",
    "flow_methods",
    "format_scores",
    "stereo_pair_as_flow",
]

#: ``method(img1, img2) -> (flow, [level flows, coarsest first])`` on Tensor[B, C, H, W] pairs.
FlowMethod = Callable[[Tensor, Tensor], tuple[Tensor, list[Tensor]]]


@dataclass
class FlowScore:
    """How one method did on a set of pairs.

    Attributes:
        name: the method's name.
        epe: mean end-point error over all scored pixels, in pixels.
        bad_3px: share of scored pixels with an end-point error above 3 px.
        cpu_seconds_per_pair: inference time per pair as CPU time of this process
            (``time.process_time``: the sum over threads; on a shared machine it measures the
            work, not the neighbours).
        level_epe: mean end-point error of each pyramid level's flow, coarsest first, after
            upsampling it (size and vectors) to full resolution; empty for ``"zero"``.
        level_scale: the resolution of each level relative to the input (1/8 for a level
            an eighth of the input's width), to compare levels of two methods at equal
            resolution.
        per_pair_epe: the mean end-point error of every pair.
    """

    name: str
    epe: float
    bad_3px: float
    cpu_seconds_per_pair: float
    level_epe: list[float] = field(default_factory=list)
    level_scale: list[float] = field(default_factory=list)
    per_pair_epe: list[float] = field(default_factory=list)

    def epe_at_scale(self, scale: float) -> float | None:
        """The level EPE at resolution ``scale`` (within 10 %), or None if no level has it."""
        for s, e in zip(self.level_scale, self.level_epe, strict=True):
            if abs(s - scale) <= 0.1 * scale:
                return e
        return None


def _zero(img1: Tensor, img2: Tensor) -> tuple[Tensor, list[Tensor]]:
    return img1.new_zeros(img1.shape[0], 2, *img1.shape[-2:]), []


def _classical(**options: object) -> FlowMethod:
    def run(img1: Tensor, img2: Tensor) -> tuple[Tensor, list[Tensor]]:
        flow, levels = estimate_flow(img1, img2, return_levels=True, **options)  # type: ignore[arg-type]
        return flow, levels

    return run


def _pwc(model: PWCNetLite, **options: object) -> FlowMethod:
    def run(img1: Tensor, img2: Tensor) -> tuple[Tensor, list[Tensor]]:
        flow, levels = model.predict(img1, img2, return_levels=True, **options)  # type: ignore[arg-type]
        return flow, levels

    return run


def flow_methods(
    model: PWCNetLite | None = None, *, ablations: bool = True, zero: bool = True
) -> dict[str, FlowMethod]:
    """The estimators of the comparison, by name (see the module docstring).

    Args:
        model: the learned network (default: :meth:`PWCNetLite.pretrained`).
        ablations: include the single-level and no-warping variants of both estimators.
        zero: include the zero flow.
    """
    net = PWCNetLite.pretrained() if model is None else model
    if not isinstance(net, PWCNetLite):
        raise ValidationError(f"model must be a PWCNetLite, got {type(net).__name__}")
    methods: dict[str, FlowMethod] = {}
    if zero:
        methods["zero"] = _zero
    methods["classical"] = _classical()
    if ablations:
        methods["classical single-level"] = _classical(levels=1)
        methods["classical no-warping"] = _classical(warping=False)
    methods["pwc"] = _pwc(net)
    if ablations:
        methods["pwc single-level"] = _pwc(net, levels=1)
        methods["pwc no-warping"] = _pwc(net, warping=False)
    return methods


def evaluate_flow(
    img1: Tensor,
    img2: Tensor,
    flow: Tensor,
    methods: Mapping[str, FlowMethod],
    *,
    batch_size: int = 1,
) -> dict[str, FlowScore]:
    """Score every method on the same pairs.

    Pixels whose true flow is not finite (e.g. unknown disparity) are not scored.

    Args:
        img1, img2: Tensor[N, C, H, W], the pairs.
        flow: Tensor[N, 2, H, W], the true flow (``img1(x) ≈ img2(x + flow(x))``).
        methods: name -> :data:`FlowMethod` (e.g. :func:`flow_methods`).
        batch_size: pairs per call (1 gives the per-pair time directly).

    Returns:
        name -> :class:`FlowScore`, in the order of ``methods``.

    Raises:
        ShapeError, ValidationError: bad or mismatched tensors, no method, or no scored pixel.
    """
    a, b, squeezed = check_image_pair(img1, img2, names=("img1", "img2"))
    target, _ = check_flow(flow, name="flow")
    if squeezed or target.shape[0] != a.shape[0] or target.shape[-2:] != a.shape[-2:]:
        raise ValidationError(
            f"flow must have shape ({a.shape[0]}, 2, {a.shape[2]}, {a.shape[3]}) for 4-D "
            f"images, got {tuple(flow.shape)} for images {tuple(img1.shape)}"
        )
    if not methods:
        raise ValidationError("methods must name at least one estimator")
    batch_size = check_int(batch_size, name="batch_size", low=1)
    scored = torch.isfinite(target).all(1)
    if not bool(scored.any()):
        raise ValidationError("flow has no finite vector to score")
    n, size = a.shape[0], (a.shape[-2], a.shape[-1])
    scores: dict[str, FlowScore] = {}
    for name, method in methods.items():
        errors: list[Tensor] = []
        level_errors: list[list[Tensor]] = []
        level_scale: list[float] = []
        seconds = 0.0
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            t0 = time.process_time()
            est, levels = method(a[sl], b[sl])
            seconds += time.process_time() - t0
            errors.append(end_point_error(est, target[sl]))
            level_scale = [lv.shape[-1] / size[1] for lv in levels]
            level_errors.append(
                [end_point_error(upsample_flow(lv, size), target[sl]) for lv in levels]
            )
        err = torch.cat(errors)
        per_pair = [float(err[i][scored[i]].mean()) for i in range(n) if bool(scored[i].any())]
        n_levels = min((len(lv) for lv in level_errors), default=0)
        level_epe = [
            float(torch.cat([lv[k] for lv in level_errors])[scored].mean()) for k in range(n_levels)
        ]
        scores[name] = FlowScore(
            name=name,
            epe=float(err[scored].mean()),
            bad_3px=float((err[scored] > 3).double().mean()),
            cpu_seconds_per_pair=seconds / n,
            level_epe=level_epe,
            level_scale=level_scale[:n_levels],
            per_pair_epe=per_pair,
        )
    return scores


def stereo_pair_as_flow(
    left: Tensor, right: Tensor, disparity: Tensor, downsample: int = 1
) -> tuple[Tensor, Tensor, Tensor]:
    """A rectified stereo pair as an optical-flow problem: ``u = −d, v = 0``.

    Args:
        left, right: Tensor[C, H, W] images.
        disparity: Tensor[H, W], left ``x`` matches right ``x − d``; non-finite where unknown.
        downsample: block-average the images by this factor (disparities divided by it and
            taken at the block centres).

    Returns:
        ``(img1, img2, flow)``: Tensor[1, C, h, w] twice and Tensor[1, 2, h, w], the flow
        ``+inf`` where the disparity is unknown (not scored by :func:`evaluate_flow`).

    Example:
        >>> from nndl.data import load_stereo_motorcycle
        >>> pair = load_stereo_motorcycle()
        >>> a, b, f = stereo_pair_as_flow(pair.left, pair.right, pair.disparity, 2)
        >>> a.shape[-2:] == f.shape[-2:]
        True
    """
    a, b, _ = check_image_pair(left, right, names=("left", "right"))
    k = check_int(downsample, name="downsample", low=1, high=min(a.shape[-2:]))
    if not isinstance(disparity, Tensor) or tuple(disparity.shape) != tuple(a.shape[-2:]):
        raise ValidationError(
            f"disparity must be a tensor of shape {tuple(a.shape[-2:])}, got "
            f"{tuple(disparity.shape) if isinstance(disparity, Tensor) else type(disparity)}"
        )
    disp = disparity.to(a.dtype)
    if k > 1:
        a, b = F.avg_pool2d(a, k), F.avg_pool2d(b, k)
        disp = disp[k // 2 :: k, k // 2 :: k][: a.shape[-2], : a.shape[-1]] / k
    flow = torch.stack([-disp, torch.zeros_like(disp)])
    flow[:, ~torch.isfinite(disp)] = math.inf
    return a, b, flow[None]


def format_scores(scores: Sequence[FlowScore] | Mapping[str, FlowScore]) -> list[str]:
    """One text line per method: EPE, > 3 px, time and per-level EPE (for logs and reports)."""
    items = list(scores.values()) if isinstance(scores, Mapping) else list(scores)
    width = max(len(s.name) for s in items)
    lines = []
    for s in items:
        pairs = zip(s.level_epe, s.level_scale, strict=True)
        levels = " → ".join(f"{e:.2f} (1/{round(1 / sc)})" for e, sc in pairs) or "—"
        lines.append(
            f"{s.name:<{width}}  EPE {s.epe:7.3f} px  >3px {100 * s.bad_3px:5.1f} %  "
            f"{1000 * s.cpu_seconds_per_pair:8.1f} ms/pair  levels {levels}"
        )
    return lines
