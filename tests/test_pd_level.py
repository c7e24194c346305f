"""The PD-level test of a labelled window: golden values by hand and from scipy, its methods and its interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from creditrisk.monitoring.pd_level import choose_method, pd_level_test, poisson_binomial_tails, EXACT_MAX_ROWS

THREE_LOANS = np.array([0.1, 0.2, 0.5])
# By hand: P(D=0) = .9 x .8 x .5 = .36; P(D=1) = .1 x .8 x .5 + .9 x .2 x .5 + .9 x .8 x .5 = .49;
# P(D=2) = .1 x .2 x .5 + .1 x .8 x .5 + .9 x .2 x .5 = .14; P(D=3) = .1 x .2 x .5 = .01.
BY_HAND = {0: (0.36, 1.0), 1: (0.85, 0.64), 2: (0.99, 0.15), 3: (1.0, 0.01)}


@pytest.mark.parametrize("defaults", sorted(BY_HAND))
def test_the_exact_tails_of_three_loans_match_the_hand_computation(defaults: int) -> None:
    assert poisson_binomial_tails(defaults, THREE_LOANS, "exact") == pytest.approx(BY_HAND[defaults], abs=1e-12)
    test = pd_level_test(np.r_[np.ones(defaults), np.zeros(3 - defaults)], THREE_LOANS, 100, 0.95)
    assert test is not None and test.method == "exact"
    assert test.pvalue == pytest.approx(min(1.0, 2 * min(BY_HAND[defaults])), abs=1e-12)
    assert (test.expected, test.variance) == pytest.approx((0.8, 0.09 + 0.16 + 0.25))
    assert test.ratio == pytest.approx(defaults / 0.8)


@pytest.mark.parametrize("defaults", [2, 5, 11, 20, 30, 34, 60])
def test_with_one_pd_for_every_loan_the_exact_test_is_scipys_binomial(defaults: int) -> None:
    pd_values = np.full(400, 0.05)
    test = pd_level_test(np.r_[np.ones(defaults), np.zeros(400 - defaults)], pd_values, 100, 0.95)
    assert test is not None and test.method == "exact"
    tails = stats.binom.cdf(defaults, 400, 0.05), stats.binom.sf(defaults - 1, 400, 0.05)
    assert test.pvalue == pytest.approx(min(1.0, 2 * min(tails)), rel=1e-9)


def test_the_normal_approximation_is_the_continuity_corrected_formula_and_agrees_with_the_exact_tail() -> None:
    """8,000 loans, PDs 2 % to 30 % (1,280 expected defaults): the two methods agree within 6 % at tails of
    ~0.005 and ~0.02."""
    pd_values = np.linspace(0.02, 0.30, 8_000)
    mean, sd = pd_values.sum(), math.sqrt(np.sum(pd_values * (1 - pd_values)))
    for defaults in (round(mean + 2.6 * sd), round(mean - 2.0 * sd)):
        normal = poisson_binomial_tails(defaults, pd_values, "normal")
        by_hand = (stats.norm.cdf((defaults + 0.5 - mean) / sd), stats.norm.sf((defaults - 0.5 - mean) / sd))
        assert normal == pytest.approx(by_hand, rel=1e-12)
        exact = poisson_binomial_tails(defaults, pd_values, "exact")
        assert min(normal) == pytest.approx(min(exact), rel=0.06)
    outcome = np.r_[np.ones(round(mean + 2.6 * sd)), np.zeros(8_000 - round(mean + 2.6 * sd))]
    normal_test = pd_level_test(outcome, pd_values, exact_below=1_000, confidence=0.95)
    exact_test = pd_level_test(outcome, pd_values, exact_below=2_000, confidence=0.95)
    assert normal_test is not None and exact_test is not None
    assert (normal_test.method, exact_test.method) == ("normal", "exact")
    assert normal_test.pvalue == pytest.approx(exact_test.pvalue, rel=0.06)
    assert normal_test.pvalue < 0.02


@pytest.mark.parametrize("defaults", [0, 3, 16, 40, 200])
def test_with_one_pd_for_every_loan_the_ratio_interval_is_clopper_pearsons_over_that_pd(defaults: int) -> None:
    """Shifting one PD on the logit scale reaches every PD, so inverting the exact test gives the exact binomial
    (Clopper-Pearson) interval of the default rate, divided by the PD; with no default its upper end is
    1 - 0.025^(1/n) (by hand: P(D = 0) = (1 - q)^n = 0.025)."""
    pd_values = np.full(200, 0.05)
    test = pd_level_test(np.r_[np.ones(defaults), np.zeros(200 - defaults)], pd_values, 100, 0.95)
    assert test is not None and test.method == "exact"
    low, high = proportion_confint(defaults, 200, alpha=0.05, method="beta")
    assert (test.ratio_low, test.ratio_high) == pytest.approx((low / 0.05, high / 0.05), rel=1e-5, abs=1e-9)
    if defaults == 0:
        assert test.ratio_high == pytest.approx((1 - 0.025 ** (1 / 200)) / 0.05, rel=1e-5)
    assert test.ratio == pytest.approx(defaults / 10) and test.ratio_low <= test.ratio <= test.ratio_high


@pytest.mark.parametrize("exact_below", [1_000, 10])
def test_the_ratio_interval_leaves_out_one_exactly_when_the_test_is_significant(exact_below: float) -> None:
    """PDs from 1 % to 30 %, observed counts around the 5 % two-sided edge, by either method."""
    pd_values = np.linspace(0.01, 0.30, 400)
    for defaults in range(38, 86, 3):
        test = pd_level_test(np.r_[np.ones(defaults), np.zeros(400 - defaults)], pd_values, exact_below, 0.95)
        assert test is not None and test.method == ("exact" if exact_below > 100 else "normal")
        outside = not test.ratio_low <= 1.0 <= test.ratio_high
        assert outside == (test.pvalue < 0.05), (defaults, test)


@pytest.mark.parametrize(("expected", "rows", "method"), [
    (499.9, 5_000, "exact"), (500.0, 5_000, "normal"), (500.1, 5_000, "normal"),
    (10.0, EXACT_MAX_ROWS, "exact"), (10.0, EXACT_MAX_ROWS + 1, "normal"),
])
def test_the_method_switches_at_exact_below_and_at_the_row_limit(expected: float, rows: int, method: str) -> None:
    assert choose_method(expected, expected * 0.95, rows, exact_below=500.0) == method


def test_pds_of_zero_and_one_have_no_variance_and_an_exact_answer() -> None:
    assert choose_method(0.0, 0.0, 100_000, exact_below=0.0) == "exact"
    certain = pd_level_test(np.r_[np.ones(3), np.zeros(7)], np.r_[np.ones(3), np.zeros(7)], 100, 0.95)
    assert certain is not None and certain.pvalue == pytest.approx(1.0)
    assert (certain.ratio, certain.ratio_low, certain.ratio_high) == pytest.approx((1.0, 1.0, 1.0))
    surprise = pd_level_test(np.r_[np.ones(1), np.zeros(9)], np.zeros(10), 100, 0.95)
    assert surprise is not None
    assert (surprise.ratio, surprise.pvalue) == (None, 0.0)
    assert pd_level_test(np.zeros(0), np.zeros(0), 100, 0.95) is None
