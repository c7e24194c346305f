"""A small, realistic artifact set in the documented formats (docs/interfaces.md), for dashboard tests.

Early windows are quiet, late ones drift (salary, product mix, bureau score)
and go to alert, like the sample export.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

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
            })
    return pd.DataFrame(rows)


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
            record.update({"labelled_rows": 700, "default_rate": 0.048 + index * 0.004,
                           "roc_auc": 0.70 - index * 0.03, "brier": 0.045 + index * 0.002,
                           "delta_roc_auc": -index * 0.03})
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


def write_artifact_set(root: Path, now: datetime | None = None) -> dict[str, str]:
    """Write every artifact the dashboard reads under `root`; returns the environment to point at it."""
    now = now or datetime.now(UTC)
    reports = root / "reports"
    features = _feature_rows()
    windows = _windows(features)
    latest = windows[-1]
    latest_features = features[features["window"] == latest["window"]]
    in_alert = latest_features[latest_features["level"] == "alert"]["feature"]
    _write_json(reports / "metrics.json", {
        "roc_auc": 0.702, "pr_auc": 0.101, "ks": 0.31, "gini": 0.404, "brier": 0.0448, "log_loss": 0.181,
        "accuracy": 0.81, "precision": 0.12, "recall": 0.41, "f1": 0.19, "ece": 0.006, "default_rate": 0.047,
        "pd_mean": 0.049, "threshold": 0.08, "rows": 2160,
        "bands": {band: {"share": share, "default_rate": rate}
                  for band, share, rate in zip(BANDS, (0.3, 0.3, 0.2, 0.15, 0.05), (0.02, 0.03, 0.05, 0.08, 0.15))},
    })
    _write_json(reports / "model_comparison.json", [
        {"model": name, "folds": 5, "seconds": 1.0, "roc_auc_mean": auc, "roc_auc_std": 0.02,
         "brier_mean": 0.045, "brier_std": 0.001, "pr_auc_mean": auc / 7, "pr_auc_std": 0.01}
        for name, auc in (("logistic", 0.68), ("random_forest", 0.69), ("hist_gradient_boosting", 0.70))
    ])
    plots = reports / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0, 1, 21)
    pd.DataFrame({"fpr": grid, "tpr": np.sqrt(grid)}).to_csv(plots / "roc.csv", index=False)
    pd.DataFrame({"bin": range(5), "rows": 100, "mean_pd": [0.01, 0.03, 0.05, 0.08, 0.15],
                  "observed_default_rate": [0.012, 0.028, 0.05, 0.09, 0.14]}).to_csv(plots / "calibration.csv",
                                                                                     index=False)
    _write_json(reports / "leakage.json", {
        "threshold": 0.98, "rows": 400, "default_rate": 0.047,
        "checks": ["rank_auc", "separates_perfectly", "tree_oof_auc", "missing_indicator_auc"],
        "dropped": {"puntaje": ["rank_auc 1.000 >= 0.98", "separates the classes perfectly"]},
        "kept": list(NUMERIC_FEATURES),
        "columns": [{"column": "puntaje", "rank_auc": 1.0, "dropped": True},
                    {"column": "puntaje_datacredito", "rank_auc": 0.58, "dropped": False}],
    })
    _write_json(reports / "data_quality.json", {
        "rows_in": 420, "rows_out": 400, "duplicates_dropped": 20,
        "columns": {"edad_cliente": {"placeholder": 6, "missing_share": 0.015},
                    "salario_cliente": {"above_maximum": 1, "missing_share": 0.003}},
    })
    drift = reports / "drift"
    drift.mkdir(parents=True, exist_ok=True)
    features.to_csv(drift / "features.csv", index=False)
    _write_json(drift / "windows.json", windows)
    _write_json(drift / "distributions.json", _distributions(features))
    _write_json(drift / "summary.json", {
        "latest_window": latest["window"], "status": latest["status"],
        "counts": latest_features["level"].value_counts().reindex(["ok", "warn", "alert"], fill_value=0).to_dict(),
        "score_psi": latest["score_psi"],
        "features_in_alert": [{"feature": name, "since": "2026-09"} for name in in_alert],
        "thresholds": {"psi": PSI_CUTOFFS, "score_psi": PSI_CUTOFFS},
    })
    _write_json(root / "models" / "model_card.json", {
        "version": "1.1.0", "model": "hist_gradient_boosting", "selected_by": "roc_auc",
        "data_window": {"start": "2024-11-01T08:00:00", "end": "2025-12-31T18:00:00"},
    })
    train = root / "data" / "prepared" / "train.parquet"
    train.parent.mkdir(parents=True, exist_ok=True)
    _train_frame().to_parquet(train, index=False)
    _write_prediction_log(root / "data" / "monitoring" / "predictions.sqlite", now)
    return environment_for(root)
