"""Measurements on networks: receptive fields, cost, invariance, sensitivity, gradient estimates.

- :func:`receptive_field` / :func:`gradient_support` — analytic and empirical receptive fields
  of sequential CNNs (P3).
- :func:`model_cost` — parameters, multiply-adds and activation memory per example (P1).
- :func:`translate`, :func:`rescale`, :func:`elastic_deform`, :func:`representation_similarity`,
  :func:`prediction_change` — invariance of representations and predictions (P2);
  :func:`layer_io_change` — a layer's input against its output under a transform (P2).
- :class:`BasisRegressor`, :func:`basis_matrix` — polynomial / Fourier least squares (F1).
- :func:`saliency`, :func:`parameter_sensitivity` — accuracy after perturbing k parameters (F3).
- :func:`backprop_grad`, :func:`finite_difference_grad`, :func:`weight_perturbation_grad`,
  :func:`gradient_agreement` — credit assignment with and without backprop (F4).
- :func:`hidden_layer_speeds` — per-layer learning speeds (bias- or weight-based) of one MLP or
  S stacked copies (G4–G7).
- :func:`geometric_fit`, :func:`geometric_factor` — the per-step factor of a log-linear fit
  (gradients that vanish or explode geometrically with depth or distance in time).
- :func:`mean_interval`, :func:`paired_interval`, :func:`sign_test`, :func:`decide` — t intervals
  and three-way decisions for comparisons over seeds.
- :func:`max_z_pvalue`, :func:`z_decision` — the Bonferroni max-|z| test of many Monte Carlo
  deviations from exact values, and its three-way decision.
- :func:`all_of`, :func:`any_of` — combine the three-way decisions of a claim's parts.
"""

from .cost import ModelCost, model_cost
from .decay import GeometricFit, geometric_factor, geometric_fit
from .decisions import all_of, any_of
from .fitting import BASES, BasisRegressor, basis_matrix, multi_indices, n_basis, order_for_budget
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
from .layer_change import layer_io_change, relative_change
from .layer_speeds import SPEED_MEASURES, hidden_layer_speeds, log10_first_last, log10_spread
from .receptive_field import (
    LayerReceptiveField,
    gradient_support,
    receptive_field,
    sequential_layers,
)
from .sensitivity import (
    PERTURBATIONS,
    SELECTIONS,
    SensitivityResult,
    parameter_sensitivity,
    saliency,
)
from .stats import Decision, Interval, decide, mean_interval, paired_interval, sign_test
from .ztests import max_z_pvalue, z_decision

__all__ = [
    "BASES",
    "PERTURBATIONS",
    "SELECTIONS",
    "SPEED_MEASURES",
    "BasisRegressor",
    "Decision",
    "GeometricFit",
    "GradientEstimate",
    "Interval",
    "LayerReceptiveField",
    "ModelCost",
    "SensitivityResult",
    "all_of",
    "any_of",
    "backprop_grad",
    "basis_matrix",
    "decide",
    "elastic_deform",
    "finite_difference_grad",
    "geometric_factor",
    "geometric_fit",
    "gradient_agreement",
    "gradient_support",
    "hidden_layer_speeds",
    "layer_io_change",
    "log10_first_last",
    "log10_spread",
    "max_z_pvalue",
    "mean_interval",
    "model_cost",
    "multi_indices",
    "n_basis",
    "order_for_budget",
    "paired_interval",
    "parameter_sensitivity",
    "prediction_change",
    "receptive_field",
    "relative_change",
    "representation_similarity",
    "rescale",
    "saliency",
    "sequential_layers",
    "sign_test",
    "translate",
    "weight_perturbation_grad",
    "z_decision",
]
