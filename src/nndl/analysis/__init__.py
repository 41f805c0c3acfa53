"""Measurements on networks: receptive fields, cost, invariance, sensitivity, gradient estimates.

- :func:`receptive_field` / :func:`gradient_support` — analytic and empirical receptive fields
  of sequential CNNs (P3).
- :func:`model_cost` — parameters, multiply-adds and activation memory per example (P1).
- :func:`translate`, :func:`rescale`, :func:`elastic_deform`, :func:`representation_similarity`,
  :func:`prediction_change` — invariance of representations and predictions (P2);
  :func:`layer_io_change` — a layer's input against its output under a transform (P2);
  :func:`transform_families`, :func:`invariance_profile` — that change, and accuracy, per
  family and magnitude of transforms (P2).
- :func:`check_receptive_fields` — analytic fields against the gradient support (P3).
- :class:`BasisRegressor`, :func:`basis_matrix` — polynomial / Fourier least squares (F1);
  :data:`TARGET_FUNCTIONS`, :func:`fit_mlp_regressors`, :func:`relative_rmse`,
  :func:`relative_drop` — MLPs as learned bases, fitted side by side (F1);
  :func:`approximation_race` — both bases and the MLPs on every target, parameters matched.
- :func:`saliency`, :func:`parameter_sensitivity` — accuracy after perturbing k parameters (F3);
  :func:`exact_smallest_k`, :func:`fragility_profile` — the exact smallest k that costs a
  given drop, and one network's curves and smallest k per perturbation.
- :func:`backprop_grad`, :func:`finite_difference_grad`, :func:`weight_perturbation_grad`,
  :func:`gradient_agreement` — credit assignment with and without backprop (F4);
  :func:`compare_gradient_estimators`, :func:`power_law_exponent` — all three on one loss, and
  the growth of their cost ratio.
- :func:`hidden_layer_speeds` — per-layer learning speeds (bias- or weight-based) of one MLP or
  S stacked copies (G4–G7); :func:`spread_factor` — how far apart the layers learn.
- :func:`stacked_mlps`, :func:`fit_and_score`, :class:`SpeedRecorder`, :func:`sgd_l2_weights`,
  :func:`speeds_along_training` — S seeds of one MLP side by side: build, train and score,
  record speeds along training;
  :func:`sgd_until_nonfinite` — monitored SGD until the loss overflows (G4).
- :func:`state_gradient_norms`, :func:`fit_adding_problem`, :func:`sequence_mse` — gradients
  through time of a recurrent net, trained on the adding problem (G8);
  :func:`race_on_adding_problem` — several cells on the same batches, with their profiles.
- :func:`sigmoid_chain_survey` — random one-neuron sigmoid chains: closed-form gradient vs
  autograd, the factors w σ'(z), the first layer's gradient (G3).
- :func:`geometric_fit`, :func:`geometric_factor`, :func:`decades_lost`,
  :func:`geometric_mean` — the per-step factor of a log-linear fit (gradients that vanish or
  explode geometrically with depth or distance in time).
- :func:`mean_interval`, :func:`paired_interval`, :func:`sign_test`, :func:`decide` — t intervals
  and three-way decisions for comparisons over seeds; :func:`mean_sd_text` — "m ± s" over seeds.
- :func:`max_z_pvalue`, :func:`z_decision` — the Bonferroni max-|z| test of many Monte Carlo
  deviations from exact values, and its three-way decision.
- :func:`all_of`, :func:`any_of` — combine the three-way decisions of a claim's parts;
  :func:`seeds_to_settle` — seeds an interval would need to clear its threshold.
"""

