"""The prepare stage: data-quality report, deduplication, out-of-time split, the stage script."""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.export_files import rows_of, write_csv, write_xlsx

from tests.shipped import SHIPPED_PARAMS, shipped
from creditrisk.params import ParamsError, section
from creditrisk.data.prepare import (
    drop_exact_duplicates,
    prepare_export,
    split_out_of_time,
    PrepareError,
    PrepareParams,
)
from creditrisk.data.contract import DATE, TARGET
from creditrisk.data.synthetic import generate_history, write_csv as write_sample_csv, GenerateParams

REPO = Path(__file__).resolve().parents[1]


def loan_rows(
    moments: list[pd.Timestamp], defaults: Collection[int] = (), **overrides_by_row: dict[str, str]
) -> list[dict[str, str]]:
    """One valid loan per moment (day-first text dates); rows in `defaults` did not pay on time.

    `row3={"edad_cliente": "122"}` overrides cells of the fourth row.
    """
    rows = []
    for position, moment in enumerate(moments):
        row = {DATE: moment.strftime("%d/%m/%y %H:%M"), TARGET: "0" if position in defaults else "1"}
        row.update(overrides_by_row.get(f"row{position}", {}))
        rows.append(row)
    return rows_of(rows)


def spread_moments(count: int, seed: int = 0) -> list[pd.Timestamp]:
    rng = np.random.default_rng(seed)
    minutes = rng.integers(0, 400 * 24 * 60, count)
    return [pd.Timestamp("2024-11-13") + pd.Timedelta(minutes=int(m)) for m in minutes]


def prepare_csv(path: Path, test_fraction: float = 0.2) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    prepared = prepare_export(shipped(PrepareParams, source=str(path), test_fraction=test_fraction,
                                      performance_window_months=0))
    return prepared.train, prepared.test, prepared.report


def test_quality_report_counts_nulled_values_and_missing_shares(tmp_path: Path) -> None:
    rows = loan_rows(spread_moments(10), defaults={1, 7}, row2={"edad_cliente": "122"},
                     row5={"edad_cliente": "121", "tendencia_ingresos": "123.5"},
                     row6={"tendencia_ingresos": ""}, row8={"salario_cliente": "5000000000"})
    path = write_csv(tmp_path / "loans.csv", rows)
    train, test, report = prepare_csv(path)

    assert report["rows"] == {"read": 10, "duplicates_dropped": 0, "written": 10, "train": 8, "test": 2}
    assert report["values_nulled"] == 4
    age = report["columns"]["edad_cliente"]
    assert age["nulled_by_rule"] == {"placeholder": 2}
    assert age["nulled_example_rows"] == {"placeholder": [4, 7]}
    assert (age["missing"], age["missing_share"]) == (2, 0.2)
    trend = report["columns"]["tendencia_ingresos"]
    assert trend["nulled_by_rule"] == {"unknown_category": 1}
    assert (trend["missing"], trend["missing_share"]) == (2, 0.2)
    assert report["columns"]["salario_cliente"]["nulled_by_rule"] == {"above_maximum": 1}
    assert report["columns"]["capital_prestado"] == {
        "dtype": "float64", "nulled_by_rule": {}, "nulled_example_rows": {}, "missing": 0, "missing_share": 0.0}
    assert report["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["source"]["md5"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert report["source"]["date_order"] == "day-first (detected)"
    defaults_in_train = int((train[TARGET] == 0).sum())
    assert report["split"]["train"]["defaults"] == defaults_in_train
    assert report["split"]["train"]["default_rate"] == round(defaults_in_train / len(train), 6)
    assert report["split"]["test"]["date_min"] == test[DATE].min().isoformat()
    json.dumps(report)


def test_split_is_out_of_time(tmp_path: Path) -> None:
    moments = spread_moments(60, seed=1)
    moments[10:14] = [moments[0]] * 4
    ages = {f"row{position}": {"edad_cliente": str(20 + position)} for position in range(60)}
    rows = loan_rows(moments, **ages)
    train, test, report = prepare_csv(write_csv(tmp_path / "loans.csv", rows), test_fraction=0.25)
    assert train[DATE].max() < test[DATE].min()
    assert len(train) + len(test) == 60
    assert len(test) == 15
    assert train[DATE].is_monotonic_increasing and test[DATE].is_monotonic_increasing
    assert report["split"]["train"]["date_max"] == train[DATE].max().isoformat()


def test_loans_sharing_the_cut_date_stay_on_one_side() -> None:
    dates = pd.to_datetime(["2025-01-01"] * 5 + ["2025-02-01"] * 4 + ["2025-03-01"])
    frame = pd.DataFrame({DATE: dates, TARGET: 1.0})
    split = split_out_of_time(frame, test_fraction=0.3)
    assert (len(split.train), len(split.test)) == (5, 5)
    assert split.train[DATE].max() < split.test[DATE].min()
    assert split.ties_at_cut == "test"
    split = split_out_of_time(frame, test_fraction=0.2)
    assert (len(split.train), len(split.test)) == (9, 1)
    assert split.ties_at_cut == "train"


def test_split_refuses_a_single_date() -> None:
    frame = pd.DataFrame({DATE: pd.to_datetime(["2025-01-01"] * 3), TARGET: 1.0})
    with pytest.raises(PrepareError, match="all 3 loans share the date 2025-01-01"):
        split_out_of_time(frame, test_fraction=0.2)


def test_result_does_not_depend_on_row_order(tmp_path: Path) -> None:
    moments = spread_moments(30, seed=2)
    moments[20:23] = [moments[5]] * 3
    rows = loan_rows(moments, defaults={3, 17, 25}, row20={"huella_consulta": "7"}, row21={"edad_cliente": "55"},
                     row22={"plazo_meses": "6"})
    shuffled = [rows[i] for i in np.random.default_rng(3).permutation(len(rows))]
    first = prepare_csv(write_csv(tmp_path / "a.csv", rows))
    second = prepare_csv(write_csv(tmp_path / "b.csv", shuffled))
    for left, right in zip(first[:2], second[:2]):
        pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True))
    assert first[2]["split"] == second[2]["split"]


