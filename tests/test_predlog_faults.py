"""The prediction log's outages: PostgreSQL stopped and started again, an SQLite file that cannot be
written. The API answers 503 `prediction_log_unavailable` while the log cannot take a batch, never
200 with rows lost, and recovers by itself once the log is back."""

from __future__ import annotations

import os
import sys
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from app import create_app
from creditrisk.serving import predlog
from tests.api_support import api_config, sample_frame
from tests.postgres import running_postgres, PostgresServer
from tests.test_predlog import batch_rows, contract_frame


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A server of this test's own, which the test stops and starts."""
    with running_postgres() as server:
        yield server


@contextmanager
def read_only(database: Path) -> Iterator[None]:
    """The database and its WAL file cannot be written, also by root (the immutable attribute), until
    the block ends. (The shared-memory index stays writable: a connection has it mapped in memory.)"""
    paths = [path for path in (database, database.with_name(database.name + "-wal")) if path.exists()]
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        return
    for path in paths:
        path.chmod(0o444)
    try:
        yield
    finally:
        for path in paths:
            path.chmod(0o644)


def post(client: FlaskClient, rows: int, seed: int = 0) -> Any:
    body = orjson.dumps(sample_frame(rows, seed).astype(object).where(lambda f: f.notna(), None).to_dict("records"))
    return client.post("/predict", data=body, content_type="application/json")


def assert_unavailable(response: Any) -> dict[str, Any]:
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "prediction_log_unavailable" and body["reason"]
    assert "predictions" not in body and response.headers["Retry-After"]
    return body


def test_the_postgres_writer_fails_while_the_server_is_down_then_recovers(own_postgres: PostgresServer) -> None:
    log = predlog.open_log(own_postgres.url, busy_timeout_ms=2000)
    log.append(batch_rows(contract_frame(3), "before"))
    own_postgres.stop()

    with pytest.raises(predlog.PredictionLogUnavailable) as caught:
        log.append(batch_rows(contract_frame(2), "while-down"))

    assert "postgresql://postgres@127.0.0.1" in str(caught.value)
    own_postgres.start()
    log.append(batch_rows(contract_frame(4), "after"))
    assert predlog.read_log(own_postgres.url)["request_id"].value_counts().to_dict() == {"after": 4, "before": 3}


def test_the_api_answers_503_while_postgres_is_down_and_recovers_without_restart(
        own_postgres: PostgresServer, model_path: Path, tmp_path: Path) -> None:
    client = create_app(api_config(tmp_path, model_path, prediction_log=own_postgres.url,
                                   log_busy_timeout_ms=2000)).test_client()
    first = post(client, 5)
    assert first.status_code == 200 and first.get_json()["prediction_logged"] is True
    own_postgres.stop()

    body = assert_unavailable(post(client, 3))
    assert "127.0.0.1" in body["reason"] or "connect" in body["reason"].lower() or "terminat" in body["reason"]
    assert_unavailable(post(client, 1))
    own_postgres.start()
    second = post(client, 7, seed=1)

    assert second.status_code == 200 and second.get_json()["prediction_logged"] is True
    logged = predlog.read_log(own_postgres.url)
    assert logged["request_id"].value_counts().to_dict() == {first.get_json()["request_id"]: 5,
                                                              second.get_json()["request_id"]: 7}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "creditrisk_prediction_log_failures_total 2.0" in metrics


def test_a_read_only_sqlite_file_answers_503_with_the_reason_then_recovers(model_path: Path,
                                                                           tmp_path: Path) -> None:
    log_path = tmp_path / "predictions.sqlite"
    client = create_app(api_config(tmp_path, model_path, prediction_log=log_path)).test_client()
    assert post(client, 2).status_code == 200
    with read_only(log_path):
        fresh = create_app(api_config(tmp_path, model_path, prediction_log=log_path)).test_client()
        for app_client in (client, fresh):
            body = assert_unavailable(post(app_client, 3))
            assert any(word in body["reason"] for word in ("readonly", "I/O", "permitted")), body["reason"]
    assert post(client, 4).status_code == 200
    assert predlog.count_rows(log_path) == 2 + 4


def test_a_full_disk_answers_503_with_the_reason_loses_no_answered_row_and_recovers(
        model_path: Path, tmp_path: Path) -> None:
    """A real full file system: a 1 MB tmpfs in a mount namespace of the child's own (`tests.full_disk`)."""
    namespace = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    child = subprocess.run([*namespace, sys.executable, "-m", "tests.full_disk", str(model_path), str(tmp_path / "disk")],
                           capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert child.returncode == 0, child.stderr[-2000:]
    result = orjson.loads(child.stdout.strip().splitlines()[-1])

    for case in ("full_small", "full_large"):
        assert result[case]["status"] == 503 and result[case]["error"] == "prediction_log_unavailable"
        assert "full" in result[case]["reason"], result[case]["reason"]
    assert result["before"]["status"] == result["after"]["status"] == 200
    assert result["logged_rows"] == result["before"]["rows"] + result["after"]["rows"] == 2 + 4
