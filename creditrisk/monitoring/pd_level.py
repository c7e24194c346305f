"""The PD level of a labelled window: its observed defaults against the sum of its PDs.

If the PDs are right, a window's default count D is a sum of independent Bernoulli(p_i) draws with
different p_i: a Poisson-binomial variable with mean mu = sum p_i and variance sigma^2 = sum p_i (1 - p_i)
(Hong 2013, "On computing the distribution function for the Poisson binomial distribution", Computational
Statistics & Data Analysis 59:41-51). A binomial at the mean PD, the usual reading of calibration in the
large for one sample (`creditrisk.modeling.validation.calibration_in_the_large`), has the larger variance
n p(1 - p) and so loses power when the PDs differ; here the test uses the PDs themselves.

- Two-sided p-value: twice the smaller tail, p = min(1, 2 min(P(D <= d), P(D >= d))).
- Exact tail below `exact_below` expected defaults (where the normal approximation is off: at 30 expected
  defaults and PDs near 5 % its p-values near 0.01 are 25-50 % off), from `scipy.stats.poisson_binom`
  (the algorithm of Biscarri, Zhao & Brunner 2018, CSDA 122:92-100). Its cost grows as rows^2 (10,000 rows:
  ~0.3 s), so a window of more than `EXACT_MAX_ROWS` rows takes the normal approximation whatever its
  expected count.
- Normal approximation with continuity correction elsewhere (Hong 2013, section 2, by the Lyapunov central
  limit theorem): P(D <= d) ~ Phi((d + 1/2 - mu) / sigma), P(D >= d) ~ 1 - Phi((d - 1/2 - mu) / sigma).
- The ratio observed / expected with the exact Poisson interval of a standardised ratio (Garwood 1936,
  Biometrika 28:437-442; Ulm 1990, Am. J. Epidemiology 131:373-375), via statsmodels'
  `confint_poisson(method="exact-c")`: the Poisson variance mu is above sum p(1 - p), so the interval is
  slightly wide (by about 1 / sqrt(1 - PD), 3 % at PD 5 %), never narrow.

The verdict on these numbers (the ratio cut-offs, the significance, windows too small to judge) is
`creditrisk.monitoring.rules.calibration_severity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from statsmodels.stats.rates import confint_poisson

EXACT_MAX_ROWS = 10_000
"""Above this many rows the exact tail (cost ~ rows^2) gives way to the normal approximation."""

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


def poisson_binomial_tails(observed: int, pd_values: np.ndarray, method: Method) -> tuple[float, float]:
    """(P(D <= observed), P(D >= observed)) for D the number of defaults among loans with PDs `pd_values`."""
    pd_values = np.clip(np.asarray(pd_values, dtype="float64"), 0.0, 1.0)
    if method == "exact":
        distribution = stats.poisson_binom(pd_values)
        return float(distribution.cdf(observed)), float(distribution.sf(observed - 1))
    mean = float(pd_values.sum())
    sd = float(np.sqrt(np.sum(pd_values * (1.0 - pd_values))))
    return (float(stats.norm.cdf((observed + 0.5 - mean) / sd)),
            float(stats.norm.sf((observed - 0.5 - mean) / sd)))


def choose_method(expected: float, variance: float, rows: int, exact_below: float) -> Method:
    """Exact below `exact_below` expected defaults (and up to `EXACT_MAX_ROWS` rows), normal above; exact
    whenever the variance is 0 (every PD 0 or 1), where no normal curve exists."""
    if variance <= 0 or (expected < exact_below and rows <= EXACT_MAX_ROWS):
        return "exact"
    return "normal"


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
    lower, upper = poisson_binomial_tails(observed, pd_values, method)
    pvalue = min(1.0, 2.0 * min(lower, upper))
    if expected <= 0:
        return PdLevelTest(rows, observed, expected, variance, None, None, None, pvalue, method)
    low, high = confint_poisson(observed, expected, method="exact-c", alpha=1.0 - confidence)
    return PdLevelTest(rows, observed, expected, variance, observed / expected, float(low), float(high), pvalue,
                       method)
