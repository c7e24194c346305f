"""Choosing over time: candidates compared by forward-chaining CV (expanding windows over the loan date)
beside shuffled stratified CV (optimistic: reported, never chosen by), and engineered features kept only
when permuting them on the forward validation blocks shows they help.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from creditrisk.data.contract import DATE
from creditrisk.modeling.bands import choose_threshold
from creditrisk.modeling.features import FeatureSet, raw_inputs
from creditrisk.modeling.metrics import METRIC_NAMES, summarize_classification
from creditrisk.modeling.recipe import build_model
from creditrisk.modeling.timesplits import ForwardFold, forward_chaining_folds
from creditrisk.modeling.train_params import TrainParams
from creditrisk.params import ParamsError

HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ks", "gini"}


def stratified_folds(n_splits: int, seed: int) -> StratifiedKFold:
    """Shuffled: row order in a real export correlates with the target."""
    return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)


@dataclass
class CandidateResult:
    name: str
    fold_metrics: list[dict[str, float]]
    oof_pd: np.ndarray
    seconds: float

    def summary(self) -> dict[str, float]:
        table = pd.DataFrame(self.fold_metrics)
        row: dict[str, float] = {}
        for metric in METRIC_NAMES:
            row[f"{metric}_mean"] = float(table[metric].mean())
            row[f"{metric}_std"] = float(table[metric].std(ddof=1)) if len(table) > 1 else 0.0
        return row


def cross_validate_candidate(name: str, params: TrainParams, features: FeatureSet,
                             frame: pd.DataFrame, y: np.ndarray) -> CandidateResult:
    """Stratified shuffled k-fold on train; per fold, threshold metrics at that fold's policy threshold."""
    started = time.perf_counter()
    oof = np.full(len(y), np.nan)
    fold_metrics = []
    with threadpool_limits(limits=params.threads):
        for fit_rows, held_rows in stratified_folds(params.cv_folds, params.seed).split(frame, y):
            model = build_model(name, params, features)
            model.fit(frame.iloc[fit_rows], y[fit_rows])
            proba = model.predict_proba(frame.iloc[held_rows])[:, 1]
            oof[held_rows] = proba
            threshold = choose_threshold(y[held_rows], proba, params.threshold_policy, params.cost_ratio)
            fold_metrics.append(summarize_classification(y[held_rows], proba, threshold))
    return CandidateResult(name, fold_metrics, oof, time.perf_counter() - started)


def comparison_table(results: list[CandidateResult]) -> pd.DataFrame:
    """One row per model: mean and std of every metric over the CV folds.

    No timings: the table is a committed report and goes into the artifact, both
    of which must be byte-identical when the pipeline reruns.
    """
    rows = [{"model": r.name, "folds": len(r.fold_metrics), **r.summary()} for r in results]
    return pd.DataFrame(rows)


def select_best(table: pd.DataFrame, metric: str) -> str:
    """The model with the best mean `metric` (ties: the first, i.e. the simplest listed)."""
    column = table[f"{metric}_mean"]
    best = column.idxmax() if metric in HIGHER_IS_BETTER else column.idxmin()
    return str(table.loc[best, "model"])


def forward_folds(frame: pd.DataFrame, params: TrainParams) -> list[ForwardFold]:
    """Expanding windows over the loan date: each fold trains on loans before its validation block."""
    if DATE not in frame.columns:
        raise ParamsError(f"train: the training data has no {DATE} column; forward-chaining CV needs the loan date")
    return forward_chaining_folds(frame[DATE], params.forward_folds, params.forward_min_train_share,
                                  params.forward_gap_days)


@dataclass
class ForwardResult(CandidateResult):
    """A candidate's forward CV: raw (uncalibrated) scores on the validated rows, NaN elsewhere."""

    models: list[Pipeline]


def forward_validate_candidate(name: str, params: TrainParams, features: FeatureSet, frame: pd.DataFrame,
                               y: np.ndarray, folds: list[ForwardFold]) -> ForwardResult:
    """Fit on each fold's past, score its validation block; per fold, metrics at that fold's policy threshold."""
    started = time.perf_counter()
    oof = np.full(len(y), np.nan)
    fold_metrics, models = [], []
    for fold in folds:
        model = build_model(name, params, features)
        model.fit(frame.iloc[fold.train], y[fold.train])
        proba = model.predict_proba(frame.iloc[fold.validate])[:, 1]
        oof[fold.validate] = proba
        held = y[fold.validate]
        threshold = choose_threshold(held, proba, params.threshold_policy, params.cost_ratio)
        fold_metrics.append(summarize_classification(held, proba, threshold))
        models.append(model)
    return ForwardResult(name, fold_metrics, oof, time.perf_counter() - started, models)


def validation_comparison(forward: list[CandidateResult], shuffled: list[CandidateResult]) -> pd.DataFrame:
    """One row per candidate: forward-CV mean/std of every metric (`<metric>_mean`, what selection reads)
    beside the shuffled stratified CV (`shuffled_<metric>_mean`, optimistic: loans of the validation
    period sit in training; reported, never chosen by)."""
    table = comparison_table(forward)
    shuffled_table = comparison_table(shuffled).drop(columns=["model"]).add_prefix("shuffled_")
    return pd.concat([table, shuffled_table], axis=1)



