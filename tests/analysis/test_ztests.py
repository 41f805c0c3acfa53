"""The Bonferroni max-|z| test and its three-way decision."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from nndl import ValidationError
from nndl.analysis import max_z_pvalue, z_decision


def test_two_sided_p_value_is_m_times_the_tail_of_the_largest_deviation():
    z = [0.5, -3.0, 1.0, 2.0]
    assert max_z_pvalue(z) == pytest.approx(4 * 2 * stats.norm.sf(3.0))


def test_one_sided_p_value_looks_only_at_positive_deviations():
    z = [-5.0, 1.0]  # a large decrease is no evidence against "does not increase"
    assert max_z_pvalue(z, alternative="greater") == pytest.approx(2 * stats.norm.sf(1.0))
    assert max_z_pvalue(z) < 1e-4


def test_p_value_is_capped_at_one():
    assert max_z_pvalue([0.0] * 10) == 1.0


@pytest.mark.parametrize(
    "z, match",
    [([], "at least one"), ([math.nan], "finite"), ([math.inf, 0.0], "finite")],
)
def test_bad_deviations_are_refused(z, match):
    with pytest.raises(ValidationError, match=match):
        max_z_pvalue(z)


def test_unknown_alternative_is_refused():
    with pytest.raises(ValidationError, match="alternative"):
        max_z_pvalue([1.0], alternative="less")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "p, expected",
    [
        (1.0, "holds"),
        (1e-3, "holds"),  # the hold threshold is inclusive
        (9.9e-4, "inconclusive"),
        (1e-6, "inconclusive"),
        (9.9e-7, "does not hold"),
        (0.0, "does not hold"),
    ],
)
def test_decision_on_both_sides_of_each_threshold(p, expected):
    assert z_decision(p, alpha_hold=1e-3, alpha_fail=1e-6) == expected


def test_decision_refuses_inverted_thresholds_and_bad_p():
    with pytest.raises(ValidationError, match="alpha_fail must not exceed"):
        z_decision(0.5, alpha_hold=1e-6, alpha_fail=1e-3)
    with pytest.raises(ValidationError, match="p_value"):
        z_decision(1.5, alpha_hold=1e-3, alpha_fail=1e-6)
