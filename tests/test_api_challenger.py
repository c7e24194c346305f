"""The shadow challenger: scored after the champion on every request, logged beside it on SQLite and PostgreSQL,
never returned; a challenger that fails to load or raises changes nothing the client sees."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import config_from_env
from app.state import EXTENSION
from creditrisk.data.contract import coerce_and_validate
from creditrisk.modeling.bundle import load_bundle, ModelBundle
from creditrisk.releases import MODEL_NAME
from creditrisk.serving import predlog
from tests.api_support import api_config, make_bundle, sample_frame, save_test_bundle, v2_inputs
from tests.postgres import PostgresServer

CHALLENGER_VERSION = "test-2.0"
TIMING = "Server-Timing"  # the one header that differs between any two requests: it holds their durations


@pytest.fixture(scope="module")
def challenger_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model on the same contract: trained on other rows, another threshold and version."""
    bundle = make_bundle(rows=800, seed=7)
    bundle.threshold = 0.08
    bundle.metadata["version"] = CHALLENGER_VERSION
    return save_test_bundle(tmp_path_factory.mktemp("challenger"), bundle)


@pytest.fixture(scope="module")
def challenger_bundle(challenger_path: Path) -> ModelBundle:
    return load_bundle(challenger_path)


def records(frame: pd.DataFrame) -> bytes:
    return orjson.dumps(frame.astype(object).where(frame.notna(), None).to_dict("records"))


def requests_to_send(frame: pd.DataFrame) -> list[tuple[str, bytes, str, dict[str, str]]]:
    """(path, body, content type, headers): records with and without reasons, CSV asked as CSV, and the Open
    Inference Protocol's infer, each with a fixed request id (the body echoes it)."""
    infer = orjson.dumps({"id": "v2", "inputs": v2_inputs(frame)})
    return [("/predict", records(frame), "application/json", {"X-Request-Id": "records"}),
            ("/predict?reasons=false", records(frame), "application/json", {"X-Request-Id": "no-reasons"}),
            ("/predict", frame.to_csv(index=False).encode(), "text/csv",
             {"X-Request-Id": "csv", "Accept": "text/csv"}),
            (f"/v2/models/{MODEL_NAME}/infer", infer, "application/json", {"X-Request-Id": "infer"})]


