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
from creditrisk.modeling.bands import band_table, choose_threshold, fit_bands, ThresholdPolicy
from creditrisk.modeling.candidates import build_estimator, estimator_params, CANDIDATES, ESTIMATORS_KEY
from creditrisk.modeling.features import DomainFeatures, FeatureSet
from creditrisk.modeling.metrics import summarize_classification, METRIC_NAMES
from creditrisk.params import ParamsBlock, ParamsError
from creditrisk.data.contract import DATE

Calibration = Literal["isotonic", "sigmoid", "none"]
HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "ks", "gini"}


@dataclass(frozen=True)
class TrainParams(ParamsBlock):
    """The `train` block of params.yaml."""

    BLOCK: ClassVar[str] = "train"
    version: str
    candidates: list[str]
    select_metric: str
    cv_folds: int
    seed: int
    threads: int
    scaler: Literal["quantile", "standard", "spline"]
    spline_knots: int
    calibration: Calibration
    calibration_folds: int
    calibration_ensemble: bool
    threshold_policy: ThresholdPolicy
    cost_ratio: float
    band_names: list[str]
    band_cut_points: list[float] | None
    band_quantiles: list[float]
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
        found += [(key, "must be >= 2") for key in ("cv_folds", "calibration_folds") if getattr(self, key) < 2]
        bands = len(self.band_cut_points) + 1 if self.band_cut_points is not None else len(self.band_quantiles) + 1
        if len(self.band_names) < bands:
            found.append(("band_names", f"names fewer than the {bands} bands the cut points or quantiles make"))
        edges_key = "band_cut_points" if self.band_cut_points is not None else "band_quantiles"
        edges = getattr(self, edges_key)
        if any(b <= a for a, b in zip(edges, edges[1:])) or not all(0 < e < 1 for e in edges):
            found.append((edges_key, "must be strictly increasing and inside (0, 1)"))
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
    """Refit `name` on all of train, calibrated per params; return it and out-of-fold train PDs.

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
    calibrated = CalibratedClassifierCV(scorer, method=params.calibration, cv=folds,
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


@dataclass
class TrainingResult:
    bundle: ModelBundle
    comparison: pd.DataFrame
    oof_pd: np.ndarray
    timings: dict[str, float]


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


def _train_bundle(frame: pd.DataFrame, y: np.ndarray, features: FeatureSet, params: TrainParams) -> TrainingResult:
    y = np.asarray(y).astype(int)
    inputs = frame.reindex(columns=features.raw_inputs)
    timings: dict[str, float] = {}
    results = []
    for name in params.candidates:
        result = cross_validate_candidate(name, params, features, inputs, y)
        timings[f"cv_{name}"] = round(result.seconds, 3)
        results.append(result)
    table = comparison_table(results)
    best = select_best(table, params.select_metric)
    best_result = next(r for r in results if r.name == best)
    started = time.perf_counter()
    pipeline, oof = fit_final(best, params, features, inputs, y, best_result.oof_pd)
    timings["fit_final"] = round(time.perf_counter() - started, 3)
    threshold = choose_threshold(y, oof, params.threshold_policy, params.cost_ratio)
    bands = fit_bands(oof, y, params.band_names, params.band_cut_points, params.band_quantiles)
    train_bands = band_table(bands, oof, y)
    metadata = {
        "version": params.version,
        "model": best,
        "selected_by": params.select_metric,
        "calibration": params.calibration,
        "threshold_policy": params.threshold_policy,
        "cost_ratio": params.cost_ratio,
        "data_window": data_window(frame),
        "train_rows": int(len(y)),
        "train_default_rate": float(y.mean()),
        "train_oof_metrics": summarize_classification(y, oof, threshold),
        "train_bands": train_bands.to_dict(orient="records"),
        "features": features.raw_inputs,
        "model_columns": [*features.numeric, *features.categorical],
        "engineered_features": features.engineered,
        "dropped_leaks": features.dropped,
        "cv": table.to_dict(orient="records"),
        "params": asdict(params),
        "sklearn_version": sklearn.__version__,
    }
    bundle = ModelBundle(pipeline=pipeline, threshold=threshold, bands=bands,
                         features=list(features.raw_inputs), metadata=metadata)
    return TrainingResult(bundle=bundle, comparison=table, oof_pd=oof, timings=timings)
