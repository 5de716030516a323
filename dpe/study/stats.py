"""The study's one statistics core: the paper's two-proportion Z-test (Sec. 5.1, Table 4),
Welch's t-test over trial results (the paper's test over trials, with the t reference that 2-5
trials need), a paired test across trials with an effect size, a confidence interval and
equivalence by two one-sided tests (``paired_test``, ``PairedTest.equivalence_p``), Holm's
correction for a chapter that makes many tests, and the verdicts read from them: a chapter's
(``verdict``: holds / shrinks / vanishes / inconclusive / reverses) and a claim's against the
paper's own effect (``claim_verdict``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

from scipy.stats import norm, t as student_t, wilcoxon

__all__ = ["no_spread", "z_test", "ClaimKind", "EQUIVALENCE_MARGIN", "PairedTest", "Status", "TTest", "Verdict", "VERDICTS", "ZTest", "claim_verdict",
           "holm", "paired_test", "verdict", "welch_test", "z_test_proportions"]

# Differences whose spread is below this fraction of the values compared are rounding noise
# (0.8 - 0.7 and 0.9 - 0.8 differ in the 17th digit): treated as no spread at all.
RELATIVE_NOISE = 1e-9


@dataclass(frozen=True)
class ZTest:
    z: float  # positive when the first method is better
    p: float  # p-value, two-sided unless asked otherwise

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p < alpha


def z_test(difference: float, se: float, alternative: str) -> ZTest:
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
    return z_test(acc1 - acc2, se, alternative)


@dataclass(frozen=True)
class TTest:
    t: float  # positive when the first method is better
    dof: float  # degrees of freedom (Welch-Satterthwaite)
    p: float  # two-sided p-value
    low: float = math.nan  # 95 % confidence interval of the difference of means (first - second)
    high: float = math.nan

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p < alpha


def no_spread(spread: float, values: Sequence[float]) -> bool:
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
    if no_spread(math.sqrt(a + b), [*first, *second]):
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
    se: float = math.nan  # standard error of the mean difference, sd(d) / sqrt(n) (0: no spread)

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p < alpha

    def equivalence_p(self, margin: float) -> float:
        """TOST: the larger p of the two one-sided paired t-tests of H0 mean <= -margin and H0
        mean >= +margin; below alpha the difference lies within +-margin (equivalently, the
        1 - 2 alpha interval is inside it: the 90 % CI for alpha = 0.05)."""
        return max(self.one_sided_p(-margin, "greater"), self.one_sided_p(margin, "less"))

    def one_sided_p(self, bound: float, alternative: str) -> float:
        """p of the one-sided paired t-test of H1 mean > ``bound`` ("greater") or mean <
        ``bound`` ("less"): the non-inferiority test with ``bound`` = -margin, "greater"."""
        shift = self.mean_difference - bound if alternative == "greater" else bound - self.mean_difference
        if not self.se > 0:  # no spread: the sign of the shift decides
            return 0.0 if shift > 0 else 1.0
        return float(student_t.sf(shift / self.se, self.n - 1))


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
    if no_spread(sd, values):  # identical differences (to rounding): no spread to test against
        if no_spread(abs(mean), values):
            mean = 0.0
        t_stat = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p, half, effect, se = (1.0 if mean == 0 else 0.0), 0.0, t_stat, 0.0
    else:
        se = sd / math.sqrt(n)
        t_stat = mean / se
        p = float(2 * student_t.sf(abs(t_stat), n - 1))
        half = float(student_t.ppf((1 + confidence) / 2, n - 1)) * se
        effect = mean / sd
    p_w = 1.0 if all(x == 0 for x in d) else float(wilcoxon(d, zero_method="wilcox").pvalue)
    return PairedTest(n, mean, mean - half, mean + half, float(t_stat), p, effect, p_w, se)


# ---------------------------------------------------------------------------------------------
# verdicts

EQUIVALENCE_MARGIN = 0.01  # a chapter's default margin (1 accuracy point) where no paper effect is given


class Verdict(str, Enum):
    """A chapter's reading of one paired comparison (reference minus other). A ``str`` Enum:
    written to CSV and compared as its text."""
    HOLDS = "holds"  # the reference is ahead: CI above 0, Holm p < alpha
    SHRINKS = "shrinks"  # ahead, but by under half its gain in a reference condition
    VANISHES = "vanishes"  # equivalent: TOST within +-margin (the margin is stated beside it)
    INCONCLUSIVE = "inconclusive"  # none of these: the CI is too wide to tell
    REVERSES = "reverses"  # the other is ahead: CI below 0, Holm p < alpha
    TOO_FEW = "too few trials"  # under 2 paired trials: no interval

    def __str__(self) -> str:
        return self.value


VERDICTS = tuple(v.value for v in Verdict if v is not Verdict.TOO_FEW)


def verdict(
    ci_low: float, ci_high: float, gain: float, reference: tuple[float, float, float] | None = None,
    p_adjusted: float | None = None, margin: float = EQUIVALENCE_MARGIN, alpha: float = 0.05,
    p_equivalence: float | None = None,
) -> Verdict:
    """The verdict on a gain (reference minus other, with its 95 % CI):

    - ``holds``: the interval lies above 0 (and the Holm-adjusted p, when given, is < alpha);
    - ``shrinks``: it holds, but the gain is under half that of ``reference`` = (gain, ci_low,
      ci_high) of the same comparison in a reference condition -- only where the reference
      itself held (a gain cannot shrink from a reference that showed none);
    - ``reverses``: the interval lies below 0 (and the adjusted p is < alpha);
    - ``vanishes``: equivalence within +-``margin``: the TOST p ``p_equivalence`` < alpha when
      given, else (stricter) the 95 % interval inside +-``margin``;
    - ``inconclusive``: anything else -- the interval is too wide to tell (e.g. [-7, +7] points).
    """
    significant = p_adjusted is None or p_adjusted < alpha
    if ci_low > 0 and significant:
        if reference is not None and reference[1] > 0 and gain < reference[0] / 2:
            return Verdict.SHRINKS
        return Verdict.HOLDS
    if ci_high < 0 and significant:
        return Verdict.REVERSES
    equivalent = p_equivalence < alpha if p_equivalence is not None else -margin <= ci_low and ci_high <= margin
    return Verdict.VANISHES if equivalent else Verdict.INCONCLUSIVE


class ClaimKind(str, Enum):
    """What a claim of the paper says of its comparison (claim's method minus the other)."""
    GAIN = "gain"  # the method is better, by about the paper's effect
    NO_LOSS = "no loss"  # the method is not worse by more than the margin
    NO_DIFFERENCE = "no difference"  # the two are equivalent within the margin


class Status(str, Enum):
    """A claim's status from one comparison (``claim_verdict``)."""
    REPLICATED = "replicated"
    SMALLER = "replicated, smaller than in the paper"
    LARGER = "replicated, larger than in the paper"
    NO_DIFFERENCE = "not replicated: no difference"  # a claimed gain, equivalent to none within the margin
    BELOW_PAPER = "not replicated: below the paper's effect"  # as above, though its unadjusted CI lies above 0
    CONTRADICTED = "contradicted"
    INCONCLUSIVE = "inconclusive"
    TOO_FEW = "too few trials"

    def __str__(self) -> str:
        return self.value


def claim_verdict(
    kind: ClaimKind | str, test: PairedTest | None, margin: float, paper_effect: float = math.nan,
    p_adjusted: float | None = None, alpha: float = 0.05,
) -> Status:
    """A claim's status from one paired ``test`` (claim's method minus the other, the same units
    as ``margin`` and ``paper_effect``), by what the claim says:

    - a **gain**: *replicated* when the 95 % CI lies above 0 and Holm's ``p_adjusted`` < alpha;
      *smaller than in the paper* when, besides, the whole CI lies below ``paper_effect``, *larger*
      when it lies above;
      *contradicted* when the CI lies below 0 (Holm p < alpha); *no difference* when TOST puts
      it within +-``margin`` (the paper's effect: the gain it claims is excluded) -- *below the
      paper's effect* instead where the CI lies above 0 but Holm's p does not reach alpha;
    - **no loss**: *replicated* when the one-sided test puts it above -``margin`` (p < alpha);
      *contradicted* when the whole CI lies below -``margin``;
    - **no difference**: *replicated* when TOST puts it within +-``margin``; *contradicted* when
      the whole CI lies outside +-``margin``;
    - anything else *inconclusive*; under 2 paired trials *too few trials*."""
    kind = ClaimKind(kind)
    if test is None or test.n < 2:
        return Status.TOO_FEW
    significant = p_adjusted is None or p_adjusted < alpha
    low, high = test.ci_low, test.ci_high
    if kind is ClaimKind.GAIN:
        if low > 0 and significant:
            return Status.SMALLER if high < paper_effect else Status.LARGER if low > paper_effect else Status.REPLICATED
        if high < 0 and significant:
            return Status.CONTRADICTED
        if test.equivalence_p(margin) < alpha:
            return Status.BELOW_PAPER if low > 0 else Status.NO_DIFFERENCE
        return Status.INCONCLUSIVE
    if kind is ClaimKind.NO_LOSS:
        if test.one_sided_p(-margin, "greater") < alpha:
            return Status.REPLICATED
        return Status.CONTRADICTED if high < -margin else Status.INCONCLUSIVE
    if test.equivalence_p(margin) < alpha:
        return Status.REPLICATED
    return Status.CONTRADICTED if low > margin or high < -margin else Status.INCONCLUSIVE
