"""Artifacts for the dashboard tests: a hand-written set, and the real stages run on a small sample.

`write_artifact_set` writes every file the dashboard reads, in the formats the
stages write (docs/interfaces.md), with known values: early windows quiet,
late ones drifting (salary, product mix, bureau score) into alert, and the
ROC-AUC of the last labelled window far enough below the test to ask for a
retraining review. It is fast and exact (tests/test_dashboard_keys.py checks
it uses only keys the stages write). `run_small_pipeline` runs the real
pipeline in a copy of the working tree, for the end-to-end tests.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from streamlit.testing.v1 import AppTest

from creditrisk.monitoring.drift import DriftParams
from tests.shipped import shipped
from tests.workspace import copy_working_tree

WINDOWS = ("2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
LABELLED_WINDOWS = 3
NUMERIC_FEATURES = ("salario_cliente", "puntaje_datacredito", "huella_consulta", "edad_cliente")
CATEGORICAL_FEATURES = ("tipo_credito", "tendencia_ingresos")
BANDS = ("A", "B", "C", "D", "E")
PSI_CUTOFFS = {"warn": 0.1, "alert": 0.25}


def environment_for(root: Path) -> dict[str, str]:
    """The dashboard's environment variables pointing into `root`."""
    return {
        "CREDITRISK_REPORTS_DIR": str(root / "reports"),
        "CREDITRISK_PREPARED_DIR": str(root / "data" / "prepared"),
        "CREDITRISK_MODELS_DIR": str(root / "models"),
        "CREDITRISK_PREDICTION_LOG": str(root / "data" / "monitoring" / "predictions.sqlite"),
        "CREDITRISK_REPO_DIR": str(root),
    }


def _write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))


def _level(psi: float) -> str:
    return "alert" if psi >= PSI_CUTOFFS["alert"] else "warn" if psi >= PSI_CUTOFFS["warn"] else "ok"


def _feature_rows() -> pd.DataFrame:
    rows = []
    for index, window in enumerate(WINDOWS):
        drift = max(0, index - 2) * 0.12
        for feature in NUMERIC_FEATURES + CATEGORICAL_FEATURES:
            numeric = feature in NUMERIC_FEATURES
            moves = feature in ("salario_cliente", "tipo_credito", "puntaje_datacredito")
            psi = 0.02 + (drift if moves else 0.01 * index)
            level = _level(psi)
            rows.append({
                "window": window, "feature": feature, "kind": "numeric" if numeric else "categorical",
                "status": "ok", "rows": 700, "missing_share_ref": 0.02, "missing_share_cur": 0.02 + 0.01 * index,
                "missing_share_change": 0.01 * index,
                "ks_stat": 0.03 + drift / 3 if numeric else None,
                "ks_pvalue": 0.4 / (1 + 20 * drift) if numeric else None,
                "ks_pvalue_adj": 0.8 / (1 + 20 * drift) if numeric else None,
                "psi": psi, "js": psi / 2,
                "chi2_stat": None if numeric else 3 + 200 * drift,
                "chi2_pvalue": None if numeric else 0.5 / (1 + 50 * drift),
                "chi2_pvalue_adj": None if numeric else 0.9 / (1 + 50 * drift),
                "level": level, "reason": f"psi {psi:.2f} >= {PSI_CUTOFFS[level]}" if level != "ok" else "",
                "source": "incoming", "values": 700, "psi_limit": 0.05,
            })
    return pd.DataFrame(rows)


def _band_test(band: str, rows: int, defaults: int, mean_pd: float, binomial: float, jeffreys: float) -> dict:
    """One band's tests as the stages write them; the lights at the shipped levels (0.05 yellow, 0.01 red)."""
    def light(pvalue: float) -> str:
        return "red" if pvalue < 0.01 else "yellow" if pvalue < 0.05 else "green"
    return {"band": band, "rows": rows, "defaults": defaults, "observed_rate": defaults / rows, "mean_pd": mean_pd,
            "binomial_pvalue": binomial, "binomial_light": light(binomial),
            "jeffreys_pvalue": jeffreys, "jeffreys_light": light(jeffreys)}


def _pair(lower: str, higher: str, lower_rows: int, lower_defaults: int, higher_rows: int, higher_defaults: int,
          pvalue: float) -> dict:
    """One adjacent pair's rank-ordering test as evaluate writes it (creditrisk.modeling.rank_ordering)."""
    rises = higher_defaults / higher_rows > lower_defaults / lower_rows
    light = "red" if pvalue < 0.01 else "yellow" if pvalue < 0.05 or not rises else "green"
    return {"lower": lower, "higher": higher, "lower_rows": lower_rows, "lower_defaults": lower_defaults,
            "higher_rows": higher_rows, "higher_defaults": higher_defaults, "lower_rate": lower_defaults / lower_rows,
            "higher_rate": higher_defaults / higher_rows, "rises": rises, "pvalue": pvalue, "light": light}


