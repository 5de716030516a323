"""Significance tests: the Z-tests the paper uses to compare methods (Sec. 5.1, Table 4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy.stats import norm

__all__ = ["ZTest", "z_test_means", "z_test_proportions"]


@dataclass(frozen=True)
class ZTest:
    z: float  # positive when the first method is better
    p: float  # p-value, two-sided unless asked otherwise

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p < alpha


def _z_test(difference: float, se: float, alternative: str) -> ZTest:
    """z = difference / se (+-inf for a nonzero difference without spread) and its p-value."""
    if se == 0:
        z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
    else:
        z = difference / se
    if alternative == "two-sided":
        p = 2 * norm.sf(abs(z))
    elif alternative == "greater":
        p = norm.sf(z)
    elif alternative == "less":
        p = norm.cdf(z)
    else:
        raise ValueError(f"alternative={alternative!r} is invalid: use two-sided, greater or less")
    return ZTest(float(z), float(p))


def z_test_proportions(acc1: float, n1: int, acc2: float, n2: int, alternative: str = "two-sided") -> ZTest:
    """Two-proportion Z-test on accuracies measured on n1 and n2 evaluation samples, with the
    pooled proportion: z = (a1 - a2) / sqrt(p (1 - p) (1/n1 + 1/n2)), p = (a1 n1 + a2 n2)/(n1 + n2)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError(f"sample sizes must be positive; got n1={n1}, n2={n2}")
    pooled = (acc1 * n1 + acc2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return _z_test(acc1 - acc2, se, alternative)


def z_test_means(first: Sequence[float], second: Sequence[float], alternative: str = "two-sided") -> ZTest:
    """Z-test on two sets of trial results: z = (m1 - m2) / sqrt(s1^2/n1 + s2^2/n2), with s^2 the
    unbiased sample variances. With 3 trials a Z-test is optimistic (a t-test would be wider);
    we report it because it is the paper's test."""
    n1, n2 = len(first), len(second)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"a test over trials needs at least 2 trials per method; got {n1} and {n2}")
    m1, m2 = sum(first) / n1, sum(second) / n2
    v1 = sum((x - m1) ** 2 for x in first) / (n1 - 1)
    v2 = sum((x - m2) ** 2 for x in second) / (n2 - 1)
    return _z_test(m1 - m2, math.sqrt(v1 / n1 + v2 / n2), alternative)
