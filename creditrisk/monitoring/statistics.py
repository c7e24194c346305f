"""Distribution-shift statistics on binned shares and sorted samples.

Plain functions on numpy arrays, shared by the reference profile and the
window comparison. Conventions:

- PSI = sum_i (q_i - p_i) * ln(q_i / p_i), p = reference shares, q = current
  shares, each share floored at `epsilon` (default 1e-4) so an empty bin adds
  a large but finite term instead of infinity. No renormalisation after the
  floor: with 10-20 bins the floor moves the total by at most 0.002.
- Jensen-Shannon *distance* in base 2: sqrt of the JS divergence, in [0, 1],
  computed on the raw shares (0 * log 0 = 0, so no floor is needed).
- KS is computed exactly from a compact sorted reference (distinct values and
  cumulative counts) and a sorted current sample, with the same arithmetic as
  `scipy.stats.ks_2samp`; the p-value is scipy's (see `ks_2samp_compact`),
  with one slow region of `kstwo.sf` summed faster to the same value (`kstwo_sf`).
  `ks_distance` is the two-sample KS distance sup|F_ref - F_cur|, not the KS
  of a classifier (`creditrisk.modeling.metrics.ks_statistic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special, stats

DEFAULT_PSI_EPSILON = 1e-4
SCIPY_EXACT_KS_MAX_N = 10_000  # ks_2samp(method="auto") is exact when max(n1, n2) <= this
PAdjust = Literal["holm", "bh", "none"]


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts -> shares; all-zero counts give all-zero shares (not NaN)."""
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def psi(reference: np.ndarray, current: np.ndarray, epsilon: float = DEFAULT_PSI_EPSILON) -> float:
    """Population stability index of current shares against reference shares."""
    p = np.maximum(np.asarray(reference, dtype=float), epsilon)
    q = np.maximum(np.asarray(current, dtype=float), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def psi_many(reference: np.ndarray, current: np.ndarray, epsilon: float = DEFAULT_PSI_EPSILON) -> np.ndarray:
    """PSI of each row of `current` (2-D shares) against one reference vector."""
    p = np.maximum(np.asarray(reference, dtype=float), epsilon)
    q = np.maximum(np.asarray(current, dtype=float), epsilon)
    return np.sum((q - p) * np.log(q / p), axis=-1)


def _xlog2_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    positive = x > 0
    out[positive] = x[positive] * np.log2(x[positive] / y[positive])
    return out


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]); equals scipy's jensenshannon(p, q, base=2)."""
    p = shares(reference)
    q = shares(current)
    m = (p + q) / 2.0
    divergence = 0.5 * _xlog2_ratio(p, m).sum() + 0.5 * _xlog2_ratio(q, m).sum()
    return float(np.sqrt(min(max(divergence, 0.0), 1.0)))


@dataclass(frozen=True)
class CompactSample:
    """An exact, compact form of a sorted sample: distinct values and cumulative counts.

    `cumulative[i]` is the number of observations <= `values[i]`.
    """

    values: np.ndarray
    cumulative: np.ndarray

    @property
    def size(self) -> int:
        return int(self.cumulative[-1]) if len(self.cumulative) else 0

    def expand(self) -> np.ndarray:
        """The sorted sample itself."""
        return np.repeat(self.values, np.diff(self.cumulative, prepend=0))

    def count_at_or_below(self, points: np.ndarray) -> np.ndarray:
        """Number of observations <= each point (the unnormalised ECDF)."""
        index = np.searchsorted(self.values, points, side="right")
        padded = np.concatenate(([0], self.cumulative))
        return padded[index]


def compact(sorted_values: np.ndarray) -> CompactSample:
    """Compact form of an already sorted 1-D float array (no NaN)."""
    sorted_values = np.asarray(sorted_values, dtype=float)
    if sorted_values.size == 0:
        return CompactSample(np.empty(0), np.empty(0, dtype=np.int64))
    last_of_run = np.flatnonzero(sorted_values[1:] != sorted_values[:-1])
    ends = np.concatenate((last_of_run, [sorted_values.size - 1]))
    return CompactSample(sorted_values[ends], (ends + 1).astype(np.int64))


def ks_distance(reference: CompactSample, current: CompactSample) -> float:
    """Two-sample KS distance sup|F_ref - F_cur|, exact.

    Both ECDFs are right-continuous step functions, so the supremum is reached
    at a jump of one of them: evaluating at every distinct value of both
    samples is exact, and costs two binary searches instead of a merge sort.
    """
    n_ref, n_cur = reference.size, current.size
    at_ref = reference.cumulative / n_ref - current.count_at_or_below(reference.values) / n_cur
    at_cur = reference.count_at_or_below(current.values) / n_ref - current.cumulative / n_cur
    return float(max(np.abs(at_ref).max(), np.abs(at_cur).max()))


@dataclass(frozen=True)
class StatResult:
    statistic: float
    pvalue: float


NAN_RESULT = StatResult(float("nan"), float("nan"))


