"""What the pipeline's reports hold: floats to a fixed number of significant digits, and DVC metrics files with
numbers only, so that noise in the last bits of a float never shows and `dvc metrics diff` stays narrow."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from creditrisk.io import (
    atomic_write_csv,
    atomic_write_json,
    atomic_write_metrics,
    metric_values,
    significant,
    REPORT_SIGNIFICANT_DIGITS,
)
from tests.shipped import REPO_ROOT, SHIPPED_PARAMS


def test_significant_digits_keep_whole_and_non_finite_floats() -> None:
    assert significant(0.7360853097516509, 6) == 0.736085
    assert significant(-0.0030005540819084357, 6) == -0.00300055
    assert significant(9.81e-42, 6) == 9.81e-42
    assert significant(1234567.0, 6) == 1234567.0, "a count or an amount stays whole"
    assert math.isnan(significant(math.nan, 6)) and significant(math.inf, 6) == math.inf


def test_two_machines_last_bit_noise_writes_the_same_report(tmp_path: Path) -> None:
    """Values as two CPUs computed them (measured: they differ by 1e-16 to 1e-13 relative) give one file."""
    one = {"slope": 0.7360853097516509, "edges": [0.013345590341700249], "rows": 8504,
           "nested": {"p": np.float64(0.04541455631349248)}}
    other = {"slope": 0.7360853097516513, "edges": [0.013345590341700235], "rows": 8504,
             "nested": {"p": np.float64(0.04541455631349288)}}
    atomic_write_json(tmp_path / "one.json", one)
    atomic_write_json(tmp_path / "other.json", other)
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "other.json").read_bytes()
    assert json.loads((tmp_path / "one.json").read_text()) == {
        "slope": 0.736085, "edges": [0.0133456], "rows": 8504, "nested": {"p": 0.0454146}}


def test_report_tables_round_floats_and_keep_counts_and_text(tmp_path: Path) -> None:
    table = pd.DataFrame({"window": ["2026-05", "2026-06"], "rows": [700, 1_234_567],
                          "psi": [0.123456789, np.nan], "amount": [1_234_567.0, 2.5e9]})
    atomic_write_csv(tmp_path / "table.csv", table)
    assert (tmp_path / "table.csv").read_text() == (
        "window,rows,psi,amount\n2026-05,700,0.123457,1234567.0\n2026-06,1234567,,2500000000.0\n")


def test_metric_values_keep_numbers_and_booleans_nested_and_drop_text() -> None:
    report = {"status": "alert", "reason": "score alert: PSI 0.389, " + "x" * 200, "score_psi": 0.389,
              "retraining_review": False, "features_in_alert": {"plazo_meses": "2026-10"},
              "thresholds": {"psi": {"warn": 0.1, "alert": 0.25}}, "latest_labelled_roc_auc": None,
              "counts": {"ok": np.int64(14)}, "names": ["a", "b"], "missing": math.nan}
    assert metric_values(report) == {"score_psi": 0.389, "retraining_review": False,
                                     "thresholds": {"psi": {"warn": 0.1, "alert": 0.25}}, "counts": {"ok": 14}}


def _interpolated(path: str) -> str:
    """A dvc.yaml path with its ${block.key} references filled from params.yaml, as DVC fills them."""
    def value(match: re.Match[str]) -> str:
        found: Any = SHIPPED_PARAMS
        for part in match.group(1).split("."):
            found = found[part]
        return str(found)
    return re.sub(r"\$\{([^}]+)\}", value, path)


def dvc_metrics_files() -> list[str]:
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    return [_interpolated(next(iter(entry)) if isinstance(entry, dict) else entry)
            for stage in stages.values() for entry in stage.get("metrics", [])]


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}.{key}" if where else str(key))
    else:
        yield where, value


def test_the_pipeline_has_a_metrics_file_per_reporting_stage() -> None:
    assert dvc_metrics_files() == ["reports/data_quality_metrics.json", "reports/metrics.json",
                                   "reports/drift/summary_metrics.json", "reports/score_summary.json"]


@pytest.mark.parametrize("path", dvc_metrics_files())
def test_every_dvc_metrics_file_holds_only_numbers_and_booleans(path: str) -> None:
    """What `dvc metrics diff` can diff: a text value (a drift `reason`) made its table ~300 columns wide."""
    metrics = json.loads((REPO_ROOT / path).read_text())
    assert isinstance(metrics, dict) and metrics
    text = {key: value for key, value in _leaves(metrics, "")
            if not isinstance(value, (int, float)) or isinstance(value, float) and not math.isfinite(value)}
    assert text == {}, f"{path} holds values `dvc metrics diff` cannot compare; keep them in the report beside it"


@pytest.mark.parametrize("path", dvc_metrics_files())
def test_committed_metrics_keep_the_report_digits(path: str) -> None:
    for key, value in _leaves(json.loads((REPO_ROOT / path).read_text()), ""):
        if isinstance(value, float):
            assert value == significant(value, REPORT_SIGNIFICANT_DIGITS), f"{path}: {key} = {value!r}"


def test_a_metrics_file_is_the_numbers_of_its_report(tmp_path: Path) -> None:
    report = {"rows": {"read": 10800, "written": 10630}, "source": {"path": "x.xlsx", "bytes": 1203390},
              "split": {"method": "out_of_time", "test_share": 0.2000003}}
    atomic_write_metrics(tmp_path / "metrics.json", report)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "rows": {"read": 10800, "written": 10630}, "source": {"bytes": 1203390}, "split": {"test_share": 0.2}}


def test_dvc_metrics_diff_is_a_narrow_table() -> None:
    """Every metric of the committed pipeline, as `dvc metrics diff --all` lays it out against the commit."""
    dvc = Path(sys.executable).parent / "dvc"
    done = subprocess.run([str(dvc), "metrics", "diff", "--all", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert len(lines) > 50 and lines[0].split()[:2] == ["Path", "Metric"]
    assert max(map(len, lines)) <= 140, max(lines, key=len)
