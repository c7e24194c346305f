"""Classification metrics for PD models: y_true = 1 means default, proba = PD."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

METRIC_NAMES: tuple[str, ...] = (
    "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ks", "gini", "brier", "log_loss",
)
BinStrategy = Literal["quantile", "uniform"]
PROBA_EPSILON = 1e-15


def ks_statistic(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the PD distributions of defaults and payers.

    Equal to max |TPR - FPR| over all thresholds.
    """
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype="float64")
    defaults, payers = np.sort(proba[y_true == 1]), np.sort(proba[y_true == 0])
    if len(defaults) == 0 or len(payers) == 0:
        return float("nan")
    grid = np.unique(proba)
    cdf_defaults = np.searchsorted(defaults, grid, side="right") / len(defaults)
    cdf_payers = np.searchsorted(payers, grid, side="right") / len(payers)
    return float(np.max(np.abs(cdf_defaults - cdf_payers)))


def summarize_classification(y_true: Sequence[int] | np.ndarray, proba: Sequence[float] | np.ndarray,
                             threshold: float) -> dict[str, float]:
    """Threshold metrics at `threshold` (PD >= threshold predicts default) and ranking/probability metrics.

    Ranking metrics are NaN when only one class is present.
    """
    y_true = np.asarray(y_true).astype(int)
    proba = np.clip(np.asarray(proba, dtype="float64"), 0.0, 1.0)
    predicted = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    roc_auc = float(roc_auc_score(y_true, proba)) if both_classes else float("nan")
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": roc_auc,
        "pr_auc": float(average_precision_score(y_true, proba)) if both_classes else float("nan"),
        "ks": ks_statistic(y_true, proba),
        "gini": 2.0 * roc_auc - 1.0,
        "brier": float(brier_score_loss(y_true, proba, pos_label=1)),
        "log_loss": float(log_loss(y_true, np.clip(proba, PROBA_EPSILON, 1 - PROBA_EPSILON), labels=[0, 1])),
    }


def calibration_table(y_true: np.ndarray, proba: np.ndarray, bins: int,
                      strategy: BinStrategy = "quantile") -> pd.DataFrame:
    """Per PD bin: rows, mean PD, observed default rate. Quantile bins suit low default rates."""
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype="float64")
    if strategy == "quantile":
        edges = np.unique(np.quantile(proba, np.linspace(0, 1, bins + 1)))
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, proba, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = pd.DataFrame({"bin": index, "pd": proba, "y": y_true})
    table = frame.groupby("bin").agg(rows=("y", "size"), mean_pd=("pd", "mean"),
                                     observed_default_rate=("y", "mean")).reset_index()
    return table


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = 10,
                               strategy: BinStrategy = "quantile") -> float:
    """Row-weighted mean |observed default rate - mean PD| over PD bins."""
    table = calibration_table(y_true, proba, bins, strategy)
    if table.empty:
        return float("nan")
    gaps = (table["observed_default_rate"] - table["mean_pd"]).abs()
    return float((gaps * table["rows"]).sum() / table["rows"].sum())


def max_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The PD threshold with the highest F1 (PD >= threshold predicts default)."""
    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true).astype(int), proba)
    denominator = precision[:-1] + recall[:-1]
    f1 = np.divide(2 * precision[:-1] * recall[:-1], denominator,
                   out=np.zeros_like(denominator), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])


def min_cost_threshold(y_true: np.ndarray, proba: np.ndarray, cost_ratio: float) -> float:
    """The PD threshold minimising cost_ratio x missed defaults + rejected payers."""
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype="float64")
    order = np.argsort(-proba, kind="stable")
    sorted_pd, sorted_y = proba[order], y_true[order]
    rejected_defaults = np.cumsum(sorted_y)
    rejected_payers = np.cumsum(1 - sorted_y)
    last_of_value = np.r_[sorted_pd[1:] != sorted_pd[:-1], True]
    cost = cost_ratio * (sorted_y.sum() - rejected_defaults) + rejected_payers
    cost = np.where(last_of_value, cost, np.inf)
    best = int(np.argmin(cost))
    approve_all_cost = cost_ratio * sorted_y.sum()
    if approve_all_cost <= cost[best]:
        return float(np.nextafter(sorted_pd[0], np.inf)) if sorted_pd[0] < 1.0 else 1.0
    return float(sorted_pd[best])
