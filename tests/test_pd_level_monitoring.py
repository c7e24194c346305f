"""The PD-level verdict on whole windows: its false-alarm rate without drift, and the stronger-drift sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from creditrisk.data.contract import TARGET
from creditrisk.data.synthetic import generate_history, generate_incoming, GenerateParams
from creditrisk.modeling.validation import band_tests
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.rules import window_verdict
from creditrisk.monitoring.run import window_calibration
from tests.shipped import shipped

RULES = shipped(DriftParams).rules
BAND_NAMES = ["A", "B", "C", "D", "E"]


def calibration_of(pd_values: np.ndarray, defaulted: np.ndarray, cut_points: np.ndarray) -> dict:
    """The window's PD-level record, band tests included, as the drift run builds it."""
    bands = np.asarray(BAND_NAMES, dtype=object)[np.searchsorted(cut_points, pd_values, side="left")]
    tests = [test.to_dict() for test in band_tests(BAND_NAMES, bands, defaulted, pd_values,
                                                   RULES.band_test_yellow, RULES.band_test_red)]
    return {"defaults": int(defaulted.sum()),
            **window_calibration(pd.DataFrame({TARGET: 1.0 - defaulted}), pd_values, RULES, tests)}


def test_without_drift_the_pd_level_raises_warn_or_alert_at_most_alpha_plus_two_points_of_the_time() -> None:
    """300 windows of 700 loans whose outcomes are drawn from their PDs (PDs near the sample's: mean 4.6 %,
    a long right tail), with the shipped bands (PD quantiles 0.3 / 0.6 / 0.8 / 0.95) and their red-band rule."""
    rng = np.random.default_rng(20241101)
    cut_points = np.quantile(rng.beta(1.2, 25.0, 100_000), [0.3, 0.6, 0.8, 0.95])
    levels = []
    for _ in range(300):
        pd_values = rng.beta(1.2, 25.0, 700)
        defaulted = (rng.random(700) < pd_values).astype(int)
        levels.append(calibration_of(pd_values, defaulted, cut_points)["calibration_level"])
    raised = sum(level != "ok" for level in levels) / len(levels)
    assert raised <= RULES.alpha + 0.02, f"{raised:.1%} of windows raised without drift"


def history_model(history: pd.DataFrame) -> Pipeline:
    """A model of the columns the sample's default depends on most, fitted on the whole history."""
    inputs = ["puntaje_datacredito", "huella_consulta", "edad_cliente", "cuota_pactada", "salario_cliente"]
    model = Pipeline([("columns", ColumnTransformer([("numbers", SimpleImputer(strategy="median"), inputs)])),
                      ("model", LogisticRegression(max_iter=1000))])
    return model.fit(history, 1 - history[TARGET].to_numpy())


def test_the_stronger_drift_sample_alerts_on_the_pd_level_by_the_window_its_ratio_passes_the_alert_cutoff() -> None:
    """5,000 loans a month, drift strength 2, labels on every month: the PD level moves while the model's
    ranking holds; from the first window whose ratio reaches the alert cut-off on, the PD level and the window
    are in alert, and the undrifted first window is ok."""
    generate = shipped(GenerateParams, incoming_rows=5_000, drift_strength=2.0, label_lag_months=0, quirks=False)
    history = generate_history(generate)
    model = history_model(history)
    cut_points = np.quantile(model.predict_proba(history)[:, 1], [0.3, 0.6, 0.8, 0.95])
    records = []
    for batch in generate_incoming(generate):
        pd_values = model.predict_proba(batch.frame)[:, 1]
        records.append(calibration_of(pd_values, 1 - batch.frame[TARGET].to_numpy().astype(int), cut_points))
    ratios = [record["calibration_ratio"] for record in records]
    assert records[0]["calibration_level"] == "ok" and ratios[-1] > ratios[0] + 0.5
    first = next(index for index, ratio in enumerate(ratios) if ratio >= RULES.calibration_ratio.alert)
    for record in records[first:]:
        assert record["calibration_level"] == "alert", record["calibration_reason"]
        verdict = window_verdict([], None, record, 5_000, RULES)
        assert verdict.level == "alert" and verdict.reason.startswith("PD level alert: ")
    assert all(record["calibration_level"] != "alert" for record in records[:first])
