"""The leakage guard: which candidate columns may the model see.

`screen_leakage` runs on the TRAIN split only and scores every candidate column, raw and engineered, with
four checks; a column at or above the threshold on any check is dropped, and so is every engineered column
built from a dropped one. `feature_set` turns the verdict into the model's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

from creditrisk.data.contract import MISSING_CATEGORY
from creditrisk.modeling.features import (
    ENGINEERED,
    build_model_frame,
    FeatureKind,
    FeatureSet,
    FeaturizeParams,
    feature_kind,
    raw_inputs,
    split_by_kind,
)


@dataclass(frozen=True)
class GuardConfig:
    """The leakage guard's settings, from the `featurize` block (`guard_config`)."""

    threshold: float
    folds: int
    tree_depth: int
    min_class_rows: int
    seed: int
    drop: tuple[str, ...]


@dataclass
class ColumnScreen:
    """The guard's scores for one column; every AUC is folded to max(AUC, 1 - AUC)."""

    column: str
    kind: FeatureKind
    engineered: bool
    rank_auc: float
    separates_perfectly: bool
    tree_oof_auc: float
    missing_indicator_auc: float
    missing_share: float
    dropped: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass
class LeakageReport:
    threshold: float
    rows: int
    default_rate: float
    columns: list[ColumnScreen]

    @property
    def dropped(self) -> list[str]:
        return [c.column for c in self.columns if c.dropped]

    @property
    def kept(self) -> list[str]:
        return [c.column for c in self.columns if not c.dropped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "rows": self.rows,
            "default_rate": self.default_rate,
            "checks": ["rank_auc", "separates_perfectly", "tree_oof_auc", "missing_indicator_auc"],
            "dropped": {c.column: c.reasons for c in self.columns if c.dropped},
            "kept": self.kept,
            "columns": [asdict(c) for c in self.columns],
        }


def folded_auc(y: np.ndarray, score: np.ndarray) -> float:
    """max(AUC, 1 - AUC) over rows where the score is present; 0.5 when undefined."""
    score = np.asarray(score, dtype="float64")
    present = ~np.isnan(score)
    y_present = y[present]
    if y_present.size == 0 or y_present.min() == y_present.max():
        return 0.5
    auc = float(roc_auc_score(y_present, score[present]))
    return max(auc, 1.0 - auc)


def separates_perfectly(y: np.ndarray, values: np.ndarray, min_class_rows: int) -> bool:
    """True when one threshold puts every present default on one side and every payer on the other."""
    present = ~np.isnan(values)
    defaults, payers = values[present & (y == 1)], values[present & (y == 0)]
    if len(defaults) < min_class_rows or len(payers) < min_class_rows:
        return False
    return bool(defaults.max() < payers.min() or defaults.min() > payers.max())