def answers(client: FlaskClient, frame: pd.DataFrame) -> list[tuple[int, bytes, dict[str, str]]]:
    """Each request's status, body bytes and headers but the timings."""
    found = []
    for path, body, content_type, headers in requests_to_send(frame):
        response = client.post(path, data=body, content_type=content_type, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        found.append((response.status_code, response.get_data(),
                      {name: value for name, value in response.headers.items() if name != TIMING}))
    return found


def app_with(model_path: Path, directory: Path, challenger: str | None, **overrides: Any) -> Flask:
    directory.mkdir(parents=True, exist_ok=True)
    return create_app(api_config(directory, model_path, challenger=challenger, **overrides))


def in_process_pds(bundle: ModelBundle, frame: pd.DataFrame) -> np.ndarray:
    return bundle.predict_pd(coerce_and_validate(frame, purpose="scoring").frame)


@pytest.mark.parametrize("rows", [3, 80], ids=["row-table", "batch-record"])
def test_with_a_challenger_the_answers_are_byte_identical_and_the_log_holds_both(
        model_path: Path, challenger_path: Path, challenger_bundle: ModelBundle, tmp_path: Path, rows: int) -> None:
    frame = sample_frame(rows, seed=11)
    alone = app_with(model_path, tmp_path / "alone", None)
    shadowed = app_with(model_path, tmp_path / "shadowed", str(challenger_path))

    assert answers(shadowed.test_client(), frame) == answers(alone.test_client(), frame)

    logged = predlog.read_log(tmp_path / "shadowed" / "predictions.sqlite")
    assert logged["request_id"].tolist() == [name for name in ("records", "no-reasons", "csv", "infer")
                                             for _ in range(rows)]
    champion = predlog.read_log(tmp_path / "alone" / "predictions.sqlite")
    pd.testing.assert_series_equal(logged["pd"], champion["pd"])  # the champion's rows as without a challenger
    assert logged["model_version"].unique().tolist() == ["test-1.0"]
    assert logged["challenger_version"].unique().tolist() == [CHALLENGER_VERSION]
    expected = np.tile(in_process_pds(challenger_bundle, frame), 4)
    assert logged["challenger_pd"].to_numpy() == pytest.approx(expected, rel=1e-9)
    assert logged["challenger_band"].tolist() == challenger_bundle.band_of(expected).tolist()
    assert logged["challenger_decision"].tolist() == challenger_bundle.decide(expected).tolist()
    assert not np.allclose(logged["challenger_pd"], logged["pd"])  # another model indeed


def test_the_log_holds_both_models_rows_on_postgresql(model_path: Path, challenger_path: Path,
                                                      challenger_bundle: ModelBundle, tmp_path: Path,
                                                      postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("challenger_log")
    client = app_with(model_path, tmp_path, str(challenger_path), prediction_log=url).test_client()
    for rows in (2, 70):  # a row-table batch and a batch record
        frame = sample_frame(rows, seed=rows)
        response = client.post("/predict", data=records(frame), content_type="application/json",
                               headers={"X-Request-Id": f"rows-{rows}"})
        assert response.status_code == 200 and response.get_json()["prediction_logged"] is True

    logged = predlog.read_log(url).set_index("request_id")
    for rows in (2, 70):
        part = logged.loc[[f"rows-{rows}"]]
        expected = in_process_pds(challenger_bundle, sample_frame(rows, seed=rows))
        assert part["challenger_pd"].to_numpy() == pytest.approx(expected, rel=1e-9)
        assert part["challenger_version"].tolist() == [CHALLENGER_VERSION] * rows
        assert part["challenger_decision"].tolist() == challenger_bundle.decide(expected).tolist()
        assert part["pd"].notna().all() and part["model_version"].unique().tolist() == ["test-1.0"]


@dataclass(frozen=True)
class Raising:
    """A challenger's scorer that raises, or answers with the wrong number of rows."""

    bundle: ModelBundle
    wrong_length: bool = False

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        if self.wrong_length:
            return np.full(len(frame) + 1, 0.5)
        raise RuntimeError("challenger exploded")


@pytest.mark.parametrize("wrong_length", [False, True], ids=["raises", "wrong-length"])
def test_a_challenger_that_raises_changes_nothing_the_client_sees(
        model_path: Path, challenger_path: Path, challenger_bundle: ModelBundle, tmp_path: Path,
        wrong_length: bool) -> None:
    frame = sample_frame(4, seed=3)
    alone = app_with(model_path, tmp_path / "alone", None)
    shadowed = app_with(model_path, tmp_path / "shadowed", str(challenger_path))
    challenger = shadowed.extensions[EXTENSION].challenger
    challenger.scorer = Raising(challenger_bundle, wrong_length)  # type: ignore[assignment]
    client = shadowed.test_client()

    assert answers(client, frame) == answers(alone.test_client(), frame)

    logged = predlog.read_log(tmp_path / "shadowed" / "predictions.sqlite")
    assert len(logged) == 4 * 4 and logged["pd"].notna().all()
    assert logged[[column.name for column in predlog.CHALLENGER_SCORE_COLUMNS]].isna().all(axis=None)
    status = client.get("/ready").get_json()["challenger"]
    assert status["ready"] is True and status["failures"] == 4
    assert status["last_failure"].startswith("RuntimeError: challenger exploded" if not wrong_length
                                             else "ValueError: challenger test-2.0 gave (5,) PDs")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "creditrisk_challenger_failures_total 4.0" in metrics
    assert "creditrisk_challenger_rows_scored_total 0.0" in metrics


def tampered_copy(challenger_path: Path, directory: Path) -> Path:
    directory.mkdir()
    tampered = directory / "model.skops"
    tampered.write_bytes(challenger_path.read_bytes() + b"\0")
    (directory / "model.skops.sha256").write_text(challenger_path.with_name("model.skops.sha256").read_text())
    return tampered


def test_a_challenger_that_fails_to_load_leaves_the_champion_serving_and_says_why(
        model_path: Path, challenger_path: Path, tmp_path: Path) -> None:
    frame = sample_frame(3, seed=5)
    alone = answers(app_with(model_path, tmp_path / "alone", None).test_client(), frame)
    settings = {"missing": str(tmp_path / "absent.skops"),
                "tampered": str(tampered_copy(challenger_path, tmp_path / "tampered"))}
    reasons = {"missing": "does not exist", "tampered": "was changed after it was saved"}
    for name, setting in settings.items():
        client = app_with(model_path, tmp_path / name, setting).test_client()
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.get_json()["ready"] is True
        status = ready.get_json()["challenger"]
        assert status["setting"] == setting and status["ready"] is False and status["version"] is None
        assert reasons[name] in status["reason"]
        assert f'creditrisk_challenger_ready{{challenger="{setting}"}} 0.0' in \
            client.get("/metrics").get_data(as_text=True)
        assert answers(client, frame) == alone
        logged = predlog.read_log(tmp_path / name / "predictions.sqlite")
        assert logged["challenger_pd"].isna().all() and len(logged) == 4 * 3


def test_ready_and_metrics_describe_a_loaded_challenger(model_path: Path, challenger_path: Path,
                                                        tmp_path: Path) -> None:
    client = app_with(model_path, tmp_path, str(challenger_path)).test_client()
    frame = sample_frame(30, seed=9)
    response = client.post("/predict?reasons=false", data=records(frame), content_type="application/json")
    champion = [row["decision"] for row in response.get_json()["predictions"]]
    assert "challenger;dur=" in response.headers[TIMING]

    status = client.get("/ready").get_json()["challenger"]
    assert status["version"] == CHALLENGER_VERSION and status["ready"] is True and "sha256" in status["verified"]
    assert status["failures"] == 0 and status["reason"] is None
    logged = predlog.read_log(tmp_path / "predictions.sqlite")
    disagreements = int((logged["challenger_decision"] != pd.Series(champion, dtype="string")).sum())
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'creditrisk_challenger_ready{{challenger="{challenger_path}"}} 1.0' in metrics
    assert "creditrisk_challenger_rows_scored_total 30.0" in metrics
    assert f"creditrisk_challenger_disagreements_total {disagreements}.0" in metrics
    assert 'creditrisk_scoring_stage_duration_seconds_count{stage="challenger"} 1.0' in metrics


def test_without_a_challenger_ready_says_none_and_metrics_have_no_series(client: FlaskClient) -> None:
    assert client.get("/ready").get_json()["challenger"] is None
    assert "creditrisk_challenger_ready{" not in client.get("/metrics").get_data(as_text=True)


def test_the_challenger_setting_comes_from_the_environment() -> None:
    assert config_from_env({"CREDITRISK_CHALLENGER": " models/candidate.skops "}).challenger == "models/candidate.skops"
    assert config_from_env({"CREDITRISK_CHALLENGER": ""}).challenger is None
    assert config_from_env({}).challenger is None
