"""The prediction log: every row the API scored, in SQLite (WAL mode) or PostgreSQL.

`open_log(target)` gives the writer and `open_reader(target)` the reader of a target: a path is an
SQLite file, a `postgresql://` URL a PostgreSQL database (`prediction_log_postgres`). Both keep
two tables and a version row (`predictions_schema`) for migrations: `predictions`, one row per
scored row, for small batches, and `prediction_batches`, one record per large batch holding its
columns (`log_batches`). Both are read window by window by loan date through indexes, and counted
and summed in the database; a reader returns the same typed frame whichever table a row is in.

SQLite: several gunicorn workers append to one file at once. WAL lets readers (the drift stage,
the dashboard) read while a worker writes, `busy_timeout` makes a writer wait for another instead
of failing, and each scored batch goes in as one prepared `executemany` in one transaction, so a
batch is either logged whole or not at all (a large batch is one insert of one record). `synchronous = NORMAL` in WAL mode syncs at
checkpoints, not at every commit: a committed batch survives a crash of the process (what a killed
worker is) but the last commits before a power loss of the host may be lost (SQLite's "WAL mode"
documentation); a lender that needs more runs PostgreSQL.

A write that cannot be made (database down, disk full, file read-only) raises
`PredictionLogUnavailable`; the writer drops its connection and reconnects on the next batch.
A connection is opened lazily in the process that writes (never carried over a fork: gunicorn
preloads the app in the master, then forks the workers).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from creditrisk.data.contract import DATE, SPECS
from creditrisk.serving.log_batches import (
    COLUMNAR_MIN_ROWS,
    LOGGED_COLUMNS,
    PAYLOAD_FORMAT,
    batch_rows,
    decode_payload,
    LoggedBatch,
    rows_in_window,
    rows_frame,
)

TABLE = "predictions"
BATCH_TABLE = "prediction_batches"
VERSION_TABLE = "predictions_schema"
# 1: the row table without indexes or version row; 2: loan-date and logged-at indexes; 3: the batch table;
# 4: PostgreSQL stores batch payloads uncompressed out of line (they are zstd already; nothing changes in SQLite)
SCHEMA_VERSION = 4
DEFAULT_BUSY_TIMEOUT_MS = 10_000
READ_CHUNK_ROWS = 10_000
URL_SCHEMES = ("postgresql://", "postgres://")
LogTarget = str | Path
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("logged_at", "TEXT NOT NULL"),
    ("request_id", "TEXT NOT NULL"),
    ("model_version", "TEXT NOT NULL"),
    ("row_index", "INTEGER NOT NULL"),
    ("pd", "REAL NOT NULL"),
    ("band", "TEXT NOT NULL"),
    ("decision", "TEXT NOT NULL"),
    ("points", "REAL"),
    ("reason_codes", "TEXT"),
)


# A batch record: (name, SQLite type, PostgreSQL type), in insert order.
BATCH_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("logged_at", "TEXT NOT NULL", "timestamptz NOT NULL"),
    ("request_id", "TEXT NOT NULL", "text NOT NULL"),
    ("model_version", "TEXT NOT NULL", "text NOT NULL"),
    ("row_count", "INTEGER NOT NULL", "integer NOT NULL"),
    ("undated_rows", "INTEGER NOT NULL", "integer NOT NULL"),
    ("first_loan_date", "TEXT", "timestamp"),
    ("last_loan_date", "TEXT", "timestamp"),
    ("payload_format", "TEXT NOT NULL", "text NOT NULL"),
    ("payload", "BLOB NOT NULL", "bytea NOT NULL"),
)
BATCH_RECORD_FIELDS = "logged_at, request_id, model_version, payload_format, payload"


def sqlite_type(column: str) -> str:
    return "REAL" if SPECS[column].kind in ("numeric", "integer") else "TEXT"


def quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql() -> str:
    columns = ["id INTEGER PRIMARY KEY"]
    columns += [f"{name} {kind}" for name, kind in META_COLUMNS]
    columns += [f"{quoted_name(name)} {sqlite_type(name)}" for name in LOGGED_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(columns)})"


def create_batch_table_sql(identity: str = "id INTEGER PRIMARY KEY", postgres: bool = False) -> str:
    columns = [identity] + [f"{name} {pg_kind if postgres else kind}" for name, kind, pg_kind in BATCH_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {BATCH_TABLE} ({', '.join(columns)})"


def insert_batch_sql(placeholder: str) -> str:
    names = [name for name, _, _ in BATCH_COLUMNS]
    return f"INSERT INTO {BATCH_TABLE} ({', '.join(names)}) VALUES ({', '.join(placeholder for _ in names)})"


# Insert order: numbers, then text, then the loan date, so a batch's values can be laid
# out block by block (the table's column order does not matter to an INSERT that names them).
_LOGGED_NUMBERS: tuple[str, ...] = tuple(name for name in LOGGED_COLUMNS if sqlite_type(name) == "REAL")
_LOGGED_TEXT: tuple[str, ...] = tuple(name for name in LOGGED_COLUMNS
                                      if name != DATE and sqlite_type(name) == "TEXT")
INSERT_COLUMNS: tuple[str, ...] = (*(name for name, _ in META_COLUMNS), *_LOGGED_NUMBERS, *_LOGGED_TEXT, DATE)


def _insert_sql() -> str:
    placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
    return f"INSERT INTO {TABLE} ({', '.join(quoted_name(n) for n in INSERT_COLUMNS)}) VALUES ({placeholders})"


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2025-03-01T12:00:00.000001+00:00."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def _number_values(numbers: np.ndarray) -> list[object]:
    """A number column as Python floats, missing as None: what sqlite3 binds fastest."""
    objects = numbers.astype(object)
    objects[np.isnan(numbers)] = None
    return objects.tolist()


def _text_values(values: pd.Series | None, count: int) -> list[object]:
    if values is None:
        return [None] * count
    return values.to_numpy(dtype=object, na_value=None).tolist()


def log_entry(
    frame: pd.DataFrame,
    request_id: str,
    model_version: str,
    pds: np.ndarray,
    bands: Sequence[str],
    decisions: Sequence[str],
    logged_at: str | None = None,
    points: np.ndarray | None = None,
    reason_codes: Sequence[str | None] | None = None,
) -> LoggedBatch:
    """One scored batch for `LogWriter.append`; `frame` holds contract-typed columns (missing ones log as NULL)."""
    return LoggedBatch(frame, request_id, model_version, logged_at or utc_timestamp(), np.asarray(pds),
                       np.asarray(bands), np.asarray(decisions), points, reason_codes)


def row_values(batch: LoggedBatch) -> list[tuple[object, ...]]:
    """The row table's rows for one batch, in `INSERT_COLUMNS` order.

    Each column becomes a list of Python values in one numpy call and the lists are
    zipped into rows: no Python loop over cells.
    """
    count, frame = len(batch), batch.frame
    columns: list[list[object]] = [
        [batch.logged_at] * count,
        [batch.request_id] * count,
        [batch.model_version] * count,
        list(range(count)),
        np.asarray(batch.pds, dtype="float64").tolist(),
        np.asarray(batch.bands).astype(str).tolist(),
        np.asarray(batch.decisions).astype(str).tolist(),
        [None] * count if batch.points is None else _number_values(np.asarray(batch.points, dtype="float64")),
        [None] * count if batch.reason_codes is None else list(batch.reason_codes),
    ]
    numbers = frame.reindex(columns=_LOGGED_NUMBERS).to_numpy(dtype="float64", na_value=np.nan)  # one call for all
    columns += [_number_values(numbers[:, position]) for position in range(len(_LOGGED_NUMBERS))]
    columns += [_text_values(frame[name] if name in frame else None, count) for name in _LOGGED_TEXT]
    columns.append(_date_text(batch.dates))
    return list(zip(*columns, strict=True))


def _date_text(moments: np.ndarray) -> list[object]:
    text = np.datetime_as_string(moments.astype("datetime64[s]")).astype(object)
    text[np.isnat(moments)] = None
    return text.tolist()


def batch_date_text(moment: pd.Timestamp | None) -> str | None:
    """A batch's first or last loan date as the row table writes dates (orders the same as text)."""
    return None if moment is None else str(np.datetime_as_string(np.datetime64(moment, "s")))


