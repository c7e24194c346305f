"""The monitoring rules at their boundaries: each cut-off exactly at, just below and just above its value.

Cut-offs come from the shipped params.yaml, so the tests follow the configuration the pipeline runs.
A value at a cut-off reaches its level; "just below" and "just above" are the neighbouring floats.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from creditrisk.monitoring.drift import judge_features, DriftParams, FeatureDrift
from creditrisk.monitoring.rules import (
    calibration_severity,
    calibration_verdict,
    drifted_share,
    feature_verdict,
    level_counts,
    performance_severity,
    estimated_performance_severity,
    red_band_count,
    retraining_review,
    review_action,
    statistic_levels,
    window_verdict,
    Cutoffs,
    Verdict,
    LEVELS,
)
from creditrisk.params import ParamsError
from tests.shipped import shipped

PARAMS = shipped(DriftParams)
RULES = PARAMS.rules
ROWS = 1000
FEATURES = 20
SIGNIFICANT = 1e-9


def below(value: float) -> float:
    return float(np.nextafter(value, -np.inf))


def above(value: float) -> float:
    return float(np.nextafter(value, np.inf))


def feature(kind: str = "numeric", **values: float | str) -> FeatureDrift:
    """A feature with no shift and significant tests, so the effect sizes alone decide."""
    numeric = kind == "numeric"
    statistics: dict = dict(
        feature="x", kind=kind, status="ok", rows=ROWS, values=ROWS, missing_share_ref=0.0, missing_share_cur=0.0,
        missing_share_change=0.0, missing_pvalue=1.0, missing_pvalue_adj=1.0, psi=0.0, js=0.0,
        ks_stat=0.0 if numeric else math.nan, ks_pvalue_adj=SIGNIFICANT if numeric else math.nan,
        chi2_pvalue_adj=math.nan if numeric else SIGNIFICANT,
    )
    return FeatureDrift(**{**statistics, **values})


def level_of(**values: float | str) -> str:
    return feature_verdict(feature(**values), RULES, ROWS).level


# (statistic as FeatureDrift field, its cut-offs, the kinds it judges)
EFFECTS = [
    ("psi", RULES.psi, ("numeric", "categorical")),
    ("js", RULES.js, ("numeric", "categorical")),
    ("ks_stat", RULES.ks, ("numeric",)),
]
BOUNDARY_CASES = [
    (name, cutoffs, kind, cut, offset)
    for name, cutoffs, kinds in EFFECTS for kind in kinds for cut in ("warn", "alert") for offset in ("below", "at", "above")
]


def expected_level(cut: str, offset: str) -> str:
    reached = LEVELS.index(cut) - (offset == "below")
    return LEVELS[reached]


@pytest.mark.parametrize(("name", "cutoffs", "kind", "cut", "offset"), BOUNDARY_CASES,
                         ids=[f"{n}-{k}-{c}-{o}" for n, _, k, c, o in BOUNDARY_CASES])
def test_each_effect_size_at_below_and_above_its_cutoffs(name: str, cutoffs: Cutoffs, kind: str, cut: str,
                                                         offset: str) -> None:
    value = getattr(cutoffs, cut)
    value = {"below": below(value), "at": value, "above": above(value)}[offset]
    assert level_of(kind=kind, **{name: value}) == expected_level(cut, offset)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["rise", "fall"])
@pytest.mark.parametrize("cut", ["warn", "alert"])
@pytest.mark.parametrize("offset", ["below", "at", "above"])
def test_the_missing_share_change_at_below_and_above_its_cutoffs(sign: float, cut: str, offset: str) -> None:
    value = getattr(RULES.missing, cut)
    change = sign * {"below": below(value), "at": value, "above": above(value)}[offset]
    result = feature(missing_share_change=change, missing_pvalue_adj=SIGNIFICANT)
    assert feature_verdict(result, RULES, ROWS).level == expected_level(cut, offset)


def test_a_feature_in_warn_is_warn_with_its_reason() -> None:
    shift = (RULES.psi.warn + RULES.psi.alert) / 2
    assert feature_verdict(feature(psi=shift), RULES, ROWS) == Verdict("warn", f"PSI {shift:.3f}; KS p_adj 1e-09")
    categorical = feature(kind="categorical", js=RULES.js.warn)
    assert feature_verdict(categorical, RULES, ROWS) == Verdict("warn", f"JS {RULES.js.warn:.3f}; chi2 p_adj 1e-09")


def test_the_level_is_the_highest_any_statistic_reaches_and_the_reason_names_those() -> None:
    verdict = feature_verdict(feature(psi=RULES.psi.warn, js=RULES.js.alert, ks_stat=RULES.ks.alert), RULES, ROWS)
    assert verdict == Verdict("alert", f"JS {RULES.js.alert:.3f}, KS {RULES.ks.alert:.3f}; KS p_adj 1e-09")


def test_a_categorical_feature_ignores_the_ks_cutoffs() -> None:
    assert level_of(kind="categorical", ks_stat=1.0) == "ok"


def test_a_missing_statistic_reaches_no_level() -> None:
    assert level_of(psi=math.nan, js=math.inf) == "ok"
    assert Cutoffs(0.1, 0.2).severity(math.nan) == 0


@pytest.mark.parametrize(("pvalue", "level"), [(below(PARAMS.alpha), "alert"), (PARAMS.alpha, "ok"),
                                               (above(PARAMS.alpha), "ok")])
def test_an_effect_counts_only_when_its_adjusted_test_is_below_alpha(pvalue: float, level: str) -> None:
    verdict = feature_verdict(feature(psi=RULES.psi.alert, ks_pvalue_adj=pvalue), RULES, ROWS)
    assert verdict.level == level
    if level == "ok":
        assert verdict.reason == f"PSI {RULES.psi.alert:.3f} but KS p_adj {pvalue:.2g} >= alpha {PARAMS.alpha}"


def test_a_significant_test_without_an_effect_is_ok_and_says_so() -> None:
    verdict = feature_verdict(feature(psi=below(RULES.psi.warn)), RULES, ROWS)
    assert verdict == Verdict("ok", "KS p_adj 1e-09 significant but effect below the minimum")


def test_a_missing_share_jump_needs_its_own_adjusted_test() -> None:
    jump = feature(missing_share_change=RULES.missing.alert, missing_share_cur=RULES.missing.alert, ks_pvalue_adj=0.5)
    assert feature_verdict(replace(jump, missing_pvalue_adj=PARAMS.alpha), RULES, ROWS).level == "ok"
    verdict = feature_verdict(replace(jump, missing_pvalue_adj=SIGNIFICANT), RULES, ROWS)
    assert verdict == Verdict("alert", f"missing share 0.0% -> {RULES.missing.alert:.1%} (p_adj 1e-09)")


@pytest.mark.parametrize(("rows", "judged"), [(PARAMS.min_window_rows - 1, False), (PARAMS.min_window_rows, True)])
def test_a_feature_in_a_window_below_min_window_rows_is_not_judged(rows: int, judged: bool) -> None:
    verdict = feature_verdict(feature(psi=RULES.psi.alert, status="constant"), RULES, rows)
    assert verdict.level == ("alert" if judged else "ok")
    if not judged:
        assert verdict.reason == f"constant; {rows} rows < min_window_rows {PARAMS.min_window_rows}: not judged"


@pytest.mark.parametrize(("method", "levels"), [("holm", ["ok", "ok"]), ("bh", ["warn", "warn"]),
                                                ("none", ["warn", "warn"])])
def test_the_multiplicity_correction_changes_the_verdict(method: str, levels: list[str]) -> None:
    """Two warn-sized shifts with raw KS p 0.03 and 0.04: Holm makes both 0.06 (not significant), BH 0.04."""
    params = replace(PARAMS, p_adjust=method)
    shift = (RULES.psi.warn + RULES.psi.alert) / 2
    results = [feature(psi=shift, ks_pvalue=0.03), feature(psi=shift, ks_pvalue=0.04)]
    judge_features(results, params, ROWS)
    assert [result.level for result in results] == levels
    if method == "holm":
        assert [result.ks_pvalue_adj for result in results] == pytest.approx([0.06, 0.06])
        assert results[0].reason == f"PSI {shift:.3f} but KS p_adj 0.06 >= alpha {PARAMS.alpha}"


def test_each_statistic_has_its_own_level_and_the_feature_the_highest() -> None:
    """PSI in alert, JS in warn, KS below its cut-off, the missing share unchanged: the feature is in alert,
    while its missing-share chart should not paint the unchanged share red."""
    stats = feature(psi=RULES.psi.alert, js=RULES.js.warn, ks_stat=below(RULES.ks.warn))
    levels = statistic_levels(stats, RULES, ROWS)
    assert levels == {"psi": "alert", "js": "warn", "ks_stat": "ok", "missing_share_change": "ok"}
    assert feature_verdict(stats, RULES, ROWS).level == max(levels.values(), key=LEVELS.index)
    jump = feature(kind="categorical", missing_share_change=RULES.missing.alert, missing_pvalue_adj=SIGNIFICANT)
    assert statistic_levels(jump, RULES, ROWS) == {"psi": "ok", "js": "ok", "missing_share_change": "alert"}
    not_significant = feature(psi=RULES.psi.alert, ks_pvalue_adj=PARAMS.alpha)
    assert statistic_levels(not_significant, RULES, ROWS)["psi"] == "ok", "an effect counts with its test only"
    assert statistic_levels(stats, RULES, PARAMS.min_window_rows - 1) == {}, "a window too small is not judged"


def test_judged_features_carry_their_statistics_levels_into_the_report() -> None:
    results = [feature(psi=RULES.psi.alert, ks_pvalue=SIGNIFICANT),
               feature(kind="categorical", js=RULES.js.warn, chi2_pvalue=SIGNIFICANT)]
    judge_features(results, PARAMS, ROWS)
    assert [(r.level, r.psi_level, r.js_level, r.ks_stat_level, r.missing_share_change_level) for r in results] == [
        ("alert", "alert", "ok", "ok", "ok"), ("warn", "ok", "warn", "", "ok")]


def window_status(levels: list[str], score: Verdict | None = None, perf: dict | None = None,
                  rows: int = ROWS, **overrides: float) -> str:
    rules = replace(RULES, **overrides)
    return window_verdict(levels, score, perf or {"labelled_rows": 0}, rows, rules).level


def levels_with(warn: int = 0, alert: int = 0, features: int = FEATURES) -> list[str]:
    return ["alert"] * alert + ["warn"] * warn + ["ok"] * (features - warn - alert)


def test_the_window_warn_share_at_below_and_above() -> None:
    share = RULES.dataset_warn_share
    drifted = round(share * FEATURES)
    assert drifted / FEATURES == share, "the shipped share is a whole number of 20 features"
    assert window_status(levels_with(warn=drifted)) == "warn"
    assert window_status(levels_with(warn=drifted - 1)) == "ok"
    assert window_status(levels_with(warn=drifted), dataset_warn_share=above(share)) == "ok"
    assert window_status(levels_with(warn=drifted), dataset_warn_share=below(share)) == "warn"


def test_the_window_alert_share_at_below_and_above() -> None:
    share = RULES.dataset_alert_share
    in_alert = round(share * FEATURES)
    assert in_alert / FEATURES == share, "the shipped share is a whole number of 20 features"
    assert window_status(levels_with(alert=in_alert)) == "alert"
    assert window_status(levels_with(alert=in_alert - 1)) == "warn", "any feature in alert makes the window warn"
    assert window_status(levels_with(alert=in_alert), dataset_alert_share=above(share)) == "warn"
    assert window_status(levels_with(alert=in_alert), dataset_alert_share=below(share)) == "alert"


def test_the_window_reason_counts_the_features() -> None:
    verdict = window_verdict(levels_with(warn=2, alert=3), None, {}, ROWS, RULES)
    assert verdict == Verdict("alert", "3 feature(s) in alert, 2 in warn (25% drifted)")
    assert window_verdict(levels_with(), None, {}, ROWS, RULES) == Verdict("ok", "")


@pytest.mark.parametrize(("score", "status"), [("ok", "ok"), ("warn", "warn"), ("alert", "alert")])
def test_the_score_level_sets_the_window_status(score: str, status: str) -> None:
    verdict = window_verdict(levels_with(), Verdict(score, "PSI 0.300"), {}, ROWS, RULES)  # type: ignore[arg-type]
    assert verdict.level == status
    assert verdict.reason == ("" if score == "ok" else f"score {score}: PSI 0.300")


@pytest.mark.parametrize(("rows", "verdict"), [
    (0, Verdict("warn", "no rows in this window")),
    (PARAMS.min_window_rows - 1, Verdict(
        "warn", f"only {PARAMS.min_window_rows - 1} rows (< min_window_rows {PARAMS.min_window_rows}): not judged")),
])
def test_small_windows_are_warn_and_not_judged(rows: int, verdict: Verdict) -> None:
    assert window_verdict(levels_with(alert=FEATURES), None, {}, rows, RULES) == verdict


def test_a_window_of_min_window_rows_is_judged() -> None:
    assert window_status(levels_with(), rows=PARAMS.min_window_rows) == "ok"
    assert window_status(levels_with(alert=FEATURES), rows=PARAMS.min_window_rows) == "alert"


def perf(drop: float, defaults: int = PARAMS.min_labelled_defaults) -> dict:
    return {"roc_auc": 0.7 - drop, "delta_roc_auc": -drop, "defaults": defaults, "labelled_rows": 500}


@pytest.mark.parametrize("cut", ["warn", "alert"])
@pytest.mark.parametrize("offset", ["below", "at", "above"])
def test_the_roc_auc_drop_at_below_and_above_its_cutoffs(cut: str, offset: str) -> None:
    value = getattr(RULES.roc_auc_drop, cut)
    drop = {"below": below(value), "at": value, "above": above(value)}[offset]
    level = expected_level(cut, offset)
    assert LEVELS[performance_severity(perf(drop), RULES)] == level
    assert window_status(levels_with(), perf=perf(drop)) == level
    assert retraining_review(perf(drop), RULES) is (level != "ok")


def test_the_roc_auc_drop_alert_needs_the_minimum_labelled_defaults() -> None:
    drop = RULES.roc_auc_drop.alert
    assert window_status(levels_with(), perf=perf(drop, PARAMS.min_labelled_defaults)) == "alert"
    assert window_status(levels_with(), perf=perf(drop, PARAMS.min_labelled_defaults - 1)) == "ok"
    assert retraining_review(perf(drop, PARAMS.min_labelled_defaults - 1), RULES) is False
    assert performance_severity({"labelled_rows": 0}, RULES) == 0
    verdict = window_verdict(levels_with(), None, perf(drop), ROWS, RULES)
    assert verdict.reason == f"ROC-AUC {0.7 - drop:.3f}, {-drop:+.3f} vs out-of-time test"


def estimated_perf(drop: float, labelled_defaults: int = 0) -> dict:
    perf = {"estimated_roc_auc": 0.72 - drop, "delta_estimated_roc_auc": -drop, "labelled_rows": 0}
    if labelled_defaults:
        perf.update({"roc_auc": 0.7, "delta_roc_auc": 0.0, "defaults": labelled_defaults, "labelled_rows": 500})
    return perf


@pytest.mark.parametrize("cut", ["warn", "alert"])
@pytest.mark.parametrize("offset", ["below", "at", "above"])
def test_an_estimated_roc_auc_drop_sets_an_unlabelled_window_status(cut: str, offset: str) -> None:
    value = getattr(RULES.estimated_roc_auc_drop, cut)
    drop = {"below": below(value), "at": value, "above": above(value)}[offset]
    level = expected_level(cut, offset)
    assert LEVELS[estimated_performance_severity(estimated_perf(drop), RULES)] == level
    assert window_status(levels_with(), perf=estimated_perf(drop)) == level
    if level != "ok":
        verdict = window_verdict(levels_with(), None, estimated_perf(drop), ROWS, RULES)
        assert verdict.reason == (f"estimated ROC-AUC {0.72 - drop:.3f}, {-drop:+.3f} vs the reference's "
                                  "estimate (labels not in yet)")


def test_realised_performance_once_judged_outranks_the_estimate() -> None:
    drop = above(RULES.estimated_roc_auc_drop.alert)
    judged = estimated_perf(drop, labelled_defaults=PARAMS.min_labelled_defaults)
    assert estimated_performance_severity(judged, RULES) == 0
    assert window_status(levels_with(), perf=judged) == "ok"
    too_few = estimated_perf(drop, labelled_defaults=PARAMS.min_labelled_defaults - 1)
    assert window_status(levels_with(), perf=too_few) == "alert"


def test_a_rise_in_roc_auc_is_no_drop() -> None:
    assert performance_severity(perf(-0.2), RULES) == 0


def calibrated(ratio: float, pvalue: float = SIGNIFICANT, expected: float = 50.0, red_bands: int = 0,
               drop: float = 0.0) -> dict:
    """A labelled window's numbers as `run.window_calibration` records them, with a ROC-AUC that holds."""
    return {**perf(drop), "defaults": round(ratio * expected), "calibration_expected_defaults": expected,
            "calibration_ratio": ratio, "calibration_ratio_low": ratio * 0.8, "calibration_ratio_high": ratio * 1.2,
            "calibration_pvalue": pvalue, "calibration_method": "exact", "calibration_red_bands": red_bands}


