"""Performance estimated from the PDs alone, for windows whose labels have not arrived.

If the PDs are calibrated, each loan defaults with its PD. Then a window's default count is a sum of
independent Bernoulli(PD) draws, and its ROC-AUC is the AUC of the PDs against such draws. This is the
idea of confidence-based performance estimation (CBPE; NannyML, "Estimating model performance without
ground truth", 2022), here with the band drawn by simulation:

- expected default rate: the mean PD; its 95 % band from the simulated default rates;
- expected ROC-AUC: the mean over simulations of the AUC of the PDs against outcomes drawn from them
  (Mann-Whitney: the share of (default, non-default) pairs the PD orders correctly, ties counting
  one half), with the 2.5 % and 97.5 % quantiles of the simulated AUCs as its band.

The estimate says what performance calibrated PDs promise for the applicants who came; a drop shows a
population the model separates less well (e.g. PDs bunched together), and a realised value outside the
band, once labels arrive, shows the PDs are not calibrated for that window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

CHUNK_CELLS = 4_000_000  # simulations x rows drawn at once: bounds the memory of the draws


@dataclass(frozen=True)
class EstimatedPerformance:
    rows: int
    simulations: int
    default_rate: float
    default_rate_low: float
    default_rate_high: float
    roc_auc: float | None
    roc_auc_low: float | None
    roc_auc_high: float | None

    def to_record(self, prefix: str = "estimated_") -> dict[str, float | int | None]:
        return {f"{prefix}{name}": value for name, value in (
            ("default_rate", self.default_rate), ("default_rate_low", self.default_rate_low),
            ("default_rate_high", self.default_rate_high), ("roc_auc", self.roc_auc),
            ("roc_auc_low", self.roc_auc_low), ("roc_auc_high", self.roc_auc_high),
            ("simulations", self.simulations))}


def simulated_auc(ranks: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    """Per row of `outcomes` (simulations x loans, 1 = default), the AUC of the scores whose mid-ranks are
    `ranks`; NaN where a draw has one class only."""
    positives = outcomes.sum(axis=1)
    negatives = outcomes.shape[1] - positives
    rank_sum = outcomes @ ranks
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def estimate_performance(pd_values: np.ndarray, simulations: int, seed: int,
                         level: float = 0.95) -> EstimatedPerformance | None:
    """Expected default rate and ROC-AUC of a window from its PDs, with `level` bands (None without rows)."""
    pd_values = np.clip(np.asarray(pd_values, dtype="float64"), 0.0, 1.0)
    rows = pd_values.size
    if rows == 0:
        return None
    rng = np.random.default_rng(seed)
    ranks = rankdata(pd_values)
    rates, aucs = [], []
    per_chunk = max(1, CHUNK_CELLS // rows)
    for start in range(0, simulations, per_chunk):
        draws = rng.random((min(per_chunk, simulations - start), rows)) < pd_values
        rates.append(draws.mean(axis=1))
        aucs.append(simulated_auc(ranks, draws.astype("float64")))
    rate, auc = np.concatenate(rates), np.concatenate(aucs)
    tails = [(1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0]
    low_rate, high_rate = np.quantile(rate, tails)
    valid = auc[~np.isnan(auc)]
    enough = valid.size >= max(10, simulations // 2)  # mostly one-class draws: no AUC to expect
    low_auc, high_auc = np.quantile(valid, tails) if enough else (None, None)
    return EstimatedPerformance(
        rows=rows, simulations=simulations, default_rate=float(pd_values.mean()),
        default_rate_low=float(low_rate), default_rate_high=float(high_rate),
        roc_auc=float(valid.mean()) if enough else None,
        roc_auc_low=None if low_auc is None else float(low_auc),
        roc_auc_high=None if high_auc is None else float(high_auc))
