"""Out-of-time evaluation of a model bundle: the metrics report and the plot tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import precision_recall_curve, roc_curve
from threadpoolctl import threadpool_limits

from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.bands import band_table, monotonicity_warnings
from creditrisk.io import finite_json
from creditrisk.modeling.fairness import fairness_section, FairnessParams, GroupSettings
from creditrisk.modeling.monotone import monotonicity_check
from creditrisk.modeling.rank_ordering import merge_advice, rank_ordering_summary, rank_ordering_tests
from creditrisk.modeling.validation import PackSettings, flat_metrics, light_summary, validation_pack
from creditrisk.params import ParamsBlock
from creditrisk.modeling.metrics import (
    calibration_table,
    expected_calibration_error,
    summarize_classification,
)

DEFAULT_LABEL, PAYER_LABEL = "default", "paid"


@dataclass(frozen=True)
class EvaluateParams(ParamsBlock):
    """The `evaluate` block of params.yaml."""

    BLOCK: ClassVar[str] = "evaluate"
    ece_bins: int
    calibration_bins: int
    distribution_bins: int
    curve_points: int
    importance_repeats: int
    importance_max_rows: int
    seed: int
    threads: int
    confidence: float
    traffic_light_yellow: float
    traffic_light_red: float
    hosmer_lemeshow_groups: int
    metrics_path: str
    plots_dir: str
    card_path: str
    validation_path: str
    report_path: str

    def problems(self) -> list[tuple[str, str]]:
        found = [(key, "must be at least 1") for key in
                 ("ece_bins", "calibration_bins", "distribution_bins", "curve_points", "threads")
                 if getattr(self, key) < 1]
        if not 0 < self.confidence < 1:
            found.append(("confidence", "must be in (0, 1)"))
        if not 0 < self.traffic_light_red <= self.traffic_light_yellow < 1:
            found.append(("traffic_light_red", f"must be in (0, traffic_light_yellow = {self.traffic_light_yellow}]"))
        if self.hosmer_lemeshow_groups < 3:
            found.append(("hosmer_lemeshow_groups", "must be at least 3 (the test has groups - 2 degrees of freedom)"))
        return found

    @property
    def pack_settings(self) -> PackSettings:
        return PackSettings(confidence=self.confidence, yellow_below=self.traffic_light_yellow,
                            red_below=self.traffic_light_red, hosmer_lemeshow_groups=self.hosmer_lemeshow_groups,
                            calibration_bins=self.calibration_bins)


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    plots: dict[str, pd.DataFrame] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    band_warnings: list[str] = field(default_factory=list)
    """Bands whose out-of-time default rate is not above the band before (text: in the model card, not in
    metrics.json, whose values are numbers only)."""


def development_auc(metadata: dict[str, Any]) -> float:
    """The selected model's ROC-AUC in the CV that chose it (the development figure the decline test uses)."""
    if "development_roc_auc" in metadata:
        return float(metadata["development_roc_auc"])
    selected = next(row for row in metadata["cv"] if row["model"] == metadata["model"])
    return float(selected["roc_auc_mean"])


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """At most `points` rows, evenly spaced, always keeping the first and last."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def roc_points(y: np.ndarray, proba: np.ndarray, points: int) -> pd.DataFrame:
    fpr, tpr, _ = roc_curve(y, proba)
    return _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}), points).round(6)


def precision_recall_points(y: np.ndarray, proba: np.ndarray, points: int) -> pd.DataFrame:
    precision, recall, _ = precision_recall_curve(y, proba)
    frame = pd.DataFrame({"recall": recall, "precision": precision}).iloc[::-1]
    return _thin(frame, points).round(6)


def calibration_points(y: np.ndarray, proba: np.ndarray, bins: int) -> pd.DataFrame:
    table = calibration_table(y, proba, bins, "quantile")
    return pd.DataFrame({
        "mean_pd": table["mean_pd"], "observed_default_rate": table["observed_default_rate"],
        "perfect_calibration": table["mean_pd"], "rows": table["rows"],
    }).round(6)


def confusion_rows(y: np.ndarray, proba: np.ndarray, threshold: float) -> pd.DataFrame:
    """One row per test loan: actual and predicted class at the threshold (DVC's confusion template counts)."""
    label = np.array([PAYER_LABEL, DEFAULT_LABEL], dtype=object)
    return pd.DataFrame({"actual": label[y], "predicted": label[(proba >= threshold).astype(int)]})


def pd_distribution(y: np.ndarray, proba: np.ndarray, bins: int) -> pd.DataFrame:
    """Share of each class's loans per PD bin: equal width up to the 99th percentile PD
    (the few PDs above it are counted in the last bin)."""
    top = max(float(np.quantile(proba, 0.99)) if len(proba) else 1.0, 1e-6)
    edges = np.linspace(0.0, top, bins + 1)
    clipped = np.clip(proba, 0.0, top)
    shares = {}
    for name, mask in ((DEFAULT_LABEL, y == 1), (PAYER_LABEL, y == 0)):
        counts, _ = np.histogram(clipped[mask], bins=edges)
        shares[f"share_{name}"] = counts / max(int(mask.sum()), 1)
    return pd.DataFrame({"pd_bin_mid": (edges[:-1] + edges[1:]) / 2, **shares}).round(6)


def importance_table(bundle: ModelBundle, frame: pd.DataFrame, y: np.ndarray,
                     params: EvaluateParams) -> pd.DataFrame:
    """Permutation importance (drop in ROC-AUC) of each raw input column on the test split."""
    inputs = frame.reindex(columns=bundle.features)
    if len(inputs) > params.importance_max_rows:
        sample = np.random.default_rng(params.seed).choice(len(inputs), params.importance_max_rows, replace=False)
        inputs, y = inputs.iloc[np.sort(sample)], y[np.sort(sample)]
    result = permutation_importance(bundle.pipeline, inputs, y, scoring="roc_auc",
                                    n_repeats=params.importance_repeats, random_state=params.seed, n_jobs=1)
    table = pd.DataFrame({"feature": bundle.features, "importance": result.importances_mean,
                          "std": result.importances_std})
    return table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True).round(6)


