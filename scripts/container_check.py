#!/usr/bin/env python3
"""Prove the three images by building and running them, as `docker compose up --build` does.

With a Docker engine (`docker info` answers), `docker compose up --build --wait` starts the
stack and the checks run against it; `docker compose down -v` removes it afterwards.

Without one, podman builds the images and buildah runs them:

1. the base image the Dockerfiles name is replaced by a stand-in built with debootstrap
   from Debian's packages (cached in podman's storage under a hash of its inputs);
2. `podman build` builds the `pipeline`, `api` and `dashboard` targets of docker-compose.yml;
3. the pipeline image's ENTRYPOINT and CMD (read from the built image) run on an empty
   workspace mounted at /workspace, owned like the image's mount point, as a fresh named
   volume would be; a second start must find nothing to rerun;
4. the API's and the dashboard's CMDs start on that workspace with the images' ENV, USER and
   WORKDIR plus the service's compose `environment`, on free loopback ports (buildah shares
   the host's network, so the servers are moved to those ports instead of being mapped);
5. each image's own HEALTHCHECK runs in its container until it passes, and the URL it probes
   is fetched from the host;

Then, on either path: the README's curl examples are sent to the containerised API, the
prediction log must be owned by the API image's user, the README's `docker compose run --rm
pipeline ...` command must rerun drift on the logged traffic, and every dashboard page must run
in its image without an exception. Everything started is removed again, on failure too.

    python scripts/container_check.py [--json REPORT] [--keep] [--rebuild-base]

Environment: CONTAINER_CHECK_ENGINE=docker|podman picks the path instead of `docker info`;
DEBIAN_MIRROR sets the mirror for the stand-in (default: the host's apt sources).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
README = REPO_ROOT / "README.md"
WORKSPACE_MOUNT = "/workspace"
README_BASE_URL = "http://localhost:8000"
LOCK_FILE = Path(tempfile.gettempdir()) / "creditrisk-container-check.lock"

# The stand-in base: what the issue that introduced it specifies, and nothing else.
STAND_IN_VARIANT = "minbase"
STAND_IN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
STAND_IN_LABEL = "org.creditrisk.stand-in.hash"
STAND_IN_CACHE_REPO = "localhost/creditrisk-stand-in"
STAND_IN_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
# pip inside the build verifies the package index against this bundle (Debian's ca-certificates
# package writes it); the host's copy goes in, so the build trusts what the host trusts.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
APT_DIR = Path("/etc/apt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_IMAGE = re.compile(r"^(?:docker\.io/(?:library/)?)?python:(?P<python>\d+\.\d+\.\d+)-slim-(?P<suite>[a-z]+)"
                        r"(?P<digest>@sha256:[0-9a-f]{64})?$")
# podman records HEALTHCHECK only in Docker's image format; the layer cache is per format too.
PODMAN_BUILD = ("podman", "build", "--pull=never", "--isolation=chroot", "--format", "docker", "--layers")
BUILDAH_RUN = ("buildah", "run", "--isolation=chroot", "--network=host")
# Now and then `buildah run` fails before the command starts, when sealing the copy of itself it
# runs from (EBUSY); the command never ran, so it is started again.
TRANSIENT_BUILDAH_ERROR = "sealing memfd copy"
RUN_ATTEMPTS = 3
INSTALL_HINT = "apt-get install --no-install-recommends podman buildah debootstrap (what .ci/run does)"

# Every page the dashboard's navigation lists, through Streamlit's AppTest, in the image's
# working directory: an exception fails the check, errors shown on a page are reported.
DASHBOARD_RUN = r'''
import re
from pathlib import Path
from streamlit.testing.v1 import AppTest
pages = re.findall(r"st\.Page\(\s*[\"']([^\"']+)", Path("dashboard/app.py").read_text())
problems = [] if pages else ["no st.Page(...) found in dashboard/app.py"]
for page in pages:
    app = AppTest.from_file("dashboard/app.py", default_timeout=120).switch_page(page).run()
    problems += [f"{page}: {item.value}" for item in app.exception]
    shown = [str(item.value)[:80] for item in app.error]
    print(f"{page}: {len(app.metric)} metrics" + (f", errors shown: {shown}" if shown else ""))
print("\n".join(f"EXCEPTION {problem}" for problem in problems))
raise SystemExit(1 if problems else 0)
'''


class CheckFailed(Exception):
    """A step of the check failed; the message says what and where to look."""

    def __init__(self, message: str, recorded: bool = False) -> None:
        super().__init__(message)
        self.recorded = recorded  # already in the report's checks


# ---- report ---------------------------------------------------------------------------------

@dataclass
class Report:
    """What the run measured and found; printed at the end and optionally written as JSON."""

    engine: str = ""
    base: dict[str, object] = field(default_factory=dict)
    images: dict[str, dict[str, object]] = field(default_factory=dict)
    runs: dict[str, dict[str, object]] = field(default_factory=dict)
    checks: list[dict[str, object]] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    passed: bool = False

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"name": name, "ok": ok, "detail": detail})
        say(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}")
        return ok

    def require(self, name: str, ok: bool, detail: str = "") -> None:
        """A check the following steps depend on: stop the run when it fails."""
        if not self.check(name, ok, detail):
            raise CheckFailed(f"{name}: {detail}", recorded=True)


def say(message: str) -> None:
    print(message, flush=True)


def step(title: str) -> None:
    say(f"==> {title}")


@contextlib.contextmanager
def timed(into: dict[str, object], key: str = "seconds") -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        into[key] = round(time.monotonic() - started, 1)


def megabytes(size: float) -> str:
    return f"{size / 2**20:,.0f} MiB"


# ---- the project's own files ----------------------------------------------------------------

def compose_document() -> dict:
    """docker-compose.yml with the services `docker compose up` starts: those of a profile (`postgres`, `scale`)
    start only when it is named, and are left out of the check, as compose leaves them out without `--profile`."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    document["services"] = {name: service for name, service in document["services"].items()
                            if not service.get("profiles")}
    return document


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` / `${NAME}` interpolation."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)


def service_environment(service: dict, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A service's `environment`, as compose passes it on a machine whose environment is
    `environ` (default: none, so that e.g. a developer's CREDITRISK_API_TOKEN stays out)."""
    environ = environ or {}
    values = service.get("environment") or {}
    if isinstance(values, list):
        values = dict(item.split("=", 1) if "=" in item else (item, None) for item in values)
    return {key: interpolate(str(value), environ) if value is not None else environ.get(key, "")
            for key, value in values.items()}


def memory_limit(service: dict) -> int | None:
    """`deploy.resources.limits.memory` in bytes (e.g. "3g"), or None."""
    text = str(((service.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory", ""))
    match = re.fullmatch(r"(\d+)([kmg]?)b?", text.lower())
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2)]


def dockerfile_stages(dockerfile: Path) -> list[tuple[str | None, str]]:
    """(stage name or None, what it is FROM) for each FROM line, in order."""
    stages = []
    for line in dockerfile.read_text().splitlines():
        words = [word for word in line.split() if not word.startswith("--platform")]
        if len(words) >= 2 and words[0].upper() == "FROM":
            stages.append((words[3] if len(words) == 4 and words[2].upper() == "AS" else None, words[1]))
    return stages


def external_bases(dockerfile: Path) -> set[str]:
    """The images a Dockerfile's FROM lines name that are not its own stages."""
    names = {name for name, _ in dockerfile_stages(dockerfile)}
    return {base for _, base in dockerfile_stages(dockerfile) if base not in names}


def leaf_stages(dockerfile: Path, targets: set[str]) -> list[str]:
    """Named stages that no target is built FROM (e.g. a builder only COPY --from reads):
    tagged, so that pruning leftovers of earlier runs keeps their layer cache."""
    stages = dockerfile_stages(dockerfile)
    bases = {base for _, base in stages}
    return [name for name, _ in stages[:-1] if name and name not in bases and name not in targets]


def qualified(image: str) -> str:
    """Docker's reading of a short image name (python:3.11 is docker.io/library/python:3.11);
    podman would otherwise store an imported stand-in under localhost/."""
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image


def base_image_name(compose: dict) -> str:
    dockerfiles = {REPO_ROOT / service["build"]["dockerfile"] for service in compose["services"].values()}
    bases = set().union(*(external_bases(path) for path in dockerfiles))
    if len(bases) != 1:
        raise CheckFailed(f"expected one base image in {sorted(path.name for path in dockerfiles)}, found {sorted(bases)}")
    return qualified(bases.pop())


@dataclass(frozen=True)
class Example:
    command: str
    documented: str
    language: str


def readme_code_blocks(text: str) -> list[tuple[str, str]]:
    return [(match.group(1), match.group(2)) for match in re.finditer(r"^```(\w*)\n(.*?)^```\s*$", text, re.S | re.M)]


def readme_curl_examples(text: str) -> list[Example]:
    """Each bash block that calls the API, with the response block documented after it."""
    blocks = readme_code_blocks(text)
    return [Example(body.strip(), following, next_language)
            for (language, body), (next_language, following) in zip(blocks, blocks[1:])
            if language == "bash" and body.lstrip().startswith("curl ") and README_BASE_URL in body
            and next_language in ("json", "csv")]


def readme_pipeline_commands(text: str) -> list[list[str]]:
    """The `dvc` arguments of the README's `docker compose run --rm pipeline ...` commands."""
    commands = []
    for language, body in readme_code_blocks(text):
        if language == "bash":
            for line in body.splitlines():
                if line.strip().startswith("docker compose run --rm pipeline "):
                    words = shlex.split(line)
                    commands.append(words[words.index("pipeline") + 1:])
    return commands


# ---- image configuration --------------------------------------------------------------------

@dataclass(frozen=True)
class ImageConfig:
    """The parts of `<engine> image inspect` a container run depends on."""

    env: dict[str, str]
    user: str
    workdir: str
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: dict | None
    exposed: list[int]
    size: int

    @property
    def uid(self) -> int:
        user = self.user.split(":")[0] or "0"
        if not user.isdigit():
            raise CheckFailed(f"USER {self.user!r} is not numeric: the check compares file owners by uid")
        return int(user)

    def healthcheck_argv(self) -> list[str] | None:
        test = (self.healthcheck or {}).get("Test") or []
        if not test or test[0] == "NONE":
            return None
        return list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]

    def healthcheck_deadline(self) -> float:
        """Seconds after which Docker would call the container unhealthy (at least a minute)."""
        check = self.healthcheck or {}
        seconds = (check.get("StartPeriod", 0) + check.get("Interval", 30e9) * check.get("Retries", 3)) / 1e9
        return max(60.0, seconds)

    def healthcheck_path(self) -> str:
        argv = self.healthcheck_argv() or []
        match = re.search(r"https?://[^/'\"\s]+(/[\w./-]*)", " ".join(argv))
        if not match:
            raise CheckFailed(f"no URL in the HEALTHCHECK {argv}")
        return match.group(1)


def parse_image_config(inspected: dict) -> ImageConfig:
    config = inspected.get("Config") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    healthcheck = config.get("Healthcheck") or inspected.get("Healthcheck")
    exposed = sorted(int(port.split("/")[0]) for port in config.get("ExposedPorts") or {})
    return ImageConfig(env=env, user=config.get("User") or "0", workdir=config.get("WorkingDir") or "/",
                       entrypoint=list(config.get("Entrypoint") or []), cmd=list(config.get("Cmd") or []),
                       healthcheck=healthcheck, exposed=exposed, size=int(inspected.get("Size") or 0))


def inspect_image(engine: str, image: str) -> ImageConfig:
    return parse_image_config(json.loads(output([engine, "image", "inspect", image]))[0])


def service_argv(service: dict, config: ImageConfig) -> list[str]:
    """ENTRYPOINT + CMD as compose starts the service (its `entrypoint`/`command` win)."""
    entrypoint = service.get("entrypoint", config.entrypoint)
    command = service.get("command", config.cmd)
    as_list = lambda value: shlex.split(value) if isinstance(value, str) else list(value)  # noqa: E731
    return [*as_list(entrypoint or []), *as_list(command or [])]


# ---- processes ------------------------------------------------------------------------------

def output(argv: list[str], timeout: float = 120, **kwargs: object) -> str:
    """stdout of a command that must succeed; its stderr in the error otherwise."""
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if completed.returncode != 0:
        raise CheckFailed(f"`{shlex.join(argv)}` exited {completed.returncode}:\n{completed.stderr[-3000:]}")
    return completed.stdout


def run_logged(argv: list[str], log: Path, timeout: float, cwd: Path = REPO_ROOT,
               stdin: int | None = None) -> subprocess.CompletedProcess:
    with log.open("w") as handle:
        return subprocess.run(argv, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, stdin=stdin)


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """Stop a process started in its own session, and everything it started."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class PeakMemory(threading.Thread):
    """Peak proportional set size (shared pages counted once, as a cgroup would) of the
    processes in one process group that run as `uid`: the container's processes, not buildah."""

    def __init__(self, pgid: int, uid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pgid, self.uid, self.interval = pgid, uid, interval
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, group_pss(self.pgid, self.uid))

    def stop(self) -> int:
        self._done.set()
        self.join(timeout=5)
        return self.peak


def group_pss(pgid: int, uid: int) -> int:
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(int(entry.name)) == pgid and entry.stat().st_uid == uid:
                rollup = Path(entry.path, "smaps_rollup").read_text()
                total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1)) * 1024
    return total


# ---- the stand-in base (podman path) --------------------------------------------------------

def apt_source_uris(apt_dir: Path, suite: str) -> list[str]:
    """Mirrors the host's apt sources use for `suite` (deb822 .sources and one-line .list)."""
    uris = []
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for paragraph in re.split(r"\n\s*\n", path.read_text()):
            fields = {}
            for line in paragraph.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
                uris += fields.get("uris", [])
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                uris.append(words[1])
    return uris


def debian_mirror(suite: str, apt_dir: Path = APT_DIR) -> str:
    return os.environ.get("DEBIAN_MIRROR") or next(iter(apt_source_uris(apt_dir, suite)), DEFAULT_MIRROR)


def stand_in_recipe(base: str, mirror: str, ca_bundle: Path = HOST_CA_BUNDLE) -> dict[str, object]:
    match = BASE_IMAGE.match(base)
    if not match:
        raise CheckFailed(f"the stand-in imitates python:<x.y.z>-slim-<debian suite> only, not {base!r}")
    if match.group("digest"):
        raise CheckFailed(f"{base} is pinned by digest, which no locally built stand-in can match")
    if not ca_bundle.is_file():
        raise CheckFailed(f"{ca_bundle} is missing: install Debian's ca-certificates package on the host")
    return {"base": base, "python": match.group("python"), "suite": match.group("suite"),
            "variant": STAND_IN_VARIANT, "packages": list(STAND_IN_PACKAGES), "mirror": mirror,
            "changes": list(STAND_IN_CHANGES), "python_link": "/usr/local/bin/python -> /usr/bin/python3",
            "ca_bundle_sha256": hashlib.sha256(ca_bundle.read_bytes()).hexdigest()}


def recipe_hash(recipe: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_config_or_none(image: str) -> dict | None:
    """`podman image inspect`'s record of the image, or None when podman has no such image."""
    completed = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, timeout=60)
    return json.loads(completed.stdout)[0] if completed.returncode == 0 else None


def is_real_base(inspected: dict, python: str) -> bool:
    """The official image records its Python version in PYTHON_VERSION; a stand-in does not."""
    return f"PYTHON_VERSION={python}" in ((inspected.get("Config") or {}).get("Env") or [])


def ensure_stand_in(base: str, work: Path, report: Report, rebuild: bool = False) -> None:
    """Make `base` resolve to the stand-in in podman's storage, building it only when no
    image carries the hash of its current inputs."""
    recipe = stand_in_recipe(base, debian_mirror(str(BASE_IMAGE.match(base).group("suite"))))
    digest = recipe_hash(recipe)
    cached = f"{STAND_IN_CACHE_REPO}:{digest}"
    found = image_config_or_none(base)
    labels = (found or {}).get("Labels") or {}
    report.base.update(image=base, stand_in=True, hash=digest, mirror=recipe["mirror"])
    if found is not None and is_real_base(found, str(recipe["python"])) and not rebuild:
        report.base.update(stand_in=False, reused=True)
        report.notes.append(f"{base} in podman's storage is the real image (PYTHON_VERSION {recipe['python']}): "
                            "used instead of a stand-in")
        return
    if not rebuild and labels.get(STAND_IN_LABEL) == digest:
        report.base.update(reused=True)
    elif not rebuild and image_config_or_none(cached) is not None:
        output(["podman", "tag", cached, base])
        report.base.update(reused=True)
    else:
        with timed(report.base):
            build_stand_in(recipe, digest, work / "stand-in", [base, cached])
        report.base.update(reused=False)
    say(f"    stand-in {digest} {'reused' if report.base['reused'] else 'built'}")


def build_stand_in(recipe: dict[str, object], digest: str, work: Path, names: list[str]) -> None:
    for tool in ("debootstrap", "tar"):
        if not shutil.which(tool):
            raise CheckFailed(f"{tool} is needed to build the stand-in base: {INSTALL_HINT}")
    rootfs, log = work / "rootfs", work / "debootstrap.log"
    work.mkdir(parents=True)
    say(f"    debootstrap --variant={recipe['variant']} {recipe['suite']} from {recipe['mirror']}")
    completed = run_logged(["debootstrap", f"--variant={recipe['variant']}", f"--include={','.join(recipe['packages'])}",
                            str(recipe["suite"]), str(rootfs), str(recipe["mirror"])], log, timeout=1200)
    if completed.returncode != 0:
        raise CheckFailed(f"debootstrap failed (is {recipe['mirror']} reachable?):\n{tail(log)}")
    shutil.copyfile(HOST_CA_BUNDLE, rootfs / HOST_CA_BUNDLE.relative_to("/"))
    (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    for cache in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for path in (rootfs / cache).glob("*"):
            if path.is_file():
                path.unlink()
    changes = [*recipe["changes"], f"LABEL {STAND_IN_LABEL}={digest}"]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imported = run_logged(["podman", "import", *[f"--change={change}" for change in changes], "-", names[0]],
                          work / "import.log", timeout=600, stdin=tar.stdout)
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise CheckFailed(f"importing the stand-in failed:\n{tail(work / 'import.log')}")
    for name in names[1:]:
        output(["podman", "tag", names[0], name])
    shutil.rmtree(work, ignore_errors=True)


def stand_in_differences(report: Report, facts: dict[str, str]) -> None:
    """How the images built on the stand-in differ from images built on the real base."""
    if not report.base.get("stand_in"):
        return
    real = str(report.base["image"])
    version = BASE_IMAGE.match(real).group("python")
    report.differences += [
        f"Python {facts['python']} from Debian's python3 package, against {version} built from source in {real}",
        f"python is {facts['executable']} with a link in /usr/local/bin; {real} installs it in /usr/local",
        f"the venv's pip is {facts['pip']} (Debian's ensurepip wheel); {real}'s ensurepip brings its own pip",
        "no pip outside the venv (the Dockerfiles use only the venv's)",
        "debootstrap's minbase (apt, no docs stripped) instead of debian:<suite>-slim; no PYTHON_VERSION or "
        "GPG_KEY in the environment",
        "the host's CA bundle in /etc/ssl/certs/ca-certificates.crt, not Debian's as shipped",
        "built by podman (Docker image format, chroot isolation), not BuildKit",
        "run by buildah on the host's network: servers moved to free loopback ports instead of port mappings; "
        "no memory or CPU limits (peak memory is measured against compose's limits instead); no restart "
        "policies; the named volume is a host directory owned like the image's /workspace",
    ]


# ---- the podman path ------------------------------------------------------------------------

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
    check = container.config.healthcheck_argv()
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


# ---- checks shared by both paths ------------------------------------------------------------

class Stack(Protocol):
    """The running services, as the shared checks see them on either path."""

    service_env: dict[str, dict[str, str]]  # service -> its compose `environment`

    def base_url(self, name: str) -> str: ...

    def exec(self, name: str, command: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        """Run `command` in the service's container, as its image's user."""

    def run_pipeline(self, dvc_args: list[str]) -> subprocess.CompletedProcess:
        """`docker compose run --rm pipeline <dvc_args>`."""

    def image(self, name: str) -> ImageConfig: ...

    def examples_dir(self) -> Path:
        """Where the README's examples find the @files they send (data/incoming/...)."""


def shared_checks(stack: Stack, report: Report) -> None:
    readme = README.read_text()
    step("probe the HEALTHCHECK URLs from the host")
    for name in ("api", "dashboard"):
        path = stack.image(name).healthcheck_path()
        status, _ = http_get(stack.base_url(name) + path)
        report.check(f"GET {path} from the host ({name})", status == 200, str(status))
    status, page = http_get(stack.base_url("dashboard") + "/")
    report.check("dashboard serves its page", status == 200 and "<html" in page.lower(), str(status))
    step("the README's curl examples against the containerised API")
    for example in readme_curl_examples(readme):
        ok, detail = run_curl_example(example, stack.base_url("api"), stack.examples_dir())
        report.check(f"README: curl {describe(example.command)}", ok, detail)
    log_path = stack.service_env["api"].get("CREDITRISK_PREDICTION_LOG") or stack.image("api").env.get(
        "CREDITRISK_PREDICTION_LOG", "")
    owner = stack.exec("api", ["stat", "-c", "%u", log_path], timeout=60)
    report.check("the prediction log is written into the workspace by the API's user",
                 owner.returncode == 0 and owner.stdout.strip() == str(stack.image("api").uid),
                 f"{log_path} owned by uid {owner.stdout.strip() or '?'}, expected {stack.image('api').uid}"
                 + (f" ({owner.stderr.strip()})" if owner.returncode else ""))
    for dvc_args in readme_pipeline_commands(readme):
        step(f"README: docker compose run --rm pipeline {shlex.join(dvc_args)}")
        completed = stack.run_pipeline(dvc_args)
        text = completed.stdout + completed.stderr
        ok = completed.returncode == 0 and ("drift" not in dvc_args or "prediction log" in text and " read" in text)
        report.check(f"README: pipeline {shlex.join(dvc_args)}", ok, "" if ok else text[-2000:])
    step("every dashboard page in its image, on the workspace")
    completed = stack.exec("dashboard", ["python", "-c", DASHBOARD_RUN], timeout=300)
    report.check("every dashboard page runs without an exception", completed.returncode == 0,
                 completed.stdout.strip() or completed.stderr[-2000:])


def describe(command: str) -> str:
    """`curl -X POST .../predict -H 'Content-Type: text/csv' ...` -> `POST /predict (text/csv)`."""
    method = re.search(r"-X\s+(\w+)", command)
    path = re.search(re.escape(README_BASE_URL) + r"(/[^\s'\"]*)", command)
    media = re.search(r"Content-Type:\s*([\w/+.-]+)", command)
    return (f"{method.group(1) if method else 'GET'} {path.group(1) if path else '?'}"
            + (f" ({media.group(1)})" if media else ""))


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


def run_curl_example(example: Example, base_url: str, cwd: Path) -> tuple[bool, str]:
    """Send one README example (from `cwd`, where its @files are); compare status and shape."""
    command = example.command.replace(README_BASE_URL, base_url) + " -w '\\n%{http_code}'"
    completed = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        return False, completed.stderr.strip()
    body, _, status = completed.stdout.rpartition("\n")
    if example.language == "csv":
        ok = status == "200" and body.splitlines()[:1] == example.documented.splitlines()[:1]
        return ok, f"{status}, {len(body.splitlines()) - 1} rows"
    documented = json.loads(example.documented)
    expected = documented.get("status", 200)
    try:
        answer = json.loads(body)
    except json.JSONDecodeError:
        return False, f"{status}, not JSON: {body[:300]}"
    same_fields = set(answer) == set(documented)
    return int(status) == expected and same_fields, f"{status} (documented {expected})" + (
        "" if same_fields else f", fields {sorted(answer)} != documented {sorted(documented)}")


# ---- the Docker path ------------------------------------------------------------------------

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


# ---- main -----------------------------------------------------------------------------------

def docker_engine_available() -> bool:
    if not shutil.which("docker"):
        return False
    with contextlib.suppress(subprocess.TimeoutExpired):
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    return False


def choose_engine() -> str:
    chosen = os.environ.get("CONTAINER_CHECK_ENGINE", "").strip().lower()
    if chosen and chosen not in ("docker", "podman"):
        raise CheckFailed(f"CONTAINER_CHECK_ENGINE={chosen!r}: use docker or podman")
    return chosen or ("docker" if docker_engine_available() else "podman")


def missing_prerequisites(engine: str) -> list[str]:
    """What this machine lacks for `engine`'s path, each with what to do about it."""
    if engine == "docker":
        return [] if docker_engine_available() else ["a Docker engine (`docker info` fails)"]
    missing = [f"{tool} ({INSTALL_HINT})" for tool in ("podman", "buildah", "debootstrap") if not shutil.which(tool)]
    missing += [f"{tool} (apt-get install {tool})" for tool in ("curl", "tar") if not shutil.which(tool)]
    if os.geteuid() != 0:
        missing.append("root (buildah's chroot isolation and the workspace's owner need it: run with sudo)")
    return missing


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """One container check per machine at a time: they share image names and podman's storage."""
    with lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another container check to finish ({lock_file})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def raise_on_termination() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so that the cleanup still runs."""
    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def print_summary(report: Report) -> None:
    say("")
    say(f"== container check {'passed' if report.passed else 'FAILED'} ({report.engine}) in {report.seconds:.0f} s")
    if report.base:
        state = "reused" if report.base.get("reused") else f"built in {report.base.get('seconds', '?')} s"
        say(f"   base {report.base.get('image')}: {'stand-in ' + str(report.base.get('hash')) if report.base.get('stand_in') else 'as found'}, {state}")
    for name, image in report.images.items():
        build = f"built in {image['build_seconds']:>6.1f} s, " if "build_seconds" in image else ""
        layer = f" (largest layer {megabytes(image['largest_layer_bytes'])})" if "largest_layer_bytes" in image else ""
        say(f"   image {name:<10} {build}{megabytes(image.get('size_bytes', 0))}{layer}")
    for name, run in report.runs.items():
        figures = ", ".join(f"{key.replace('_', ' ')} {megabytes(value) if key.endswith('bytes') else value}"
                            for key, value in run.items() if key not in ("argv", "port"))
        say(f"   run   {name:<10} {figures}")
    failed = [check for check in report.checks if not check["ok"]]
    say(f"   checks: {len(report.checks) - len(failed)} of {len(report.checks)} passed")
    for check in failed:
        say(f"   FAILED {check['name']}")
    if report.differences:
        say("   the stand-in differs from the real base:")
        for difference in report.differences:
            say(f"     - {difference}")
    for note in report.notes:
        say(f"   note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the report (times, sizes, checks) to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, workspace)")
    parser.add_argument("--rebuild-base", action="store_true", help="rebuild the stand-in base even if cached")
    args = parser.parse_args(argv)
    raise_on_termination()
    report, started_at = Report(), time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="creditrisk-container-check-"))
    try:
        engine = choose_engine()
        missing = missing_prerequisites(engine)
        if missing:
            raise CheckFailed("missing: " + "; ".join(missing))
        with exclusive(LOCK_FILE):
            if engine == "docker":
                check_with_docker(report, work)
            else:
                check_with_podman(report, work, args.rebuild_base)
        report.passed = all(check["ok"] for check in report.checks)
    except CheckFailed as failure:
        if not failure.recorded:
            report.check("stopped", False, str(failure))
        report.notes.append(f"stopped: {str(failure).splitlines()[0]}")
    finally:
        report.seconds = round(time.monotonic() - started_at, 1)
        if args.keep:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        print_summary(report)
        if args.json:
            args.json.write_text(json.dumps(report.__dict__, indent=2, default=str) + "\n")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