def ks_2samp_compact(reference: CompactSample, current: CompactSample) -> StatResult:
    """KS statistic and p-value, equal to `scipy.stats.ks_2samp(reference, current)`.

    Where scipy would use its exact distribution (both samples <= 10,000) we
    call scipy on the expanded samples, which is cheap at that size (its
    nan-policy checks add about 0.2 ms a call, some 20 ms on a drift run); above
    it scipy uses `kstwo.sf(D, round(n*m/(n+m)))`, reproduced here from the
    exact statistic without re-sorting millions of values (see `kstwo_sf`).
    """
    n_ref, n_cur = reference.size, current.size
    if n_ref == 0 or n_cur == 0:
        return NAN_RESULT
    if max(n_ref, n_cur) <= SCIPY_EXACT_KS_MAX_N:
        result = stats.ks_2samp(reference.expand(), current.expand())
        return StatResult(float(result.statistic), float(result.pvalue))
    statistic = ks_distance(reference, current)
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    effective_n = int(np.round(m * n / (m + n)))
    return StatResult(statistic, float(np.clip(kstwo_sf(statistic, effective_n), 0.0, 1.0)))


SMIRNOV_GRID_POINTS = 2000


def _smirnov_sf_grid(n: int, d: float) -> float:
    """P(D+_n >= d) by the Birnbaum-Tingey sum, evaluated on a grid of at most ~2000 terms.

    The sum runs over v = 0..floor(n(1-d)) of C(n,v) d (d+v/n)^(v-1) (1-d-v/n)^(n-v).
    Its terms are a smooth function of v that vanishes at both ends, so for
    large n a trapezoid sum on a coarse grid (log-gamma for the binomial
    coefficient) equals the full sum to rounding; with fewer terms than grid
    points every term is summed.
    """
    top = np.floor(n * (1 - d))
    step = max(top / SMIRNOV_GRID_POINTS, 1.0)
    v = np.arange(0.0, top + 1.0) if step == 1.0 else np.arange(0.0, top + 0.5, step)
    level = d + v / n
    with np.errstate(divide="ignore"):
        log_terms = (special.gammaln(n + 1) - special.gammaln(v + 1) - special.gammaln(n - v + 1)
                     + (v - 1) * np.log(level) + (n - v) * np.log1p(-level))
    peak = log_terms.max()
    return float(d * np.exp(peak) * np.exp(log_terms - peak).sum() * step)


def kstwo_sf(d: float, n: int) -> float:
    """`scipy.stats.kstwo.sf(d, n)`, the p-value ks_2samp uses for large samples.

    scipy computes the region 2.2 <= n d^2 < 370 (n > 140) as 2 * smirnov(n, d),
    a loop over about n terms that takes seconds for n in the hundreds of
    thousands. The same formula summed on a grid (`_smirnov_sf_grid`) agrees
    with scipy to about 1e-9 relative in well under a millisecond; every other
    region is scipy's own, unchanged.
    """
    if n > 140 and 0.0 < d < 0.5 and 1.0 < n * d < n - 1 and 2.2 <= n * d * d < 370.0:
        return min(1.0, 2.0 * _smirnov_sf_grid(n, d))
    return float(stats.kstwo.sf(d, n))


def chi2_homogeneity(reference_counts: np.ndarray, current_counts: np.ndarray) -> StatResult:
    """Pearson chi-square test that two samples come from one categorical distribution.

    A 2 x K contingency table (reference counts, current counts), K-1 degrees
    of freedom after dropping bins empty in both samples. Both samples are
    treated as random, unlike a goodness-of-fit test against reference shares,
    which over-rejects when the reference is not much larger than the window.
    """
    table = np.vstack([np.asarray(reference_counts, float), np.asarray(current_counts, float)])
    if table[0].sum() == 0 or table[1].sum() == 0:
        return NAN_RESULT
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return StatResult(0.0, 1.0)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return StatResult(statistic, float(stats.chi2.sf(statistic, table.shape[1] - 1)))


def two_proportion_test(hits_ref: int, n_ref: int, hits_cur: int, n_cur: int) -> StatResult:
    """Two-sided z-test that two proportions are equal (pooled variance).

    Equal to the 2 x 2 chi-square test without continuity correction; used for
    the missing share. Returns the difference current - reference as statistic.
    """
    if n_ref == 0 or n_cur == 0:
        return NAN_RESULT
    difference = hits_cur / n_cur - hits_ref / n_ref
    pooled = (hits_ref + hits_cur) / (n_ref + n_cur)
    variance = pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur)
    if variance <= 0:
        return StatResult(difference, 1.0)
    z = difference / np.sqrt(variance)
    return StatResult(difference, float(2 * stats.norm.sf(abs(z))))


def adjust_pvalues(pvalues: np.ndarray, method: PAdjust) -> np.ndarray:
    """Multiple-testing adjusted p-values; NaN entries stay NaN and are not counted.

    `holm` controls the family-wise error rate (Holm-Bonferroni step-down);
    `bh` controls the false discovery rate (Benjamini-Hochberg step-up).
    """
    pvalues = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(pvalues, np.nan)
    present = np.flatnonzero(~np.isnan(pvalues))
    m = present.size
    if m == 0 or method == "none":
        adjusted[present] = pvalues[present]
        return adjusted
    order = present[np.argsort(pvalues[present], kind="stable")]
    ranked = pvalues[order]
    if method == "holm":
        steps = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        steps = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    else:
        raise ValueError(f"unknown p-value adjustment {method!r}; use holm, bh or none")
    adjusted[order] = np.minimum(steps, 1.0)
    return adjusted
