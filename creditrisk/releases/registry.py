"""The registry's stages: which version holds each, promotion through the release gate, rollback.

A stage (`staging`, `prod`; the `.gto` file lists the allowed ones) is held by the version of its latest
assignment, as GTO reads it (`gto show` orders assignments by the tags' time). Promotions and rollbacks stack:
a promotion puts a version on top of the stage's stack, a rollback takes the top one off and assigns the one
below it again, so two rollbacks after two promotions go back two versions, and a rollback never re-promotes a
version that was rolled back without the gate.

Every assignment is three things made together: an entry in the record (who, when, why, the gate's verdict), a
commit of the record, and GTO's annotated tag `credit-model#<stage>#<N>` on the version's release commit, whose
message repeats the entry. The record comes first: a tag lost (a clone without tags) is recreated from it by
`make setup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from creditrisk.io import atomic_write_text
from creditrisk.releases import MODEL_NAME
from creditrisk.releases.gate import compare_releases, GateReport
from creditrisk.releases.record import (
    load_record,
    NAME_PATTERN,
    PERSON_PATTERN,
    record_header,
    render_record,
    Assignment,
    Record,
    ReleaseError,
    ReleaseParams,
)
from creditrisk.releases.tags import create_assignment_tag, git, restore_tags

GTO_CONFIG = ".gto"
ASSIGN_SUBJECT = "registry: {model} v{version} to {stage} ({action})"


class PromotionRefused(ReleaseError):
    """The release gate found a breach and the promotion was not forced; `report` holds the table."""

    def __init__(self, message: str, report: GateReport) -> None:
        super().__init__(message)
        self.report = report


def allowed_stages(repo: Path) -> list[str]:
    """The stages `.gto` lists (GTO refuses any other, and so does `make promote`)."""
    path = repo / GTO_CONFIG
    if not path.is_file():
        raise ReleaseError(f"{path}: not found; it lists the stages a version may be assigned to "
                           "(`stages: [staging, prod]`)")
    document = yaml.safe_load(path.read_text()) or {}
    stages = document.get("stages") if isinstance(document, dict) else None
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) and NAME_PATTERN.match(s)
                                                             for s in stages):
        raise ReleaseError(f"{path}: `stages:` must list stage names (lower case letters, digits, hyphens)")
    return list(stages)


def model_artifact_path(repo: Path) -> str:
    """The model's path in the repository, as dvc.yaml's `artifacts:` declares it for the registry."""
    path = repo / "dvc.yaml"
    try:
        return str(yaml.safe_load(path.read_text())["artifacts"][MODEL_NAME]["path"])
    except (OSError, KeyError, TypeError) as error:
        raise ReleaseError(f"{path}: declares no `artifacts: {MODEL_NAME}: path:` ({error})") from None


@dataclass(frozen=True)
class StageHistory:
    """One stage's assignments, oldest first."""

    stage: str
    assignments: list[Assignment]

    @property
    def stack(self) -> list[str]:
        """The versions a rollback would return to, in order, the holder last: promotions push, rollbacks pop."""
        held: list[str] = []
        for assignment in self.assignments:
            if assignment.action == "rollback":
                held.pop()
            else:
                held.append(assignment.version)
        return held

    @property
    def holder(self) -> str | None:
        return self.assignments[-1].version if self.assignments else None


def stage_history(record: Record, stage: str) -> StageHistory:
    return StageHistory(stage, [assignment for assignment in record.assignments if assignment.stage == stage])


def stage_holders(record: Record) -> dict[str, str]:
    """Stage -> the version that holds it, for every stage ever assigned."""
    stages = dict.fromkeys(assignment.stage for assignment in record.assignments)
    return {stage: holder for stage in stages if (holder := stage_history(record, stage).holder) is not None}


def current_person(repo: Path) -> str:
    """Who assigns: git's committer identity, "Name <email>"."""
    done = git(repo, "var", "GIT_COMMITTER_IDENT", check=False)
    person = done.stdout.strip().rsplit(" ", 2)[0] if done.returncode == 0 else ""
    if not PERSON_PATTERN.match(person):
        raise ReleaseError("an assignment records who made it: set `git config user.name` and `git config "
                           f"user.email` (git said: {done.stderr.strip() or person!r})")
    return person


