"""Bad input raises the errors scikit-learn users expect, before any work."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from sklearn.exceptions import NotFittedError

from nndl import ValidationError
from nndl.linear import InvalidParameterError, LinearClassifier

X = np.random.default_rng(0).normal(size=(30, 4))
Y = np.arange(30) % 3


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"loss": "log"},
            r"The 'loss' parameter of LinearClassifier must be a str among .*"
            r"Got 'log' instead\. Did you mean 'logistic'\?",
        ),
        ({"strategy": "one-vs-rest"}, r"'strategy' parameter .* among \{'argmax', 'ovo', 'ovr'\}"),
        ({"solver": "adam"}, r"'solver' parameter .* among \{'auto', 'lbfgs', 'sgd'\}"),
        ({"alpha": -1.0}, r"'alpha' parameter .* a float in the range \[0\.0, inf\)\. Got -1\.0"),
        ({"alpha": "big"}, r"'alpha' parameter .* Got 'big' instead"),
        ({"max_iter": 0}, r"'max_iter' parameter .* an int in the range \[1, inf\)\. Got 0"),
        ({"max_iter": 10.0}, r"'max_iter' parameter .* an int"),
        ({"tol": float("nan")}, r"'tol' parameter"),
        ({"learning_rate": 0.0}, r"'learning_rate' parameter .* \(0\.0, inf\)"),
        ({"fit_intercept": "yes"}, r"'fit_intercept' parameter .* a bool"),
        ({"random_state": "seed"}, r"'random_state' parameter .* None, an int or a numpy"),
        ({"dtype": "float16"}, r"'dtype' parameter .* \{'float32', 'float64'\}"),
        ({"device": "gpu0"}, r"'device' parameter"),
        (
            {"loss": "perceptron", "solver": "lbfgs"},
            r"must be 'sgd' or 'auto' when "
            r"loss='perceptron'",
        ),
    ],
)
def test_bad_parameter_raises_sklearn_style_error_before_looking_at_data(params, match):
    bad_data = np.full((3, 2), np.nan)  # would fail validation if the data came first
    with pytest.raises(InvalidParameterError, match=match) as info:
        LinearClassifier(**params).fit(bad_data, [0, 1, 0])
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_init_only_stores_parameters():
    clf = LinearClassifier(loss="nonsense", alpha=-5)  # no error until fit, as in scikit-learn
    assert clf.get_params()["loss"] == "nonsense"


def test_unavailable_device_is_rejected():
    with pytest.raises(ValidationError, match="device='cuda:99'"):
        LinearClassifier(device="cuda:99").fit(X, Y)


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_X_is_rejected(value, word):
    X_bad = X.copy()
    X_bad[3, 1] = value
    with pytest.raises(ValueError, match=f"Input X contains {word}"):
        LinearClassifier().fit(X_bad, Y)


def test_wrong_dimension_X_is_rejected():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        LinearClassifier().fit(X[:, 0], Y)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        LinearClassifier().fit(X.reshape(30, 2, 2), Y)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LinearClassifier().fit(X, Y[:-1])


def test_single_class_is_rejected():
    with pytest.raises(ValueError, match="at least 2 classes .* only one class: 'a'"):
        LinearClassifier().fit(X, ["a"] * len(X))


def test_continuous_target_is_rejected():
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        LinearClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_feature_count_at_predict_must_match_fit():
    clf = LinearClassifier().fit(X, Y)
    for method in (clf.predict, clf.decision_function, clf.predict_proba, clf.discriminants):
        with pytest.raises(
            ValueError,
            match="X has 3 features, but LinearClassifier is expecting 4 features as input",
        ):
            method(X[:, :3])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_is_rejected_clearly(fmt):
    with pytest.raises(TypeError, match="Sparse data was passed .* dense data is required"):
        LinearClassifier().fit(scipy.sparse.random(30, 4, density=0.5, format=fmt), Y)
    clf = LinearClassifier().fit(X, Y)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        clf.predict(scipy.sparse.csr_matrix(X))


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LinearClassifier().predict(X)
