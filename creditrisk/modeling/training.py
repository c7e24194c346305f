"""The train stage: candidates compared over time, the best one pruned, calibrated and fitted on every row,
its threshold and risk bands set, all in one model bundle.

`train_bundle` is the entry point; below it the steps in the order they run, then what the stage reports
and what the bundle records. The pieces live beside it: `recipe` (a candidate's pipeline), `selection`
(forward-chaining CV and feature pruning), `calibration_choice` (calibration judged over time) and
`train_params` (the `train` block of params.yaml). PD = P(default) = P(Pago_atiempo == 0).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from creditrisk.data.contract import DATE
from creditrisk.modeling.bands import RiskBand, band_table, choose_threshold, fit_bands
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.calibration import CalibratedModel
from creditrisk.modeling.calibration_choice import ChosenCalibration, central_rate, choose_calibration
from creditrisk.modeling.candidates import candidate, SCORECARD
from creditrisk.modeling.features import FeatureSet
from creditrisk.modeling.metrics import summarize_classification
from creditrisk.modeling.rank_ordering import check_band_order
from creditrisk.modeling.reasons import REFERENCE_DESCRIPTION, reference_applicant
from creditrisk.modeling.recipe import build_model
from creditrisk.modeling.scorecard import scorecard_table, PointsScale
from creditrisk.modeling.selection import (
    compare_candidates,
    forward_validate_candidate,
    prune_engineered,
    Comparison,
    ForwardResult,
    Pruning,
)
from creditrisk.modeling.timesplits import ForwardFold, validated_rows
from creditrisk.modeling.train_params import TrainParams

POINTS_CHECK_TOLERANCE = 1e-6  # points: a scorecard's table against the points of its served PDs


def train_bundle(frame: pd.DataFrame, y: np.ndarray, features: FeatureSet, params: TrainParams,
                 benchmark: bool = False) -> TrainingResult:
    """Compare the candidates, refit and calibrate the best, fit threshold and bands: the whole train stage.
    With `benchmark`, the scorecard is also developed and fitted the same way (forward-validated on the same
    folds when it is no candidate), as the interpretable benchmark beside the selected model
    (`TrainingResult.benchmark`).

    BLAS/OpenMP threads are capped at `params.threads`: on a small shared
    machine, multi-threaded BLAS on small matrices is several times slower.
    """
    with threadpool_limits(limits=params.threads):
        return _train_bundle(frame, y, features, params, benchmark)


@dataclass
class TrainingResult:
    bundle: ModelBundle
    comparison: pd.DataFrame
    oof_pd: np.ndarray
    timings: dict[str, float]
    calibration: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    report: dict[str, Any] = dataclasses.field(default_factory=dict)
    benchmark: ModelBundle | None = None  # the scorecard, fitted like the selected model (it may be that one)


def _train_bundle(frame: pd.DataFrame, y: np.ndarray, features: FeatureSet, params: TrainParams,
                  benchmark: bool) -> TrainingResult:
    """Compare, prune, calibrate and set threshold and bands on the comparison sample (every row when the
    history is at most `train.comparison_rows`); the final model is then fitted on every row."""
    y = np.asarray(y).astype(int)
    sample = comparison_sample(frame, y, params.comparison_rows, params.seed)
    rows, outcomes = (frame, y) if sample is None else (frame.iloc[sample].reset_index(drop=True), y[sample])
    comparison = compare_candidates(rows, rows.reindex(columns=features.raw_inputs), outcomes, features, params)
    result = _developed_bundle(frame, y, sample, features, params, comparison, comparison.chosen)
    if benchmark:
        result.benchmark = result.bundle if comparison.chosen.name == SCORECARD else _developed_bundle(
            frame, y, sample, features, params, comparison, _scorecard_forward(comparison, rows, outcomes, features,
                                                                               params)).bundle
    return result


def _scorecard_forward(comparison: Comparison, rows: pd.DataFrame, y: np.ndarray, features: FeatureSet,
                       params: TrainParams) -> ForwardResult:
    """The scorecard's forward CV: from the comparison when it is a candidate, else run on the same folds."""
    if SCORECARD in comparison.results:
        return comparison.results[SCORECARD]
    return forward_validate_candidate(SCORECARD, params, features, rows.reindex(columns=features.raw_inputs), y,
                                      comparison.folds)


