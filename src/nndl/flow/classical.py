r"""Coarse-to-fine optical flow without training: pyramid, warping, cost volume, refinement.

:func:`estimate_flow` follows the structure of PWC-Net with hand-made parts:

1. **Image pyramid.** Each level is the previous one blurred and halved
   (:func:`image_pyramid`), down to about 16 pixels on the short side.
2. **Features per level.** Every pixel's ``p × p`` patch (of the level blurred by
   ``presmooth``), minus its mean and scaled to unit length (:func:`patch_features`), so the
   cost volume of two such features is the zero-mean normalised cross-correlation (ZNCC) of the
   patches, the cosine similarity of claim C2.
3. **Warping.** From the second level on, the coarser flow is upsampled (×2 in size and value) and
   the second image is backward-warped by it (:func:`nndl.ops.warp`), so the search only has to
   find the residual motion.
4. **Local cost volume** over displacements ``[−d, d]²`` (:func:`nndl.ops.cost_volume`),
   averaged over an ``a × a`` window (aggregation: a local smoothness assumption), minus a small
   penalty growing with the displacement (regularisation: ties keep the upsampled flow).
5. **Winner-take-all** over the ``(2d+1)²`` channels with a **sub-pixel** parabola fit along
   ``x`` and ``y`` through the neighbours of the peak.
6. **Regularisation and refinement.** A median filter removes isolated wrong matches; a few
   Lucas–Kanade steps (the warped image's gradients solve the linearised brightness-constancy
   equations in a Gaussian window, with a small ridge so that flat regions keep their flow) pull
   the estimate to sub-pixel precision; then a final median filter. The refinement works on
   locally contrast-normalised images (:func:`local_normalize`), so that the brightness
   offsets, gains and gamma changes between real frames do not bias it.
7. **Filling in.** Where the window cannot pin the flow down (flat regions, straight edges,
   matches outside the second image; :func:`structure_confidence`), the flow is replaced by the
   confidence-weighted average of its surroundings (:func:`fill_uncertain`), so the next finer
   level starts from the motion of the textured pixels around.

Each level can therefore correct the coarser level by up to ``d`` pixels of its own, i.e.
``d · 2^l`` pixels of the finest level; the total range is ``d (2^L − 1)``, and every level's
flow is clipped to the range of the levels so far, so an estimate never exceeds what the
pyramid can represent.

The flow convention is the one of :mod:`nndl.ops`: ``img1(x) ≈ img2(x + flow(x))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .._validation import ValidationError, check_in_range, check_int
from ..ops import cost_volume, displacements, warp
from ._checks import check_image_pair, to_gray
from ._filters import gaussian_blur, gradients, median_filter

__all__ = [
    "estimate_flow",
    "fill_uncertain",
    "image_pyramid",
    "local_normalize",
    "lucas_kanade_step",
    "patch_features",
    "structure_confidence",
    "upsample_flow",
]


def image_pyramid(img: Tensor, levels: int) -> list[Tensor]:
    """Gaussian pyramid, finest first: level ``l + 1`` is level ``l`` blurred (σ = 1) and halved.

    Args:
        img: Tensor[B, C, H, W].
        levels: number of levels (>= 1); level ``l`` has size ``⌈H / 2^l⌉ × ⌈W / 2^l⌉``.

    Returns:
        A list of ``levels`` tensors, ``[img, img/2, img/4, …]``.
    """
    levels = check_int(levels, name="levels", low=1)
    out = [img]
    for _ in range(levels - 1):
        prev = out[-1]
        size = ((prev.shape[-2] + 1) // 2, (prev.shape[-1] + 1) // 2)
        out.append(
            F.interpolate(gaussian_blur(prev, 1.0), size=size, mode="bilinear", align_corners=False)
        )
    return out


def upsample_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a flow Tensor[B, 2, h, w] to ``size`` and rescale its vectors to the new pixels.

    Bilinear with half-pixel-centred coordinates (``align_corners=False``): pixel ``x`` of the
    coarse grid covers fine pixels around ``x · W / w``. The ``u`` channel is multiplied by
    ``W / w`` and ``v`` by ``H / h``.
    """
    h, w = flow.shape[-2:]
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    scale = torch.tensor([size[1] / w, size[0] / h], dtype=flow.dtype, device=flow.device)
    return out * scale.view(1, 2, 1, 1)