def _window_band_tests(index: int) -> list[dict]:
    """A labelled window's band tests (p-values of the library's tests on these counts): band E's default rate
    climbs away from its PD, green, then yellow, then red."""
    return [
        _band_test("A", 210, 4, 0.02, 0.6068, 0.507),
        _band_test("B", 210, 7, 0.03, 0.4425, 0.3664),
        _band_test("C", 140, 7, 0.05, 0.5541, 0.4764),
        _band_test("D", 105, 8, 0.08, 0.6091, 0.5372),
        _band_test("E", 35, 6 + 3 * index, 0.12, (0.238, 0.0197, 0.0005)[index], (0.1713, 0.0116, 0.0003)[index]),
    ]


def _pd_level(index: int, defaults: int) -> dict:
    """A labelled window's PD level as the drift stage writes it: on target, then drifting up into alert."""
    expected = (32.7, 30.6, 25.3)[index]
    ratio = defaults / expected
    level = ("ok", "ok", "alert")[index]
    reason = f"{defaults} defaults vs {expected:.1f} expected, ratio {ratio:.2f} (95% interval " \
             f"{ratio * 0.72:.2f}-{ratio * 1.38:.2f}), exact p {(0.84, 0.19, 0.0016)[index]:.2g}"
    return {"calibration_expected_defaults": expected, "calibration_variance": expected * 0.95,
            "calibration_ratio": ratio, "calibration_ratio_low": ratio * 0.72, "calibration_ratio_high": ratio * 1.38,
            "calibration_pvalue": (0.84, 0.19, 0.0016)[index], "calibration_method": "exact",
            "calibration_red_bands": (0, 0, 1)[index], "calibration_level": level, "calibration_reason": reason}


def _group(group: str, rows: int, defaults: int, approval: float, air: float | None, mean_pd: float, pvalue: float,
           judged: bool = True) -> dict:
    """One group of a fairness or segment table as the stages write it (creditrisk.modeling.fairness.group_table);
    the lights at the shipped levels (AIR 0.9 yellow, 0.8 red; p-values 0.05 and 0.01)."""
    def light(pvalue: float) -> str:
        return "red" if pvalue < 0.01 else "yellow" if pvalue < 0.05 else "green"
    air_light = None if not judged or air is None else "red" if air < 0.8 else "yellow" if air < 0.9 else "green"
    return {"group": group, "judged": judged, "rows": rows, "defaults": defaults, "approval_rate": approval,
            "observed_rate": defaults / rows, "mean_pd": mean_pd, "calibration_pvalue": pvalue,
            "roc_auc": None, "roc_auc_lower": None, "roc_auc_upper": None,
            "approval_lower": None, "approval_upper": None, "air": air, "air_lower": None, "air_upper": None,
            "air_light": air_light, "calibration_light": light(pvalue) if judged else None}


def _group_table(column: str, favoured: str, groups: list[dict]) -> dict:
    judged = [group for group in groups if group["judged"]]
    lowest = min(judged, key=lambda group: group["air"])
    return {"column": column, "favoured_group": favoured, "groups": groups, "lowest_group": lowest["group"],
            "air_min": lowest["air"], "air_min_lower": None, "air_min_upper": None}


def _window_segments(index: int) -> dict:
    """A labelled window's segment tables: product 9's PD falls behind its defaults, green, yellow, then red."""
    product = _group_table("tipo_credito", "4", [
        _group("4", 500, 22, 0.93, 1.0, 0.046, 0.61),
        _group("9", 190, 11 + 4 * index, 0.90, 0.968, 0.05, (0.31, 0.03, 0.004)[index]),
        _group("other", 10, 1, 0.9, 0.968, 0.05, 0.4, judged=False),
    ])
    lights = {"green": 4 - min(index, 1), "yellow": int(index == 1), "red": int(index == 2)}
    return {"tables": {"tipo_credito": product}, "lights": lights,
            "red": ["product 9 calibration"] if index == 2 else []}


