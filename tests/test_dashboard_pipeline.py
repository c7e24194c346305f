"""Every dashboard page on artifacts written by the real stages (small sample, once per session).

Expected values are read from the artifacts themselves: the dashboard must
show what the stages wrote, whatever the sample turned out to be.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

from dashboard.components import LEVEL_RANK
from dashboard.formatting import label, model_title, variant_title
from creditrisk.releases.record import load_record, load_releases
from tests.dashboard_support import PAGE_TITLES, PAGES, chart_titles, environment_for, open_page, run_small_pipeline, texts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_small_pipeline(tmp_path_factory.getbasetemp() / "dashboard-pipeline")


@pytest.fixture(scope="session")
def environment(pipeline: Path) -> dict[str, str]:
    return environment_for(pipeline)


def read(pipeline: Path, relative: str):
    return json.loads((pipeline / relative).read_text())


VALIDATION_ARTIFACTS = ("reports/validation.json", "reports/vintages.csv")
"""What the Validation page reads; the evaluate and prepare stages are being wired to write them."""


def not_written_yet(pipeline: Path) -> list[str]:
    """The Validation page's artifacts the run did not write, each named in a warning (never skipped silently)."""
    missing = [relative for relative in VALIDATION_ARTIFACTS if not (pipeline / relative).exists()]
    for relative in missing:
        warnings.warn(f"the small pipeline run wrote no {relative}: the Validation page shows its empty state",
                      stacklevel=2)
    return missing


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_the_real_artifacts(page, pipeline, environment, monkeypatch):
    app = open_page(page, environment, monkeypatch)
    assert not app.exception, [e.value for e in app.exception]
    assert [title.value for title in app.title] == [PAGE_TITLES[page]]
    missing = not_written_yet(pipeline) if page == "views/validation.py" else []
    if len(missing) < len(VALIDATION_ARTIFACTS):
        assert app.get("plotly_chart")
    for relative in missing:
        assert any(Path(relative).name in info.value for info in app.info)
    assert not app.error or page == "views/exploration.py"  # there: the leak the guard dropped, in red


def test_validation_page_shows_what_the_stages_wrote(pipeline, environment, monkeypatch):
    app = open_page("views/validation.py", environment, monkeypatch)
    missing = not_written_yet(pipeline)
    infos = "\n".join(info.value for info in app.info)
    titles = chart_titles(app)
    if "reports/validation.json" in missing:
        assert "validation.json" in infos and "Calibration with intervals, out-of-time test" not in titles
    else:
        pack = read(pipeline, "reports/validation.json")
        shown = {metric.label: metric.value for metric in app.metric}
        assert shown["ROC-AUC [95% CI]"].startswith(f"{pack['discrimination']['roc_auc']:.3f} [")
        assert [shown[light.capitalize()] for light in ("green", "yellow", "red")] == [
            str(pack["lights"][light]) for light in ("green", "yellow", "red")]
        assert app.dataframe[1].value["band"].tolist() == [band["band"] for band in pack["bands"]]
        assert "Calibration with intervals, out-of-time test" in titles
    if "reports/vintages.csv" in missing:
        assert "vintages.csv" in infos and "Default rate by loan month (vintages)" not in titles
    else:
        vintages = pd.read_csv(pipeline / "reports" / "vintages.csv")
        assert "Default rate by loan month (vintages)" in titles
        vintage_table = next(frame.value for frame in app.dataframe if "vintage" in frame.value.columns)
        assert vintage_table["vintage"].tolist() == vintages["vintage"].astype(str).tolist()
    assert not app.exception


def test_overview_shows_what_the_stages_wrote(pipeline, environment, monkeypatch):
    card = read(pipeline, "models/model_card.json")
    metrics = read(pipeline, "reports/metrics.json")
    summary = read(pipeline, "reports/drift/summary.json")
    app = open_page("views/overview.py", environment, monkeypatch)
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["Model version"] == card["version"]
    assert shown["Model"] == model_title(card["model"])
    assert shown["Training window"].startswith(card["data_window"]["train"]["start"][:10])
    assert shown["ROC-AUC"] == f"{metrics['roc_auc']:.3f}"
    assert shown["Brier"] == f"{metrics['brier']:.4f}"
    assert shown["Rows scored, last 30 days"] == "40"
    body = texts(app)
    assert f"**{summary['status'].upper()}**" in body
    assert f"Window **{summary['latest_window']}**" in body
    for feature in summary["features_in_alert"]:
        assert feature in body
    assert "PD drift (score PSI) by window" in chart_titles(app)


