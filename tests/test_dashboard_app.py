"""Every dashboard page through Streamlit's AppTest on the hand-written artifact set, on nothing, on a broken file."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from creditrisk.releases.record import Release, render_releases
from tests.dashboard_support import (
    APP,
    PAGE_TITLES,
    PAGES,
    PROJECT_ROOT,
    chart_titles,
    environment_for,
    open_page,
    texts,
    write_artifact_set,
)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def nothing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return environment_for(tmp_path_factory.mktemp("empty"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(page, artifacts, monkeypatch):
    app = open_page(page, artifacts, monkeypatch)
    assert not app.exception, [e.value for e in app.exception]
    assert [title.value for title in app.title] == [PAGE_TITLES[page]]
    assert app.get("plotly_chart"), "every page draws at least one chart"


def test_overview_shows_model_metrics_drift_verdict_and_next_step(artifacts, monkeypatch):
    app = open_page("views/overview.py", artifacts, monkeypatch)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Model version"] == "1.1.0"
    assert metrics["Training window"] == "2024-11-01 → 2025-12-31"
    assert metrics["ROC-AUC"] == "0.702"
    assert metrics["Score PSI (PD drift)"] == "0.280"
    assert metrics["Rows scored, last 30 days"] == "60"
    body = texts(app)
    assert ":red[● **ALERT**]" in body and "Window **2026-10**" in body
    assert "3 features in alert since 2026-09: review" in body
    assert "ROC-AUC in 2026-07 is 0.060 below the out-of-time test: consider retraining" in body
    assert ("The PD level of 2026-07 is in alert (40 defaults vs 25.3 expected, ratio 1.58 (95% interval "
            "1.14-2.18), exact p 0.0016). The ranking fell too: retrain rather than recalibrate") in body
    assert chart_titles(app) == [
        "Features by drift level, latest window", "PD drift (score PSI) by window", "Rows scored by the API",
    ]


def test_validation_shows_the_pack_with_its_lights_the_calibration_intervals_and_the_vintages(artifacts,
                                                                                                 monkeypatch):
    app = open_page("views/validation.py", artifacts, monkeypatch)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert (metrics["Green"], metrics["Yellow"], metrics["Red"]) == ("16", "2", "3")  # 3 monotonicity tests green
    assert metrics["ROC-AUC [95% CI]"] == "0.702 [0.671, 0.733]"
    assert metrics["Gini [95% CI]"] == "0.404 [0.342, 0.466]"
    assert (metrics["KS"], metrics["Brier skill (vs the train default rate)"]) == ("0.310", "0.031")
    assert "Red: band E binomial, band E jeffreys, Regulation B age check" in app.warning[0].value
    body = texts(app)
    assert ":green[● **GREEN**] AUC decline from development (forward CV, 0.721) to out-of-time (0.702)" in body
    assert "green p ≥ 0.05, yellow 0.01 ≤ p < 0.05, red p < 0.01" in body
    assert "3 immature (2026-02 to 2026-04)" in body
    tests = app.dataframe[0].value
    assert tests["light"].tolist() == ["green", "yellow", "green", "green"]
    assert tests["p-value"].tolist() == ["0.115", "intercept 0.0386, slope 0.198", "0.279", "0.671"]
    bands = app.dataframe[1].value
    assert bands["band"].tolist() == list("ABCDE")
    assert bands[["binomial_light", "jeffreys_light"]].iloc[-1].tolist() == ["red", "red"]
    assert bands["binomial_pvalue"].iloc[-1] == 0.005, "the p-value as written, not recomputed"
    assert app.dataframe[2].value["vintage"].tolist()[-1] == "2026-04"
    assert chart_titles(app) == [
        "Validation tests by traffic light", "Calibration with intervals, out-of-time test",
        "Default rate by loan month (vintages)",
    ]


def test_validation_shows_rank_ordering_fair_lending_segments_in_operation_and_the_report(artifacts, monkeypatch):
    app = open_page("views/validation.py", artifacts, monkeypatch)
    body = texts(app)
    names = ("tests", "bands", "vintages", "rank_ordering", "age_check", "age_band", "product", "employment",
             "window_segments")
    frames = dict(zip(names, (frame.value for frame in app.dataframe), strict=True))
    assert ":orange[● **YELLOW**] Observed default rates must rise with the band: no pair to merge." in body
    assert frames["rank_ordering"]["pair"].tolist() == ["A < B", "B < C", "C < D", "D < E"]
    assert frames["rank_ordering"]["light"].tolist() == ["green", "green", "green", "yellow"]
    assert ":red[● **RED**] **Regulation B**, applicants aged 62 or over: age raises the PD of 14 of 140" in body
    assert frames["age_check"]["applicants raised"].tolist() == [14, 14]
    ages = frames["age_band"]
    assert ages["group"].tolist() == ["<25", "25-34", "35-44", "45-61", "62+"]
    assert ages["air_light"].tolist()[0] == "red" and ages["AIR"].tolist()[0] == "0.773"
    assert "not from credit law" in body
    assert "Groups: 17 green, 0 yellow, 1 red (age band <25 adverse impact ratio)" in body
    operation = frames["window_segments"]
    assert operation["window"].tolist() == ["2026-05", "2026-06", "2026-07"]
    assert operation["red findings"].tolist() == ["", "", "product 9 calibration"]
    assert [button.label for button in app.get("download_button")] == ["Open the model report (HTML)"]


def test_validation_without_the_pack_still_shows_the_vintages(tmp_path, monkeypatch):
    environment = write_artifact_set(tmp_path)
    (tmp_path / "reports" / "validation.json").unlink()
    app = open_page("views/validation.py", environment, monkeypatch)
    assert not app.exception
    assert "validation.json" in app.info[0].value and "`dvc repro`" in app.info[0].value
    assert chart_titles(app) == ["Default rate by loan month (vintages)"]


def test_drift_table_is_sorted_by_severity_and_the_feature_selector_drives_the_drill_down(artifacts, monkeypatch):
    app = open_page("views/drift.py", artifacts, monkeypatch)
    assert app.selectbox(key="drift_window").value == "2026-10"
    table = app.dataframe[0].value
    assert table["level"].tolist()[:3] == ["alert"] * 3 and table["level"].tolist()[-1] == "ok"
    first_feature = app.selectbox(key="drift_feature").value
    assert f"{first_feature}: reference vs current distribution" in chart_titles(app)

    app.selectbox(key="drift_feature").select("tendencia_ingresos").run()

    titles = chart_titles(app)
    assert "tendencia_ingresos: reference vs current distribution" in titles
    assert "tendencia_ingresos: statistics over time" in titles
    assert f"{first_feature}: reference vs current distribution" not in titles
    assert "#### tendencia_ingresos" in texts(app)
    assert "PSI by window and feature" in titles


def test_drift_window_selector_changes_the_table(artifacts, monkeypatch):
    app = open_page("views/drift.py", artifacts, monkeypatch)
    app.selectbox(key="drift_window").select("2026-05").run()
    assert set(app.dataframe[0].value["level"]) == {"ok"}
    assert ":green[● **OK**]" in texts(app)


def test_performance_shows_curves_table_and_band_mix(artifacts, monkeypatch):
    app = open_page("views/performance.py", artifacts, monkeypatch)
    assert chart_titles(app) == ["Model performance over time", "PD level by labelled window",
                                 "Risk-band mix over time"]
    table = app.dataframe[0].value
    assert table["window"].tolist()[0] == "2026-05"
    assert table["calibration_level"].tolist()[:3] == ["ok", "ok", "alert"]
    body = texts(app)
    assert "3 of 6 windows have labels" in body
    assert "warn when the ratio or its inverse reaches 1.25, alert at 1.5" in body


def test_performance_shows_the_band_tests_of_the_chosen_labelled_window(artifacts, monkeypatch):
    app = open_page("views/performance.py", artifacts, monkeypatch)
    selector = app.selectbox(key="performance_band_window")
    assert selector.options == ["2026-05", "2026-06", "2026-07"] and selector.value == "2026-07"
    latest = app.dataframe[1].value
    assert latest["band"].tolist() == list("ABCDE")
    assert latest[["binomial_light", "jeffreys_light"]].iloc[-1].tolist() == ["red", "red"]
    assert "Levels: green p ≥ 0.05, yellow 0.01 ≤ p < 0.05, red p < 0.01." in texts(app)
    selector.select("2026-06").run()
    assert app.dataframe[1].value["jeffreys_light"].iloc[-1] == "yellow"
    app.selectbox(key="performance_band_window").select("2026-05").run()
    assert set(app.dataframe[1].value["binomial_light"]) == {"green"}
    assert "2026-05's labelled loans" in texts(app)
    assert not app.exception


def test_models_page_compares_candidates_and_names_missing_release_tags(artifacts, monkeypatch):
    record = Path(artifacts["CREDITRISK_REPO_DIR"]) / "releases.yaml"
    record.write_text(render_releases([Release("1.0.0", "a" * 40, "2026-01-01T00:00:00+00:00", "baseline"),
                                       Release("1.1.0", "b" * 40, "2026-02-01T00:00:00+00:00", "better")], ""))
    try:
        app = open_page("views/models.py", artifacts, monkeypatch)
    finally:
        record.unlink()
    assert app.dataframe[0].value["model"].tolist() == ["Logistic regression", "Random forest", "Gradient boosting"]
    assert "Selected and calibrated: **Gradient boosting** (`hist_gradient_boosting`)" in texts(app)
    assert app.dataframe[1].value["summary"].tolist() == ["baseline", "better"]
    assert "`v1.0.0`, `v1.1.0`" in app.warning[0].value
    assert chart_titles(app) == [
        "Candidate models: cross-validated ROC-AUC", "ROC curve, out-of-time test", "Calibration, out-of-time test",
    ]


def test_exploration_column_selector_changes_the_charts(artifacts, monkeypatch):
    app = open_page("views/exploration.py", artifacts, monkeypatch)
    assert "Dropped as target leaks:\n- `puntaje`: rank_auc 1.000 >= 0.98" in app.error[0].value
    app.selectbox(key="exploration_column").select("huella_consulta").run()
    titles = chart_titles(app)
    assert "huella_consulta: distribution by outcome" in titles
    assert "Default rate by huella_consulta" in titles
    assert "Spearman correlation" in titles
    app.selectbox(key="exploration_column").select("tipo_credito").run()
    assert "Default rate by tipo_credito" in chart_titles(app)
    assert not app.exception


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("views/overview.py", ["model_card.json", "metrics.json", "summary.json", "predictions.sqlite"]),
        ("views/validation.py", ["validation.json", "vintages.csv"]),
        ("views/drift.py", ["features.csv"]),
        ("views/performance.py", ["windows.json"]),
        ("views/challenger.py", ["compare/summary.json"]),
        ("views/models.py", ["model_comparison.json", "roc.csv", "calibration.csv"]),
        ("views/exploration.py", ["train.parquet"]),
    ],
)
def test_empty_directory_says_what_is_missing_and_how_to_make_it(page, expected, nothing, monkeypatch):
    app = open_page(page, nothing, monkeypatch)
    assert not app.exception, [e.value for e in app.exception]
    messages = "\n".join(info.value for info in app.info)
    for name in expected:
        assert name in messages
    assert any(command in messages for command in ("`make run`", "`dvc repro`", "`dvc repro drift`",
                                                   "`dvc repro compare`"))
    assert not app.get("plotly_chart")


def test_the_challenger_page_shows_the_stages_verdict_and_the_command_it_names(artifacts, monkeypatch):
    summary = json.loads((Path(artifacts["CREDITRISK_REPORTS_DIR"]) / "compare" / "summary.json").read_text())
    app = open_page("views/challenger.py", artifacts, monkeypatch)
    body = texts(app)
    assert ":green[● BETTER] · challenger **1.1.1** against champion **1.1.0**" in body
    assert summary["reason"] in body and "**Next step:** promote the challenger" in body
    assert [code.value for code in app.code] == [summary["promote_command"]]
    assert app.code[0].value.startswith('make promote VERSION=1.1.1 STAGE=prod REASON="compare 2026-05..2026-07: ')
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["PD level, challenger"] == "ok" and metrics["DeLong p"] == "1"
    assert chart_titles(app) == ["Decision agreement and PSI of the PDs by window",
                                 "ROC-AUC of each model on the same labelled loans",
                                 "Loans by band, log:2026-10: champion down, challenger across"]
    table = app.dataframe[0].value
    assert table["window"].tolist() == ["2026-05", "2026-06", "2026-07", "log:2026-10"]
    assert table["champion_calibration_level"].tolist()[:3] == ["alert"] * 3


def test_without_a_better_challenger_the_page_names_no_command(tmp_path, monkeypatch):
    environment = write_artifact_set(tmp_path)
    path = tmp_path / "reports" / "compare" / "summary.json"
    summary = json.loads(path.read_text())
    path.write_text(json.dumps({**summary, "verdict": "no evidence", "promote_command": None,
                                "next_step": "keep the challenger in shadow until more labels mature"}))
    app = open_page("views/challenger.py", environment, monkeypatch)
    assert not app.exception and not app.code
    assert ":gray[● NO EVIDENCE]" in texts(app) and "keep the challenger in shadow" in texts(app)


def test_a_broken_artifact_is_an_error_message_not_a_traceback(tmp_path, monkeypatch):
    environment = write_artifact_set(tmp_path)
    (tmp_path / "reports" / "drift" / "summary.json").write_text("{truncated")
    app = open_page("views/overview.py", environment, monkeypatch)
    assert not app.exception
    assert "summary.json is not valid JSON" in app.error[0].value


def test_no_incoming_data_is_explained_on_every_drift_page(tmp_path, monkeypatch):
    environment = write_artifact_set(tmp_path)
    drift = tmp_path / "reports" / "drift"
    (drift / "windows.json").write_text("[]")
    (drift / "features.csv").write_text("window,feature,kind,status,level\n")
    (drift / "distributions.json").write_text("{}")
    (drift / "summary.json").write_text(json.dumps({
        "latest_window": None, "status": "warn", "reason": "no current data",
        "counts_by_level": {"ok": 0, "warn": 0, "alert": 0}, "features_in_alert": {},
    }))
    for page in ("views/drift.py", "views/performance.py"):
        app = open_page(page, environment, monkeypatch)
        assert not app.exception
        assert "found no incoming data" in app.info[0].value and "`dvc repro drift`" in app.info[0].value
    overview = open_page("views/overview.py", environment, monkeypatch)
    assert not overview.exception
    assert "No incoming data has been monitored yet" in texts(overview)


def test_the_app_edits_no_import_path_and_the_dashboard_is_an_installed_package(tmp_path):
    """`streamlit run dashboard/app.py` imports `dashboard` as installed (`pip install -e .`), from any directory."""
    tree = ast.parse(APP.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "sys" not in imported and "path" not in attributes, "dashboard/app.py must not touch sys.path"
    found = subprocess.run([sys.executable, "-I", "-c", "import app, dashboard, dashboard.loaders; "
                            "print(dashboard.__file__); print(app.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert found.returncode == 0, f"run `pip install --no-deps -e .` (make setup): {found.stderr}"
    assert found.stdout.split() == [str(PROJECT_ROOT / "dashboard" / "__init__.py"),
                                    str(PROJECT_ROOT / "app" / "__init__.py")]
