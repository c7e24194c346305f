"""Helpers for the API tests: a small export-like frame and a model bundle trained on it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.config import ApiConfig
from creditrisk.modeling.bundle import save_bundle, ModelBundle, RiskBand
from creditrisk.modeling.features import DomainFeatures
from creditrisk.modeling.scorecard import PointsScale
from creditrisk.modeling.training import decision_metadata
from creditrisk.serving.open_inference import CONTRACT_DATATYPES
from creditrisk.data.contract import (
    coerce_and_validate,
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    SPECS,
)

COUNT_COLUMNS = ("cant_creditosvigentes", "huella_consulta", "creditos_sectorFinanciero",
                 "creditos_sectorCooperativo", "creditos_sectorReal")


def sample_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Clean loan applications in the export's columns (no target), as JSON-friendly values."""
    rng = np.random.default_rng(seed)
    capital = np.round(rng.lognormal(14.5, 0.6, rows), -3)
    term = rng.choice([6, 8, 10, 12, 24, 36], rows)
    frame = pd.DataFrame({
        "tipo_credito": rng.choice([4, 9], rows, p=[0.7, 0.3]),
        "fecha_prestamo": pd.Timestamp("2025-06-01 09:00")
        + pd.to_timedelta(rng.integers(0, 90 * 24 * 60, rows), unit="min"),
        "capital_prestado": capital,
        "plazo_meses": term,
        "edad_cliente": rng.integers(19, 70, rows),
        "tipo_laboral": rng.choice(["Empleado", "Independiente"], rows, p=[0.63, 0.37]),
        "salario_cliente": np.round(rng.lognormal(15, 0.8, rows), -5) + 100_000,
        "total_otros_prestamos": np.round(rng.lognormal(13.8, 1.1, rows), 0),
        "cuota_pactada": np.round(capital / term * 1.1, 2),
        "puntaje_datacredito": np.round(rng.normal(790, 50, rows)).clip(300, 999),
        "saldo_mora": np.where(rng.random(rows) < 0.05, rng.integers(1, 5000, rows), 0).astype(float),
        "saldo_total": np.round(rng.lognormal(9.5, 1.9, rows), 0),
        "saldo_principal": np.round(rng.lognormal(9.4, 1.9, rows), 0),
        "saldo_mora_codeudor": np.zeros(rows),
        "promedio_ingresos_datacredito": np.round(rng.lognormal(14.1, 0.9, rows), 0),
        "tendencia_ingresos": rng.choice(["Creciente", "Decreciente", "Estable"], rows),
    })
    for column in COUNT_COLUMNS:
        frame[column] = rng.poisson(3, rows)
    frame["fecha_prestamo"] = frame["fecha_prestamo"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame


def train_pipeline(rows: int = 600, seed: int = 1) -> Pipeline:
    raw = sample_frame(rows, seed)
    frame = coerce_and_validate(raw, purpose="scoring").frame
    rng = np.random.default_rng(seed)
    logit = -3 + 0.01 * (790 - frame["puntaje_datacredito"]) + 0.15 * frame["huella_consulta"]
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    preprocess = ColumnTransformer([
        ("numeric", numeric, list(NUMERIC_FEATURES)),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
    ])
    domain = DomainFeatures(numeric=list(NUMERIC_FEATURES), categorical=list(CATEGORICAL_FEATURES))
    pipeline = Pipeline([("domain", domain), ("preprocess", preprocess),
                         ("model", LogisticRegression(max_iter=1000))])
    return pipeline.fit(frame[list(FEATURE_COLUMNS)], defaulted)


def make_bundle(rows: int = 600, seed: int = 1) -> ModelBundle:
    pipeline = train_pipeline(rows, seed)
    inputs = coerce_and_validate(sample_frame(rows, seed), purpose="scoring").frame[list(FEATURE_COLUMNS)]
    return ModelBundle(
        pipeline=pipeline,
        threshold=0.12,
        bands=[RiskBand("A", 0.03), RiskBand("B", 0.06), RiskBand("C", 0.12), RiskBand("D", 1.0)],
        features=list(FEATURE_COLUMNS),
        metadata={"version": "test-1.0", "data_window": {"start": "2025-01-01", "end": "2025-05-31"},
                  "test_metrics": {"roc_auc": 0.7},
                  **decision_metadata(pipeline, inputs, 4, PointsScale(600, 50, 20))},
    )


def save_test_bundle(directory: Path, bundle: ModelBundle | None = None) -> Path:
    path = Path(directory) / "model.skops"
    save_bundle(bundle or make_bundle(), path)
    return path


def api_config(directory: Path, model_path: Path, **overrides: object) -> ApiConfig:
    config = ApiConfig(model_path=model_path, dvc_lock=Path(directory) / "dvc.lock",
                       prediction_log=Path(directory) / "predictions.sqlite")
    return replace(config, **overrides)  # type: ignore[arg-type]


def v2_inputs(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The rows as Open Inference Protocol input tensors, one per column, with the contract's datatypes
    (missing values as null)."""
    tensors = []
    for name in frame.columns:
        datatype = CONTRACT_DATATYPES[SPECS[name].kind]
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        data = [None if value is None else str(value) for value in values] if datatype == "BYTES" else values
        tensors.append({"name": name, "shape": [len(frame)], "datatype": datatype, "data": data})
    return tensors