def test_drift_page_follows_the_selectors(pipeline, environment, monkeypatch):
    windows = read(pipeline, "reports/drift/windows.json")
    app = open_page("views/drift.py", environment, monkeypatch)
    assert app.selectbox(key="drift_window").value == windows[-1]["window"]
    ranks = app.dataframe[0].value["level"].map(LEVEL_RANK).tolist()
    assert ranks == sorted(ranks), "most severe first"

    earliest = windows[0]
    app.selectbox(key="drift_window").select(earliest["window"]).run()
    assert f"**{earliest['status'].upper()}**" in texts(app)
    features = pd.read_csv(pipeline / "reports" / "drift" / "features.csv")
    expected = features[features["window"] == earliest["window"]]
    assert sorted(app.dataframe[0].value["feature"]) == sorted(expected["feature"])

    options = app.selectbox(key="drift_feature").options
    other = options[-1]
    app.selectbox(key="drift_feature").select(other).run()
    titles = chart_titles(app)
    assert f"{other}: reference vs current distribution" in titles
    assert f"{other}: statistics over time" in titles
    assert f"{options[0]}: reference vs current distribution" not in titles
    assert not app.exception


def test_performance_page_has_every_window(pipeline, environment, monkeypatch):
    windows = read(pipeline, "reports/drift/windows.json")
    app = open_page("views/performance.py", environment, monkeypatch)
    assert app.dataframe[0].value["window"].tolist() == [w["window"] for w in windows]
    assert chart_titles(app) == ["Model performance over time", "PD level by labelled window",
                                 "Risk-band mix over time"]
    judged = [w for w in windows if w.get("calibration_ratio") is not None]
    assert app.dataframe[0].value["calibration_level"].dropna().tolist() == [w["calibration_level"] for w in judged]
    tested = [w for w in windows if w.get("band_tests")]
    assert tested, "the sample's early incoming months have labels, so they carry band tests"
    assert app.selectbox(key="performance_band_window").options == [w["window"] for w in tested]
    shown = app.dataframe[1].value
    assert shown["band"].tolist() == [test["band"] for test in tested[-1]["band_tests"]]
    assert shown["jeffreys_light"].tolist() == [test["jeffreys_light"] for test in tested[-1]["band_tests"]]


def test_models_page_lists_candidates_and_the_release_tags_that_exist(pipeline, environment, monkeypatch):
    comparison = read(pipeline, "reports/model_comparison.json")
    tags = set(subprocess.run(["git", "tag", "--list"], cwd=pipeline, capture_output=True, text=True,
                              check=True).stdout.split())
    app = open_page("views/models.py", environment, monkeypatch)
    assert app.dataframe[0].value["model"].tolist() == [variant_title(m["model"], m["monotone"])
                                                         for m in comparison["models"]]
    recorded = [f"v{r.version}" for r in load_releases(pipeline / "releases.yaml")]
    assert app.dataframe[1].value["version"].tolist() == recorded
    releases = app.dataframe[2].value.set_index("metric")
    assert list(releases.columns)[:len(tags & set(recorded)) + 1] == [
        tag for tag in recorded if tag in tags
    ] + ["workspace"]
    assert releases.loc[label("roc_auc"), "workspace"] == pytest.approx(
        read(pipeline, "reports/metrics.json")["roc_auc"])
    missing = [tag for tag in recorded if tag not in tags]
    warnings = " ".join(warning.value for warning in app.warning)
    for tag in missing:
        assert f"`{tag}`" in warnings
    assert {"ROC curve, out-of-time test", "Calibration, out-of-time test"} <= set(chart_titles(app))
    stages = app.dataframe[3].value
    assert stages["tag"].tolist() == [a.tag for a in reversed(load_record(pipeline / "releases.yaml").assignments)]
    card = read(pipeline, "models/model_card.json")
    bands = app.dataframe[4].value
    assert bands["band"].tolist() == [band["name"] for band in card["bands"]]
    assert bands["points from"].tolist()[:-1] == [band["points_from"] for band in card["bands"]][:-1]
    reference = app.dataframe[5].value
    assert reference["input"].tolist() == list(card["reasons"]["reference_applicant"])
    assert reference["reason code"].str.startswith("CR").all()


def test_exploration_page_shows_the_prepared_data_and_reports(pipeline, environment, monkeypatch):
    leakage = read(pipeline, "reports/leakage.json")
    quality = read(pipeline, "reports/data_quality.json")
    app = open_page("views/exploration.py", environment, monkeypatch)
    for leak in leakage["dropped"]:
        assert f"`{leak}`" in app.error[0].value
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["read"] == f"{quality['rows']['read']:,}"
    app.selectbox(key="exploration_column").select("huella_consulta").run()
    assert "Default rate by huella_consulta" in chart_titles(app)
    assert not app.exception
