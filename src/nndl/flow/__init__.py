"""Optical flow and stereo on real images, built on the cost volume and warping of :mod:`nndl.ops`.

- :func:`estimate_flow`: coarse-to-fine optical flow with no training (pyramid, warping, ZNCC
  cost volume, winner-take-all + sub-pixel, median + Lucas–Kanade refinement).
- :func:`estimate_disparity`: rectified stereo (census cost volume via
  :func:`nndl.ops.cost_volume_1d`, semi-global matching, sub-pixel, left-right check, speckle
  filter); :func:`fill_holes` (KITTI background interpolation) makes the result dense.
- :class:`PWCNetLite`: a small learned PWC-Net, trained by :func:`train_pwc` on
  :func:`make_flow_pairs` (random smooth and affine flows on scikit-image photographs);
  :func:`retrain_pwc` repeats the shipped recipe from scratch.
- Pictures: :func:`flow_to_color` (Middlebury colour wheel), :func:`disparity_to_color`;
  ``uint8`` versions :func:`flow_picture`, :func:`disparity_picture`, :func:`as_uint8`.
- Metrics: :func:`endpoint_error`, :func:`bad_pixel_rate`, :func:`mean_absolute_error`;
  :func:`score_disparity` (as left and hole-filled), :func:`displacement_scores` (where a cosine
  cost volume peaks), :func:`translation_scores` (the same on a shifted photograph).
- Stereo comparators: :func:`zncc_disparity`, :func:`opencv_matchers` (StereoBM / SGBM), named
  by :func:`stereo_methods` and run side by side by :func:`compare_stereo`, with
  :func:`disparity_sign_check` and :func:`downsample_stereo`.

Flow convention (as in :mod:`nndl.ops`): a flow is (B, 2, H, W) in pixels, channel 0 the
horizontal ``u``, channel 1 the vertical ``v``, and ``img1(x) ≈ img2(x + flow(x))``. Disparity:
left pixel ``x`` matches right pixel ``x − d``.
"""

from .classical import (
    estimate_flow,
    fill_uncertain,
    image_pyramid,
    local_normalize,
    lucas_kanade_step,
    patch_features,
    structure_confidence,
    upsample_flow,
)
from .color import disparity_to_color, flow_color_legend, flow_to_color
from .evaluate import (
    FlowMethod,
    FlowScore,
    evaluate_flow,
    flow_methods,
    format_scores,
    stereo_pair_as_flow,
)
from .holes import fill_holes
from .matching import DisplacementScores, displacement_scores, translation_scores
from .metrics import bad_pixel_rate, end_point_error, endpoint_error, mean_absolute_error
from .pictures import as_uint8, disparity_picture, flow_picture
from .pwc import (
    PRETRAINED_FILE,
    PWC_RECIPE,
    PWCNetLite,
    PWCRecipe,
    convex_upsample,
    flip_augment,
    load_pwc,
    pretrained_path,
    pwc_loss,
    pwc_training_data,
    save_pwc,
    train_pwc,
)
from .retrain import retrain_pwc
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
from .stereo_eval import (
    StereoMatcher,
    StereoRun,
    compare_stereo,
    disparity_sign_check,
    downsample_stereo,
    opencv_matchers,
    score_disparity,
    stereo_methods,
    zncc_disparity,
)
from .synthetic import (
    BENCHMARK_SETTINGS,
    FLOW_KINDS,
    HELDOUT_IMAGES,
    TRAIN_IMAGES,
    BenchmarkSettings,
    FlowPairs,
    RandomFlow,
    benchmark_pairs,
    load_source_image,
    make_flow_pairs,
    photometric_jitter,
    translated_pair,
)

__all__ = [
    "BENCHMARK_SETTINGS",
    "FLOW_KINDS",
    "HELDOUT_IMAGES",
    "PRETRAINED_FILE",
    "PWC_RECIPE",
    "TRAIN_IMAGES",
    "BenchmarkSettings",
    "DisparityEstimate",
    "DisplacementScores",
    "FlowMethod",
    "FlowPairs",
    "FlowScore",
    "PWCNetLite",
    "PWCRecipe",
    "RandomFlow",
    "StereoMatcher",
    "StereoRun",
    "as_uint8",
    "bad_pixel_rate",
    "benchmark_pairs",
    "census_transform",
    "compare_stereo",
    "convex_upsample",
    "disparity_picture",
    "disparity_sign_check",
    "disparity_to_color",
    "displacement_scores",
    "downsample_stereo",
    "end_point_error",
    "endpoint_error",
    "estimate_disparity",
    "estimate_flow",
    "evaluate_flow",
    "fill_holes",
    "fill_uncertain",
    "flip_augment",
    "flow_color_legend",
    "flow_methods",
    "flow_picture",
    "flow_to_color",
    "format_scores",
    "image_pyramid",
    "left_right_check",
    "load_pwc",
    "load_source_image",
    "local_normalize",
    "lucas_kanade_step",
    "make_flow_pairs",
    "mean_absolute_error",
    "median_filter",
    "opencv_matchers",
    "patch_features",
    "photometric_jitter",
    "pretrained_path",
    "pwc_loss",
    "pwc_training_data",
    "remove_speckles",
    "retrain_pwc",
    "save_pwc",
    "score_disparity",
    "semi_global_aggregation",
    "stereo_methods",
    "stereo_pair_as_flow",
    "structure_confidence",
    "subpixel_minimum",
    "train_pwc",
    "translated_pair",
    "translation_scores",
    "upsample_flow",
    "zncc_disparity",
]