def evaluate_bundle(bundle: ModelBundle, frame: pd.DataFrame, y: np.ndarray, params: EvaluateParams,
                    fairness: FairnessParams | None = None) -> Evaluation:
    """Score the out-of-time test rows with the bundle exactly as the API would, and measure (with the
    fairness tables and the Regulation B age check when `fairness` is given)."""
    with threadpool_limits(limits=params.threads):
        return _evaluate_bundle(bundle, frame, y, params, fairness)


def _evaluate_bundle(bundle: ModelBundle, frame: pd.DataFrame, y: np.ndarray, params: EvaluateParams,
                     fairness: FairnessParams | None) -> Evaluation:
    y = np.asarray(y).astype(int)
    proba = bundle.predict_pd(frame)
    bands = band_table(bundle.bands, proba, y)
    metrics: dict[str, Any] = summarize_classification(y, proba, bundle.threshold)
    metrics.update({
        "ece": expected_calibration_error(y, proba, params.ece_bins, "quantile"),
        "default_rate": float(y.mean()),
        "pd_mean": float(proba.mean()),
        "threshold": float(bundle.threshold),
        "rows": int(len(y)),
        "reject_rate": float((proba >= bundle.threshold).mean()),
        "bands": {row.band: {"share": float(row.share), "default_rate": _none_if_nan(row.default_rate)}
                  for row in bands.itertuples()},
    })
    pack = validation_pack(y, proba, [band.name for band in bundle.bands], bundle.band_of(proba),
                           float(bundle.metadata["train_default_rate"]), development_auc(bundle.metadata),
                           params.pack_settings, monotonicity_findings(bundle, frame))
    pack.update(model_review(bundle, frame, y, proba, params, fairness))
    pack.update(light_summary(pack))
    metrics.update(flat_metrics(pack))
    metrics = {key: _round(value) for key, value in metrics.items()}
    plots = {
        "roc": roc_points(y, proba, params.curve_points),
        "precision_recall": precision_recall_points(y, proba, params.curve_points),
        "calibration": calibration_points(y, proba, params.calibration_bins),
        "confusion": confusion_rows(y, proba, bundle.threshold),
        "pd_distribution": pd_distribution(y, proba, params.distribution_bins),
        "importance": importance_table(bundle, frame, y, params),
    }
    return Evaluation(metrics=metrics, plots=plots, validation=finite_json(pack),
                      band_warnings=monotonicity_warnings(bands))


def model_review(bundle: ModelBundle, frame: pd.DataFrame, y: np.ndarray, proba: np.ndarray, params: EvaluateParams,
                 fairness: FairnessParams | None) -> dict[str, Any]:
    """The pack's rank ordering of the bands and, with `fairness`, its fairness and segment tables and the
    Regulation B age check, at the pack's levels."""
    settings = params.pack_settings
    ordering = rank_ordering_tests([band.name for band in bundle.bands], bundle.band_of(proba), y,
                                   settings.yellow_below, settings.red_below)
    review: dict[str, Any] = {"rank_ordering": rank_ordering_summary(ordering)}
    if fairness is not None:
        groups = GroupSettings.of(fairness, bundle.threshold, settings.yellow_below, settings.red_below,
                                  settings.confidence)
        review["fairness"], review["age_check"] = fairness_section(bundle, frame, y, proba, fairness, groups)
    return review


