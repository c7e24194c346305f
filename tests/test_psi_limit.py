"""Golden values of the per-feature PSI limit (`creditrisk.monitoring.drift.bootstrap_psi_limit`).

The limit is the `drift.bootstrap_quantile` (0.99) quantile of the PSI between the reference shares and the
shares of a window of n rows drawn from the reference: the PSI a window reaches by chance alone. For PSI =
sum (q - p) ln(q / p) with q = p (1 + d), each term is p d^2 - p d^3 / 2 + ..., so PSI is Pearson's X^2 / n
to second order, and X^2 is chi-square with k - 1 degrees of freedom for k bins: the limit should sit near
chi2_0.99(k - 1) / n.

Measured with 4,000,000 resamples on k = 10 equal bins (Monte Carlo standard error about 0.07 %), the
quantile of X^2 / n is within 0.06 % of chi2_0.99(9) / n at n = 500, 2,000 and 10,000, and the limit
sits above it by +1.92 % at n = 500, +0.54 % at 2,000 and +0.10 % at 10,000: the higher-order terms of
the logarithm, about 10 / n relative. So the limit is within 2 % at all three sizes, but at n = 500 by a
margin (0.08 %) no affordable bootstrap resolves; that size is held to its known excess instead.

With bins the window barely fills (n p below about 5: a rare category, or the sliver bins beside a
heavy tie) the approximation fails by 10-30 % in either direction. The stage resamples for that reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from creditrisk.monitoring.drift import bootstrap_psi_limit, DriftParams
from tests.shipped import shipped

SAMPLES = 400_000
"""Resamples per limit: a Monte Carlo standard error of about 0.2 % of the 0.99 quantile (k = 10)."""
BINS = 10
EQUAL = np.full(BINS, 1 / BINS)


def limit(shares: np.ndarray, rows: int, samples: int = SAMPLES, seed: int = 20241101) -> float:
    params = shipped(DriftParams, bootstrap_samples=samples)
    return bootstrap_psi_limit(shares, rows, params, np.random.default_rng(seed))


def chi_square_limit(bins: int, rows: int) -> float:
    """chi2_q(k - 1) / n at the shipped quantile."""
    return float(stats.chi2.ppf(shipped(DriftParams).bootstrap_quantile, bins - 1) / rows)


@pytest.mark.parametrize("rows", [2_000, 10_000])
def test_the_limit_sits_within_two_percent_of_the_chi_square_quantile_over_n(rows: int) -> None:
    relative = limit(EQUAL, rows) / chi_square_limit(BINS, rows) - 1
    assert abs(relative) < 0.02, f"limit {relative:+.2%} from chi2_0.99(9)/n at n = {rows}"


@pytest.mark.slow
def test_at_five_hundred_rows_the_limit_sits_about_two_percent_above_it() -> None:
    """True excess +1.92 %: inside the 2 % claim by less than the Monte Carlo error, so it is held to
    (+1 %, +3 %), six standard errors either side at a million resamples."""
    relative = limit(EQUAL, 500, samples=1_000_000) / chi_square_limit(BINS, 500) - 1
    assert 0.01 < relative < 0.03, f"limit {relative:+.2%} from chi2_0.99(9)/n at n = 500"


@pytest.mark.slow
def test_the_excess_at_small_windows_is_psi_not_the_chi_square_approximation() -> None:
    """On the same draws, Pearson's X^2 / n has the chi-square quantile; PSI's log terms add the rest."""
    rows, samples = 500, 1_000_000
    params = shipped(DriftParams)
    counts = np.random.default_rng(7).multinomial(rows, EQUAL, size=samples)
    pearson = np.quantile(((counts - rows * EQUAL) ** 2 / (rows * EQUAL)).sum(axis=1) / rows,
                          params.bootstrap_quantile)
    assert pearson / chi_square_limit(BINS, rows) - 1 == pytest.approx(0.0, abs=0.006)
    assert limit(EQUAL, rows, samples) > pearson * 1.01


@pytest.mark.parametrize("rows", [500, 2_000])
@pytest.mark.parametrize("shares", [
    pytest.param([0.72, 0.27, 0.0046, 0.0028, 0.0013, 0.0013], id="rare categories"),
    pytest.param([0.98] + [0.0025] * 7 + [0.0015, 0.0010], id="heavy tie"),
])
def test_bins_a_window_barely_fills_leave_the_approximation_far_behind(shares: list[float], rows: int) -> None:
    """Expected counts below 5 per bin: the resampled limit is 10 % or more from chi2_0.99(k - 1) / n."""
    reference = np.asarray(shares) / np.sum(shares)
    relative = limit(reference, rows, samples=100_000) / chi_square_limit(len(reference), rows) - 1
    assert abs(relative) > 0.10, f"{relative:+.2%}"
