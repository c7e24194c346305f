"""The registry in GTO's convention: stage assignments recorded and tagged, promotion through the release gate,
rollback, and the real `gto` reading what the library wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from creditrisk.releases import MODEL_NAME
from creditrisk.releases.cli import main
from creditrisk.releases.record import (
    load_record,
    parse_record,
    render_record,
    Assignment,
    Record,
    Release,
    ReleaseError,
    ReleaseParams,
)
from creditrisk.releases.registry import (
    allowed_stages,
    assignment_time,
    promote,
    rollback,
    stage_history,
    stage_holders,
    PromotionRefused,
)
from creditrisk.releases.tags import restore_tags
from tests.release_support import commit_release_files, git, init_repo, record, GOOD_METRICS
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS, shipped

ALICE = "Alice Reviewer <alice@example.invalid>"
GTO = str(Path(sys.executable).with_name("gto"))


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def params() -> ReleaseParams:
    return shipped(ReleaseParams)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Three recorded releases, each better than the last; the record committed."""
    root = init_repo(tmp_path / "repo")
    commits = [commit_release_files(root, f"Release v{version}", {**GOOD_METRICS, "roc_auc": auc})
               for version, auc in (("1.0.0", 0.66), ("1.1.0", 0.68), ("1.2.0", 0.70))]
    record(root, *(Release(version, commit, f"2026-02-0{day}T00:00:00+00:00", f"release {version}")
                   for day, version, commit in zip((1, 2, 3), ("1.0.0", "1.1.0", "1.2.0"), commits)))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "releases: record")
    return root


