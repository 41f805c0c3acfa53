"""scikit-learn's bundled tabular data sets (iris, wine, breast_cancer, digits) as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_choice

__all__ = ["TABULAR_DATASETS", "TabularData", "load_tabular"]

TABULAR_DATASETS = ("iris", "wine", "breast_cancer", "digits")


@dataclass
class TabularData:
    """Features ``X`` (N, D) float64 and integer labels ``y`` (N,), with names."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_names: list[str]
    name: str


def load_tabular(name: str) -> TabularData:
    """One of :data:`TABULAR_DATASETS` (raw features; scale them in your pipeline)."""
    import sklearn.datasets as ds

    check_choice(name, TABULAR_DATASETS, name="data set")
    bunch = getattr(ds, f"load_{name}")()
    feature_names = [str(f) for f in getattr(bunch, "feature_names", range(bunch.data.shape[1]))]
    return TabularData(
        bunch.data.astype(np.float64),
        bunch.target.astype(np.int64),
        feature_names,
        [str(t) for t in bunch.target_names],
        name,
    )
