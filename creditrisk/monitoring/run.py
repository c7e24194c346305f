"""The drift run: reference profile, every window, score and performance drift, the report files.

`run_drift` takes data already loaded (reference frame, model bundle, test
metrics) and paths of the current data; `write_report` writes the files the
dashboard reads (formats in docs/interfaces.md). Windows are processed one at
a time and only their small results are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from creditrisk.io import atomic_write_csv, atomic_write_json, atomic_write_metrics, finite_json
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.fairness import FairnessParams
from creditrisk.modeling.validation import band_tests
from creditrisk.monitoring.estimated import estimate_performance, EstimatedPerformance
from creditrisk.monitoring.pd_level import pd_level_test
from creditrisk.monitoring.drift import compare_window, feature_rows, DriftParams, FeatureDrift, WindowDrift
from creditrisk.monitoring.profile import band_shares, build_reference_profile, ReferenceProfile
from creditrisk.monitoring.segments import window_segments
from creditrisk.monitoring.report import (
    DISTRIBUTIONS_FILE,
    FEATURES_FILE,
    PROFILE_FILE,
    SUMMARY_FILE,
    SUMMARY_METRICS_FILE,
    WINDOWS_FILE,
)
from creditrisk.monitoring.rules import (
    calibration_verdict,
    drifted_share,
    DriftRules,
    level_counts,
    performance_severity,
    red_band_count,
    retraining_review,
    review_action,
    window_verdict,
    Verdict,
    LEVELS,
)
from creditrisk.monitoring.windows import (
    index_batches,
    iter_incoming_windows,
    iter_log_windows,
    FileIndex,
    WindowData,
)
from creditrisk.data.contract import FEATURE_COLUMNS, TARGET

FEATURE_COLUMNS_ORDER = (
    "window", "feature", "kind", "status", "rows", "missing_share_ref", "missing_share_cur",
    "missing_share_change", "ks_stat", "ks_pvalue", "ks_pvalue_adj", "psi", "js", "chi2_stat",
    "chi2_pvalue", "chi2_pvalue_adj", "level", "reason",
    "source", "values", "missing_pvalue", "missing_pvalue_adj", "psi_limit",
    "psi_level", "js_level", "ks_stat_level", "missing_share_change_level",
)


LATEST_CALIBRATION_KEYS = (
    "calibration_level", "calibration_reason", "calibration_ratio", "calibration_ratio_low", "calibration_ratio_high",
    "calibration_expected_defaults", "calibration_pvalue",
)
"""What summary.json repeats (prefixed `latest_`) of the latest window with labels: its PD-level verdict."""


@dataclass
class DriftReport:
    summary: dict[str, Any]
    windows: list[dict[str, Any]]
    features: pd.DataFrame
    distributions: dict[str, dict[str, Any]]
    profile: dict[str, Any]


def performance(frame: pd.DataFrame, pd_values: np.ndarray | None,
                test_metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Performance on the labelled rows of a window, and its change from the out-of-time test."""
    if pd_values is None or TARGET not in frame.columns:
        return {"labelled_rows": 0}
    labelled = frame[TARGET].notna().to_numpy()
    if not labelled.any():
        return {"labelled_rows": 0}
    defaulted = 1.0 - frame[TARGET].to_numpy(dtype=float, na_value=np.nan)[labelled]
    predicted = pd_values[labelled]
    both_classes = 0 < defaulted.sum() < defaulted.size
    result: dict[str, Any] = {
        "labelled_rows": int(labelled.sum()),
        "defaults": int(defaulted.sum()),
        "default_rate": float(defaulted.mean()),
        "mean_pd_labelled": float(predicted.mean()),
        "calibration_gap": float(defaulted.mean() - predicted.mean()),
        "brier": float(np.mean((predicted - defaulted) ** 2)),
        "roc_auc": float(roc_auc_score(defaulted, predicted)) if both_classes else None,
    }
    for name, reference_key in (("roc_auc", "roc_auc"), ("brier", "brier"), ("default_rate", "default_rate")):
        reference = (test_metrics or {}).get(reference_key)
        value = result[name]
        result[f"delta_{name}"] = value - reference if value is not None and reference is not None else None
    return result


