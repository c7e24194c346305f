"""The release record (`releases.yaml`), the tags it restores, and the release gate.

Many clones carry no tags: mirrors, and CI checkouts that fetch one branch. `dvc metrics diff
v1.0.0 v1.1.0` then fails with "unknown Git revision". The repository therefore records every
release in a committed file, and `make setup` recreates a missing annotated tag from it, after
checking that the commit is on the current history and holds `dvc.lock` and the metrics. A tag that
already points elsewhere is never moved.

A commit cannot hold its own hash, so a release is two commits: the release commit ("Release
vX.Y.Z"), tagged, and right after it the commit that appends the record naming it.

`dvc metrics diff` has no tolerances; the release gate compares the workspace metrics with the
latest release's within the tolerances of the `release` block of params.yaml.

    python -m creditrisk.releases tags            # recreate missing tags (make setup)
    python -m creditrisk.releases check           # the release gate (make release-check)
    python -m creditrisk.releases explain-lock    # why dvc.lock changed, and the gate (make repro, make run)
    python -m creditrisk.releases release X.Y.Z "one line of what changed"   (make release)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import yaml

from creditrisk.io import atomic_write_text
from creditrisk.params import ParamsBlock, configured

# The model's name in the registry (DVC's GTO convention: tags credit-model@vX.Y.Z), and the name the
# API serves it under; its version is the model bundle's.
MODEL_NAME = "credit-model"
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
RELEASE_SUBJECT = "Release v{version}"
RECORD_SUBJECT = "releases: record v{version}"
# Used only where git has no identity configured (a CI checkout): a recreated tag needs a tagger.
FALLBACK_TAGGER = {"GIT_COMMITTER_NAME": "creditrisk release record",
                   "GIT_COMMITTER_EMAIL": "releases@creditrisk.invalid"}


class ReleaseError(RuntimeError):
    """A release record, tag or gate check that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Release:
    version: str
    commit: str
    date: str
    summary: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split("."))


@dataclass(frozen=True)
class ReleaseParams(ParamsBlock):
    """The `release` block of params.yaml: the record, the metrics compared and the gate's tolerances."""

    BLOCK: ClassVar[str] = "release"
    record: str
    metrics_path: str
    validation_path: str
    max_drop: dict[str, float]
    max_rise: dict[str, float]

    def problems(self) -> list[tuple[str, str]]:
        return [(key, "must map metric names to tolerances >= 0") for key in ("max_drop", "max_rise")
                if any(not isinstance(v, (int, float)) or v < 0 for v in getattr(self, key).values())]


# ---------------------------------------------------------------- the record


def parse_releases(text: str, source: str = "releases.yaml") -> list[Release]:
    """The record's releases, oldest first; every entry checked, the first mistake named."""
    document = yaml.safe_load(text) or {}
    entries = document.get("releases") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ReleaseError(f"{source}: needs a top-level `releases:` list")
    releases = [_parse_entry(entry, f"{source}: release #{number}") for number, entry in enumerate(entries, 1)]
    versions = [release.version for release in releases]
    duplicated = sorted({version for version in versions if versions.count(version) > 1})
    if duplicated:
        raise ReleaseError(f"{source}: version(s) {duplicated} recorded more than once")
    return sorted(releases, key=lambda release: release.key)


def _parse_entry(entry: Any, where: str) -> Release:
    if not isinstance(entry, dict) or set(entry) != {"version", "commit", "date", "summary"}:
        raise ReleaseError(f"{where}: needs exactly the keys version, commit, date, summary; got {entry!r}")
    fields = {key: str(entry[key]).strip() for key in entry}
    if not VERSION_PATTERN.match(fields["version"]):
        raise ReleaseError(f"{where}: version {fields['version']!r} is not X.Y.Z")
    if not COMMIT_PATTERN.match(fields["commit"]):
        raise ReleaseError(f"{where} (v{fields['version']}): commit {fields['commit']!r} is not a full "
                           "40-character hash")
    try:
        datetime.fromisoformat(fields["date"])
    except ValueError:
        raise ReleaseError(f"{where} (v{fields['version']}): date {fields['date']!r} is not ISO 8601") from None
    if not fields["summary"]:
        raise ReleaseError(f"{where} (v{fields['version']}): summary is empty")
    return Release(**fields)