@pytest.mark.parametrize("direction", ["observed above", "observed below"])
@pytest.mark.parametrize("cut", ["warn", "alert"])
@pytest.mark.parametrize("offset", ["below", "at", "above"])
def test_the_pd_level_ratio_at_below_and_above_its_cutoffs(direction: str, cut: str, offset: str) -> None:
    """The ratio observed / expected, or its inverse when the PDs are too high; 'below' a cut-off is nearer 1."""
    value = getattr(RULES.calibration_ratio, cut)
    departure = {"below": value * (1 - 1e-9), "at": value, "above": value * (1 + 1e-9)}[offset]
    ratio = departure if direction == "observed above" else 1.0 / departure
    level = expected_level(cut, offset)
    window = calibrated(ratio)
    assert calibration_verdict(window, RULES).level == level
    assert window_status(levels_with(), perf=window) == level
    assert retraining_review(window, RULES) is (level != "ok")
    assert review_action(window, RULES) == (None if level == "ok" else "recalibrate")


@pytest.mark.parametrize(("pvalue", "level"), [(below(PARAMS.alpha), "alert"), (PARAMS.alpha, "ok"),
                                               (above(PARAMS.alpha), "ok")])
def test_a_pd_level_gap_counts_only_when_its_test_is_below_alpha(pvalue: float, level: str) -> None:
    verdict = calibration_verdict(calibrated(2.0, pvalue=pvalue), RULES)
    assert verdict.level == level
    if level == "ok":
        assert verdict.reason.endswith(f"exact p {pvalue:.2g} >= alpha {PARAMS.alpha}")


