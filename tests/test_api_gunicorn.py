"""A real gunicorn (gunicorn.conf.py, 2 workers) on 127.0.0.1: ready, scores, survives kill -9,
logs exactly what it scored under concurrent clients, and stays up without a model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from creditrisk.serving import predlog
from creditrisk.modeling.bundle import load_bundle
from creditrisk.data.contract import coerce_and_validate
from tests.api_support import sample_frame, save_test_bundle
from tooling.ports import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    directory: Path

    @property
    def log_path(self) -> Path:
        return self.directory / "predictions.sqlite"

    def workers(self) -> set[int]:
        return {child.pid for child in psutil.Process(self.process.pid).children()}

    def output(self) -> str:
        return (self.directory / "gunicorn.log").read_text(errors="replace")[-4000:]


def start_server(directory: Path, model_path: Path, expect_ready: bool) -> Server:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CREDITRISK_")}
    env.update({
        "CREDITRISK_MODEL_PATH": str(model_path),
        "CREDITRISK_DVC_LOCK": str(directory / "dvc.lock"),
        "CREDITRISK_PREDICTION_LOG": str(directory / "predictions.sqlite"),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
    })
    output = open(directory / "gunicorn.log", "wb")  # noqa: SIM115 (the server outlives this block)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--worker-tmp-dir", str(directory)],  # `-m` with cwd=REPO: the working tree's app and library
        cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, directory)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn exited:\n{server.output()}"
        try:
            if requests.get(f"{server.url}/health", timeout=2).status_code == 200 and len(server.workers()) == 2:
                ready = requests.get(f"{server.url}/ready", timeout=2).status_code
                assert ready == (200 if expect_ready else 503), server.output()
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise AssertionError(f"gunicorn did not come up in {START_TIMEOUT}s:\n{server.output()}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("gunicorn")
    running = start_server(directory, save_test_bundle(directory), expect_ready=True)
    yield running
    stop_server(running)
    assert running.process.returncode == 0, running.output()


def metric(server: Server, name: str) -> float:
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def test_ready_and_scores_a_batch_like_the_model_in_process(server: Server) -> None:
    frame = sample_frame(50, seed=21)
    response = requests.post(f"{server.url}/predict", data=frame.to_csv(index=False),
                             headers={"Content-Type": "text/csv"}, timeout=30)
    assert response.status_code == 200, response.text
    pds = [p["pd"] for p in response.json()["predictions"]]
    bundle = load_bundle(server.directory / "model.skops")
    expected = bundle.predict_pd(coerce_and_validate(frame, purpose="scoring").frame)
    np.testing.assert_allclose(pds, expected, rtol=1e-12)
    assert response.headers["X-Request-Id"] == response.json()["request_id"]
    assert requests.get(f"{server.url}/ready", timeout=5).json()["model_version"] == "test-1.0"


def kill_and_await_replacement(server: Server, victim: int) -> None:
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = server.workers()
        if len(now) == 2 and victim not in now:
            return
        time.sleep(0.2)
    raise AssertionError(f"the master did not replace worker {victim}:\n{server.output()}")


def test_survives_a_worker_killed_with_sigkill(server: Server) -> None:
    warm_up = sample_frame(5).to_csv(index=False)
    for _ in range(6):
        requests.post(f"{server.url}/predict", data=warm_up, headers={"Content-Type": "text/csv"}, timeout=30)
    counted = metric(server, "creditrisk_predicted_pd_count")
    assert counted == metric(server, "creditrisk_rows_scored_total") >= 30
    for victim in server.workers():  # every worker that counted those rows dies
        kill_and_await_replacement(server, victim)
    body = sample_frame(3).to_csv(index=False)
    for _ in range(8):
        response = requests.post(f"{server.url}/predict", data=body,
                                 headers={"Content-Type": "text/csv"}, timeout=30)
        assert response.status_code == 200, response.text
    assert metric(server, "creditrisk_predicted_pd_count") == counted + 24  # the dead workers' rows stay counted
    assert metric(server, 'creditrisk_predicted_pd_bucket{le="+Inf"}') == counted + 24
    assert metric(server, "creditrisk_rows_scored_total") == counted + 24
    assert server.process.poll() is None


def test_concurrent_clients_log_exactly_the_rows_scored(server: Server) -> None:
    clients, requests_each, rows = 4, 5, 7
    scored_before = metric(server, "creditrisk_rows_scored_total")

    def client(index: int) -> list[str]:
        session = requests.Session()
        ids = []
        for request in range(requests_each):
            frame = sample_frame(rows, seed=100 * index + request)
            response = session.post(f"{server.url}/predict", json=frame.to_dict("records"), timeout=60)
            assert response.status_code == 200, response.text
            assert response.json()["prediction_logged"] is True
            ids.append(response.json()["request_id"])
        return ids

    with ThreadPoolExecutor(clients) as pool:
        request_ids = [rid for ids in pool.map(client, range(clients)) for rid in ids]

    logged = predlog.read_log(server.log_path)
    mine = logged[logged["request_id"].isin(request_ids)]
    assert len(mine) == clients * requests_each * rows
    assert set(mine["request_id"]) == set(request_ids)
    assert not mine.duplicated(["request_id", "row_index"]).any()
    assert metric(server, "creditrisk_rows_scored_total") - scored_before == clients * requests_each * rows
    assert metric(server, "creditrisk_prediction_log_rows_total") == len(logged)


def test_without_a_model_the_server_stays_up_and_says_why(tmp_path: Path) -> None:
    running = start_server(tmp_path, tmp_path / "missing.skops", expect_ready=False)
    try:
        workers = running.workers()
        ready = requests.get(f"{running.url}/ready", timeout=5)
        assert ready.status_code == 503
        assert "missing.skops" in ready.json()["reason"]
        assert requests.post(f"{running.url}/predict", json=[{}], timeout=5).status_code == 503
        assert requests.get(f"{running.url}/health", timeout=5).status_code == 200
        assert running.workers() == workers, "workers must not crash-loop"
    finally:
        stop_server(running)
