"""Z-tests against hand-worked values."""

import math

import pytest

from dpe.stats import z_test_means, z_test_proportions


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


def test_z_test_over_trial_means_hand_worked():
    a, b = [0.80, 0.82, 0.81], [0.78, 0.79, 0.77]
    # means .81 and .78; sample variances 1e-4 each; se = sqrt(2e-4 / 3) = 0.0081650; z = 3.6742
    t = z_test_means(a, b)
    assert t.z == pytest.approx(0.03 / math.sqrt(2e-4 / 3), rel=1e-9)
    assert t.p == pytest.approx(2.3857e-4, rel=1e-3)
    assert z_test_means(b, a).z == pytest.approx(-t.z)


def test_degenerate_and_bad_inputs():
    assert z_test_means([0.5, 0.5], [0.5, 0.5]).p == 1.0
    assert z_test_means([0.6, 0.6], [0.5, 0.5]).z == math.inf
    with pytest.raises(ValueError, match="at least 2 trials"):
        z_test_means([0.5], [0.4, 0.3])
    with pytest.raises(ValueError, match="alternative"):
        z_test_proportions(0.5, 10, 0.4, 10, alternative="bigger")
