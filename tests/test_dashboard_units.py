"""The dashboard's plain parts: artifact loaders, released versions via DVC, advice, exploration tables."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.data import exploration
from dashboard import advice, loaders, reports
from dashboard.components import by_severity
from tests.dashboard_support import write_artifact_set

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def test_paths_default_to_the_documented_locations_and_follow_the_environment():
    defaults = loaders.DashboardPaths.from_environment({})
    assert defaults.drift_summary == Path("reports/drift/summary.json")
    assert defaults.train == Path("data/prepared/train.parquet")
    assert defaults.model_card == Path("models/model_card.json")
    assert defaults.prediction_log == Path("data/monitoring/predictions.sqlite")
    assert defaults.repo_dir == Path(".")
    moved = loaders.DashboardPaths.from_environment({"CREDITRISK_REPORTS_DIR": "/srv/r", "CREDITRISK_REPO_DIR": "/x"})
    assert moved.drift_features == Path("/srv/r/drift/features.csv")
    assert moved.repo_dir == Path("/x")


def test_missing_artifacts_read_as_none(tmp_path):
    assert loaders.read_json(tmp_path / "absent.json") is None
    assert loaders.read_csv(tmp_path / "absent.csv") is None
    assert loaders.read_parquet(tmp_path / "absent.parquet") is None
    assert loaders.read_drift_windows(tmp_path / "absent.json") is None
    assert loaders.read_api_activity(tmp_path / "absent.sqlite") is None


def test_a_corrupt_artifact_names_the_file(tmp_path):
    broken = tmp_path / "summary.json"
    broken.write_text("{not json")
    with pytest.raises(loaders.UnreadableArtifact, match="summary.json is not valid JSON"):
        loaders.read_json(broken)
    wrong_shape = tmp_path / "windows.json"
    wrong_shape.write_text(json.dumps({"window": "2026-01"}))
    with pytest.raises(loaders.UnreadableArtifact, match="windows.json should hold a list"):
        loaders.read_drift_windows(wrong_shape)


def test_a_rewritten_artifact_is_read_again(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"roc_auc": 0.6}))
    assert loaders.read_json(path) == {"roc_auc": 0.6}
    path.write_text(json.dumps({"roc_auc": 0.7}))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert loaders.read_json(path) == {"roc_auc": 0.7}


def test_windows_come_back_in_time_order(tmp_path):
    path = tmp_path / "windows.json"
    path.write_text(json.dumps([{"window": "2026-02", "rows": 2}, {"window": "2026-01", "rows": 1}]))
    assert loaders.read_drift_windows(path)["window"].tolist() == ["2026-01", "2026-02"]


def test_the_validation_pack_and_the_vintages_are_read_where_the_stages_write_them(tmp_path):
    environment = write_artifact_set(tmp_path)
    where = loaders.DashboardPaths.from_environment(environment)
    assert where.validation == tmp_path / "reports" / "validation.json"
    assert where.vintages == tmp_path / "reports" / "vintages.csv"
    pack = loaders.read_validation(where.validation)
    assert pack["discrimination"]["roc_auc"] == 0.702 and pack["red"] == ["band E binomial", "band E jeffreys",
                                                                            "Regulation B age check"]
    vintages = loaders.read_vintages(where.vintages)
    assert vintages["vintage"].tolist() == sorted(vintages["vintage"]) and vintages["vintage"].iloc[0] == "2024-11"
    assert vintages["mature"].dtype == bool and vintages["mature"].sum() == 15
    assert loaders.read_validation(tmp_path / "absent.json") is None
    assert loaders.read_vintages(tmp_path / "absent.csv") is None


def test_a_vintage_table_or_pack_in_another_shape_is_named(tmp_path):
    table = tmp_path / "vintages.csv"
    table.write_text("vintage,loans,default_rate,mature\n2025-02,10,0.1,maybe\n2025-01,10,0.1,True\n")
    with pytest.raises(loaders.UnreadableArtifact, match="'mature' should be True or False"):
        loaders.read_vintages(table)
    other = tmp_path / "months.csv"
    other.write_text("month,loans\n2025-01,10\n")
    with pytest.raises(loaders.UnreadableArtifact, match=r"no column\(s\) \['vintage', 'default_rate', 'mature'\]"):
        loaders.read_vintages(other)
    pack = tmp_path / "validation.json"
    pack.write_text(json.dumps([{"roc_auc": 0.7}]))
    with pytest.raises(loaders.UnreadableArtifact, match="validation.json should hold the validation pack"):
        loaders.read_validation(pack)


def test_model_comparison_reads_the_records_the_train_stage_writes_under_models(tmp_path):
    records = [{"model": "logistic", "roc_auc_mean": 0.66}]
    written, other = tmp_path / "written.json", tmp_path / "other.json"
    written.write_text(json.dumps({"select_metric": "roc_auc", "selected": "logistic", "folds": 5, "models": records}))
    other.write_text(json.dumps(records))
    assert loaders.read_model_comparison(written)["roc_auc_mean"].tolist() == [0.66]
    with pytest.raises(loaders.UnreadableArtifact, match="one record per candidate model under 'models'"):
        loaders.read_model_comparison(other)


def test_api_activity_counts_recent_rows_per_day_read_only(tmp_path):
    write_artifact_set(tmp_path, now=NOW)
    log = tmp_path / "data" / "monitoring" / "predictions.sqlite"
    with sqlite3.connect(log) as connection:
        connection.execute(
            "INSERT INTO predictions (logged_at, request_id, model_version, row_index, pd, band, decision) "
            "VALUES ('2025-01-01T00:00:00+00:00', 'old', '1.0.0', 0, 0.1, 'C', 'approve')"
        )
    connection.close()
    activity = loaders.read_api_activity(log, days=30, now=NOW)
    assert activity.total_rows == 10 + 11 + 12 + 13 + 14 + 1
    assert activity.recent_rows == 60
    assert activity.daily["day"].tolist() == ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10"]
    assert activity.daily["rows"].tolist() == [14, 13, 12, 11, 10]
    assert activity.model_versions == ["1.1.0"]
    assert activity.last_logged_at.startswith("2026-03-10T12:00:00")


def _git(repo: Path, *args: str) -> None:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
                   "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=environment)


def test_released_metrics_reads_existing_tags_and_names_the_missing_ones(tmp_path):
    repo = tmp_path / "repo"
    (repo / "reports").mkdir(parents=True)
    _git(repo, "init", "-q")
    no_analytics = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=repo, check=True, env=no_analytics)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "config", "core.analytics", "false"], cwd=repo,
                   check=True, env=no_analytics)
    metrics = repo / "reports" / "metrics.json"
    metrics.write_text(json.dumps({"roc_auc": 0.64, "brier": 0.05, "bands": {"A": {"share": 1.0}}}))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "baseline")
    _git(repo, "tag", "-a", "v1.0.0", "-m", "baseline")
    metrics.write_text(json.dumps({"roc_auc": 0.71, "brier": 0.045}))

    released = loaders.read_released_metrics(str(repo), ("v1.0.0", "v1.1.0"))

    assert released.missing_tags == ["v1.1.0"]
    assert list(released.versions) == ["v1.0.0", "workspace"]
    assert released.versions["v1.0.0"] == {"roc_auc": 0.64, "brier": 0.05}
    assert released.versions["workspace"]["roc_auc"] == 0.71
    assert released.problems == {}


def test_released_metrics_outside_a_repository_reports_a_problem(tmp_path):
    released = loaders.read_released_metrics(str(tmp_path), ("v1.0.0",))
    assert released.versions == {}
    assert released.missing_tags == ["v1.0.0"]
    assert "not a DVC repository" in released.problems["repository"]


def test_next_steps_groups_alerts_by_first_window():
    summary = {"status": "alert", "latest_window": "2026-04", "features_in_alert": {
        "salario_cliente": "2026-03", "tipo_credito": "2026-03", "huella_consulta": "2026-04"}}
    steps = advice.next_steps(summary)
    assert steps[0] == "2 features in alert since 2026-03: review salario_cliente, tipo_credito on the Drift page."
    assert steps[1].startswith("1 feature in alert since 2026-04: review huella_consulta")
    assert len(steps) == 2


def test_next_steps_shows_the_retraining_verdict_the_stage_wrote():
    summary = {"status": "alert", "latest_window": "2026-02", "features_in_alert": {"tipo_credito": "2026-02"},
               "latest_labelled_window": "2026-01", "latest_labelled_delta_roc_auc": -0.08, "retraining_review": True}
    steps = advice.next_steps(summary)
    assert steps[0].startswith("1 feature in alert since 2026-02")
    assert steps[1] == ("ROC-AUC in 2026-01 is 0.080 below the out-of-time test: consider retraining "
                        "(Performance over time page).")
    assert len(advice.next_steps({**summary, "retraining_review": False})) == 1, "the verdict, not the drop, decides"


def test_next_steps_when_quiet_or_not_run():
    assert advice.next_steps({"status": "ok", "latest_window": "2026-01", "features_in_alert": {}}) == [
        "No feature is in alert and performance holds: nothing to do this week."
    ]
    assert "dvc repro drift" in advice.next_steps(None)[0]
    assert advice.next_steps({"status": "warn", "latest_window": "2026-01", "reason": "3 in warn"}) == [
        "The latest window is in warn (3 in warn): keep watching the next window."
    ]
    assert advice.next_steps({"status": "alert", "latest_window": "2026-01", "reason": "score alert: PSI 0.3"}) == [
        "The latest window is in alert (score alert: PSI 0.3): review it on the Drift page."
    ]
    assert advice.next_steps({"status": "warn", "latest_window": None})[0].startswith(
        "No incoming data has been monitored yet"
    )


def test_severity_order_is_alert_warn_ok_then_largest_psi():
    table = pd.DataFrame({"feature": list("abcd"), "level": ["ok", "alert", "warn", "alert"],
                          "psi": [0.01, 0.3, 0.2, 0.5]})
    assert by_severity(table)["feature"].tolist() == ["d", "b", "c", "a"]


def test_default_rate_by_bins_numeric_with_missing_bin():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, np.nan, np.nan], "Pago_atiempo": [1, 1, 0, 0, 0, 1.0]})
    table = exploration.default_rate_by_bins(frame, "x", bins=2)
    assert table["bin"].tolist() == ["(0.999, 2.5]", "(2.5, 4]", "missing"]
    assert table["rows"].tolist() == [2, 2, 2]
    assert table["default_rate"].tolist() == [0.0, 1.0, 0.5]


def test_default_rate_by_bins_categorical_skips_unlabelled_rows():
    frame = pd.DataFrame({"c": pd.Series(["4", "9", "9", "4", None], dtype="str"),
                          "Pago_atiempo": [1.0, 0.0, 1.0, np.nan, 0.0]})
    table = exploration.default_rate_by_bins(frame, "c")
    assert table.to_dict("list") == {"bin": ["4", "9", "missing"], "rows": [1, 2, 1], "default_rate": [0.0, 0.5, 1.0]}


def test_default_rate_by_bins_refuses_zero_bins():
    with pytest.raises(ValueError, match="bins must be at least 1"):
        exploration.default_rate_by_bins(pd.DataFrame({"x": [1.0], "Pago_atiempo": [1.0]}), "x", bins=0)


def test_correlation_matrix_is_spearman_and_drops_constant_columns():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 4.0, 9.0, 16.0], "c": [5.0] * 4,
                          "d": [4.0, 3.0, 2.0, 1.0]})
    matrix = exploration.correlation_matrix(frame)
    assert list(matrix.columns) == ["a", "b", "d"]
    assert matrix.loc["a", "b"] == pytest.approx(1.0)
    assert matrix.loc["a", "d"] == pytest.approx(-1.0)


def test_column_kinds_leave_the_target_out():
    frame = pd.DataFrame({"x": [1.0], "c": pd.Series(["4"], dtype="str"), "flag": [True], "Pago_atiempo": [1.0]})
    assert exploration.numeric_columns(frame) == ["x"]
    assert exploration.categorical_columns(frame) == ["c"]


def test_report_tables_reshape_what_prepare_and_featurize_wrote(tmp_path):
    write_artifact_set(tmp_path, now=NOW)
    quality = json.loads((tmp_path / "reports" / "data_quality.json").read_text())
    leakage = json.loads((tmp_path / "reports" / "leakage.json").read_text())
    assert reports.quality_rows(quality) == {"read": 520, "duplicates_dropped": 20, "written": 500, "train": 400,
                                             "test": 100}
    columns = reports.quality_columns_table(quality)
    assert columns["column"].tolist() == ["edad_cliente", "salario_cliente", "tipo_credito"]
    assert columns.loc[0, "nulled_by_rule"] == "placeholder: 6"
    assert list(columns.columns[2:4]) == ["nulled", "nulled_by_rule"], "nulled (of the rows read) before missing"
    split = reports.quality_split_table(quality)
    assert split["split"].tolist() == ["train", "test"] and split["rows"].tolist() == [400, 100]
    assert split["date_min"].tolist() == ["2024-11-01 08:00", "2026-01-01 08:00"]
    screened = reports.leakage_table(leakage)
    assert screened["column"].tolist() == ["puntaje", "puntaje_datacredito"]
    assert list(screened.columns[:2]) == ["column", "dropped"]
    assert screened.loc[0, "reasons"].startswith("rank_auc 1.0000")
    assert reports.quality_columns_table({}) is None and reports.leakage_table({"columns": "?"}) is None


def test_the_quality_table_says_why_a_column_has_fewer_missing_values_than_it_had_nulled():
    """salario_cliente on the sample: 43 values nulled in the 10,800 rows read, 42 missing in the 10,630 written,
    because one nulled salary belongs to a loan younger than the performance window, left out of the labels."""
    report = {"rows": {"read": 10800, "duplicates_dropped": 22, "written": 10630},
              "maturity": {"immature_loans": 148, "immature_excluded_from_labels": True},
              "columns": {"salario_cliente": {"dtype": "float64", "missing": 42, "missing_share": 0.003951,
                                              "nulled_by_rule": {"below_minimum": 16, "above_maximum": 27}}}}
    labels, note = reports.quality_counts_note(report)
    assert labels == {"nulled": "nulled (of 10,800 read)", "missing": "missing (of 10,630 written)"}
    assert "after 22 duplicates and 148 loans younger than the performance window were left out" in note
    assert reports.quality_columns_table(report).loc[0, ["nulled", "missing"]].tolist() == [43, 42]
    kept = {**report, "maturity": {"immature_loans": 148, "immature_excluded_from_labels": False}}
    assert "after 22 duplicates were left out" in reports.quality_counts_note(kept)[1]
    assert reports.quality_counts_note({}) is None


def test_the_reference_applicant_shows_money_with_its_currency():
    assert reports.reference_value("capital_prestado", 1900000.0) == "1,900,000 COP"
    assert reports.reference_value("plazo_meses", 10.0) == "10"
    assert reports.reference_value("puntaje_datacredito", 791.5) == "791.5"
    assert reports.reference_value("tendencia_ingresos", "Creciente") == "Creciente"
    assert reports.reference_value("tendencia_ingresos", None) == ""


def test_comparison_display_table_writes_mean_plus_minus_std():
    comparison = pd.DataFrame({"model": ["logistic"], "roc_auc_mean": [0.61254], "roc_auc_std": [0.0057],
                               "brier_mean": [0.045]})
    table = reports.comparison_display_table(comparison, ["roc_auc", "brier"])
    assert table.to_dict("records") == [{"model": "Logistic regression", "roc_auc": "0.6125 ± 0.0057",
                                         "brier": "0.0450 ± 0.0000"}]


def test_the_release_list_without_git_on_the_path_shows_the_record_only(tmp_path, monkeypatch):
    from creditrisk.releases.record import Release, render_releases
    (tmp_path / "releases.yaml").write_text(render_releases([Release("1.0.0", "a" * 40, "2026-01-01", "x")], ""))
    monkeypatch.setenv("PATH", str(tmp_path / "no-such-dir"))
    listed = loaders.read_release_list(str(tmp_path))
    assert [release.tag for release in listed.releases] == ["v1.0.0"] and listed.unrecorded_tags == []


def test_band_points_and_reference_applicant_tables_reshape_the_model_card():
    from creditrisk.modeling.reasons import reason_catalogue
    from dashboard import reports

    bands = [{"name": "A", "upper_pd": 0.02, "pd_above": 0.0, "pd_up_to": 0.02, "points_from": 600.3,
              "points_to": None},
             {"name": "B", "upper_pd": 1.0, "pd_above": 0.02, "pd_up_to": None, "points_from": None,
              "points_to": 600.3}]
    table = reports.band_points_table(bands)
    assert table["band"].tolist() == ["A", "B"]
    assert table.loc[0, "points from"] == table.loc[1, "points to"] == 600.3
    reference = reports.reference_applicant_table({"debt_to_income": 0.06, "tipo_laboral": "Empleado",
                                                   "not_in_catalogue": None}, reason_catalogue())
    assert reference["reason code"].tolist() == ["CR21", "CR05", ""]
    assert reference.loc[1, "motivo (es)"] == "Tipo de vinculación laboral"
    assert reference.loc[2, "reference value"] == ""


PD_LEVEL = {"latest_calibration_window": "2026-03", "latest_calibration_level": "alert",
            "latest_calibration_reason": "90 defaults vs 55.0 expected, ratio 1.64 (95% interval 1.32-2.01), exact p 3e-05"}


def test_next_steps_shows_the_pd_level_verdict_and_the_review_the_stage_named():
    summary = {"status": "alert", "latest_window": "2026-04", "features_in_alert": {}, "reason": "PD level alert",
               "latest_labelled_window": "2026-03", "latest_labelled_delta_roc_auc": 0.01, "retraining_review": True,
               "review_action": "recalibrate", **PD_LEVEL}
    assert advice.next_steps(summary) == [
        "The PD level of 2026-03 is in alert (90 defaults vs 55.0 expected, ratio 1.64 (95% interval 1.32-2.01), "
        "exact p 3e-05). The ranking holds: check the data, then recalibrate on the latest matured months "
        "(Performance over time page; README, When the PD level moves).",
        "The latest window is in alert (PD level alert): review it on the Drift page.",
    ], "a ROC-AUC that holds is not called a drop"
    both = advice.next_steps({**summary, "review_action": "retrain", "latest_labelled_delta_roc_auc": -0.11})
    assert both[0] == ("ROC-AUC in 2026-03 is 0.110 below the out-of-time test: consider retraining "
                       "(Performance over time page).")
    assert both[1].endswith("The ranking fell too: retrain rather than recalibrate (Performance over time page; "
                            "README, When the PD level moves).")
    quiet = {**summary, "latest_calibration_level": "ok", "review_action": None, "retraining_review": False}
    assert not any("PD level of" in step for step in advice.next_steps(quiet))


def test_the_benchmark_table_puts_the_scorecard_beside_the_served_model():
    card = {"model": "hist_gradient_boosting", "monotone": True, "development_roc_auc": 0.68,
            "development_roc_auc_se": 0.02, "test_metrics": {"roc_auc": 0.73},
            "benchmark": {"model": "scorecard", "development_roc_auc": 0.67, "development_roc_auc_se": 0.024,
                          "test_metrics": {"roc_auc": 0.72},
                          "points_table": [{"characteristic": "edad_cliente", "bin": "[62, +inf)", "kind": "range",
                                            "woe": 0.52, "points": 47.8}]}}
    table = reports.benchmark_table(card)
    assert table["model"].tolist() == ["Gradient boosting, monotone", "Points scorecard, monotone"]
    assert table["out-of-time ROC-AUC"].tolist() == [0.73, 0.72]
    points = reports.points_table(card["benchmark"]["points_table"])
    assert points.to_dict(orient="records") == [{"characteristic": "edad_cliente", "bin": "≥ 62", "points": 47.8,
                                                 "woe": 0.52}]