def load_releases(path: Path) -> list[Release]:
    if not path.is_file():
        raise ReleaseError(f"{path}: release record not found")
    return parse_releases(path.read_text(), str(path))


def render_releases(releases: Sequence[Release], header: str) -> str:
    entries = [{"version": r.version, "commit": r.commit, "date": r.date, "summary": r.summary}
               for r in sorted(releases, key=lambda release: release.key)]
    return header + yaml.safe_dump({"releases": entries}, sort_keys=False, allow_unicode=True, width=110)


def record_header(path: Path) -> str:
    """The comment lines that open the record, kept when a release is appended."""
    if not path.is_file():
        return ""
    lines = path.read_text().splitlines(keepends=True)
    return "".join(line for line in lines[: next((i for i, l in enumerate(lines) if not l.startswith("#")),
                                                  len(lines))])


# ---------------------------------------------------------------- git


def git(repo: Path, *arguments: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *arguments], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise ReleaseError(f"git {' '.join(arguments)} failed: {done.stderr.strip()}")
    return done


def tag_target(repo: Path, tag: str) -> str | None:
    done = git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False)
    return done.stdout.strip() or None


def check_release_commit(repo: Path, release: Release, record: str) -> None:
    """The recorded commit exists, is on the current history, and holds the pipeline's lock and metrics."""
    if git(repo, "cat-file", "-e", f"{release.commit}^{{commit}}", check=False).returncode != 0:
        shallow = git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"
        hint = "this clone is shallow: run `git fetch --unshallow`" if shallow else f"fix {record}"
        raise ReleaseError(f"{record}: {release.tag} names commit {release.commit}, which this clone does not "
                           f"have ({hint})")
    if git(repo, "merge-base", "--is-ancestor", release.commit, "HEAD", check=False).returncode != 0:
        raise ReleaseError(f"{record}: {release.tag} names commit {release.commit}, which is not on the current "
                           "history (HEAD does not descend from it)")
    for required in ("dvc.lock", "reports/metrics.json"):
        if git(repo, "cat-file", "-e", f"{release.commit}:{required}", check=False).returncode != 0:
            raise ReleaseError(f"{record}: {release.tag} names commit {release.commit}, which has no {required}: "
                               "it cannot be a release of this pipeline")


def tagger_environment(repo: Path, release: Release) -> dict[str, str]:
    """The recreated tag carries the record's date, so every clone recreates the same tag object."""
    environment = {"GIT_COMMITTER_DATE": release.date}
    if git(repo, "config", "user.email", check=False).returncode != 0:
        environment.update(FALLBACK_TAGGER)
    return environment


def restore_tags(repo: Path, releases: Sequence[Release], record: str = "releases.yaml") -> list[str]:
    """Create every missing release tag; returns one line per release. Nothing is created unless all
    recorded releases check out, and a tag that points elsewhere is an error, never moved."""
    actions = []
    for release in releases:
        check_release_commit(repo, release, record)
        existing = tag_target(repo, release.tag)
        if existing is not None and existing != release.commit:
            raise ReleaseError(f"tag {release.tag} points at {existing}, but {record} records {release.commit}: "
                               "the tag is left as it is; delete it (git tag -d) or fix the record")
        actions.append("present" if existing else "create")
    lines = []
    for release, action in zip(releases, actions):
        if action == "create":
            git(repo, "tag", "-a", release.tag, release.commit, "-m",
                f"Release {release.tag}: {release.summary}", env=tagger_environment(repo, release))
        lines.append(f"{release.tag} {release.commit[:12]} ({'recreated from the record' if action == 'create' else 'present'})")
    return lines


# ---------------------------------------------------------------- the release gate


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


def red_tests(validation: dict[str, Any] | None) -> set[str]:
    return set(validation.get("red", [])) if validation else set()


def new_red_rows(released: dict[str, Any] | None, workspace: dict[str, Any] | None) -> list[GateRow]:
    """A validation test red now that was not red in the release is a breach (a release without a
    validation pack had no red test)."""
    return [GateRow(f"validation: {name}", None, None, "may not turn red", True, ("not red", "red"))
            for name in sorted(red_tests(workspace) - red_tests(released))]