def test_the_pd_level_verdict_says_what_it_saw() -> None:
    verdict = window_verdict(levels_with(), None, calibrated(1.6, expected=50.0), ROWS, RULES)
    assert verdict == Verdict("alert", "PD level alert: 80 defaults vs 50.0 expected, ratio 1.60 (95% interval "
                                       "1.28-1.92), exact p 1e-09")


def test_no_defaults_at_all_against_many_expected_is_an_alert() -> None:
    assert calibration_severity(calibrated(0.0), RULES) == 2


@pytest.mark.parametrize(("expected", "judged"), [
    (PARAMS.calibration_min_expected_defaults, True),
    (below(PARAMS.calibration_min_expected_defaults), False),
    (above(PARAMS.calibration_min_expected_defaults), True),
])
def test_a_window_with_too_few_expected_defaults_is_reported_not_judged(expected: float, judged: bool) -> None:
    verdict = calibration_verdict(calibrated(3.0, expected=expected), RULES)
    assert verdict.level == ("alert" if judged else "ok")
    if not judged:
        assert verdict.reason == (f"{expected:.1f} expected defaults < calibration_min_expected_defaults "
                                  f"{PARAMS.calibration_min_expected_defaults:g}: not judged")
        assert window_status(levels_with(), perf=calibrated(3.0, expected=expected, red_bands=5)) == "ok"


