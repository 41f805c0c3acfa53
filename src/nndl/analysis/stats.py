"""Small-sample statistics for comparisons over seeds: t intervals, paired tests, decisions.

A claim measured over ``n`` seeds gives ``n`` numbers (or ``n`` paired differences). These
helpers turn them into a confidence interval and a three-way decision against a threshold fixed
before the run:

- :func:`mean_interval` — the Student-t interval :math:`\\bar x \\pm t_{n-1,\\,1-\\alpha/2}\\,
  s/\\sqrt n` of a mean (two-sided, ``confidence`` = :math:`1-\\alpha`);
- :func:`paired_interval` — the same interval for the paired differences :math:`a_i - b_i`
  (seed ``i`` trained both arms), which removes the between-seed spread from the comparison;
- :func:`sign_test` — the exact binomial (sign) test on the signs of paired differences, for
  data far from normal (ties are dropped);
- :func:`decide` — ``"holds"`` when the whole interval lies on the claimed side of the
  threshold, ``"does not hold"`` when it lies wholly on the other side, ``"inconclusive"`` when
  it straddles the threshold. A non-inferiority claim ("keeps accuracy within a margin m") is
  ``decide(paired_interval(deep, shallow), -m, above=True)``.

With one value the interval is infinite (no spread can be estimated), so every decision from a
single seed is inconclusive: a rule that needs a decision must ask for at least two seeds.

Example:
    >>> iv = paired_interval([0.91, 0.93, 0.92, 0.94], [0.90, 0.90, 0.91, 0.92])
    >>> round(iv.estimate, 4), iv.n
    (0.0175, 4)
    >>> decide(iv, 0.0, above=True)
    'holds'
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as _stats

from .._validation import ValidationError, check_in_range

__all__ = [
    "Decision",
    "Interval",
    "decide",
    "mean_interval",
    "paired_interval",
    "sign_test",
]

Decision = Literal["holds", "does not hold", "inconclusive"]


@dataclass(frozen=True)
class Interval:
    """A confidence interval of a mean.

    Attributes:
        estimate: the sample mean.
        low: lower end (``-inf`` when it cannot be estimated, e.g. one value).
        high: upper end (``+inf`` when it cannot be estimated).
        n: number of values.
        confidence: two-sided confidence level, e.g. 0.95.
        sd: sample standard deviation (``nan`` for one value).
    """

    estimate: float
    low: float
    high: float
    n: int
    confidence: float
    sd: float

    def __str__(self) -> str:
        return (
            f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] "
            f"({self.confidence:.0%} t interval, n={self.n})"
        )

    def __format__(self, spec: str) -> str:
        """``f"{iv:+.1f}"`` gives ``"+0.9 [-0.1, +1.9]"``: estimate and ends in one format.

        An empty spec gives :meth:`__str__` (with the confidence and ``n``).
        """
        if not spec:
            return str(self)
        return f"{self.estimate:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def scaled(self, factor: float) -> Interval:
        """The interval of ``factor`` × the mean (e.g. 100 for percentage points).

        A negative factor swaps the ends; ``sd`` scales by ``|factor|``.
        """
        ends = sorted((self.low * factor, self.high * factor))
        return dataclasses.replace(
            self, estimate=self.estimate * factor, low=ends[0], high=ends[1],
            sd=self.sd * abs(factor),
        )  # fmt: skip

    def to_dict(self) -> dict[str, float]:
        """JSON-friendly ``{estimate, low, high, n, confidence, sd}`` (infinities kept)."""
        return dataclasses.asdict(self)


def _as_values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValidationError(f"{name} must hold at least one value, got none")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def mean_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Two-sided Student-t confidence interval of the mean of ``values``.

    Args:
        values: one number per seed, finite.
        confidence: the interval's coverage in (0, 1).

    Returns:
        :class:`Interval`; with one value, ``low = -inf`` and ``high = +inf``.

    Raises:
        ValidationError: empty or non-finite ``values``; ``confidence`` outside (0, 1).
    """
    check_in_range(
        confidence, name="confidence", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    arr = _as_values(values, "values")
    mean = float(arr.mean())
    n = int(arr.size)
    if n < 2:
        return Interval(mean, -math.inf, math.inf, n, confidence, math.nan)
    sd = float(arr.std(ddof=1))
    half = float(_stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, confidence, sd)


def paired_interval(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> Interval:
    """t interval of the mean paired difference ``a_i - b_i`` (seed ``i`` ran both arms).

    Raises:
        ValidationError: ``a`` and ``b`` differ in length, are empty or not finite.
    """
    x, y = _as_values(a, "a"), _as_values(b, "b")
    if x.shape != y.shape:
        raise ValidationError(
            f"a and b must pair up one value per seed, got {x.size} and {y.size} values"
        )
    return mean_interval(x - y, confidence)


def sign_test(
    differences: Sequence[float] | np.ndarray,
    *,
    alternative: Literal["greater", "less", "two-sided"] = "greater",
) -> float:
    """Exact sign test (``scipy.stats.binomtest``) that the median difference is > 0 (or < 0).

    Ties (zero differences) are dropped, as usual; with no non-zero difference the p-value is 1.

    Returns:
        The p-value.
    """
    choices = ("greater", "less", "two-sided")
    if alternative not in choices:
        raise ValidationError(
            f"alternative must be one of {', '.join(choices)}, got {alternative!r}"
        )
    d = _as_values(differences, "differences")
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 1.0
    positive = int((nonzero > 0).sum())
    return float(_stats.binomtest(positive, int(nonzero.size), 0.5, alternative=alternative).pvalue)


def decide(interval: Interval, threshold: float, *, above: bool = True) -> Decision:
    """Three-way decision of a claim "the mean is above (or below) ``threshold``".

    Args:
        interval: from :func:`mean_interval` or :func:`paired_interval`.
        threshold: the value fixed in the rule before the run.
        above: the claim says the mean is greater than ``threshold`` (False: smaller).

    Returns:
        ``"holds"`` if the interval lies wholly on the claimed side, ``"does not hold"`` if it
        lies wholly on the other side, else ``"inconclusive"``.
    """
    if not math.isfinite(threshold):
        raise ValidationError(f"threshold must be finite, got {threshold}")
    low, high = (interval.low, interval.high) if above else (-interval.high, -interval.low)
    t = threshold if above else -threshold
    if low > t:
        return "holds"
    if high < t:
        return "does not hold"
    return "inconclusive"
