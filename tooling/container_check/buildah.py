"""The podman path, without a Docker engine: podman builds the images, buildah runs them.

The pipeline image's ENTRYPOINT and CMD (read from the built image) run on an empty workspace mounted
at /workspace, owned like the image's mount point, as a fresh named volume would be; a second start
must find nothing to rerun. The API's and the dashboard's CMDs start on that workspace with the
images' ENV, USER and WORKDIR plus the service's compose `environment`, on free loopback ports
(buildah shares the host's network, so the servers are moved to those ports instead of being
mapped), and each image's own HEALTHCHECK runs in its container until it passes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tooling.container_check.checks import shared_checks
from tooling.container_check.dockerfile import base_image_name, leaf_stages
from tooling.container_check.errors import CheckFailed
from tooling.container_check.processes import (
    PeakMemory,
    inspect_image,
    output,
    run_logged,
    stop_group,
    tail,
)
from tooling.container_check.report import Report, megabytes, say, step, timed
from tooling.container_check.spec import (
    REPO_ROOT,
    WORKSPACE_MOUNT,
    ImageConfig,
    compose_document,
    memory_limit,
    service_argv,
    service_environment,
)
from tooling.container_check.stand_in import (
    STAND_IN_CACHE_REPO,
    STAND_IN_LABEL,
    ensure_stand_in,
    stand_in_differences,
)
from tooling.ports import free_port

# podman records HEALTHCHECK only in Docker's image format; the layer cache is per format too.
PODMAN_BUILD = ("podman", "build", "--pull=never", "--isolation=chroot", "--format", "docker", "--layers")
BUILDAH_RUN = ("buildah", "run", "--isolation=chroot", "--network=host")
# Now and then `buildah run` fails before the command starts, when sealing the copy of itself it
# runs from (EBUSY); the command never ran, so it is started again.
TRANSIENT_BUILDAH_ERROR = "sealing memfd copy"
RUN_ATTEMPTS = 3


@dataclass
class BuildahContainer:
    """A buildah working container of an image, to run the image's commands in."""

    name: str
    config: ImageConfig
    mounts: dict[Path, str]

    def argv(self, command: list[str], env: dict[str, str] | None = None, user: str | None = None,
             mounted: bool = True) -> list[str]:
        argv = [*BUILDAH_RUN, "--user", user or self.config.user, "--workingdir", self.config.workdir]
        for host, target in self.mounts.items() if mounted else ():
            argv += ["--volume", f"{host}:{target}"]
        for key, value in (env or {}).items():
            argv += ["--env", f"{key}={value}"]
        return [*argv, self.name, "--", *command]

    def run(self, command: list[str], env: dict[str, str] | None = None, user: str | None = None,
            timeout: float = 60, mounted: bool = True) -> subprocess.CompletedProcess:
        return retrying(lambda: subprocess.run(self.argv(command, env, user, mounted), capture_output=True,
                                               text=True, timeout=timeout))

    def image_owner(self, path: str) -> tuple[int, int]:
        """uid and gid of `path` in the image itself (not of what is mounted there)."""
        owner = self.run(["stat", "-c", "%u:%g", path], user="0:0", mounted=False)
        if owner.returncode != 0:
            raise CheckFailed(f"stat {path} in {self.name}: {owner.stderr.strip()}")
        uid, gid = owner.stdout.strip().split(":")
        return int(uid), int(gid)


@contextlib.contextmanager
def buildah_container(image: str, config: ImageConfig, mounts: dict[Path, str]) -> Iterator[BuildahContainer]:
    name = f"creditrisk-check-{os.getpid()}-{image.rsplit('/', 1)[-1].replace(':', '-')}"
    output(["buildah", "from", "--pull=never", "--name", name, image])
    try:
        yield BuildahContainer(name, config, mounts)
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True, timeout=120)


def transient(text: str) -> bool:
    return TRANSIENT_BUILDAH_ERROR in text