def patch_features(img: Tensor, patch_size: int = 5, noise: float = 0.0) -> Tensor:
    r"""Zero-mean ``p × p`` patches as feature vectors: Tensor[B, 1, H, W] -> Tensor[B, p², H, W].

    With ``noise = 0`` each vector is scaled to unit length, so the dot product of two of them is
    the ZNCC of the two patches (their cosine similarity). With ``noise = σ > 0`` a vector ``z``
    becomes :math:`z / \sqrt{\lVert z \rVert^2 + p^2 σ^2}`: textured patches keep nearly unit
    length, while patches whose contrast is at the noise level shrink towards 0, so they score
    near 0 at every displacement instead of matching noise. Borders replicate the edge pixels.
    """
    p = check_int(patch_size, name="patch_size", low=1)
    check_in_range(noise, name="noise", low=0.0)
    r = p // 2
    b, _, h, w = img.shape
    padded = F.pad(img, (r, p - 1 - r, r, p - 1 - r), mode="replicate")
    patches = F.unfold(padded, p).view(b, p * p, h, w)
    z = patches - patches.mean(1, keepdim=True)
    norm2 = z.pow(2).sum(1, keepdim=True) + (p * noise) ** 2
    return z / norm2.clamp_min(torch.finfo(z.dtype).tiny).sqrt()


def _wta_subpixel(cv: Tensor, d: int) -> Tensor:
    """Winner-take-all over (2d+1)² displacement channels + separable parabola: (B, 2, H, W)."""
    n = 2 * d + 1
    b, _, h, w = cv.shape
    best = cv.argmax(1, keepdim=True)  # (B, 1, H, W)
    iy, ix = best // n, best % n
    offsets = []
    for idx, step in ((ix, 1), (iy, n)):
        inside = (idx > 0) & (idx < n - 1)
        lo = cv.gather(1, (best - step).clamp(0, n * n - 1))
        mid = cv.gather(1, best)
        hi = cv.gather(1, (best + step).clamp(0, n * n - 1))
        curv = lo - 2 * mid + hi  # < 0 at a maximum
        off = (lo - hi) / (2 * curv.clamp_max(-1e-12))
        ok = inside & (curv < 0)
        offsets.append(torch.where(ok, off.clamp(-0.5, 0.5), torch.zeros_like(off)))
    table = displacements(d).to(device=cv.device, dtype=cv.dtype)  # (n², 2) as (dx, dy)
    dxy = table[best.view(-1)].view(b, h, w, 2).permute(0, 3, 1, 2)
    return dxy + torch.cat(offsets, 1)


def lucas_kanade_step(
    img1: Tensor, img2: Tensor, flow: Tensor, sigma: float = 2.0, ridge: float = 1e-4
) -> Tensor:
    r"""One Lucas–Kanade update of a dense ``flow`` (warping, linearisation, 2 × 2 solve per pixel).

    With :math:`\tilde I_2 = \mathrm{warp}(I_2, f)`, :math:`I_t = \tilde I_2 - I_1`, gradients
    :math:`g = \nabla I` (the average of :math:`\nabla I_1` and the warped :math:`\nabla I_2`) and
    :math:`T = g g^\top`, brightness constancy linearised at each pixel ``q`` of the window of
    ``p`` reads :math:`g(q)^\top (f_{new}(p) - f(q)) + I_t(q) = 0`: the residual at ``q`` was
    measured with ``q``'s own flow, so it is moved to ``p``'s candidate. Least squares over a
    Gaussian window :math:`G_\sigma` with a ridge :math:`\lambda` towards the current flow gives

    .. math::

        \big(G_\sigma * T + \lambda I\big)\, f_{new}
            = G_\sigma * \big(T f - g\, I_t\big) + \lambda f .

    (Solving for an increment with :math:`G_\sigma * (g I_t)` alone, the textbook form, treats
    the neighbours' residuals as if they were measured with ``p``'s flow; on a dense field that
    Jacobi-like update does not converge.) The ridge keeps the flow where the window has no
    texture.

    Args:
        img1, img2: Tensor[B, 1, H, W] grey images.
        flow: Tensor[B, 2, H, W], the current estimate.
        sigma: the Gaussian window, in pixels.
        ridge: :math:`\lambda` (>= 0), in squared intensity per pixel².

    Returns:
        The updated flow, Tensor[B, 2, H, W].
    """
    # gradients of I2 are taken on its own grid and then warped: differencing the warped image
    # would mix in the differences of the flow between neighbouring pixels
    moved, mask = warp(torch.cat([img2, gradients(img2)], 1), flow, return_mask=True)
    warped, grad2 = moved[:, :1], moved[:, 1:]
    grad = 0.5 * (gradients(img1) + grad2) * mask
    ix, iy = grad[:, :1], grad[:, 1:]
    it = (warped - img1) * mask
    u, v = flow[:, :1], flow[:, 1:]
    txx, txy, tyy = ix * ix, ix * iy, iy * iy
    products = torch.cat(
        [txx, txy, tyy, txx * u + txy * v - ix * it, txy * u + tyy * v - iy * it], 1
    )
    sxx, sxy, syy, bx, by = gaussian_blur(products, sigma).unbind(1)
    sxx, syy = sxx + ridge, syy + ridge
    bx, by = bx + ridge * flow[:, 0], by + ridge * flow[:, 1]
    det = (sxx * syy - sxy * sxy).clamp_min(torch.finfo(flow.dtype).tiny)
    new_u = (syy * bx - sxy * by) / det
    new_v = (sxx * by - sxy * bx) / det
    return torch.stack([new_u, new_v], 1)


