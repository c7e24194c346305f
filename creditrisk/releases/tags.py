"""git, and the tags the record restores: `vX.Y.Z`, GTO's `credit-model@vX.Y.Z` and `credit-model#<stage>#N`.

Many clones carry no tags: mirrors, and CI checkouts that fetch one branch. `dvc metrics diff v1.0.0 v1.1.0` then
fails with "unknown Git revision", and `gto show` sees no model. `make setup` therefore recreates every missing
annotated tag from the record, after checking that each release commit is on the current history and holds
`dvc.lock` and the metrics. A tag that already points elsewhere is never moved.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from creditrisk.releases import MODEL_NAME
from creditrisk.releases.record import Assignment, Record, Release, ReleaseError

# Used only where git has no identity configured (a CI checkout): a recreated tag needs a tagger.
FALLBACK_TAGGER = {"GIT_COMMITTER_NAME": "creditrisk release record",
                   "GIT_COMMITTER_EMAIL": "releases@creditrisk.invalid"}


def git(repo: Path, *arguments: str, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", *arguments], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise ReleaseError(f"git {' '.join(arguments)} failed: {done.stderr.strip()}")
    return done


def is_git_checkout(repo: Path) -> bool:
    return git(repo, "rev-parse", "--git-dir", check=False).returncode == 0


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
    """A recreated release tag carries the record's date, so every clone recreates it with the same date."""
    environment = {"GIT_COMMITTER_DATE": release.date}
    if git(repo, "config", "user.email", check=False).returncode != 0:
        environment.update(FALLBACK_TAGGER)
    return environment


def assignment_environment(assignment: Assignment) -> dict[str, str]:
    """A stage tag is tagged by whoever made the assignment, at its time: every clone recreates the same tag."""
    name, email = assignment.person
    return {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": assignment.date}


def create_assignment_tag(repo: Path, assignment: Assignment, commit: str) -> None:
    git(repo, "tag", "-a", assignment.tag, commit, "-m", assignment.message(), env=assignment_environment(assignment))


def _planned(repo: Path, tag: str, commit: str, record: str) -> str:
    existing = tag_target(repo, tag)
    if existing is not None and existing != commit:
        raise ReleaseError(f"tag {tag} points at {existing}, but {record} records {commit}: "
                           "the tag is left as it is; delete it (git tag -d) or fix the record")
    return "present" if existing else "create"


def restore_tags(repo: Path, record: Record, source: str = "releases.yaml") -> list[str]:
    """Create every missing release, registration and stage tag; returns one line per tag, then one per
    registry tag the record does not hold. Nothing is created unless every recorded release checks out, and a
    tag that points elsewhere is an error, never moved."""
    commits = {release.version: release.commit for release in record.releases}
    plan: list[tuple[str, str, str, str, dict[str, str], str]] = []  # tag, commit, action, message, env, note
    for release in record.releases:
        check_release_commit(repo, release, source)
        environment = tagger_environment(repo, release)
        plan.append((release.tag, release.commit, _planned(repo, release.tag, release.commit, source),
                     f"Release {release.tag}: {release.summary}", environment, ""))
        plan.append((release.registration_tag, release.commit,
                     _planned(repo, release.registration_tag, release.commit, source),
                     f"Register {MODEL_NAME} {release.tag}: {release.summary}", environment, ""))
    for assignment in record.assignments:
        commit = commits[assignment.version]
        plan.append((assignment.tag, commit, _planned(repo, assignment.tag, commit, source), assignment.message(),
                     assignment_environment(assignment), f" v{assignment.version} {assignment.stage}"))
    lines = []
    for tag, commit, action, message, environment, note in plan:
        if action == "create":
            git(repo, "tag", "-a", tag, commit, "-m", message, env=environment)
        lines.append(f"{tag} {commit[:12]}{note} ({'recreated from the record' if action == 'create' else 'present'})")
    known = {line.split()[0] for line in lines}
    unrecorded = [tag for tag in git(repo, "tag", "--list", f"{MODEL_NAME}[@#]*").stdout.split() if tag not in known]
    lines += [f"{tag}: a registry tag {source} does not hold (made by hand, e.g. with `gto`?): the API and "
              f"`make promote` read {source}; assign stages with `make promote`" for tag in unrecorded]
    return lines
