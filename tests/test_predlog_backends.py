"""One suite for both prediction-log backends: SQLite files and a real PostgreSQL server.

Each test runs once per backend and layout (`log_target` is a path or a postgresql:// URL of a
fresh database; every batch goes in row by row, or every batch as one batch record) and goes only
through `open_log` / `open_reader`, the interface the API, the drift stage and the dashboard use.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditrisk.monitoring.windows import iter_log_windows
from creditrisk.serving import predlog
from creditrisk.serving.predlog import backends, base
from tests.postgres import PostgresServer
from tests.test_predlog import batch_rows, contract_frame

BACKENDS = ("sqlite", "postgres")
LAYOUTS = {"rows": 10**9, "batches": 1}  # the smallest batch logged as one batch record


@pytest.fixture(params=[(backend, layout) for backend in BACKENDS for layout in LAYOUTS],
                ids=lambda case: "-".join(case))
def log_target(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str | Path:
    backend, layout = request.param
    monkeypatch.setattr(backends, "COLUMNAR_MIN_ROWS", LAYOUTS[layout])
    if backend == "sqlite":
        return tmp_path / "log.sqlite"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"log_{layout}_{request.node.name.split('[')[0][-34:]}")


def dated_rows(request_id: str, dates: list[str | None], logged_at: str | None = None) -> predlog.LoggedBatch:
    frame = contract_frame(len(dates), seed=len(dates))
    frame["fecha_prestamo"] = pd.to_datetime(pd.Series(dates, dtype=object), format="ISO8601")
    pds = np.linspace(0.02, 0.4, len(dates))
    return predlog.log_entry(frame, request_id, "v-test", pds, np.where(pds < 0.1, "A", "B"),
                             np.where(pds < 0.2, "approve", "reject"), logged_at=logged_at)


def test_rows_come_back_typed_with_points_and_reasons(log_target: str | Path) -> None:
    frame = contract_frame(5)
    frame.loc[1, "salario_cliente"] = np.nan
    rows = predlog.log_entry(frame, "req-1", "v-test", np.linspace(0.01, 0.5, 5), ["A"] * 5, ["approve"] * 5,
                            points=np.array([610.0, np.nan, 580.5, 600.0, 555.0]),
                            reason_codes=["R01;R07", None, "R02", "", "R03"])
    assert predlog.open_log(log_target).append(rows) == 5

    logged = predlog.read_log(log_target)

    assert logged["row_index"].tolist() == list(range(5))
    assert logged["request_id"].unique().tolist() == ["req-1"]
    assert logged["capital_prestado"].dtype == "float64" and logged["tipo_credito"].dtype == "string"
    assert logged["fecha_prestamo"].dtype == "datetime64[ns]" and str(logged["logged_at"].dt.tz) == "UTC"
    pd.testing.assert_series_equal(logged["capital_prestado"], frame["capital_prestado"])
    pd.testing.assert_series_equal(logged["fecha_prestamo"], frame["fecha_prestamo"].dt.floor("s"))
    assert pd.isna(logged.loc[1, "salario_cliente"]) and pd.isna(logged.loc[1, "points"])
    assert logged["points"].tolist()[2] == pytest.approx(580.5)
    assert logged["reason_codes"].tolist()[0] == "R01;R07" and pd.isna(logged["reason_codes"][1])
    assert logged["tipo_credito"].tolist() == frame["tipo_credito"].tolist()


def test_an_absent_log_reads_empty(tmp_path: Path, log_target: str | Path) -> None:
    reader = predlog.open_reader(log_target)
    assert reader.count() == 0 and reader.loan_date_bounds() is None
    assert predlog.read_log(log_target).empty
    assert list(iter_log_windows(log_target, "month")) == []
    assert reader.activity("2020-01-01").total_rows == 0


def refuse_third_row_of(target: str | Path, request_id: str) -> None:
    """A trigger in the database refuses the batch's third row (row table) or its record (batch table)."""
    tables = {predlog.TABLE: "NEW.row_index = 2", predlog.BATCH_TABLE: "TRUE"}
    if predlog.is_database_url(target):
        import psycopg

        with psycopg.connect(str(target), autocommit=True) as connection:
            connection.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                               "$$ BEGIN RAISE EXCEPTION 'refused by test'; END $$")
            for table, condition in tables.items():
                connection.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW WHEN "
                                   f"(NEW.request_id = '{request_id}' AND {condition}) EXECUTE FUNCTION refuse()")
        return
    import sqlite3

    with sqlite3.connect(target) as connection:
        for table, condition in tables.items():
            connection.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                               f"WHEN NEW.request_id = '{request_id}' AND {condition} "
                               "BEGIN SELECT RAISE(ABORT, 'refused by test'); END")
    connection.close()