def review_messages(evaluation: Evaluation, bundle: ModelBundle, report_path: str) -> list[str]:
    """What the evaluate stage says about rank ordering, the Regulation B check and the fairness findings."""
    pack = evaluation.validation
    order = pack["rank_ordering"]
    advice = merge_advice(bundle.bands, order["merge"], by_train=False)
    lines = [f"rank ordering is red on the out-of-time test: {advice}"] if advice else []
    line = f"rank ordering {order['light']}"
    if "age_check" in pack:
        check, fairness = pack["age_check"], pack["fairness"]
        line += (f"; Regulation B age check {check['light']} ({check['verdict']}); fairness findings "
                 f"{fairness['lights']['red']} red ({', '.join(fairness['red']) or 'none'})")
    return [*lines, f"{line}; report {report_path}"]


def monotonicity_findings(bundle: ModelBundle, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The monotonicity test of every input `train.monotonic` constrains (the directions and tolerance the
    bundle was trained with), on the out-of-time rows: red when the PD moves against a direction by more than
    the tolerance, whether or not the model was fitted under the constraints."""
    recorded = bundle.metadata.get("params", {})
    directions = recorded.get("monotonic") or {}
    if not directions or frame.empty:
        return []
    findings = monotonicity_check(bundle.pipeline, frame.reindex(columns=bundle.features), directions,
                                  float(recorded.get("monotone_tolerance", 0.0)))
    return [finding.to_dict() for finding in findings]


BENCHMARK_METRICS = ("roc_auc", "gini", "ks", "pr_auc", "brier")


def benchmark_summary(benchmark: ModelBundle, frame: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """The scorecard benchmark beside the served model: its forward-CV and out-of-time figures, its
    monotonicity tests and its points table (for the model card; its numbers also in metrics.json)."""
    y = np.asarray(y).astype(int)
    proba = benchmark.predict_pd(frame)
    test = summarize_classification(y, proba, benchmark.threshold)
    meta = benchmark.metadata
    return {
        "model": meta.get("model"),
        "calibration": meta.get("calibration"),
        "development_roc_auc": meta.get("development_roc_auc"),
        "development_roc_auc_se": meta.get("development_roc_auc_se"),
        "test_metrics": {name: _round(float(test[name])) for name in BENCHMARK_METRICS},
        "monotonicity": monotonicity_findings(benchmark, frame),
        "points_scale": meta.get("scorecard"),
        "points_table": meta.get("points_table", []),
    }


def _none_if_nan(value: float) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return {key: _round(item) for key, item in value.items()}
    return value


def model_card(bundle: ModelBundle, evaluation: Evaluation, test_window: dict[str, Any],
               benchmark: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model card: what the bundle recorded at training plus the out-of-time test metrics, and the scorecard
    benchmark (`benchmark_summary`) beside it."""
    meta = bundle.metadata
    return {
        "version": bundle.version,
        "model": meta.get("model"),
        "monotone": meta.get("monotone", False),
        "monotonic": meta.get("monotonic", {}),
        "development_roc_auc": meta.get("development_roc_auc"),
        "development_roc_auc_se": meta.get("development_roc_auc_se"),
        "calibration": meta.get("calibration"),
        "threshold": bundle.threshold,
        "threshold_policy": meta.get("threshold_policy"),
        "bands": [{"name": band.name, "upper_pd": band.upper_pd, **ranges}
                  for band, ranges in zip(bundle.bands, bundle.band_ranges(), strict=True)],
        "scorecard": meta.get("scorecard"),
        "reasons": meta.get("reasons"),
        "data_window": {"train": meta.get("data_window", {}), "test": test_window},
        "train_rows": meta.get("train_rows"),
        "train_default_rate": meta.get("train_default_rate"),
        "features": bundle.features,
        "engineered_features": meta.get("engineered_features", []),
        "dropped_leaks": meta.get("dropped_leaks", {}),
        "selected_by": meta.get("selected_by"),
        "cv": meta.get("cv", []),
        "train_oof_metrics": meta.get("train_oof_metrics", {}),
        "train_bands": meta.get("train_bands", []),
        "band_warnings": [*meta.get("band_warnings", []),
                          *(f"out-of-time test: {warning}" for warning in evaluation.band_warnings)],
        "band_order": meta.get("band_order"),
        "test_metrics": evaluation.metrics,
        "rank_ordering": evaluation.validation.get("rank_ordering"),
        "age_check": evaluation.validation.get("age_check"),
        "fairness_findings": _findings(evaluation.validation.get("fairness")),
        "points_table": meta.get("points_table", []),
        "benchmark": benchmark or {},
    }


def _findings(fairness: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fairness section's light counts and red findings (the card's short form of the tables)."""
    return None if fairness is None else {"lights": fairness["lights"], "red": fairness["red"]}