def assignment_time(record: Record, now: datetime | None = None) -> str:
    """Now, in whole seconds (a tag's time), and after the record's latest assignment: GTO orders assignments by
    time, so two in the same second would be ambiguous; the later one is then stamped one second on."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    if record.assignments and stamp <= record.assignments[-1].when:
        stamp = record.assignments[-1].when.astimezone(timezone.utc) + timedelta(seconds=1)
    return stamp.isoformat()


def _checked_record(repo: Path, params: ReleaseParams, stage: str) -> Record:
    if stage not in (stages := allowed_stages(repo)):
        raise ReleaseError(f"stage {stage!r} is not one of {stages} ({GTO_CONFIG})")
    if git(repo, "diff", "--quiet", "HEAD", "--", params.record, check=False).returncode != 0:
        raise ReleaseError(f"{params.record} has uncommitted changes: commit or discard them first")
    record = load_record(repo / params.record)
    restore_tags(repo, record, params.record)  # the release and registration tags GTO needs beside the new one
    return record


def assign(repo: Path, params: ReleaseParams, record: Record, assignment: Assignment) -> None:
    """Append the assignment to the record, commit the record, then tag the version's release commit."""
    record_path = repo / params.record
    updated = Record(record.releases, [*record.assignments, assignment])
    atomic_write_text(record_path, render_record(updated, record_header(record_path)))
    git(repo, "add", params.record)
    git(repo, "commit", "--quiet", "-m", ASSIGN_SUBJECT.format(model=MODEL_NAME, version=assignment.version,
                                                              stage=assignment.stage, action=assignment.action),
        "-m", assignment.message(), "--", params.record)
    create_assignment_tag(repo, assignment, record.release(assignment.version).commit)


def promote(repo: Path, params: ReleaseParams, version: str, stage: str, reason: str, force: bool = False,
            by: str | None = None, now: datetime | None = None) -> tuple[Assignment, GateReport | None]:
    """Assign a recorded version to `stage` if the release gate passes against the version holding it (or
    with `force` and a reason). Returns the assignment and the gate's report (None when the stage was empty).
    Raises `PromotionRefused` on a breach without `force`."""
    record = _checked_record(repo, params, stage)
    candidate = record.release(version)
    incumbent_version = stage_history(record, stage).holder
    if incumbent_version == version:
        raise ReleaseError(f"v{version} already holds {stage}")
    report = None
    if incumbent_version is None:
        gate = f"not run: no version held {stage} before"
    else:
        report = compare_releases(repo, record.release(incumbent_version), candidate, params)
        if not report.passed and not force:
            raise PromotionRefused(f"{report.text()}\npromotion of v{version} to {stage} refused; FORCE=1 with a "
                                   "REASON overrides it", report)
        gate = report.verdict if report.passed else f"forced over: {report.verdict} (against v{incumbent_version})"
    forced = report is not None and not report.passed
    if forced and not reason.strip():
        raise ReleaseError("a forced promotion needs a reason (REASON=\"...\"): it is recorded with the gate's "
                           "breaches")
    assignment = Assignment(record.next_number, stage, version, assignment_time(record, now),
                            by or current_person(repo), "promote",
                            reason.strip() or f"the release gate {gate}", gate)
    assign(repo, params, record, assignment)
    return assignment, report


def rollback(repo: Path, params: ReleaseParams, stage: str, reason: str, by: str | None = None,
             now: datetime | None = None) -> Assignment:
    """Assign again the version that held `stage` before its holder was promoted (no gate: it held it)."""
    if not reason.strip():
        raise ReleaseError("a rollback needs a reason (REASON=\"...\")")
    record = _checked_record(repo, params, stage)
    held = stage_history(record, stage).stack
    if len(held) < 2:
        holder = f"only v{held[-1]} has held it" if held else "no version holds it"
        raise ReleaseError(f"nothing to roll {stage} back to: {holder}")
    assignment = Assignment(record.next_number, stage, held[-2], assignment_time(record, now),
                            by or current_person(repo), "rollback", reason.strip(),
                            f"not run: v{held[-2]} held {stage} before v{held[-1]}")
    assign(repo, params, record, assignment)
    return assignment
