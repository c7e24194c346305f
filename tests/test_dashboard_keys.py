"""The dashboard reads only keys the pipeline writes: every key it looks up is in real stage output.

The keys are collected from the dashboard's code with `ast`: string literals used as a
subscript (`summary["status"]`), as the first argument of `.get`, on the left of `in`, in a
literal a loop walks (`for key in ("models", "table")`), after the mapping in a helper call
whose other arguments are all literals (`lookup(card, "version", "model_version")`), and the
column and metric names the pages select from (module-level constants named `*_COLUMNS`,
`*_METRICS`, `*_STATISTICS`, `*_LIMITS`). Each must be a key of a JSON artifact (at any depth)
or a column of a CSV artifact that the stages wrote: the committed reports with the model card,
and the artifacts of a small real pipeline run. A fallback key no stage writes (`model_version`
beside `version`) fails here instead of hiding a renamed field behind a silent default.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dashboard_support import run_small_pipeline, write_artifact_set
from tests.shipped import REPO_ROOT

DASHBOARD_FILES = sorted((REPO_ROOT / "dashboard").rglob("*.py"))
KEY = re.compile(r"^[a-z][a-z0-9_]*$")
SELECTIONS = re.compile(r"_(COLUMNS|METRICS|STATISTICS|LIMITS)$")
NOT_FROM_ARTIFACTS = {
    "day": "a column of the prediction-log query in dashboard.loaders",
    "bin": "a column of the table creditrisk.data.exploration.default_rate_by_bins returns",
}


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _strings_within(node: ast.AST) -> Iterator[str]:
    """String elements of a literal tuple/list/set, and of a dict's values, at any depth."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            yield from _strings_within(element)
    elif isinstance(node, ast.Dict):
        for value in node.values:
            yield from _strings_within(value)
    elif (text := _string(node)) is not None:
        yield text


def _own_constant(node: ast.AST) -> bool:
    """A module constant of the dashboard (`HISTORY_STATISTICS[...]`): a lookup in its own table, not an artifact."""
    return isinstance(node, ast.Name) and node.id.isupper()


def keys_read(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and not _own_constant(node.value):
            found |= set(_strings_within(node.slice))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and not _own_constant(node.func.value)):
            found |= {text for text in map(_string, node.args[:1]) if text is not None}
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            found |= {text for text in [_string(node.left)] if text is not None}
        elif isinstance(node, (ast.For, ast.comprehension)):
            found |= set(_strings_within(node.iter))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) > 1
              and isinstance(node.args[0], ast.Name) and all(_string(arg) is not None for arg in node.args[1:])):
            found |= {text for text in map(_string, node.args[1:]) if text is not None}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and SELECTIONS.search(target.id)
                                                for target in node.targets):
            found |= set(_strings_within(node.value))
    return {key for key in found if KEY.match(key)}


def dashboard_keys() -> dict[str, set[str]]:
    """Each key the dashboard reads, with the files that read it."""
    readers: dict[str, set[str]] = {}
    for path in DASHBOARD_FILES:
        for key in keys_read(path):
            readers.setdefault(key, set()).add(str(path.relative_to(REPO_ROOT)))
    return readers


def _json_keys(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _json_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_keys(item)


def written_keys(root: Path) -> set[str]:
    """Every JSON key and CSV column of the artifacts under `root/reports`, and the model card's keys."""
    keys: set[str] = set()
    for path in sorted((root / "reports").rglob("*.json")) + [root / "models" / "model_card.json"]:
        keys |= set(_json_keys(json.loads(path.read_text())))
    for path in sorted((root / "reports").rglob("*.csv")):
        keys |= set(pd.read_csv(path, nrows=0).columns)
    return keys


def unwritten(keys: set[str]) -> dict[str, list[str]]:
    readers = dashboard_keys()
    return {key: sorted(files) for key, files in sorted(readers.items())
            if key not in keys and key not in NOT_FROM_ARTIFACTS}


def test_the_key_collector_sees_each_way_of_reading_a_key(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text('TABLE_COLUMNS = ("window", ("psi",))\nLABELS = ("not_a_key",)\n'
                    'a = card["version"]\nb = card.get("model_version", "x")\nc = "seconds" in comparison\n'
                    'd = frame[["rows", "Title Case"]]\ne = os.environ.get("CREDITRISK_REPORTS_DIR")\n'
                    'f = TITLES["own_table"], TITLES.get("own_table_too")\n'
                    'g = next(payload[k] for k in ("candidates", "table") if k in payload)\n'
                    'h = first_present(card, "model_name", "label with spaces")\n'
                    'i = reference_line(figure, value, "a_label")\n')
    assert keys_read(page) == {"window", "psi", "version", "model_version", "seconds", "rows", "candidates", "table",
                               "model_name"}


def test_the_dashboard_reads_only_keys_the_committed_stage_output_has() -> None:
    if not (REPO_ROOT / "models" / "model_card.json").exists():
        pytest.skip("models/model_card.json is a DVC output: `dvc pull` or `dvc repro` writes it")
    assert unwritten(written_keys(REPO_ROOT)) == {}


@pytest.mark.slow
def test_the_dashboard_reads_only_keys_a_real_pipeline_run_writes(tmp_path_factory: pytest.TempPathFactory) -> None:
    pipeline = run_small_pipeline(tmp_path_factory.getbasetemp() / "dashboard-pipeline")
    assert unwritten(written_keys(pipeline)) == {}


def test_the_hand_written_artifacts_use_only_keys_the_pipeline_writes(tmp_path: Path) -> None:
    """The fast page tests' artifact set stays in the stages' format (checked against the committed reports)."""
    if not (REPO_ROOT / "models" / "model_card.json").exists():
        pytest.skip("models/model_card.json is a DVC output: `dvc pull` or `dvc repro` writes it")
    write_artifact_set(tmp_path)
    extra = written_keys(tmp_path) - written_keys(REPO_ROOT)
    data_names = {"puntaje"} | {f"2026-{month:02d}" for month in range(5, 11)}
    assert extra - data_names == set()