def _target_rate_encoding(values: np.ndarray, y: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Each category's default rate on `fit_rows` (unseen categories get the overall rate)."""
    frame = pd.DataFrame({"value": values[fit_rows], "y": y[fit_rows]})
    rates = frame.groupby("value")["y"].mean()
    overall = float(y[fit_rows].mean())
    return pd.Series(values).map(rates).fillna(overall).to_numpy(dtype="float64")


def _tree_oof_auc(values: np.ndarray, y: np.ndarray, kind: FeatureKind, config: GuardConfig) -> float:
    """Out-of-fold AUC of a shallow one-feature tree (numeric) or target-rate encoding (category).

    Catches leaks a rank AUC misses, e.g. a column whose extremes on BOTH
    sides mean default.
    """
    if y.min() == y.max() or min(np.bincount(y)) < config.folds:
        return 0.5
    folds = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    oof = np.full(len(y), np.nan)
    for fit_rows, held_rows in folds.split(np.zeros(len(y)), y):
        if kind == "category":
            oof[held_rows] = _target_rate_encoding(values, y, fit_rows)[held_rows]
            continue
        column = values.reshape(-1, 1)
        if np.isnan(column[fit_rows]).all():
            oof[held_rows] = float(y[fit_rows].mean())
            continue
        tree = DecisionTreeClassifier(max_depth=config.tree_depth, min_samples_leaf=config.min_class_rows,
                                      random_state=config.seed)
        tree.fit(column[fit_rows], y[fit_rows])
        oof[held_rows] = tree.predict_proba(column[held_rows])[:, 1]
    return folded_auc(y, oof)


def screen_column(frame: pd.DataFrame, y: np.ndarray, column: str, config: GuardConfig) -> ColumnScreen:
    """Score one candidate column with every check and decide whether it leaks."""
    kind = feature_kind(column)
    numeric, categorical = ([column], []) if kind == "numeric" else ([], [column])
    values = build_model_frame(frame, numeric, categorical)[column].to_numpy()
    if kind == "category":
        missing = values == MISSING_CATEGORY
        scores = _target_rate_encoding(values, y, np.arange(len(y)))
        separable = False
    else:
        values = values.astype("float64")
        missing = np.isnan(values)
        scores = values
        separable = separates_perfectly(y, values, config.min_class_rows)
    screen = ColumnScreen(
        column=column,
        kind=kind,
        engineered=column in ENGINEERED,
        rank_auc=round(folded_auc(y, scores), 6),
        separates_perfectly=separable,
        tree_oof_auc=round(_tree_oof_auc(values, y, kind, config), 6),
        missing_indicator_auc=round(folded_auc(y, missing.astype("float64")), 6),
        missing_share=round(float(missing.mean()), 6),
    )
    screen.reasons = _leak_reasons(screen, config.threshold)
    screen.dropped = bool(screen.reasons)
    return screen


def _leak_reasons(screen: ColumnScreen, threshold: float) -> list[str]:
    reasons = []
    for check in ("rank_auc", "tree_oof_auc", "missing_indicator_auc"):
        score = getattr(screen, check)
        if score >= threshold:
            reasons.append(f"{check} {score:.4f} >= {threshold}")
    if screen.separates_perfectly:
        reasons.append("one threshold separates defaults from payers perfectly")
    return reasons


def screen_leakage(frame: pd.DataFrame, y: np.ndarray, columns: Sequence[str],
                   config: GuardConfig) -> LeakageReport:
    """Screen `columns` on the training rows in `frame` (never the test split).

    Drops: columns at or above the threshold on any check, columns in the
    explicit drop list, and engineered columns computed from a dropped column.
    """
    y = np.asarray(y).astype(int)
    screens = [screen_column(frame, y, column, config) for column in columns]
    for screen in screens:
        if screen.column in config.drop:
            screen.reasons.append("listed in featurize.drop")
    dropped = {s.column for s in screens if s.reasons}
    for screen in screens:
        if screen.column in ENGINEERED:
            parents = [p for p in ENGINEERED[screen.column].inputs if p in dropped]
            if parents:
                screen.reasons.append(f"computed from dropped column(s) {parents}")
        screen.dropped = bool(screen.reasons)
    return LeakageReport(threshold=config.threshold, rows=len(y),
                         default_rate=round(float(y.mean()), 6) if len(y) else 0.0, columns=screens)


def guard_config(params: FeaturizeParams) -> GuardConfig:
    return GuardConfig(threshold=params.leak_auc_threshold, folds=params.guard_folds,
                       tree_depth=params.guard_tree_depth, min_class_rows=params.guard_min_class_rows,
                       seed=params.seed, drop=tuple(params.drop))


def feature_set(report: LeakageReport) -> FeatureSet:
    numeric, categorical = split_by_kind(report.kept)
    return FeatureSet(numeric=numeric, categorical=categorical, raw_inputs=raw_inputs(report.kept),
                      engineered=[c for c in report.kept if c in ENGINEERED],
                      dropped={c.column: c.reasons for c in report.columns if c.dropped})