def _windows(features: pd.DataFrame) -> list[dict]:
    windows = []
    for index, window in enumerate(WINDOWS):
        in_window = features[features["window"] == window]
        counts = in_window["level"].value_counts()
        status = "alert" if counts.get("alert", 0) else "warn" if counts.get("warn", 0) else "ok"
        start = pd.Timestamp(f"{window}-01")
        record = {
            "window": window, "start": start.isoformat(), "end": (start + pd.offsets.MonthEnd(1)).isoformat(),
            "source": "incoming", "rows": 700, "status": status,
            "share_drifted": float((in_window["level"] != "ok").mean()),
            "features_warn": int(counts.get("warn", 0)), "features_alert": int(counts.get("alert", 0)),
            "score_psi": 0.01 + max(0, index - 2) * 0.09, "score_ks": 0.02 + index * 0.02,
            "score_ks_pvalue": 0.5 / (1 + index), "mean_pd": 0.05 + index * 0.006,
            "band_mix": dict(zip(BANDS, np.round([0.3 - index * 0.02, 0.3, 0.2, 0.15, 0.05 + index * 0.02], 3))),
        }
        if index < LABELLED_WINDOWS:
            record.update({"labelled_rows": 700, "defaults": 34 + 3 * index, "default_rate": 0.048 + index * 0.004,
                           "roc_auc": 0.70 - index * 0.03, "brier": 0.045 + index * 0.002,
                           "delta_roc_auc": -index * 0.03, "band_tests": _window_band_tests(index),
                           **_pd_level(index, 34 + 3 * index), "segments": _window_segments(index)})
        windows.append(record)
    return windows


def _distributions(features: pd.DataFrame) -> dict:
    payload: dict[str, dict] = {}
    for index, window in enumerate(WINDOWS):
        shift = max(0, index - 2) * 0.025
        payload[window] = {}
        for feature in NUMERIC_FEATURES:
            reference = [0.1] * 10
            current = [0.1 - shift] * 5 + [0.1 + shift] * 5
            payload[window][feature] = {"bins": [f"q{i}" for i in range(10)], "reference": reference,
                                        "current": current}
        for feature in CATEGORICAL_FEATURES:
            payload[window][feature] = {"bins": ["4", "9", "__missing__", "__unseen__"],
                                        "reference": [0.7, 0.27, 0.03, 0.0],
                                        "current": [0.7 - shift * 3, 0.27 + shift * 3, 0.03, 0.0]}
        payload[window]["__score__"] = {"bins": [f"q{i}" for i in range(10)], "reference": [0.1] * 10,
                                        "current": [0.1 - shift / 2] * 5 + [0.1 + shift / 2] * 5}
    return payload


def _train_frame(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    bureau = rng.normal(790, 50, rows)
    inquiries = rng.poisson(4, rows).astype("float64")
    logit = -3.0 - 0.01 * (bureau - 790) + 0.15 * (inquiries - 4)
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    trend = pd.Series(rng.choice(["Creciente", "Decreciente", "Estable"], rows), dtype="str")
    trend[rng.random(rows) < 0.25] = pd.NA
    return pd.DataFrame({
        "tipo_credito": pd.Series(rng.choice(["4", "9"], rows, p=[0.72, 0.28]), dtype="str"),
        "fecha_prestamo": pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 400, rows), unit="D"),
        "capital_prestado": np.exp(rng.normal(14.48, 0.66, rows)),
        "edad_cliente": rng.integers(19, 70, rows).astype("float64"),
        "salario_cliente": np.round(np.exp(rng.normal(14.99, 0.81, rows)), -5),
        "puntaje_datacredito": bureau,
        "huella_consulta": inquiries,
        "tendencia_ingresos": trend,
        "Pago_atiempo": np.where(default, 0.0, 1.0),
    })


