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

    python scripts/container_check.py [--json REPORT] [--keep] [--rebuild-base]   (make container-check)

Environment: CONTAINER_CHECK_ENGINE=docker|podman picks the path instead of `docker info`;
DEBIAN_MIRROR sets the mirror for the stand-in (default: the host's apt sources).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tooling.container_check.buildah import check_with_podman
from tooling.container_check.compose import check_with_docker
from tooling.container_check.errors import CheckFailed
from tooling.container_check.report import Report, print_summary, say
from tooling.container_check.stand_in import INSTALL_HINT

LOCK_FILE = Path(tempfile.gettempdir()) / "creditrisk-container-check.lock"


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