def gto(repo: Path, *arguments: str) -> dict | list:
    done = subprocess.run([GTO, *arguments, "--json"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_registry_is_declared_where_dvc_and_gto_look_for_it() -> None:
    artifact = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["artifacts"][MODEL_NAME]
    assert artifact["type"] == "model" and artifact["desc"] and artifact["labels"]
    assert artifact["path"] == SHIPPED_PARAMS["train"]["model_path"], "one model path for the pipeline and registry"
    assert allowed_stages(REPO_ROOT) == ["staging", "prod"]


def test_the_shipped_record_holds_the_model_in_prod() -> None:
    shipped_record = load_record(REPO_ROOT / "releases.yaml")
    assert stage_holders(shipped_record)["prod"] == "1.2.0"
    assert all(assignment.stage in allowed_stages(REPO_ROOT) for assignment in shipped_record.assignments)


def test_a_promotion_into_an_empty_stage_records_tags_and_commits_who_when_and_why(repo: Path,
                                                                                  params: ReleaseParams) -> None:
    assignment, report = promote(repo, params, "1.1.0", "prod", "", by=ALICE, now=at(1))
    assert report is None and assignment.gate == "not run: no version held prod before"
    assert assignment.tag == f"{MODEL_NAME}#prod#1" and assignment.reason.startswith("the release gate not run")
    recorded = load_record(repo / "releases.yaml")
    assert recorded.assignments == [assignment]
    assert git(repo, "rev-parse", f"{assignment.tag}^{{commit}}") == recorded.release("1.1.0").commit
    assert git(repo, "cat-file", "-t", assignment.tag) == "tag", "annotated, as GTO wants"
    message = git(repo, "tag", "-l", "--format=%(contents)", assignment.tag)
    assert f"by: {ALICE}" in message and "at: 2026-03-01T09:00:00+00:00" in message and "why: " in message
    assert git(repo, "tag", "-l", "--format=%(taggername) %(taggeremail)", assignment.tag) == \
        "Alice Reviewer <alice@example.invalid>"
    assert git(repo, "log", "-1", "--format=%s") == "registry: credit-model v1.1.0 to prod (promote)"
    assert git(repo, "status", "--porcelain") == "", "the record is committed"
    assert git(repo, "rev-parse", "credit-model@v1.1.0^{commit}") == recorded.release("1.1.0").commit


def test_promote_refuses_on_a_breach_and_accepts_with_force_and_a_reason(repo: Path, params: ReleaseParams) -> None:
    promote(repo, params, "1.2.0", "prod", "", by=ALICE, now=at(1))
    with pytest.raises(PromotionRefused) as refused:  # v1.0.0's ROC-AUC is 0.04 below v1.2.0's
        promote(repo, params, "1.0.0", "prod", "", by=ALICE, now=at(2))
    assert [row.metric for row in refused.value.report.rows if row.breach] == ["roc_auc"]
    assert "0.700000" in str(refused.value) and "0.660000" in str(refused.value) and "BREACH" in str(refused.value)
    with pytest.raises(ReleaseError, match="forced promotion needs a reason"):
        promote(repo, params, "1.0.0", "prod", "  ", force=True, by=ALICE, now=at(2))
    assert stage_history(load_record(repo / "releases.yaml"), "prod").holder == "1.2.0", "nothing assigned"
    assignment, report = promote(repo, params, "1.0.0", "prod", "the regulator asked for the baseline",
                                 force=True, by=ALICE, now=at(3))
    assert report is not None and not report.passed
    assert assignment.gate == "forced over: FAILED, 1 breach(es): roc_auc (against v1.2.0)"
    assert assignment.reason == "the regulator asked for the baseline"
    assert "gate: forced over" in git(repo, "tag", "-l", "--format=%(contents)", assignment.tag)
    with pytest.raises(ReleaseError, match="already holds prod"):
        promote(repo, params, "1.0.0", "prod", "again", by=ALICE, now=at(4))
    with pytest.raises(ReleaseError, match=r"'live' is not one of \['staging', 'prod'\]"):
        promote(repo, params, "1.2.0", "live", "", by=ALICE, now=at(4))


def test_a_passing_promotion_records_the_gate_verdict(repo: Path, params: ReleaseParams) -> None:
    promote(repo, params, "1.1.0", "staging", "", by=ALICE, now=at(1))
    assignment, report = promote(repo, params, "1.2.0", "staging", "better on every metric", by=ALICE, now=at(2))
    assert report is not None and report.passed and assignment.gate == "passed against v1.1.0"
    assert assignment.number == 2


def test_rollback_restores_the_previous_version_and_stacks(repo: Path, params: ReleaseParams) -> None:
    for day, version in enumerate(("1.0.0", "1.1.0", "1.2.0"), 1):
        promote(repo, params, version, "prod", "", by=ALICE, now=at(day))
    with pytest.raises(ReleaseError, match="rollback needs a reason"):
        rollback(repo, params, "prod", "", by=ALICE, now=at(4))
    first = rollback(repo, params, "prod", "PD level alert in 2026-09", by=ALICE, now=at(4))
    assert first.version == "1.1.0" and first.action == "rollback"
    assert first.gate == "not run: v1.1.0 held prod before v1.2.0"
    second = rollback(repo, params, "prod", "v1.1.0 misprices product 9", by=ALICE, now=at(5))
    assert second.version == "1.0.0", "a second rollback goes back one more, never forward to a rolled-back version"
    with pytest.raises(ReleaseError, match="nothing to roll prod back to: only v1.0.0 has held it"):
        rollback(repo, params, "prod", "again", by=ALICE, now=at(6))
    history = stage_history(load_record(repo / "releases.yaml"), "prod")
    assert [a.version for a in history.assignments] == ["1.0.0", "1.1.0", "1.2.0", "1.1.0", "1.0.0"]
    assert history.holder == "1.0.0" and history.stack == ["1.0.0"]


def test_gto_reads_the_versions_stages_and_history_the_library_wrote(repo: Path, params: ReleaseParams) -> None:
    promote(repo, params, "1.1.0", "prod", "", by=ALICE, now=at(1))
    promote(repo, params, "1.2.0", "prod", "", by=ALICE, now=at(2))
    promote(repo, params, "1.2.0", "staging", "", by=ALICE, now=at(3))
    rollback(repo, params, "prod", "latency", by=ALICE, now=at(4))
    shown = gto(repo, "show")
    assert shown[MODEL_NAME]["version"] == "v1.2.0"
    assert shown[MODEL_NAME]["stage"] == {"staging": "v1.2.0", "prod": "v1.1.0"}, "GTO agrees on the holders"
    versions = {row["version"] for row in gto(repo, "show", MODEL_NAME)}
    assert versions == {"v1.0.0", "v1.1.0", "v1.2.0"}
    events = gto(repo, "history", MODEL_NAME)
    assignments = [(event["version"], event["stage"], event["ref"]) for event in events
                   if event["event"] == "assignment"]
    assert sorted(assignments, key=lambda row: int(row[2].rsplit("#", 1)[1])) == [
        ("v1.1.0", "prod", "credit-model#prod#1"), ("v1.2.0", "prod", "credit-model#prod#2"),
        ("v1.2.0", "staging", "credit-model#staging#3"), ("v1.1.0", "prod", "credit-model#prod#4")]
    assert {event["version"] for event in events if event["event"] == "registration"} == versions


def test_a_clone_without_tags_gets_the_stage_tags_back_the_same(repo: Path, params: ReleaseParams,
                                                                tmp_path: Path) -> None:
    promote(repo, params, "1.2.0", "prod", "in service", by=ALICE, now=at(1))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-tags", str(repo), str(clone)], check=True)
    assert git(clone, "tag", "--list") == ""
    lines = restore_tags(clone, load_record(clone / "releases.yaml"))
    assert "credit-model#prod#1" in lines[-1] and lines[-1].endswith("(recreated from the record)")
    assert git(clone, "rev-parse", "credit-model#prod#1") == git(repo, "rev-parse", "credit-model#prod#1"), \
        "the same tag object: tagger, date and message come from the record"
    assert gto(clone, "show")[MODEL_NAME]["stage"]["prod"] == "v1.2.0"


def test_a_stage_tag_made_by_hand_is_reported(repo: Path) -> None:
    git(repo, "tag", "-a", "credit-model#prod#7", "HEAD~1", "-m", "by hand")
    lines = restore_tags(repo, load_record(repo / "releases.yaml"))
    assert lines[-1].startswith("credit-model#prod#7: a registry tag releases.yaml does not hold")


def assignment(number: int, version: str, date: str, **changes: object) -> dict:
    return {"number": number, "stage": "prod", "version": version, "date": date, "by": ALICE,
            "action": "promote", "reason": "r", "gate": "g", **changes}


@pytest.mark.parametrize("entries, message", [
    ([assignment(1, "9.9.9", "2026-01-01T00:00:00+00:00")], "version '9.9.9' is not a recorded release"),
    ([assignment(1, "1.0.0", "2026-01-01T00:00:00")], "needs a time zone"),
    ([assignment(1, "1.0.0", "2026-01-01T00:00:00+00:00", by="alice")], "must be 'Name <email>'"),
    ([assignment(1, "1.0.0", "2026-01-01T00:00:00+00:00", stage="Prod")], "lower case"),
    ([assignment(1, "1.0.0", "2026-01-01T00:00:00+00:00", action="demote")], "must be one of"),
    ([assignment(2, "1.0.0", "2026-01-02T00:00:00+00:00"), assignment(1, "1.0.0", "2026-01-03T00:00:00+00:00")],
     "must come after"),
    ([assignment(1, "1.0.0", "2026-01-02T00:00:00+00:00"), assignment(2, "1.0.0", "2026-01-02T00:00:00+00:00")],
     "must come after"),
])
def test_a_malformed_assignment_is_named(entries: list[dict], message: str) -> None:
    document = {"releases": [{"version": "1.0.0", "commit": "a" * 40, "date": "2026-01-01", "summary": "x"}],
                "assignments": entries}
    with pytest.raises(ReleaseError, match=message):
        parse_record(yaml.safe_dump(document))


def test_the_record_round_trips_and_keeps_assignments_in_order() -> None:
    release = Release("1.0.0", "a" * 40, "2026-01-01T00:00:00+00:00", "x")
    first = Assignment(1, "prod", "1.0.0", "2026-01-02T00:00:00+00:00", ALICE, "promote", "r", "g")
    second = Assignment(2, "staging", "1.0.0", "2026-01-03T00:00:00+00:00", ALICE, "promote", "r", "g")
    text = render_record(Record([release], [first, second]), "# header\n")
    assert parse_record(text) == Record([release], [first, second])


def test_assignments_in_one_second_are_stamped_apart() -> None:
    release = Release("1.0.0", "a" * 40, "2026-01-01T00:00:00+00:00", "x")
    last = Assignment(1, "prod", "1.0.0", "2026-03-01T09:00:00+00:00", ALICE, "promote", "r", "g")
    assert assignment_time(Record([release], [last]), at(1)) == "2026-03-01T09:00:01+00:00"
    assert assignment_time(Record([release], [last]), at(2)) == "2026-03-02T09:00:00+00:00"


def test_the_command_line_prints_the_table_and_refuses(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(repo, "config", "user.name", "Alice Reviewer")
    git(repo, "config", "user.email", "alice@example.invalid")
    assert main(["--repo", str(repo), "promote", "1.2.0", "prod"]) == 0
    assert "now holds prod" in capsys.readouterr().out
    assert main(["--repo", str(repo), "promote", "1.0.0", "prod", "--reason", "why not"]) == 1
    err = capsys.readouterr().err
    assert "roc_auc" in err and "refused; FORCE=1 with a REASON overrides it" in err
    assert main(["--repo", str(repo), "stages"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("prod: v1.2.0") and "Alice Reviewer <alice@example.invalid>" in shown