def test_exact_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    moments = spread_moments(12, seed=4)
    rows = loan_rows(moments)
    same_loan_other_format = {**rows[3], "plazo_meses": "12.0", "capital_prestado": "1500000,0"}
    near_duplicate = {**rows[4], "edad_cliente": "41"}
    path = write_csv(tmp_path / "loans.csv", rows + [dict(rows[0]), same_loan_other_format, near_duplicate])
    train, test, report = prepare_csv(path)
    assert report["rows"]["read"] == 15
    assert report["rows"]["duplicates_dropped"] == 2
    assert report["rows"]["written"] == len(train) + len(test) == 13
    both = pd.concat([train, test])
    assert not both.duplicated().any()


def test_colliding_hashes_never_drop_rows_that_differ() -> None:
    frame = pd.DataFrame({"a": [1.0, 1.0, 2.0, 1.0], "b": ["x", "x", "x", "y"]})
    unique, dropped = drop_exact_duplicates(frame, hashes=np.zeros(len(frame), dtype="uint64"))
    assert dropped == 1 and unique.index.tolist() == [0, 2, 3]


def test_xlsx_source_is_prepared_like_its_csv_twin(tmp_path: Path) -> None:
    rows = loan_rows(spread_moments(8, seed=5), defaults={2}, row4={"capital_prestado": "88,768094"})
    from_csv = prepare_csv(write_csv(tmp_path / "loans.csv", rows))
    from_xlsx = prepare_csv(write_xlsx(tmp_path / "loans.xlsx", rows))
    for left, right in zip(from_csv[:2], from_xlsx[:2]):
        pd.testing.assert_frame_equal(left, right)
    assert from_xlsx[2]["source"]["format"] == "xlsx"
    assert from_xlsx[2]["source"]["date_order"] == "spreadsheet datetimes"


def test_params_block_is_typed_and_checked() -> None:
    block = {**SHIPPED_PARAMS["prepare"], "source": "x.csv", "day_first": True, "test_fraction": 0.3}
    params = section({"prepare": block}, "prepare", PrepareParams)
    assert params == shipped(PrepareParams, source="x.csv", day_first=True, test_fraction=0.3)
    with pytest.raises(ParamsError, match="prepare.test_fraction = 1.5 must be between 0 and 1"):
        shipped(PrepareParams, source="x.csv", test_fraction=1.5)
    with pytest.raises(ParamsError, match="prepare.day_first"):
        section({"prepare": {**block, "day_first": "yes"}}, "prepare", PrepareParams)
    without_source = {key: value for key, value in block.items() if key != "source"}
    with pytest.raises(ParamsError, match="block 'prepare' needs key 'source'"):
        section({"prepare": without_source}, "prepare", PrepareParams)