def _developed_bundle(frame: pd.DataFrame, y: np.ndarray, sample: np.ndarray | None, features: FeatureSet,
                      params: TrainParams, comparison: Comparison, chosen: ForwardResult) -> TrainingResult:
    """Candidate `chosen` pruned, calibrated, fitted on every row, with its threshold and bands, in a bundle."""
    development = develop(frame, y, sample, features, params, comparison, chosen)
    started = time.perf_counter()
    inputs = frame.reindex(columns=development.features.raw_inputs)
    model = build_model(development.best, params, development.features, chosen.monotone)
    model.fit(inputs, y)
    development.timings["final_fit"] = round(time.perf_counter() - started, 3)
    cut_offs = out_of_fold(development, params)
    report = _training_report(development, params)
    report["band_warnings"] = cut_offs.band_warnings
    report["band_order"] = cut_offs.band_order
    oof = _on_every_row(cut_offs.pd_values, sample, len(y), report)
    metadata = _training_metadata(development, cut_offs, params, report, frame, y)
    metadata["band_warnings"] = cut_offs.band_warnings
    scale = PointsScale(params.scorecard_points0, params.scorecard_odds0, params.scorecard_pdo)
    metadata.update(decision_metadata(model, inputs, params.reasons_top_k, scale))
    pipeline = CalibratedModel(model, development.calibration.calibrator)
    metadata.update(points_table_metadata(pipeline, scale, frame))
    bundle = ModelBundle(pipeline=pipeline, threshold=cut_offs.threshold, bands=cut_offs.bands,
                         features=list(development.features.raw_inputs), metadata=metadata)
    return TrainingResult(bundle=bundle, comparison=development.comparison.table, oof_pd=oof,
                          timings=development.timings, calibration=development.calibration.table, report=report)


def points_table_metadata(pipeline: CalibratedModel, scale: PointsScale, frame: pd.DataFrame) -> dict[str, Any]:
    """A scorecard's points table (characteristic, bin, WoE, points) for the model card, checked to add up to
    the points of the PDs it serves on the training rows; nothing for another candidate."""
    table = scorecard_table(pipeline, scale)
    if table is None:
        return {}
    served = scale.points(pipeline.predict_proba(frame)[:, 1])
    gap = float(np.max(np.abs(table.total(frame) - served))) if len(frame) else 0.0
    if gap > POINTS_CHECK_TOLERANCE:
        raise RuntimeError(f"the scorecard's points table does not add up to the points of its PDs "
                           f"(largest gap {gap:.3g} points on the training rows)")
    return {"points_table": table.rows(), "points_characteristics": table.characteristics}


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


@dataclass
class Development:
    """What the comparison sample decided, with the evidence the report and the model card show: the
    candidates compared, the engineered features pruned, the calibration chosen over time."""

    y: np.ndarray  # the sample's outcomes (1 = default)
    comparison: Comparison
    pruning: Pruning
    calibration: ChosenCalibration
    timings: dict[str, float]

    @property
    def best(self) -> str:
        return self.pruning.chosen.name

    @property
    def features(self) -> FeatureSet:
        return self.pruning.features

    @property
    def folds(self) -> list[ForwardFold]:
        return self.comparison.folds


