"""Fair lending: the per-group table and the adverse impact ratio against a hand computation, groups and segments,
the Regulation B age check on a model that penalises age 62+ and on one that does not, and drift-window segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from creditrisk.data.contract import TARGET
from creditrisk.modeling.fairness import (
    age_band_labels,
    age_bands,
    elderly_age_check,
    group_table,
    segment_groups,
    table_findings,
    FairnessParams,
    GroupSettings,
)
from creditrisk.monitoring.segments import window_segments
from tests.loan_frames import fitted_bundle, make_loans
from tests.shipped import shipped

# Two judged groups of ten loans and a small one, at a threshold of 0.5 (approve when PD < 0.5).
PD_A = [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.6, 0.7]   # 8 of 10 approved, mean PD 0.33
Y_A = [0, 0, 0, 0, 0, 1, 0, 0, 1, 0]                          # 2 defaults
PD_B = [0.2, 0.3, 0.4, 0.45, 0.49, 0.5, 0.6, 0.7, 0.8, 0.9]   # 5 of 10 approved, mean PD 0.534
Y_B = [0, 0, 0, 1, 0, 0, 1, 1, 0, 1]                          # 4 defaults
PD_C, Y_C = [0.1, 0.1, 0.1], [0, 0, 0]                        # 3 loans, all approved: too small to judge
SETTINGS = GroupSettings(threshold=0.5, min_rows=5, min_defaults=2, air_yellow=0.9, air_red=0.8, yellow_below=0.05,
                         red_below=0.01, confidence=0.95, bootstrap_samples=0, seed=7)


def small_frame() -> tuple[np.ndarray, np.ndarray, pd.Series]:
    y = np.array(Y_A + Y_B + Y_C)
    pd_values = np.array(PD_A + PD_B + PD_C)
    groups = pd.Series(["a"] * 10 + ["b"] * 10 + ["c"] * 3, name="segment")
    return y, pd_values, groups


def test_the_group_table_and_the_adverse_impact_ratio_match_a_hand_computation() -> None:
    y, pd_values, groups = small_frame()
    table = group_table(y, pd_values, groups, SETTINGS)
    rows = {row["group"]: row for row in table["groups"]}
    assert [row["group"] for row in table["groups"]] == ["a", "b", "c"]
    assert (rows["a"]["rows"], rows["a"]["defaults"], rows["b"]["rows"], rows["b"]["defaults"]) == (10, 2, 10, 4)
    assert rows["a"]["approval_rate"] == pytest.approx(0.8) and rows["b"]["approval_rate"] == pytest.approx(0.5)
    assert rows["a"]["mean_pd"] == pytest.approx(0.33) and rows["b"]["mean_pd"] == pytest.approx(0.534)
    assert rows["b"]["observed_rate"] == pytest.approx(0.4)
    # The small group approves everyone but is not judged, so the most favoured group is a: AIR b = 0.5 / 0.8.
    assert table["favoured_group"] == "a" and not rows["c"]["judged"]
    assert rows["a"]["air"] == pytest.approx(1.0) and rows["b"]["air"] == pytest.approx(0.625)
    assert rows["c"]["air"] == pytest.approx(1.25) and rows["c"]["air_light"] is None
    assert (rows["a"]["air_light"], rows["b"]["air_light"]) == ("green", "red")
    assert table["air_min"] == pytest.approx(0.625)
    # Calibration per group: the exact two-sided binomial test of the defaults against the mean PD.
    assert rows["b"]["calibration_pvalue"] == pytest.approx(stats.binomtest(4, 10, 0.534).pvalue)
    assert rows["a"]["calibration_pvalue"] == pytest.approx(stats.binomtest(2, 10, 0.33).pvalue)
    # ROC-AUC where the group has enough defaults and payers (2 each here), none for the small group.
    assert rows["a"]["roc_auc"] == pytest.approx(roc_auc_score(Y_A, PD_A))
    assert rows["a"]["roc_auc_lower"] <= rows["a"]["roc_auc"] <= rows["a"]["roc_auc_upper"]
    assert np.isnan(rows["c"]["roc_auc"])


def test_the_findings_name_each_red_group_and_count_only_judged_ones() -> None:
    y, pd_values, groups = small_frame()
    findings = table_findings({"tipo_credito": group_table(y, pd_values, groups, SETTINGS)})
    assert findings["red"] == ["product b adverse impact ratio"]
    assert sum(findings["lights"].values()) == 4  # AIR and calibration of a and b; c is not judged


def test_the_bootstrap_gives_intervals_around_the_estimates_and_repeats_with_its_seed() -> None:
    y, pd_values, groups = small_frame()
    settings = GroupSettings(**{**SETTINGS.__dict__, "bootstrap_samples": 30})
    first, second = group_table(y, pd_values, groups, settings), group_table(y, pd_values, groups, settings)
    assert pd.DataFrame(first["groups"]).equals(pd.DataFrame(second["groups"]))  # NaN-aware: c has no ROC-AUC
    assert first["air_min_lower"] == second["air_min_lower"]
    rows = {row["group"]: row for row in first["groups"]}
    for name in ("a", "b"):
        assert 0 <= rows[name]["approval_lower"] <= rows[name]["approval_rate"] <= rows[name]["approval_upper"] <= 1
    assert rows["b"]["air_lower"] <= rows["b"]["air"] <= rows["b"]["air_upper"] <= 1
    assert rows["a"]["air_lower"] is None and rows["c"]["approval_lower"] is None
    assert first["air_min_lower"] <= first["air_min"] <= first["air_min_upper"]


def test_age_bands_and_segments_group_as_the_params_say() -> None:
    assert age_band_labels([25, 35, 45, 62]) == ["<25", "25-34", "35-44", "45-61", "62+"]
    ages = pd.Series([19.0, 24.0, 25.0, 61.0, 62.0, 69.0, np.nan])
    assert age_bands(ages, [25, 35, 45, 62]).tolist() == ["<25", "<25", "25-34", "45-61", "62+", "62+", "unknown"]
    codes = pd.Series(["4"] * 40 + ["9"] * 35 + ["10", "68", "6"] + [None], name="tipo_credito", dtype="string")
    grouped, rare = segment_groups(codes, min_rows=30)
    assert rare == ["6", "10", "68"] and grouped.value_counts().to_dict() == {"4": 40, "9": 35, "other": 3,
                                                                               "unknown": 1}
    numbers, _ = segment_groups(pd.Series([4.0] * 5 + [9.0] * 5), min_rows=1)
    assert sorted(set(numbers)) == ["4", "9"]


# ---------------------------------------------------------------- the Regulation B age check

FAIRNESS = shipped(FairnessParams, bootstrap_samples=0)


def test_the_age_check_is_red_on_a_model_made_to_penalise_applicants_62_and_over() -> None:
    loans = make_loans(3000, seed=11)
    elderly = loans["edad_cliente"].to_numpy() >= 62
    rng = np.random.default_rng(5)
    loans[TARGET] = np.where(elderly & (rng.random(len(loans)) < 0.5), 0, loans[TARGET])  # 62+ default far more
    bundle = fitted_bundle(loans, "hist_gradient_boosting", monotone=False)
    check = elderly_age_check(bundle, loans, bundle.predict_pd(loans), FAIRNESS)
    assert check["rows"] == int(elderly.sum()) and check["reference_age"] < 62
    assert check["light"] == "red"
    assert check["attribution"]["rows_raised"] > 0.9 * check["rows"] and check["attribution"]["mean"] > 0
    assert check["what_if"]["rows_raised"] > 0.9 * check["rows"]
    assert check["what_if"]["mean_pd"] > check["what_if"]["mean_pd_at_reference_age"]
    constrained = fitted_bundle(loans, "hist_gradient_boosting")  # the shipped direction: age never raises the PD
    assert elderly_age_check(constrained, loans, constrained.predict_pd(loans), FAIRNESS)["light"] == "green"


def test_the_age_check_is_green_when_age_only_lowers_the_pd_of_applicants_62_and_over() -> None:
    loans = make_loans(3000, seed=12)  # the default rate falls with age, and a linear model follows it
    bundle = fitted_bundle(loans, "logistic")
    check = elderly_age_check(bundle, loans, bundle.predict_pd(loans), FAIRNESS)
    assert check["rows"] > 100 and check["light"] == "green"
    assert check["attribution"]["rows_raised"] == 0 and check["attribution"]["max"] <= 0
    assert check["what_if"]["rows_raised"] == 0 and check["what_if"]["better_band_at_reference_age"] == 0


def test_a_tolerance_lets_a_small_rise_through_and_no_elderly_applicant_is_not_judged() -> None:
    loans = make_loans(3000, seed=11)
    elderly = loans["edad_cliente"].to_numpy() >= 62
    loans[TARGET] = np.where(elderly & (np.random.default_rng(5).random(len(loans)) < 0.5), 0, loans[TARGET])
    bundle = fitted_bundle(loans, "hist_gradient_boosting", monotone=False)
    lenient = shipped(FairnessParams, bootstrap_samples=0, age_check_tolerance=50.0)
    assert elderly_age_check(bundle, loans, bundle.predict_pd(loans), lenient)["light"] == "green"
    young = loans.loc[~elderly]
    assert elderly_age_check(bundle, young, bundle.predict_pd(young), FAIRNESS)["light"] is None


def test_a_labelled_drift_window_gets_the_segment_tables_and_an_unlabelled_one_none() -> None:
    loans = make_loans(1500, seed=13)
    bundle = fitted_bundle(loans, "logistic")
    pd_values = bundle.predict_pd(loans)
    found = window_segments(loans, pd_values, bundle, FAIRNESS, 0.05, 0.01)["segments"]
    assert set(found["tables"]) == {"age_band", "tipo_credito", "tipo_laboral"}
    assert found["tables"]["tipo_credito"]["grouped_as_other"] == []  # one rare code ("10") is not grouped alone
    assert all(row["approval_lower"] is None for row in found["tables"]["age_band"]["groups"])  # no bootstrap
    unlabelled = loans.assign(**{TARGET: np.nan})
    assert window_segments(unlabelled, pd_values, bundle, FAIRNESS, 0.05, 0.01) == {}
    assert window_segments(loans, pd_values, bundle, None, 0.05, 0.01) == {}
