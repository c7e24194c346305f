"""The train stage chooses over time: forward-chaining folds choose the candidate and the calibration,
shuffled folds are an optimistic column only, and the shipped configuration is calibrated out of time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.shipped import shipped
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.metrics import expected_calibration_error
from creditrisk.modeling.calibration_choice import calibration_rows, select_calibration
from creditrisk.modeling.selection import forward_folds, select_best
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import train_bundle
from creditrisk.modeling.validation import brier_skill_score, calibration_intercept_slope
from creditrisk.data.contract import DATE
from tests.loan_frames import make_loans, split_out_of_time

SMALL = {"logistic": {"C": 0.5}, "hist_gradient_boosting": {"max_iter": 40, "learning_rate": 0.1}}


def small_params(**changes) -> TrainParams:
    params = shipped(TrainParams, **{"version": "test", "candidates": ["logistic", "hist_gradient_boosting"],
                                     "cv_folds": 3, "forward_folds": 3, "seed": 5, **changes})
    for name, block in SMALL.items():
        params = params.with_estimator(name, **block)
    return params


@pytest.fixture(scope="module")
def trained():
    train, _ = split_out_of_time(make_loans(2400, seed=31), test_fraction=0.25)
    y = default_target(train)
    report = screen_leakage(train, y, candidate_columns(train, engineered=True),
                            guard_config(shipped(FeaturizeParams, seed=1)))
    return train, train_bundle(train, y, feature_set(report), small_params())


def test_forward_folds_never_train_on_the_future():
    frame = make_loans(900, seed=3).sample(frac=1.0, random_state=0).reset_index(drop=True)  # any row order
    dates = frame[DATE]
    folds = forward_folds(frame, small_params(forward_folds=4, forward_gap_days=7))
    assert len(folds) == 4
    for fold in folds:
        assert dates.iloc[fold.train].max() < dates.iloc[fold.validate].min() - pd.Timedelta(days=7)
    for earlier, later in zip(folds, folds[1:]):  # expanding windows, consecutive blocks
        assert set(earlier.train) < set(later.train)
        assert dates.iloc[earlier.validate].max() <= dates.iloc[later.validate].min()


def test_a_calibrator_for_fold_k_sees_only_earlier_blocks():
    frame = make_loans(900, seed=3)
    folds = forward_folds(frame, small_params(forward_folds=4))
    for k in range(1, 4):
        for source in ("oof", "recent"):
            rows = calibration_rows(folds, k, source)
            assert set(rows) <= set(folds[k].train)
        np.testing.assert_array_equal(calibration_rows(folds, k, "recent"), folds[k - 1].validate)


def test_comparison_has_both_columns_and_the_shuffled_one_never_chooses(trained):
    _, result = trained
    table = result.comparison
    for metric in ("roc_auc", "brier"):
        assert {f"{metric}_mean", f"{metric}_std", f"shuffled_{metric}_mean", f"shuffled_{metric}_std"} <= set(table)
    assert result.bundle.metadata["model"] == select_best(table, "roc_auc")
    # a shuffled column that favours the other model changes nothing
    rigged = table.assign(shuffled_roc_auc_mean=1.0 - table["roc_auc_mean"])
    assert select_best(rigged, "roc_auc") == select_best(table, "roc_auc")
    handmade = pd.DataFrame({"model": ["a", "b"], "roc_auc_mean": [0.60, 0.65],
                             "shuffled_roc_auc_mean": [0.75, 0.66]})
    assert select_best(handmade, "roc_auc") == "b"


def test_the_calibration_comparison_picks_by_forward_brier(trained):
    _, result = trained
    table = result.calibration
    assert {"choice", "brier_mean", "log_loss_mean", "mean_pd", "observed_default_rate"} <= set(table)
    best = table.loc[table["brier_mean"].idxmin(), "choice"]
    assert result.bundle.metadata["calibration"] == best == select_calibration(table)
    handmade = pd.DataFrame({"choice": ["none", "sigmoid/oof", "isotonic/recent"],
                             "brier_mean": [0.05, 0.041, 0.042], "log_loss_mean": [0.2, 0.19, 0.17]})
    assert select_calibration(handmade) == "sigmoid/oof"


def test_metadata_records_development_auc_folds_and_calibrations(trained):
    _, result = trained
    meta = result.bundle.metadata
    forward_auc = result.comparison.set_index("model").loc[meta["model"], "roc_auc_mean"]
    if not meta["dropped_over_time"]:
        assert meta["development_roc_auc"] == pytest.approx(forward_auc)
    assert 0.5 < meta["development_roc_auc"] < 1.0
    assert len(meta["forward_folds"]) == 3 and all(f["validate_rows"] > 0 for f in meta["forward_folds"])
    assert [row["choice"] for row in meta["calibration_comparison"]] == result.calibration["choice"].tolist()
    for name, why in meta["dropped_over_time"].items():
        assert name in result.report["features_dropped"] and "forward" in why


def test_a_feature_kept_by_hand_stays(trained):
    train, _ = trained
    y = default_target(train)
    report = screen_leakage(train, y, candidate_columns(train, engineered=True),
                            guard_config(shipped(FeaturizeParams, seed=1)))
    keep = ["loan_month", "loan_weekday"]
    result = train_bundle(train, y, feature_set(report), small_params(candidates=["logistic"], keep_features=keep))
    assert set(keep) <= set(result.bundle.metadata["model_columns"])
    assert not set(keep) & set(result.report["features_dropped"])


@pytest.mark.slow
def test_shipped_configuration_is_calibrated_out_of_time_on_a_trending_sample():
    """The shipped train params on the sample export, whose default rate moves by period like the
    real export's: out of time, the mean PD, calibration intercept and slope, ECE and Brier skill stay
    in limits."""
    from creditrisk.data.contract import coerce_and_validate
    from creditrisk.data.prepare import split_out_of_time as prepare_split
    from creditrisk.data.synthetic import generate_history, GenerateParams

    export = generate_history(shipped(GenerateParams, rows=10_800))
    split = prepare_split(coerce_and_validate(export).frame, 0.2)
    train, test = split.train, split.test
    y, y_test = default_target(train), default_target(test)
    report = screen_leakage(train, y, candidate_columns(train, engineered=True),
                            guard_config(shipped(FeaturizeParams)))
    result = train_bundle(train, y, feature_set(report), shipped(TrainParams))
    proba = result.bundle.predict_pd(test)
    observed = y_test.mean()
    line = calibration_intercept_slope(y_test, proba)
    ece = expected_calibration_error(y_test, proba, 10)
    print(f"out of time: mean PD {proba.mean():.4f} vs observed {observed:.4f}, intercept "
          f"{line['intercept']:.3f}, slope {line['slope']:.3f}, ECE {ece:.4f}, Brier skill "
          f"{brier_skill_score(y_test, proba, y.mean()):.4f}")
    assert abs(proba.mean() - observed) <= 0.35 * observed + 0.005
    assert abs(line["intercept"]) < 0.5
    assert 0.6 < line["slope"] < 1.6
    assert ece < 0.02
    assert brier_skill_score(y_test, proba, y.mean()) > 0
