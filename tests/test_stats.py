"""Z-tests, Welch's t-test, the paired test's rounding guard and Holm's correction against
hand-worked values and scipy's independent implementations."""

import math
import warnings

import pytest

import scipy.stats

from dpe.study.stats import holm, paired_test, welch_test, z_test_proportions


def test_two_proportion_z_test_hand_worked():
    # 0.90 vs 0.88 on 10,000 samples each: pooled p = 0.89, se = sqrt(.89 * .11 * 2e-4) = 0.0044249
    t = z_test_proportions(0.90, 10000, 0.88, 10000)
    assert t.z == pytest.approx(0.02 / math.sqrt(0.89 * 0.11 * 2e-4), rel=1e-12)
    assert t.z == pytest.approx(4.51985, rel=1e-5)
    assert t.p == pytest.approx(6.1885e-6, rel=1e-3)  # 2 * (1 - Phi(4.51985))
    assert t.significant()


def test_two_proportion_z_test_one_sided_and_not_significant():
    t = z_test_proportions(0.5, 100, 0.45, 100, alternative="greater")
    # pooled 0.475, se = sqrt(.475 * .525 * .02) = 0.070622; z = 0.70799; p = 1 - Phi(z) = 0.23947
    assert t.z == pytest.approx(0.70799, rel=1e-4)
    assert t.p == pytest.approx(0.23947, rel=1e-3)
    assert not t.significant()


def test_welch_test_over_trial_results_hand_worked():
    a, b = [0.80, 0.82, 0.81], [0.78, 0.79, 0.77]
    # means .81 and .78; sample variances 1e-4 each; se = sqrt(2e-4 / 3) = 0.0081650; t = 3.6742;
    # Welch dof = (2e-4/3)^2 / (2 (1e-4/3)^2 / 2) = 4; p = 2 P(T_4 > 3.6742) = 0.021311 (a table)
    t = welch_test(a, b)
    assert t.t == pytest.approx(0.03 / math.sqrt(2e-4 / 3), rel=1e-9)
    assert t.dof == pytest.approx(4.0)
    assert t.p == pytest.approx(0.021311, abs=2e-5)
    assert welch_test(b, a).t == pytest.approx(-t.t)
    # 95 % CI of .81 - .78: .03 +- t_{0.975, 4} se = .03 +- 2.776445 x 0.0081650 (t from a table)
    assert (t.low, t.high) == (pytest.approx(0.03 - 0.022670, abs=2e-6), pytest.approx(0.03 + 0.022670, abs=2e-6))
    assert (welch_test(b, a).low, welch_test(b, a).high) == (pytest.approx(-t.high), pytest.approx(-t.low))
    # the audit's case: a normal reference gave p = 1.4e-84 on two trials each
    c, d = [0.578, 0.592], [0.723, 0.726]
    reference = scipy.stats.ttest_ind(c, d, equal_var=False)
    assert welch_test(c, d).p == pytest.approx(reference.pvalue, rel=1e-9)
    assert welch_test(c, d).p == pytest.approx(0.025, abs=1e-3)


def test_degenerate_and_bad_inputs():
    assert welch_test([0.5, 0.5], [0.5, 0.5]).p == 1.0
    assert welch_test([0.6, 0.6], [0.5, 0.5]).t == math.inf
    assert (welch_test([0.6, 0.6], [0.5, 0.5]).low, welch_test([0.6, 0.6], [0.5, 0.5]).high) == (pytest.approx(0.1),) * 2
    assert welch_test([0.7, 0.8, 0.9], [0.7, 0.8, 0.9]).p == 1.0
    with pytest.raises(ValueError, match="at least 2 trials"):
        welch_test([0.5], [0.4, 0.3])
    with pytest.raises(ValueError, match="alternative"):
        z_test_proportions(0.5, 10, 0.4, 10, alternative="bigger")


def test_paired_test_treats_rounding_noise_as_no_spread():
    # .7 - .6, .8 - .7 and .9 - .8 differ in the 17th digit: an exact guard gave t = 2.7e15
    first, second = [0.7, 0.8, 0.9], [0.6, 0.7, 0.8]
    assert len({a - b for a, b in zip(first, second)}) > 1  # the noise is real
    test = paired_test(first, second)
    assert test.t == math.inf and test.p == 0.0 and test.ci_low == test.ci_high == pytest.approx(0.1)
    same = paired_test([0.1 + 0.2, 0.5], [0.3, 0.5])  # 0.1 + 0.2 != 0.3 in binary
    assert same.mean_difference == 0.0 and same.p == 1.0


def test_holm_hand_worked():
    # m = 4: sorted .01 .02 .03 .5 -> .04 .06 .06 (running max of .06) .5
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.6, 0.9]) == [1.0, 1.0]  # capped at 1
    adjusted = holm([0.01, math.nan, 0.04])  # NaN is not a test: m = 2
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    # sorted .001 .03 .04 .2 .9 times 5 4 3 2 1: .005 .12 .12 .4 .9 (already increasing)
    assert holm([0.001, 0.2, 0.04, 0.03, 0.9]) == pytest.approx([0.005, 0.4, 0.12, 0.12, 0.9])