def _released_validation(repo: Path, release: Release, path: str) -> dict[str, Any] | None:
    shown = git(repo, "show", f"{release.commit}:{path}", check=False)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def run_gate(repo: Path, params: ReleaseParams) -> tuple[str, bool]:
    """The side-by-side table against the latest release, and whether the gate passes."""
    releases = load_releases(repo / params.record)
    if not releases:
        raise ReleaseError(f"{params.record}: no release to compare with")
    latest = releases[-1]
    workspace_path = repo / params.metrics_path
    if not workspace_path.is_file():
        raise ReleaseError(f"{workspace_path}: no workspace metrics (run `dvc repro`)")
    rows = gate_rows(released_metrics(repo, latest, params.metrics_path), json.loads(workspace_path.read_text()),
                     params)
    validation_path = repo / params.validation_path
    workspace_validation = json.loads(validation_path.read_text()) if validation_path.is_file() else None
    rows += new_red_rows(_released_validation(repo, latest, params.validation_path), workspace_validation)
    table = format_table(["metric", latest.tag, "workspace", "change", "tolerance", "verdict"],
                         [row.cells() for row in rows])
    breaches = [row.metric for row in rows if row.breach]
    verdict = (f"release gate: FAILED, {len(breaches)} breach(es): {', '.join(breaches)}" if breaches
               else f"release gate: passed against {latest.tag}")
    return f"{table}\n{verdict}", not breaches


# ---------------------------------------------------------------- why dvc.lock changed


@dataclass(frozen=True)
class LockChange:
    """What moved between the committed dvc.lock and the workspace's.

    `inputs`: what the project feeds the stages (commands, params, code, an export), each as `path` or
    `params.yaml:key`; `outputs`: the stages' outputs. A stage's dependency on another stage's output is an
    output, not an input: a model that moved moves its readers' dependencies with it."""

    inputs: list[str]
    outputs: list[str]


def _lock_entries(lock: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs, outputs) of a parsed dvc.lock, each keyed by a name and valued by its recorded hash."""
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    stages = lock.get("stages") or {}
    for name, stage in stages.items():
        inputs[f"{name}: cmd"] = stage.get("cmd")
        for file, values in (stage.get("params") or {}).items():
            inputs.update({f"{file}:{key}": value for key, value in (values or {}).items()})
        outputs.update({out["path"]: out.get("md5") for out in stage.get("outs") or []})
    produced = tuple(outputs)
    for stage in stages.values():
        for dep in stage.get("deps") or []:
            path = dep["path"]
            if not any(path == out or path.startswith(f"{out}/") for out in produced):
                inputs[path] = dep.get("md5")
    return inputs, outputs


def lock_change(committed: dict[str, Any], current: dict[str, Any]) -> LockChange:
    def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
        return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    (inputs_before, outputs_before), (inputs_after, outputs_after) = _lock_entries(committed), _lock_entries(current)
    return LockChange(changed(inputs_before, inputs_after), changed(outputs_before, outputs_after))


def _gate_verdict(repo: Path, params: ReleaseParams) -> str:
    """The gate's last line, e.g. "the release gate passed against v1.2.0 (make release-check)"."""
    try:
        report, _ = run_gate(repo, params)
    except ReleaseError as error:
        return f"no release gate ({error})"
    verdict = report.splitlines()[-1].removeprefix("release gate: ")
    return f"the release gate {verdict} (make release-check)"


