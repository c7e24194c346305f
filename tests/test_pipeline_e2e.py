"""End to end: `dvc repro` in a temporary copy of the repository, on a small sample export.

The copy holds the project's files (tracked, plus new ones not ignored), a
fresh git repository and small `generate` params. Assertions are about the
`generate` and `prepare` stages, so stages added downstream keep this passing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from creditrisk.data.contract import DATE
from tests.workspace import SMALL_SAMPLE, copy_working_tree, edit_params, make_downstream_cheap

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def copy_project(destination: Path) -> Path:
    return copy_working_tree(destination, commit=False)


def dvc(repo: Path, *arguments: str) -> str:
    """Run DVC with the project's interpreter first on PATH (the stage launcher falls back to python3)."""
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "DVC_NO_ANALYTICS": "1"}
    finished = subprocess.run([str(Path(sys.executable).parent / "dvc"), *arguments], cwd=repo,
                              env=environment, capture_output=True, text=True)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, f"dvc {' '.join(arguments)} failed:\n{output}"
    return output


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def ran(output: str, stage: str) -> bool:
    return stage in stages_run(output)


def test_dvc_repro_runs_then_does_nothing_then_reruns_only_what_a_param_touches(tmp_path: Path) -> None:
    repo = copy_project(tmp_path / "project")
    edit_params(repo, "generate", **SMALL_SAMPLE)
    make_downstream_cheap(repo)

    first = dvc(repo, "repro")
    assert ran(first, "generate") and ran(first, "prepare")
    train = pd.read_parquet(repo / "data" / "prepared" / "train.parquet")
    test = pd.read_parquet(repo / "data" / "prepared" / "test.parquet")
    assert 2800 <= len(train) + len(test) <= 3000
    assert train[DATE].max() <= test[DATE].min()
    assert (repo / "reports" / "data_quality.json").is_file()

    second = dvc(repo, "repro")
    assert not ran(second, "generate") and not ran(second, "prepare")
    assert "Data and pipelines are up to date" in dvc(repo, "status")

    # The sample's dates are real datetimes (XLSX) or day-first text (CSV): forcing day-first changes the
    # params, not the prepared data.
    edit_params(repo, "prepare", day_first=True)
    third = dvc(repo, "repro")
    assert stages_run(third) == ["prepare"], "same prepared data: nothing downstream reruns, generate neither"
    assert "Data and pipelines are up to date" in dvc(repo, "status")
