"""The prediction log: what goes in comes out typed, whole batches only, safe across processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.serving import predlog
from creditrisk.serving.predlog import records, schema
from creditrisk.data.contract import coerce_and_validate
from tests.api_support import sample_frame


def contract_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    return coerce_and_validate(sample_frame(rows, seed), purpose="scoring").frame


def batch_rows(frame: pd.DataFrame, request_id: str) -> predlog.LoggedBatch:
    pds = np.linspace(0.01, 0.5, len(frame))
    bands = np.where(pds < 0.1, "A", "B")
    decisions = np.where(pds < 0.2, "approve", "reject")
    return predlog.log_entry(frame, request_id, "v-test", pds, bands, decisions)


def test_logged_rows_come_back_contract_typed(tmp_path: Path) -> None:
    frame = contract_frame(6)
    frame.loc[2, "salario_cliente"] = np.nan
    frame.loc[3, "tendencia_ingresos"] = pd.NA
    log = predlog.PredictionLog(tmp_path / "log.sqlite")
    assert log.append(batch_rows(frame, "req-1")) == 6

    logged = predlog.read_log(tmp_path / "log.sqlite")

    assert len(logged) == 6
    assert logged["row_index"].tolist() == list(range(6))
    assert logged["request_id"].unique().tolist() == ["req-1"]
    assert logged["pd"].to_numpy() == pytest.approx(np.linspace(0.01, 0.5, 6))
    assert logged["capital_prestado"].dtype == "float64"
    assert logged["tipo_credito"].dtype == "string"
    assert logged["fecha_prestamo"].dtype == "datetime64[ns]"
    assert str(logged["logged_at"].dt.tz) == "UTC"
    assert pd.isna(logged.loc[2, "salario_cliente"])
    assert pd.isna(logged.loc[3, "tendencia_ingresos"])
    pd.testing.assert_series_equal(logged["capital_prestado"], frame["capital_prestado"])
    pd.testing.assert_series_equal(logged["fecha_prestamo"], frame["fecha_prestamo"].dt.floor("s"))
    assert logged["tipo_credito"].tolist() == frame["tipo_credito"].tolist()


def test_missing_log_reads_as_an_empty_typed_frame(tmp_path: Path) -> None:
    empty = predlog.read_log(tmp_path / "absent.sqlite")
    assert empty.empty
    assert {"pd", "band", "logged_at", "fecha_prestamo", "capital_prestado"} <= set(empty.columns)
    assert empty["capital_prestado"].dtype == "float64"
    assert predlog.count_rows(tmp_path / "absent.sqlite") == 0


def test_log_uses_wal_and_adds_columns_an_older_table_lacks(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE predictions (id INTEGER PRIMARY KEY, logged_at TEXT, "
                           "request_id TEXT, model_version TEXT, row_index INTEGER, pd REAL, "
                           "band TEXT, decision TEXT, capital_prestado REAL)")
    predlog.PredictionLog(path).append(batch_rows(contract_frame(2), "r"))
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert predlog.read_log(path)["huella_consulta"].notna().all()


def test_since_keeps_only_later_rows(tmp_path: Path) -> None:
    log = predlog.PredictionLog(tmp_path / "log.sqlite")
    frame = contract_frame(2)
    log.append(predlog.log_entry(frame, "old", "v", np.array([0.1, 0.2]), ["A", "A"], ["approve"] * 2,
                                logged_at="2025-01-01T00:00:00.000000+00:00"))
    log.append(predlog.log_entry(frame, "new", "v", np.array([0.1, 0.2]), ["A", "A"], ["approve"] * 2,
                                logged_at="2025-03-01T00:00:00.000000+00:00"))
    assert predlog.read_log(tmp_path / "log.sqlite", since="2025-02-01")["request_id"].unique().tolist() == ["new"]


def _append_batches(path: str, worker: int, batches: int, rows: int) -> None:
    log = predlog.PredictionLog(path, busy_timeout_ms=30_000)
    frame = contract_frame(rows, seed=worker)
    for batch in range(batches):
        log.append(batch_rows(frame, f"w{worker}-b{batch}"))


def test_concurrent_processes_lose_and_double_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    predlog.PredictionLog(path).append(batch_rows(contract_frame(0), "none"))
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_batches, args=(str(path), w, 8, 25)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0

    logged = predlog.read_log(path)
    assert len(logged) == 3 * 8 * 25
    per_batch = logged.groupby("request_id")["row_index"].agg(["count", "nunique"])
    assert len(per_batch) == 24
    assert (per_batch["count"] == 25).all() and (per_batch["nunique"] == 25).all()


def test_a_connection_is_not_reused_across_a_fork(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    log = predlog.PredictionLog(path)
    log.append(batch_rows(contract_frame(1), "parent"))
    context = multiprocessing.get_context("fork")
    child = context.Process(target=log.append, args=(batch_rows(contract_frame(1), "child"),))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    log.append(batch_rows(contract_frame(1), "parent-again"))
    assert predlog.read_log(path)["request_id"].tolist() == ["parent", "child", "parent-again"]


def test_a_version_2_log_keeps_its_rows_and_gains_the_batch_table(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(schema.create_table_sql())
        connection.execute(f"CREATE TABLE {predlog.VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        connection.execute(f"INSERT INTO {predlog.VERSION_TABLE} VALUES (2, '2025-01-01')")
        connection.executemany(schema.insert_sql(), records.row_values(batch_rows(contract_frame(3), "old")))
    connection.close()

    predlog.PredictionLog(path, columnar_min_rows=1).append(batch_rows(contract_frame(5), "new"))

    with sqlite3.connect(path) as connection:
        versions = [row[0] for row in connection.execute(f"SELECT version FROM {predlog.VERSION_TABLE} ORDER BY 1")]
    connection.close()
    assert versions == [2, predlog.SCHEMA_VERSION]
    logged = predlog.read_log(path)
    assert logged["request_id"].tolist() == ["old"] * 3 + ["new"] * 5
    assert predlog.count_rows(path) == 8
