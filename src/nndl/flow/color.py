r"""Pictures of flow and disparity: the Middlebury colour wheel and a colour-mapped disparity.

The colour wheel (Baker et al., *A Database and Evaluation Methodology for Optical Flow*, IJCV
2011) codes the direction of a flow vector by hue and its length by saturation: white is no
motion, a fully saturated colour is a vector as long as the normalisation radius. The wheel has
55 colours in six ramps (red→yellow 15, yellow→green 6, green→cyan 4, cyan→blue 11,
blue→magenta 13, magenta→red 6) so that perceptually similar directions get similar hues.
As in the reference ``flowToColor.m`` (and ``flow_vis``), with ``y`` pointing down, motion to
the right is red, downwards yellow, to the left cyan and upwards blue-violet; the hue index is

.. math:: k = \tfrac{1}{2}\,\big(\operatorname{atan2}(-v, -u)/\pi + 1\big)\,(55 - 1),

interpolated linearly between neighbouring wheel colours, and the colour is
``1 − r (1 − c)`` for a normalised radius ``r ≤ 1`` (``0.75 c`` beyond it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._validation import check_in_range, check_shape
from ._checks import check_flow

__all__ = ["disparity_to_color", "flow_color_legend", "flow_to_color"]

# (ramp length, start colour, end colour) of the six ramps of the Middlebury wheel
_RAMPS = (
    (15, (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)),  # red -> yellow
    (6, (1.0, 1.0, 0.0), (0.0, 1.0, 0.0)),  # yellow -> green
    (4, (0.0, 1.0, 0.0), (0.0, 1.0, 1.0)),  # green -> cyan
    (11, (0.0, 1.0, 1.0), (0.0, 0.0, 1.0)),  # cyan -> blue
    (13, (0.0, 0.0, 1.0), (1.0, 0.0, 1.0)),  # blue -> magenta
    (6, (1.0, 0.0, 1.0), (1.0, 0.0, 0.0)),  # magenta -> red
)


def _colorwheel(dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 55 × 3 Middlebury colour wheel in [0, 1] (same values as ``makeColorwheel.m``)."""
    rows = []
    for length, start, end in _RAMPS:
        t = torch.arange(length, dtype=torch.float64) / length
        a = torch.tensor(start, dtype=torch.float64)
        b = torch.tensor(end, dtype=torch.float64)
        # the reference builds each ramp with floor(255 * i / n) steps; keep its quantisation
        ramp = a + (b - a) * (torch.floor(255 * t) / 255).unsqueeze(1)
        rows.append(ramp)
    return torch.cat(rows).to(dtype=dtype, device=device)


