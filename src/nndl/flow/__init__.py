"""Optical flow and stereo on real images, built on the cost volume and warping of :mod:`nndl.ops`.

- :func:`estimate_flow`: coarse-to-fine optical flow with no training (pyramid, warping, ZNCC
  cost volume, winner-take-all + sub-pixel, median + Lucas–Kanade refinement).
- :func:`estimate_disparity`: rectified stereo (census cost volume via
  :func:`nndl.ops.cost_volume_1d`, semi-global matching, sub-pixel, left-right check, speckle
  filter); :func:`fill_holes` (KITTI background interpolation) makes the result dense.
- :class:`PWCNetLite`: a small learned PWC-Net, trained by :func:`train_pwc` on
  :func:`make_flow_pairs` (random smooth and affine flows on scikit-image photographs).
- Pictures: :func:`flow_to_color` (Middlebury colour wheel), :func:`disparity_to_color`.
- Metrics: :func:`endpoint_error`, :func:`bad_pixel_rate`, :func:`mean_absolute_error`.

Flow convention (as in :mod:`nndl.ops`): a flow is (B, 2, H, W) in pixels, channel 0 the
horizontal ``u``, channel 1 the vertical ``v``, and ``img1(x) ≈ img2(x + flow(x))``. Disparity:
left pixel ``x`` matches right pixel ``x − d``.
"""

from .classical import (
    estimate_flow,
    fill_uncertain,
    image_pyramid,
    lucas_kanade_step,
    patch_features,
    structure_confidence,
    upsample_flow,
)
from .color import disparity_to_color, flow_color_legend, flow_to_color
from .holes import fill_holes
from .metrics import bad_pixel_rate, endpoint_error, mean_absolute_error
from .pwc import PWCNetLite, load_pwc, pwc_loss, save_pwc, train_pwc
from .sgm import semi_global_aggregation
from .stereo import (
    DisparityEstimate,
    census_transform,
    estimate_disparity,
    left_right_check,
    median_filter,
    remove_speckles,
    subpixel_minimum,
)
from .synthetic import (
    FLOW_KINDS,
    HELDOUT_IMAGES,
    TRAIN_IMAGES,
    FlowPairs,
    RandomFlow,
    load_source_image,
    make_flow_pairs,
    translated_pair,
)

__all__ = [
    "FLOW_KINDS",
    "HELDOUT_IMAGES",
    "TRAIN_IMAGES",
    "DisparityEstimate",
    "FlowPairs",
    "PWCNetLite",
    "RandomFlow",
    "bad_pixel_rate",
    "census_transform",
    "disparity_to_color",
    "endpoint_error",
    "estimate_disparity",
    "estimate_flow",
    "fill_holes",
    "fill_uncertain",
    "flow_color_legend",
    "flow_to_color",
    "image_pyramid",
    "left_right_check",
    "load_pwc",
    "load_source_image",
    "lucas_kanade_step",
    "make_flow_pairs",
    "mean_absolute_error",
    "median_filter",
    "patch_features",
    "pwc_loss",
    "remove_speckles",
    "save_pwc",
    "semi_global_aggregation",
    "structure_confidence",
    "subpixel_minimum",
    "train_pwc",
    "translated_pair",
    "upsample_flow",
]