def test_significance_is_strictly_below_alpha():
    from dpe.study.stats import PairedTest, TTest, ZTest

    assert not ZTest(2.0, 0.05).significant(0.05) and ZTest(2.0, 0.0499).significant(0.05)
    assert not TTest(2.0, 4.0, 0.05).significant(0.05) and TTest(2.0, 4.0, 0.0499).significant(0.05)
    assert not TTest(2.0, 4.0, 0.06).significant() and TTest(2.0, 4.0, 0.049).significant()  # the default alpha is 0.05
    assert not ZTest(2.0, 0.06).significant() and ZTest(2.0, 0.049).significant()
    assert not PairedTest(3, 0.1, 0.0, 0.2, 2.0, 0.05, 1.0, 0.2).significant(0.05)


def test_z_test_without_spread_and_on_the_lower_side():
    from dpe.study.stats import z_test

    none = z_test(0.0, 0.0, "two-sided")
    assert (none.z, none.p) == (0.0, 1.0)
    up, down = z_test(0.1, 0.0, "two-sided"), z_test(-0.1, 0.0, "two-sided")
    assert (up.z, up.p, down.z, down.p) == (math.inf, 0.0, -math.inf, 0.0)
    assert z_test(0.3, 1.0, "two-sided").z == pytest.approx(0.3)  # se = 1 is a spread, not none
    z = z_test_proportions(0.45, 100, 0.5, 100, alternative="less")  # the mirror of the "greater" case
    assert z.z == pytest.approx(-0.70799, rel=1e-4) and z.p == pytest.approx(0.23947, rel=1e-3)
    assert z_test_proportions(1.0, 50, 1.0, 50).p == 1.0  # both perfect: no difference, no spread


@pytest.mark.parametrize("n1, n2", [(0, 10), (10, 0), (-1, 10)])
def test_z_test_needs_positive_sample_sizes(n1, n2):
    with pytest.raises(ValueError, match=f"sample sizes must be positive; got n1={n1}, n2={n2}"):
        z_test_proportions(0.5, n1, 0.5, n2)
    assert z_test_proportions(0.5, 1, 0.4, 1).p > 0  # one sample each is a (weak) test, not an error


def test_no_spread_is_relative_to_the_values():
    from dpe.study.stats import RELATIVE_NOISE, no_spread

    assert no_spread(RELATIVE_NOISE, [0.5]) and not no_spread(1.01 * RELATIVE_NOISE, [0.5])  # scale 1 below 1
    assert no_spread(RELATIVE_NOISE * 1.5, [1.5]) and not no_spread(RELATIVE_NOISE * 1.6, [1.5])  # scale |v| above 1
    assert not no_spread(RELATIVE_NOISE * 1.5, [0.5, 1.0])


def test_welch_without_spread_reports_its_degrees_of_freedom_and_direction():
    same = welch_test([0.5, 0.5, 0.5], [0.5, 0.5])
    assert (same.t, same.dof, same.p) == (0.0, 3.0, 1.0)
    lower = welch_test([0.4, 0.4], [0.5, 0.5, 0.5])
    assert (lower.t, lower.dof, lower.p) == (-math.inf, 3.0, 0.0)
    assert welch_test([1.4, 1.4], [1.4, 1.4]).t == 0.0


def test_paired_test_bad_levels_and_degenerate_cases():
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"confidence={level} is invalid"):
            paired_test([0.5, 0.6], [0.4, 0.5], confidence=level)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no difference at all: answered without scipy's 0/0 (a RuntimeWarning)
        same = paired_test([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert (same.t, same.p, same.p_wilcoxon, same.effect_size) == (0.0, 1.0, 1.0, 0.0)
    lower = paired_test([0.5, 0.6, 0.7], [0.6, 0.7, 0.8])  # always 0.1 below, to rounding
    assert lower.t == -math.inf and lower.p == 0.0
    ones = paired_test([1.5, 2.5, 3.5], [0.5, 1.5, 2.5])  # differences of exactly 1, not 0
    assert ones.p_wilcoxon == pytest.approx(scipy.stats.wilcoxon([1.0, 1.0, 1.0]).pvalue)
    d = [0.02, -0.01, 0.03, 0.05, 0.01, 0.04]
    reference = scipy.stats.wilcoxon(d, zero_method="wilcox").pvalue
    assert paired_test([x + 0.5 for x in d], [0.5] * 6).p_wilcoxon == pytest.approx(reference, rel=1e-9)
    with_zero = [0.0, 0.02, -0.01, 0.03, 0.05, 0.04]  # a zero difference, dropped ("wilcox")
    ours = paired_test([x + 0.5 for x in with_zero], [0.5] * 6).p_wilcoxon
    assert ours == pytest.approx(scipy.stats.wilcoxon(with_zero, zero_method="wilcox").pvalue, rel=1e-9)
