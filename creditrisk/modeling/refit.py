"""Candidate bundles from matured labels: the champion recalibrated, or a model retrained.

Both take labelled loans in the prepared layout (contract columns, `fecha_prestamo`, `Pago_atiempo`) and
return a `ModelBundle` that scores like the champion (same inputs, same API path). Which labels count as
matured at a given time is the caller's business (`creditrisk.monitoring.backtest.matured`).

- `recalibrated_bundle`: the champion's pipeline and estimator unchanged, its calibrated PD mapped once more
  by logit(PD') = a + b logit(PD) fitted on the labels (`calibration.fit_logit_recalibration`: the intercept,
  plus the slope where enough defaults allow). The ranking, the risk bands' PD edges and the decision
  threshold stay: the same applicant moves between bands when its PD moves, and the lending policy, set on
  the PD, applies to the new PD.
- `retrained_bundle`: the shipped training procedure from scratch on the labels: the featurize stage's
  leakage guard, then the train stage's `train_bundle` (candidates compared by forward CV, pruning,
  calibration, threshold and bands).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.calibration import (
    fit_logit_recalibration,
    require_both_outcomes,
    CalibratedModel,
    LogitRecalibration,
)
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import data_window, train_bundle, TrainingResult


def _recalibrated_pipeline(pipeline: Any, intercept: float, slope: float) -> CalibratedModel:
    """The champion's pipeline with the new map after its calibration; a map already there is composed with the
    new one (a2 + b2 (a1 + b1 x) = (a2 + b2 a1) + b2 b1 x), so recalibrating twice keeps one map."""
    if not isinstance(pipeline, CalibratedModel):
        return CalibratedModel(pipeline, LogitRecalibration(None, intercept, slope))
    calibrator = pipeline.calibrator
    if isinstance(calibrator, LogitRecalibration):
        intercept, slope = intercept + slope * calibrator.intercept, slope * calibrator.slope
        calibrator = calibrator.calibrator
    return CalibratedModel(pipeline.model, LogitRecalibration(calibrator, intercept, slope))


def recalibrated_bundle(champion: ModelBundle, labelled: pd.DataFrame, min_defaults_for_slope: int) -> ModelBundle:
    """The champion recalibrated on `labelled` loans; the metadata records the fit and the loans it used.

    Raises `calibration.LabelsError` when the loans hold no default (or nothing else).
    """
    fit = fit_logit_recalibration(default_target(labelled), champion.predict_pd(labelled), min_defaults_for_slope)
    metadata = {**champion.metadata, "recalibration": {**fit.to_dict(), "data_window": data_window(labelled),
                                                       "recalibrated_from": champion.version}}
    return ModelBundle(pipeline=_recalibrated_pipeline(champion.pipeline, fit.intercept, fit.slope),
                       threshold=champion.threshold, bands=list(champion.bands), features=list(champion.features),
                       metadata=metadata)


def retrained_bundle(labelled: pd.DataFrame, featurize: FeaturizeParams, train: TrainParams) -> TrainingResult:
    """The shipped training procedure on `labelled` loans: leakage guard, then `train_bundle`. Raises
    `calibration.LabelsError` when the loans hold no default (or nothing else)."""
    y = default_target(labelled)
    require_both_outcomes(y, "retraining")
    report = screen_leakage(labelled, y, candidate_columns(labelled, featurize.engineered_features),
                            guard_config(featurize))
    return train_bundle(labelled, np.asarray(y), feature_set(report), train)
