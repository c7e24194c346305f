"""The prediction log in PostgreSQL (psycopg 3), for API hosts that share one log.

Same tables and columns as the SQLite log (`prediction_log`), typed for PostgreSQL: numbers as
`double precision`, the loan date as `timestamp`, the logging time as `timestamptz`, a batch
record's payload as `bytea`. A small batch goes in with one `COPY ... FROM STDIN`, a large one as
one batch record (one binary insert), in one transaction; `append` returns only after the commit,
so `prediction_logged: true` means the rows are in the database. The schema is created on first use
under an advisory lock (workers starting together), and `predictions_schema` records its version.

A connection error (server down or restarting, disk full, too many clients) raises
`PredictionLogUnavailable`; the connection is dropped and the next batch connects again, so the
API recovers by itself once the server is back. If the connection breaks after the server
committed but before the client heard so, the batch is logged and the caller was told it was not:
it may be sent again (logged twice), never lost silently.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg

from creditrisk.data.contract import DATE
from creditrisk.serving.log_batches import COLUMNAR_MIN_ROWS, LoggedBatch, PAYLOAD_FORMAT
from creditrisk.serving.prediction_log import (
    BATCH_RECORD_FIELDS,
    BATCH_TABLE,
    create_batch_table_sql,
    insert_batch_sql,
    row_values,
    INSERT_COLUMNS,
    META_COLUMNS,
    LOGGED_COLUMNS,
    READ_CHUNK_ROWS,
    SCHEMA_VERSION,
    TABLE,
    VERSION_TABLE,
    concat_typed,
    index_sql,
    read_columns,
    since_bound,
    LogQueries,
    OwnedConnection,
    PredictionLogUnavailable,
    PredictionLogUnreadable,
    quoted_name,
    sqlite_type,
)

# A constant key for pg_advisory_xact_lock: one creator of the schema at a time.
SCHEMA_LOCK_KEY = 0x63726C67
_TYPES = {"REAL": "double precision", "TEXT": "text", "INTEGER": "integer"}
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)


def safe_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _column_type(name: str, kind: str) -> str:
    if name == "logged_at":
        return "timestamptz NOT NULL"
    if name == DATE:
        return "timestamp"
    base, _, constraint = kind.partition(" ")
    return f"{_TYPES[base]} {constraint}".strip()


def create_table_sql() -> str:
    columns = ["id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
    columns += [f"{quoted_name(name)} {_column_type(name, kind)}" for name, kind in META_COLUMNS]
    columns += [f"{quoted_name(name)} {_column_type(name, sqlite_type(name))}" for name in LOGGED_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(columns)})"


def ensure_schema(connection: psycopg.Connection) -> None:
    """Create the table, its indexes and the version row unless the current version is recorded."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        connection.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                           "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        current = connection.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}").fetchone()
        if current is not None and current[0] is not None and current[0] >= SCHEMA_VERSION:
            return
        connection.execute(create_table_sql())
        connection.execute(create_batch_table_sql("id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", postgres=True))
        for statement in index_sql():
            connection.execute(statement)
        # EXTERNAL: out of line without pglz, which would only spend time failing to shrink a zstd stream
        # (a 10,000-row batch: 19.6 -> 12.6 ms per append)
        connection.execute(f"ALTER TABLE {BATCH_TABLE} ALTER COLUMN payload SET STORAGE EXTERNAL")
        connection.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s) ON CONFLICT DO NOTHING",
                           (SCHEMA_VERSION,))


COPY_SQL = f"COPY {TABLE} ({', '.join(quoted_name(name) for name in INSERT_COLUMNS)}) FROM STDIN"
INSERT_BATCH_SQL = insert_batch_sql("%s")


def postgres_record(batch: LoggedBatch) -> tuple[object, ...]:
    """A batch record's values for PostgreSQL, in `BATCH_COLUMNS` order (dates as timestamps)."""
    dates = batch.loan_date_range
    first, last = (None, None) if dates is None else (moment.to_pydatetime() for moment in dates)
    return (pd.Timestamp(batch.logged_at).to_pydatetime(), batch.request_id, batch.model_version, len(batch),
            batch.undated_rows, first, last, PAYLOAD_FORMAT, batch.payload())


