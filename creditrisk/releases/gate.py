"""The release gate: one version's committed metrics and validation pack against another's, within tolerances.

`dvc metrics diff` has no tolerances. The gate compares two sides within the `release` block of params.yaml:
`make release-check` the workspace against the latest release, `make promote` a release against the version
that holds the stage. A side's metrics and pack are read from git at its release commit (they never change) or,
for the workspace, from the files.

A validation test red on the newer side and not listed red on the older one is a breach. Only the red tests are
listed in a pack, so the table says "not listed red": the older pack may have passed the test or may not have
run it at all (a test added since, such as the Regulation B age check that v1.2.0's pack did not run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from creditrisk.releases.record import load_releases, Release, ReleaseError, ReleaseParams
from creditrisk.releases.tags import git

WORKSPACE = "workspace"


@dataclass(frozen=True)
class GateRow:
    metric: str
    release: float | None
    workspace: float | None
    rule: str
    breach: bool
    shown: tuple[str, str] | None = None

    def cells(self) -> list[str]:
        def show(value: float | None) -> str:
            return "missing" if value is None else f"{value:.6f}"
        change = ("" if self.release is None or self.workspace is None
                  else f"{self.workspace - self.release:+.6f}")
        before, after = self.shown or (show(self.release), show(self.workspace))
        return [self.metric, before, after, change, self.rule,
                "BREACH" if self.breach else "ok"]


@dataclass(frozen=True)
class GateReport:
    """The rows of one comparison: `before` is the side compared with (a release), `after` the side judged."""

    before: str
    after: str
    rows: list[GateRow]

    @property
    def breaches(self) -> list[str]:
        return [row.metric for row in self.rows if row.breach]

    @property
    def passed(self) -> bool:
        return not self.breaches

    @property
    def verdict(self) -> str:
        """e.g. "passed against v1.2.0" or "FAILED, 1 breach(es): roc_auc"."""
        breaches = self.breaches
        return (f"FAILED, {len(breaches)} breach(es): {', '.join(breaches)}" if breaches
                else f"passed against {self.before}")

    def text(self) -> str:
        table = format_table(["metric", self.before, self.after, "change", "tolerance", "verdict"],
                             [row.cells() for row in self.rows])
        return f"{table}\nrelease gate: {self.verdict}"


def _number(metrics: dict[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def gate_rows(released: dict[str, Any], workspace: dict[str, Any], params: ReleaseParams) -> list[GateRow]:
    """One row per metric with a tolerance: a breach where the workspace is worse than the release by
    more than it allows, or where the workspace lacks a metric the release had."""
    rows = []
    for rules, sign, word in ((params.max_drop, -1.0, "drop"), (params.max_rise, 1.0, "rise")):
        for metric, tolerance in rules.items():
            before, after = _number(released, metric), _number(workspace, metric)
            worse_by = None if before is None or after is None else sign * (after - before)
            breach = (after is None and before is not None) or (worse_by is not None and worse_by > tolerance + 1e-12)
            rows.append(GateRow(metric, before, after, f"may {word} <= {tolerance:g}", breach))
    return rows


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, rows)])


def released_metrics(repo: Path, release: Release, metrics_path: str) -> dict[str, Any]:
    shown = git(repo, "show", f"{release.commit}:{metrics_path}", check=False)
    if shown.returncode != 0:
        raise ReleaseError(f"{release.tag} ({release.commit[:12]}) has no {metrics_path}")
    return json.loads(shown.stdout)


def released_validation(repo: Path, release: Release, path: str) -> dict[str, Any] | None:
    """A release's validation pack (None for a release made before the pack existed)."""
    shown = git(repo, "show", f"{release.commit}:{path}", check=False)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def red_tests(validation: dict[str, Any] | None) -> set[str]:
    return set(validation.get("red", [])) if validation else set()


def new_red_rows(released: dict[str, Any] | None, workspace: dict[str, Any] | None) -> list[GateRow]:
    """A validation test red on the judged side and not listed red on the other is a breach (see the module
    docstring for why the other side says "not listed red"; a release without a pack had no red test)."""
    before = "no pack" if released is None else "not listed red"
    return [GateRow(f"validation: {name}", None, None, "may not be red unless red before", True, (before, "red"))
            for name in sorted(red_tests(workspace) - red_tests(released))]


def compare(before: tuple[dict[str, Any], dict[str, Any] | None], after: tuple[dict[str, Any], dict[str, Any] | None],
            labels: tuple[str, str], params: ReleaseParams) -> GateReport:
    """The gate between two sides, each its (metrics, validation pack)."""
    rows = gate_rows(before[0], after[0], params) + new_red_rows(before[1], after[1])
    return GateReport(labels[0], labels[1], rows)


def release_side(repo: Path, release: Release, params: ReleaseParams) -> tuple[dict[str, Any], dict[str, Any] | None]:
    return (released_metrics(repo, release, params.metrics_path),
            released_validation(repo, release, params.validation_path))


def compare_releases(repo: Path, incumbent: Release, candidate: Release, params: ReleaseParams) -> GateReport:
    """`candidate` judged against `incumbent`, both read from git at their release commits."""
    return compare(release_side(repo, incumbent, params), release_side(repo, candidate, params),
                   (incumbent.tag, candidate.tag), params)


def workspace_side(repo: Path, params: ReleaseParams) -> tuple[dict[str, Any], dict[str, Any] | None]:
    metrics_path = repo / params.metrics_path
    if not metrics_path.is_file():
        raise ReleaseError(f"{metrics_path}: no workspace metrics (run `dvc repro`)")
    validation_path = repo / params.validation_path
    validation = json.loads(validation_path.read_text()) if validation_path.is_file() else None
    return json.loads(metrics_path.read_text()), validation


def workspace_gate(repo: Path, params: ReleaseParams) -> GateReport:
    """The workspace judged against the latest release."""
    releases = load_releases(repo / params.record)
    if not releases:
        raise ReleaseError(f"{params.record}: no release to compare with")
    latest = releases[-1]
    return compare(release_side(repo, latest, params), workspace_side(repo, params), (latest.tag, WORKSPACE), params)


def run_gate(repo: Path, params: ReleaseParams) -> tuple[str, bool]:
    """The side-by-side table against the latest release, and whether the gate passes."""
    report = workspace_gate(repo, params)
    return report.text(), report.passed
