"""Decision threshold and risk bands, fitted on out-of-fold training PDs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd

from creditrisk.modeling.bundle import RiskBand
from creditrisk.modeling.metrics import max_f1_threshold, min_cost_threshold

ThresholdPolicy = Literal["max_f1", "cost"]


def choose_threshold(y_true: np.ndarray, proba: np.ndarray, policy: ThresholdPolicy,
                     cost_ratio: float) -> float:
    """`max_f1`, or `cost`: a missed default costs `cost_ratio` rejected good clients."""
    if policy == "max_f1":
        return max_f1_threshold(y_true, proba)
    if policy == "cost":
        return min_cost_threshold(y_true, proba, cost_ratio)
    raise ValueError(f"unknown threshold policy {policy!r}; use 'max_f1' or 'cost'")


def band_table(bands: Sequence[RiskBand], proba: np.ndarray, y_true: np.ndarray | None = None) -> pd.DataFrame:
    """Per band, in order: rows, share and (when labels are given) observed default rate."""
    uppers = np.array([band.upper_pd for band in bands], dtype=float)
    index = np.minimum(np.searchsorted(uppers, np.asarray(proba, dtype=float), side="left"), len(bands) - 1)
    rows = np.bincount(index, minlength=len(bands))
    table = pd.DataFrame({"band": [band.name for band in bands], "upper_pd": uppers, "rows": rows})
    table["share"] = rows / max(len(index), 1)
    if y_true is not None:
        defaults = np.bincount(index, weights=np.asarray(y_true, dtype=float), minlength=len(bands))
        table["default_rate"] = np.divide(defaults, rows, out=np.full(len(bands), np.nan), where=rows > 0)
    return table


@dataclass(frozen=True)
class BandFit:
    """The fitted risk bands and, when there are fewer than configured, why: each step that removed one."""

    bands: list[RiskBand]
    configured: int
    setting: str
    reasons: list[str]

    @property
    def warnings(self) -> list[str]:
        """Nothing when every configured band survived; else the count, then one sentence per lost band."""
        if len(self.bands) >= self.configured:
            return []
        return [f"{len(self.bands)} risk bands instead of the {self.configured} configured ({self.setting})",
                *self.reasons]


def _candidate_cut_points(proba: np.ndarray, cut_points: Sequence[float] | None,
                          quantiles: Sequence[float]) -> tuple[list[float], list[str]]:
    """The cut points, and why any configured one was dropped (tied quantiles, a quantile at PD 1)."""
    if cut_points is not None:
        points = [float(p) for p in cut_points]
        if any(b <= a for a, b in zip(points, points[1:])) or not all(0.0 < p < 1.0 for p in points):
            raise ValueError(f"band cut points {points} must be strictly increasing and inside (0, 1)")
        return points, []
    proba = np.asarray(proba, dtype=float)
    values = [float(v) for v in np.quantile(proba, list(quantiles), method="higher")]
    reasons = []
    for (low_q, low), (high_q, high) in pairwise(zip(quantiles, values)):
        if high == low:
            reasons.append(f"the {low_q:g} and {high_q:g} quantiles of the training PDs are the same PD, {high:.4g} "
                           f"(tied PDs: they take {np.unique(proba).size} distinct values), so they cut one band")
    reasons += [f"the {q:g} quantile of the training PDs is 1, the top of the last band" for q, v in
                zip(quantiles, values) if v >= 1.0]
    return sorted({v for v in values if v < 1.0}), reasons


def fit_bands(proba: np.ndarray, y_true: np.ndarray, names: Sequence[str],
              cut_points: Sequence[float] | None = None,
              quantiles: Sequence[float] = (0.3, 0.6, 0.8, 0.95)) -> BandFit:
    """Risk bands from PD cut-points (given, or quantiles of the training PDs), with the reasons for any lost.

    A band holds PDs in (previous upper, upper]; the last band ends at 1.
    Bands that are empty, or whose observed default rate is not above the
    band before, are merged into their neighbour, so the result is monotonic
    on the data it was fitted on (it may have fewer bands than configured).
    """
    points, reasons = _candidate_cut_points(proba, cut_points, quantiles)
    if len(points) + 1 > len(names):
        raise ValueError(f"{len(points) + 1} bands need as many names, got {list(names)}")
    configured = len(cut_points if cut_points is not None else quantiles) + 1
    setting = ("train.band_cut_points" if cut_points is not None
               else f"train.band_quantiles {[float(q) for q in quantiles]}")
    uppers = [*points, 1.0]
    while True:
        bands = [RiskBand(str(names[i]), upper) for i, upper in enumerate(uppers)]
        table = band_table(bands, proba, y_true)
        violation = _first_violation(table)
        if violation is None:
            return BandFit(bands, configured, setting, reasons)
        reasons.append(_merge_reason(table, uppers, violation))
        uppers.pop(max(violation - 1, 0))  # merge the offending band with the one before it


def _merge_reason(table: pd.DataFrame, uppers: list[float], violation: int) -> str:
    """Why the band at `violation` is merged, in PD ranges (names move as bands merge)."""
    def pd_range(index: int) -> str:
        return f"({uppers[index - 1] if index else 0.0:.4g}, {uppers[index]:.4g}]"
    if table["rows"].iloc[violation] == 0:
        return f"no training PD falls in {pd_range(violation)}: merged with a neighbouring band"
    rate, below = table["default_rate"].iloc[violation], table["default_rate"].iloc[violation - 1]
    return (f"the PDs in {pd_range(violation)} defaulted at {rate:.2%}, not above the {below:.2%} of those in "
            f"{pd_range(violation - 1)}: merged with them, so that the bands rank risk")


def _first_violation(table: pd.DataFrame) -> int | None:
    """Index of the first band that is empty or not riskier than the one before."""
    if len(table) == 1:
        return None
    rates = table["default_rate"].tolist()
    for i, rows in enumerate(table["rows"]):
        if rows == 0 or (i > 0 and not rates[i] > rates[i - 1]):
            return i
    return None


def monotonicity_warnings(table: pd.DataFrame) -> list[str]:
    """One message per band whose observed default rate is not above the previous band's."""
    warnings: list[str] = []
    previous_name, previous_rate = None, None
    for name, rows, rate in zip(table["band"], table["rows"], table["default_rate"]):
        if rows == 0:
            warnings.append(f"band {name} is empty")
            continue
        if previous_rate is not None and not rate > previous_rate:
            warnings.append(f"band {name} default rate {rate:.4f} is not above band {previous_name} "
                            f"({previous_rate:.4f}): bands are not monotonic here")
        previous_name, previous_rate = name, rate
    return warnings
