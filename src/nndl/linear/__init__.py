"""Linear classifiers as scikit-learn estimators on PyTorch (claims L1, L2).

- :class:`LinearClassifier`: losses :data:`LOSSES`, strategies :data:`STRATEGIES`
  (``"ovr"``, ``"ovo"``, ``"argmax"``), solvers :data:`SOLVERS` (L-BFGS, SGD), L2 penalty;
- :func:`ambiguous_mask` / :func:`ambiguity`: where a strategy's own rule leaves the class
  undecided;
- :func:`region_labels` / :func:`boundary_geometry`: class indices with undecided points
  marked, and where a binary classifier's predicted class changes against :math:`f = 0`;
- :func:`cross_validate_linear` / :func:`count_discriminants`: held-out comparison with
  scikit-learn's linear classifiers at a matched penalty;
- :func:`decision_regions`: regions, boundaries :math:`f_k = 0` and ambiguous areas of a 2-D
  problem; :func:`grid_2d`: the grid it draws on.
"""

from ._losses import LOSSES
from ._params import InvalidParameterError
from ._solvers import SOLVERS
from ._strategies import STRATEGIES
from .analysis import (
    ambiguity,
    ambiguous_mask,
    boundary_geometry,
    decision_regions,
    grid_2d,
    region_labels,
)
from .compare import count_discriminants, cross_validate_linear
from .estimator import DTYPES, LinearClassifier

__all__ = [
    "DTYPES",
    "LOSSES",
    "SOLVERS",
    "STRATEGIES",
    "InvalidParameterError",
    "LinearClassifier",
    "ambiguity",
    "ambiguous_mask",
    "boundary_geometry",
    "count_discriminants",
    "cross_validate_linear",
    "decision_regions",
    "grid_2d",
    "region_labels",
]
