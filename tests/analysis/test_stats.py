import math

import numpy as np
import pytest
from scipy import stats as sps

from nndl import ValidationError
from nndl.analysis import decide, mean_interval, paired_interval, sign_test


def test_mean_interval_matches_scipy_t_interval():
    x = np.array([1.2, 0.7, 1.9, 1.1, 0.4, 1.6])
    iv = mean_interval(x, 0.9)
    low, high = sps.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert iv.estimate == pytest.approx(x.mean())
    assert (iv.low, iv.high) == pytest.approx((low, high))
    assert iv.sd == pytest.approx(x.std(ddof=1)) and iv.n == 6


def test_one_value_gives_an_infinite_interval_and_no_decision():
    iv = mean_interval([3.0])
    assert math.isinf(iv.low) and math.isinf(iv.high)
    assert decide(iv, 0.0) == "inconclusive"


def test_paired_interval_is_the_interval_of_differences():
    a, b = [0.9, 0.8, 0.95, 0.85], [0.7, 0.75, 0.8, 0.9]
    assert paired_interval(a, b) == mean_interval(np.subtract(a, b))
    with pytest.raises(ValidationError, match="pair up"):
        paired_interval([1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    "low,high,threshold,above,expected",
    [
        (1.0, 2.0, 0.5, True, "holds"),
        (1.0, 2.0, 2.5, True, "does not hold"),
        (1.0, 2.0, 1.5, True, "inconclusive"),
        (1.0, 2.0, 2.5, False, "holds"),
        (1.0, 2.0, 0.5, False, "does not hold"),
        (1.0, 2.0, 1.0, True, "inconclusive"),  # touching the threshold is not beyond it
    ],
)
def test_decide_on_both_sides_of_the_threshold(low, high, threshold, above, expected):
    from nndl.analysis import Interval

    iv = Interval((low + high) / 2, low, high, 5, 0.95, 0.1)
    assert decide(iv, threshold, above=above) == expected


def test_sign_test_matches_binomtest_and_drops_ties():
    d = [0.3, 0.1, -0.2, 0.4, 0.0, 0.5, 0.2]
    expected = sps.binomtest(5, 6, 0.5, alternative="greater").pvalue
    assert sign_test(d) == pytest.approx(expected)
    assert sign_test([0.0, 0.0]) == 1.0
    assert sign_test([-1.0] * 6, alternative="less") == pytest.approx(0.5**6)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValidationError):
        mean_interval(bad)


def test_bad_confidence_and_threshold_are_refused():
    with pytest.raises(ValidationError, match="confidence"):
        mean_interval([1.0, 2.0], 1.0)
    with pytest.raises(ValidationError, match="threshold must be finite"):
        decide(mean_interval([1.0, 2.0]), float("nan"))
    with pytest.raises(ValidationError, match="alternative"):
        sign_test([1.0], alternative="up")


def test_interval_formats_estimate_and_ends_and_scales():
    iv = paired_interval([0.91, 0.93, 0.92, 0.94], [0.90, 0.90, 0.91, 0.92])
    expected = f"{100 * iv.estimate:+.1f} [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]"
    assert f"{iv.scaled(100):+.1f}" == expected
    assert format(iv, "") == str(iv)
    flipped = iv.scaled(-2.0)
    assert flipped.low == pytest.approx(-2 * iv.high) and flipped.high == pytest.approx(-2 * iv.low)
    assert flipped.estimate == pytest.approx(-2 * iv.estimate) and flipped.sd == 2 * iv.sd
    assert (flipped.n, flipped.confidence) == (iv.n, iv.confidence)
