"""A graceful reload under load: a real gunicorn (gunicorn.conf.py, 2 workers, 127.0.0.1) scores for clients
while its model file is replaced and the master gets SIGHUP; no request fails, and the new model takes over.
A model that does not load is not swapped in."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import requests

from creditrisk.io import file_digest
from creditrisk.modeling.bundle import save_bundle
from tests.api_support import make_bundle, sample_frame, save_test_bundle
from tests.test_api_gunicorn import start_server, stop_server, Server

pytestmark = pytest.mark.slow
CLIENTS = 3
SWITCH_TIMEOUT = 90


@dataclass
class Load:
    """Clients posting small batches in a loop until stopped; every answer's status and model version."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: list[tuple[int, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        session = requests.Session()
        body = sample_frame(20, seed=threading.get_ident() % 1000).to_csv(index=False)
        while not self.stop.is_set():
            try:
                response = session.post(f"{self.url}/predict?reasons=false", data=body,
                                        headers={"Content-Type": "text/csv"}, timeout=30)
            except requests.RequestException as error:
                self.failures.append(f"{type(error).__name__}: {error}")
                continue
            self.answers.append((response.status_code, response.headers.get("X-Model-Version", "")))
            if response.status_code != 200:
                self.failures.append(f"{response.status_code}: {response.text[:300]}")

    def versions_since(self, start: int) -> list[str]:
        return [version for _, version in self.answers[start:]]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path, save_test_bundle(tmp_path), expect_ready=True)
    yield running
    stop_server(running)


@pytest.fixture
def load(server: Server) -> Iterator[Load]:
    clients = Load(server.url)
    threads = [threading.Thread(target=clients.run, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    yield clients
    clients.stop.set()
    for thread in threads:
        thread.join(60)


def server_log(server: Server) -> str:
    return (server.directory / "gunicorn.log").read_text(errors="replace")


def await_answers(load: Load, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(load.answers) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(load.answers) >= count, load.failures


def test_sighup_swaps_the_model_under_load_without_a_failed_request(server: Server, load: Load) -> None:
    await_answers(load, 10)
    served = requests.get(f"{server.url}/ready", timeout=10).json()
    assert served["stale"] is False and served["md5"] == file_digest(server.directory / "model.skops", "md5")
    old_workers = server.workers()
    newer = make_bundle(seed=2)
    save_bundle(replace(newer, metadata={**newer.metadata, "version": "test-2.0"}), server.directory / "model.skops")
    stale = requests.get(f"{server.url}/ready", timeout=10).json()
    assert stale["model_version"] == "test-1.0" and stale["stale"] is True, "the old model serves, and says so"
    assert stale["current_md5"] == file_digest(server.directory / "model.skops", "md5") != stale["md5"]
    before = len(load.answers)
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + SWITCH_TIMEOUT
    while time.monotonic() < deadline and (server.workers() & old_workers or load.versions_since(before)[-20:]
                                           != ["test-2.0"] * 20):
        time.sleep(0.2)
    load.stop.set()
    time.sleep(0.5)
    assert load.failures == [], f"{len(load.failures)} failed requests: {load.failures[:3]}\n{server.output()}"
    versions = load.versions_since(before)
    assert versions[-20:] == ["test-2.0"] * 20, server.output()
    assert not server.workers() & old_workers, "every worker was replaced"
    ready = requests.get(f"{server.url}/ready", timeout=10).json()
    assert ready["model_version"] == "test-2.0" and ready["stale"] is False
    assert "reload: new workers serve model test-2.0" in server_log(server)
    print(f"{len(load.answers)} requests, {versions.count('test-1.0')} answered by the old model after SIGHUP, "
          f"{versions.count('test-2.0')} by the new one, none failed")


def test_a_model_that_does_not_load_is_not_swapped_in(server: Server, load: Load) -> None:
    await_answers(load, 5)
    (server.directory / "model.skops").write_bytes(b"not a model")
    os.kill(server.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + SWITCH_TIMEOUT
    while "reload: the new model is not ready" not in server_log(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    before = len(load.answers)
    await_answers(load, before + 10)
    load.stop.set()
    assert "reload: the new model is not ready" in server_log(server)
    assert load.failures == [], load.failures[:3]
    assert set(load.versions_since(before)) == {"test-1.0"}
    ready = requests.get(f"{server.url}/ready", timeout=10).json()
    assert ready["model_version"] == "test-1.0" and ready["stale"] is True
