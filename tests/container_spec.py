"""Reading the container definitions the way Docker does, for the container tests.

There is no Docker engine on the development and CI machines, so the tests take the
images apart instead: the stages of each Dockerfile and the configuration a target
inherits through them (`image_config`), the build context that `.dockerignore` lets
through (`ContextFilter`), and the files an image's COPY instructions put under its
WORKDIR (`materialize_image_tree`), so that an image's own command can run on the host.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
WORKSPACE_MOUNT = "/workspace"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


@dataclass(frozen=True)
class Stage:
    name: str
    base: str
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str
    from_stage: str | None
    workdir: str


@dataclass
class ImageConfig:
    """What `docker build --target T` would record for target T (None: the last stage)."""

    stages: list[Stage]
    base_image: str
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str = "/"
    expose: list[str] = field(default_factory=list)
    healthcheck: list[str] | None = None
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)  # (stage name, command)

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]


def read_stages(dockerfile: Path) -> list[Stage]:
    parser = DockerfileParser(fileobj=io.BytesIO(Path(dockerfile).read_bytes()))
    headers: list[tuple[str, str]] = []
    bodies: list[list[Instruction]] = []
    for item in parser.structure:
        keyword = item["instruction"].upper()
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = [word for word in item["value"].split() if not word.startswith("--platform")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(headers))
            headers.append((name, words[0]))
            bodies.append([])
        elif bodies:
            bodies[-1].append(Instruction(keyword, item["value"]))
        elif keyword != "ARG":
            raise ValueError(f"{dockerfile}: {keyword} before the first FROM")
    return [Stage(name, base, tuple(body)) for (name, base), body in zip(headers, bodies)]


def stage_chain(stages: list[Stage], target: str | None = None) -> list[Stage]:
    """The stages a target is built from, root first."""
    by_name = {stage.name: stage for stage in stages}
    if target is not None and target not in by_name:
        raise KeyError(f"no stage named {target!r}; stages: {list(by_name)}")
    stage = stages[-1] if target is None else by_name[target]
    chain = [stage]
    while stage.base in by_name:
        stage = by_name[stage.base]
        chain.append(stage)
    return chain[::-1]


def exec_form(value: str, where: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK must be JSON arrays: signals reach the process, no shell parsing."""
    try:
        argv = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where} is not in exec (JSON array) form: {value!r}") from error
    if not (isinstance(argv, list) and argv and all(isinstance(word, str) for word in argv)):
        raise ValueError(f"{where} must be a non-empty JSON array of strings: {value!r}")
    return argv


def parse_env(value: str) -> dict[str, str]:
    words = shlex.split(value)
    if words and "=" not in words[0]:
        return {words[0]: value.split(None, 1)[1] if len(words) > 1 else ""}
    return dict(word.split("=", 1) for word in words)


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda match: env.get(match.group(1), ""), value)


def _parse_healthcheck(value: str, where: str) -> tuple[dict[str, str], list[str] | None]:
    options: dict[str, str] = {}
    rest = value.strip()
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, _, setting = option[2:].partition("=")
        options[name] = setting
        rest = rest.strip()
    if rest.upper() == "NONE":
        return options, None
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise ValueError(f"{where}: HEALTHCHECK must be `CMD [...]`, got {value!r}")
    return options, exec_form(command.strip(), f"{where} HEALTHCHECK")


def _parse_copy(value: str, workdir: str) -> Copy:
    words = shlex.split(value)
    from_stage = None
    while words and words[0].startswith("--"):
        option = words.pop(0)
        if option.startswith("--from="):
            from_stage = option.split("=", 1)[1]
    return Copy(tuple(words[:-1]), words[-1], from_stage, workdir)


def image_config(dockerfile: Path, target: str | None = None) -> ImageConfig:
    stages = read_stages(dockerfile)
    chain = stage_chain(stages, target)
    config = ImageConfig(stages=stages, base_image=chain[0].base)
    for stage in chain:
        where = f"{Path(dockerfile).name} stage {stage.name!r}"
        for instruction in stage.instructions:
            keyword, value = instruction.keyword, instruction.value
            if keyword == "ENV":
                for name, setting in parse_env(value).items():
                    config.env[name] = _expand(setting, config.env)
            elif keyword == "USER":
                config.user = value.strip()
            elif keyword == "WORKDIR":
                config.workdir = str(Path(config.workdir, _expand(value.strip(), config.env)))
            elif keyword == "EXPOSE":
                config.expose.extend(value.split())
            elif keyword == "HEALTHCHECK":
                config.healthcheck_options, config.healthcheck = _parse_healthcheck(value, where)
            elif keyword == "ENTRYPOINT":
                config.entrypoint = exec_form(value, f"{where} ENTRYPOINT")
                config.cmd = []  # Docker resets an inherited CMD when ENTRYPOINT is set
            elif keyword == "CMD":
                config.cmd = exec_form(value, f"{where} CMD")
            elif keyword in ("COPY", "ADD"):
                config.copies.append(_parse_copy(value, config.workdir))
            elif keyword == "RUN":
                config.runs.append((stage.name, value))
    return config


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


def materialize_image_tree(config: ImageConfig, context: Path, context_filter: ContextFilter,
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
    ("train", "calibration_folds"): 3,
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


def build_image_tree(dockerfile: Path, target: str | None, destination: Path) -> ImageConfig:
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


def run_image_command(config: ImageConfig, cwd: Path, env: dict[str, str], timeout: float,
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(argv: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Start a server process in its own process group; stop it (and its workers) on exit."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


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


def compose_document(profiles: bool = False) -> dict:
    """docker-compose.yml with the services `docker compose up` starts; `profiles=True`: also those of
    profiles (such as `scale`), which start only when named."""
    import yaml

    document = yaml.safe_load(COMPOSE_FILE.read_text())
    if not profiles:
        document["services"] = {name: service for name, service in document["services"].items()
                                if not service.get("profiles")}
    return document


def default_services() -> dict[str, dict]:
    """The services `docker compose up` starts (those without a profile)."""
    return {name: service for name, service in compose_document()["services"].items() if not service.get("profiles")}


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` / `${NAME}` interpolation, as on a machine with `environ`."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)


def service_image(name: str) -> ImageConfig:
    build = compose_document(profiles=True)["services"][name]["build"]
    return image_config(REPO_ROOT / build["dockerfile"], build.get("target"))


def service_environment(name: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The image's ENV overlaid with the service's `environment`, as the container sees it
    when compose runs on a machine whose environment is `environ` (default: empty)."""
    environ = environ or {}
    env = dict(service_image(name).env)
    for key, value in (compose_document(profiles=True)["services"][name].get("environment") or {}).items():
        if value is None:  # `NAME:` alone passes the host's value through, if it has one
            value = environ.get(key)
        if value is None:
            env.pop(key, None)
        else:
            env[key] = interpolate(str(value), environ)
    return env


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
