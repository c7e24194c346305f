"""The prediction log in SQLite (WAL mode): the writer, its migration and the reader.

Several gunicorn workers append to one file at once. WAL lets readers (the drift stage, the
dashboard) read while a worker writes, `busy_timeout` makes a writer wait for another instead of
failing, and each scored batch goes in as one prepared `executemany` in one transaction, so a batch
is either logged whole or not at all (a large batch is one insert of one record). `synchronous =
NORMAL` in WAL mode syncs at checkpoints, not at every commit: a committed batch survives a crash of
the process (what a killed worker is) but the last commits before a power loss of the host may be
lost (SQLite's "WAL mode" documentation); a lender that needs more runs PostgreSQL.

A write that cannot be made (disk full, file read-only, locked past the timeout) raises
`PredictionLogUnavailable`; the writer drops its connection and reconnects on the next batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditrisk.serving.predlog.base import READ_CHUNK_ROWS, BatchWriter, LogQueries
from creditrisk.serving.predlog.errors import PredictionLogUnreadable
from creditrisk.serving.predlog.records import COLUMNAR_MIN_ROWS, PAYLOAD_FORMAT, LoggedBatch
from creditrisk.serving.predlog.schema import (
    BATCH_RECORD_FIELDS,
    BATCH_TABLE,
    SCHEMA_VERSION,
    TABLE,
    VERSION_TABLE,
    create_batch_table_sql,
    create_table_sql,
    index_sql,
    insert_batch_sql,
    insert_sql,
    quoted_name,
    read_columns,
    table_columns,
    utc_timestamp,
)

DEFAULT_BUSY_TIMEOUT_MS = 10_000


class PredictionLog(BatchWriter):
    """Appends scored batches to the SQLite log; safe across processes and threads."""

    _failures = (sqlite3.OperationalError, OSError)  # read-only, disk full, locked past the timeout, folder missing

    def __init__(self, path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
                 columnar_min_rows: int = COLUMNAR_MIN_ROWS) -> None:
        super().__init__(columnar_min_rows)
        self.path = Path(path)
        self.target = str(self.path)
        self.busy_timeout_ms = busy_timeout_ms
        self._insert = insert_sql()
        self._insert_batch = insert_batch_sql("?")

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False, cached_statements=16)

    def _prepare(self, connection: sqlite3.Connection) -> None:
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        self._use_write_ahead_log(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
        ensure_schema(connection)

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

    def _record(self, batch: LoggedBatch) -> tuple[object, ...]:
        return sqlite_record(batch)

    def _write(self, connection: sqlite3.Connection, columnar: bool, values: Any) -> None:
        """One prepared `executemany` of the rows (or one insert of the record) in one transaction."""
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


def sqlite_record(batch: LoggedBatch) -> tuple[object, ...]:
    """A batch record's values for SQLite, in `BATCH_COLUMNS` order (dates as ISO text)."""
    dates = batch.loan_date_range
    first, last = (None, None) if dates is None else dates
    return (batch.logged_at, batch.request_id, batch.model_version, len(batch), batch.undated_rows,
            batch_date_text(first), batch_date_text(last), PAYLOAD_FORMAT, batch.payload())


def batch_date_text(moment: pd.Timestamp | None) -> str | None:
    """A batch's first or last loan date as the row table writes dates (orders the same as text)."""
    return None if moment is None else str(np.datetime_as_string(np.datetime64(moment, "s")))


def ensure_schema(connection: sqlite3.Connection) -> None:
    """Create the tables and their indexes, or migrate an older log, in one transaction; record the version.

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
    """Create what is missing, and add to an older table every column it lacks."""
    connection.execute(create_table_sql())
    connection.execute(create_batch_table_sql())
    for table, columns in table_columns().items():
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.name not in present:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column.definition()}")
    for statement in index_sql():
        connection.execute(statement)


def window_bounds(start: pd.Timestamp, stop: pd.Timestamp) -> tuple[str, str]:
    """ISO bounds that order correctly against ISO text with a 'T' or a space (dates at midnight as days)."""
    def bound(moment: pd.Timestamp) -> str:
        return moment.strftime("%Y-%m-%d") if moment == moment.normalize() else moment.isoformat()
    return bound(pd.Timestamp(start)), bound(pd.Timestamp(stop))


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
        """The row table's columns that an older log has (the reader fills the others as missing)."""
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
        names = ["id"] + [name for name in read_columns() if name in present]
        return f"SELECT {', '.join(quoted_name(n) for n in names)} FROM {TABLE}"

    def _chunks(self, connection: sqlite3.Connection, query: str,
                parameters: Sequence[object]) -> Iterator[pd.DataFrame]:
        return pd.read_sql_query(query, connection, params=tuple(parameters), chunksize=READ_CHUNK_ROWS)

    def _window_parameters(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[object, object, object, object]:
        low, high = window_bounds(start, stop)
        return high, low, low, high

    def _records(self, connection: sqlite3.Connection, where: str,
                 parameters: Sequence[object]) -> Generator[Sequence[Any], None, None]:
        yield from connection.execute(f"SELECT {BATCH_RECORD_FIELDS} FROM {BATCH_TABLE} WHERE {where} ORDER BY id",
                                      tuple(parameters))