class PredictionLogUnavailable(RuntimeError):
    """The log cannot take a batch now (database down, disk full, file read-only): nothing was logged."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"the prediction log {target} cannot be written: {reason}")
        self.target = target
        self.reason = reason


class PredictionLogUnreadable(RuntimeError):
    """The log exists (or a database is named) but cannot be read: server down, file damaged."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"the prediction log {target} cannot be read: {reason}")
        self.target = target
        self.reason = reason


class LogWriter(Protocol):
    """Appends one scored batch per call, all its rows or none; returns once they are committed."""

    def append(self, batch: LoggedBatch) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class LogActivity:
    """Counts the database computes: all rows, the latest logging time, rows per UTC day since a day."""

    total_rows: int
    last_logged_at: str | None
    daily: pd.DataFrame
    model_versions: list[str] = field(default_factory=list)


class LogReader(Protocol):
    """Reads a prediction log, whichever database holds it; every method reads only what it returns."""

    def count(self) -> int: ...

    def loan_date_bounds(self) -> tuple[pd.Timestamp, pd.Timestamp] | None: ...

    def read_window(self, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame: ...

    def read(self, since: str | None = None) -> pd.DataFrame: ...

    def activity(self, since_day: str) -> LogActivity: ...


def is_database_url(target: LogTarget) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def describe(target: LogTarget) -> str:
    """The target without a password, for messages and logs."""
    if not is_database_url(target):
        return str(target)
    from creditrisk.serving.prediction_log_postgres import safe_url

    return safe_url(str(target))


def open_log(target: LogTarget, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
             columnar_min_rows: int | None = None) -> LogWriter:
    """The writer of `target`: PostgreSQL for a postgresql:// URL, else the SQLite file at that path.

    Batches of `columnar_min_rows` rows (default `COLUMNAR_MIN_ROWS`) or more are logged as one batch
    record, smaller ones row by row.
    """
    columnar_min_rows = COLUMNAR_MIN_ROWS if columnar_min_rows is None else columnar_min_rows
    if is_database_url(target):
        from creditrisk.serving.prediction_log_postgres import PostgresPredictionLog

        return PostgresPredictionLog(str(target), connect_timeout_s=max(1, busy_timeout_ms // 1000),
                                     columnar_min_rows=columnar_min_rows)
    return PredictionLog(target, busy_timeout_ms, columnar_min_rows)


def open_reader(target: LogTarget) -> LogReader:
    """The reader of `target` (same rule as `open_log`)."""
    if is_database_url(target):
        from creditrisk.serving.prediction_log_postgres import PostgresReader

        return PostgresReader(str(target))
    return SQLiteReader(Path(target))


class OwnedConnection:
    """A writer's connection, opened in the process that writes and never carried over a fork; the
    subclass sets `_connection`, `_owner_pid` and `_lock`."""

    _connection: Any
    _owner_pid: int | None
    _lock: threading.Lock

    def _drop_connection(self) -> None:
        if self._connection is not None and self._owner_pid == os.getpid():
            self._connection.close()
        self._connection, self._owner_pid = None, None

    def close(self) -> None:
        with self._lock:
            self._drop_connection()


class LogQueries:
    """What a reader does alike on both databases, over both tables.

    The subclass gives `_connection()` (a context of an open connection, None when the log has no
    table yet), `_tables`, `_row_window` / `_rows_since` (the row table's rows, typed),
    `_window_parameters`, `_records` (batch records streamed from the database), `_day_sql`,
    `_since_parameter` and `placeholder`.
    """

    placeholder = "?"
    _day_sql = "substr(logged_at, 1, 10)"

    def _connection(self) -> Any:
        raise NotImplementedError

    def _tables(self, connection: Any) -> frozenset[str]:
        raise NotImplementedError

    def _row_window(self, connection: Any, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        raise NotImplementedError

    def _rows_since(self, connection: Any, since: str | None) -> pd.DataFrame:
        raise NotImplementedError

    def _window_parameters(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[object, object, object, object]:
        """(window end, window start) for loan dates, then (start, end) for logging times."""
        raise NotImplementedError

    def _records(self, connection: Any, where: str,
                 parameters: Sequence[object]) -> Generator[Sequence[Any], None, None]:
        raise NotImplementedError

    def _since_parameter(self, since: str) -> object:
        raise NotImplementedError

    def count(self) -> int:
        with self._connection() as connection:
            if connection is None:
                return 0
            tables, total = self._tables(connection), 0
            if TABLE in tables:
                total += int(connection.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])
            if BATCH_TABLE in tables:
                total += int(connection.execute(f"SELECT COALESCE(SUM(row_count), 0) FROM {BATCH_TABLE}").fetchone()[0])
            return total

    def loan_date_bounds(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last loan date (the logging day where a row has none)."""
        with self._connection() as connection:
            if connection is None:
                return None
            tables, found = self._tables(connection), []
            if TABLE in tables:
                found += connection.execute(f"SELECT MIN({quoted_name(DATE)}), MAX({quoted_name(DATE)}) FROM {TABLE}").fetchone()
                found += connection.execute(f"SELECT MIN(logged_at), MAX(logged_at) FROM {TABLE} "
                                            f"WHERE {quoted_name(DATE)} IS NULL").fetchone()
            if BATCH_TABLE in tables:
                found += connection.execute(f"SELECT MIN(first_loan_date), MAX(last_loan_date) FROM {BATCH_TABLE}").fetchone()
                found += connection.execute(f"SELECT MIN(logged_at), MAX(logged_at) FROM {BATCH_TABLE} "
                                            "WHERE undated_rows > 0").fetchone()
        return combine_bounds(found, ())

    def read_window(self, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        """Rows whose loan date (else logging time, UTC) is in [start, stop), in logging order.

        Batch records are read one at a time and only the records whose loan-date range overlaps the
        window (or that hold undated rows logged in it) are read at all.
        """
        start, stop = pd.Timestamp(start), pd.Timestamp(stop)
        with self._connection() as connection:
            if connection is None:
                return empty_log_frame()
            tables, parts = self._tables(connection), []
            if TABLE in tables:
                parts.append(self._row_window(connection, start, stop))
            if BATCH_TABLE in tables:
                p = self.placeholder
                where = (f"(first_loan_date < {p} AND last_loan_date >= {p}) OR "
                         f"(undated_rows > 0 AND logged_at >= {p} AND logged_at < {p})")
                records = self._records(connection, where, self._window_parameters(start, stop))
                parts.append(_window_rows(records, start, stop))
        return in_logging_order(parts)

    def read(self, since: str | None = None) -> pd.DataFrame:
        with self._connection() as connection:
            if connection is None:
                return empty_log_frame()
            tables, parts = self._tables(connection), []
            if TABLE in tables:
                parts.append(self._rows_since(connection, since))
            if BATCH_TABLE in tables:
                where, parameters = ("TRUE", ()) if since is None else \
                    (f"logged_at >= {self.placeholder}", (self._since_parameter(since),))
                parts.append(_window_rows(self._records(connection, where, parameters)))
        return in_logging_order(parts)

    def activity(self, since_day: str) -> LogActivity:
        with self._connection() as connection:
            if connection is None:
                return LogActivity(0, None, pd.DataFrame({"day": [], "rows": []}))
            tables, since = self._tables(connection), self._since_parameter(since_day)
            counted = [(TABLE, "COUNT(*)")] if TABLE in tables else []
            counted += [(BATCH_TABLE, "SUM(row_count)")] if BATCH_TABLE in tables else []
            total, last, daily, versions = 0, [], [], set()
            for table, rows in counted:
                count, latest = connection.execute(f"SELECT COALESCE({rows}, 0), MAX(logged_at) FROM {table}").fetchone()
                total += int(count or 0)
                last += [] if latest is None else [pd.Timestamp(latest)]
                daily += connection.execute(f"SELECT {self._day_sql} AS day, {rows} AS rows FROM {table} "
                                            f"WHERE logged_at >= {self.placeholder} GROUP BY day", (since,)).fetchall()
                versions |= {str(row[0]) for row in connection.execute(
                    f"SELECT DISTINCT model_version FROM {table} WHERE logged_at >= {self.placeholder}", (since,))
                    if row[0] is not None}
        per_day = pd.DataFrame(daily, columns=["day", "rows"]).astype({"rows": "int64"})
        per_day = per_day.groupby("day", as_index=False)["rows"].sum().sort_values("day", ignore_index=True)
        latest_text = utc_timestamp(max(last).to_pydatetime()) if last else None
        return LogActivity(total, latest_text, per_day, sorted(versions))


def _window_rows(records: Generator[Sequence[Any], None, None], start: pd.Timestamp | None = None,
                 stop: pd.Timestamp | None = None) -> pd.DataFrame:
    """The batch records' rows in [start, stop) (all rows without a window), as one typed frame. The
    records stay in Arrow until all are read, then convert once (`log_batches.rows_frame`).

    The records' cursor is closed here, also when a record cannot be read, while its connection is open.
    """
    with closing(records):
        tables = list(_record_rows(records, start, stop))
    if not tables:
        return empty_log_frame()
    return _typed_batch_rows(rows_frame(tables))


def _typed_batch_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """`typed_frame` of batch records' rows, converted in place: their Arrow schema already gives the
    log's types but for text (dictionary-encoded) and the loan date (stored in seconds)."""
    for name in raw.columns:
        if isinstance(raw[name].dtype, pd.CategoricalDtype):
            raw[name] = raw[name].astype("string")
    raw[DATE] = raw[DATE].astype("datetime64[ns]")
    return raw[read_columns()]


def _record_rows(records: Iterator[Sequence[Any]], start: pd.Timestamp | None,
                 stop: pd.Timestamp | None) -> Iterator[pa.Table]:
    for logged_at, request_id, model_version, payload_format, payload in records:
        moment = pd.Timestamp(logged_at)
        moment = moment.tz_localize("UTC") if moment.tz is None else moment.tz_convert("UTC")
        try:
            table = decode_payload(bytes(payload), str(payload_format))
        except ValueError as error:
            raise PredictionLogUnreadable(f"{BATCH_TABLE} (request {request_id})", str(error)) from error
        positions = None
        if start is not None and stop is not None:
            logged = moment.tz_localize(None)
            positions = rows_in_window(table, start, stop, undated_inside=bool(start <= logged < stop))
            if not len(positions):
                continue
        yield batch_rows(table, positions, moment, str(request_id), str(model_version))


def in_logging_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of both tables as one frame, oldest logging time first (a batch's rows in their order)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty_log_frame()
    if len(parts) == 1:
        return parts[0]
    frame = concat_typed(iter(parts))
    return frame.sort_values("logged_at", kind="stable", ignore_index=True)


class PredictionLog(OwnedConnection):
    """Appends scored batches to the SQLite log; safe across processes and threads."""

    def __init__(self, path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
                 columnar_min_rows: int = COLUMNAR_MIN_ROWS) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.columnar_min_rows = columnar_min_rows
        self._connection: sqlite3.Connection | None = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()
        self._insert = _insert_sql()
        self._insert_batch = insert_batch_sql("?")

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._owner_pid == os.getpid():
            return self._connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
            check_same_thread=False, cached_statements=16,
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._use_write_ahead_log(connection)
            connection.execute("PRAGMA synchronous = NORMAL")
            ensure_schema(connection)
        except BaseException:
            connection.close()
            raise
        self._connection, self._owner_pid = connection, os.getpid()
        return connection

    def _use_write_ahead_log(self, connection: sqlite3.Connection) -> None:
        """Switch to WAL unless the file already is, retrying while others hold the lock.

        SQLite may answer "database is locked" to the journal-mode pragma at once,
        without waiting for the busy timeout, while another process is writing.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def append(self, batch: LoggedBatch) -> int:
        """Insert one batch (its rows, or one batch record) in one transaction; returns the count once committed."""
        if not len(batch):
            return 0
        columnar = len(batch) >= self.columnar_min_rows
        values = sqlite_record(batch) if columnar else row_values(batch)  # built before taking the lock
        with self._lock, self._unavailable_on_failure():
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                if columnar:
                    connection.execute(self._insert_batch, values)
                else:
                    connection.executemany(self._insert, values)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return len(batch)

    @contextmanager
    def _unavailable_on_failure(self) -> Iterator[None]:
        """The file cannot be written (read-only, disk full, locked past the timeout, folder missing)."""
        try:
            yield
        except (sqlite3.OperationalError, OSError) as error:
            self._drop_connection()
            raise PredictionLogUnavailable(str(self.path), str(error)) from error



def sqlite_record(batch: LoggedBatch) -> tuple[object, ...]:
    """A batch record's values for SQLite, in `BATCH_COLUMNS` order (dates as ISO text)."""
    dates = batch.loan_date_range
    first, last = (None, None) if dates is None else dates
    return (batch.logged_at, batch.request_id, batch.model_version, len(batch), batch.undated_rows,
            batch_date_text(first), batch_date_text(last), PAYLOAD_FORMAT, batch.payload())


def ensure_schema(connection: sqlite3.Connection) -> None:
    """Create the table and its indexes, or migrate an older log, in one transaction; record the version.

    One writer at a time migrates (BEGIN IMMEDIATE), and each step checks what is there first, so
    workers starting together do not add a column twice.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                           "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        current = connection.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()[0]
        if current is None or current < SCHEMA_VERSION:
            _migrate(connection)
            connection.execute(f"INSERT OR IGNORE INTO {VERSION_TABLE} VALUES (?, ?)",
                               (SCHEMA_VERSION, utc_timestamp()))
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute(create_table_sql())
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
    missing = [(name, kind) for name, kind in META_COLUMNS if name not in present]
    missing += [(name, sqlite_type(name)) for name in LOGGED_COLUMNS if name not in present]
    for name, kind in missing:
        connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quoted_name(name)} {kind}")
    connection.execute(create_batch_table_sql())
    for statement in index_sql():
        connection.execute(statement)


def index_sql() -> list[str]:
    """The indexes both databases keep: windows by loan date (a batch record by its last, then first,
    loan date), activity by logging time."""
    return [f"CREATE INDEX IF NOT EXISTS {TABLE}_loan_date ON {TABLE} ({quoted_name(DATE)})",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_logged_at ON {TABLE} (logged_at)",
            f"CREATE INDEX IF NOT EXISTS {BATCH_TABLE}_loan_dates ON {BATCH_TABLE} (last_loan_date, first_loan_date)",
            f"CREATE INDEX IF NOT EXISTS {BATCH_TABLE}_logged_at ON {BATCH_TABLE} (logged_at)"]


def empty_log_frame() -> pd.DataFrame:
    """The frame `read_log` returns for a log without rows, with the same dtypes."""
    return typed_frame(pd.DataFrame({name: pd.Series(dtype=object) for name in read_columns()}))


def read_columns() -> list[str]:
    return [name for name, _ in META_COLUMNS] + list(LOGGED_COLUMNS)


def _text_column(values: pd.Series) -> pd.Series:
    """Text as pandas strings, each distinct value one object (a window repeats a few values many times)."""
    return values.astype("category").astype("string")


def typed_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw columns as the database gave them -> contract-typed columns, in `read_columns` order."""
    return pd.DataFrame(typed_columns(raw), index=raw.index)


def typed_columns(raw: pd.DataFrame) -> dict[str, pd.Series]:
    """`typed_frame`'s columns, each its own Series (not yet one frame's blocks)."""
    typed = {}
    for name in read_columns():
        values = raw[name] if name in raw.columns else pd.Series(None, index=raw.index, dtype=object)
        if name == "logged_at":
            typed[name] = pd.to_datetime(values, format="ISO8601", utc=True).astype("datetime64[ns, UTC]")
        elif name == DATE:
            typed[name] = _naive_dates(values)
        elif name in ("pd", "points") or (name in SPECS and SPECS[name].kind in ("numeric", "integer")):
            typed[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif name == "row_index":
            typed[name] = pd.to_numeric(values, errors="coerce").astype("int64")
        else:
            typed[name] = _text_column(values)
    return typed


def _naive_dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ns]")
    return pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")


def concat_typed(chunks: Iterator[pd.DataFrame]) -> pd.DataFrame:
    """Type each chunk as it arrives, so only one chunk of raw Python values is held at a time, then join
    the chunks column by column, letting each chunk's column go once it is copied: the peak is the result
    plus about one column, not twice the result."""
    parts = [typed_columns(chunk) for chunk in chunks]
    if not parts:
        return empty_log_frame()
    if len(parts) == 1:
        return pd.DataFrame(parts[0]).reset_index(drop=True)
    joined = {}
    for name in read_columns():
        pieces = [part.pop(name) for part in parts]
        column = pd.concat(pieces, ignore_index=True)
        del pieces
        joined[name] = _text_column(column) if column.dtype == "string" else column
    return pd.DataFrame(joined)


def window_bounds(start: pd.Timestamp, stop: pd.Timestamp) -> tuple[str, str]:
    """ISO bounds that order correctly against ISO text with a 'T' or a space (dates at midnight as days)."""
    def bound(moment: pd.Timestamp) -> str:
        return moment.strftime("%Y-%m-%d") if moment == moment.normalize() else moment.isoformat()
    return bound(pd.Timestamp(start)), bound(pd.Timestamp(stop))


def since_bound(since: str) -> str:
    """`since` (ISO text; naive means UTC) as the logged_at text it is compared with."""
    moment = pd.Timestamp(since)
    moment = moment.tz_localize("UTC") if moment.tz is None else moment
    return utc_timestamp(moment.to_pydatetime())


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


class SQLiteReader(LogQueries):
    """Reads the SQLite log read-only; a missing file or table reads as an empty log."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection | None]:
        if not self.path.exists():
            yield None
            return
        try:
            with closing(_read_only(self.path)) as connection:
                yield connection if self._tables(connection) else None
        except sqlite3.Error as error:
            raise PredictionLogUnreadable(str(self.path), str(error)) from error

    def _tables(self, connection: sqlite3.Connection) -> frozenset[str]:
        found = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
                                   (TABLE, BATCH_TABLE)).fetchall()
        return frozenset(row[0] for row in found)

    def _select(self, connection: sqlite3.Connection) -> str:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
        names = ["id"] + [name for name in read_columns() if name in present]
        return f"SELECT {', '.join(quoted_name(n) for n in names)} FROM {TABLE}"

    def _row_window(self, connection: sqlite3.Connection, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        low, high = window_bounds(start, stop)
        select = self._select(connection)
        query = (f"{select} WHERE {quoted_name(DATE)} >= ? AND {quoted_name(DATE)} < ? UNION ALL "
                 f"{select} WHERE {quoted_name(DATE)} IS NULL AND logged_at >= ? AND logged_at < ? ORDER BY 1")  # 1 = id
        return concat_typed(pd.read_sql_query(query, connection, params=(low, high, low, high),
                                              chunksize=READ_CHUNK_ROWS))

    def _rows_since(self, connection: sqlite3.Connection, since: str | None) -> pd.DataFrame:
        query, parameters = self._select(connection), ()
        if since is not None:
            query, parameters = query + " WHERE logged_at >= ?", (since_bound(since),)
        return concat_typed(pd.read_sql_query(query + " ORDER BY id", connection, params=parameters,
                                              chunksize=READ_CHUNK_ROWS))

    def _window_parameters(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[object, object, object, object]:
        low, high = window_bounds(start, stop)
        return high, low, low, high

    def _records(self, connection: sqlite3.Connection, where: str,
                 parameters: Sequence[object]) -> Generator[Sequence[Any], None, None]:
        yield from connection.execute(f"SELECT {BATCH_RECORD_FIELDS} FROM {BATCH_TABLE} WHERE {where} ORDER BY id",
                                      tuple(parameters))

    def _since_parameter(self, since: str) -> object:
        return since_bound(since)


def combine_bounds(dated: Sequence[object], undated: Sequence[object]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The overall (first, last) of loan dates and of the logging times of undated rows."""
    moments = [_naive_moment(value) for value in (*dated, *undated) if value is not None]
    if not moments:
        return None
    return min(moments), max(moments)


def _naive_moment(value: object) -> pd.Timestamp:
    moment = pd.Timestamp(value)  # type: ignore[arg-type]
    return moment.tz_convert("UTC").tz_localize(None) if moment.tz is not None else moment


def read_log(target: LogTarget, since: str | None = None) -> pd.DataFrame:
    """The logged rows, oldest first, with contract-typed columns.

    Contract feature columns and `fecha_prestamo` come back typed like
    `coerce_and_validate` output (float64, pandas string, datetime64), plus
    `pd`, `band`, `decision`, `logged_at` (UTC), `request_id`,
    `model_version`, `row_index`, `points`, `reason_codes`. A missing file or
    table gives an empty frame with the same columns. `since` (ISO text; naive
    means UTC) keeps rows logged at or after that moment. Reads the whole log:
    the drift stage reads window by window instead (`LogReader.read_window`).
    """
    return open_reader(target).read(since)


def count_rows(target: LogTarget) -> int:
    """How many rows the log holds (0 when it does not exist yet), counted by the database."""
    return open_reader(target).count()
