"""The Docker path: `docker compose up --build --wait` starts the stack, the shared checks run against it,
and `docker compose down -v` removes it afterwards, on failure too."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tooling.container_check.checks import shared_checks
from tooling.container_check.errors import CheckFailed
from tooling.container_check.processes import inspect_image, output, run_logged, tail
from tooling.container_check.report import Report, step, timed
from tooling.container_check.spec import COMPOSE_FILE, WORKSPACE_MOUNT, ImageConfig, compose_document, service_environment


@dataclass
class DockerStack:
    """The compose stack on a Docker engine, as the shared checks see it."""

    compose: list[str]
    configs: dict[str, ImageConfig]
    service_env: dict[str, dict[str, str]]
    ports: dict[str, int]
    examples: Path

    def base_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def exec(self, name: str, command: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([*self.compose, "exec", "-T", name, *command], capture_output=True, text=True,
                              timeout=timeout)

    def run_pipeline(self, dvc_args: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([*self.compose, "run", "--rm", "-T", "pipeline", *dvc_args], capture_output=True,
                              text=True, timeout=900)

    def image(self, name: str) -> ImageConfig:
        return self.configs[name]

    def examples_dir(self) -> Path:
        return self.examples


def compose_states(compose: list[str]) -> dict[str, dict]:
    text = output([*compose, "ps", "--all", "--format", "json"]).strip()
    rows = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
    return {row["Service"]: row for row in rows}


@contextlib.contextmanager
def without_compose_variables() -> Iterator[None]:
    """Leave out of this process's environment, and so of every command it starts, the variables
    docker-compose.yml interpolates: compose then sees a clean machine's defaults (a developer's
    CREDITRISK_API_TOKEN would make the README's examples answer 401)."""
    saved = dict(os.environ)
    for name in set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text())):
        os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_with_docker(report: Report, work: Path) -> None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        raise CheckFailed("`docker compose` is missing: install the Docker Compose plugin")
    compose_doc = compose_document()
    report.engine = "docker compose"
    compose = ["docker", "compose", "-p", f"{compose_doc.get('name', 'creditrisk')}-check", "-f", str(COMPOSE_FILE)]
    with without_compose_variables(), contextlib.ExitStack() as cleanup:
        cleanup.callback(subprocess.run, [*compose, "down", "-v", "--remove-orphans"], capture_output=True,
                         timeout=300)
        states = compose_up(compose, report, work)
        configs = {name: inspect_image("docker", row["Image"]) for name, row in states.items()}
        for name, config in configs.items():
            report.images[name] = {"image": states[name]["Image"], "size_bytes": config.size}
        ports = {name: int(output([*compose, "port", name, str(configs[name].exposed[0])]).strip().rsplit(":", 1)[1])
                 for name in ("api", "dashboard")}
        examples = work / "examples"
        (examples / "data").mkdir(parents=True)
        output([*compose, "cp", f"api:{WORKSPACE_MOUNT}/data/incoming", str(examples / "data")])
        environments = {name: service_environment(compose_doc["services"][name]) for name in configs}
        shared_checks(DockerStack(compose, configs, environments, ports, examples), report)


def compose_up(compose: list[str], report: Report, work: Path) -> dict[str, dict]:
    """`up --build --wait`; requires the pipeline to have completed and both services to be
    healthy, and returns `ps` per service."""
    step(f"{shlex.join(compose)} up --build --wait")
    run = report.runs.setdefault("compose_up", {})
    with timed(run):
        up = run_logged([*compose, "up", "--build", "--wait"], work / "compose-up.log", timeout=2400)
    states = compose_states(compose)
    pipeline_ok = states.get("pipeline", {}).get("ExitCode") == 0
    healthy = all(states.get(name, {}).get("Health") == "healthy" for name in ("api", "dashboard"))
    name = "compose starts the stack: pipeline completed, api and dashboard healthy"
    if not (pipeline_ok and healthy):
        logs = subprocess.run([*compose, "logs", "--no-color", "--tail", "60"], capture_output=True, text=True,
                              timeout=120)
        report.require(name, False, f"{tail(work / 'compose-up.log', 20)}\n{logs.stdout[-6000:]}")
    if up.returncode != 0:
        report.notes.append("`up --wait` exited non-zero although the pipeline completed and both services "
                            "are healthy (a known Compose behaviour with one-shot services)")
    report.check(name, True, f"{run['seconds']} s")
    return states
