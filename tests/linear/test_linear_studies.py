"""L1/L2 measurements: sign checks over folds, the 2-D boundary, undecided regions, comparison."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.model_selection import StratifiedKFold

from nndl import ValidationError
from nndl.linear import (
    STRATEGIES,
    UNDECIDED,
    compare_with_sklearn,
    decode_region_map,
    encode_region_map,
    layout_ambiguity,
    pca_boundary,
    sign_agreement_cv,
    sklearn_counterparts,
)


def binary(n=120, d=4, seed=0):
    X, y = make_blobs(n, n_features=d, centers=2, cluster_std=2.0, random_state=seed)
    return X, y


def test_sign_agreement_cv_checks_every_held_out_point_per_loss():
    X, y = binary()
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    out = sign_agreement_cv(X, y, folds, losses=("logistic", "hinge"), random_state=0)
    assert out["held_out_predictions"] == 2 * len(X) and out["sign_mismatches"] == 0
    assert set(out["accuracy"]) == {"logistic", "hinge"} and len(out["accuracy"]["hinge"]) == 3
    assert len(out["held_out_f"]) == len(out["held_out_y"]) == len(X)
    assert min(out["sklearn_logistic_accuracy"]) > 0.8
    with pytest.raises(ValidationError, match="losses"):
        sign_agreement_cv(X, y, folds, losses=("nope",))
    with pytest.raises(ValidationError, match="two classes"):
        sign_agreement_cv(X, y % 1, folds, losses=("logistic",))
    with pytest.raises(ValidationError, match="folds"):
        sign_agreement_cv(X, y, [], losses=("logistic",))


def test_pca_boundary_lies_on_the_line_and_splits_the_plane_in_two():
    X, y = binary(d=5)
    out = pca_boundary(X, y, resolution=80, random_state=0)
    geo, plane = out["geometry"], out["plane"]
    assert geo["max_distance_to_line"] <= geo["grid_step"]
    assert (geo["components_positive"], geo["components_negative"]) == (1, 1)
    assert len(plane["w"]) == 2 and np.asarray(plane["z"]).shape == (len(X), 2)
    with pytest.raises(ValidationError, match="features"):
        pca_boundary(X[:, :1], y)


def test_region_maps_round_trip_and_refuse_bad_input():
    labels = np.array([[0, 1, -1], [2, 2, 0]])
    rows = encode_region_map(labels)
    assert rows == ["01" + UNDECIDED, "220"]
    assert np.array_equal(decode_region_map(rows), labels)
    with pytest.raises(ValidationError):
        encode_region_map(np.array([[10]]))
    with pytest.raises(ValidationError):
        decode_region_map(["01", "0"])
    with pytest.raises(ValidationError):
        decode_region_map(["0x"])


def test_layout_ambiguity_ovr_leaves_a_region_argmax_none():
    X, y = make_blobs(150, centers=[[0, 0], [3, 0], [7, 1.5]], random_state=0)
    out = layout_ambiguity(X, y, resolution=60, random_state=0, map_resolution=20)
    assert out["area"]["ovr"] > 0 and out["area"]["argmax"] == 0
    assert out["discriminants"] == {"ovr": 3, "ovo": 3, "argmax": 3}
    regions = out["map"]["regions"]
    assert set(regions) == set(STRATEGIES) and len(regions["ovr"]) == 20
    assert UNDECIDED in "".join(regions["ovr"]) and UNDECIDED not in "".join(regions["argmax"])
    assert "map" not in layout_ambiguity(X, y, resolution=20)
    with pytest.raises(ValidationError, match="losses"):
        layout_ambiguity(X, y, loss="nope")


def test_compare_with_sklearn_rows_per_model_and_counts():
    rows = compare_with_sklearn(["iris"], folds=3, random_state=0)
    assert len(rows) == len(sklearn_counterparts())
    ours = {r["strategy"]: r["discriminants"] for r in rows if r["ours"]}
    assert ours == {"ovr": 3, "ovo": 3, "argmax": 3}
    assert all(r["accuracy"] > 0.8 for r in rows if r["model"] != "sklearn Perceptron")
    with pytest.raises(ValidationError, match="folds"):
        compare_with_sklearn(["iris"], folds=1)