@pytest.mark.parametrize(("red_bands", "level"), [
    (PARAMS.calibration_red_bands - 1, "ok"), (PARAMS.calibration_red_bands, "warn"),
    (PARAMS.calibration_red_bands + 1, "warn"),
])
def test_red_bands_at_below_and_above_the_count_make_the_pd_level_warn(red_bands: int, level: str) -> None:
    assert PARAMS.calibration_red_bands >= 2, "one red band in five is too common to act on"
    verdict = calibration_verdict(calibrated(1.0, pvalue=0.9, red_bands=red_bands), RULES)
    assert verdict.level == level
    assert verdict.reason.endswith(f"; {red_bands} bands red") is (level == "warn")
    assert calibration_verdict(calibrated(1.6, red_bands=red_bands), RULES).level == "alert", "the ratio outranks"
    off = replace(RULES, calibration_red_bands=0)
    assert calibration_verdict(calibrated(1.0, pvalue=0.9, red_bands=red_bands), off).level == "ok"


def test_only_the_binomial_light_counts_a_red_band() -> None:
    tests = [{"binomial_light": "red", "jeffreys_light": "red"}, {"binomial_light": "yellow", "jeffreys_light": "red"},
             {"binomial_light": "red", "jeffreys_light": "yellow"}, {"binomial_light": "green"}]
    assert red_band_count(tests) == 2
    assert red_band_count([]) == 0