def window_band_tests(frame: pd.DataFrame, pd_values: np.ndarray | None, model: ModelBundle | None,
                      rules: DriftRules) -> dict[str, Any]:
    """Per risk band of a window's labelled rows: the binomial and Jeffreys tests of the band's mean PD against
    its observed default rate, each with its traffic light (`creditrisk.modeling.validation.band_tests`, at the
    drift block's levels). Nothing for a window without labels; bands without labelled rows are left out."""
    if model is None or pd_values is None or TARGET not in frame.columns:
        return {}
    labelled = frame[TARGET].notna().to_numpy()
    if not labelled.any():
        return {}
    defaulted = 1 - frame[TARGET].to_numpy(dtype=float, na_value=np.nan)[labelled]
    predicted = pd_values[labelled]
    tests = band_tests([band.name for band in model.bands], model.band_of(predicted), defaulted, predicted,
                       rules.band_test_yellow, rules.band_test_red)
    return {"band_tests": [test.to_dict() for test in tests]}


def window_calibration(frame: pd.DataFrame, pd_values: np.ndarray | None, rules: DriftRules,
                       band_tests: list[dict[str, Any]]) -> dict[str, Any]:
    """The PD level of a window's labelled rows: observed defaults against the PDs' sum
    (`monitoring.pd_level`) and the count of red bands, with the verdict `rules.calibration_verdict` gives
    them. Nothing for a window without labels."""
    if pd_values is None or TARGET not in frame.columns:
        return {}
    labelled = frame[TARGET].notna().to_numpy()
    test = pd_level_test(1.0 - frame[TARGET].to_numpy(dtype=float, na_value=np.nan)[labelled], pd_values[labelled],
                         rules.calibration_exact_below, rules.confidence)
    if test is None:
        return {}
    record: dict[str, Any] = {**test.to_record(), "calibration_red_bands": red_band_count(band_tests)}
    verdict = calibration_verdict({**record, "defaults": test.observed}, rules)
    return {**record, "calibration_level": verdict.level, "calibration_reason": verdict.reason}


def _band_mix(model: ModelBundle | None, pd_values: np.ndarray | None,
              test_metrics: dict[str, Any] | None) -> dict[str, Any]:
    if model is None or pd_values is None or pd_values.size == 0:
        return {"band_mix": None, "band_mix_change": None}
    mix = band_shares(model.band_of(pd_values))
    mix = {band.name: mix.get(band.name, 0.0) for band in model.bands}
    test_bands = (test_metrics or {}).get("bands") or {}
    change = {name: share - test_bands[name]["share"] for name, share in mix.items()
              if isinstance(test_bands.get(name), dict) and "share" in test_bands[name]}
    return {"band_mix": mix, "band_mix_change": change or None}


def estimated(frame: pd.DataFrame, pd_values: np.ndarray | None, reference: EstimatedPerformance | None,
              params: DriftParams, seed: int) -> dict[str, Any]:
    """The window's estimated default rate and ROC-AUC (`monitoring.estimated`), the estimated ROC-AUC's change
    from the reference's, and where labels exist the estimate for the labelled rows beside the realised values."""
    window = estimate_performance(pd_values, params.estimated_simulations, seed) if pd_values is not None else None
    if window is None:
        return {}
    record: dict[str, Any] = window.to_record()
    record["delta_estimated_roc_auc"] = (window.roc_auc - reference.roc_auc
                                         if reference is not None and None not in (window.roc_auc, reference.roc_auc)
                                         else None)
    labelled = frame[TARGET].notna().to_numpy() if TARGET in frame.columns else np.zeros(len(frame), dtype=bool)
    if labelled.any():
        assert pd_values is not None
        subset = estimate_performance(pd_values[labelled], params.estimated_simulations, seed)
        assert subset is not None
        record.update(subset.to_record("labelled_estimated_"))
    return record


def _within_bands(perf: dict[str, Any]) -> dict[str, bool]:
    """For labelled rows: is each realised value inside the band estimated from the same rows' PDs."""
    found = {}
    for name in ("default_rate", "roc_auc"):
        realised, low, high = (perf.get(name), perf.get(f"labelled_estimated_{name}_low"),
                               perf.get(f"labelled_estimated_{name}_high"))
        if None not in (realised, low, high):
            found[f"{name}_within_estimated_band"] = bool(low <= realised <= high)
    return found


