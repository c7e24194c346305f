"""Running the images' own commands on the host, for the container tests.

There is no Docker engine on the development and CI machines, so the tests take the
images apart instead. The container check's spec modules read the Dockerfiles and the
compose file as Docker does (`tooling.container_check.spec`, `.dockerfile`: the stages, the
configuration a target inherits, the services' environment); this module adds the build
context that `.dockerignore` lets through (`ContextFilter`) and the files an image's COPY
instructions put under its WORKDIR (`materialize_image_tree`), so that an image's own
command can run on the host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tooling.container_check.dockerfile import DockerfileImage, image_config, service_image, stage_chain
from tooling.container_check.processes import stop_group
from tooling.container_check.spec import REPO_ROOT, WORKSPACE_MOUNT, compose_document, service_environment


class ContextFilter:
    """`.dockerignore` semantics: patterns in order, `!` re-includes, the last match wins,
    and a pattern that matches a parent directory matches everything under it."""

    def __init__(self, dockerignore: Path) -> None:
        self.patterns: list[tuple[re.Pattern[str], bool, str]] = []
        for raw in Path(dockerignore).read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            pattern = line[1:].strip() if exclusion else line
            pattern = pattern.strip("/")
            self.patterns.append((re.compile(_glob_to_regex(pattern)), exclusion, line))

    def excluded(self, relative_path: str) -> bool:
        parts = relative_path.strip("/").split("/")
        candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        matched = False
        for regex, exclusion, _ in self.patterns:
            if exclusion != matched:
                continue
            if any(regex.fullmatch(candidate) for candidate in candidates):
                matched = not exclusion
        return matched

    def files(self, root: Path) -> list[str]:
        """Every file of `root` the build context holds, as POSIX paths relative to root."""
        root = Path(root)
        reincluded = [line[1:].strip().strip("/") for _, exclusion, line in self.patterns if exclusion]
        kept = []
        for directory, subdirectories, files in os.walk(root):
            base = Path(directory).relative_to(root).as_posix()
            prefix = "" if base == "." else base + "/"
            subdirectories[:] = [
                name for name in subdirectories
                if not self.excluded(prefix + name)
                or any(pattern.startswith(prefix + name + "/") for pattern in reincluded)
            ]
            kept.extend(prefix + name for name in files if not self.excluded(prefix + name))
        return sorted(kept)


def _glob_to_regex(pattern: str) -> str:
    regex = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            regex += "(?:.*/)?"
            index += 3
            continue
        if pattern.startswith("**", index):
            regex += ".*"
            index += 2
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        else:
            regex += re.escape(char)
        index += 1
    return regex


def materialize_image_tree(config: DockerfileImage, context: Path, context_filter: ContextFilter,
                           destination: Path, workdir: str = "/app") -> None:
    """Copy into `destination` what the image's COPY instructions (from the build context)
    put under `workdir`, honouring .dockerignore: the image's working tree, on the host."""
    for copy in config.copies:
        if copy.from_stage is not None:
            continue
        target_dir = copy.destination if copy.destination.startswith("/") else f"{copy.workdir}/{copy.destination}"
        if not (target_dir == workdir or target_dir.startswith(workdir + "/")):
            continue
        relative_target = Path(target_dir[len(workdir):].lstrip("/"))
        into_directory = copy.destination.endswith("/") or len(copy.sources) > 1
        for source in copy.sources:
            source_path = context / source
            if source_path.is_dir():
                _copy_tree(source_path, destination / relative_target, context, context_filter)
                continue
            if context_filter.excluded(source):
                raise FileNotFoundError(f"COPY {source}: left out of the build context by .dockerignore")
            target = destination / relative_target / source_path.name if into_directory else destination / relative_target
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source_path, target)


def _copy_tree(source: Path, target: Path, context: Path, context_filter: ContextFilter) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(context).as_posix()
        if path.is_file() and not context_filter.excluded(relative):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def host_env(image_env: dict[str, str], mounts: dict[str, Path], venv_bin: Path,
             base: dict[str, str]) -> dict[str, str]:
    """The image's environment for a process on the host: each image directory in `mounts`
    (e.g. /workspace, /app) becomes its host directory, /opt/venv/bin the project's venv."""
    env = dict(base)
    for name, value in image_env.items():
        if name == "PATH":
            env["PATH"] = f"{venv_bin}:{base.get('PATH', '')}"
            continue
        env[name] = rehome(value, mounts)
    return env


def rehome(value: str, mounts: dict[str, Path]) -> str:
    for image_dir, host_dir in mounts.items():
        if value == image_dir or value.startswith(image_dir + "/"):
            return str(host_dir) + value[len(image_dir):]
    return value


