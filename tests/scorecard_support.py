"""Small fitted models for the monotonicity, scorecard and SQL tests: a candidate pipeline fitted on sample loans,
calibrated and banded the way the train stage ships it, in a `ModelBundle`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from creditrisk.data.contract import TARGET
from creditrisk.modeling.bands import fit_bands
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.calibration import CalibratedModel, ScoreCalibrator
from creditrisk.modeling.features import FeatureSet, default_target, split_by_kind
from creditrisk.modeling.reasons import reference_applicant
from creditrisk.modeling.recipe import build_model
from creditrisk.modeling.scorecard import PointsScale
from creditrisk.modeling.train_params import TrainParams
from tests.loan_frames import make_loans
from tests.shipped import shipped

MODEL_COLUMNS = ["capital_prestado", "plazo_meses", "edad_cliente", "salario_cliente", "cuota_pactada",
                 "puntaje_datacredito", "huella_consulta", "saldo_mora", "saldo_mora_codeudor",
                 "promedio_ingresos_datacredito", "debt_to_income", "loan_to_income", "repayment_ratio",
                 "bureau_to_declared_income", "has_arrears", "bureau_income_missing", "tipo_credito", "tipo_laboral",
                 "tendencia_ingresos"]
RAW_INPUTS = ["tipo_credito", "capital_prestado", "plazo_meses", "edad_cliente", "tipo_laboral", "salario_cliente",
              "cuota_pactada", "puntaje_datacredito", "huella_consulta", "saldo_mora", "saldo_mora_codeudor",
              "promedio_ingresos_datacredito", "tendencia_ingresos"]


def feature_set() -> FeatureSet:
    numeric, categorical = split_by_kind(MODEL_COLUMNS)
    engineered = [name for name in MODEL_COLUMNS if name not in RAW_INPUTS]
    return FeatureSet(numeric=numeric, categorical=categorical, raw_inputs=RAW_INPUTS, engineered=engineered,
                      dropped={})


def train_params(**changes: object) -> TrainParams:
    """The shipped `train` block, smaller models; `scorecard`: changes to the scorecard's block."""
    scorecard = changes.pop("scorecard", {})
    params = shipped(TrainParams, version="test", **changes)
    params = params.with_estimator("hist_gradient_boosting", max_iter=60, learning_rate=0.1)
    params = params.with_estimator("random_forest", n_estimators=30, max_depth=4)
    return params.with_estimator("scorecard", **scorecard) if scorecard else params


def fitted_bundle(name: str, loans: pd.DataFrame, params: TrainParams, monotone: bool | None = None) -> ModelBundle:
    """Candidate `name` fitted on `loans`, calibrated (sigmoid, then the mean PD set to the loans' default rate),
    five bands on its PD quintiles, the points scale and the reference applicant the train stage records."""
    features = feature_set()
    y = default_target(loans)
    with threadpool_limits(limits=1):
        model = build_model(name, params, features, monotone).fit(loans[features.raw_inputs], y)
        raw = model.predict_proba(loans[features.raw_inputs])[:, 1]
    calibrator = ScoreCalibrator("sigmoid").fit(raw, y).set_mean(raw, float(y.mean()))
    pipeline = CalibratedModel(model, calibrator)
    pds = pipeline.predict_proba(loans[features.raw_inputs])[:, 1]
    bands = fit_bands(pds, y, ["A", "B", "C", "D", "E"], None, [0.3, 0.6, 0.8, 0.95]).bands
    scale = PointsScale(params.scorecard_points0, params.scorecard_odds0, params.scorecard_pdo)
    metadata = {"version": "test", "model": name, "scorecard": scale.describe(),
                "reasons": {"top_k": params.reasons_top_k,
                            "reference_applicant": reference_applicant(model.steps[0][1].transform(loans))},
                "params": dataclasses.asdict(params)}
    return ModelBundle(pipeline, float(np.quantile(pds, 0.9)), bands, features.raw_inputs, metadata)


def sample_loans(rows: int, seed: int) -> pd.DataFrame:
    return make_loans(rows, seed=seed).drop(columns=[TARGET])


def labelled_loans(rows: int, seed: int) -> pd.DataFrame:
    return make_loans(rows, seed=seed)