def run_stage(directory: Path, source: Path, monkeypatch: pytest.MonkeyPatch,
              performance_window_months: int = 0) -> int:
    (directory / "params.yaml").write_text(yaml.safe_dump({"prepare": {
        **SHIPPED_PARAMS["prepare"], "performance_window_months": performance_window_months,
        "vintages_report": "reports/vintages.csv",
        "source": str(source), "train_path": "out/train.parquet",
        "test_path": "out/test.parquet", "quality_report": "reports/data_quality.json"}}))
    monkeypatch.chdir(directory)
    return runpy.run_path(str(REPO / "stages" / "prepare.py"), run_name="prepare_stage")["main"]()


def test_stage_writes_the_prepared_files_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    source = write_csv(tmp_path / "loans.csv", loan_rows(spread_moments(20, seed=6), defaults={4}))
    assert run_stage(tmp_path, source, monkeypatch) == 0
    train = pd.read_parquet(tmp_path / "out" / "train.parquet")
    test = pd.read_parquet(tmp_path / "out" / "test.parquet")
    report = json.loads((tmp_path / "reports" / "data_quality.json").read_text())
    assert (len(train), len(test)) == (16, 4)
    assert train[DATE].dtype == "datetime64[ns]" and train["capital_prestado"].dtype == "float64"
    assert train["tipo_laboral"].dtype == "string" and set(train[TARGET]) <= {0.0, 1.0}
    assert train.index.tolist() == list(range(16))
    assert report["rows"]["written"] == 20
    assert "train 16, test 4" in capsys.readouterr().out


def test_stage_stops_on_a_bad_file_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    rows = loan_rows(spread_moments(5, seed=7), row2={TARGET: "2"})
    source = write_csv(tmp_path / "loans.csv", rows)
    assert run_stage(tmp_path, source, monkeypatch) == 1
    error = capsys.readouterr().err
    assert f"prepare: {source} (rows numbered as in the file" in error
    assert "column 'Pago_atiempo': rule 'not_0_or_1' broken in 1 row(s); e.g. row 4 = '2'" in error
    assert not (tmp_path / "out").exists() and not (tmp_path / "reports").exists()


def test_immature_loans_are_flagged_and_left_out_of_the_labels(tmp_path: Path) -> None:
    rows = loan_rows(spread_moments(40, seed=8), defaults={3, 30})
    path = write_csv(tmp_path / "loans.csv", rows)
    params = shipped(PrepareParams, source=str(path), test_fraction=0.25, performance_window_months=2)
    kept = prepare_export(replace(params, exclude_immature=False))
    left_out = prepare_export(params)
    dates = pd.concat([kept.train, kept.test])[DATE]
    cutoff = dates.max() - pd.DateOffset(months=2)
    young = int((dates > cutoff).sum())
    assert young > 0
    assert len(left_out.train) + len(left_out.test) == len(dates) - young
    assert pd.concat([left_out.train, left_out.test])[DATE].max() <= cutoff
    maturity = left_out.report["maturity"]
    assert maturity["immature_loans"] == young and maturity["immature_excluded_from_labels"] is True
    assert kept.report["maturity"]["immature_excluded_from_labels"] is False
    vintages = left_out.vintages
    assert vintages["loans"].sum() == len(dates), "the vintage table covers every loan, mature or not"
    assert not vintages["mature"].iloc[-1] and vintages["mature"].iloc[0]


def test_an_export_shorter_than_the_performance_window_names_the_rule_and_the_history_it_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """3,000 sample loans over two months, all younger than the 3-month window: the stage says why it stops."""
    export = generate_history(shipped(GenerateParams, rows=3000, months=2, start="2025-01-01"))
    source = tmp_path / "short.csv"
    write_sample_csv(export, source, quirks=True, seed=1)
    assert run_stage(tmp_path, source, monkeypatch, performance_window_months=3) == 1
    error = capsys.readouterr().err
    last = pd.Timestamp(export[DATE].max())
    cutoff = (last - pd.DateOffset(months=3)).strftime("%Y-%m-%d")
    assert f"prepare: {source}: too little history to train on." in error
    assert f"run from 2025-01-01 to {last:%Y-%m-%d}" in error
    assert "rule 'performance_window_months'" in error and "prepare.performance_window_months = 3" in error
    assert f"dated on or before {cutoff}): 0 loan(s) are" in error
    assert f"The export must span more than 3 month(s); give it loans from before {cutoff}" in error
    assert "prepare.exclude_immature: false" in error
    assert "cannot split" not in error
    assert not (tmp_path / "out").exists()