def structure_confidence(img: Tensor, sigma: float = 2.0, tau: float = 1e-4) -> Tensor:
    r"""How well a window pins down the flow: :math:`c = \lambda_{min} / (\lambda_{min} + 	au)`.

        :math:`\lambda_{min}` is the smaller eigenvalue of the structure tensor
        :math:`\sum_w
    abla I
    abla I^	op` (Gaussian window ``sigma``); it is large only where the
        window has gradients in two directions (corners, texture), small on flat regions and along
        straight edges (the aperture problem).

        Args:
            img: Tensor[B, 1, H, W].

        Returns:
            Tensor[B, 1, H, W] in [0, 1).
    """
    ix, iy = gradients(img).unbind(1)
    ix, iy = ix.unsqueeze(1), iy.unsqueeze(1)
    sxx, sxy, syy = gaussian_blur(torch.cat([ix * ix, ix * iy, iy * iy], 1), sigma).unbind(1)
    half_trace = 0.5 * (sxx + syy)
    lam_min = half_trace - torch.sqrt((0.5 * (sxx - syy)) ** 2 + sxy * sxy)
    lam_min = lam_min.clamp_min(0).unsqueeze(1)
    return lam_min / (lam_min + tau)


def fill_uncertain(flow: Tensor, confidence: Tensor, sigma: float) -> Tensor:
    r"""Replace poorly determined flow by the confidence-weighted average of its surroundings.

    Normalised convolution: :math:`ar f = G_\sigma * (c f) / G_\sigma * c` and
    :math:`f \leftarrow c f + (1 - c) ar f`, so textured pixels keep their estimate and flat
    regions take the flow of the textured pixels around them.

    Args:
        flow: Tensor[B, 2, H, W].
        confidence: Tensor[B, 1, H, W] in [0, 1].
        sigma: width of the Gaussian, in pixels.
    """
    weighted = gaussian_blur(torch.cat([flow * confidence, confidence], 1), sigma)
    average = weighted[:, :2] / weighted[:, 2:].clamp_min(1e-6)
    has_support = weighted[:, 2:] > 1e-6
    average = torch.where(has_support, average, flow)
    return confidence * flow + (1 - confidence) * average


def local_normalize(img: Tensor, sigma: float = 4.0, eps: float = 0.01) -> Tensor:
    r"""Local contrast normalisation of Tensor[B, 1, H, W].

    .. math:: \hat I = \frac{I - G_\sigma * I}{\sqrt{G_\sigma * (I - G_\sigma * I)^2 + \epsilon^2}}

    Removes a brightness offset and a contrast gain that vary slowly over the image (and so,
    locally, a gamma change), so that brightness constancy holds between two exposures of one
    scene. ``eps`` (an intensity, the expected noise level) keeps windows whose contrast is at
    the noise level near 0 instead of amplifying the noise.

    Args:
        img: Tensor[B, 1, H, W].
        sigma: width of the Gaussian window, in pixels (> 0).
        eps: :math:`\epsilon` (>= 0).

    Returns:
        Tensor[B, 1, H, W], about unit variance in textured windows.
    """
    zero_mean = img - gaussian_blur(img, sigma)
    var = gaussian_blur(zero_mean * zero_mean, sigma)
    return zero_mean / (var + eps * eps).clamp_min(torch.finfo(img.dtype).tiny).sqrt()


