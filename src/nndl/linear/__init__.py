"""Linear classifiers as scikit-learn estimators on PyTorch (claims L1, L2).

- :class:`LinearClassifier`: losses :data:`LOSSES`, strategies :data:`STRATEGIES`
  (``"ovr"``, ``"ovo"``, ``"argmax"``), solvers :data:`SOLVERS` (L-BFGS, SGD), L2 penalty;
- :func:`ambiguous_mask` / :func:`ambiguity`: where a strategy's own rule leaves the class
  undecided;
- :func:`region_labels` / :func:`boundary_geometry`: class indices with undecided points
  marked, and where a binary classifier's predicted class changes against :math:`f = 0`;
- :func:`cross_validate_linear` / :func:`count_discriminants`: held-out comparison with
  scikit-learn's linear classifiers at a matched penalty;
- :mod:`~nndl.linear.studies`: :func:`sign_agreement_cv`, :func:`pca_boundary`,
  :func:`layout_ambiguity`, :func:`encode_region_map` / :func:`decode_region_map`,
  :func:`sklearn_counterparts`, :func:`compare_with_sklearn` — what L1 and L2 measure;
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
from .studies import (
    UNDECIDED,
    compare_with_sklearn,
    decode_region_map,
    encode_region_map,
    expected_discriminants,
    layout_ambiguity,
    pca_boundary,
    sign_agreement_cv,
    sklearn_counterparts,
)

__all__ = [
    "DTYPES",
    "LOSSES",
    "SOLVERS",
    "STRATEGIES",
    "UNDECIDED",
    "InvalidParameterError",
    "LinearClassifier",
    "ambiguity",
    "ambiguous_mask",
    "boundary_geometry",
    "compare_with_sklearn",
    "count_discriminants",
    "cross_validate_linear",
    "decision_regions",
    "decode_region_map",
    "encode_region_map",
    "expected_discriminants",
    "grid_2d",
    "layout_ambiguity",
    "pca_boundary",
    "region_labels",
    "sign_agreement_cv",
    "sklearn_counterparts",
]
