"""A third-party fuzzer reads /openapi.json and checks that the API keeps the contract it states.

Schemathesis generates requests from the document (every operation, /predict's and the Open Inference
Protocol's, query parameters such as `reasons` and `lang`, JSON bodies and CSV text) against a real
gunicorn, with every check it has: among them, every schema-valid request is accepted, every
schema-violating one refused, every status and response body documented. Any schemathesis warning also
fails. The stateful phase is left out: the API creates no resources for it to follow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.api_support import save_test_bundle
from tests.test_api_gunicorn import REPO, Server, start_server, stop_server

pytestmark = pytest.mark.slow

CONFIG = """\
[warnings]
fail-on = true
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("schemathesis")
    running = start_server(directory, save_test_bundle(directory), expect_ready=True)
    yield running
    stop_server(running)


def test_every_schema_valid_request_is_accepted_and_every_response_conforms(server: Server,
                                                                           tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{server.url}/openapi.json",
               "--checks", "all", "--phases", "examples,coverage,fuzzing",
               "--max-examples", "60", "--seed", "20241101", "--workers", "2",
               "--report", "junit,har", "--report-dir", str(tmp_path / "report")]
    run = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "No issues found" in output, output
    assert "warning" not in output.lower(), output
    junit = next((tmp_path / "report").glob("junit*.xml")).read_text()
    for operation in ("POST /predict", "GET /model", "GET /ready", "GET /health", "GET /metrics",
                      "POST /v2/models/{model_name}/infer", "GET /v2/models/{model_name}", "GET /v2/health/ready"):
        assert operation in junit, f"{operation} was not fuzzed:\n{output}"
    entries = json.loads(next((tmp_path / "report").glob("har*.json")).read_text())["log"]["entries"]
    urls = [entry["request"]["url"] for entry in entries]
    for query in ("reasons=true", "reasons=false", "lang=es", "lang=en"):
        assert any(query in url for url in urls if "/predict" in url), f"no /predict request with {query}"
    scored = {(entry["request"].get("postData", {}).get("mimeType"), entry["request"]["url"].split("?")[0].split("/")[-1])
              for entry in entries if entry["response"]["status"] == 200}
    assert ("text/csv", "predict") in scored and ("application/json", "infer") in scored, "no CSV or V2 batch scored"


def test_the_document_lets_the_fuzzer_vary_reasons_and_language(server: Server) -> None:
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    parameters = {p["name"]: p["schema"] for p in spec["paths"]["/predict"]["post"]["parameters"]}
    assert parameters["reasons"] == {"type": "boolean"}
    assert parameters["lang"]["enum"] == ["en", "es"]
