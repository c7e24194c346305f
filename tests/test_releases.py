"""The release record, the tags it restores, the release procedure and the release gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from creditrisk.params import configured
from creditrisk.releases import MODEL_NAME
from creditrisk.releases.cli import main
from creditrisk.releases.gate import gate_rows, run_gate
from creditrisk.releases.lock import explain_lock, lock_change
from creditrisk.releases.procedure import cut_release
from creditrisk.releases.record import (
    load_record,
    load_releases,
    parse_releases,
    Release,
    ReleaseError,
    ReleaseParams,
)
from creditrisk.releases.registry import stage_holders
from creditrisk.releases.tags import restore_tags
from tests.release_support import commit_release_files, git, init_repo, record, GIT_IDENTITY, GOOD_METRICS
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS, shipped


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo")


def test_the_shipped_record_parses_and_names_release_commits_of_this_history() -> None:
    releases = load_releases(REPO_ROOT / "releases.yaml")
    assert [r.version for r in releases][:2] == ["1.0.0", "1.1.0"]
    for release in releases:
        subject = git(REPO_ROOT, "log", "-1", "--format=%s", release.commit)
        assert subject == f"Release v{release.version}"


@pytest.mark.parametrize("entry, message", [
    ({"version": "1.0", "commit": "a" * 40, "date": "2026-01-01", "summary": "x"}, "is not X.Y.Z"),
    ({"version": "1.0.0", "commit": "abc123", "date": "2026-01-01", "summary": "x"}, "full 40-character hash"),
    ({"version": "1.0.0", "commit": "a" * 40, "date": "first of May", "summary": "x"}, "not ISO 8601"),
    ({"version": "1.0.0", "commit": "a" * 40, "date": "2026-01-01"}, "exactly the keys"),
])
def test_a_malformed_record_names_the_release_and_the_problem(entry: dict, message: str) -> None:
    with pytest.raises(ReleaseError, match=message):
        parse_releases(yaml.safe_dump({"releases": [entry]}))


def test_missing_tags_are_recreated_on_the_recorded_commits_and_never_twice(repo: Path) -> None:
    first = commit_release_files(repo, "Release v1.0.0", GOOD_METRICS)
    second = commit_release_files(repo, "Release v1.1.0", {**GOOD_METRICS, "roc_auc": 0.72})
    record(repo, Release("1.0.0", first, "2026-01-01T00:00:00+00:00", "baseline"),
           Release("1.1.0", second, "2026-02-01T00:00:00+00:00", "better"))
    lines = restore_tags(repo, load_record(repo / "releases.yaml"))
    assert [line.split()[0] for line in lines] == ["v1.0.0", "credit-model@v1.0.0", "v1.1.0", "credit-model@v1.1.0"]
    assert git(repo, "rev-parse", "v1.0.0^{commit}") == first
    assert git(repo, "rev-parse", "v1.1.0^{commit}") == second
    assert git(repo, "cat-file", "-t", "v1.1.0") == "tag", "annotated, as dvc and the dashboard expect"
    assert "better" in git(repo, "tag", "-n1", "v1.1.0")
    again = restore_tags(repo, load_record(repo / "releases.yaml"))
    assert all(line.endswith("(present)") for line in again)


def test_a_tag_that_points_elsewhere_is_reported_with_both_commits_and_left_alone(repo: Path) -> None:
    first = commit_release_files(repo, "Release v1.0.0", GOOD_METRICS)
    other = commit_release_files(repo, "later", GOOD_METRICS)
    git(repo, "tag", "-a", "v1.0.0", other, "-m", "wrong place")
    record(repo, Release("1.0.0", first, "2026-01-01T00:00:00+00:00", "baseline"))
    with pytest.raises(ReleaseError, match=f"tag v1.0.0 points at {other}, but releases.yaml records {first}"):
        restore_tags(repo, load_record(repo / "releases.yaml"))
    assert git(repo, "rev-parse", "v1.0.0^{commit}") == other


def test_a_record_naming_a_missing_or_foreign_commit_stops_with_a_clear_message(repo: Path) -> None:
    commit_release_files(repo, "Release v1.0.0", GOOD_METRICS)
    record(repo, Release("1.0.0", "0123456789" * 4, "2026-01-01T00:00:00+00:00", "baseline"))
    with pytest.raises(ReleaseError, match="names commit 0123456789.*which this clone does not have"):
        restore_tags(repo, load_record(repo / "releases.yaml"))
    git(repo, "checkout", "-qb", "side")
    side = commit_release_files(repo, "side work", GOOD_METRICS)
    git(repo, "checkout", "-q", "-")
    record(repo, Release("1.0.0", side, "2026-01-01T00:00:00+00:00", "baseline"))
    with pytest.raises(ReleaseError, match="not on the current history"):
        restore_tags(repo, load_record(repo / "releases.yaml"))
    (repo / "README").write_text("no pipeline here")
    git(repo, "rm", "-q", "dvc.lock")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "no lock")
    bare = git(repo, "rev-parse", "HEAD")
    record(repo, Release("1.0.0", bare, "2026-01-01T00:00:00+00:00", "baseline"))
    with pytest.raises(ReleaseError, match="has no dvc.lock"):
        restore_tags(repo, load_record(repo / "releases.yaml"))
    assert git(repo, "tag", "--list") == ""


def test_the_command_line_exits_non_zero_with_the_reason(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit_release_files(repo, "Release v1.0.0", GOOD_METRICS)
    record(repo, Release("1.0.0", "f" * 40, "2026-01-01T00:00:00+00:00", "baseline"))
    assert main(["--repo", str(repo), "tags"]) == 1
    assert "v1.0.0 names commit ffff" in capsys.readouterr().err


def gate_params() -> ReleaseParams:
    return shipped(ReleaseParams)


def test_the_gate_passes_on_unchanged_metrics_and_flags_each_breach_by_direction() -> None:
    params = gate_params()
    assert not any(row.breach for row in gate_rows(GOOD_METRICS, GOOD_METRICS, params))
    within = {**GOOD_METRICS, "roc_auc": GOOD_METRICS["roc_auc"] - params.max_drop["roc_auc"],
              "brier": GOOD_METRICS["brier"] + params.max_rise["brier"]}
    assert not any(row.breach for row in gate_rows(GOOD_METRICS, within, params))
    worse = {**GOOD_METRICS, "roc_auc": GOOD_METRICS["roc_auc"] - params.max_drop["roc_auc"] - 0.001,
             "brier": GOOD_METRICS["brier"] + params.max_rise["brier"] + 0.0001}
    assert {row.metric for row in gate_rows(GOOD_METRICS, worse, params) if row.breach} == {"roc_auc", "brier"}
    better = {**GOOD_METRICS, "roc_auc": 0.9, "brier": 0.001}
    assert not any(row.breach for row in gate_rows(GOOD_METRICS, better, params))
    lost = {key: value for key, value in GOOD_METRICS.items() if key != "ks"}
    assert [row.metric for row in gate_rows(GOOD_METRICS, lost, params) if row.breach] == ["ks"]


def test_the_gate_compares_the_workspace_with_the_latest_release(repo: Path) -> None:
    old = commit_release_files(repo, "Release v1.0.0", {**GOOD_METRICS, "roc_auc": 0.5})
    new = commit_release_files(repo, "Release v1.1.0", GOOD_METRICS)
    record(repo, Release("1.0.0", old, "2026-01-01T00:00:00+00:00", "a"),
           Release("1.1.0", new, "2026-02-01T00:00:00+00:00", "b"))
    report, passed = run_gate(repo, gate_params())
    assert passed and "passed against v1.1.0" in report
    (repo / "reports" / "metrics.json").write_text(json.dumps({**GOOD_METRICS, "roc_auc": 0.65}))
    report, passed = run_gate(repo, gate_params())
    assert not passed
    breach = next(line for line in report.splitlines() if line.startswith("roc_auc"))
    assert "0.700000" in breach and "0.650000" in breach and "-0.050000" in breach and "BREACH" in breach
    assert "FAILED, 1 breach(es): roc_auc" in report


def fake_dvc(folder: Path, status: str) -> str:
    script = folder / f"fake-dvc-{len(status)}"
    script.write_text(f"#!/bin/sh\necho '{status}'\n")
    script.chmod(0o755)
    return str(script)


def test_a_release_refuses_a_dirty_pipeline_failing_tests_or_a_model_of_another_version(repo: Path) -> None:
    commit_release_files(repo, "work", GOOD_METRICS)
    params = gate_params()
    clean, dirty = fake_dvc(repo.parent, "{}"), fake_dvc(repo.parent, '{"train": ["changed deps"]}')
    with pytest.raises(ReleaseError, match=r"`dvc status` is not clean \(train\)"):
        cut_release(repo, "1.2.0", "x", params, "1.2.0", dirty, lambda: True)
    with pytest.raises(ReleaseError, match="tests failed"):
        cut_release(repo, "1.2.0", "x", params, "1.2.0", clean, lambda: False)
    with pytest.raises(ReleaseError, match="train.version is '1.1.0'"):
        cut_release(repo, "1.2.0", "x", params, "1.1.0", clean, lambda: True)
    assert git(repo, "tag", "--list") == "" and git(repo, "log", "--format=%s") == "work"


def test_a_release_commits_tags_and_then_records_the_release_commit(repo: Path) -> None:
    first = commit_release_files(repo, "Release v1.0.0", GOOD_METRICS)
    record(repo, Release("1.0.0", first, "2026-01-01T00:00:00+00:00", "baseline"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "releases: record v1.0.0")
    (repo / "CHANGELOG.md").write_text("## 1.1.0\n")
    git(repo, "add", "CHANGELOG.md")
    os.environ.update(GIT_IDENTITY)
    try:
        release = cut_release(repo, "1.1.0", "calibrated", gate_params(), "1.1.0", fake_dvc(repo.parent, "{}"),
                              lambda: True, today="2026-03-01T00:00:00+00:00")
    finally:
        for key in GIT_IDENTITY:
            os.environ.pop(key, None)
    assert git(repo, "log", "-2", "--format=%s").splitlines() == ["releases: record v1.1.0", "Release v1.1.0"]
    assert git(repo, "rev-parse", "v1.1.0^{commit}") == release.commit == git(repo, "rev-parse", "HEAD~1")
    assert git(repo, "rev-parse", "credit-model@v1.1.0^{commit}") == release.commit, "registered for GTO"
    assert "CHANGELOG.md" in git(repo, "show", "--name-only", "--format=", release.commit)
    assert [r.commit for r in load_releases(repo / "releases.yaml")] == [first, release.commit]
    assert (repo / "releases.yaml").read_text().startswith("# the record\n")
    with pytest.raises(ReleaseError, match="already released"):
        cut_release(repo, "1.1.0", "again", gate_params(), "1.1.0", fake_dvc(repo.parent, "{}"), lambda: True)


def test_the_release_block_names_a_bad_tolerance() -> None:
    with pytest.raises(ValueError, match="release.max_drop"):
        configured(ReleaseParams, {"release": {**SHIPPED_PARAMS["release"], "max_drop": {"roc_auc": -1}}})


@pytest.mark.slow
def test_a_clone_without_tags_gets_them_from_make_setup_for_dvc_and_gto(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-tags", str(REPO_ROOT), str(clone)], check=True)
    for tag in git(clone, "tag", "--list").split():
        git(clone, "tag", "-d", tag)
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "VIRTUAL_ENV"))}
    environment["HOME"] = str(tmp_path)  # no git identity: the tags still get a tagger
    venv = Path(sys.prefix)
    # this venv as the clone's (`-o`: its stamp counts as up to date, so nothing is reinstalled)
    setup = subprocess.run(["make", "--no-print-directory", "-o", f"{venv}/.installed", "setup", f"VENV={venv}"],
                           cwd=clone, env=environment, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    for release in load_releases(clone / "releases.yaml"):
        assert git(clone, "rev-parse", f"{release.tag}^{{commit}}") == release.commit
    dvc = str(venv / "bin" / "dvc")
    metrics = subprocess.run([dvc, "metrics", "diff", "v1.0.0", "v1.1.0"], cwd=clone, env=environment,
                             capture_output=True, text=True)
    assert metrics.returncode == 0 and "roc_auc" in metrics.stdout, metrics.stderr
    params = subprocess.run([dvc, "params", "diff", "v1.0.0", "v1.1.0"], cwd=clone, env=environment,
                            capture_output=True, text=True)
    assert params.returncode == 0 and "train.version" in params.stdout, params.stderr
    gto = str(venv / "bin" / "gto")
    shown = subprocess.run([gto, "show", "--json"], cwd=clone, env=environment, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    model = json.loads(shown.stdout)[MODEL_NAME]
    record = load_record(clone / "releases.yaml")
    assert model["version"] == record.releases[-1].tag and model["stage"]["prod"] == f"v{stage_holders(record)['prod']}"
    versions = subprocess.run([gto, "show", MODEL_NAME, "--json"], cwd=clone, env=environment, capture_output=True,
                              text=True)
    assert {row["version"] for row in json.loads(versions.stdout)} == {release.tag for release in record.releases}
    history = subprocess.run([gto, "history", MODEL_NAME, "--json"], cwd=clone, env=environment, capture_output=True,
                             text=True)
    assigned = [(event["ref"], event["version"]) for event in json.loads(history.stdout)
                if event["event"] == "assignment"]
    assert sorted(assigned) == sorted((a.tag, f"v{a.version}") for a in record.assignments)


def test_the_gate_refuses_a_validation_test_that_turned_red(repo: Path) -> None:
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports" / "validation.json").write_text(json.dumps({"red": ["band A jeffreys"]}))
    released = commit_release_files(repo, "Release v1.0.0", GOOD_METRICS)
    record(repo, Release("1.0.0", released, "2026-01-01T00:00:00+00:00", "a"))
    report, passed = run_gate(repo, gate_params())
    assert passed, "red in the release too: not new"
    (repo / "reports" / "validation.json").write_text(json.dumps({"red": ["band A jeffreys", "hosmer_lemeshow"]}))
    report, passed = run_gate(repo, gate_params())
    assert not passed
    line = next(line for line in report.splitlines() if "hosmer_lemeshow" in line)
    assert "not listed red" in line and "BREACH" in line
    assert "band A jeffreys" not in report, "red in the release as well: not a breach, not listed"


def lock(model_md5: str, train_code_md5: str = "c0de", rows: int = 10800) -> dict:
    """A two-stage dvc.lock: train (code + params -> model), evaluate (model -> metrics)."""
    return {"schema": "2.0", "stages": {
        "train": {"cmd": "sh stages/python.sh -m stages.train",
                  "deps": [{"path": "creditrisk/modeling/training.py", "md5": train_code_md5},
                           {"path": "data/features/train.parquet", "md5": "feat"}],
                  "params": {"params.yaml": {"train": {"rows": rows}}},
                  "outs": [{"path": "models/model.skops", "md5": model_md5}]},
        "evaluate": {"cmd": "sh stages/python.sh -m stages.evaluate",
                     "deps": [{"path": "models/model.skops", "md5": model_md5},
                              {"path": "stages/evaluate.py", "md5": "e1"}],
                     "outs": [{"path": "reports/metrics.json", "md5": "m1"}]},
    }}


def test_a_moved_model_is_an_output_change_even_where_a_later_stage_reads_it() -> None:
    change = lock_change(lock("aaa"), lock("bbb"))
    assert change.inputs == [] and change.outputs == ["models/model.skops"]
    change = lock_change(lock("aaa"), lock("bbb", train_code_md5="c0de2", rows=20000))
    assert change.inputs == ["creditrisk/modeling/training.py", "params.yaml:train"]


def test_make_repro_says_in_one_line_why_dvc_lock_changed_and_what_the_gate_says(repo: Path) -> None:
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock("aaa")))
    release = commit_release_files(repo, "Release v1.2.0", GOOD_METRICS)
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock("aaa")))
    git(repo, "commit", "-qam", "the lock")
    record(repo, Release("1.2.0", release, "2026-01-01T00:00:00+00:00", "a"))
    assert explain_lock(repo, gate_params()) == ("dvc.lock matches the commit: every output reproduced; the release "
                                                 "gate passed against v1.2.0 (make release-check)")
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock("bbb")))  # a new machine: same inputs, the model's md5 moved
    line = explain_lock(repo, gate_params())
    assert line == ("dvc.lock changed in outputs only (models/model.skops) with the committed code, params and "
                    "data: this machine's CPU rounds the last bits of the model's floats differently from the one "
                    "that committed it; the committed reports are unchanged, and the release gate passed against "
                    "v1.2.0 (make release-check)")
    (repo / "reports" / "metrics.json").write_text(json.dumps({**GOOD_METRICS, "roc_auc": 0.6}))
    line = explain_lock(repo, gate_params())
    assert "1 committed report(s) differ (git diff reports)" in line and "FAILED, 1 breach(es): roc_auc" in line
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock("bbb", rows=20000)))
    assert explain_lock(repo, gate_params()).startswith(
        "dvc.lock changed because inputs changed (params.yaml:train): commit it with the reports; the release gate")
    assert "\n" not in line


def test_explain_lock_outside_git_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"release": SHIPPED_PARAMS["release"]}))
    assert main(["--repo", str(tmp_path), "explain-lock"]) == 0
    assert capsys.readouterr().out == "dvc.lock: not in a git checkout, nothing to compare it with\n"
