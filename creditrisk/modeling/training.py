"""Candidate models, cross-validated comparison, calibration, and the model bundle.

Every candidate is one sklearn Pipeline that scores RAW contract columns:
DomainFeatures (contract -> model frame) -> ColumnTransformer (impute, scale,
one-hot) -> estimator. PD = P(default) = P(Pago_atiempo == 0), so models are
trained on y = 1 - Pago_atiempo.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)
from threadpoolctl import threadpool_limits

from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.reasons import REFERENCE_DESCRIPTION, reference_applicant
from creditrisk.modeling.scorecard import PointsScale
from creditrisk.modeling.bands import band_table, choose_threshold, fit_bands, ThresholdPolicy
from creditrisk.modeling.rank_ordering import check_band_order
from creditrisk.modeling.candidates import build_estimator, estimator_params, CANDIDATES, ESTIMATORS_KEY
from creditrisk.modeling.calibration import CalibratedModel, ScoreCalibrator
from creditrisk.modeling.features import raw_inputs, DomainFeatures, FeatureSet, ENGINEERED
from creditrisk.modeling.timesplits import forward_chaining_folds, validated_rows, ForwardFold
from creditrisk.modeling.metrics import expected_calibration_error, summarize_classification, METRIC_NAMES
from creditrisk.modeling.validation import (
    brier_skill_score,
    calibration_intercept_slope,
    log_loss as validation_log_loss,
)
from creditrisk.params import ParamsBlock, ParamsError
from creditrisk.data.contract import DATE

Calibration = Literal["auto", "isotonic", "sigmoid", "none"]
CalibrationSource = Literal["auto", "oof", "recent"]
InTheLarge = Literal["auto", "on", "off"]
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ks", "gini"}


@dataclass(frozen=True)
class TrainParams(ParamsBlock):
    """The `train` block of params.yaml."""

    BLOCK: ClassVar[str] = "train"
    version: str
    candidates: list[str]
    select_metric: str
    cv_folds: int
    forward_folds: int
    forward_min_train_share: float
    forward_gap_days: float
    prune_features: bool
    keep_features: list[str]
    prune_repeats: int
    seed: int
    threads: int
    comparison_rows: int | None
    scaler: Literal["quantile", "standard", "spline"]
    spline_knots: int
    calibration: Calibration
    calibration_source: CalibrationSource
    calibration_in_the_large: InTheLarge
    central_default_rate: float | None
    calibration_folds: int
    calibration_ensemble: bool
    threshold_policy: ThresholdPolicy
    cost_ratio: float
    band_names: list[str]
    band_cut_points: list[float] | None
    band_quantiles: list[float]
    band_order_red: float
    merge_unordered_bands: bool
    reasons_top_k: int
    scorecard_points0: float
    scorecard_odds0: float
    scorecard_pdo: float
    estimators: dict[str, dict[str, Any]]
    model_path: str
    comparison_json: str
    comparison_csv: str

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, block in self.estimators.items():
            estimator_params(name, block)  # an unknown candidate or a broken block stops here

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not self.candidates or any(name not in self.estimators for name in self.candidates):
            found.append(("candidates", f"must be a non-empty list of candidates with a block under "
                                        f"{ESTIMATORS_KEY} (registered: {list(CANDIDATES)})"))
        if self.select_metric not in METRIC_NAMES:
            found.append(("select_metric", f"must be one of {list(METRIC_NAMES)}"))
        found += [(key, "must be >= 2") for key in ("cv_folds", "calibration_folds", "forward_folds")
                  if getattr(self, key) < 2]
        if not 0.0 < self.forward_min_train_share < 1.0:
            found.append(("forward_min_train_share", "must be in (0, 1)"))
        if self.forward_gap_days < 0:
            found.append(("forward_gap_days", "must be >= 0"))
        if self.prune_repeats < 1:
            found.append(("prune_repeats", "must be >= 1"))
        if self.comparison_rows is not None and self.comparison_rows < 1000:
            found.append(("comparison_rows", "must be null (every row) or >= 1000"))
        if self.central_default_rate is not None and not 0.0 < self.central_default_rate < 1.0:
            found.append(("central_default_rate", "must be null or in (0, 1)"))
        unknown = [name for name in self.keep_features if name not in ENGINEERED]
        if unknown:
            found.append(("keep_features", f"names no engineered feature: {unknown}"))
        bands = len(self.band_cut_points) + 1 if self.band_cut_points is not None else len(self.band_quantiles) + 1
        if len(self.band_names) < bands:
            found.append(("band_names", f"names fewer than the {bands} bands the cut points or quantiles make"))
        edges_key = "band_cut_points" if self.band_cut_points is not None else "band_quantiles"
        edges = getattr(self, edges_key)
        if any(b <= a for a, b in zip(edges, edges[1:])) or not all(0 < e < 1 for e in edges):
            found.append((edges_key, "must be strictly increasing and inside (0, 1)"))
        if not 0 < self.band_order_red < 1:
            found.append(("band_order_red", "must be a p-value level in (0, 1)"))
        return found

    def with_estimator(self, name: str, **changes: Any) -> TrainParams:
        """These params with some settings of candidate `name` changed (tests and benchmarks shrink models)."""
        block = {**self.estimators[name], **changes}
        return dataclasses.replace(self, estimators={**self.estimators, name: block})


def numeric_encoder(scaler: str, knots: int) -> Any:
    """How numbers reach the estimator (after median imputation).

    quantile: rank -> normal scores (robust to heavy tails and absurd values);
    standard: z-scores; spline: B-splines on quantile knots, which lets a
    linear model bend (caps, hinges) like a scorecard with smooth bins.
    """
    if scaler == "quantile":
        return QuantileTransformer(n_quantiles=200, output_distribution="normal", subsample=100_000,
                                   random_state=0)
    if scaler == "standard":
        return StandardScaler()
    if scaler == "spline":
        return Pipeline([
            ("rank", QuantileTransformer(n_quantiles=200, output_distribution="uniform", subsample=100_000,
                                         random_state=0)),
            ("spline", SplineTransformer(n_knots=knots, degree=3, knots="uniform", extrapolation="constant")),
        ])
    raise ParamsError(f"params.yaml: train.scaler {scaler!r} must be quantile, standard or spline")


def build_preprocessor(numeric: list[str], categorical: list[str], scaler: str,
                       knots: int = 5) -> ColumnTransformer:
    """Impute and encode numbers, one-hot categories (unknown ones ignored).

    Fitted inside the pipeline, so on training rows only.
    """
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")),
                              ("encode", numeric_encoder(scaler, knots))])
    categorical_steps = OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)
    transformers = []
    if numeric:
        transformers.append(("numeric", numeric_steps, list(numeric)))
    if categorical:
        transformers.append(("categorical", categorical_steps, list(categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_model(name: str, params: TrainParams, features: FeatureSet) -> Pipeline:
    """The whole scoring recipe for candidate `name`: raw contract columns in, P(default) out."""
    return Pipeline([
        ("domain", DomainFeatures(numeric=list(features.numeric), categorical=list(features.categorical))),
        ("preprocess", build_preprocessor(features.numeric, features.categorical, params.scaler, params.spline_knots)),
        ("model", build_estimator(name, params.estimators[name], params.seed)),
    ])


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


def fit_final(name: str, params: TrainParams, features: FeatureSet, frame: pd.DataFrame,
              y: np.ndarray, cv_oof: np.ndarray) -> tuple[Pipeline, np.ndarray]:
    """Refit `name` on all of train, calibrated on SHUFFLED folds per params; return it and out-of-fold PDs.

    Not the train stage's recipe (that one calibrates over time: `_train_bundle`); kept for the
    CalibratedClassifierCV pipeline shape the numpy scoring path accelerates. `calibration: auto` means sigmoid here.

    With calibration the result is Pipeline(domain features -> CalibratedClassifierCV);
    the stateless domain step runs once, outside the calibration. Without
    calibration the cross-validation predictions serve as out-of-fold PDs.
    """
    model = build_model(name, params, features)
    if params.calibration == "none":
        model.fit(frame, y)
        return model, cv_oof
    domain, scorer = model.steps[0][1], Pipeline(model.steps[1:])
    model_frame = domain.fit(frame).transform(frame)
    folds = stratified_folds(params.calibration_folds, params.seed)
    method = "sigmoid" if params.calibration == "auto" else params.calibration
    calibrated = CalibratedClassifierCV(scorer, method=method, cv=folds,
                                        ensemble=params.calibration_ensemble)
    calibrated.fit(model_frame, y)
    if params.calibration_ensemble:
        oof = _ensemble_oof(calibrated, model_frame, y, folds)
    else:
        oof = _single_model_oof(calibrated, scorer, model_frame, y, folds)
    return Pipeline([("domain", domain), ("calibrated", calibrated)]), oof


def _ensemble_oof(calibrated: CalibratedClassifierCV, model_frame: pd.DataFrame, y: np.ndarray,
                  folds: StratifiedKFold) -> np.ndarray:
    """ensemble=True keeps one (estimator, calibrator) pair per fold and averages them at
    predict time (one model per fold to run). The out-of-fold PD of a training row
    comes from the pair whose estimator did not see it (its calibrator did: a small
    optimism accepted to avoid refitting)."""
    oof = np.full(len(y), np.nan)
    for pair, (_, held_rows) in zip(calibrated.calibrated_classifiers_, folds.split(model_frame, y)):
        oof[held_rows] = pair.predict_proba(model_frame.iloc[held_rows])[:, 1]
    return oof


def _single_model_oof(calibrated: CalibratedClassifierCV, scorer: Pipeline, model_frame: pd.DataFrame,
                      y: np.ndarray, folds: StratifiedKFold) -> np.ndarray:
    """ensemble=False fits ONE calibrator on the cross-validated scores of the folds and
    ONE estimator on all rows (one model to run at predict time, the API's fixed cost).
    The out-of-fold PD of a training row is that calibrator applied to the score of the
    fold model that did not see it: the same scores the calibrator was fitted on,
    recomputed here with the same folds and seeded estimators."""
    method = "decision_function" if hasattr(scorer, "decision_function") else "predict_proba"
    scores = cross_val_predict(clone(scorer), model_frame, y, cv=folds, method=method)
    if scores.ndim == 2:
        scores = scores[:, 1]
    calibrator = calibrated.calibrated_classifiers_[0].calibrators[0]
    return np.clip(calibrator.predict(scores), 0.0, 1.0)


# ---------------------------------------------------------------- forward-chaining (time-ordered) CV


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


# ---------------------------------------------------------------- calibration judged over time


@dataclass(frozen=True)
class CalibrationChoice:
    """A calibration method, the scores it is fitted on, and whether the mean PD is then set to the
    central-tendency default rate (calibration in the large)."""

    method: str
    source: str
    in_the_large: bool

    @property
    def name(self) -> str:
        base = "none" if self.method == "none" else f"{self.method}/{self.source}"
        return base + ("+in_the_large" if self.in_the_large else "")

    def fit(self, scores: np.ndarray, y: np.ndarray, target_rate: float) -> ScoreCalibrator:
        calibrator = ScoreCalibrator(self.method).fit(scores, y)
        return calibrator.set_mean(scores, target_rate) if self.in_the_large else calibrator


def calibration_choices(params: TrainParams) -> list[CalibrationChoice]:
    """The choices params allow (`auto` opens a setting to every value)."""
    methods = ["none", "sigmoid", "isotonic"] if params.calibration == "auto" else [params.calibration]
    sources = ["oof", "recent"] if params.calibration_source == "auto" else [params.calibration_source]
    large = {"auto": [False, True], "on": [True], "off": [False]}[params.calibration_in_the_large]
    choices = []
    for method in methods:
        for source in (sources[:1] if method == "none" else sources):
            choices += [CalibrationChoice(method, source, flag) for flag in large]
    return choices


def calibration_rows(folds: list[ForwardFold], before: int, source: str) -> np.ndarray:
    """Rows a calibrator may be fitted on when validating fold `before` (len(folds) = the final model):
    every earlier fold's validation block (`oof`), or only the latest one (`recent`, the recent slice)."""
    if source == "recent":
        return folds[before - 1].validate
    return np.sort(np.concatenate([fold.validate for fold in folds[:before]]))


def central_rate(params: TrainParams, y_known: np.ndarray) -> float:
    """The central-tendency default rate: from params, or else the long-run rate of the loans known."""
    return float(params.central_default_rate) if params.central_default_rate is not None else float(y_known.mean())


def compare_calibrations(choices: list[CalibrationChoice], folds: list[ForwardFold], scores: np.ndarray,
                         y: np.ndarray, params: TrainParams) -> pd.DataFrame:
    """Forward-CV Brier and log-loss of every choice: for fold k (k >= 2), the calibrator is fitted on what
    was known before it (earlier folds' out-of-fold scores, or the latest earlier block) and scores fold k."""
    rows = []
    for choice in choices:
        briers, losses, skills, judged, outcomes = [], [], [], [], []
        for k in range(1, len(folds)):
            fit_rows, held = calibration_rows(folds, k, choice.source), folds[k].validate
            if len(np.unique(y[fit_rows])) < 2:
                continue
            known_rate = float(y[folds[k].train].mean())
            calibrator = choice.fit(scores[fit_rows], y[fit_rows], central_rate(params, y[folds[k].train]))
            pd_values = np.clip(calibrator.transform(scores[held]), 0.0, 1.0)
            briers.append(float(np.mean((pd_values - y[held]) ** 2)))
            losses.append(validation_log_loss(y[held], pd_values))
            skills.append(brier_skill_score(y[held], pd_values, known_rate))
            judged.append(pd_values)
            outcomes.append(y[held])
        pooled = np.concatenate(judged) if judged else np.array([])
        observed = np.concatenate(outcomes) if outcomes else np.array([])
        rows.append({"choice": choice.name, "method": choice.method, "source": choice.source,
                     "in_the_large": choice.in_the_large, "folds": len(briers),
                     "brier_mean": float(np.mean(briers)) if briers else float("nan"),
                     "brier_std": float(np.std(briers, ddof=1)) if len(briers) > 1 else 0.0,
                     "log_loss_mean": float(np.mean(losses)) if losses else float("nan"),
                     "brier_skill_mean": float(np.mean(skills)) if skills else float("nan"),
                     "mean_pd": float(pooled.mean()) if len(pooled) else float("nan"),
                     "observed_default_rate": float(observed.mean()) if len(observed) else float("nan"),
                     **_pooled_calibration(observed, pooled)})
    return pd.DataFrame(rows)


def _pooled_calibration(y: np.ndarray, pd_values: np.ndarray) -> dict[str, float]:
    """ECE (10 quantile bins) and the calibration intercept and slope of the judged folds' PDs together."""
    if len(np.unique(y)) < 2:
        return {"ece": float("nan"), "calibration_intercept": float("nan"), "calibration_slope": float("nan")}
    line = calibration_intercept_slope(y, pd_values)
    return {"ece": expected_calibration_error(y, pd_values, 10),
            "calibration_intercept": line["intercept"], "calibration_slope": line["slope"]}


def select_calibration(table: pd.DataFrame) -> str:
    """The choice with the lowest forward-CV Brier (ties: the first listed, the simplest)."""
    judged = table.dropna(subset=["brier_mean"])
    if judged.empty:
        raise ValueError("no calibration choice could be judged: every forward fold's calibration rows hold "
                         "one class only (use fewer forward folds or more data)")
    return str(judged.loc[judged["brier_mean"].idxmin(), "choice"])


# ---------------------------------------------------------------- features earn their place over time


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
class TrainingResult:
    bundle: ModelBundle
    comparison: pd.DataFrame
    oof_pd: np.ndarray
    timings: dict[str, float]
    calibration: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    report: dict[str, Any] = dataclasses.field(default_factory=dict)


def data_window(frame: pd.DataFrame) -> dict[str, Any]:
    if DATE not in frame.columns or frame[DATE].isna().all():
        return {}
    dates = pd.to_datetime(frame[DATE])
    return {"start": dates.min().isoformat(), "end": dates.max().isoformat()}


def train_bundle(frame: pd.DataFrame, y: np.ndarray, features: FeatureSet, params: TrainParams) -> TrainingResult:
    """Compare the candidates, refit and calibrate the best, fit threshold and bands: the whole train stage.

    BLAS/OpenMP threads are capped at `params.threads`: on a small shared
    machine, multi-threaded BLAS on small matrices is several times slower.
    """
    with threadpool_limits(limits=params.threads):
        return _train_bundle(frame, y, features, params)


def comparison_sample(frame: pd.DataFrame, y: np.ndarray, rows: int | None, seed: int) -> np.ndarray | None:
    """Sorted positions of a stratified, time-respecting sample of about `rows` loans (None: use them all).

    Strata are loan month x outcome and each keeps the same share of its loans, so the sample has the
    history's volume over time and its default rate month by month: forward folds over the sample cut
    the same periods as over all loans, and every month still has its defaults.
    """
    if rows is None or len(frame) <= rows:
        return None
    months = pd.to_datetime(frame[DATE]).dt.to_period("M").astype(str).to_numpy()
    strata = pd.Series(np.arange(len(frame))).groupby([months, np.asarray(y)])
    rng = np.random.default_rng(seed)
    share = rows / len(frame)
    chosen = [rng.choice(positions.to_numpy(), size=max(1, round(len(positions) * share)), replace=False)
              for _, positions in strata]
    return np.sort(np.concatenate(chosen))


def _train_bundle(frame: pd.DataFrame, y: np.ndarray, features: FeatureSet, params: TrainParams) -> TrainingResult:
    """Compare, prune, calibrate and set threshold and bands on the comparison sample (every row when the
    history is at most `train.comparison_rows`); the final model is then fitted on every row."""
    y = np.asarray(y).astype(int)
    sample = comparison_sample(frame, y, params.comparison_rows, params.seed)
    full_frame, full_y = frame, y
    if sample is not None:
        frame, y = frame.iloc[sample].reset_index(drop=True), y[sample]
    inputs = frame.reindex(columns=features.raw_inputs)
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
    chosen = next(r for r in forward if r.name == best)

    started = time.perf_counter()
    engineered = [name for name in features.engineered if name in (*features.numeric, *features.categorical)]
    pruning = _prune_engineered(chosen, frame, inputs, y, features, folds, params)
    features, inputs, chosen = pruning.features, pruning.inputs, pruning.chosen
    importance, pruned = pruning.importance, pruning.dropped
    timings["prune_features"] = round(time.perf_counter() - started, 3)

    started = time.perf_counter()
    scores = chosen.oof_pd
    calibrations = compare_calibrations(calibration_choices(params), folds, scores, y, params)
    choice = next(c for c in calibration_choices(params) if c.name == select_calibration(calibrations))
    fit_rows = calibration_rows(folds, len(folds), choice.source)
    calibrator = choice.fit(scores[fit_rows], y[fit_rows], central_rate(params, full_y))
    model = build_model(best, params, features)
    model.fit(full_frame.reindex(columns=features.raw_inputs), full_y)
    pipeline = CalibratedModel(model, calibrator)
    timings["fit_final"] = round(time.perf_counter() - started, 3)

    validated = validated_rows(folds)
    oof = np.full(len(y), np.nan)
    oof[validated] = np.clip(calibrator.transform(scores[validated]), 0.0, 1.0)
    oof_pd, oof_y = oof[validated], y[validated]
    threshold = choose_threshold(oof_y, oof_pd, params.threshold_policy, params.cost_ratio)
    bands = fit_bands(oof_pd, oof_y, params.band_names, params.band_cut_points, params.band_quantiles)
    latest = folds[-1].validate
    band_order = check_band_order(bands, oof[latest], y[latest], params.band_order_red, params.merge_unordered_bands,
                                  f"the latest forward fold's validation block ({len(latest)} loans)")
    bands = band_order.bands
    train_bands = band_table(bands, oof_pd, oof_y)
    forward_summary = chosen.summary()
    development_auc = forward_summary["roc_auc_mean"]
    development_auc_se = forward_summary["roc_auc_std"] / np.sqrt(len(chosen.fold_metrics))
    report = _training_report(best, params, folds, choice.name, central_rate(params, full_y), calibrations,
                              importance, pruned, engineered, forward_summary, development_auc,
                              float(development_auc_se))
    report["band_order"] = band_order.report
    oof = _on_every_row(oof, sample, len(full_y), report)
    metadata = _training_metadata(best, params, report, full_frame, full_y, validated, summarize_classification(
        oof_y, oof_pd, threshold), train_bands, features, pruned, table)
    metadata.update(decision_metadata(model, full_frame.reindex(columns=features.raw_inputs), params.reasons_top_k, PointsScale(
        params.scorecard_points0, params.scorecard_odds0, params.scorecard_pdo)))
    bundle = ModelBundle(pipeline=pipeline, threshold=threshold, bands=bands,
                         features=list(features.raw_inputs), metadata=metadata)
    return TrainingResult(bundle=bundle, comparison=table, oof_pd=oof, timings=timings,
                          calibration=calibrations, report=report)


def decision_metadata(model: Pipeline, inputs: pd.DataFrame, reasons_top_k: int,
                      scale: PointsScale) -> dict[str, Any]:
    """What scoring needs beyond the PD: the reference applicant of the reasons (from the training
    inputs), how many reasons to give, and the points scale."""
    model_frame = model.steps[0][1].transform(inputs)
    return {
        "reasons": {"top_k": reasons_top_k, "reference": REFERENCE_DESCRIPTION,
                    "reference_applicant": reference_applicant(model_frame)},
        "scorecard": scale.describe(),
    }


def _on_every_row(oof: np.ndarray, sample: np.ndarray | None, rows: int, report: dict[str, Any]) -> np.ndarray:
    """The sample's out-of-fold PDs placed among all rows (NaN elsewhere); the report says what was sampled."""
    if sample is None:
        return oof
    report["comparison_sample"] = {"rows": int(len(sample)), "of": rows,
                                   "scheme": "loan month x outcome strata, equal shares; final fit on every row"}
    placed = np.full(rows, np.nan)
    placed[sample] = oof
    return placed


@dataclass
class _Pruning:
    features: FeatureSet
    inputs: pd.DataFrame
    chosen: CandidateResult
    importance: pd.DataFrame
    dropped: dict[str, str]


def _prune_engineered(chosen: CandidateResult, frame: pd.DataFrame, inputs: pd.DataFrame, y: np.ndarray,
                      features: FeatureSet, folds: list[ForwardFold], params: TrainParams) -> _Pruning:
    """Drop the engineered features forward-fold permutation shows do not help, then rerun the chosen
    candidate's forward CV without them (see `feature_scheme` in the report)."""
    importance = pd.DataFrame(columns=["feature", "roc_auc_drop_mean", "roc_auc_drop_std", "evaluations"])
    engineered = [name for name in features.engineered if name in (*features.numeric, *features.categorical)]
    if not (params.prune_features and engineered):
        return _Pruning(features, inputs, chosen, importance, {})
    importance = engineered_importance(chosen, folds, inputs, y, engineered, params.prune_repeats, params.seed)
    dropped = feature_verdicts(importance, params.keep_features)
    if dropped:
        features = pruned_features(features, list(dropped))
        inputs = frame.reindex(columns=features.raw_inputs)
        chosen = forward_validate_candidate(chosen.name, params, features, inputs, y, folds)
    return _Pruning(features, inputs, chosen, importance, dropped)


def _training_report(best: str, params: TrainParams, folds: list[ForwardFold], calibration: str,
                     central_default_rate: float, calibrations: pd.DataFrame, importance: pd.DataFrame,
                     pruned: dict[str, str], engineered: list[str], forward_summary: dict[str, float],
                     development_auc: float, development_auc_se: float) -> dict[str, Any]:
    """The train stage's report (reports/model_comparison.json beside the table)."""
    return {
        "validation": "forward-chaining (expanding windows over the loan date); shuffled_* columns: "
                      "stratified shuffled CV, optimistic, never used to choose",
        "select_metric": params.select_metric,
        "selected": best,
        "development_roc_auc": development_auc,
        "development_roc_auc_se": development_auc_se,
        "forward_folds": [fold.describe() for fold in folds],
        "shuffled_folds": params.cv_folds,
        "calibration_selected": calibration,
        "central_default_rate": central_default_rate,
        "calibrations": calibrations.to_dict(orient="records"),
        "feature_importance": importance.to_dict(orient="records"),
        "features_dropped": pruned,
        "features_kept_by_hand": [name for name in params.keep_features if name in engineered],
        "feature_scheme": "forward-fold permutation importance of each engineered feature on the validation "
                          "blocks with the fold models as fitted (no refit per feature: one forward CV more "
                          "in all); a feature whose mean ROC-AUC drop is <= 0 is dropped, then the forward CV "
                          "of the selected candidate is rerun without the dropped ones",
        "selected_forward": forward_summary,
    }


def _training_metadata(best: str, params: TrainParams, report: dict[str, Any], frame: pd.DataFrame, y: np.ndarray,
                       validated: np.ndarray, oof_metrics: dict[str, float], train_bands: pd.DataFrame,
                       features: FeatureSet, pruned: dict[str, str], table: pd.DataFrame) -> dict[str, Any]:
    """What the bundle records about its training (the model card reads it)."""
    return {
        "version": params.version,
        "model": best,
        "selected_by": params.select_metric,
        "validation": "forward_chaining",
        "development_roc_auc": report["development_roc_auc"],
        "development_roc_auc_se": report["development_roc_auc_se"],
        "forward_folds": report["forward_folds"],
        "calibration": report["calibration_selected"],
        "calibration_comparison": report["calibrations"],
        "central_default_rate": report["central_default_rate"],
        "threshold_policy": params.threshold_policy,
        "cost_ratio": params.cost_ratio,
        "data_window": data_window(frame),
        "train_rows": int(len(y)),
        "train_default_rate": float(y.mean()),
        "train_oof_rows": int(len(validated)),
        "train_oof_metrics": oof_metrics,
        "train_bands": train_bands.to_dict(orient="records"),
        "band_order": report["band_order"],
        "features": features.raw_inputs,
        "model_columns": [*features.numeric, *features.categorical],
        "engineered_features": features.engineered,
        "dropped_leaks": features.dropped,
        "dropped_over_time": pruned,
        "cv": table.to_dict(orient="records"),
        "params": asdict(params),
        "sklearn_version": sklearn.__version__,
    }