from .approximation import (
    TARGET_FUNCTIONS,
    fit_mlp_regressors,
    relative_drop,
    relative_rmse,
    target_direction,
)
from .approximation_race import approximation_race
from .chain_survey import ChainSurvey, sigmoid_chain_survey
from .cost import ModelCost, model_cost
from .decay import (
    FLOAT32_DECADES,
    GeometricFit,
    decades_lost,
    geometric_factor,
    geometric_fit,
    geometric_mean,
)
from .decisions import all_of, any_of, seeds_to_settle
from .estimators import compare_gradient_estimators, power_law_exponent
from .field_check import FieldCheck, check_receptive_fields
from .fitting import BASES, BasisRegressor, basis_matrix, multi_indices, n_basis, order_for_budget
from .fragility import exact_smallest_k, fragility_profile
from .gradients import (
    GradientEstimate,
    backprop_grad,
    finite_difference_grad,
    gradient_agreement,
    weight_perturbation_grad,
)
from .invariance import (
    elastic_deform,
    prediction_change,
    representation_similarity,
    rescale,
    translate,
)
from .invariance_sweep import TransformSets, invariance_profile, transform_families
from .layer_change import layer_io_change, relative_change
from .layer_speeds import (
    SPEED_MEASURES,
    hidden_layer_speeds,
    log10_first_last,
    log10_spread,
    spread_factor,
)
from .mlp_seeds import (
    FitScore,
    SpeedRecorder,
    fit_and_score,
    sgd_l2_weights,
    speeds_along_training,
    stacked_mlps,
)
from .overflow import sgd_until_nonfinite
from .receptive_field import (
    LayerReceptiveField,
    gradient_support,
    receptive_field,
    sequential_layers,
)
from .recurrent import (
    fit_adding_problem,
    race_on_adding_problem,
    sequence_mse,
    state_gradient_norms,
)
from .sensitivity import (
    PERTURBATIONS,
    SELECTIONS,
    SensitivityResult,
    parameter_sensitivity,
    saliency,
)
from .spread_text import mean_sd_text
from .stats import Decision, Interval, decide, mean_interval, paired_interval, sign_test
from .ztests import max_z_pvalue, z_decision

__all__ = [
    "BASES",
    "FLOAT32_DECADES",
    "PERTURBATIONS",
    "SELECTIONS",
    "SPEED_MEASURES",
    "TARGET_FUNCTIONS",
    "BasisRegressor",
    "ChainSurvey",
    "Decision",
    "FieldCheck",
    "FitScore",
    "GeometricFit",
    "GradientEstimate",
    "Interval",
    "LayerReceptiveField",
    "ModelCost",
    "SensitivityResult",
    "SpeedRecorder",
    "TransformSets",
    "all_of",
    "any_of",
    "approximation_race",
    "backprop_grad",
    "basis_matrix",
    "check_receptive_fields",
    "compare_gradient_estimators",
    "decades_lost",
    "decide",
    "elastic_deform",
    "exact_smallest_k",
    "finite_difference_grad",
    "fit_adding_problem",
    "fit_and_score",
    "fit_mlp_regressors",
    "fragility_profile",
    "geometric_factor",
    "geometric_fit",
    "geometric_mean",
    "gradient_agreement",
    "gradient_support",
    "hidden_layer_speeds",
    "invariance_profile",
    "layer_io_change",
    "log10_first_last",
    "log10_spread",
    "max_z_pvalue",
    "mean_interval",
    "mean_sd_text",
    "model_cost",
    "multi_indices",
    "n_basis",
    "order_for_budget",
    "paired_interval",
    "parameter_sensitivity",
    "power_law_exponent",
    "prediction_change",
    "race_on_adding_problem",
    "receptive_field",
    "relative_change",
    "relative_drop",
    "relative_rmse",
    "representation_similarity",
    "rescale",
    "saliency",
    "seeds_to_settle",
    "sequence_mse",
    "sequential_layers",
    "sgd_l2_weights",
    "sgd_until_nonfinite",
    "sigmoid_chain_survey",
    "sign_test",
    "speeds_along_training",
    "spread_factor",
    "stacked_mlps",
    "state_gradient_norms",
    "target_direction",
    "transform_families",
    "translate",
    "weight_perturbation_grad",
    "z_decision",
]