def test_a_failing_batch_leaves_nothing_and_the_writer_goes_on(log_target: str | Path) -> None:
    log = predlog.open_log(log_target)
    log.append(batch_rows(contract_frame(3), "good"))
    refuse_third_row_of(log_target, "bad")

    with pytest.raises(Exception, match="refused by test") as caught:
        log.append(batch_rows(contract_frame(4), "bad"))

    assert not isinstance(caught.value, predlog.PredictionLogUnavailable)  # a bug, not an outage
    log.append(batch_rows(contract_frame(2), "after"))
    assert predlog.read_log(log_target)["request_id"].tolist() == ["good"] * 3 + ["after"] * 2


def test_the_schema_records_its_version_once(log_target: str | Path) -> None:
    for request in ("a", "b"):
        log = predlog.open_log(log_target)
        log.append(batch_rows(contract_frame(1), request))
        log.close()
    assert schema_versions(log_target) == [predlog.SCHEMA_VERSION]


def schema_versions(target: str | Path) -> list[int]:
    query = f"SELECT version FROM {predlog.VERSION_TABLE}"
    if predlog.is_database_url(target):
        import psycopg

        with psycopg.connect(str(target)) as connection:
            return [row[0] for row in connection.execute(query)]
    import sqlite3

    with sqlite3.connect(target) as connection:
        return [row[0] for row in connection.execute(query)]


def test_windows_by_loan_date_with_an_empty_month_between(log_target: str | Path) -> None:
    log = predlog.open_log(log_target)
    log.append(dated_rows("jan", ["2025-01-03T10:00:00", "2025-01-31T23:59:59", "2025-03-01T00:00:00"]))
    log.append(dated_rows("mar", ["2025-03-15T08:30:00", "2025-03-31T12:00:00"]))
    # no loan date: the logging time places it
    log.append(dated_rows("undated", [None], logged_at="2025-03-20T09:00:00.000000+00:00"))

    windows = list(iter_log_windows(log_target, "month"))

    assert [w.window.label for w in windows] == ["log:2025-01", "log:2025-02", "log:2025-03"]
    assert [len(w.frame) for w in windows] == [2, 0, 4]
    assert windows[2].frame["request_id"].tolist() == ["jan", "mar", "mar", "undated"]
    assert windows[1].frame.columns.tolist() == windows[0].frame.columns.tolist()
    assert windows[0].frame["capital_prestado"].dtype == "float64"
    assert predlog.open_reader(log_target).count() == 6


def test_activity_is_counted_by_the_database(log_target: str | Path) -> None:
    log = predlog.open_log(log_target)
    log.append(dated_rows("a", ["2025-01-03T10:00:00"] * 3, logged_at="2025-05-01T10:00:00.000000+00:00"))
    log.append(dated_rows("b", ["2025-01-03T10:00:00"] * 2, logged_at="2025-05-03T23:59:00.000000+00:00"))
    log.append(dated_rows("c", ["2025-01-03T10:00:00"] * 4, logged_at="2025-04-01T00:00:00.000000+00:00"))

    activity = predlog.open_reader(log_target).activity("2025-04-15")

    assert activity.total_rows == 9
    assert activity.last_logged_at == "2025-05-03T23:59:00.000000+00:00"
    assert activity.daily.to_dict("list") == {"day": ["2025-05-01", "2025-05-03"], "rows": [3, 2]}
    assert activity.model_versions == ["v-test"]
    assert predlog.read_log(log_target, since="2025-05-02")["request_id"].unique().tolist() == ["b"]


