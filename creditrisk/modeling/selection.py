"""Choosing over time: candidates compared by forward-chaining CV (expanding windows over the loan date)
beside shuffled stratified CV (optimistic: reported, never chosen by), and engineered features kept only
when permuting them on the forward validation blocks shows they help.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from creditrisk.data.contract import DATE
from creditrisk.modeling.bands import choose_threshold
from creditrisk.modeling.candidates import candidate
from creditrisk.modeling.features import FeatureSet, raw_inputs
from creditrisk.modeling.metrics import METRIC_NAMES, summarize_classification
from creditrisk.modeling.monotone import monotonicity_check
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
    monotone: bool = False  # fitted under the train.monotonic directions

    def summary(self) -> dict[str, float]:
        table = pd.DataFrame(self.fold_metrics)
        row: dict[str, float] = {}
        for metric in METRIC_NAMES:
            row[f"{metric}_mean"] = float(table[metric].mean())
            row[f"{metric}_std"] = float(table[metric].std(ddof=1)) if len(table) > 1 else 0.0
        return row


def cross_validate_candidate(name: str, params: TrainParams, features: FeatureSet,
                             frame: pd.DataFrame, y: np.ndarray, monotone: bool | None = None) -> CandidateResult:
    """Stratified shuffled k-fold on train; per fold, threshold metrics at that fold's policy threshold."""
    started = time.perf_counter()
    oof = np.full(len(y), np.nan)
    fold_metrics = []
    with threadpool_limits(limits=params.threads):
        for fit_rows, held_rows in stratified_folds(params.cv_folds, params.seed).split(frame, y):
            model = build_model(name, params, features, monotone)
            model.fit(frame.iloc[fit_rows], y[fit_rows])
            proba = model.predict_proba(frame.iloc[held_rows])[:, 1]
            oof[held_rows] = proba
            threshold = choose_threshold(y[held_rows], proba, params.threshold_policy, params.cost_ratio)
            fold_metrics.append(summarize_classification(y[held_rows], proba, threshold))
    return CandidateResult(name, fold_metrics, oof, time.perf_counter() - started, _constrained(name, params, monotone))


def _constrained(name: str, params: TrainParams, monotone: bool | None) -> bool:
    """Whether candidate `name` is fitted under constraints (`build_model`'s rule)."""
    return candidate(name).constrained(params.monotone if monotone is None else monotone)


def comparison_table(results: list[CandidateResult]) -> pd.DataFrame:
    """One row per model: mean and std of every metric over the CV folds.

    No timings: the table is a committed report and goes into the artifact, both
    of which must be byte-identical when the pipeline reruns.
    """
    rows = [{"model": r.name, "monotone": r.monotone, "folds": len(r.fold_metrics), **r.summary()} for r in results]
    return pd.DataFrame(rows)


def select_best(table: pd.DataFrame, metric: str) -> str:
    """The model with the best mean `metric` among the rows that compete (`competes` when the table has it;
    ties: the first, i.e. the simplest listed)."""
    column = table[f"{metric}_mean"]
    if "competes" in table.columns:
        column = column[table["competes"].astype(bool)]
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

    models: list[Pipeline] = field(default_factory=list)


def forward_validate_candidate(name: str, params: TrainParams, features: FeatureSet, frame: pd.DataFrame,
                               y: np.ndarray, folds: list[ForwardFold], monotone: bool | None = None) -> ForwardResult:
    """Fit on each fold's past, score its validation block; per fold, metrics at that fold's policy threshold."""
    started = time.perf_counter()
    oof = np.full(len(y), np.nan)
    fold_metrics, models = [], []
    for fold in folds:
        model = build_model(name, params, features, monotone)
        model.fit(frame.iloc[fold.train], y[fold.train])
        proba = model.predict_proba(frame.iloc[fold.validate])[:, 1]
        oof[fold.validate] = proba
        held = y[fold.validate]
        threshold = choose_threshold(held, proba, params.threshold_policy, params.cost_ratio)
        fold_metrics.append(summarize_classification(held, proba, threshold))
        models.append(model)
    return ForwardResult(name, fold_metrics, oof, time.perf_counter() - started, _constrained(name, params, monotone),
                         models)


