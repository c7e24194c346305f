"""Cutting a release (`make release`): refuse unless it is ready, then commit, tag, register and record it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from creditrisk.io import atomic_write_text
from creditrisk.releases import MODEL_NAME
from creditrisk.releases.record import (
    load_record,
    record_header,
    render_record,
    Record,
    Release,
    ReleaseError,
    ReleaseParams,
    VERSION_PATTERN,
)
from creditrisk.releases.tags import git, tag_target

RELEASE_SUBJECT = "Release v{version}"
RECORD_SUBJECT = "releases: record v{version}"


def dvc_is_clean(repo: Path, dvc: str) -> tuple[bool, str]:
    done = subprocess.run([dvc, "status", "--json"], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        return False, done.stderr.strip()
    changed = json.loads(done.stdout or "{}")
    return not changed, ", ".join(sorted(changed))


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def cut_release(repo: Path, version: str, summary: str, params: ReleaseParams, model_version: str,
                dvc: str, run_tests: Callable[[], bool], today: str | None = None) -> Release:
    """Refuse unless the version is new, the model carries it, `dvc status` is clean and the tests
    pass; then commit "Release vX.Y.Z", tag it `vX.Y.Z` and `credit-model@vX.Y.Z` (GTO's registration), and
    commit the record that names it. A release is assigned to no stage: `make promote` does that."""
    record_path = repo / params.record
    record = load_record(record_path) if record_path.is_file() else Record([], [])
    releases = record.releases
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
    release = Release(version, commit, today or utc_now(), summary.strip())
    git(repo, "tag", "-a", release.tag, commit, "-m", f"Release {release.tag}: {release.summary}")
    git(repo, "tag", "-a", release.registration_tag, commit, "-m",
        f"Register {MODEL_NAME} {release.tag}: {release.summary}")
    atomic_write_text(record_path, render_record(Record([*releases, release], record.assignments),
                                                 record_header(record_path)))
    git(repo, "add", params.record)
    git(repo, "commit", "--quiet", "-m", RECORD_SUBJECT.format(version=version), "--", params.record)
    return release
