import math

import numpy as np
import pytest
import torch

from nndl._validation import (
    DTypeError,
    ShapeError,
    ValidationError,
    check_choice,
    check_dtype,
    check_finite,
    check_in_range,
    check_int,
    check_shape,
    closest_first,
)


def test_check_shape_binds_letters_and_reports_both_shapes():
    sizes = check_shape(torch.zeros(4, 2, 8, 9), "B 2 H W", name="flow")
    assert sizes == {"B": 4, "H": 8, "W": 9}
    with pytest.raises(
        ShapeError, match=r"flow must have shape \(B, 2, H, W\).*got \(4, 3, 8, 8\)"
    ):
        check_shape(torch.zeros(4, 3, 8, 8), "B 2 H W", name="flow")
    with pytest.raises(ShapeError, match=r"4 dimensions\), got \(3, 8, 8\)"):
        check_shape(torch.zeros(3, 8, 8), "B C H W", name="f1")


def test_check_shape_same_letter_must_agree_across_calls():
    sizes = check_shape(torch.zeros(2, 3, 4, 5), "B C H W", name="f1")
    with pytest.raises(ShapeError, match=r"f2 must have shape .* = \(2, 3, 4, 5\)"):
        check_shape(torch.zeros(2, 3, 4, 6), "B C H W", name="f2", sizes=sizes)


def test_check_shape_wildcards_and_non_tensors():
    check_shape(torch.zeros(7, 2, 3), "* 3", name="x")
    check_shape(torch.zeros(2, 3, 4, 5), "B C *", name="x")
    with pytest.raises(DTypeError, match="x must be a torch.Tensor, got list"):
        check_shape([1, 2], "N", name="x")


def test_check_finite_counts_nan_and_inf():
    x = torch.tensor([1.0, math.nan, math.inf, 2.0])
    with pytest.raises(ValidationError, match="1 NaN and 1 infinite values out of 4"):
        check_finite(x, name="data")
    check_finite(torch.arange(3), name="ints")
    with pytest.raises(ValidationError, match="data must be finite"):
        check_finite(np.array([np.nan]), name="data")


def test_numbers_and_choices():
    assert check_int(3, name="k", low=0) == 3
    assert check_int(np.int64(3), name="k") == 3
    with pytest.raises(ValidationError, match=r"d must be an int in the range \[0, inf\], got -1"):
        check_int(-1, name="d", low=0)
    with pytest.raises(DTypeError, match="must be an int, got float"):
        check_int(1.5, name="d")
    with pytest.raises(DTypeError):
        check_int(True, name="d")
    assert check_in_range(0.5, name="p", low=0, high=1) == 0.5
    with pytest.raises(ValidationError, match=r"p must be in the range \(0, 1\], got 0.0"):
        check_in_range(0.0, name="p", low=0, high=1, low_inclusive=False)
    with pytest.raises(ValidationError, match="unknown loss 'hinj'; valid: hinge"):
        check_choice("hinj", ["logistic", "hinge", "squared"], name="loss")


def test_closest_first_orders_by_similarity():
    assert closest_first("rellu", ["sigmoid", "relu", "rrelu"])[0] in {"relu", "rrelu"}
    assert closest_first("sigmod", ["tanh", "relu", "sigmoid"])[0] == "sigmoid"


def test_check_dtype():
    check_dtype(torch.zeros(2), name="x")
    with pytest.raises(
        DTypeError, match="x must be a floating-point tensor, got dtype torch.int64"
    ):
        check_dtype(torch.zeros(2, dtype=torch.long), name="x")
