"""summarize_classification and friends, against hand-checked values and sklearn/scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve

from creditrisk.modeling.bundle import RiskBand
from creditrisk.modeling.bands import band_table, choose_threshold, fit_bands, monotonicity_warnings
from creditrisk.modeling.metrics import (
    calibration_table,
    expected_calibration_error,
    ks_statistic,
    max_f1_threshold,
    min_cost_threshold,
    summarize_classification,
    METRIC_NAMES,
)


def test_hand_checked_case():
    y = np.array([0, 0, 1, 1])
    proba = np.array([0.1, 0.4, 0.35, 0.8])
    result = summarize_classification(y, proba, threshold=0.5)
    assert set(result) == set(METRIC_NAMES)
    # at 0.5 only the 0.8 loan is predicted to default: TP=1, FP=0, FN=1, TN=2
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["precision"] == pytest.approx(1.0)
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(2 / 3)
    # pairs (default, payer): (0.35 > 0.1), (0.35 < 0.4), (0.8 > both) -> 3 of 4
    assert result["roc_auc"] == pytest.approx(0.75)
    assert result["gini"] == pytest.approx(0.5)
    # CDFs of defaults {0.35, 0.8} and payers {0.1, 0.4}: largest gap 0.5
    assert result["ks"] == pytest.approx(0.5)
    assert result["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    expected_log_loss = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert result["log_loss"] == pytest.approx(expected_log_loss)
    # average precision: ranks 0.8 (hit, P=1), 0.4 (miss), 0.35 (hit, P=2/3) -> (1 + 2/3) / 2
    assert result["pr_auc"] == pytest.approx(5 / 6)


def test_matches_sklearn_and_scipy_on_random_scores():
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.1).astype(int)
    proba = np.clip(rng.beta(2, 10, 500) + 0.15 * y, 0, 1).round(2)  # rounded: many ties
    result = summarize_classification(y, proba, threshold=0.2)
    assert result["roc_auc"] == pytest.approx(roc_auc_score(y, proba))
    assert result["pr_auc"] == pytest.approx(average_precision_score(y, proba))
    assert result["brier"] == pytest.approx(brier_score_loss(y, proba))
    assert result["log_loss"] == pytest.approx(log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15)))
    assert result["ks"] == pytest.approx(ks_2samp(proba[y == 1], proba[y == 0]).statistic)
    fpr, tpr, _ = roc_curve(y, proba)
    assert result["ks"] == pytest.approx(np.max(tpr - fpr))


def test_single_class_gives_nan_ranking_metrics_not_an_error():
    result = summarize_classification([0, 0, 0], [0.1, 0.2, 0.3], threshold=0.5)
    assert math.isnan(result["roc_auc"]) and math.isnan(result["ks"])
    assert result["accuracy"] == 1.0


def test_ks_is_one_for_separated_classes():
    assert ks_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.9])) == 1.0


def test_expected_calibration_error_zero_when_calibrated_and_gap_when_not():
    y = np.array([0] * 9 + [1] + [0] * 5 + [1] * 5)
    proba = np.array([0.1] * 10 + [0.5] * 10)
    assert expected_calibration_error(y, proba, bins=2, strategy="uniform") == pytest.approx(0.0)
    assert expected_calibration_error(y, proba + 0.1, bins=2, strategy="uniform") == pytest.approx(0.1)
    table = calibration_table(y, proba, bins=2, strategy="quantile")
    assert table["rows"].sum() == 20


def test_max_f1_threshold_picks_the_best_cut():
    y = np.array([0, 0, 0, 1, 1, 0, 1])
    proba = np.array([0.05, 0.1, 0.2, 0.3, 0.6, 0.65, 0.9])
    threshold = max_f1_threshold(y, proba)
    best = max(summarize_classification(y, proba, t)["f1"] for t in proba)
    assert summarize_classification(y, proba, threshold)["f1"] == pytest.approx(best)
    assert threshold == pytest.approx(0.3)


def test_cost_threshold_moves_with_the_cost_ratio():
    y = np.array([0, 0, 0, 1, 0, 1, 1])
    proba = np.array([0.05, 0.1, 0.2, 0.3, 0.6, 0.65, 0.9])
    # cost 0.5: rejecting 0.9 and 0.65 (both defaults) leaves one miss = 0.5; adding 0.6 costs a payer
    assert min_cost_threshold(y, proba, cost_ratio=0.5) == pytest.approx(0.65)
    # cost 10: a miss costs more than the one payer (0.6) above the lowest default, so reject down to 0.3
    assert min_cost_threshold(y, proba, cost_ratio=10.0) == pytest.approx(0.3)
    assert choose_threshold(y, proba, "cost", 10.0) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="unknown threshold policy"):
        choose_threshold(y, proba, "coin", 1.0)  # type: ignore[arg-type]


def test_cost_threshold_approves_everyone_when_misses_are_cheap():
    y = np.array([0, 1, 0, 0])
    proba = np.array([0.1, 0.2, 0.3, 0.4])
    threshold = min_cost_threshold(y, proba, cost_ratio=0.1)
    assert (proba < threshold).all()


def test_bands_from_quantiles_are_monotonic_on_fitting_data():
    rng = np.random.default_rng(0)
    proba = rng.beta(1, 15, 4000)
    y = (rng.random(4000) < proba).astype(int)
    bands = fit_bands(proba, y, ["A", "B", "C", "D", "E"]).bands
    table = band_table(bands, proba, y)
    assert bands[-1].upper_pd == 1.0
    assert table["rows"].sum() == 4000
    assert table["default_rate"].is_monotonic_increasing
    assert monotonicity_warnings(table) == []


def test_non_monotonic_bands_are_merged():
    proba = np.array([0.1] * 10 + [0.2] * 10 + [0.3] * 10)
    y = np.array([0] * 8 + [1] * 2 + [0] * 9 + [1] * 1 + [0] * 5 + [1] * 5)  # 20%, 10%, 50%
    bands = fit_bands(proba, y, ["A", "B", "C"], cut_points=[0.15, 0.25]).bands
    table = band_table(bands, proba, y)
    assert [b.name for b in bands] == ["A", "B"]
    assert table["default_rate"].tolist() == pytest.approx([0.15, 0.5])


def test_every_configured_band_kept_is_no_warning():
    rng = np.random.default_rng(0)
    proba = rng.beta(1, 15, 4000)
    fit = fit_bands(proba, (rng.random(4000) < proba).astype(int), ["A", "B", "C", "D", "E"])
    assert len(fit.bands) == 5 and fit.warnings == []


def test_tied_pd_quantiles_and_an_empty_band_are_the_reasons_for_fewer_bands():
    """PDs with three distinct values: the 0.3 and 0.6 quantiles are one PD, and the 0.95 quantile is the largest
    PD, so no PD is left above it."""
    proba = np.array([0.02] * 70 + [0.05] * 20 + [0.2] * 10)
    y = np.array([0] * 69 + [1] + [0] * 18 + [1] * 2 + [0] * 7 + [1] * 3)  # 1.4 %, 10 %, 30 %
    fit = fit_bands(proba, y, ["A", "B", "C", "D", "E"])
    assert [band.upper_pd for band in fit.bands] == [0.02, 0.05, 1.0]
    assert fit.warnings == [
        "3 risk bands instead of the 5 configured (train.band_quantiles [0.3, 0.6, 0.8, 0.95])",
        "the 0.3 and 0.6 quantiles of the training PDs are the same PD, 0.02 (tied PDs: they take 3 distinct "
        "values), so they cut one band",
        "no training PD falls in (0.2, 1]: merged with a neighbouring band",
    ]


def test_a_band_merged_for_rank_order_is_named_by_its_pd_range_and_rates():
    proba = np.array([0.1] * 10 + [0.2] * 10 + [0.3] * 10)
    y = np.array([0] * 8 + [1] * 2 + [0] * 9 + [1] * 1 + [0] * 5 + [1] * 5)  # 20%, 10%, 50%
    fit = fit_bands(proba, y, ["A", "B", "C"], cut_points=[0.15, 0.25])
    assert fit.warnings == [
        "2 risk bands instead of the 3 configured (train.band_cut_points)",
        "the PDs in (0.15, 0.25] defaulted at 10.00%, not above the 20.00% of those in (0, 0.15]: merged with "
        "them, so that the bands rank risk",
    ]


def test_band_cut_points_are_validated():
    with pytest.raises(ValueError, match="strictly increasing"):
        fit_bands(np.array([0.1, 0.2]), np.array([0, 1]), ["A", "B", "C"], cut_points=[0.3, 0.2])


def test_monotonicity_warning_names_the_band():
    bands = [RiskBand("A", 0.1), RiskBand("B", 0.2), RiskBand("C", 1.0)]
    proba = np.array([0.05, 0.05, 0.15, 0.15, 0.5, 0.5])
    y = np.array([0, 1, 0, 0, 1, 1])
    warnings = monotonicity_warnings(band_table(bands, proba, y))
    assert len(warnings) == 1 and "band B" in warnings[0]


# Golden values, by hand: PDs 0.1 0.1 0.2 0.2 0.3 0.3 0.4 0.4 with outcomes 0 0 0 1 0 1 1 1.
# Quantile edges (linear interpolation at positions 0, 1.75, 3.5, 5.25, 7 of the sorted PDs):
# 0.1, 0.175, 0.25, 0.325, 0.4, so each pair of equal PDs is one bin (the top edge closes the last one).
GOLDEN_PD = np.array([0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4])
GOLDEN_Y = np.array([0, 0, 0, 1, 0, 1, 1, 1])


def test_golden_quantile_calibration_table_and_ece():
    table = calibration_table(GOLDEN_Y, GOLDEN_PD, bins=4, strategy="quantile")
    assert table["rows"].tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(table["mean_pd"], [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(table["observed_default_rate"], [0.0, 0.5, 0.5, 1.0])
    # |gaps| 0.1, 0.3, 0.2, 0.6 with equal weights: 1.2 / 4
    assert expected_calibration_error(GOLDEN_Y, GOLDEN_PD, bins=4) == pytest.approx(0.3)


def test_golden_uniform_calibration_table_and_ece():
    # uniform edges 0, 0.2, ..., 1: [0, 0.2) holds the 0.1s, [0.2, 0.4) the 0.2s and 0.3s, [0.4, 0.6) the 0.4s
    table = calibration_table(GOLDEN_Y, GOLDEN_PD, bins=5, strategy="uniform")
    assert table["rows"].tolist() == [2, 4, 2]
    np.testing.assert_allclose(table["mean_pd"], [0.1, 0.25, 0.4])
    np.testing.assert_allclose(table["observed_default_rate"], [0.0, 0.5, 1.0])
    # row-weighted: (2 x 0.1 + 4 x 0.25 + 2 x 0.6) / 8
    assert expected_calibration_error(GOLDEN_Y, GOLDEN_PD, bins=5, strategy="uniform") == pytest.approx(0.3)
