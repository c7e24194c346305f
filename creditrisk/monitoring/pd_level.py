"""The PD level of a labelled window: its observed defaults against the sum of its PDs.

If the PDs are right, a window's default count D is a sum of independent Bernoulli(p_i) draws with
different p_i: a Poisson-binomial variable with mean mu = sum p_i and variance sigma^2 = sum p_i (1 - p_i)
(Hong 2013, "On computing the distribution function for the Poisson binomial distribution", Computational
Statistics & Data Analysis 59:41-51). A binomial at the mean PD, the usual reading of calibration in the
large for one sample (`creditrisk.modeling.validation.calibration_in_the_large`), has the larger variance
n p(1 - p) and so loses power when the PDs differ; here the test uses the PDs themselves.

- Two-sided p-value: twice the smaller tail, p = min(1, 2 min(P(D <= d), P(D >= d))).
- Exact tails below `exact_below` expected defaults (where the normal approximation is off: at 30 expected
  defaults and PDs near 5 % its p-values near 0.01 are 25-50 % off), from the pmf of
  `scipy.stats.poisson_binom` (the algorithm of Biscarri, Zhao & Brunner 2018, CSDA 122:92-100), summed
  over the tail, so a tail of 1e-80 keeps full relative precision. Its cost grows with rows times the counts
  kept (`ExactCounts`), so a window of more than `EXACT_MAX_ROWS` rows takes the normal approximation
  whatever its expected count.
- Normal approximation with continuity correction elsewhere (Hong 2013, section 2, by the Lyapunov central
  limit theorem): P(D <= d) ~ Phi((d + 1/2 - mu) / sigma), P(D >= d) ~ 1 - Phi((d - 1/2 - mu) / sigma).
- The ratio observed / expected, d / mu, with the interval that inverts the same test: the PDs shifted on
  the logit scale by t (what an intercept recalibration does, `modeling.calibration.LogitRecalibration`)
  expect mu(t) = sum expit(logit p_i + t) defaults; the interval holds the ratios mu(t) / mu of every shift
  the test at 1 - `confidence` does not reject, each tail at half of it (as Clopper & Pearson 1934,
  Biometrika 26:404-413, invert the binomial test; with one PD for every loan it is their interval over
  that PD). So the interval leaves out 1 exactly when the test is significant.

The verdict on these numbers (the ratio cut-offs, the significance, windows too small to judge) is
`creditrisk.monitoring.rules.calibration_verdict`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, special, stats

EXACT_MAX_ROWS = 10_000
"""Above this many rows the exact tail (cost ~ rows^2) gives way to the normal approximation."""
SHIFT_LIMIT = 30.0
"""The largest logit shift the interval searches (odds times e^30 ~ 1e13: every PD is then near 0 or 1)."""

Method = Literal["exact", "normal"]


@dataclass(frozen=True)
class PdLevelTest:
    """Observed defaults against the PDs' sum in one window, as windows.json records it (`calibration_*`)."""

    rows: int
    observed: int
    expected: float
    variance: float
    ratio: float | None
    ratio_low: float | None
    ratio_high: float | None
    pvalue: float
    method: Method

    def to_record(self) -> dict[str, Any]:
        return {"calibration_expected_defaults": self.expected, "calibration_variance": self.variance,
                "calibration_ratio": self.ratio, "calibration_ratio_low": self.ratio_low,
                "calibration_ratio_high": self.ratio_high, "calibration_pvalue": self.pvalue,
                "calibration_method": self.method}


def shifted(pd_values: np.ndarray, shift: float) -> np.ndarray:
    """The PDs with every logit moved by `shift` (every odds times e^shift); PDs of 0 and 1 stay put."""
    grown = pd_values * np.exp(shift)
    return grown / (1.0 - pd_values + grown)


class ExactCounts:
    """The exact distribution of the default count, under the PDs shifted by any t on the logit scale.

    Shifting every logit by t multiplies every loan's odds by e^t, and each term of P(D = k) holds k odds
    factors, so P_t(D = k) is P(D = k) e^(t k), renormalised (exponential tilting): one pmf from scipy
    serves every shift. Only the counts within 12 standard deviations (and 10 counts) of both the expected
    and the observed count are kept; the mass beyond is below 1e-30 at every shift the interval reaches.
    """

    def __init__(self, pd_values: np.ndarray, observed: int) -> None:
        centre_low, centre_high = min(observed, pd_values.sum()), max(observed, pd_values.sum())
        spread = 12.0 * np.sqrt(max(centre_high, 1.0)) + 10.0
        self.counts = np.arange(max(0, int(centre_low - spread)), min(pd_values.size, int(centre_high + spread)) + 1)
        with np.errstate(divide="ignore"):
            self.log_pmf = np.log(stats.poisson_binom(pd_values).pmf(self.counts))

    def _tail(self, chosen: np.ndarray, shift: float) -> float:
        if not chosen.any():
            return 0.0
        weights = self.log_pmf + shift * self.counts
        return float(min(1.0, np.exp(special.logsumexp(weights[chosen]) - special.logsumexp(weights))))

    def lower_tail(self, observed: int, shift: float = 0.0) -> float:
        """P_t(D <= observed)."""
        return self._tail(self.counts <= observed, shift)

    def upper_tail(self, observed: int, shift: float = 0.0) -> float:
        """P_t(D >= observed)."""
        return self._tail(self.counts >= observed, shift)