def dvc_paths(root: Path = REPO_ROOT) -> tuple[set[str], set[str]]:
    """(inputs, outputs) of dvc.yaml with params.yaml interpolated: inputs are the
    dependencies no stage produces, outputs every out, metric and plot a stage writes."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())

    def resolve(text: str) -> str:
        def lookup(match: re.Match[str]) -> str:
            value = params
            for key in match.group(1).split("."):
                value = value[key]
            return str(value)
        return re.sub(r"\$\{([\w.]+)\}", lookup, text).rstrip("/")

    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    outputs = {resolve(next(iter(out)) if isinstance(out, dict) else out)
               for stage in stages.values() for kind in ("outs", "metrics", "plots")
               for out in stage.get(kind) or []}
    inputs = {resolve(dep) for stage in stages.values() for dep in stage.get("deps") or []}
    produced = {path for path in inputs if any(path == out or path.startswith(out + "/") for out in outputs)}
    return inputs - produced, outputs


VENV_BIN = Path(sys.executable).parent
IMAGE_WORKDIR = "/app"

# Small enough for a test run of the whole pipeline, large enough for every stage to judge.
SMALL_PARAMS: dict[tuple[str, str], object] = {
    ("generate", "rows"): 2400,
    ("generate", "incoming_rows"): 250,
    ("featurize", "guard_folds"): 3,
    ("train", "candidates"): ["logistic"],
    ("train", "cv_folds"): 3,
    ("evaluate", "importance_repeats"): 1,
    ("drift", "bootstrap_samples"): 20,
}


@dataclass(frozen=True)
class PipelineRun:
    project: Path      # the pipeline image's /app
    workspace: Path    # the shared volume
    output: str


def shrink_params(params_path: Path, overrides: dict[tuple[str, str], object]) -> None:
    import yaml

    params = yaml.safe_load(params_path.read_text())
    for (block, key), value in overrides.items():
        if key in params.get(block, {}):
            params[block][key] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def build_image_tree(dockerfile: Path, target: str | None, destination: Path) -> DockerfileImage:
    """The image's /app on the host, with the RUN steps of the target's own stage applied."""
    config = image_config(dockerfile, target)
    materialize_image_tree(config, REPO_ROOT, ContextFilter(REPO_ROOT / ".dockerignore"), destination,
                           IMAGE_WORKDIR)
    return config


def run_pipeline_image(root: Path, overrides: dict[tuple[str, str], object] = SMALL_PARAMS,
                       timeout: float = 300) -> PipelineRun:
    """Run the pipeline image's entrypoint and command on the host: /app and /workspace are
    directories under `root`; returns once `dvc repro` has filled the workspace."""
    project, workspace = root / "app", root / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    config = build_image_tree(REPO_ROOT / "Dockerfile.api", "pipeline", project)
    shrink_params(project / "params.yaml", overrides)
    mounts = {IMAGE_WORKDIR: project, WORKSPACE_MOUNT: workspace}
    env = host_env(config.env, mounts, VENV_BIN, dict(os.environ))
    target_stage = stage_chain(config.stages, "pipeline")[-1]
    for instruction in target_stage.instructions:
        if instruction.keyword == "RUN":
            subprocess.run(["/bin/sh", "-c", instruction.value], cwd=project, env=env, check=True,
                           capture_output=True, timeout=60)
    output = run_image_command(config, workspace, env, timeout)
    return PipelineRun(project=project, workspace=workspace, output=output)


def run_image_command(config: DockerfileImage, cwd: Path, env: dict[str, str], timeout: float,
                      argv: list[str] | None = None) -> str:
    completed = subprocess.run(argv or config.argv, cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=timeout)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise AssertionError(f"{(argv or config.argv)[-1]!r} exited {completed.returncode}:\n{output[-4000:]}")
    return output


_PIPELINE_RUNS: dict[str, PipelineRun] = {}


def shared_pipeline_run(tmp_path_factory) -> PipelineRun:  # noqa: ANN001 (pytest's TempPathFactory)
    """One small pipeline-image run per test session, shared by the container and README tests."""
    if "run" not in _PIPELINE_RUNS:
        _PIPELINE_RUNS["run"] = run_pipeline_image(tmp_path_factory.mktemp("pipeline-image"))
    return _PIPELINE_RUNS["run"]


@contextmanager
def running(argv: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Start a server process in its own process group; stop it (and its workers) on exit."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


def wait_until_healthy(check: list[str], env: dict[str, str], process: subprocess.Popen,
                       timeout: float = 90) -> float:
    """Run the image's HEALTHCHECK command until it passes, as Docker would; returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode} before it was healthy:\n"
                                 f"{process.stdout.read()[-4000:]}")
        if subprocess.run(check, env=env, capture_output=True, timeout=10).returncode == 0:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"HEALTHCHECK {check[-1]!r} still failing after {timeout:.0f} s")


def container_environment(name: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The image's ENV overlaid with the service's `environment`, as the container sees it
    when compose runs on a machine whose environment is `environ` (default: empty)."""
    service = compose_document(profiles=True)["services"][name]
    return {**service_image(name).env, **service_environment(service, environ)}


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    """Poll `url` until the server answers at all (any status)."""
    import requests

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}:\n{process.stdout.read()[-4000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")
