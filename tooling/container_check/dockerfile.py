"""The project's Dockerfiles read as `docker build` reads them: the stages, the chain a target is built
from, and the configuration the target inherits through it (`image_config`), with the COPY and RUN
steps that make its files.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from tooling.container_check.errors import CheckFailed
from tooling.container_check.spec import REPO_ROOT, ImageConfig, compose_document, qualified

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_SECONDS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


@dataclass(frozen=True)
class Stage:
    name: str  # `AS name`, else the stage's position ("0", "1", ...)
    base: str
    instructions: tuple[Instruction, ...]
    named: bool = True


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    destination: str
    from_stage: str | None
    workdir: str


@dataclass
class DockerfileImage(ImageConfig):
    """What `docker build --target T` would record for target T (None: the last stage), and how."""

    stages: list[Stage] = field(default_factory=list)
    base_image: str = ""
    copies: list[Copy] = field(default_factory=list)
    runs: list[tuple[str, str]] = field(default_factory=list)  # (stage name, command)


def read_stages(dockerfile: Path) -> list[Stage]:
    parser = DockerfileParser(fileobj=io.BytesIO(Path(dockerfile).read_bytes()))
    headers: list[tuple[str, str, bool]] = []
    bodies: list[list[Instruction]] = []
    for item in parser.structure:
        keyword = item["instruction"].upper()
        if keyword == "COMMENT":
            continue
        if keyword == "FROM":
            words = [word for word in item["value"].split() if not word.startswith("--platform")]
            named = len(words) == 3 and words[1].upper() == "AS"
            headers.append((words[2] if named else str(len(headers)), words[0], named))
            bodies.append([])
        elif bodies:
            bodies[-1].append(Instruction(keyword, item["value"]))
        elif keyword != "ARG":
            raise CheckFailed(f"{dockerfile}: {keyword} before the first FROM")
    return [Stage(name, base, tuple(body), named) for (name, base, named), body in zip(headers, bodies)]


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


def external_bases(dockerfile: Path) -> set[str]:
    """The images a Dockerfile's FROM lines name that are not its own stages."""
    stages = read_stages(dockerfile)
    names = {stage.name for stage in stages}
    return {stage.base for stage in stages if stage.base not in names}


def leaf_stages(dockerfile: Path, targets: set[str | None]) -> list[str]:
    """Named stages that no target is built FROM (e.g. a builder only COPY --from reads):
    tagged, so that pruning leftovers of earlier runs keeps their layer cache."""
    stages = read_stages(dockerfile)
    bases = {stage.base for stage in stages}
    return [stage.name for stage in stages[:-1] if stage.named and stage.name not in bases | targets]


def base_image_name(compose: dict) -> str:
    """The one base image every service's Dockerfile builds on, named as Docker reads it."""
    dockerfiles = {REPO_ROOT / service["build"]["dockerfile"] for service in compose["services"].values()}
    bases = set().union(*(external_bases(path) for path in dockerfiles))
    if len(bases) != 1:
        raise CheckFailed(f"expected one base image in {sorted(path.name for path in dockerfiles)}, found {sorted(bases)}")
    return qualified(bases.pop())


def exec_form(value: str, where: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK must be JSON arrays: signals reach the process, no shell parsing."""
    try:
        argv = json.loads(value)
    except json.JSONDecodeError as error:
        raise CheckFailed(f"{where} is not in exec (JSON array) form: {value!r}") from error
    if not (isinstance(argv, list) and argv and all(isinstance(word, str) for word in argv)):
        raise CheckFailed(f"{where} must be a non-empty JSON array of strings: {value!r}")
    return argv


def parse_env(value: str) -> dict[str, str]:
    words = shlex.split(value)
    if words and "=" not in words[0]:
        return {words[0]: value.split(None, 1)[1] if len(words) > 1 else ""}
    return dict(word.split("=", 1) for word in words)


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda match: env.get(match.group(1), ""), value)


def duration_seconds(text: str) -> float:
    """A Dockerfile duration (`30s`, `1m30s`, `500ms`) in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise CheckFailed(f"{text!r} is not a duration Docker reads (e.g. 30s, 1m30s)")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def _parse_healthcheck(value: str, where: str) -> tuple[dict[str, float], list[str] | None]:
    timing: dict[str, float] = {}
    rest = value.strip()
    while rest.startswith("--"):
        option, _, rest = rest.partition(" ")
        name, _, setting = option[2:].partition("=")
        timing[name.replace("-", "_")] = float(setting) if name == "retries" else duration_seconds(setting)
        rest = rest.strip()
    if rest.upper() == "NONE":
        return timing, None
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise CheckFailed(f"{where}: HEALTHCHECK must be `CMD [...]`, got {value!r}")
    return timing, exec_form(command.strip(), f"{where} HEALTHCHECK")


def _parse_copy(value: str, workdir: str) -> Copy:
    words = shlex.split(value)
    from_stage = None
    while words and words[0].startswith("--"):
        option = words.pop(0)
        if option.startswith("--from="):
            from_stage = option.split("=", 1)[1]
    return Copy(tuple(words[:-1]), words[-1], from_stage, workdir)


def image_config(dockerfile: Path, target: str | None = None) -> DockerfileImage:
    stages = read_stages(dockerfile)
    chain = stage_chain(stages, target)
    config = DockerfileImage(stages=stages, base_image=chain[0].base)
    for stage in chain:
        for instruction in stage.instructions:
            _apply(config, stage, instruction, f"{Path(dockerfile).name} stage {stage.name!r}")
    return config


def _apply(config: DockerfileImage, stage: Stage, instruction: Instruction, where: str) -> None:
    """What one instruction changes in the configuration its target inherits."""
    keyword, value = instruction.keyword, instruction.value
    if keyword == "ENV":
        for name, setting in parse_env(value).items():
            config.env[name] = _expand(setting, config.env)
    elif keyword == "USER":
        config.user = value.strip()
    elif keyword == "WORKDIR":
        config.workdir = str(Path(config.workdir, _expand(value.strip(), config.env)))
    elif keyword == "EXPOSE":
        config.exposed.extend(int(port.split("/")[0]) for port in value.split())
    elif keyword == "HEALTHCHECK":
        config.healthcheck_timing, config.healthcheck = _parse_healthcheck(value, where)
    elif keyword == "ENTRYPOINT":
        config.entrypoint = exec_form(value, f"{where} ENTRYPOINT")
        config.cmd = []  # Docker resets an inherited CMD when ENTRYPOINT is set
    elif keyword == "CMD":
        config.cmd = exec_form(value, f"{where} CMD")
    elif keyword in ("COPY", "ADD"):
        config.copies.append(_parse_copy(value, config.workdir))
    elif keyword == "RUN":
        config.runs.append((stage.name, value))


def service_image(name: str) -> DockerfileImage:
    """The image a compose service builds, as its Dockerfile and target define it."""
    build = compose_document(profiles=True)["services"][name]["build"]
    return image_config(REPO_ROOT / build["dockerfile"], build.get("target"))
