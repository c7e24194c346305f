"""The dashboard asks the API what serves (CREDITRISK_API_URL) and shows the registry's stage history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from werkzeug.serving import make_server

from app import create_app
from creditrisk.modeling.bundle import save_bundle
from creditrisk.releases.record import render_record, Assignment, Record, Release
from dashboard.loaders import read_api_serving
from tests.api_support import api_config, make_bundle, save_test_bundle
from tests.dashboard_support import open_page, texts, write_artifact_set
from tooling.ports import free_port

ALICE = "Alice Reviewer <alice@example.invalid>"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_artifact_set(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The real app on the test model, served on 127.0.0.1 in a thread; yields its URL and model file."""
    model = save_test_bundle(tmp_path)
    server = make_server("127.0.0.1", free_port(), create_app(api_config(tmp_path, model, prediction_log=None)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", model
    server.shutdown()
    thread.join(10)


def test_model_in_service_is_what_the_api_says_and_a_stale_model_is_flagged(artifacts, api, monkeypatch):
    url, model = api
    app = open_page("views/overview.py", {**artifacts, "CREDITRISK_API_URL": url}, monkeypatch)
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Version serving"] == "test-1.0", "the API's model, not the workspace card's 1.1.0"
    assert metrics["Stage"] == "by path" and "Model version" not in metrics
    assert f"As the API at {url} reports it" in texts(app) and not app.warning

    save_bundle(make_bundle(seed=2), model)
    read_api_serving.clear()  # the loader keeps the API's answer API_TTL_SECONDS; a later page load asks again
    app = open_page("views/overview.py", {**artifacts, "CREDITRISK_API_URL": url}, monkeypatch)
    warning = app.warning[0].value
    assert warning.startswith("**Stale**:") and "changed since it was loaded" in warning
    assert "still serves vtest-1.0" in warning


def test_an_api_that_does_not_answer_is_said_and_the_workspace_card_is_labelled(artifacts, monkeypatch):
    read_api_serving.clear()
    url = f"http://127.0.0.1:{free_port()}"
    app = open_page("views/overview.py", {**artifacts, "CREDITRISK_API_URL": url}, monkeypatch)
    assert not app.exception
    assert f"The API at {url} did not answer" in app.error[0].value
    assert {metric.label: metric.value for metric in app.metric}["Model version"] == "1.1.0"


def test_without_an_api_url_the_workspace_card_says_what_it_is(artifacts, monkeypatch):
    monkeypatch.delenv("CREDITRISK_API_URL", raising=False)
    app = open_page("views/overview.py", artifacts, monkeypatch)
    assert "The workspace's model card" in texts(app) and "Set CREDITRISK_API_URL" in texts(app)


def test_the_models_page_shows_the_stages_and_their_history_as_recorded(artifacts, monkeypatch):
    record_path = Path(artifacts["CREDITRISK_REPO_DIR"]) / "releases.yaml"
    releases = [Release("1.0.0", "a" * 40, "2026-01-01T00:00:00+00:00", "baseline"),
                Release("1.1.0", "b" * 40, "2026-02-01T00:00:00+00:00", "better")]
    assignments = [
        Assignment(1, "prod", "1.0.0", "2026-02-02T09:00:00+00:00", ALICE, "promote", "first", "not run: empty"),
        Assignment(2, "prod", "1.1.0", "2026-02-10T09:00:00+00:00", ALICE, "promote", "better",
                   "passed against v1.0.0"),
        Assignment(3, "prod", "1.0.0", "2026-02-11T09:00:00+00:00", ALICE, "rollback", "PD level alert",
                   "not run: v1.0.0 held prod before v1.1.0"),
        Assignment(4, "staging", "1.1.0", "2026-02-12T09:00:00+00:00", ALICE, "promote", "shadow", "passed"),
    ]
    record_path.write_text(render_record(Record(releases, assignments), ""))
    try:
        app = open_page("views/models.py", artifacts, monkeypatch)
    finally:
        record_path.unlink()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"In prod": "v1.0.0", "In staging": "v1.1.0"}
    history: pd.DataFrame = next(frame.value for frame in app.dataframe if "release gate" in frame.value.columns)
    assert history["tag"].tolist() == ["credit-model#staging#4", "credit-model#prod#3", "credit-model#prod#2",
                                       "credit-model#prod#1"]
    assert history.loc[1, ["action", "why", "by"]].tolist() == ["rollback", "PD level alert", "Alice Reviewer"]
    assert history.loc[1, "release gate"] == "not run: v1.0.0 held prod before v1.1.0"