@dataclass
class Comparison:
    """The candidates' forward CV beside their shuffled CV (`table`), the forward folds, and the candidate
    the selection metric picks with its forward CV (`chosen`)."""

    folds: list[ForwardFold]
    table: pd.DataFrame
    chosen: ForwardResult
    timings: dict[str, float]


def compare_candidates(frame: pd.DataFrame, inputs: pd.DataFrame, y: np.ndarray, features: FeatureSet,
                       params: TrainParams) -> Comparison:
    """Every candidate validated forward (chooses) and shuffled (reported); the best by `select_metric`."""
    folds = forward_folds(frame, params)
    timings: dict[str, float] = {}
    forward, shuffled = [], []
    for name in params.candidates:
        forward.append(forward_validate_candidate(name, params, features, inputs, y, folds))
        shuffled.append(cross_validate_candidate(name, params, features, inputs, y))
        timings[f"forward_{name}"] = round(forward[-1].seconds, 3)
        timings[f"shuffled_{name}"] = round(shuffled[-1].seconds, 3)
    table = validation_comparison(forward, shuffled)
    best = select_best(table, params.select_metric)
    return Comparison(folds, table, next(result for result in forward if result.name == best), timings)


def engineered_importance(result: ForwardResult, folds: list[ForwardFold], frame: pd.DataFrame, y: np.ndarray,
                          candidates: list[str], repeats: int, seed: int) -> pd.DataFrame:
    """Mean ROC-AUC drop on the forward validation blocks when one engineered feature is permuted
    (the fold models as fitted: no refit), per feature."""
    rng = np.random.default_rng(seed)
    drops: dict[str, list[float]] = {name: [] for name in candidates}
    for model, fold in zip(result.models, folds):
        held = y[fold.validate]
        if len(np.unique(held)) < 2:
            continue
        model_frame = model.steps[0][1].transform(frame.iloc[fold.validate])
        scorer = Pipeline(model.steps[1:])
        base = roc_auc_score(held, scorer.predict_proba(model_frame)[:, 1])
        for name in candidates:
            original = model_frame[name].copy()
            for _ in range(repeats):
                model_frame[name] = original.to_numpy()[rng.permutation(len(original))]
                drops[name].append(base - roc_auc_score(held, scorer.predict_proba(model_frame)[:, 1]))
            model_frame[name] = original
    return pd.DataFrame([{"feature": name, "roc_auc_drop_mean": float(np.mean(values)) if values else float("nan"),
                          "roc_auc_drop_std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                          "evaluations": len(values)} for name, values in drops.items()])


def pruned_features(features: FeatureSet, dropped: list[str]) -> FeatureSet:
    numeric = [name for name in features.numeric if name not in dropped]
    categorical = [name for name in features.categorical if name not in dropped]
    needed = set(raw_inputs([*numeric, *categorical]))
    return FeatureSet(numeric=numeric, categorical=categorical,
                      raw_inputs=[name for name in features.raw_inputs if name in needed],
                      engineered=[name for name in features.engineered if name not in dropped],
                      dropped=features.dropped)


def feature_verdicts(importance: pd.DataFrame, keep: list[str]) -> dict[str, str]:
    """Engineered features forward CV does not show helping, each with the reason (kept-by-hand ones excepted)."""
    verdicts = {}
    for row in importance.itertuples():
        if row.feature in keep or not row.roc_auc_drop_mean <= 0:
            continue
        verdicts[row.feature] = (f"permuting it on the forward validation blocks changes ROC-AUC by "
                                 f"{0.0 - row.roc_auc_drop_mean:+.4f} on average ({row.evaluations} evaluations): "
                                 "no help out of time")
    return verdicts


@dataclass
class Pruning:
    """The engineered features the selected candidate keeps, and the evidence: each considered one's
    permutation importance and the reason for each dropped one; `chosen`, its forward CV without them."""

    features: FeatureSet
    chosen: ForwardResult
    considered: list[str]
    importance: pd.DataFrame
    dropped: dict[str, str]


def prune_engineered(chosen: ForwardResult, frame: pd.DataFrame, inputs: pd.DataFrame, y: np.ndarray,
                     features: FeatureSet, folds: list[ForwardFold], params: TrainParams) -> Pruning:
    """Drop the engineered features forward-fold permutation shows do not help, then rerun the chosen
    candidate's forward CV without them (see `feature_scheme` in the report)."""
    importance = pd.DataFrame(columns=["feature", "roc_auc_drop_mean", "roc_auc_drop_std", "evaluations"])
    engineered = [name for name in features.engineered if name in (*features.numeric, *features.categorical)]
    if not (params.prune_features and engineered):
        return Pruning(features, chosen, engineered, importance, {})
    importance = engineered_importance(chosen, folds, inputs, y, engineered, params.prune_repeats, params.seed)
    dropped = feature_verdicts(importance, params.keep_features)
    if dropped:
        features = pruned_features(features, list(dropped))
        chosen = forward_validate_candidate(chosen.name, params, features, frame.reindex(columns=features.raw_inputs),
                                            y, folds)
    return Pruning(features, chosen, engineered, importance, dropped)