def _listed(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def explain_lock(repo: Path, params: ReleaseParams, lock: str = "dvc.lock", reports: str = "reports") -> str:
    """One line after `dvc repro`: did dvc.lock change against the commit, why, and does the release gate pass.

    A machine whose CPU differs from the one that committed the lock (BLAS kernels, SIMD paths; the stages pin
    portable ones on x86-64 with AVX2, see stages/__init__.py) can round the last bits of the model's floats
    differently: its md5 then moves with the same code, params and data, while the reports, at their fixed
    significant digits, and the metrics agree."""
    if git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        return f"{lock}: not in a git checkout, nothing to compare it with"
    shown = git(repo, "show", f"HEAD:{lock}", check=False)
    if shown.returncode != 0 or not (repo / lock).is_file():
        return f"{lock}: not committed yet; commit it with the reports"
    change = lock_change(yaml.safe_load(shown.stdout) or {}, yaml.safe_load((repo / lock).read_text()) or {})
    gate = _gate_verdict(repo, params)
    if not change.inputs and not change.outputs:
        return f"{lock} matches the commit: every output reproduced; {gate}"
    if change.inputs:
        return (f"{lock} changed because inputs changed ({_listed(change.inputs)}): commit it with the reports; "
                f"{gate}")
    differing = git(repo, "diff", "--name-only", "HEAD", "--", reports, check=False).stdout.split()
    report_note = (f"{len(differing)} committed report(s) differ (git diff {reports})" if differing
                   else "the committed reports are unchanged")
    return (f"{lock} changed in outputs only ({_listed(change.outputs)}) with the committed code, params and data: "
            f"this machine's CPU rounds the last bits of the model's floats differently from the one that "
            f"committed it; {report_note}, and {gate}")


# ---------------------------------------------------------------- the release procedure


def dvc_is_clean(repo: Path, dvc: str) -> tuple[bool, str]:
    done = subprocess.run([dvc, "status", "--json"], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        return False, done.stderr.strip()
    changed = json.loads(done.stdout or "{}")
    return not changed, ", ".join(sorted(changed))


def cut_release(repo: Path, version: str, summary: str, params: ReleaseParams, model_version: str,
                dvc: str, run_tests: Callable[[], bool], today: str | None = None) -> Release:
    """Refuse unless the version is new, the model carries it, `dvc status` is clean and the tests
    pass; then commit "Release vX.Y.Z", tag it, and commit the record that names it."""
    record_path = repo / params.record
    releases = load_releases(record_path) if record_path.is_file() else []
    if not VERSION_PATTERN.match(version):
        raise ReleaseError(f"version {version!r} is not X.Y.Z")
    if any(release.version == version for release in releases) or tag_target(repo, f"v{version}"):
        raise ReleaseError(f"v{version} is already released or tagged")
    if releases and tuple(map(int, version.split("."))) <= releases[-1].key:
        raise ReleaseError(f"v{version} is not newer than the latest release {releases[-1].tag}")
    if model_version != version:
        raise ReleaseError(f"params.yaml train.version is {model_version!r}: set it to {version!r} and run "
                           "`dvc repro`, so the model carries the release's version")
    clean, changed = dvc_is_clean(repo, dvc)
    if not clean:
        raise ReleaseError(f"`dvc status` is not clean ({changed}): run `dvc repro` and commit first")
    if not summary.strip():
        raise ReleaseError("a release needs a one-line summary of what changed")
    if not run_tests():
        raise ReleaseError("the tests failed: no release")
    git(repo, "commit", "--quiet", "--allow-empty", "--all", "-m", RELEASE_SUBJECT.format(version=version),
        "-m", summary)
    commit = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "tag", "-a", f"v{version}", commit, "-m", f"Release v{version}: {summary}")
    release = Release(version, commit, today or datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                      summary.strip())
    atomic_write_text(record_path, render_releases([*releases, release], record_header(record_path)))
    git(repo, "add", params.record)
    git(repo, "commit", "--quiet", "-m", RECORD_SUBJECT.format(version=version), "--", params.record)
    return release


# ---------------------------------------------------------------- command line


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m creditrisk.releases", description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tags", help="recreate missing release tags from the record")
    commands.add_parser("check", help="the release gate: workspace metrics against the latest release")
    commands.add_parser("explain-lock", help="after dvc repro: why dvc.lock changed, and the gate's verdict")
    release = commands.add_parser("release", help="commit, tag and record a release")
    release.add_argument("version")
    release.add_argument("summary")
    release.add_argument("--dvc", default="dvc")
    release.add_argument("--test-command", default="make test")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    repo = arguments.repo.resolve()
    try:
        params = configured(ReleaseParams, repo / arguments.params)
        if arguments.command == "tags":
            if git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
                print("release tags: not a git checkout, nothing to restore")
                return 0
            print("\n".join(restore_tags(repo, load_releases(repo / params.record), params.record)))
            return 0
        if arguments.command == "explain-lock":
            print(explain_lock(repo, params))
            return 0
        if arguments.command == "check":
            report, passed = run_gate(repo, params)
            print(report)
            return 0 if passed else 1
        model_version = str(yaml.safe_load((repo / arguments.params).read_text())["train"]["version"])
        def run_tests() -> bool:
            return subprocess.run(arguments.test_command, shell=True, cwd=repo).returncode == 0
        release = cut_release(repo, arguments.version, arguments.summary, params, model_version,
                              arguments.dvc, run_tests)
        print(f"released {release.tag} at {release.commit} and recorded it in {params.record}")
        return 0
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