class NormalCounts:
    """The default count by the continuity-corrected normal approximation, under the PDs shifted by t."""

    def __init__(self, pd_values: np.ndarray) -> None:
        self.pd_values = pd_values

    def _moments(self, shift: float) -> tuple[float, float]:
        moved = shifted(self.pd_values, shift)
        return float(moved.sum()), float(np.sqrt(np.sum(moved * (1.0 - moved))))

    def lower_tail(self, observed: int, shift: float = 0.0) -> float:
        mean, sd = self._moments(shift)
        return float(stats.norm.cdf((observed + 0.5 - mean) / sd))

    def upper_tail(self, observed: int, shift: float = 0.0) -> float:
        mean, sd = self._moments(shift)
        return float(stats.norm.sf((observed - 0.5 - mean) / sd))


def count_distribution(pd_values: np.ndarray, observed: int, method: Method) -> ExactCounts | NormalCounts:
    return ExactCounts(pd_values, observed) if method == "exact" else NormalCounts(pd_values)


def poisson_binomial_tails(observed: int, pd_values: np.ndarray, method: Method) -> tuple[float, float]:
    """(P(D <= observed), P(D >= observed)) for D the number of defaults among loans with PDs `pd_values`."""
    pd_values = np.clip(np.asarray(pd_values, dtype="float64"), 0.0, 1.0)
    counts = count_distribution(pd_values, observed, method)
    return counts.lower_tail(observed), counts.upper_tail(observed)


def choose_method(expected: float, variance: float, rows: int, exact_below: float) -> Method:
    """Exact below `exact_below` expected defaults (and up to `EXACT_MAX_ROWS` rows), normal above; exact
    whenever the variance is 0 (every PD 0 or 1), where no normal curve exists."""
    if variance <= 0 or (expected < exact_below and rows <= EXACT_MAX_ROWS):
        return "exact"
    return "normal"


def _shift_where(tail_gap: Callable[[float], float], guess: float, width: float, lowest: bool) -> float:
    """The logit shift where `tail_gap` (monotone in the shift) crosses 0, searched outward from `guess`.

    Where it never crosses within +-`SHIFT_LIMIT` (PDs of 0 and 1 only, which no shift moves), the limit on
    the side the interval reaches: the lowest shift for its lower end, the highest for its upper end.
    """
    low, high = guess - width, guess + width
    while tail_gap(low) * tail_gap(high) > 0 and width < 2 * SHIFT_LIMIT:
        width *= 2
        low, high = max(guess - width, -SHIFT_LIMIT), min(guess + width, SHIFT_LIMIT)
    if tail_gap(low) * tail_gap(high) > 0:
        return low if lowest else high
    return float(optimize.brentq(tail_gap, low, high, xtol=1e-6))


def ratio_interval(observed: int, pd_values: np.ndarray, counts: ExactCounts | NormalCounts,
                   confidence: float) -> tuple[float, float]:
    """The ratios mu(t) / mu whose shifted PDs the two-sided test at 1 - `confidence` does not reject."""
    expected, rows, half = float(pd_values.sum()), pd_values.size, (1.0 - confidence) / 2.0
    guess, width = float(np.log(max(observed, 0.5) / expected)), 3.0 / np.sqrt(max(observed, 1)) + 0.25

    def ratio_at(shift: float) -> float:
        return float(shifted(pd_values, shift).sum() / expected)

    low = 0.0 if observed == 0 else ratio_at(_shift_where(
        lambda shift: counts.upper_tail(observed, shift) - half, guess, width, lowest=True))
    high = rows / expected if observed == rows else ratio_at(_shift_where(
        lambda shift: counts.lower_tail(observed, shift) - half, guess, width, lowest=False))
    return low, high


def pd_level_test(defaulted: np.ndarray, pd_values: np.ndarray, exact_below: float,
                  confidence: float) -> PdLevelTest | None:
    """The test of a window's labelled rows (`defaulted` 1 = default) against their PDs; None without rows."""
    pd_values = np.clip(np.asarray(pd_values, dtype="float64"), 0.0, 1.0)
    rows = pd_values.size
    if rows == 0:
        return None
    observed = int(np.asarray(defaulted, dtype="float64").sum())
    expected = float(pd_values.sum())
    variance = float(np.sum(pd_values * (1.0 - pd_values)))
    method = choose_method(expected, variance, rows, exact_below)
    counts = count_distribution(pd_values, observed, method)
    pvalue = min(1.0, 2.0 * min(counts.lower_tail(observed), counts.upper_tail(observed)))
    if expected <= 0:
        return PdLevelTest(rows, observed, expected, variance, None, None, None, pvalue, method)
    low, high = ratio_interval(observed, pd_values, counts, confidence)
    return PdLevelTest(rows, observed, expected, variance, observed / expected, low, high, pvalue, method)