def window_record(data: WindowData, drift: WindowDrift, pd_values: np.ndarray | None, model: ModelBundle | None,
                  test_metrics: dict[str, Any] | None, params: DriftParams,
                  reference_estimate: EstimatedPerformance | None = None, seed: int = 0,
                  segments: FairnessParams | None = None) -> dict[str, Any]:
    rows = len(data.frame)
    bands = window_band_tests(data.frame, pd_values, model, params.rules)
    perf = {**performance(data.frame, pd_values, test_metrics),
            **estimated(data.frame, pd_values, reference_estimate, params, seed)}
    perf.update(_within_bands(perf))
    perf.update(window_calibration(data.frame, pd_values, params.rules, bands.get("band_tests", [])))
    score: FeatureDrift | None = drift.score
    levels = [result.level for result in drift.features]
    verdict = window_verdict(levels, Verdict(score.level, score.reason) if score else None, perf, rows, params.rules)
    counts = level_counts(levels)
    record: dict[str, Any] = {
        "window": data.window.label,
        "start": data.window.start.isoformat(),
        "end": data.window.end.isoformat(),
        "source": data.window.source,
        "rows": rows,
        "status": verdict.level,
        "reason": verdict.reason,
        "share_drifted": drifted_share(counts),
        "features_warn": counts["warn"],
        "features_alert": counts["alert"],
        "features_warn_names": [r.feature for r in drift.features if r.level == "warn"],
        "features_alert_names": [r.feature for r in drift.features if r.level == "alert"],
        "counts_by_level": counts,
        "score_psi": score.psi if score else None,
        "score_js": score.js if score else None,
        "score_ks": score.ks_stat if score else None,
        "score_ks_pvalue": score.ks_pvalue if score else None,
        "score_psi_limit": score.psi_limit if score else None,
        "score_level": score.level if score else None,
        "mean_pd": float(pd_values.mean()) if pd_values is not None and pd_values.size else None,
        **_band_mix(model, pd_values, test_metrics),
        **perf,
        **bands,
        **window_segments(data.frame, pd_values, model, segments, params.band_test_yellow, params.band_test_red),
        "files": data.files,
        "values_nulled": data.values_nulled,
        "contract_issues": data.contract_issues,
    }
    return finite_json(record)


def features_in_alert(windows: Sequence[dict[str, Any]], table: pd.DataFrame) -> dict[str, str]:
    """Features in alert in the latest window, each with the first window of its current alert streak."""
    if not windows:
        return {}
    latest = windows[-1]
    same_source = [w["window"] for w in windows if w["source"] == latest["source"]]
    levels = table[table["source"] == latest["source"]].pivot(index="window", columns="feature", values="level")
    since: dict[str, str] = {}
    for feature in latest["features_alert_names"]:
        first = latest["window"]
        for label in reversed(same_source):
            if levels.at[label, feature] != "alert":
                break
            first = label
        since[feature] = first
    return since


def build_summary(windows: Sequence[dict[str, Any]], table: pd.DataFrame, profile: ReferenceProfile,
                  skipped: dict[str, int], params: DriftParams,
                  reference_estimated_auc: float | None = None) -> dict[str, Any]:
    """The verdicts of the latest window, the ROC-AUC and PD-level verdicts of the latest labelled one and the
    review they ask for, the rules used."""
    rules = params.rules
    by_status = {level: sum(w["status"] == level for w in windows) for level in LEVELS}
    summary: dict[str, Any] = {
        "latest_window": None, "source": None, "status": "warn", "reason": "no current data",
        "counts_by_level": {level: 0 for level in LEVELS}, "score_psi": None, "share_drifted": None,
        "features_in_alert": {},
    }
    if windows:
        latest = windows[-1]
        summary.update({
            "latest_window": latest["window"], "source": latest["source"], "status": latest["status"],
            "reason": latest["reason"], "counts_by_level": latest["counts_by_level"],
            "score_psi": latest["score_psi"], "share_drifted": latest["share_drifted"],
            "features_in_alert": features_in_alert(windows, table),
        })
    labelled = [w for w in windows if w.get("roc_auc") is not None]
    calibrated = [w for w in windows if w.get("calibration_expected_defaults") is not None]
    latest_calibrated = calibrated[-1] if calibrated else {}
    summary.update({
        "windows": len(windows),
        "windows_by_status": by_status,
        "rows": sum(w["rows"] for w in windows),
        "reference_rows": profile.rows,
        "latest_labelled_window": labelled[-1]["window"] if labelled else None,
        "latest_labelled_roc_auc": labelled[-1]["roc_auc"] if labelled else None,
        "latest_labelled_delta_roc_auc": labelled[-1]["delta_roc_auc"] if labelled else None,
        "latest_labelled_roc_auc_level": LEVELS[performance_severity(labelled[-1], rules)] if labelled else None,
        "latest_calibration_window": latest_calibrated.get("window"),
        **{f"latest_{key}": latest_calibrated.get(key) for key in LATEST_CALIBRATION_KEYS},
        "latest_calibration_defaults": latest_calibrated.get("defaults"),
        "retraining_review": retraining_review(latest_calibrated, rules) if calibrated else False,
        "review_action": review_action(latest_calibrated, rules) if calibrated else None,
        "reference_estimated_roc_auc": reference_estimated_auc,
        "rows_without_date": skipped,
        **rules.to_json(),
    })
    return finite_json(summary)