def flow_to_color(flow: Tensor, max_flow: float | None = None) -> Tensor:
    r"""Colour-code a flow field with the Middlebury colour wheel.

    Hue gives the direction and saturation the length of each vector, relative to ``max_flow``
    (by default the largest finite vector length in each image, so the longest vector is fully
    saturated). Pixels whose flow is not finite are black.

    Args:
        flow: Tensor[2, H, W] or Tensor[B, 2, H, W] in pixels (channel 0 = horizontal ``u``,
            channel 1 = vertical ``v``; see :mod:`nndl.ops`).
        max_flow: normalisation radius in pixels (> 0), the same for every image of a batch;
            None uses each image's largest vector.

    Returns:
        Tensor[3, H, W] or Tensor[B, 3, H, W] (as the input), RGB in [0, 1], dtype of ``flow``.

    Raises:
        ShapeError: ``flow`` is not (2, H, W) or (B, 2, H, W).
        ValidationError: ``max_flow`` is not > 0.

    Example:
        >>> flow = torch.zeros(2, 1, 2)
        >>> flow[0, 0, 1] = 1.0  # one pixel still, one moving right
        >>> flow_to_color(flow)[:, 0, 0].tolist()  # no motion is white
        [1.0, 1.0, 1.0]
    """
    f, squeezed = check_flow(flow)
    if max_flow is not None:
        check_in_range(max_flow, name="max_flow", low=0.0, low_inclusive=False)
    f = f.float() if f.dtype in (torch.float16, torch.bfloat16) else f
    u, v = f[:, 0], f[:, 1]
    finite = torch.isfinite(u) & torch.isfinite(v)
    u = torch.where(finite, u, torch.zeros_like(u))
    v = torch.where(finite, v, torch.zeros_like(v))
    rad = torch.sqrt(u * u + v * v)
    if max_flow is None:
        scale = rad.flatten(1).amax(1).clamp_min(torch.finfo(rad.dtype).eps).view(-1, 1, 1)
    else:
        scale = torch.tensor(float(max_flow), dtype=rad.dtype, device=rad.device)
    r = rad / scale
    wheel = _colorwheel(f.dtype, f.device)
    n = wheel.shape[0]
    angle = torch.atan2(-v, -u) / math.pi  # in [-1, 1]
    fk = (angle + 1) / 2 * (n - 1)
    k0 = fk.floor().long().clamp(0, n - 1)
    k1 = (k0 + 1) % n
    frac = (fk - k0.to(fk.dtype)).unsqueeze(-1)
    col = (1 - frac) * wheel[k0] + frac * wheel[k1]  # (B, H, W, 3)
    r = r.unsqueeze(-1)
    col = torch.where(r <= 1, 1 - r * (1 - col), col * 0.75)
    col = torch.where(finite.unsqueeze(-1), col, torch.zeros_like(col))
    out = col.permute(0, 3, 1, 2).to(flow.dtype).contiguous()
    return out[0] if squeezed else out


def flow_color_legend(size: int = 129, dtype: torch.dtype = torch.float32) -> Tensor:
    """The colour-wheel key: each pixel coloured by its own offset from the centre.

    Returns:
        Tensor[3, size, size], RGB in [0, 1]; the disc of radius ``size // 2`` is the wheel.
    """
    check_in_range(size, name="size", low=3)
    size = int(size)
    c = (size - 1) / 2
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=dtype) - c, torch.arange(size, dtype=dtype) - c, indexing="ij"
    )
    return flow_to_color(torch.stack([xs, ys]), max_flow=c)


def disparity_to_color(
    disparity: Tensor,
    valid: Tensor | None = None,
    *,
    max_disparity: float | None = None,
    cmap: str = "magma",
) -> Tensor:
    """Colour-map a disparity map (larger disparity = nearer = brighter in ``magma``).

    Args:
        disparity: Tensor[H, W] in pixels; non-finite values count as invalid.
        valid: optional bool Tensor[H, W]; invalid pixels are black.
        max_disparity: the value mapped to the top of the colour map (> 0); None uses the
            largest valid disparity.
        cmap: a matplotlib colour-map name (matplotlib is imported only here).

    Returns:
        Tensor[3, H, W] float32 RGB in [0, 1].

    Raises:
        ShapeError: ``disparity`` is not 2-D or ``valid`` has another shape.
        ValidationError: unknown ``cmap`` or ``max_disparity`` not > 0.
    """
    sizes = check_shape(disparity, "H W", name="disparity")
    ok = torch.isfinite(disparity)
    if valid is not None:
        check_shape(valid, "H W", name="valid", sizes=dict(sizes))
        ok = ok & valid.bool()
    if max_disparity is not None:
        check_in_range(max_disparity, name="max_disparity", low=0.0, low_inclusive=False)
    import matplotlib

    from .._validation import check_choice

    check_choice(cmap, list(matplotlib.colormaps), name="colour map")
    d = disparity.detach().float().cpu()
    ok = ok.cpu()
    top = (
        float(max_disparity)
        if max_disparity is not None
        else float(d[ok].max())
        if ok.any()
        else 1.0
    )
    top = top if top > 0 else 1.0
    x = torch.where(ok, d, torch.zeros_like(d)).clamp(0, top) / top
    rgba = matplotlib.colormaps[cmap](x.numpy())
    rgb = torch.from_numpy(rgba[..., :3]).float() * ok.unsqueeze(-1)
    return rgb.permute(2, 0, 1).contiguous()
