"""The release record (`releases.yaml`): every release and every stage assignment, and the `release` params.

A commit cannot hold its own hash, so a release is two commits: the release commit ("Release vX.Y.Z"), tagged,
and right after it the commit that appends the record naming it. A stage assignment names a recorded version,
so its tag points at that version's release commit; the record keeps who assigned it, when and why, which the
tag's message repeats, so the tag recreated on another clone is the same.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml

from creditrisk.params import ParamsBlock
from creditrisk.releases import MODEL_NAME

VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
# GTO's rule for artifact and stage names (gto.constants): lower case letters, digits and inner hyphens.
NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
PERSON_PATTERN = re.compile(r"^(?P<name>[^<>]+?) <(?P<email>[^<>\s]+)>$")
ACTIONS = ("promote", "rollback")


class ReleaseError(RuntimeError):
    """A release record, tag, gate or stage assignment that cannot go on; the message says what to do."""


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
    def registration_tag(self) -> str:
        """GTO's tag that registers the release as a version of the model."""
        return f"{MODEL_NAME}@v{self.version}"

    @property
    def key(self) -> tuple[int, ...]:
        return version_key(self.version)


@dataclass(frozen=True)
class Assignment:
    """A version assigned to a stage: GTO's annotated tag `credit-model#<stage>#<number>` on the version's release
    commit. `number` counts every stage tag of the model, as GTO numbers them; `by` is "Name <email>"; `action`
    says whether it promoted a version through the gate or rolled the stage back; `gate` is the gate's verdict."""

    number: int
    stage: str
    version: str
    date: str
    by: str
    action: str
    reason: str
    gate: str

    @property
    def tag(self) -> str:
        return f"{MODEL_NAME}#{self.stage}#{self.number}"

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.date)

    @property
    def person(self) -> tuple[str, str]:
        """(name, email) of `by`."""
        match = PERSON_PATTERN.match(self.by)
        assert match is not None, self.by  # checked when parsed
        return match["name"], match["email"]

    def message(self) -> str:
        """The annotated tag's message: what was assigned, and who, when and why."""
        return (f"{MODEL_NAME} v{self.version} to {self.stage} ({self.action})\n\nby: {self.by}\nat: {self.date}\n"
                f"why: {self.reason}\ngate: {self.gate}\n")


@dataclass(frozen=True)
class Record:
    """The releases, oldest first, and the stage assignments in the order they were made."""

    releases: list[Release]
    assignments: list[Assignment]

    def release(self, version: str) -> Release:
        found = [release for release in self.releases if release.version == version]
        if not found:
            recorded = ", ".join(release.version for release in self.releases) or "none"
            raise ReleaseError(f"v{version} is not a recorded release (recorded: {recorded})")
        return found[0]

    @property
    def next_number(self) -> int:
        return max((assignment.number for assignment in self.assignments), default=0) + 1


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


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _iso_date(text: str, where: str) -> None:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ReleaseError(f"{where}: date {text!r} is not ISO 8601") from None
    if stamp.tzinfo is None:
        raise ReleaseError(f"{where}: date {text!r} needs a time zone (e.g. +00:00)")


def parse_record(text: str, source: str = "releases.yaml") -> Record:
    """The record's releases (oldest first) and assignments (by number); every entry checked, the first
    mistake named."""
    document = yaml.safe_load(text) or {}
    entries = document.get("releases") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ReleaseError(f"{source}: needs a top-level `releases:` list")
    releases = [_parse_release(entry, f"{source}: release #{number}") for number, entry in enumerate(entries, 1)]
    versions = [release.version for release in releases]
    duplicated = sorted({version for version in versions if versions.count(version) > 1})
    if duplicated:
        raise ReleaseError(f"{source}: version(s) {duplicated} recorded more than once")
    assigned = document.get("assignments") or []
    if not isinstance(assigned, list):
        raise ReleaseError(f"{source}: `assignments:` must be a list")
    assignments = [_parse_assignment(entry, f"{source}: assignment #{number}", set(versions))
                   for number, entry in enumerate(assigned, 1)]
    _check_order(assignments, source)
    return Record(sorted(releases, key=lambda release: release.key), assignments)


def parse_releases(text: str, source: str = "releases.yaml") -> list[Release]:
    return parse_record(text, source).releases


def _parse_release(entry: Any, where: str) -> Release:
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


ASSIGNMENT_KEYS = ("number", "stage", "version", "date", "by", "action", "reason", "gate")


def _parse_assignment(entry: Any, where: str, versions: set[str]) -> Assignment:
    if not isinstance(entry, dict) or set(entry) != set(ASSIGNMENT_KEYS):
        raise ReleaseError(f"{where}: needs exactly the keys {', '.join(ASSIGNMENT_KEYS)}; got {entry!r}")
    number = entry["number"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ReleaseError(f"{where}: number {number!r} must be a whole number >= 1")
    fields = {key: str(entry[key]).strip() for key in ASSIGNMENT_KEYS if key != "number"}
    where = f"{where} ({MODEL_NAME}#{fields['stage']}#{number})"
    if not NAME_PATTERN.match(fields["stage"]):
        raise ReleaseError(f"{where}: stage {fields['stage']!r} must be lower case letters, digits and hyphens")
    if fields["version"] not in versions:
        raise ReleaseError(f"{where}: version {fields['version']!r} is not a recorded release")
    _iso_date(fields["date"], where)
    if not PERSON_PATTERN.match(fields["by"]):
        raise ReleaseError(f"{where}: by {fields['by']!r} must be 'Name <email>'")
    if fields["action"] not in ACTIONS:
        raise ReleaseError(f"{where}: action {fields['action']!r} must be one of {list(ACTIONS)}")
    for key in ("reason", "gate"):
        if not fields[key]:
            raise ReleaseError(f"{where}: {key} is empty")
    return Assignment(number=number, **fields)


def _check_order(assignments: list[Assignment], source: str) -> None:
    """Numbers unique and rising with the dates: GTO orders assignments by the tags' time, the record by number,
    and the two must agree on which version holds a stage."""
    for before, after in zip(assignments, assignments[1:]):
        if after.number <= before.number or after.when <= before.when:
            raise ReleaseError(f"{source}: assignment {after.tag} ({after.date}) must come after {before.tag} "
                               f"({before.date}) in both number and date")


def load_record(path: Path) -> Record:
    if not path.is_file():
        raise ReleaseError(f"{path}: release record not found")
    return parse_record(path.read_text(), str(path))


def load_releases(path: Path) -> list[Release]:
    return load_record(path).releases


def render_record(record: Record, header: str) -> str:
    releases = [asdict(release) for release in sorted(record.releases, key=lambda release: release.key)]
    document: dict[str, Any] = {"releases": releases}
    if record.assignments:
        document["assignments"] = [asdict(assignment) for assignment in record.assignments]
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def render_releases(releases: list[Release], header: str) -> str:
    return render_record(Record(list(releases), []), header)


def record_header(path: Path) -> str:
    """The comment lines that open the record, kept when a release or an assignment is appended."""
    if not path.is_file():
        return ""
    lines = path.read_text().splitlines(keepends=True)
    return "".join(line for line in lines[: next((i for i, l in enumerate(lines) if not l.startswith("#")),
                                                  len(lines))])
