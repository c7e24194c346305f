"""Golden values of the drift statistics, and equality with scipy where scipy has them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from creditrisk.monitoring.profile import build_categorical_profile, numeric_sample, quantile_edges
from creditrisk.monitoring.statistics import (
    adjust_pvalues,
    chi2_homogeneity,
    compact,
    js_distance,
    ks_2samp_compact,
    ks_distance,
    psi,
    two_proportion_test,
)


def compact_of(values: list[float] | np.ndarray):
    return compact(np.sort(np.asarray(values, dtype=float)))


def test_psi_golden_values() -> None:
    # (0.5-0.25) ln(0.5/0.25) + 0 + (0.25-0.5) ln(0.25/0.5) = 0.5 ln 2
    assert psi([0.25, 0.25, 0.5], [0.5, 0.25, 0.25]) == pytest.approx(0.5 * math.log(2), rel=1e-12)
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_floors_an_empty_bin_at_epsilon() -> None:
    # reference bin 3 is empty: its share becomes 1e-4, so the term is (0.25 - 1e-4) ln(0.25 / 1e-4)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert psi([0.5, 0.5, 0.0], [0.5, 0.25, 0.25], epsilon=1e-4) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))


def test_js_distance_golden_values_and_scipy() -> None:
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([3, 7], [3, 7]) == 0.0
    # m = (0.75, 0.25); KL(p||m) = 0.5 log2(2/3) + 0.5 log2(2); KL(q||m) = log2(4/3)
    divergence = 0.5 * (0.5 * math.log2(2 / 3) + 0.5) + 0.5 * math.log2(4 / 3)
    assert js_distance([0.5, 0.5], [1.0, 0.0]) == pytest.approx(math.sqrt(divergence), rel=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(20):
        p, q = rng.random(8), rng.random(8)
        p[rng.integers(8)] = 0.0
        assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)


def test_ks_golden_value() -> None:
    # F_ref(2) = 0.5 while F_cur(2) = 0
    result = ks_2samp_compact(compact_of([1, 2, 3, 4]), compact_of([3, 4, 5, 6]))
    assert result.statistic == 0.5
    assert result.pvalue == stats.ks_2samp([1, 2, 3, 4], [3, 4, 5, 6]).pvalue


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "integers"),
    [(50, 30, False), (400, 20, True), (9000, 700, True), (30_000, 12_000, False), (25_000, 25_000, True)],
)
def test_ks_equals_scipy_small_and_large_with_and_without_ties(n_ref: int, n_cur: int, integers: bool) -> None:
    rng = np.random.default_rng(n_ref + n_cur)
    reference = rng.normal(0, 1, n_ref)
    current = rng.normal(0.05, 1.1, n_cur)
    if integers:
        reference, current = np.round(reference * 3), np.round(current * 3)
    expected = stats.ks_2samp(reference, current)
    result = ks_2samp_compact(compact_of(reference), compact_of(current))
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-15)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    assert ks_distance(compact_of(reference), compact_of(current)) == pytest.approx(expected.statistic, rel=1e-12)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(8622, 700), (10_000, 30), (300, 10_000), (40, 25)])
def test_ks_is_scipys_own_result_up_to_its_exact_limit(n_ref: int, n_cur: int) -> None:
    """Up to 10,000 rows a side the statistic and p-value are scipy's, bit for bit."""
    rng = np.random.default_rng(n_ref * n_cur)
    reference, current = np.round(rng.normal(0, 1, n_ref), 2), np.round(rng.normal(0.1, 1, n_cur), 2)
    expected = stats.ks_2samp(reference, current)
    result = ks_2samp_compact(compact_of(reference), compact_of(current))
    assert (result.statistic, result.pvalue) == (float(expected.statistic), float(expected.pvalue))


def test_ks_of_empty_sample_is_nan() -> None:
    result = ks_2samp_compact(compact_of([1.0, 2.0]), compact_of([]))
    assert math.isnan(result.statistic) and math.isnan(result.pvalue)


def test_compact_sample_is_exact() -> None:
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    sample = compact_of(values)
    assert sample.values.tolist() == [1.0, 2.0, 3.0]
    assert sample.cumulative.tolist() == [2, 3, 6]
    assert sample.expand().tolist() == sorted(values.tolist())
    assert sample.count_at_or_below(np.array([0.5, 1.0, 2.5, 9.0])).tolist() == [0, 2, 3, 6]