SCORE_CHUNK_ROWS = 50_000  # rows scored at once: the pipeline's intermediate arrays stay ~50 MB, not the window's


def score_frame(model: ModelBundle | None, frame: pd.DataFrame) -> np.ndarray | None:
    """The model's PD per row, scored in chunks (a PD depends on its own row only)."""
    if model is None:
        return None
    if len(frame) == 0:
        return np.empty(0)
    return np.concatenate([np.asarray(model.predict_pd(frame.iloc[start:start + SCORE_CHUNK_ROWS]), dtype=float)
                           for start in range(0, len(frame), SCORE_CHUNK_ROWS)])


def estimate_reference(reference_pd: np.ndarray | None, params: DriftParams) -> EstimatedPerformance | None:
    """The performance the reference's PDs promise: the base of each window's estimated ROC-AUC change."""
    return estimate_performance(reference_pd, params.estimated_simulations, params.seed) \
        if reference_pd is not None else None


def reference_baseline(params: DriftParams, reference: pd.DataFrame,
                       model: ModelBundle | None) -> tuple[ReferenceProfile, EstimatedPerformance | None]:
    """What every window is compared with, for either engine: the reference profile of the monitored
    features (and the model's PDs), and the performance the reference's PDs promise."""
    features = list(params.features) or [name for name in FEATURE_COLUMNS if name in reference.columns]
    absent = [name for name in features if name not in reference.columns]
    if absent:
        raise ValueError(f"drift.features names column(s) {absent} that the reference data does not have")
    reference_pd = score_frame(model, reference)
    profile = build_reference_profile(reference, features, params.psi_bins, reference_pd,
                                      model.band_of if model is not None else None)
    return profile, estimate_reference(reference_pd, params)


def current_windows(index: Sequence[FileIndex], prediction_log: Path | str | None, params: DriftParams) -> Iterable[WindowData]:
    incoming = iter_incoming_windows(index, params.window)
    logged = iter_log_windows(prediction_log, params.window) if prediction_log is not None else iter(())
    return chain(incoming, logged)


def run_drift(
    params: DriftParams,
    reference: pd.DataFrame,
    incoming_paths: Sequence[Path],
    model: ModelBundle | None = None,
    test_metrics: dict[str, Any] | None = None,
    prediction_log: Path | str | None = None,
    segments: FairnessParams | None = None,
) -> DriftReport:
    """Profile the reference once, then compare each window of current data with it.

    The PD of every window, prediction-log windows included, is computed by
    `model` (the logged PD may come from an older model), so score drift is
    always the current model's view of the reference versus the window.
    With `segments` (the fairness block), labelled windows also get the per-segment table.
    """
    profile, reference_estimate = reference_baseline(params, reference, model)
    index = index_batches(incoming_paths, params.window, params.day_first)
    records: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    distributions: dict[str, dict[str, Any]] = {}
    for ordinal, data in enumerate(current_windows(index, prediction_log, params)):
        rng = np.random.default_rng([params.seed, ordinal])
        pd_values = score_frame(model, data.frame)
        drift = compare_window(profile, data.frame, params, rng, pd_values)
        records.append(window_record(data, drift, pd_values, model, test_metrics, params, reference_estimate,
                                     params.seed + ordinal, segments))
        rows.extend(feature_rows(data.window.label, data.window.source, drift))
        distributions[data.window.label] = finite_json(drift.distributions)
        del data, pd_values, drift  # let this window go before the next one is read: one window in memory
    table = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS_ORDER))
    records.sort(key=lambda record: (record["end"], record["source"] != "incoming"))
    skipped = {entry.path.name: entry.rows_without_date for entry in index if entry.rows_without_date}
    profile_json = finite_json({**profile.to_json(), "psi_epsilon": params.psi_epsilon})
    summary = build_summary(records, table, profile, skipped, params,
                            reference_estimate.roc_auc if reference_estimate is not None else None)
    return DriftReport(summary, records, table, distributions, profile_json)


def write_report(report: DriftReport, output_dir: Path) -> None:
    """Write every report file atomically (each is complete or absent, never half-written)."""
    output_dir = Path(output_dir)
    atomic_write_json(output_dir / WINDOWS_FILE, report.windows)
    atomic_write_csv(output_dir / FEATURES_FILE, report.features)
    atomic_write_json(output_dir / DISTRIBUTIONS_FILE, report.distributions)
    atomic_write_json(output_dir / PROFILE_FILE, report.profile)
    atomic_write_json(output_dir / SUMMARY_FILE, report.summary)
    atomic_write_metrics(output_dir / SUMMARY_METRICS_FILE, report.summary)