def retrying(run_once: Callable[[], subprocess.CompletedProcess]) -> subprocess.CompletedProcess:
    """A short `buildah run`, started again when buildah failed before the command ran."""
    for attempt in range(1, RUN_ATTEMPTS + 1):
        completed = run_once()
        if completed.returncode == 0 or attempt == RUN_ATTEMPTS or not transient(completed.stderr or ""):
            return completed
        time.sleep(attempt)
    raise AssertionError("unreachable")


@dataclass
class Started:
    """A command started in a container, in its own session (so that it and its workers
    stop together), with its peak memory sampled."""

    process: subprocess.Popen
    sampler: PeakMemory

    def stop(self) -> int:
        """Stop it (if it still runs); returns its peak memory in bytes."""
        stop_group(self.process)
        return self.sampler.stop()


def start_in(container: BuildahContainer, argv: list[str], env: dict[str, str], log: Path) -> Started:
    with log.open("w") as handle:
        process = subprocess.Popen(container.argv(argv, env), stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    sampler = PeakMemory(process.pid, container.config.uid)
    sampler.start()
    return Started(process, sampler)


def build_images(compose: dict, report: Report, logs: Path) -> dict[str, str]:
    """`podman build` each service's target; returns service -> image name."""
    images = {}
    for name, service in compose["services"].items():
        build, image = service["build"], f"localhost/{compose.get('name', 'creditrisk')}-{name}:check"
        argv = [*PODMAN_BUILD, "-f", build["dockerfile"], "-t", image,
                *(["--target", build["target"]] if build.get("target") else []), build.get("context", ".")]
        step(f"build {name}: {shlex.join(argv[2:])}")
        entry = report.images.setdefault(name, {"image": image})
        with timed(entry, "build_seconds"):
            completed = run_logged(argv, logs / f"build-{name}.log", timeout=1800)
        report.require(f"image {name} builds", completed.returncode == 0,
                       f"{entry['build_seconds']} s" if completed.returncode == 0 else tail(logs / f"build-{name}.log"))
        entry["size_bytes"] = inspect_image("podman", image).size
        entry["largest_layer_bytes"] = max(layer["size"] for layer in
                                           json.loads(output(["podman", "history", "--format", "json", image])))
        images[name] = image
    for dockerfile in sorted({service["build"]["dockerfile"] for service in compose["services"].values()}):
        targets = {service["build"].get("target") for service in compose["services"].values()}
        for stage in leaf_stages(REPO_ROOT / dockerfile, targets):
            tag = f"localhost/{compose.get('name', 'creditrisk')}-cache:{Path(dockerfile).name.lower()}-{stage}"
            output([*PODMAN_BUILD, "-q", "-f", dockerfile, "--target", stage, "-t", tag, "."], timeout=600,
                   cwd=REPO_ROOT)
    return images


def prune_earlier_runs(report: Report) -> None:
    """Drop what earlier runs left in podman's storage (about 1 GB per change of the lock file):
    untagged images built on a stand-in, and stand-ins of other inputs. The images just built,
    the tagged stages and their layers (the cache of the next run) stay."""
    current = f"{STAND_IN_CACHE_REPO}:{report.base.get('hash')}"
    names = [name for image in json.loads(output(["podman", "images", "--format", "json"]))
             for name in image.get("Names") or []]
    for name in names:
        if name.startswith(STAND_IN_CACHE_REPO + ":") and name != current:
            # `podman untag IMAGE` alone would remove every name of the image; name the one to drop.
            subprocess.run(["podman", "untag", name, name], capture_output=True, timeout=60)
    pruned = output(["podman", "image", "prune", "--force", "--filter", f"label={STAND_IN_LABEL}"], timeout=600)
    report.notes.append(f"removed {len(pruned.split())} image(s) earlier runs left in podman's storage")


def python_facts(container: BuildahContainer) -> dict[str, str]:
    script = ("import json, os, platform, sys; from importlib.metadata import version; "
              "print(json.dumps({'python': platform.python_version(), "
              "'executable': os.path.realpath(sys._base_executable), 'pip': version('pip')}))")
    return json.loads(container.run(["python", "-c", script], timeout=60).stdout)


def wait_healthy(container: BuildahContainer, env: dict[str, str], process: subprocess.Popen, log: Path,
                 port: int) -> float:
    """Run the image's HEALTHCHECK in its container, as Docker would, until it passes."""
    check = container.config.healthcheck
    if check is None:
        raise CheckFailed("the image has no HEALTHCHECK (was it built in OCI format?)")
    check = move_port(check, container.config.exposed, port)
    started_at = time.monotonic()
    while time.monotonic() - started_at < container.config.healthcheck_deadline():
        if process.poll() is not None:
            raise CheckFailed(f"the server exited {process.returncode} before it was healthy:\n{tail(log)}")
        if container.run(check, env, timeout=30).returncode == 0:
            return round(time.monotonic() - started_at, 1)
        time.sleep(1)
    raise CheckFailed(f"HEALTHCHECK still failing after {container.config.healthcheck_deadline():.0f} s:\n{tail(log)}")


def move_port(words: list[str], exposed: list[int], port: int) -> list[str]:
    """A command that names the image's exposed port in a URL, naming `port` instead."""
    for container_port in exposed:
        words = [word.replace(f":{container_port}/", f":{port}/") for word in words]
    return words


def listen_on(argv: list[str], env: dict[str, str], port: int) -> tuple[list[str], dict[str, str]]:
    """Move a server to 127.0.0.1:`port`: with the host's network there is no port mapping."""
    program = PurePosixPath(argv[0]).name
    if program == "gunicorn":
        return argv, {**env, "PORT": str(port), "GUNICORN_CMD_ARGS":
                      f"{env.get('GUNICORN_CMD_ARGS', '')} --bind=127.0.0.1:{port}".strip()}
    if program == "streamlit":
        moved = list(argv)
        for option, value in (("--server.port", str(port)), ("--server.address", "127.0.0.1")):
            if option in moved:
                moved[moved.index(option) + 1] = value
            else:
                moved += [option, value]
        return moved, env
    raise CheckFailed(f"listen_on() does not know how to move {program!r} to another port: teach it")


@dataclass
class PodmanStack:
    """The running services of the podman path, as the shared checks see them."""

    containers: dict[str, BuildahContainer]
    service_env: dict[str, dict[str, str]]
    ports: dict[str, int]
    workspace: Path
    peaks: dict[str, int] = field(default_factory=dict)  # service -> peak memory of one exec

    def base_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def exec(self, name: str, command: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        return retrying(lambda: self._exec_once(name, command, timeout))

    def _exec_once(self, name: str, command: list[str], timeout: float) -> subprocess.CompletedProcess:
        container = self.containers[name]
        process = subprocess.Popen(container.argv(command, self.service_env[name]), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        sampler = PeakMemory(process.pid, container.config.uid)
        sampler.start()
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            stop_group(process)
            self.peaks[name] = max(self.peaks.get(name, 0), sampler.stop())
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def run_pipeline(self, dvc_args: list[str]) -> subprocess.CompletedProcess:
        entrypoint = self.containers["pipeline"].config.entrypoint
        return self.exec("pipeline", [*entrypoint, *dvc_args], timeout=900)

    def image(self, name: str) -> ImageConfig:
        return self.containers[name].config

    def examples_dir(self) -> Path:
        return self.workspace


def check_with_podman(report: Report, work: Path, rebuild_base: bool) -> None:
    compose = compose_document()
    report.engine = "podman + buildah (no Docker engine)"
    step("stand-in base image")
    ensure_stand_in(base_image_name(compose), work, report, rebuild_base)
    images = build_images(compose, report, work)
    if report.base.get("stand_in"):
        prune_earlier_runs(report)
    configs = {name: inspect_image("podman", image) for name, image in images.items()}
    workspace = work / "workspace"
    workspace.mkdir()
    with contextlib.ExitStack() as stack:
        containers = {name: stack.enter_context(buildah_container(images[name], configs[name],
                                                                  {workspace: WORKSPACE_MOUNT}))
                      for name in images}
        stand_in_differences(report, python_facts(containers["api"]))
        os.chown(workspace, *containers["pipeline"].image_owner(WORKSPACE_MOUNT))  # as a new named volume
        environments = {name: service_environment(compose["services"][name]) for name in images}
        run_pipeline_twice(containers["pipeline"], compose["services"]["pipeline"], environments["pipeline"],
                           report, work)
        ports = {"api": free_port(), "dashboard": free_port()}
        for name in ("api", "dashboard"):
            environments[name] = stack.enter_context(
                serve(name, containers[name], compose["services"][name], environments[name], ports[name], report, work))
        podman_stack = PodmanStack(containers, environments, ports, workspace)
        shared_checks(podman_stack, report)
    report.runs["dashboard"]["app_run_peak_memory_bytes"] = podman_stack.peaks.get("dashboard", 0)
    check_memory(compose, report)


def run_pipeline_twice(container: BuildahContainer, service: dict, env: dict[str, str], report: Report,
                       work: Path) -> None:
    """The first start fills the empty workspace; a second must find nothing to rerun."""
    argv = service_argv(service, container.config)
    run = report.runs.setdefault("pipeline", {"argv": argv})
    step(f"pipeline on an empty workspace: {shlex.join(argv)[:100]}...")
    log = work / "pipeline.log"
    for attempt in range(1, RUN_ATTEMPTS + 1):
        started = start_in(container, argv, env, log)
        with timed(run):
            try:
                returncode = started.process.wait(timeout=1200)
            finally:
                run["peak_memory_bytes"] = started.stop()
        if returncode == 0 or attempt == RUN_ATTEMPTS or not transient(tail(log, 5)):
            break
        say("    buildah failed before the pipeline started; starting it again")
    report.require("pipeline fills the workspace", returncode == 0,
                   f"{run['seconds']} s, {log.read_text().count('Running stage')} stages" if returncode == 0
                   else tail(log))
    with timed(run, "second_start_seconds"):
        again = container.run(argv, env, timeout=600)
    report.check("a second pipeline start reruns nothing",
                 again.returncode == 0 and "Running stage" not in again.stdout,
                 f"{run['second_start_seconds']} s" if again.returncode == 0 else again.stdout[-2000:] + again.stderr)


@contextlib.contextmanager
def serve(name: str, container: BuildahContainer, service: dict, env: dict[str, str], port: int,
          report: Report, work: Path) -> Iterator[dict[str, str]]:
    """Start a service's CMD on 127.0.0.1:`port`; yields the environment it runs with."""
    argv, env = listen_on(service_argv(service, container.config), env, port)
    step(f"start {name} on port {port}: {shlex.join(argv)}")
    log = work / f"{name}.log"
    run = report.runs.setdefault(name, {"argv": argv, "port": port})
    for attempt in range(1, RUN_ATTEMPTS + 1):
        started = start_in(container, argv, env, log)
        try:
            run["healthy_seconds"] = wait_healthy(container, env, started.process, log, port)
            break
        except BaseException:
            run["peak_memory_bytes"] = started.stop()
            if attempt == RUN_ATTEMPTS or not transient(tail(log, 5)):
                raise
            say(f"    buildah failed before {name} started; starting it again")
    try:
        report.check(f"{name} HEALTHCHECK passes in its container", True, f"after {run['healthy_seconds']} s")
        yield env
        running = started.process.poll() is None
        report.check(f"{name} still running after the checks", running, "" if running else tail(log, 20))
    finally:
        run["peak_memory_bytes"] = started.stop()


def check_memory(compose: dict, report: Report) -> None:
    """Peak memory against compose's limits (which buildah cannot enforce). For the dashboard,
    the server plus one run of its script in a separate process: an upper bound for one session."""
    for name, run in report.runs.items():
        limit = memory_limit(compose["services"][name])
        peak = run.get("peak_memory_bytes", 0) + run.get("app_run_peak_memory_bytes", 0)
        if limit and peak:
            report.check(f"{name} peak memory within compose's limit", peak <= limit,
                         f"{megabytes(peak)} of {megabytes(limit)}")
