"""The project's container definitions read as Docker and Compose read them: docker-compose.yml, and the
configuration an image records for running it (`ImageConfig`), whether read from an engine's `image
inspect` (`parse_image_config`) or predicted from a Dockerfile (`dockerfile.image_config`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tooling.container_check.errors import CheckFailed

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
README = REPO_ROOT / "README.md"
WORKSPACE_MOUNT = "/workspace"
# Docker's HEALTHCHECK defaults, in seconds (retries: a count).
HEALTHCHECK_DEFAULTS = {"interval": 30.0, "timeout": 30.0, "start_period": 0.0, "retries": 3.0}


def compose_document(profiles: bool = False, path: Path = COMPOSE_FILE) -> dict:
    """docker-compose.yml with the services `docker compose up` starts; `profiles=True`: also those of
    profiles (`postgres`, `scale`), which start only when named."""
    document = yaml.safe_load(path.read_text())
    if not profiles:
        document["services"] = {name: service for name, service in document["services"].items()
                                if not service.get("profiles")}
    return document


def default_services() -> dict[str, dict]:
    """The services `docker compose up` starts (those without a profile)."""
    return compose_document()["services"]


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` / `${NAME}` interpolation, as on a machine with `environ`."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)


def service_environment(service: dict, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A service's `environment`, as compose passes it on a machine whose environment is `environ`
    (default: none, so that e.g. a developer's CREDITRISK_API_TOKEN stays out). A name without a value
    passes the machine's value, and nothing when the machine has none."""
    environ = environ or {}
    values = service.get("environment") or {}
    if isinstance(values, list):
        values = dict(item.split("=", 1) if "=" in item else (item, None) for item in values)
    passed = {key: environ.get(key) if value is None else interpolate(str(value), environ)
              for key, value in values.items()}
    return {key: value for key, value in passed.items() if value is not None}


def memory_limit(service: dict) -> int | None:
    """`deploy.resources.limits.memory` in bytes (e.g. "3g"), or None."""
    text = str(((service.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory", ""))
    match = re.fullmatch(r"(\d+)([kmg]?)b?", text.lower())
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2)]


def qualified(image: str) -> str:
    """Docker's reading of a short image name (python:3.11 is docker.io/library/python:3.11);
    podman would otherwise store an imported stand-in under localhost/."""
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image


@dataclass
class ImageConfig:
    """What an image records for running it: environment, user, working directory, ENTRYPOINT and CMD,
    HEALTHCHECK (its command as argv; its timing in seconds), exposed ports and size (0 when predicted)."""

    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # None: no USER, the container runs as root
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] | None = None
    healthcheck_timing: dict[str, float] = field(default_factory=dict)
    exposed: list[int] = field(default_factory=list)
    size: int = 0

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    @property
    def uid(self) -> int:
        user = (self.user or "0").split(":")[0] or "0"
        if not user.isdigit():
            raise CheckFailed(f"USER {self.user!r} is not numeric: the check compares file owners by uid")
        return int(user)

    def healthcheck_deadline(self) -> float:
        """Seconds after which Docker would call the container unhealthy (at least a minute)."""
        timing = {**HEALTHCHECK_DEFAULTS, **self.healthcheck_timing}
        return max(60.0, timing["start_period"] + timing["interval"] * timing["retries"])

    def healthcheck_path(self) -> str:
        match = re.search(r"https?://[^/'\"\s]+(/[\w./-]*)", " ".join(self.healthcheck or []))
        if not match:
            raise CheckFailed(f"no URL in the HEALTHCHECK {self.healthcheck}")
        return match.group(1)


def parse_image_config(inspected: dict) -> ImageConfig:
    """An engine's `image inspect` record (Docker keeps the health check in Config, podman also at the top)."""
    config = inspected.get("Config") or {}
    healthcheck = config.get("Healthcheck") or inspected.get("Healthcheck") or {}
    timing = {name: healthcheck[key] / (1 if name == "retries" else 1e9)
              for name, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                                ("retries", "Retries")) if healthcheck.get(key)}
    return ImageConfig(env=dict(item.split("=", 1) for item in config.get("Env") or []),
                       user=config.get("User") or "0", workdir=config.get("WorkingDir") or "/",
                       entrypoint=list(config.get("Entrypoint") or []), cmd=list(config.get("Cmd") or []),
                       healthcheck=healthcheck_argv(healthcheck.get("Test") or []), healthcheck_timing=timing,
                       exposed=sorted(int(port.split("/")[0]) for port in config.get("ExposedPorts") or {}),
                       size=int(inspected.get("Size") or 0))


def healthcheck_argv(test: list[str]) -> list[str] | None:
    """Docker's recorded health check test (`CMD` argv, `CMD-SHELL` text, `NONE`) as the argv it runs."""
    if not test or test[0] == "NONE":
        return None
    return list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]


def service_argv(service: dict, config: ImageConfig) -> list[str]:
    """ENTRYPOINT + CMD as compose starts the service (its `entrypoint`/`command` win)."""
    entrypoint = service.get("entrypoint", config.entrypoint)
    command = service.get("command", config.cmd)
    as_list = lambda value: shlex.split(value) if isinstance(value, str) else list(value)  # noqa: E731
    return [*as_list(entrypoint or []), *as_list(command or [])]