#: the coarsest pyramid level keeps at least this many pixels on its short side
_MIN_LEVEL = 4


def _auto_levels(h: int, w: int, coarsest: int = 16) -> int:
    return 1 + max(0, math.floor(math.log2(max(1, min(h, w)) / coarsest)))


def estimate_flow(
    img1: Tensor,
    img2: Tensor,
    *,
    levels: int | None = None,
    max_displacement: int = 4,
    patch_size: int = 5,
    noise: float = 0.01,
    aggregation: int = 5,
    displacement_penalty: float = 0.05,
    refine_iterations: int = 3,
    lk_sigma: float = 3.0,
    lk_ridge: float = 1e-4,
    presmooth: float = 1.0,
    median_size: int = 3,
    fill_sigma: float = 4.0,
    return_levels: bool = False,
    norm_sigma: float = 4.0,
    warping: bool = True,
) -> Tensor | tuple[Tensor, list[Tensor]]:
    r"""Optical flow from ``img1`` to ``img2``, coarse to fine, with no training.

    See the module docstring for the steps.

    Args:
        img1: Tensor[C, H, W] or Tensor[B, C, H, W] (grey or RGB, converted to grey).
        img2: the second image, same shape.
        levels: pyramid levels (>= 1); None picks enough for a coarsest level of about 16
            pixels on the short side.
        max_displacement: ``d``, the search radius of the cost volume at every level (>= 1).
        patch_size: side of the ZNCC patches (odd or even, >= 1).
        noise: intensity noise level of :func:`patch_features`; patches with less contrast
            than this score near 0 everywhere instead of matching noise.
        aggregation: side of the box window the cost volume is averaged over (1 = none).
        displacement_penalty: subtracted from the score of the largest residual displacement
            (quadratically less for smaller ones), so ties keep the upsampled flow.
        refine_iterations: Lucas–Kanade steps per level (0 = none).
        lk_sigma: Gaussian window of the Lucas–Kanade sums, in pixels.
        lk_ridge: the Lucas–Kanade ridge (>= 0) that keeps the flow in textureless windows.
        presmooth: Gaussian blur (σ in pixels, 0 = none) applied to every level before
            matching; it makes bilinear warping (and so the sub-pixel refinement) more accurate.
        median_size: median filter applied to the flow after the search and after refinement.
        fill_sigma: width (pixels of each level) of the Gaussian of :func:`fill_uncertain`.
        return_levels: also return the flow of every level, coarsest first, each at its own
            resolution and in its own pixels.
        norm_sigma: window (pixels of each level; 0 = off) of the :func:`local_normalize` that
            the Lucas–Kanade refinement works on, so that it is blind to brightness offsets,
            contrast gains and gamma changes between the frames (the ZNCC search already is).
        warping: warp the second image by the upsampled flow before each level's search (the
            default). ``False`` is the no-warping ablation: each level searches ``±d`` around
            zero, keeps the upsampled flow only where it points beyond that reach, and skips
            the (warping) Lucas–Kanade refinement.

    Returns:
        Tensor[B, 2, H, W] (or [2, H, W] for 3-D inputs), in pixels, ``img1(x) ≈ img2(x + f)``;
        with ``return_levels`` a tuple ``(flow, [flow_coarsest, …, flow_finest])``. Every
        component is bounded by what the pyramid can represent, ``d (2^L − 1)`` pixels.

    Raises:
        ShapeError: the images are not 3-D/4-D, differ in size, or are smaller than 4 × 4.
        DTypeError: not floating point.
        ValidationError: a NaN or infinite pixel; ``levels`` too many for the image (the
            coarsest level must keep 4 pixels); a bad option (e.g. ``max_displacement < 1``).

    Example:
        >>> from nndl.flow import translated_pair
        >>> a, b, true = translated_pair("camera", (1.5, -0.75))
        >>> flow = estimate_flow(a, b)
        >>> mean = flow[:, 16:-16, 16:-16].mean((1, 2))
        >>> bool((mean - torch.tensor([1.5, -0.75])).abs().max() < 0.05)
        True
    """
    a, b, squeezed = check_image_pair(img1, img2, names=("img1", "img2"), min_size=_MIN_LEVEL)
    h, w = a.shape[-2:]
    n_levels = _auto_levels(h, w) if levels is None else check_int(levels, name="levels", low=1)
    if min(h, w) < _MIN_LEVEL * 2 ** (n_levels - 1):
        raise ValidationError(
            f"levels={n_levels} needs images of at least {_MIN_LEVEL * 2 ** (n_levels - 1)} "
            f"pixels on the short side (the coarsest level must keep {_MIN_LEVEL}), got {h}×{w}"
        )
    d = check_int(max_displacement, name="max_displacement", low=1, high=max(h, w))
    p = check_int(patch_size, name="patch_size", low=1)
    agg = check_int(aggregation, name="aggregation", low=1)
    iters = check_int(refine_iterations, name="refine_iterations", low=0)
    check_in_range(lk_sigma, name="lk_sigma", low=0.0, low_inclusive=False)
    check_in_range(lk_ridge, name="lk_ridge", low=0.0)
    med = check_int(median_size, name="median_size", low=1)
    smooth = check_in_range(presmooth, name="presmooth", low=0.0)
    fill_sigma = check_in_range(fill_sigma, name="fill_sigma", low=0.0, low_inclusive=False)
    check_in_range(noise, name="noise", low=0.0, high=1.0)
    norm_sigma = check_in_range(norm_sigma, name="norm_sigma", low=0.0, high=1e3)
    lam = check_in_range(displacement_penalty, name="displacement_penalty", low=0.0)
    dtype = a.dtype if a.dtype in (torch.float32, torch.float64) else torch.float32
    # regularisation: a score penalty growing with the residual, lam at |residual| = d
    penalty = lam * displacements(d).pow(2).sum(1).view(1, -1, 1, 1) / (d * d)
    with torch.no_grad():
        pyr1 = image_pyramid(to_gray(a).to(dtype), n_levels)
        pyr2 = image_pyramid(to_gray(b).to(dtype), n_levels)
        flow: Tensor | None = None
        per_level: list[Tensor] = []
        for index, (i1, i2) in enumerate(zip(reversed(pyr1), reversed(pyr2), strict=True)):
            size = (i1.shape[-2], i1.shape[-1])
            if smooth > 0:
                i1, i2 = gaussian_blur(i1, smooth), gaussian_blur(i2, smooth)
            n1, n2 = i1, i2
            if norm_sigma > 0:
                n1 = local_normalize(i1, norm_sigma, noise)
                n2 = local_normalize(i2, norm_sigma, noise)
            if flow is None:
                flow = i1.new_zeros(i1.shape[0], 2, *size)
            else:
                flow = upsample_flow(flow, size)
            warped = warp(i2, flow) if warping else i2
            cv = cost_volume(
                patch_features(i1, p, noise),
                patch_features(warped, p, noise),
                d,
                reduction="sum",
            )
            if agg > 1:
                cv = F.avg_pool2d(cv, agg, stride=1, padding=agg // 2, count_include_pad=False)
                cv = cv[..., : size[0], : size[1]]
            cv = cv - penalty.to(cv)
            if warping:
                flow = flow + _wta_subpixel(cv, d)
            else:  # the search is centred on 0: keep the coarse flow only beyond its reach
                beyond = flow.abs().amax(1, keepdim=True) > d
                flow = torch.where(beyond, flow, _wta_subpixel(cv, d))
            flow = _median_flow(flow, med)
            for _ in range(iters if warping else 0):
                flow = lucas_kanade_step(n1, n2, flow, sigma=lk_sigma, ridge=lk_ridge)
            if iters and warping:
                flow = _median_flow(flow, med)
            # pixels whose match left the second image have no evidence of their own
            _, inside = warp(i2, flow, return_mask=True)
            conf = structure_confidence(i1, lk_sigma) * inside
            flow = fill_uncertain(flow, conf, fill_sigma)
            # what this many levels of ±d can represent (in this level's pixels)
            reach = float(d * (2 ** (index + 1) - 1))
            flow = flow.clamp(-reach, reach)
            per_level.append(flow)
    assert flow is not None  # levels >= 1
    out = flow.to(a.dtype)
    if squeezed:
        out = out[0]
        per_level = [f[0] for f in per_level]
    return (out, per_level) if return_levels else out


def _median_flow(flow: Tensor, size: int) -> Tensor:
    if size <= 1:
        return flow
    b, _, h, w = flow.shape
    return median_filter(flow.reshape(b * 2, h, w), size).view(b, 2, h, w)