def _append_batches(target: str, worker: int, batches: int, rows: int) -> None:
    log = predlog.open_log(target, busy_timeout_ms=30_000)
    frame = contract_frame(rows, seed=worker)
    for batch in range(batches):
        log.append(batch_rows(frame, f"w{worker}-b{batch}"))


def test_concurrent_writer_processes_lose_and_double_nothing(log_target: str | Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_batches, args=(str(log_target), w, 6, 40)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0

    logged = predlog.read_log(log_target)
    assert predlog.count_rows(log_target) == len(logged) == 4 * 6 * 40
    per_batch = logged.groupby("request_id")["row_index"].agg(["count", "nunique", "min", "max"])
    assert len(per_batch) == 24
    assert (per_batch["count"] == 40).all() and (per_batch["nunique"] == 40).all()
    assert (per_batch["min"] == 0).all() and (per_batch["max"] == 39).all()


def test_the_dashboard_reads_activity_from_either_backend(log_target: str | Path) -> None:
    from dashboard import loaders

    predlog.open_log(log_target).append(
        dated_rows("a", ["2025-01-03T10:00:00"] * 3, logged_at="2025-05-01T10:00:00.000000+00:00"))
    loaders._read_activity.clear()

    activity = loaders.read_api_activity(log_target, days=30, now=pd.Timestamp("2025-05-10", tz="UTC"))

    assert activity is not None
    assert (activity.total_rows, activity.recent_rows) == (3, 3)
    assert activity.daily["day"].tolist() == ["2025-05-01"] and activity.model_versions == ["v-test"]
    environment = {"CREDITRISK_PREDICTION_LOG": str(log_target)}
    assert str(loaders.DashboardPaths.from_environment(environment).prediction_log) == str(log_target)


def record_count(target: str | Path) -> int:
    query = f"SELECT COUNT(*) FROM {predlog.BATCH_TABLE}"
    if predlog.is_database_url(target):
        import psycopg

        with psycopg.connect(str(target)) as connection:
            return int(connection.execute(query).fetchone()[0])
    import sqlite3

    with sqlite3.connect(target) as connection:
        found = int(connection.execute(query).fetchone()[0])
    connection.close()
    return found


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_batch_is_one_record_and_reads_back_as_its_rows_would(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    targets: dict[str, str | Path] = {}
    for layout in LAYOUTS:
        if backend == "sqlite":
            targets[layout] = tmp_path / f"{layout}.sqlite"
        else:
            server: PostgresServer = request.getfixturevalue("postgres_server")
            targets[layout] = server.create_database(f"layout_{layout}")
    frame = contract_frame(150, seed=4)
    frame.loc[3, "salario_cliente"] = np.nan
    frame.loc[5, "tendencia_ingresos"] = pd.NA
    frame.loc[7, "fecha_prestamo"] = pd.NaT
    pds = np.linspace(0.01, 0.6, 150)
    points = np.where(np.arange(150) % 9 == 0, np.nan, 600 - 50 * np.log(pds))
    codes = [None if i % 11 == 0 else f"CR{i % 30:02d};CR{(i + 3) % 30:02d}" for i in range(150)]
    for layout, target in targets.items():
        entry = predlog.log_entry(frame, "big", "v-test", pds, np.where(pds < 0.1, "A", "B"),
                                  np.where(pds < 0.2, "approve", "reject"), logged_at="2025-02-03T04:05:06.000007+00:00",
                                  points=points, reason_codes=codes)
        assert predlog.open_log(target, columnar_min_rows=LAYOUTS[layout]).append(entry) == 150

    assert record_count(targets["batches"]) == 1 and record_count(targets["rows"]) == 0
    rows, batches = (predlog.read_log(targets[layout]) for layout in LAYOUTS)
    pd.testing.assert_frame_equal(batches, rows)
    assert batches["row_index"].tolist() == list(range(150))
    assert pd.isna(batches.loc[7, "fecha_prestamo"]) and pd.isna(batches.loc[0, "reason_codes"])
    windows = []
    for layout in LAYOUTS:
        reader = predlog.open_reader(targets[layout])
        assert reader.count() == 150
        window = reader.read_window(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-06-01"))
        expected = frame["fecha_prestamo"].between("2025-01-01", "2025-06-01", inclusive="left") \
            | frame["fecha_prestamo"].isna()  # the undated row was logged in that window
        assert window["row_index"].tolist() == list(np.flatnonzero(expected))
        windows.append(window)
    pd.testing.assert_frame_equal(windows[0], windows[1])  # a window reads the same from either layout


def test_a_window_decodes_only_the_records_that_overlap_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = predlog.open_log(tmp_path / "log.sqlite", columnar_min_rows=1)
    for month in range(1, 7):
        log.append(dated_rows(f"m{month}", [f"2025-{month:02d}-0{day}T12:00:00" for day in range(1, 5)]))
    decoded = []
    real_decode = base.decode_payload
    monkeypatch.setattr(base, "decode_payload", lambda *args: decoded.append(1) or real_decode(*args))

    window = predlog.open_reader(tmp_path / "log.sqlite").read_window(pd.Timestamp("2025-03-01"),
                                                                        pd.Timestamp("2025-04-01"))

    assert window["request_id"].unique().tolist() == ["m3"] and len(window) == 4
    assert len(decoded) == 1


def test_an_unknown_payload_format_is_named(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "log.sqlite"
    predlog.open_log(path, columnar_min_rows=1).append(dated_rows("r", ["2025-01-02T00:00:00"]))
    with sqlite3.connect(path) as connection:
        connection.execute(f"UPDATE {predlog.BATCH_TABLE} SET payload_format = 'parquet/9'")
    connection.close()

    with pytest.raises(predlog.PredictionLogUnreadable, match=r"parquet/9.*arrow-ipc-zstd/1"):
        predlog.read_log(path)


def payload_storage(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as connection:
        return connection.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'payload'",
            (predlog.BATCH_TABLE,)).fetchone()[0]


def test_postgres_keeps_batch_payloads_out_of_line_uncompressed_and_migrates_an_older_log(
        postgres_server: PostgresServer) -> None:
    import psycopg

    fresh = postgres_server.create_database("payload_storage_fresh")
    predlog.open_log(fresh).append(batch_rows(contract_frame(80), "big"))
    assert payload_storage(fresh) == "e"  # EXTERNAL: pglz would only recompress a zstd stream

    older = postgres_server.create_database("payload_storage_v3")
    predlog.open_log(older).append(batch_rows(contract_frame(80), "before"))
    with psycopg.connect(older, autocommit=True) as connection:  # as a version-3 log left it
        connection.execute(f"ALTER TABLE {predlog.BATCH_TABLE} ALTER COLUMN payload SET STORAGE EXTENDED")
        connection.execute(f"ALTER TABLE {predlog.TABLE} DROP COLUMN reason_codes")  # a column a later version added
        connection.execute(f"DELETE FROM {predlog.VERSION_TABLE} WHERE version > 3")
        connection.execute(f"INSERT INTO {predlog.VERSION_TABLE} (version) VALUES (3) ON CONFLICT DO NOTHING")
    predlog.open_log(older).append(batch_rows(contract_frame(80), "after"))
    assert payload_storage(older) == "e"
    assert schema_versions(older) == [3, predlog.SCHEMA_VERSION]
    assert predlog.read_log(older)["request_id"].value_counts().to_dict() == {"before": 80, "after": 80}
    predlog.open_log(older, columnar_min_rows=10**9).append(predlog.log_entry(
        contract_frame(2), "rows", "v-test", [0.1, 0.2], ["A", "B"], ["approve", "reject"], reason_codes=["R01", None]))
    assert predlog.read_log(older).set_index("request_id").loc["rows", "reason_codes"].fillna("-").tolist() == ["R01", "-"]


def shadowed_rows(request_id: str, rows: int, seed: int = 5) -> predlog.LoggedBatch:
    """A scored batch with the shadow challenger's answer beside the champion's."""
    frame = contract_frame(rows, seed=seed)
    pds = np.linspace(0.02, 0.4, rows)
    challenger_pds = pds[::-1].copy()
    challenger = predlog.ChallengerScores("v-challenger", challenger_pds, np.where(challenger_pds < 0.1, "A", "B"),
                                          np.where(challenger_pds < 0.2, "approve", "reject"))
    return predlog.log_entry(frame, request_id, "v-test", pds, np.where(pds < 0.1, "A", "B"),
                             np.where(pds < 0.2, "approve", "reject"), challenger=challenger)


def test_the_challengers_answer_is_logged_beside_the_champions(log_target: str | Path) -> None:
    log = predlog.open_log(log_target)
    entry = shadowed_rows("shadowed", 6)
    log.append(entry)
    log.append(dated_rows("alone", ["2025-01-03T10:00:00"]))

    logged = predlog.read_log(log_target).set_index("request_id")

    shadowed, alone = logged.loc["shadowed"], logged.loc[["alone"]]
    assert entry.challenger is not None
    assert shadowed["challenger_version"].tolist() == ["v-challenger"] * 6
    assert shadowed["challenger_pd"].to_numpy() == pytest.approx(entry.challenger.pds)
    assert shadowed["challenger_band"].tolist() == entry.challenger.bands.tolist()
    assert shadowed["challenger_decision"].tolist() == entry.challenger.decisions.tolist()
    assert shadowed["pd"].to_numpy() == pytest.approx(entry.pds)  # the champion's, unchanged
    assert alone[list(predlog_columns())].isna().all(axis=None)


def predlog_columns() -> tuple[str, ...]:
    return tuple(column.name for column in predlog.CHALLENGER_SCORE_COLUMNS)


def as_version_4(target: str | Path) -> None:
    """Leave the log as a version-4 writer would have: no challenger columns in the row table or in any batch
    record's payload, and version 4 the latest recorded."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from creditrisk.serving.predlog import records

    def older_payload(payload: bytes) -> bytes:
        table = records.decode_payload(bytes(payload), records.PAYLOAD_FORMAT).drop_columns(list(predlog_columns()))
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    postgres = predlog.is_database_url(target)
    placeholder = "%s" if postgres else "?"
    statements = [f"ALTER TABLE {predlog.TABLE} DROP COLUMN {name}" for name in predlog_columns()]
    statements += [f"DELETE FROM {predlog.VERSION_TABLE} WHERE version > 4"]
    if postgres:
        import psycopg

        connection = psycopg.connect(str(target), autocommit=True)
    else:
        import sqlite3

        connection = sqlite3.connect(target, isolation_level=None)
    try:
        payloads = connection.execute(f"SELECT id, payload FROM {predlog.BATCH_TABLE}").fetchall()
        for record_id, payload in payloads:
            connection.execute(f"UPDATE {predlog.BATCH_TABLE} SET payload = {placeholder} WHERE id = {placeholder}",
                               (older_payload(payload), record_id))
        for statement in statements:
            connection.execute(statement)
        connection.execute(f"INSERT INTO {predlog.VERSION_TABLE} (version, applied_at) VALUES (4, "
                           f"{placeholder}) ON CONFLICT DO NOTHING", ("2025-01-01T00:00:00+00:00",))
    finally:
        connection.close()


def test_a_version_4_log_reads_and_migrates_to_the_challenger_columns(log_target: str | Path) -> None:
    log = predlog.open_log(log_target)
    log.append(dated_rows("before", ["2025-01-03T10:00:00", "2025-01-04T10:00:00"]))
    log.close()
    as_version_4(log_target)
    assert schema_versions(log_target) == [4]
    before = predlog.read_log(log_target)  # read before any writer of this version migrated it
    assert before["request_id"].tolist() == ["before"] * 2 and before[list(predlog_columns())].isna().all(axis=None)

    log = predlog.open_log(log_target)
    log.append(shadowed_rows("after", 3))

    assert sorted(schema_versions(log_target)) == [4, predlog.SCHEMA_VERSION]
    logged = predlog.read_log(log_target).set_index("request_id")
    assert logged.loc["before", "challenger_pd"].isna().all()
    assert logged.loc["after", "challenger_version"].tolist() == ["v-challenger"] * 3
    window = predlog.open_reader(log_target).read_window(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01"))
    assert window["request_id"].tolist() == ["before"] * 2
