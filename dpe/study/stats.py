"""Significance tests: the paper's two-proportion Z-test (Sec. 5.1, Table 4), Welch's t-test
over trial results (the paper's test over trials, with the t reference that 2-5 trials need),
a paired test across trials with an effect size and a confidence interval (``paired_test``),
and Holm's correction for a chapter that makes many tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from scipy.stats import norm, t as student_t, wilcoxon

__all__ = ["PairedTest", "TTest", "ZTest", "holm", "paired_test", "welch_test", "z_test_proportions"]

# Differences whose spread is below this fraction of the values compared are rounding noise
# (0.8 - 0.7 and 0.9 - 0.8 differ in the 17th digit): treated as no spread at all.
RELATIVE_NOISE = 1e-9


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


@dataclass(frozen=True)
class TTest:
    t: float  # positive when the first method is better
    dof: float  # degrees of freedom (Welch-Satterthwaite)
    p: float  # two-sided p-value
    low: float = math.nan  # 95 % confidence interval of the difference of means (first - second)
    high: float = math.nan

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p < alpha


def _no_spread(spread: float, values: Sequence[float]) -> bool:
    """True when ``spread`` is rounding noise next to the magnitude of ``values``."""
    return spread <= RELATIVE_NOISE * max(1.0, max(abs(float(v)) for v in values))


def welch_test(first: Sequence[float], second: Sequence[float]) -> TTest:
    """Welch's t-test on two sets of trial results: t = (m1 - m2) / sqrt(s1^2/n1 + s2^2/n2), s^2
    the unbiased sample variances, against Student's t with the Welch-Satterthwaite degrees of
    freedom; the 95 % CI of m1 - m2 is (m1 - m2) +- t_{0.975, dof} sqrt(s1^2/n1 + s2^2/n2).
    The paper compares trial means with a Z-test; with 2-5 trials a normal reference is far
    too confident ([.578, .592] against [.723, .726]: Z gives p = 1e-84, Welch 0.025)."""
    n1, n2 = len(first), len(second)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"a test over trials needs at least 2 trials per method; got {n1} and {n2}")
    m1, m2 = sum(first) / n1, sum(second) / n2
    a = sum((x - m1) ** 2 for x in first) / (n1 - 1) / n1  # s1^2 / n1
    b = sum((x - m2) ** 2 for x in second) / (n2 - 1) / n2
    difference = m1 - m2
    if _no_spread(math.sqrt(a + b), [*first, *second]):
        t = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        return TTest(t, float(n1 + n2 - 2), 1.0 if difference == 0 else 0.0, difference, difference)
    dof = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))
    t = difference / math.sqrt(a + b)
    half = float(student_t.ppf(0.975, dof) * math.sqrt(a + b))
    return TTest(float(t), float(dof), float(2 * student_t.sf(abs(t), dof)), difference - half, difference + half)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control for m tests): sort the p
    ascending, multiply the i-th smallest (i from 0) by m - i, carry the running maximum, cap
    at 1; returned in the input order. NaN p-values stay NaN and do not count in m."""
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class PairedTest:
    n: int  # pairs (trials)
    mean_difference: float  # mean of first - second over the pairs
    ci_low: float  # confidence interval of the mean difference (Student t, n - 1 dof)
    ci_high: float
    t: float  # paired t statistic; positive when the first method is better
    p: float  # two-sided p-value of the paired t-test
    effect_size: float  # Cohen's d_z: mean difference / standard deviation of the differences
    p_wilcoxon: float  # two-sided p-value of the Wilcoxon signed-rank test (no normality assumed)

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p < alpha


def paired_test(first: Sequence[float], second: Sequence[float], confidence: float = 0.95) -> PairedTest:
    """Compare two methods run on the same trials (trial i of both starts from the same initial
    labelled set and seeds): the paired t-test on d_i = first_i - second_i, its ``confidence``
    interval mean(d) +- t_{(1+c)/2, n-1} sd(d) / sqrt(n), Cohen's d_z = mean(d) / sd(d), and the
    Wilcoxon signed-rank test as a check that needs no normality. Pairing removes the variance
    the trials share (their initial set), which a test over unpaired means counts as noise."""
    if len(first) != len(second):
        raise ValueError(f"paired samples need equal lengths; got {len(first)} and {len(second)}")
    n = len(first)
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 pairs; got {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} is invalid: give a level in (0, 1), e.g. 0.95")
    d = [float(a) - float(b) for a, b in zip(first, second)]
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    values = [*first, *second]
    if _no_spread(sd, values):  # identical differences (to rounding): no spread to test against
        if _no_spread(abs(mean), values):
            mean = 0.0
        t_stat = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p, half, effect = (1.0 if mean == 0 else 0.0), 0.0, t_stat
    else:
        t_stat = mean / (sd / math.sqrt(n))
        p = float(2 * student_t.sf(abs(t_stat), n - 1))
        half = float(student_t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
        effect = mean / sd
    p_w = 1.0 if all(x == 0 for x in d) else float(wilcoxon(d, zero_method="wilcox").pvalue)
    return PairedTest(n, mean, mean - half, mean + half, float(t_stat), p, effect, p_w)
