"""mean_sd_text: the sample sd (n − 1), the scale, the digits, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from nndl._validation import DTypeError, ValidationError
from nndl.analysis import mean_sd_text


def test_mean_and_sample_sd_scaled() -> None:
    assert mean_sd_text([0.9, 0.8], scale=100) == "85.0 ± 7.1"  # sd = 0.1/√2 · 100
    assert mean_sd_text(np.array([1.0, 2.0, 3.0]), digits=3) == "2.000 ± 1.000"
    assert mean_sd_text([2, 2]) == "2.0 ± 0.0"


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([1.0], {}, "values"),
        ([[1.0, 2.0], [3.0, 4.0]], {}, "values"),
        ([1.0, 2.0], {"scale": float("inf")}, "scale"),
        ([1.0, 2.0], {"digits": -1}, "digits"),
        ([1.0, float("nan")], {}, "values must be finite"),
    ],
)
def test_bad_input_is_refused(values, kwargs, match) -> None:
    with pytest.raises(ValidationError, match=match):
        mean_sd_text(values, **kwargs)


def test_non_numbers_are_refused_by_name() -> None:
    with pytest.raises(DTypeError, match="values must be numbers"):
        mean_sd_text(["a", 1.0])
