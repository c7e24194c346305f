"""Running the engines' commands and the containers' processes: output or a named failure, logs, a
process group stopped whole, and the peak memory of a container's processes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import threading
from pathlib import Path

from tooling.container_check.errors import CheckFailed
from tooling.container_check.spec import REPO_ROOT, ImageConfig, parse_image_config


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


def inspect_image(engine: str, image: str) -> ImageConfig:
    return parse_image_config(json.loads(output([engine, "image", "inspect", image]))[0])


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
