"""Copies of the project for tests that run DVC, the stages or the release tooling on it.

A copy holds the working tree as `git add -A` would see it (uncommitted changes included), so the tests
exercise the code being changed, not HEAD; it is committed in a fresh repository, as DVC and the release
tooling want one, and writes only under the test's temporary directory.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL_SAMPLE = {"rows": 3000, "incoming_months": 2, "incoming_rows": 150, "label_lag_months": 1}
# Cheaper settings for downstream stages, applied only to keys the copy's params.yaml has:
# this test is about DVC's bookkeeping, not about model quality.
CHEAP_DOWNSTREAM = {
    "train": {"cv_folds": 2},
    "evaluate": {"importance_repeats": 1, "importance_max_rows": 500},
    "fairness": {"bootstrap_samples": 20},
}
TEST_IDENTITY = ("-c", "user.name=test", "-c", "user.email=test@example.org")


def project_files(repo: Path = REPO_ROOT) -> list[str]:
    """Tracked and untracked files that are not ignored."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=repo, check=True, capture_output=True, text=True).stdout
    return [name for name in listing.split("\0") if name and (repo / name).is_file()]


def copy_files(destination: Path, names: list[str], source: Path = REPO_ROOT) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    return destination


def copy_working_tree(destination: Path, commit: bool = True) -> Path:
    """The working tree in a fresh git repository at `destination`, committed unless `commit` is false."""
    copy_files(destination, project_files())
    subprocess.run(["git", "init", "--quiet"], cwd=destination, check=True)
    if commit:
        subprocess.run(["git", "add", "--all"], cwd=destination, check=True)
        subprocess.run(["git", *TEST_IDENTITY, "commit", "--quiet", "--no-verify", "-m", "working tree"],
                       cwd=destination, check=True)
    return destination


def edit_params(repo: Path, block: str, **values: object) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[block].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_downstream_cheap(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for block, values in CHEAP_DOWNSTREAM.items():
        present = {key: value for key, value in values.items() if key in (params.get(block) or {})}
        if present:
            edit_params(repo, block, **present)
