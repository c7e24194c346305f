"""Small prepared-style loan frames for the model tests (contract columns, prepared dtypes).

The target is learnable but noisy (driven by bureau score, inquiries, age,
debt burden) and `puntaje` is generated from the outcome, as in the real export.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditrisk.data.contract import DATE, TARGET
from creditrisk.modeling.bundle import ModelBundle, RiskBand
from creditrisk.modeling.features import default_target, FeatureSet, raw_inputs
from creditrisk.modeling.scorecard import PointsScale
from creditrisk.modeling.training import build_model, decision_metadata, TrainParams
from tests.shipped import shipped


def make_loans(rows: int = 2000, seed: int = 0, start: str = "2024-11-01", days: int = 540) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, days * 24 * 60, rows))
    dates = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="min")
    capital = np.exp(rng.normal(14.48, 0.66, rows)).round(-3)
    term = rng.choice([6, 8, 9, 10, 12, 24, 36], rows, p=[0.33, 0.06, 0.07, 0.16, 0.28, 0.05, 0.05])
    salary = np.exp(rng.normal(14.99, 0.81, rows)).round(-5) + 100_000
    installment = capital / term * rng.uniform(0.85, 1.15, rows)
    age = rng.integers(19, 70, rows).astype(float)
    bureau = np.clip(rng.normal(792, 50, rows) + (age - 43) * 1.0, 300, 999)
    inquiries = rng.poisson(4.2, rows).astype(float)
    trend = rng.choice(["Creciente", "Decreciente", "Estable", None], rows, p=[0.49, 0.12, 0.11, 0.28])
    bureau_income = np.where(trend == None, np.nan, salary * rng.uniform(0.3, 0.8, rows))  # noqa: E711
    logit = (-3.2 - 0.012 * (bureau - 792) + 0.12 * (inquiries - 4.2) - 0.03 * (age - 43)
             + 1.5 * np.clip(installment / salary, 0, 2) + 0.4 * (trend == "Decreciente"))
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    puntaje = np.where(default, rng.uniform(-38, 63, rows),
                       np.where(rng.random(rows) < 0.87, 95.227787, rng.uniform(64, 95, rows)))
    frame = pd.DataFrame({
        "tipo_credito": pd.Series(rng.choice(["4", "9", "10"], rows, p=[0.72, 0.27, 0.01]), dtype="string"),
        DATE: dates.astype("datetime64[ns]"),
        "capital_prestado": capital,
        "plazo_meses": term.astype(float),
        "edad_cliente": age,
        "tipo_laboral": pd.Series(rng.choice(["Empleado", "Independiente"], rows, p=[0.63, 0.37]),
                                  dtype="string"),
        "salario_cliente": salary,
        "total_otros_prestamos": np.exp(rng.normal(13.83, 1.12, rows)).round(-3),
        "cuota_pactada": installment,
        "puntaje": puntaje,
        "puntaje_datacredito": bureau.round(),
        "cant_creditosvigentes": rng.poisson(5.7, rows).astype(float),
        "huella_consulta": inquiries,
        "saldo_mora": np.where(rng.random(rows) < 0.02, rng.uniform(100, 1000, rows), 0.0),
        "saldo_total": np.exp(rng.normal(9.56, 1.95, rows)).round(),
        "saldo_principal": np.exp(rng.normal(9.4, 1.95, rows)).round(),
        "saldo_mora_codeudor": np.where(rng.random(rows) < 0.05, np.nan, 0.0),
        "creditos_sectorFinanciero": rng.poisson(2.8, rows).astype(float),
        "creditos_sectorCooperativo": rng.poisson(0.27, rows).astype(float),
        "creditos_sectorReal": rng.poisson(1.3, rows).astype(float),
        "promedio_ingresos_datacredito": bureau_income,
        "tendencia_ingresos": pd.Series(trend, dtype="string"),
        TARGET: np.where(default, 0.0, 1.0),
    })
    return frame


def split_out_of_time(frame: pd.DataFrame, test_fraction: float = 0.25) -> tuple[pd.DataFrame, pd.DataFrame]:
    ordered = frame.sort_values(DATE, kind="stable").reset_index(drop=True)
    cut = int(len(ordered) * (1 - test_fraction))
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)


FITTED_NUMERIC = ["edad_cliente", "puntaje_datacredito", "huella_consulta", "salario_cliente"]
FITTED_FEATURES = FeatureSet(numeric=FITTED_NUMERIC, categorical=[], raw_inputs=raw_inputs(FITTED_NUMERIC),
                             engineered=[], dropped={})


def fitted_bundle(frame: pd.DataFrame, candidate: str, monotone: bool | None = None) -> ModelBundle:
    """A small bundle of `candidate` on a few inputs (age among them), with the reasons' reference applicant;
    under the shipped monotone directions unless `monotone` is False."""
    params = shipped(TrainParams).with_estimator("hist_gradient_boosting", max_iter=60)
    model = build_model(candidate, params, FITTED_FEATURES, monotone)
    model.fit(frame[FITTED_FEATURES.raw_inputs], default_target(frame))
    metadata = decision_metadata(model, frame[FITTED_FEATURES.raw_inputs], 4, PointsScale(600, 50, 20))
    return ModelBundle(pipeline=model, threshold=0.2, bands=[RiskBand("A", 0.05), RiskBand("B", 0.15),
                                                             RiskBand("C", 1.0)],
                       features=list(FITTED_FEATURES.raw_inputs), metadata=metadata)
