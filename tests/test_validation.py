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


def test_public_module_reexports_every_check_and_error():
    import nndl._validation as private
    import nndl.validation as public

    for name in private.__all__:
        assert getattr(public, name) is getattr(private, name), name
    assert issubclass(public.ShapeError, public.ValidationError)
    assert issubclass(public.ValidationError, ValueError)
    assert issubclass(public.DTypeError, TypeError)
    assert issubclass(public.OutputPathError, OSError)
    assert issubclass(public.OutputPathError, public.NNDLError)


def test_check_same_device_and_dtype():
    from nndl.validation import check_same_device, check_same_dtype

    a, b = torch.zeros(2), torch.zeros(3)
    assert check_same_device(a, b, names=("a", "b")) == torch.device("cpu")
    assert check_same_dtype(a, b, names=("a", "b")) == torch.float32
    with pytest.raises(DTypeError, match=r"a, b must have the same dtype, got a torch.float32, "):
        check_same_dtype(a, b.double(), names=("a", "b"))
    with pytest.raises(DTypeError, match="b must be a torch.Tensor"):
        check_same_device(a, [1.0], names=("a", "b"))
    with pytest.raises(ValidationError, match="names must name every tensor"):
        check_same_device(a, b, names=("a",))
    meta = torch.zeros(2, device="meta")
    with pytest.raises(ValidationError, match="a, m must be on the same device, got a on cpu"):
        check_same_device(a, meta, names=("a", "m"))


def test_check_same_shape_names_the_compared_quantity():
    from nndl.validation import check_same_shape

    a, b = torch.zeros(2, 3), torch.zeros(2, 4)
    check_same_shape(a, a.clone(), names=("a", "b"))
    with pytest.raises(ShapeError, match=r"a and b must have the same shape, got \(2, 3\) and"):
        check_same_shape(a, b, names=("a", "b"))
    with pytest.raises(ShapeError, match=r"must have the same size, got \(2, 3\) and \(2, 4\)"):
        check_same_shape(a, b, names=("a", "b"), what="size")


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "message"),
    [
        (np.zeros((1, 4, 4)), {}, DTypeError, "img must be a torch.Tensor image"),
        (torch.zeros(4, 4), {}, ShapeError, r"\(C, H, W\) or \(B, C, H, W\), got \(4, 4\)"),
        (torch.zeros(2, 1, 4, 4), {"batched": False}, ShapeError, r"\(C, H, W\), got"),
        (torch.zeros(1, 4, 4), {"batched": True}, ShapeError, r"\(B, C, H, W\), got"),
        (torch.zeros(1, 4, 4, dtype=torch.uint8), {}, DTypeError, "floating-point"),
        (torch.zeros(2, 4, 4), {"channels": (1, 3)}, ShapeError, "1 or 3 channels"),
        (torch.zeros(1, 1, 4), {"min_size": 2}, ShapeError, "at least 2 × 2"),
        (torch.zeros(0, 1, 4, 4), {}, ShapeError, "not empty"),
        (torch.full((1, 2, 2), math.nan), {}, ValidationError, "img must be finite, got 4 NaN"),
    ],
)
def test_check_image_refuses_each_kind_of_bad_image(image, kwargs, error, message):
    from nndl.validation import check_image

    with pytest.raises(error, match=message):
        check_image(image, name="img", **kwargs)


def test_check_image_accepts_and_returns_good_images():
    from nndl.validation import check_image

    img = torch.rand(2, 3, 5, 6)
    assert check_image(img, name="img", channels=3, min_size=5) is img
    assert check_image(img[0], name="img", batched=False) is not None
    nan = torch.full((1, 2, 2), math.nan)
    assert check_image(nan, name="img", finite=False) is nan


def test_check_in_range_refuses_infinity_unless_allowed():
    with pytest.raises(ValidationError, match="and finite, got inf"):
        check_in_range(math.inf, name="lr", low=0.0, low_inclusive=False)
    assert check_in_range(math.inf, name="tol", low=0.0, allow_inf=True) == math.inf
    with pytest.raises(ValidationError, match="got nan"):
        check_in_range(math.nan, name="tol", allow_inf=True)