def test_chi2_homogeneity_golden_value_and_scipy() -> None:
    # expected counts 15/5 in both rows: 2 * (25/15 + 25/5) = 13.33, 1 degree of freedom
    result = chi2_homogeneity(np.array([10, 10]), np.array([20, 0]))
    assert result.statistic == pytest.approx(40 / 3)
    assert result.pvalue == pytest.approx(stats.chi2.sf(40 / 3, 1))
    reference, current = np.array([50, 30, 0, 15, 5]), np.array([20, 25, 0, 4, 1])
    expected = stats.chi2_contingency(np.vstack([reference, current])[:, [0, 1, 3, 4]], correction=False)
    result = chi2_homogeneity(reference, current)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)


def test_chi2_with_one_occupied_bin_is_no_evidence() -> None:
    result = chi2_homogeneity(np.array([10, 0]), np.array([4, 0]))
    assert (result.statistic, result.pvalue) == (0.0, 1.0)
    assert math.isnan(chi2_homogeneity(np.array([10, 2]), np.array([0, 0])).pvalue)


def test_two_proportion_test_equals_uncorrected_chi_square() -> None:
    result = two_proportion_test(30, 1000, 45, 500)
    expected = stats.chi2_contingency([[30, 970], [45, 455]], correction=False)
    assert result.statistic == pytest.approx(0.09 - 0.03)
    assert result.pvalue == pytest.approx(expected.pvalue)
    assert two_proportion_test(0, 100, 0, 50).pvalue == 1.0


def test_holm_and_benjamini_hochberg_golden_values() -> None:
    pvalues = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> running max 0.02, 0.03, 0.06, 0.06
    assert adjust_pvalues(pvalues, "holm")[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: 0.005*4/1, 0.01*4/2, 0.03*4/3, 0.04*4/4 -> running min from the top 0.02, 0.02, 0.04, 0.04
    assert adjust_pvalues(pvalues, "bh")[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues(pvalues, "bh")[:4] == pytest.approx(stats.false_discovery_control(pvalues[:4]))
    assert math.isnan(adjust_pvalues(pvalues, "holm")[4])
    assert adjust_pvalues(np.array([0.6, 0.9]), "holm").tolist() == [1.0, 1.0]


def test_quantile_edges_equal_counts_without_ties() -> None:
    sample = numeric_sample(np.arange(1.0, 101.0))
    edges = quantile_edges(sample.sample, 10)
    assert edges.tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert sample.bin_counts(edges).tolist() == [10] * 10


def test_quantile_edges_put_a_heavy_tie_in_one_bin_and_still_split_the_rest() -> None:
    sample = numeric_sample(np.array([0.0] * 90 + list(range(1, 11))))
    edges = quantile_edges(sample.sample, 5)
    counts = sample.bin_counts(edges)
    assert edges.tolist() == [0, 3, 6, 8]
    assert counts.tolist() == [90, 3, 3, 2, 2]
    assert (counts > 0).all()


def test_quantile_edges_with_few_distinct_values_and_constant() -> None:
    few = numeric_sample(np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0]))
    assert quantile_edges(few.sample, 10).tolist() == [1.0, 2.0]
    constant = numeric_sample(np.full(50, 7.0))
    assert quantile_edges(constant.sample, 10).size == 0
    assert constant.bin_counts(np.empty(0)).tolist() == [50]


def test_psi_bins_parameter_is_honoured() -> None:
    values = np.random.default_rng(1).lognormal(14, 0.7, 5000)
    for bins in (2, 5, 10, 20, 40):
        sample = numeric_sample(values)
        counts = sample.bin_counts(quantile_edges(sample.sample, bins))
        assert counts.size == bins
        assert counts.max() - counts.min() <= 1


def test_non_finite_values_count_as_missing() -> None:
    sample = numeric_sample(np.array([1.0, np.nan, np.inf, -np.inf, 2.0]))
    assert (sample.rows, sample.missing, sample.values) == (5, 3, 2)


def test_categorical_bins_have_explicit_missing_and_unseen() -> None:
    import pandas as pd

    profile = build_categorical_profile("product", pd.Series(["4", "4", "9", None], dtype="string"))
    assert profile.labels == ["4", "9", "__missing__", "__unseen__"]
    assert profile.counts.tolist() == [2, 1, 1, 0]
    current = pd.Series(["9", "68", "68", None, None], dtype="string")
    assert profile.bin_counts(current).tolist() == [0, 1, 2, 2]


@pytest.mark.parametrize(
    ("n", "d"),
    [(150, 0.15), (2000, 0.04), (20_000, 0.0105), (20_000, 0.05), (60_000, 0.02), (100_000, 0.0048),
     (100_000, 0.03), (60_000, 0.0008), (500_000, 0.1), (3000, 0.6)],
)
def test_kstwo_sf_equals_scipy_in_every_region(n: int, d: float) -> None:
    from creditrisk.monitoring.statistics import kstwo_sf

    assert kstwo_sf(d, n) == pytest.approx(stats.kstwo.sf(d, n), rel=1e-8, abs=1e-300)