def develop(frame: pd.DataFrame, y: np.ndarray, sample: np.ndarray | None, features: FeatureSet,
            params: TrainParams, comparison: Comparison, chosen: ForwardResult) -> Development:
    """Prune candidate `chosen`'s engineered features and choose its calibration (among those it allows), on
    the sample the candidates were compared on (the calibration in the large aims at the long-run rate of
    every row)."""
    rows, outcomes = (frame, y) if sample is None else (frame.iloc[sample].reset_index(drop=True), y[sample])
    inputs = rows.reindex(columns=features.raw_inputs)
    timings = dict(comparison.timings)
    started = time.perf_counter()
    pruning = prune_engineered(chosen, rows, inputs, outcomes, features, comparison.folds, params)
    timings["prune_features"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    calibration = choose_calibration(pruning.chosen.oof_pd, outcomes, comparison.folds, params,
                                     central_rate(params, y), candidate(chosen.name).calibrations)
    timings["calibration"] = round(time.perf_counter() - started, 3)
    return Development(outcomes, comparison, pruning, calibration, timings)


@dataclass(frozen=True)
class OutOfFold:
    """The sample's calibrated out-of-fold PDs (NaN where no forward fold validated a row), and the
    threshold and risk bands fitted on the validated ones."""

    pd_values: np.ndarray
    validated: np.ndarray
    threshold: float
    bands: list[RiskBand]
    metrics: dict[str, float]
    band_table: pd.DataFrame
    band_warnings: list[str]
    band_order: dict[str, Any]


def out_of_fold(development: Development, params: TrainParams) -> OutOfFold:
    scores, y = development.pruning.chosen.oof_pd, development.y
    validated = validated_rows(development.folds)
    oof = np.full(len(y), np.nan)
    oof[validated] = np.clip(development.calibration.calibrator.transform(scores[validated]), 0.0, 1.0)
    oof_pd, oof_y = oof[validated], y[validated]
    threshold = choose_threshold(oof_y, oof_pd, params.threshold_policy, params.cost_ratio)
    band_fit = fit_bands(oof_pd, oof_y, params.band_names, params.band_cut_points, params.band_quantiles)
    latest = development.folds[-1].validate
    band_order = check_band_order(band_fit.bands, oof[latest], y[latest], params.band_order_red,
                                  params.merge_unordered_bands,
                                  f"the latest forward fold's validation block ({len(latest)} loans)")
    bands = band_order.bands
    return OutOfFold(oof, validated, threshold, bands, summarize_classification(oof_y, oof_pd, threshold),
                     band_table(bands, oof_pd, oof_y), band_fit.warnings, band_order.report)


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


def _training_report(development: Development, params: TrainParams) -> dict[str, Any]:
    """The train stage's report (reports/model_comparison.json beside the table)."""
    pruning, calibration = development.pruning, development.calibration
    forward_summary = pruning.chosen.summary()
    standard_error = forward_summary["roc_auc_std"] / np.sqrt(len(pruning.chosen.fold_metrics))
    return {
        "validation": "forward-chaining (expanding windows over the loan date); shuffled_* columns: "
                      "stratified shuffled CV, optimistic, never used to choose",
        "select_metric": params.select_metric,
        "selected": development.best,
        "development_roc_auc": forward_summary["roc_auc_mean"],
        "development_roc_auc_se": float(standard_error),
        "forward_folds": [fold.describe() for fold in development.folds],
        "shuffled_folds": params.cv_folds,
        "calibration_selected": calibration.name,
        "central_default_rate": calibration.central_default_rate,
        "calibrations": calibration.table.to_dict(orient="records"),
        "feature_importance": pruning.importance.to_dict(orient="records"),
        "features_dropped": pruning.dropped,
        "features_kept_by_hand": [name for name in params.keep_features if name in pruning.considered],
        "feature_scheme": "forward-fold permutation importance of each engineered feature on the validation "
                          "blocks with the fold models as fitted (no refit per feature: one forward CV more "
                          "in all); a feature whose mean ROC-AUC drop is <= 0 is dropped, then the forward CV "
                          "of the selected candidate is rerun without the dropped ones",
        "selected_forward": forward_summary,
    }


def _training_metadata(development: Development, cut_offs: OutOfFold, params: TrainParams, report: dict[str, Any],
                       frame: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """What the bundle records about its training (the model card reads it)."""
    features = development.features
    return {
        "version": params.version,
        "model": development.best,
        "monotone": development.pruning.chosen.monotone,
        "monotonic": dict(params.monotonic) if development.pruning.chosen.monotone else {},
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
        "train_oof_rows": int(len(cut_offs.validated)),
        "train_oof_metrics": cut_offs.metrics,
        "train_bands": cut_offs.band_table.to_dict(orient="records"),
        "band_order": report["band_order"],
        "features": features.raw_inputs,
        "model_columns": [*features.numeric, *features.categorical],
        "engineered_features": features.engineered,
        "dropped_leaks": features.dropped,
        "dropped_over_time": development.pruning.dropped,
        "cv": development.comparison.table.to_dict(orient="records"),
        "params": asdict(params),
        "sklearn_version": sklearn.__version__,
    }


def data_window(frame: pd.DataFrame) -> dict[str, Any]:
    if DATE not in frame.columns or frame[DATE].isna().all():
        return {}
    dates = pd.to_datetime(frame[DATE])
    return {"start": dates.min().isoformat(), "end": dates.max().isoformat()}
