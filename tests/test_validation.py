"""Golden values for the validation pack: textbook formulas by hand, scipy, statsmodels and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from creditrisk.modeling.validation import (
    auc_confidence_interval,
    PackSettings,
    auc_decline_test,
    band_tests,
    binomial_test_pvalue,
    brier_skill_score,
    calibration_in_the_large,
    calibration_intercept_slope,
    delong_auc_variance,
    flat_metrics,
    hosmer_lemeshow,
    jeffreys_test_pvalue,
    log_loss,
    logit,
    paired_delong_test,
    traffic_light,
    validation_pack,
)


def delong_by_definition(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) literally: psi over every (default, payer) pair, then the two sample variances."""
    positives, negatives = score[y == 1], score[y == 0]
    psi = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)


def sample(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pd_values = 1 / (1 + np.exp(-rng.normal(-3, 1, rows)))
    return (rng.random(rows) < pd_values).astype(int), pd_values


def test_delong_matches_the_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(int)
    score = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounded: many ties
    auc, variance = delong_auc_variance(y, score)
    expected_auc, expected_variance = delong_by_definition(y, score)
    assert auc == pytest.approx(expected_auc, abs=1e-12) and auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert variance == pytest.approx(expected_variance, rel=1e-10)


def test_the_paired_delong_test_by_hand() -> None:
    """Two defaults and three payers, worked through DeLong et al. (1988), section 3, with exact fractions.

    Model A scores defaults 0.8, 0.4 and payers 0.5, 0.3, 0.1; model B defaults 0.6, 0.7 and payers 0.6 (a tie
    with the first default: psi 1/2), 0.2, 0.1. Components V10 (per default): A 1, 2/3; B 5/6, 1. V01 (per
    payer): A 1/2, 1, 1; B 3/4, 1, 1. AUCs 5/6 and 11/12, difference 1/12. S10 (ddof 1): var 1/18 and 1/72,
    covariance -1/36; S01: var 1/12 and 1/48, covariance 1/24. S = S10 / 2 + S01 / 3: var(A) = 1/18,
    var(B) = 1/72, covariance 0, so var(B - A) = 5/72 and z = (1/12) / sqrt(5/72) = 1/sqrt(10).
    """
    y = np.array([1, 1, 0, 0, 0])
    test = paired_delong_test(y, np.array([0.8, 0.4, 0.5, 0.3, 0.1]), np.array([0.6, 0.7, 0.6, 0.2, 0.1]))
    assert test.first_auc == pytest.approx(5 / 6) and test.second_auc == pytest.approx(11 / 12)
    assert test.difference == pytest.approx(1 / 12) and test.standard_error == pytest.approx(np.sqrt(5 / 72))
    assert test.statistic == pytest.approx(1 / np.sqrt(10), rel=1e-12)
    assert test.pvalue == pytest.approx(2 * stats.norm.sf(1 / np.sqrt(10)), rel=1e-12)
    assert test.pvalue == pytest.approx(0.75183, abs=5e-6)
    assert test.lower == pytest.approx(1 / 12 - 1.959964 * np.sqrt(5 / 72), rel=1e-6)


def test_the_paired_delong_test_matches_the_pairwise_definition_and_each_auc_variance() -> None:
    rng = np.random.default_rng(8)
    y = (rng.random(400) < 0.15).astype(int)
    first = np.round(rng.normal(y * 0.7, 1.0), 1)  # rounded: ties within and between the classes
    second = np.round(first + rng.normal(y * 0.3, 0.8), 1)
    test = paired_delong_test(y, first, second)

    def components(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        positives, negatives = score[y == 1], score[y == 0]
        psi = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = components(first), components(second)
    variance = (np.var(a10 - b10, ddof=1) / len(a10)) + (np.var(a01 - b01, ddof=1) / len(a01))
    assert test.difference == pytest.approx(roc_auc_score(y, second) - roc_auc_score(y, first), abs=1e-12)
    assert test.standard_error == pytest.approx(np.sqrt(variance), rel=1e-10)
    assert test.pvalue == pytest.approx(2 * stats.norm.sf(abs(test.difference) / np.sqrt(variance)), rel=1e-9)
    for score, auc in ((first, test.first_auc), (second, test.second_auc)):
        assert auc == pytest.approx(delong_auc_variance(y, score)[0], abs=1e-12)


def test_scores_in_the_same_order_have_no_auc_difference() -> None:
    y, pd_values = sample(2000, 4)
    recalibrated = 1 / (1 + np.exp(-(0.4 + 1.3 * logit(pd_values))))  # a recalibration keeps the order
    test = paired_delong_test(y, pd_values, recalibrated)
    assert test.difference == 0 and test.standard_error == 0 and test.pvalue == 1.0
    jittered = pd_values + np.random.default_rng(5).normal(0, 1e-3, len(y))  # nearly the same order
    assert paired_delong_test(y, pd_values, pd_values[::-1]).pvalue < 0.05 < paired_delong_test(
        y, pd_values, jittered).pvalue


def test_the_auc_interval_covers_and_gini_maps_it() -> None:
    y, pd_values = sample(4000, 1)
    interval = auc_confidence_interval(y, pd_values, 0.95)
    assert interval.lower < interval.auc < interval.upper
    half = interval.upper - interval.auc
    assert half == pytest.approx(1.959964 * interval.standard_error, rel=1e-5)
    gini, low, high = interval.gini
    assert gini == pytest.approx(2 * interval.auc - 1) and low == pytest.approx(2 * interval.lower - 1)


def test_the_auc_decline_test_is_one_sided_on_the_current_standard_error() -> None:
    y, pd_values = sample(3000, 2)
    current = auc_confidence_interval(y, pd_values)
    same = auc_decline_test(current.auc, y, pd_values)
    assert same["pvalue"] == pytest.approx(0.5)
    fell = auc_decline_test(current.auc + 2 * current.standard_error, y, pd_values)
    assert fell["statistic"] == pytest.approx(2.0) and fell["pvalue"] == pytest.approx(stats.norm.sf(2.0))


def test_brier_skill_and_log_loss_by_hand() -> None:
    y = np.array([1, 0, 0, 0])
    pd_values = np.array([0.5, 0.1, 0.2, 0.1])
    brier = (0.25 + 0.01 + 0.04 + 0.01) / 4
    reference = (0.75**2 + 3 * 0.25**2) / 4
    assert brier_skill_score(y, pd_values, 0.25) == pytest.approx(1 - brier / reference)
    assert brier_skill_score(y, np.full(4, 0.25), 0.25) == pytest.approx(0.0)
    assert log_loss(y, pd_values) == pytest.approx(-(np.log(0.5) + np.log(0.9) + np.log(0.8) + np.log(0.9)) / 4)


def test_calibration_slope_and_intercept_agree_with_an_unpenalised_logistic_fit() -> None:
    y, pd_values = sample(20_000, 4)
    perfect = calibration_intercept_slope(y, pd_values)
    assert perfect["slope"] == pytest.approx(1.0, abs=0.08) and perfect["intercept"] == pytest.approx(0.0, abs=0.06)
    assert perfect["slope_pvalue"] > 0.01
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit(pd_values)[:, None], y)
    assert perfect["slope"] == pytest.approx(reference.coef_[0][0], rel=1e-5)
    too_extreme = calibration_intercept_slope(y, 1 / (1 + np.exp(-2 * logit(pd_values))))
    assert too_extreme["slope"] == pytest.approx(0.5, abs=0.05) and too_extreme["slope_pvalue"] < 1e-6
    too_high = calibration_intercept_slope(y, 1 / (1 + np.exp(-(logit(pd_values) + 0.7))))
    assert too_high["intercept"] == pytest.approx(-0.7, abs=0.08) and too_high["intercept_pvalue"] < 1e-6


def test_hosmer_lemeshow_by_hand_on_two_groups_of_four() -> None:
    y = np.array([0, 0, 1, 0, 1, 1, 0, 1])
    pd_values = np.array([0.1, 0.1, 0.2, 0.2, 0.6, 0.6, 0.7, 0.7])
    low_o, low_e = 1, 0.6
    high_o, high_e = 3, 2.6
    statistic = (low_o - low_e) ** 2 / (low_e * (1 - low_e / 4)) + (high_o - high_e) ** 2 / (high_e * (1 - high_e / 4))
    result = hosmer_lemeshow(y, pd_values, groups=2)
    assert result["statistic"] == pytest.approx(statistic)
    assert result["pvalue"] == pytest.approx(stats.chi2.sf(statistic, 1))


def test_hosmer_lemeshow_accepts_calibrated_and_rejects_shifted_pds() -> None:
    y, pd_values = sample(20_000, 5)
    assert hosmer_lemeshow(y, pd_values)["pvalue"] > 0.01
    assert hosmer_lemeshow(y, np.clip(pd_values * 2, 0, 1))["pvalue"] < 1e-6


def test_calibration_in_the_large_is_the_exact_binomial_test_of_the_mean_pd() -> None:
    y = np.array([1] * 7 + [0] * 93)
    result = calibration_in_the_large(y, np.full(100, 0.03))
    assert result["observed_rate"] == 0.07 and result["mean_pd"] == pytest.approx(0.03)
    assert result["pvalue"] == pytest.approx(stats.binomtest(7, 100, 0.03).pvalue)


def test_binomial_band_test_is_the_upper_tail_by_hand() -> None:
    by_hand = 1 - sum(stats.binom.pmf(k, 50, 0.02) for k in range(3))
    assert binomial_test_pvalue(3, 50, 0.02) == pytest.approx(by_hand)


def test_jeffreys_p_value_is_alpha_over_two_at_the_jeffreys_interval_bound() -> None:
    """The Jeffreys interval (Brown, Cai & DasGupta 2001) is the Beta(D+1/2, N-D+1/2) equal-tailed interval:
    at its lower bound the one-sided Jeffreys p-value is alpha / 2."""
    lower, upper = proportion_confint(20, 1000, alpha=0.10, method="jeffreys")
    assert jeffreys_test_pvalue(20, 1000, lower) == pytest.approx(0.05, rel=1e-6)
    assert jeffreys_test_pvalue(20, 1000, upper) == pytest.approx(0.95, rel=1e-6)


def test_traffic_lights_at_their_levels() -> None:
    assert [traffic_light(p, 0.05, 0.01) for p in (0.2, 0.05, 0.0499, 0.01, 0.0099)] == [
        "green", "green", "yellow", "yellow", "red"]
    with pytest.raises(ValueError, match="red"):
        traffic_light(0.5, 0.01, 0.05)


def test_band_tests_flag_a_band_whose_pd_is_far_too_low() -> None:
    bands = np.array(["A"] * 1000 + ["B"] * 1000)
    y = np.concatenate([np.r_[np.ones(10), np.zeros(990)], np.r_[np.ones(60), np.zeros(940)]]).astype(int)
    pd_values = np.concatenate([np.full(1000, 0.01), np.full(1000, 0.03)])
    result = {test.band: test for test in band_tests(["A", "B", "C"], bands, y, pd_values, 0.05, 0.01)}
    assert set(result) == {"A", "B"}
    assert result["A"].jeffreys_light == "green" and result["B"].jeffreys_light == "red"
    assert result["B"].binomial_light == "red" and result["B"].observed_rate == pytest.approx(0.06)


def test_the_pack_holds_every_test_with_lights_and_flat_metrics() -> None:
    y, pd_values = sample(5000, 6)
    bands = np.where(pd_values < 0.03, "A", np.where(pd_values < 0.08, "B", "C"))
    settings = PackSettings(confidence=0.95, yellow_below=0.05, red_below=0.01, hosmer_lemeshow_groups=10,
                            calibration_bins=10)
    pack = validation_pack(y, pd_values, ["A", "B", "C"], bands, reference_rate=float(y.mean()),
                           development_auc=0.70, settings=settings)
    assert pack["discrimination"]["roc_auc"] == pytest.approx(roc_auc_score(y, pd_values))
    assert [band["band"] for band in pack["bands"]] == ["A", "B", "C"]
    assert sum(pack["lights"].values()) == 4 + 2 * 3
    assert len(pack["calibration_curve"]) == 10
    assert all(p["rate_lower"] <= p["observed_rate"] <= p["rate_upper"] for p in pack["calibration_curve"])
    flat = flat_metrics(pack)
    assert flat["red_lights"] == len(pack["red"]) and flat["calibration_slope"] == pack["calibration"]["slope"]
    halved = validation_pack(y, pd_values / 3, ["A", "B", "C"], bands, float(y.mean()), 0.70, settings)
    assert "calibration_in_the_large" in halved["red"] and halved["calibration_in_the_large"]["light"] == "red"
