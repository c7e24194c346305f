"""What a run of the container check measured and found, as it goes and in a summary at the end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tooling.container_check.errors import CheckFailed


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