def validation_comparison(forward: list[CandidateResult], shuffled: list[CandidateResult]) -> pd.DataFrame:
    """One row per candidate: forward-CV mean/std of every metric (`<metric>_mean`, what selection reads)
    beside the shuffled stratified CV (`shuffled_<metric>_mean`, optimistic: loans of the validation
    period sit in training; reported, never chosen by)."""
    table = comparison_table(forward)
    shuffled_table = comparison_table(shuffled).drop(columns=["model", "monotone"]).add_prefix("shuffled_")
    return pd.concat([table, shuffled_table], axis=1)



@dataclass
class Comparison:
    """The candidates' forward CV beside their shuffled CV (`table`), the forward folds, every competing
    candidate's forward CV (`results`, by name) and the one the selection metric picks (`chosen`)."""

    folds: list[ForwardFold]
    table: pd.DataFrame
    chosen: ForwardResult
    timings: dict[str, float]
    results: dict[str, ForwardResult] = field(default_factory=dict)


def variants(name: str, params: TrainParams) -> list[bool]:
    """The constraint settings forward CV fits candidate `name` with: the one that competes
    (`train.monotone`) first, then the other when the candidate has both forms (reported, never chosen by)."""
    forms = candidate(name).forms
    if len(forms) == 1:
        return [forms[0]]
    return [params.monotone, not params.monotone]


def monotone_violation(result: ForwardResult, folds: list[ForwardFold], inputs: pd.DataFrame,
                       params: TrainParams) -> float:
    """The largest PD move against a constrained input's direction (ICE on the latest forward fold's
    validation block, `monotone.monotonicity_check`), whatever the variant was fitted with."""
    if not params.monotonic or not result.models:
        return float("nan")
    findings = monotonicity_check(result.models[-1], inputs.iloc[folds[-1].validate], params.monotonic,
                                  params.monotone_tolerance)
    return max((finding.worst_move for finding in findings), default=0.0)


def compare_candidates(frame: pd.DataFrame, inputs: pd.DataFrame, y: np.ndarray, features: FeatureSet,
                       params: TrainParams) -> Comparison:
    """Every candidate validated forward (chooses) and shuffled (reported), constrained and not where it has
    both forms; the best competing one by `select_metric`."""
    folds = forward_folds(frame, params)
    timings: dict[str, float] = {}
    forward, shuffled, competes, violations = [], [], [], []
    for name in params.candidates:
        for position, monotone in enumerate(variants(name, params)):
            label = name if position == 0 else f"{name}_{'monotone' if monotone else 'unconstrained'}"
            forward.append(forward_validate_candidate(name, params, features, inputs, y, folds, monotone))
            shuffled.append(cross_validate_candidate(name, params, features, inputs, y, monotone))
            competes.append(position == 0)
            violations.append(monotone_violation(forward[-1], folds, inputs, params))
            timings[f"forward_{label}"] = round(forward[-1].seconds, 3)
            timings[f"shuffled_{label}"] = round(shuffled[-1].seconds, 3)
    table = validation_comparison(forward, shuffled)
    table.insert(2, "competes", [first and monotone_enough(violation, params)
                                 for first, violation in zip(competes, violations, strict=True)])
    table.insert(3, "monotone_violation", violations)
    if not table["competes"].any():
        raise ParamsError(f"train: no candidate competes: with train.monotone every one moved its PD against a "
                          f"train.monotonic direction by more than train.monotone_tolerance "
                          f"({params.monotone_tolerance}) on the latest forward fold")
    best = select_best(table, params.select_metric)
    results = {result.name: result for result, first in zip(forward, competes) if first}
    return Comparison(folds, table, results[best], timings, results)


def monotone_enough(violation: float, params: TrainParams) -> bool:
    """With `train.monotone`, a candidate competes only when its PD keeps every direction within the tolerance
    (scikit-learn's tree constraints, for one, are not kept under sample weights: a forest's bootstrap
    counts and class weights break them); without it, every candidate competes."""
    return not params.monotone or not violation > params.monotone_tolerance


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
                                            y, folds, chosen.monotone)
    return Pruning(features, chosen, engineered, importance, dropped)
