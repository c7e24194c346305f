"""Candidate bundles from matured labels: the champion recalibrated, and a model retrained the shipped way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import special

from creditrisk.data.contract import TARGET
from creditrisk.modeling.bundle import load_bundle, save_bundle, ModelBundle
from creditrisk.modeling.calibration import fit_logit_recalibration, CalibratedModel, LabelsError, LogitRecalibration
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.refit import recalibrated_bundle, retrained_bundle
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import train_bundle
from creditrisk.modeling.validation import logit
from creditrisk.modeling.engine import build_engine
from tests.loan_frames import make_loans
from tests.shipped import shipped

FEATURIZE = shipped(FeaturizeParams, seed=1)


def small_train_params() -> TrainParams:
    params = shipped(TrainParams, version="test", candidates=["logistic", "hist_gradient_boosting"], cv_folds=3,
                     forward_folds=3, seed=5)
    return params.with_estimator("hist_gradient_boosting", max_iter=40, learning_rate=0.1)


@pytest.fixture(scope="module")
def loans() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = make_loans(3200, seed=11)
    return frame.iloc[:2200].reset_index(drop=True), frame.iloc[2200:].reset_index(drop=True)


@pytest.fixture(scope="module")
def champion(loans) -> ModelBundle:
    history, _ = loans
    return retrained_bundle(history, FEATURIZE, small_train_params()).bundle


def with_outcomes_from(frame: pd.DataFrame, pd_values: np.ndarray, seed: int) -> pd.DataFrame:
    defaulted = np.random.default_rng(seed).random(len(frame)) < pd_values
    return frame.assign(**{TARGET: np.where(defaulted, 0.0, 1.0)})


def test_retraining_is_the_featurize_guard_then_the_train_stage(loans, champion: ModelBundle) -> None:
    history, later = loans
    y = default_target(history)
    report = screen_leakage(history, y, candidate_columns(history, FEATURIZE.engineered_features),
                            guard_config(FEATURIZE))
    by_hand = train_bundle(history, y, feature_set(report), small_train_params()).bundle
    np.testing.assert_array_equal(champion.predict_pd(later), by_hand.predict_pd(later))
    assert "puntaje" in champion.metadata["dropped_leaks"] and "puntaje" not in champion.features
    assert champion.metadata["train_rows"] == len(history)


def test_the_intercept_alone_is_the_offset_logistic_fit_and_sets_the_mean_to_the_observed_rate() -> None:
    rng = np.random.default_rng(3)
    pd_values = rng.beta(1.2, 25.0, 3000)
    y = (rng.random(3000) < special.expit(logit(pd_values) + 0.6)).astype(int)
    fit = fit_logit_recalibration(y, pd_values, min_defaults_for_slope=10_000)
    golden = sm.GLM(y, np.ones((3000, 1)), family=sm.families.Binomial(), offset=logit(pd_values)).fit()
    assert (fit.form, fit.slope, fit.defaults, fit.rows) == ("intercept", 1.0, int(y.sum()), 3000)
    assert fit.intercept == pytest.approx(float(golden.params[0]), abs=1e-8)
    assert special.expit(logit(pd_values) + fit.intercept).mean() == pytest.approx(y.mean(), abs=1e-10)
    assert fit.note == f"{y.sum()} defaults < 10000 for a slope: intercept only"


def test_with_enough_defaults_the_slope_is_fitted_too_as_statsmodels_fits_it() -> None:
    rng = np.random.default_rng(4)
    pd_values = rng.beta(1.2, 20.0, 6000)
    y = (rng.random(6000) < special.expit(0.3 + 0.7 * logit(pd_values))).astype(int)
    fit = fit_logit_recalibration(y, pd_values, min_defaults_for_slope=100)
    golden = sm.GLM(y, sm.add_constant(logit(pd_values)), family=sm.families.Binomial()).fit()
    assert fit.form == "intercept and slope"
    assert (fit.intercept, fit.slope) == pytest.approx(tuple(golden.params), abs=1e-4)


def test_a_slope_that_is_not_positive_falls_back_to_the_intercept() -> None:
    rng = np.random.default_rng(5)
    pd_values = rng.beta(1.2, 20.0, 4000)
    y = (rng.random(4000) < special.expit(-1.0 - 0.5 * logit(pd_values))).astype(int)
    fit = fit_logit_recalibration(y, pd_values, min_defaults_for_slope=100)
    assert (fit.form, fit.slope) == ("intercept", 1.0)
    assert fit.note.startswith("fitted slope -") and fit.note.endswith("is not positive: intercept only")


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_labels_without_both_outcomes_fit_nothing(loans, champion: ModelBundle, rate: float) -> None:
    _, later = loans
    one_sided = later.assign(**{TARGET: 1.0 - rate})
    with pytest.raises(LabelsError, match=f"recalibration needs defaults and non-defaults: {int(rate) * len(later)} "):
        recalibrated_bundle(champion, one_sided, 100)
    with pytest.raises(LabelsError, match="retraining needs defaults and non-defaults"):
        retrained_bundle(one_sided, FEATURIZE, small_train_params())


def test_recalibration_moves_the_pd_level_to_the_labels_and_keeps_the_ranking_bands_and_threshold(
        loans, champion: ModelBundle, tmp_path: Path) -> None:
    _, later = loans
    truth = special.expit(logit(champion.predict_pd(later)) + 0.7)
    matured = with_outcomes_from(later, truth, seed=1)
    recalibrated = recalibrated_bundle(champion, matured, min_defaults_for_slope=10_000)
    before, after = champion.predict_pd(later), recalibrated.predict_pd(later)
    assert after.mean() == pytest.approx((1 - matured[TARGET]).mean(), abs=1e-9)
    assert abs(after.mean() - truth.mean()) < abs(before.mean() - truth.mean()) / 3
    np.testing.assert_array_equal(np.argsort(after, kind="stable"), np.argsort(before, kind="stable"))
    assert (recalibrated.threshold, recalibrated.bands, recalibrated.features) == (
        champion.threshold, champion.bands, champion.features)
    record = recalibrated.metadata["recalibration"]
    assert record["form"] == "intercept" and record["intercept"] == pytest.approx(0.7, abs=0.35)
    assert record["recalibrated_from"] == "test" and record["rows"] == len(later)
    save_bundle(recalibrated, tmp_path / "recalibrated.skops")
    loaded = load_bundle(tmp_path / "recalibrated.skops")
    np.testing.assert_array_equal(loaded.predict_pd(later), after)
    assert build_engine(loaded).route.startswith("numpy path")


def test_recalibrating_twice_keeps_one_map_that_applies_both(loans, champion: ModelBundle) -> None:
    _, later = loans
    once = recalibrated_bundle(champion, with_outcomes_from(later, champion.predict_pd(later) * 1.5, seed=2), 10_000)
    twice = recalibrated_bundle(once, with_outcomes_from(later, once.predict_pd(later) * 0.8, seed=3), 10_000)
    assert isinstance(twice.pipeline, CalibratedModel) and isinstance(twice.pipeline.calibrator, LogitRecalibration)
    assert not isinstance(twice.pipeline.calibrator.calibrator, LogitRecalibration)
    second = twice.metadata["recalibration"]["intercept"]
    np.testing.assert_allclose(twice.predict_pd(later),
                               special.expit(logit(once.predict_pd(later)) + second), rtol=1e-9)