def test_a_window_without_labels_has_no_pd_level_and_a_fallen_roc_auc_asks_for_a_retraining() -> None:
    assert calibration_verdict({"labelled_rows": 0}, RULES) == Verdict("ok", "")
    both = calibrated(1.6, drop=RULES.roc_auc_drop.alert)
    assert review_action(both, RULES) == "retrain"
    assert review_action(perf(RULES.roc_auc_drop.warn), RULES) == "retrain"
    assert review_action(calibrated(1.0, pvalue=0.9), RULES) is None


def test_counts_and_shares() -> None:
    counts = level_counts(levels_with(warn=3, alert=2))
    assert counts == {"ok": 15, "warn": 3, "alert": 2}
    assert drifted_share(counts) == 0.25
    assert drifted_share(level_counts([])) == 0.0


def test_the_rules_recorded_in_the_summary_are_the_params() -> None:
    recorded = RULES.to_json()
    assert (recorded["alpha"], recorded["p_adjust"]) == (PARAMS.alpha, PARAMS.p_adjust)
    assert (recorded["min_window_rows"], recorded["min_labelled_defaults"]) == (PARAMS.min_window_rows,
                                                                              PARAMS.min_labelled_defaults)
    thresholds = recorded["thresholds"]
    for statistic, prefix in (("psi", "psi"), ("js", "js"), ("ks_stat", "ks"), ("missing_share_change", "missing"),
                              ("score_psi", "psi"), ("score_js", "js"), ("score_ks", "ks"),
                              ("roc_auc_drop", "roc_auc_drop")):
        assert thresholds[statistic] == {"warn": getattr(PARAMS, f"{prefix}_warn"),
                                         "alert": getattr(PARAMS, f"{prefix}_alert")}
    assert thresholds["share_drifted"] == {"warn": PARAMS.dataset_warn_share}
    assert thresholds["share_in_alert"] == {"alert": PARAMS.dataset_alert_share}
    assert recorded["band_tests"] == {"yellow_below": PARAMS.band_test_yellow, "red_below": PARAMS.band_test_red}
    assert thresholds["calibration_ratio"] == {"warn": PARAMS.calibration_ratio_warn,
                                               "alert": PARAMS.calibration_ratio_alert}
    assert recorded["calibration"] == {
        "min_expected_defaults": PARAMS.calibration_min_expected_defaults,
        "exact_below": PARAMS.calibration_exact_below, "red_bands": PARAMS.calibration_red_bands,
        "confidence": 1 - PARAMS.alpha}