class PostgresPredictionLog(OwnedConnection):
    """Appends scored batches with COPY; one connection per process, opened on first use."""

    def __init__(self, url: str, connect_timeout_s: int = 5, columnar_min_rows: int = COLUMNAR_MIN_ROWS) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.columnar_min_rows = columnar_min_rows
        self._connection: psycopg.Connection | None = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection:
        connection = self._connection
        if connection is not None and self._owner_pid == os.getpid() and not connection.closed \
                and not connection.broken:
            return connection
        self._connection = None  # never use (or close) a connection inherited over a fork
        connection = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s,
                                     application_name="creditrisk-prediction-log")
        try:
            ensure_schema(connection)
        except BaseException:
            connection.close()
            raise
        self._connection, self._owner_pid = connection, os.getpid()
        return connection

    def append(self, batch: LoggedBatch) -> int:
        """One batch (COPY of its rows, or one batch record) in one transaction; returns the count once committed."""
        if not len(batch):
            return 0
        columnar = len(batch) >= self.columnar_min_rows
        values = postgres_record(batch) if columnar else row_values(batch)  # built before taking the lock
        with self._lock, self._unavailable_on_failure():
            connection = self._connect()
            with connection.transaction(), connection.cursor() as cursor:
                if columnar:
                    cursor.execute(INSERT_BATCH_SQL, values, binary=True)
                    return len(batch)
                with cursor.copy(COPY_SQL) as copy:
                    for row in values:
                        copy.write_row(row)
        return len(batch)

    @contextmanager
    def _unavailable_on_failure(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as error:
            self._drop_connection()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise PredictionLogUnavailable(safe_url(self.url), reason) from error



class PostgresReader(LogQueries):
    """Reads the PostgreSQL log; a database without the tables reads as an empty log."""

    placeholder = "%s"
    _day_sql = "to_char(logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection | None]:
        try:
            with psycopg.connect(self.url, connect_timeout=self.connect_timeout_s,
                                 application_name="creditrisk-log-reader") as connection:
                yield connection if self._tables(connection) else None
        except psycopg.Error as error:
            raise PredictionLogUnreadable(safe_url(self.url), str(error).strip()) from error

    def _tables(self, connection: psycopg.Connection) -> frozenset[str]:
        found = connection.execute("SELECT to_regclass(%s), to_regclass(%s)", (TABLE, BATCH_TABLE)).fetchone()
        return frozenset(str(name) for name in (found or ()) if name is not None)

    @staticmethod
    def _select() -> str:
        return f"SELECT id, {', '.join(quoted_name(name) for name in read_columns())} FROM {TABLE}"

    def _chunks(self, connection: psycopg.Connection, query: str,
                parameters: Sequence[object]) -> Iterator[pd.DataFrame]:
        """The result in chunks, from a server-side cursor (the client never holds all rows)."""
        names = ["id", *read_columns()]
        with connection.cursor(name="creditrisk_log_read") as cursor:
            cursor.execute(query, parameters)
            while rows := cursor.fetchmany(READ_CHUNK_ROWS):
                yield pd.DataFrame.from_records(rows, columns=names)

    def _row_window(self, connection: psycopg.Connection, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        high, low, logged_low, logged_high = self._window_parameters(start, stop)
        select = self._select()
        query = (f"{select} WHERE {quoted_name(DATE)} >= %s AND {quoted_name(DATE)} < %s UNION ALL "
                 f"{select} WHERE {quoted_name(DATE)} IS NULL AND logged_at >= %s AND logged_at < %s ORDER BY 1")
        return concat_typed(self._chunks(connection, query, (low, high, logged_low, logged_high)))

    def _rows_since(self, connection: psycopg.Connection, since: str | None) -> pd.DataFrame:
        query, parameters = self._select(), ()
        if since is not None:
            query, parameters = query + " WHERE logged_at >= %s", (since_bound(since),)
        return concat_typed(self._chunks(connection, query + " ORDER BY id", parameters))

    def _window_parameters(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[object, object, object, object]:
        low, high = pd.Timestamp(start).to_pydatetime(), pd.Timestamp(stop).to_pydatetime()
        return high, low, low.replace(tzinfo=UTC), high.replace(tzinfo=UTC)

    def _records(self, connection: psycopg.Connection, where: str,
                 parameters: Sequence[object]) -> Generator[Sequence[object], None, None]:
        """Batch records from a server-side cursor, a few at a time (each holds a whole batch)."""
        with connection.cursor(name="creditrisk_batch_read") as cursor:
            cursor.itersize = 8
            cursor.execute(f"SELECT {BATCH_RECORD_FIELDS} FROM {BATCH_TABLE} WHERE {where} ORDER BY id", parameters)
            yield from cursor

    def _since_parameter(self, since: str) -> object:
        return since_bound(since)
