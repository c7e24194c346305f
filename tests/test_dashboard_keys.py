"""The dashboard reads only keys the pipeline writes: every key it looks up is in real stage output.

The keys are collected from the dashboard's code with `ast`: string literals used as a
subscript (`summary["status"]`), as the first argument of `.get`, on the left of `in`, in a
literal a loop walks (`for key in ("models", "table")`), after the mapping in a helper call
whose other arguments are all literals (`lookup(card, "version", "model_version")`), and the
column and metric names the pages select from (module-level constants named `*_COLUMNS`,
`*_METRICS`, `*_STATISTICS`, `*_LIMITS`). Each must be a key of a JSON artifact (at any depth)
or a column of a CSV artifact that the stages wrote: the committed reports with the model card,
and the artifacts of a small real pipeline run; or a key the scoring API's OpenAPI document declares
for `/ready` and `/model`, which the Overview asks when CREDITRISK_API_URL is set. A fallback key no stage writes (`model_version`
beside `version`) fails here instead of hiding a renamed field behind a silent default.

Artifacts whose stage is still being wired (`PENDING`) are checked against the hand-written copy in
tests/dashboard_support.py wherever a run has not written them yet, with a warning that says so; that
copy is always held to the library function that builds the file, and to the real file once it exists.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.data.contract import DATE, TARGET
from creditrisk.data.vintages import vintage_table
from creditrisk.io import atomic_write_json, finite_json
from creditrisk.modeling.fairness import elderly_age_check, fairness_tables, FairnessParams, GroupSettings
from creditrisk.modeling.rank_ordering import rank_ordering_summary, rank_ordering_tests
from creditrisk.modeling.monotone import MonotonicityFinding
from creditrisk.modeling.validation import PackSettings, validation_pack
from tests.dashboard_support import run_small_pipeline, write_artifact_set
from tests.loan_frames import fitted_bundle, make_loans
from tests.shipped import REPO_ROOT, shipped

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


PENDING = {
    Path("reports/validation.json"): "the evaluate stage (creditrisk.modeling.validation.validation_pack)",
    Path("reports/vintages.csv"): "the prepare stage (creditrisk.data.vintages.vintage_table)",
}
"""Artifacts a stage is about to write, with their writer: until a run has one, the hand-written copy stands in."""


WITH_A_CHALLENGER = (Path("reports/compare/windows.json"), Path("reports/compare/summary.json"))
"""The compare stage's files hold their per-model keys only when there is a challenger; the committed sample has
none (compare.challenger_path is the champion's own file). Where a run's summary names no challenger, the
hand-written copy's keys count, with a warning; the slow test holds them to a real run with a challenger, and
tests/test_compare.py the copy to the stage's library."""


def file_keys(path: Path) -> set[str]:
    """The keys of one JSON artifact (at any depth) or the columns of one CSV artifact."""
    if path.suffix == ".csv":
        return set(pd.read_csv(path, nrows=0).columns)
    return set(_json_keys(json.loads(path.read_text())))


def written_keys(root: Path, stand_ins: Path | None = None) -> set[str]:
    """Every JSON key and CSV column of the artifacts under `root/reports`, and the model card's keys.

    With `stand_ins` (a hand-written artifact set), a `PENDING` artifact that `root` lacks counts with the
    keys of its stand-in, and a warning names it: the check is then against the fixture, not a stage.
    """
    keys: set[str] = set()
    for path in sorted((root / "reports").rglob("*.json")) + [root / "models" / "model_card.json"]:
        keys |= file_keys(path)
    for path in sorted((root / "reports").rglob("*.csv")):
        keys |= file_keys(path)
    for relative, writer in PENDING.items():
        if stand_ins is not None and not (root / relative).exists():
            warnings.warn(f"{root / relative} is not written yet: the dashboard's keys for it are checked against "
                          f"the hand-written copy until {writer} writes it", stacklevel=2)
            keys |= file_keys(stand_ins / relative)
    summary = root / WITH_A_CHALLENGER[1]
    no_challenger = not summary.exists() or json.loads(summary.read_text())["challenger_version"] is None
    if stand_ins is not None and no_challenger:
        warnings.warn(f"{summary} names no challenger: the dashboard's keys for the compare files are checked against "
                      "the hand-written copy", stacklevel=2)
        for relative in WITH_A_CHALLENGER:
            keys |= file_keys(stand_ins / relative)
    return keys


def api_keys() -> set[str]:
    """The keys the scoring API's OpenAPI document declares for what the dashboard asks it (`/ready`, `/model`,
    and their error body): with CREDITRISK_API_URL, "Model in service" reads them from the API, not a stage."""
    from app.openapi import openapi_document

    document = openapi_document(max_rows=1, max_body_mb=1.0, max_errors=1, token_required=False)
    schemas = [document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
               for path in ("/ready", "/model")] + [document["components"]["schemas"]["Error"]]
    return {key for schema in schemas for key in schema["properties"]}


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


def test_the_dashboard_reads_only_keys_the_committed_stage_output_has(tmp_path: Path) -> None:
    if not (REPO_ROOT / "models" / "model_card.json").exists():
        pytest.skip("models/model_card.json is a DVC output: `dvc pull` or `dvc repro` writes it")
    write_artifact_set(tmp_path)
    assert unwritten(written_keys(REPO_ROOT, stand_ins=tmp_path) | api_keys()) == {}


@pytest.mark.slow
def test_the_dashboard_reads_only_keys_a_real_pipeline_run_writes(tmp_path_factory: pytest.TempPathFactory,
                                                                   tmp_path: Path) -> None:
    pipeline = run_small_pipeline(tmp_path_factory.getbasetemp() / "dashboard-pipeline")
    write_artifact_set(tmp_path)
    assert unwritten(written_keys(pipeline, stand_ins=tmp_path) | api_keys()) == {}


def test_the_hand_written_artifacts_use_only_keys_the_pipeline_writes(tmp_path: Path) -> None:
    """The fast page tests' artifact set stays in the stages' format (checked against the committed reports)."""
    if not (REPO_ROOT / "models" / "model_card.json").exists():
        pytest.skip("models/model_card.json is a DVC output: `dvc pull` or `dvc repro` writes it")
    write_artifact_set(tmp_path)
    extra = written_keys(tmp_path) - written_keys(REPO_ROOT, stand_ins=tmp_path)
    data_names = {"puntaje"} | {f"2026-{month:02d}" for month in range(5, 11)}
    assert extra - data_names == set()


def _model_review(y: np.ndarray, pd_values: np.ndarray, bands: np.ndarray, rng: np.random.Generator) -> dict:
    """The pack's rank ordering, fairness tables and age check as evaluate adds them (a small fitted model
    for the age check)."""
    params = shipped(FairnessParams, bootstrap_samples=5)
    frame = pd.DataFrame({"edad_cliente": rng.integers(19, 70, len(y)).astype(float),
                          "tipo_credito": rng.choice(["4", "9", "10"], len(y), p=[0.7, 0.29, 0.01]),
                          "tipo_laboral": rng.choice(["Empleado", "Independiente"], len(y))})
    settings = GroupSettings.of(params, 0.1, 0.05, 0.01, 0.95)
    loans = make_loans(800, seed=3)
    bundle = fitted_bundle(loans, "logistic")
    return {"rank_ordering": rank_ordering_summary(rank_ordering_tests(["A", "B", "C"], bands, y, 0.05, 0.01)),
            "fairness": fairness_tables(frame, y, pd_values, params, settings),
            "age_check": elderly_age_check(bundle, loans, bundle.predict_pd(loans), params)}


def _built_by_the_library(relative: Path, folder: Path) -> Path:
    """The pending artifact as the library function its stage calls builds it, on a small sample."""
    rng = np.random.default_rng(5)
    rows = 3000
    pd_values = np.clip(rng.beta(1.2, 22, rows), 1e-4, 0.9)
    y = (rng.random(rows) < pd_values).astype(int)
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if relative.name == "validation.json":
        bands = np.where(pd_values < 0.03, "A", np.where(pd_values < 0.08, "B", "C"))
        settings = PackSettings(confidence=0.95, yellow_below=0.05, red_below=0.01, hosmer_lemeshow_groups=10,
                                calibration_bins=10)
        finding = MonotonicityFinding("huella_consulta", 1, rows, [0.0, 4.0, 12.0], 0.0, 0, 0.0005)
        pack = validation_pack(y, pd_values, ["A", "B", "C"], bands, float(y.mean()), 0.7, settings, [finding.to_dict()])
        atomic_write_json(target, finite_json({**pack, **_model_review(y, pd_values, bands, rng)}))
    else:
        dates = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 540, rows), unit="D")
        loans = pd.DataFrame({DATE: dates, TARGET: 1.0 - y})
        vintage_table(loans, 3).to_csv(target, index=False)
    return target


@pytest.mark.parametrize("relative", list(PENDING), ids=str)
def test_each_hand_written_stand_in_has_the_keys_its_stage_writes(relative: Path, tmp_path: Path) -> None:
    """Always against the library function that builds the file; against the real file too once it exists."""
    write_artifact_set(tmp_path / "fixture")
    hand_written = file_keys(tmp_path / "fixture" / relative)
    assert hand_written == file_keys(_built_by_the_library(relative, tmp_path / "built"))
    real = REPO_ROOT / relative
    if real.exists():
        assert hand_written == file_keys(real)
    else:
        warnings.warn(f"{real} is not written yet: its stand-in is checked against the library only", stacklevel=1)