@pytest.mark.parametrize(("warn", "alert", "wrong"), [
    (1.25, 1.25, None), (1.0, 1.5, "calibration_ratio_warn"), (1.6, 1.5, "calibration_ratio_warn"),
])
def test_the_pd_level_cutoffs_are_ratios_above_one_with_warn_at_or_below_alert(warn: float, alert: float,
                                                                                wrong: str | None) -> None:
    if wrong is None:
        rules = shipped(DriftParams, calibration_ratio_warn=warn, calibration_ratio_alert=alert).rules
        assert rules.calibration_ratio == Cutoffs(warn, alert)
        return
    with pytest.raises(ParamsError, match=f"drift.{wrong} = "):
        shipped(DriftParams, calibration_ratio_warn=warn, calibration_ratio_alert=alert)


@pytest.mark.parametrize(("yellow", "red", "wrong"), [
    (0.05, 0.05, None), (0.05, 0.06, "band_test_red"), (0.05, 0.0, "band_test_red"), (1.0, 0.01, "band_test_yellow"),
])
def test_the_band_test_levels_are_p_values_with_red_at_or_below_yellow(yellow: float, red: float,
                                                                        wrong: str | None) -> None:
    """The same order `creditrisk.modeling.validation.traffic_light` requires, named at load time."""
    if wrong is None:
        assert shipped(DriftParams, band_test_yellow=yellow, band_test_red=red).rules.band_test_red == red
        return
    with pytest.raises(ParamsError, match=f"drift.{wrong} = "):
        shipped(DriftParams, band_test_yellow=yellow, band_test_red=red)