def _write_prediction_log(path: Path, now: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE predictions (id INTEGER PRIMARY KEY, logged_at TEXT, request_id TEXT, model_version TEXT,"
            " row_index INTEGER, pd REAL, band TEXT, decision TEXT)"
        )
        rows = []
        for day in range(5):
            stamp = (now - timedelta(days=day)).isoformat(timespec="microseconds")
            rows += [(stamp, f"req-{day}", "1.1.0", i, 0.05, "B", "approve") for i in range(10 + day)]
        connection.executemany(
            "INSERT INTO predictions (logged_at, request_id, model_version, row_index, pd, band, decision)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    connection.close()


def _summary(windows: list[dict], latest_features: pd.DataFrame) -> dict:
    """The drift summary in the stage's format; the rules recorded are the shipped ones."""
    latest = windows[-1]
    labelled = [window for window in windows if "roc_auc" in window]
    in_alert = latest_features[latest_features["level"] == "alert"]["feature"]
    return {
        "latest_window": latest["window"], "source": "incoming", "status": latest["status"],
        "reason": f"{len(in_alert)} feature(s) in alert", "share_drifted": latest["share_drifted"],
        "counts_by_level": latest_features["level"].value_counts().reindex(["ok", "warn", "alert"],
                                                                          fill_value=0).to_dict(),
        "score_psi": latest["score_psi"],
        "features_in_alert": {name: "2026-09" for name in in_alert},
        "windows": len(windows),
        "windows_by_status": {level: sum(w["status"] == level for w in windows) for level in ("ok", "warn", "alert")},
        "rows": sum(w["rows"] for w in windows), "reference_rows": 400,
        "latest_labelled_window": labelled[-1]["window"], "latest_labelled_roc_auc": labelled[-1]["roc_auc"],
        "latest_labelled_delta_roc_auc": labelled[-1]["delta_roc_auc"],
        "latest_labelled_roc_auc_level": "warn", "retraining_review": True, "review_action": "retrain",
        "latest_calibration_window": labelled[-1]["window"],
        **{f"latest_{key}": labelled[-1][key] for key in (
            "calibration_level", "calibration_reason", "calibration_ratio", "calibration_ratio_low",
            "calibration_ratio_high", "calibration_expected_defaults", "calibration_pvalue")},
        "latest_calibration_defaults": labelled[-1]["defaults"],
        "rows_without_date": {},
        **shipped(DriftParams).rules.to_json(),
    }


def _write_model_reports(reports: Path) -> None:
    """What evaluate and train write: test metrics, the candidate comparison, the ROC and calibration curves."""
    _write_json(reports / "metrics.json", {
        "roc_auc": 0.702, "pr_auc": 0.101, "ks": 0.31, "gini": 0.404, "brier": 0.0448, "log_loss": 0.181,
        "accuracy": 0.81, "precision": 0.12, "recall": 0.41, "f1": 0.19, "ece": 0.006, "default_rate": 0.047,
        "pd_mean": 0.049, "threshold": 0.08, "rows": 2160,
        "bands": {band: {"share": share, "default_rate": rate}
                  for band, share, rate in zip(BANDS, (0.3, 0.3, 0.2, 0.15, 0.05), (0.02, 0.03, 0.05, 0.08, 0.15))},
    })
    _write_json(reports / "model_comparison.json", {"select_metric": "roc_auc", "selected": "hist_gradient_boosting",
                                                     "folds": 5, "models": [
        {"model": name, "folds": 5, "roc_auc_mean": auc, "roc_auc_std": 0.02,
         "brier_mean": 0.045, "brier_std": 0.001, "pr_auc_mean": auc / 7, "pr_auc_std": 0.01}
        for name, auc in (("logistic", 0.68), ("random_forest", 0.69), ("hist_gradient_boosting", 0.70))
    ]})
    plots = reports / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0, 1, 21)
    pd.DataFrame({"fpr": grid, "tpr": np.sqrt(grid)}).to_csv(plots / "roc.csv", index=False)
    pd.DataFrame({"mean_pd": [0.01, 0.03, 0.05, 0.08, 0.15], "observed_default_rate": [0.012, 0.028, 0.05, 0.09, 0.14],
                  "perfect_calibration": [0.01, 0.03, 0.05, 0.08, 0.15], "rows": 100}).to_csv(plots / "calibration.csv",
                                                                                              index=False)


def _write_validation_reports(reports: Path) -> None:
    """What evaluate and prepare write for the validation pack: validation.json and vintages.csv.

    Hand-written in the stages' format (creditrisk.modeling.validation.validation_pack and
    creditrisk.data.vintages.vintage_table; tests/test_dashboard_keys.py holds them to it): ROC-AUC 0.702
    with its DeLong interval, every model-level test green or yellow, band E's PD red on both tests, and
    18 loan months of which the last three are immature.
    """
    _write_json(reports / "validation.json", {
        "confidence": 0.95,
        "traffic_lights": {"yellow_below": 0.05, "red_below": 0.01},
        "reference_rate": 0.0475,
        "discrimination": {"roc_auc": 0.702, "roc_auc_lower": 0.671, "roc_auc_upper": 0.733, "roc_auc_se": 0.0158,
                           "gini": 0.404, "gini_lower": 0.342, "gini_upper": 0.466, "ks": 0.31},
        "auc_decline": {"development_auc": 0.721, "current_auc": 0.702, "statistic": 1.2025, "pvalue": 0.1146,
                        "light": "green"},
        "brier": 0.0448, "brier_skill": 0.031, "log_loss": 0.181,
        "calibration": {"slope": 0.91, "slope_se": 0.07, "slope_pvalue": 0.198, "intercept": -0.12,
                        "intercept_se": 0.058, "intercept_pvalue": 0.0386, "light": "yellow"},
        "hosmer_lemeshow": {"statistic": 9.8, "df": 8.0, "pvalue": 0.2794, "groups": 10, "light": "green"},
        "calibration_in_the_large": {"mean_pd": 0.049, "observed_rate": 0.047, "defaults": 101.0, "rows": 2160.0,
                                     "pvalue": 0.6712, "light": "green"},
        "bands": [
            _band_test("A", 648, 12, 0.019, 0.575, 0.5173),
            _band_test("B", 648, 20, 0.031, 0.5391, 0.4937),
            _band_test("C", 432, 22, 0.049, 0.4572, 0.4138),
            _band_test("D", 324, 27, 0.081, 0.4679, 0.4279),
            _band_test("E", 108, 20, 0.10, 0.005, 0.0034),
        ],
        "calibration_curve": [
            {"mean_pd": pd_mean, "observed_rate": rate, "rate_lower": low, "rate_upper": high, "rows": 216}
            for pd_mean, rate, low, high in ((0.012, 0.0093, 0.0026, 0.0331), (0.021, 0.0185, 0.0072, 0.0466),
                                             (0.028, 0.0278, 0.0128, 0.0592), (0.034, 0.0370, 0.0189, 0.0713),
                                             (0.041, 0.0417, 0.0221, 0.0772), (0.048, 0.0509, 0.0286, 0.0888),
                                             (0.057, 0.0556, 0.0321, 0.0944), (0.069, 0.0648, 0.0390, 0.1058),
                                             (0.087, 0.0787, 0.0496, 0.1225), (0.131, 0.1389, 0.0985, 0.1924))
        ],
        "rank_ordering": {"test": "one-sided Fisher exact test per adjacent pair of bands (H1: the higher band "
                                  "defaults less)", "light": "yellow", "merge": [], "pairs": [
            _pair("A", "B", 648, 12, 648, 20, 0.95), _pair("B", "C", 648, 20, 432, 22, 0.97),
            _pair("C", "D", 432, 22, 324, 27, 0.94), _pair("D", "E", 324, 27, 108, 8, 0.62)]},
        "age_check": {"elderly_age": 62, "rows": 140, "reference_age": 43.0, "tolerance": 0.0, "uses_age": True,
                      "attribution": {"mean": -0.0084, "max": 0.0214, "rows_raised": 14, "share_raised": 0.1},
                      "what_if": {"mean_pd": 0.0278, "mean_pd_at_reference_age": 0.0286, "max_logit_gap": 0.0428,
                                  "max_pd_increase": 0.0017, "rows_raised": 14, "share_raised": 0.1,
                                  "better_band_at_reference_age": 3, "approved_at_reference_age": 0},
                      "light": "red", "verdict": "age raises the PD of 14 of 140 applicants aged 62+"},
        "fairness": {
            "tables": {"age_band": _group_table("age_band", "62+", [
                _group("<25", 110, 12, 0.73, 0.773, 0.071, 0.14), _group("25-34", 380, 10, 0.90, 0.957, 0.045, 0.08),
                _group("35-44", 650, 17, 0.91, 0.969, 0.04, 0.09), _group("45-61", 840, 21, 0.93, 0.983, 0.033, 0.24),
                _group("62+", 140, 5, 0.94, 1.0, 0.028, 0.6)]),
                "tipo_credito": {**_group_table("tipo_credito", "4", [
                    _group("4", 1400, 34, 0.92, 1.0, 0.038, 0.3), _group("9", 700, 30, 0.90, 0.98, 0.04, 0.63),
                    _group("other", 20, 1, 0.75, 0.82, 0.059, 1.0, judged=False)]), "grouped_as_other": ["6", "7"]},
                "tipo_laboral": {**_group_table("tipo_laboral", "Empleado", [
                    _group("Empleado", 1325, 36, 0.93, 1.0, 0.035, 0.15),
                    _group("Independiente", 800, 29, 0.88, 0.944, 0.046, 0.24)]), "grouped_as_other": []}},
            "lights": {"green": 17, "yellow": 0, "red": 1}, "red": ["age band <25 adverse impact ratio"],
            "levels": {"air_yellow_below": 0.9, "air_red_below": 0.8, "min_group_rows": 30, "min_group_defaults": 10,
                       "bootstrap_samples": 200, "threshold": 0.0914},
            "convention": "adverse impact ratio = a group's approval rate / the most favoured group's",
        },
        "monotonicity": [
            {"feature": name, "direction": direction, "rows": 2160, "grid": [0.0, 1.0], "worst_move": 0.0,
             "violating_rows": 0, "tolerance": 0.0005, "light": "green"}
            for name, direction in (("puntaje_datacredito", -1), ("huella_consulta", 1), ("edad_cliente", -1))
        ],
        "lights": {"green": 16, "yellow": 2, "red": 3},
        "red": ["band E binomial", "band E jeffreys", "Regulation B age check"],
    })
    months = pd.period_range("2024-11", periods=18, freq="M").strftime("%Y-%m")
    loans = np.array([820, 790, 760, 700, 690, 650, 640, 600, 580, 560, 540, 530, 520, 500, 480, 470, 450, 380])
    defaults = np.array([42, 38, 39, 34, 36, 31, 30, 29, 27, 26, 25, 24, 22, 21, 20, 12, 8, 3])
    rates = defaults / loans
    half_width = 1.96 * np.sqrt(rates * (1 - rates) / loans)
    pd.DataFrame({
        "vintage": months, "loans": loans, "defaults": defaults, "default_rate": rates,
        "rate_lower": np.round(rates - half_width * 0.95, 6), "rate_upper": np.round(rates + half_width * 1.05, 6),
        "mature": [True] * 15 + [False] * 3,
    }).to_csv(reports / "vintages.csv", index=False)


def _write_data_reports(reports: Path) -> None:
    """What featurize and prepare write: the leakage and data-quality reports."""
    _write_json(reports / "leakage.json", {
        "threshold": 0.98, "rows": 400, "default_rate": 0.047,
        "checks": ["rank_auc", "separates_perfectly", "tree_oof_auc", "missing_indicator_auc"],
        "dropped": {"puntaje": ["rank_auc 1.000 >= 0.98", "separates the classes perfectly"]},
        "kept": list(NUMERIC_FEATURES),
        "columns": [{"column": "puntaje_datacredito", "kind": "numeric", "rank_auc": 0.58, "dropped": False,
                     "reasons": []},
                    {"column": "puntaje", "kind": "numeric", "rank_auc": 1.0, "dropped": True,
                     "reasons": ["rank_auc 1.0000 >= 0.98", "one threshold separates the classes perfectly"]}],
    })
    _write_json(reports / "data_quality.json", {
        "source": {"path": "data/source/loans.xlsx", "format": "xlsx", "date_order": "spreadsheet datetimes"},
        "rows": {"read": 520, "duplicates_dropped": 20, "written": 500, "train": 400, "test": 100},
        "values_nulled": 7,
        "columns": {
            "edad_cliente": {"dtype": "float64", "nulled_by_rule": {"placeholder": 6},
                             "nulled_example_rows": {"placeholder": [1, 2]}, "missing": 6, "missing_share": 0.012},
            "salario_cliente": {"dtype": "float64", "nulled_by_rule": {"above_maximum": 1}, "missing": 1,
                                "missing_share": 0.002},
            "tipo_credito": {"dtype": "str", "nulled_by_rule": {}, "missing": 0, "missing_share": 0.0},
        },
        "split": {"method": "out_of_time", "by": "fecha_prestamo", "test_fraction": 0.2,
                  "train": {"rows": 400, "date_min": "2024-11-01T08:00:00", "date_max": "2025-12-31T18:00:00",
                            "defaults": 19, "default_rate": 0.0475},
                  "test": {"rows": 100, "date_min": "2026-01-01T08:00:00", "date_max": "2026-04-30T18:00:00",
                           "defaults": 5, "default_rate": 0.05}},
    })


COMPARED_WINDOWS = WINDOWS[:LABELLED_WINDOWS]
"""Incoming windows the hand-written compare report labels; the log's shadowed rows come in the last window."""


def _compare_window(window: str, source: str, index: int) -> dict:
    """One compare window in the stage's format: a recalibrated challenger, the same ranking, PDs a little higher."""
    record = {
        "window": window if source == "incoming" else f"log:{window}", "source": source,
        "start": f"{window}-01T00:00:00", "end": f"{window}-28T23:59:59", "champion_version": "1.1.0",
        "challenger_version": "1.1.1", "rows": 700, "decision_agreement": 0.95 - 0.01 * index,
        "disagreements": 35 + 7 * index, "approved_by_champion_only": 30 + 7 * index, "approved_by_challenger_only": 5,
        "champion_reject_rate": 0.12, "challenger_reject_rate": 0.15, "champion_mean_pd": 0.040,
        "challenger_mean_pd": 0.050, "pd_psi": 0.04 + 0.01 * index,
        "band_migration": {"champion_bands": list(BANDS), "challenger_bands": list(BANDS),
                           "counts": [[180, 30, 0, 0, 0], [0, 170, 40, 0, 0], [0, 0, 120, 20, 0], [0, 0, 0, 90, 10],
                                      [0, 0, 0, 0, 40]]},
    }
    if source == "incoming":
        record.update({
            "in_sample": False, "labelled_rows": 700, "defaults": 36, "default_rate": 0.0514, "champion_roc_auc": 0.700,
            "challenger_roc_auc": 0.700, "roc_auc_difference": 0.0, "roc_auc_difference_low": 0.0,
            "roc_auc_difference_high": 0.0, "delong_z": 0.0, "delong_pvalue": 1.0, "champion_brier": 0.0488,
            "challenger_brier": 0.0481,
            **{f"{model}_{key}": value
               for model, level, ratio in (("champion", "alert", 1.29), ("challenger", "ok", 1.03))
               for key, value in (("calibration_level", level), ("calibration_reason", f"ratio {ratio}"),
                                  ("calibration_ratio", ratio), ("calibration_ratio_low", ratio - 0.2),
                                  ("calibration_ratio_high", ratio + 0.2),
                                  ("calibration_expected_defaults", 36 / ratio),
                                  ("calibration_pvalue", 0.004 if level == "alert" else 0.8))},
        })
    return record


def _write_compare_reports(folder: Path) -> None:
    """The compare stage's two files: a recalibrated challenger judged better on the PD level."""
    windows = [_compare_window(window, "incoming", index) for index, window in enumerate(COMPARED_WINDOWS)]
    windows.append(_compare_window(WINDOWS[-1], "prediction_log", LABELLED_WINDOWS))
    labelled = ("labelled_rows", "defaults", "default_rate", "delong_pvalue", "delong_z", "roc_auc_difference",
                "roc_auc_difference_low", "roc_auc_difference_high", "champion_roc_auc", "challenger_roc_auc",
                "champion_brier", "challenger_brier")
    pooled = {key: value for key, value in windows[-2].items() if key in labelled or "_calibration_" in key}
    pooled.update({"labelled_rows": 2100, "defaults": 108})
    reason = ("ROC-AUC 0.700 vs 0.700 (DeLong p 1); PD level ok vs alert; Brier 0.0481 vs 0.0488 (challenger vs "
              "champion, 2100 loans, 108 defaults)")
    _write_json(folder / "windows.json", windows)
    _write_json(folder / "summary.json", {
        "champion_version": "1.1.0", "challenger_version": "1.1.1", "challenger_path": "models/candidate.skops",
        "verdict": "better", "reason": reason,
        "next_step": "promote the challenger with the command below (the release gate runs first)",
        "promote_command": f'make promote VERSION=1.1.1 STAGE=prod REASON="compare {COMPARED_WINDOWS[0]}..'
                           f'{COMPARED_WINDOWS[-1]}: {reason}"',
        "verdict_windows": list(COMPARED_WINDOWS), "in_sample_windows": [], "pooled": pooled, "logged_rows": 700,
        "logged_pairs": ["1.1.0 vs 1.1.1"], "latest_logged_window": f"log:{WINDOWS[-1]}",
        "latest_logged_agreement": windows[-1]["decision_agreement"],
        "rules": {"alpha": 0.05, "min_labelled_defaults": 20, "brier_tolerance": 0.0},
    })


def write_artifact_set(root: Path, now: datetime | None = None) -> dict[str, str]:
    """Write every artifact the dashboard reads under `root`; returns the environment to point at it."""
    now = now or datetime.now(UTC)
    reports = root / "reports"
    features = _feature_rows()
    windows = _windows(features)
    latest = windows[-1]
    latest_features = features[features["window"] == latest["window"]]
    _write_model_reports(reports)
    _write_validation_reports(reports)
    _write_data_reports(reports)
    (reports / "model_report.html").write_text("<!DOCTYPE html><title>Model report</title><h1>Model report</h1>")
    drift = reports / "drift"
    drift.mkdir(parents=True, exist_ok=True)
    features.to_csv(drift / "features.csv", index=False)
    _write_json(drift / "windows.json", windows)
    _write_json(drift / "distributions.json", _distributions(features))
    _write_json(drift / "summary.json", _summary(windows, latest_features))
    _write_compare_reports(reports / "compare")
    _write_json(root / "models" / "model_card.json", {
        "version": "1.1.0", "model": "hist_gradient_boosting", "selected_by": "roc_auc", "calibration": "isotonic",
        "threshold": 0.08, "dropped_leaks": {"puntaje": ["rank_auc 1.0000 >= 0.98"]},
        "data_window": {"train": {"start": "2024-11-01T08:00:00", "end": "2025-12-31T18:00:00"},
                        "test": {"start": "2026-01-01T08:00:00", "end": "2026-04-30T18:00:00"}},
    })
    train = root / "data" / "prepared" / "train.parquet"
    train.parent.mkdir(parents=True, exist_ok=True)
    _train_frame().to_parquet(train, index=False)
    _write_prediction_log(root / "data" / "monitoring" / "predictions.sqlite", now)
    return environment_for(root)


PROJECT_ROOT = Path(__file__).resolve().parent.parent
SMALL_PIPELINE_PARAMS = {
    "generate": {"rows": 2000, "incoming_rows": 300},
    "featurize": {"guard_folds": 3},
    "train": {"candidates": ["logistic", "hist_gradient_boosting"], "cv_folds": 3},
    "evaluate": {"importance_repeats": 1, "importance_max_rows": 1000},
    "drift": {"bootstrap_samples": 20},
    "fairness": {"bootstrap_samples": 20},
}
LOGGED_ROWS = 40
CHALLENGER_PATH = "models/challenger.skops"
_pipeline_roots: dict[Path, Path] = {}


def _run(command: list[str], cwd: Path) -> None:
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    finished = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {cwd}:\n{finished.stdout}\n{finished.stderr}")


def _shrink_params(path: Path) -> None:
    params = yaml.safe_load(path.read_text())
    for block, values in SMALL_PIPELINE_PARAMS.items():
        params[block].update(values)
    params["train"]["estimators"]["hist_gradient_boosting"]["max_iter"] = 50
    params["compare"]["challenger_path"] = CHALLENGER_PATH
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _build_challenger(repo: Path) -> None:
    """The champion recalibrated on the first incoming month's matured labels (`modeling.refit`), the next patch
    version: the small pipeline's shadow challenger, judged on the later labelled months."""
    from creditrisk.modeling.bundle import load_bundle, save_bundle
    from creditrisk.modeling.refit import recalibrated_bundle
    from creditrisk.monitoring.windows import index_batches, iter_incoming_windows
    from creditrisk.data.contract import TARGET

    params = yaml.safe_load((repo / "params.yaml").read_text())
    champion = load_bundle(repo / params["train"]["model_path"], repo / "dvc.lock")
    index = index_batches(sorted((repo / params["drift"]["incoming_dir"]).glob("loans_*.csv")), "month", None)
    frames = [data.frame for data in iter_incoming_windows(index, "month") if len(data.frame)]
    labelled = next(frame[frame[TARGET].notna()] for frame in frames if TARGET in frame and frame[TARGET].notna().any())
    challenger = recalibrated_bundle(champion, labelled, params["backtest"]["min_defaults_for_slope"])
    major, minor, patch = champion.version.split(".")
    challenger.metadata["version"] = f"{major}.{minor}.{int(patch) + 1}"
    save_bundle(challenger, repo / CHALLENGER_PATH)


def _score_through_the_log(repo: Path) -> None:
    """Score rows of the latest incoming batch with the trained model and its challenger and log them, as the API
    does."""
    from creditrisk.modeling.bundle import load_bundle
    from creditrisk.serving.predlog import log_entry, ChallengerScores, PredictionLog
    from creditrisk.data.contract import coerce_and_validate
    from creditrisk.data.sources import read_export

    params = yaml.safe_load((repo / "params.yaml").read_text())
    bundle = load_bundle(repo / params["train"]["model_path"], repo / "dvc.lock")
    challenger = load_bundle(repo / CHALLENGER_PATH)
    latest_batch = sorted((repo / params["generate"]["incoming_dir"]).glob("loans_*.csv"))[-1]
    # Coerce the whole file (the date order is detected per file), then score a few rows.
    frame = coerce_and_validate(read_export(latest_batch), purpose="scoring").frame.head(LOGGED_ROWS)
    pds, shadow = bundle.predict_pd(frame), challenger.predict_pd(frame)
    log = PredictionLog(repo / params["drift"]["prediction_log"])
    log.append(log_entry(frame, "test-request", bundle.version, pds, bundle.band_of(pds), bundle.decide(pds),
                         challenger=ChallengerScores(challenger.version, shadow, challenger.band_of(shadow),
                                                     challenger.decide(shadow))))
    log.close()


def run_small_pipeline(base: Path) -> Path:
    """Copy the working tree into `base`, run the real stages on a small sample, return the copy.

    The model is trained and evaluated first, a challenger is made from it (recalibrated on the matured incoming
    labels), a few rows are scored into the prediction log by both like the API would, then the drift stage reads
    batches and log, and the compare stage compares the two. Runs once per test session (per `base`).
    """
    if base in _pipeline_roots:
        return _pipeline_roots[base]
    base.mkdir(parents=True, exist_ok=True)
    repo = base / "repo"
    copy_working_tree(repo)
    _shrink_params(repo / "params.yaml")
    dvc = str(Path(sys.executable).parent / "dvc")
    _run([dvc, "repro", "--quiet", "evaluate"], cwd=repo)
    _build_challenger(repo)
    _score_through_the_log(repo)
    _run([dvc, "repro", "--quiet", "drift"], cwd=repo)
    _run([dvc, "repro", "--quiet", "compare"], cwd=repo)
    _pipeline_roots[base] = repo
    return repo


APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PAGES = ("views/overview.py", "views/validation.py", "views/drift.py", "views/performance.py", "views/challenger.py",
         "views/models.py", "views/exploration.py")
PAGE_TITLES = {
    "views/overview.py": "Credit-risk model overview",
    "views/validation.py": "Validation",
    "views/drift.py": "Drift",
    "views/performance.py": "Performance over time",
    "views/challenger.py": "Champion and challenger",
    "views/models.py": "Models and versions",
    "views/exploration.py": "Data exploration",
}


def open_page(page: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app with the environment pointing at the artifacts, run once on `page`."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return AppTest.from_file(str(APP), default_timeout=60).switch_page(page).run()


def chart_titles(app: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]


def texts(app: AppTest) -> str:
    parts = [element.value for kind in ("markdown", "info", "warning", "error", "caption", "subheader")
             for element in getattr(app, kind)]
    return "\n".join(str(part) for part in parts)
