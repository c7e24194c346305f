"""Performance estimated from PDs before labels arrive (CBPE): golden values, coverage, and the drift report."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from creditrisk.monitoring.estimated import estimate_performance, simulated_auc
from scipy.stats import rankdata


def exact_expected_auc(pd_values: np.ndarray) -> float:
    """E[AUC | both classes drawn] by enumerating every outcome vector (small n only)."""
    total, weight = 0.0, 0.0
    for outcome in itertools.product([0, 1], repeat=len(pd_values)):
        y = np.array(outcome)
        if 0 < y.sum() < len(y):
            probability = float(np.prod(np.where(y == 1, pd_values, 1 - pd_values)))
            total += probability * roc_auc_score(y, pd_values)
            weight += probability
    return total / weight


def test_the_simulated_auc_is_the_mann_whitney_auc_of_each_draw() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(300), 2)  # ties count one half
    draws = (rng.random((25, 300)) < scores).astype(float)
    found = simulated_auc(rankdata(scores), draws)
    expected = [roc_auc_score(draw, scores) for draw in draws]
    np.testing.assert_allclose(found, expected, rtol=1e-12)
    assert np.isnan(simulated_auc(rankdata(scores), np.zeros((1, 300))))[0]


def test_the_expected_auc_matches_the_exact_expectation_by_enumeration() -> None:
    pd_values = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.6, 0.8, 0.9, 0.15, 0.4])
    estimate = estimate_performance(pd_values, simulations=20_000, seed=1)
    assert estimate is not None and estimate.roc_auc is not None
    assert estimate.roc_auc == pytest.approx(exact_expected_auc(pd_values), abs=0.004)  # ~4 Monte Carlo SE
    assert estimate.default_rate == pytest.approx(pd_values.mean())


def test_realised_values_fall_in_the_band_about_95_percent_of_the_time_when_pds_are_calibrated() -> None:
    rng = np.random.default_rng(7)
    inside_rate, inside_auc = [], []
    for window in range(120):
        pd_values = np.clip(rng.beta(1.2, 25, 800), 0, 1)
        outcome = rng.random(800) < pd_values
        estimate = estimate_performance(pd_values, simulations=200, seed=window)
        assert estimate is not None
        inside_rate.append(estimate.default_rate_low <= outcome.mean() <= estimate.default_rate_high)
        inside_auc.append(estimate.roc_auc_low <= roc_auc_score(outcome, pd_values) <= estimate.roc_auc_high)
    assert 0.88 <= np.mean(inside_rate) <= 1.0
    assert 0.88 <= np.mean(inside_auc) <= 1.0


def test_pds_half_the_true_risk_put_the_realised_default_rate_above_the_band() -> None:
    rng = np.random.default_rng(8)
    outside = 0
    for window in range(30):
        true_pd = np.clip(rng.beta(1.2, 25, 2000), 0, 1)
        estimate = estimate_performance(true_pd / 2, simulations=200, seed=window)
        assert estimate is not None
        outside += (rng.random(2000) < true_pd).mean() > estimate.default_rate_high
    assert outside >= 29


def test_bunched_pds_promise_a_lower_auc() -> None:
    rng = np.random.default_rng(9)
    spread = np.clip(rng.beta(1.2, 25, 2000), 0, 1)
    bunched = spread.mean() + 0.3 * (spread - spread.mean())
    wide, narrow = (estimate_performance(values, 200, 0) for values in (spread, bunched))
    assert wide is not None and narrow is not None and wide.roc_auc is not None and narrow.roc_auc is not None
    assert narrow.roc_auc < wide.roc_auc - 0.03
    assert estimate_performance(np.array([]), 200, 0) is None
