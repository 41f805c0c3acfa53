"""Measurements on networks: receptive fields, cost, invariance, sensitivity, gradient estimates.

- :func:`receptive_field` / :func:`gradient_support` — analytic and empirical receptive fields
  of sequential CNNs (P3).
- :func:`model_cost` — parameters, multiply-adds and activation memory per example (P1).
- :func:`translate`, :func:`rescale`, :func:`elastic_deform`, :func:`representation_similarity`,
  :func:`prediction_change` — invariance of representations and predictions (P2).
- :class:`BasisRegressor`, :func:`basis_matrix` — polynomial / Fourier least squares (F1).
- :func:`saliency`, :func:`parameter_sensitivity` — accuracy after perturbing k parameters (F3).
- :func:`backprop_grad`, :func:`finite_difference_grad`, :func:`weight_perturbation_grad`,
  :func:`gradient_agreement` — credit assignment with and without backprop (F4).
"""

from .cost import ModelCost, model_cost
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

__all__ = [
    "BASES",
    "PERTURBATIONS",
    "SELECTIONS",
    "BasisRegressor",
    "GradientEstimate",
    "LayerReceptiveField",
    "ModelCost",
    "SensitivityResult",
    "backprop_grad",
    "basis_matrix",
    "elastic_deform",
    "finite_difference_grad",
    "gradient_agreement",
    "gradient_support",
    "model_cost",
    "multi_indices",
    "n_basis",
    "order_for_budget",
    "parameter_sensitivity",
    "prediction_change",
    "receptive_field",
    "representation_similarity",
    "rescale",
    "saliency",
    "sequential_layers",
    "translate",
    "weight_perturbation_grad",
]
