"""Helpers for the release and registry tests: a small git repository holding releases of a pretend pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from creditrisk.releases.record import render_releases, Release
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
GOOD_METRICS = {"roc_auc": 0.70, "pr_auc": 0.10, "ks": 0.35, "brier": 0.030, "log_loss": 0.13, "ece": 0.02}


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(["git", *arguments], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_IDENTITY}).stdout.strip()


def commit_release_files(repo: Path, message: str, metrics: dict[str, float]) -> str:
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports" / "metrics.json").write_text(json.dumps(metrics))
    (repo / "dvc.lock").write_text(f"schema: '2.0'\n# {message}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def init_repo(root: Path) -> Path:
    """An empty repository with the shipped `release` params and `.gto`."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    (root / "params.yaml").write_text(yaml.safe_dump({"release": SHIPPED_PARAMS["release"]}))
    shutil.copy(REPO_ROOT / ".gto", root / ".gto")
    return root


def record(repo: Path, *releases: Release) -> None:
    (repo / "releases.yaml").write_text(render_releases(list(releases), "# the record\n"))
