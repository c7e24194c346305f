"""The prediction log in PostgreSQL (psycopg 3), for API hosts that share one log.

Same table and columns as the SQLite log (`prediction_log`), typed for PostgreSQL: numbers as
`double precision`, the loan date as `timestamp`, the logging time as `timestamptz`. A batch goes in
with one `COPY ... FROM STDIN` in one transaction; `append` returns only after the commit, so
`prediction_logged: true` means the rows are in the database. The schema is created on first use
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psycopg

from creditrisk.data.contract import DATE
from creditrisk.serving.prediction_log import (
    INSERT_COLUMNS,
    META_COLUMNS,
    LOGGED_COLUMNS,
    READ_CHUNK_ROWS,
    SCHEMA_VERSION,
    TABLE,
    VERSION_TABLE,
    concat_typed,
    empty_log_frame,
    index_sql,
    read_columns,
    since_bound,
    utc_timestamp,
    LogActivity,
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
        for statement in index_sql():
            connection.execute(statement)
        connection.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s) ON CONFLICT DO NOTHING",
                           (SCHEMA_VERSION,))


COPY_SQL = f"COPY {TABLE} ({', '.join(quoted_name(name) for name in INSERT_COLUMNS)}) FROM STDIN"


class PostgresPredictionLog(OwnedConnection):
    """Appends scored batches with COPY; one connection per process, opened on first use."""

    def __init__(self, url: str, connect_timeout_s: int = 5) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
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

    def append(self, rows: Sequence[Sequence[object]]) -> int:
        """COPY the rows of one batch in one transaction; returns the count once committed."""
        if not rows:
            return 0
        with self._lock, self._unavailable_on_failure():
            connection = self._connect()
            with connection.transaction(), connection.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                for row in rows:
                    copy.write_row(row)
        return len(rows)

    @contextmanager
    def _unavailable_on_failure(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as error:
            self._drop_connection()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise PredictionLogUnavailable(safe_url(self.url), reason) from error



class PostgresReader(LogQueries):
    """Reads the PostgreSQL log; a database without the table reads as an empty log."""

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection | None]:
        try:
            with psycopg.connect(self.url, connect_timeout=self.connect_timeout_s,
                                 application_name="creditrisk-log-reader") as connection:
                found = connection.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
                yield connection if found and found[0] is not None else None
        except psycopg.Error as error:
            raise PredictionLogUnreadable(safe_url(self.url), str(error).strip()) from error

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

    def read_window(self, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        """Rows whose loan date (else logging time, UTC) is in [start, stop), in logging order."""
        low, high = pd.Timestamp(start).to_pydatetime(), pd.Timestamp(stop).to_pydatetime()
        select = self._select()
        query = (f"{select} WHERE {quoted_name(DATE)} >= %s AND {quoted_name(DATE)} < %s UNION ALL "
                 f"{select} WHERE {quoted_name(DATE)} IS NULL AND logged_at >= %s AND logged_at < %s ORDER BY 1")
        with self._connection() as connection:
            if connection is None:
                return empty_log_frame()
            return concat_typed(self._chunks(connection, query, (low, high, low.replace(tzinfo=UTC),
                                                                 high.replace(tzinfo=UTC))))

    def read(self, since: str | None = None) -> pd.DataFrame:
        query, parameters = self._select(), ()
        if since is not None:
            query, parameters = query + " WHERE logged_at >= %s", (since_bound(since),)
        with self._connection() as connection:
            if connection is None:
                return empty_log_frame()
            return concat_typed(self._chunks(connection, query + " ORDER BY id", parameters))

    def activity(self, since_day: str) -> LogActivity:
        with self._connection() as connection:
            if connection is None:
                return LogActivity(0, None, pd.DataFrame({"day": [], "rows": []}))
            total, last = connection.execute(f"SELECT COUNT(*), MAX(logged_at) FROM {TABLE}").fetchone()
            day = "to_char(logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            since = since_bound(since_day)
            daily = pd.DataFrame(connection.execute(
                f"SELECT {day} AS day, COUNT(*) AS rows FROM {TABLE} WHERE logged_at >= %s "
                "GROUP BY day ORDER BY day", (since,)).fetchall(), columns=["day", "rows"])
            versions = [row[0] for row in connection.execute(
                f"SELECT DISTINCT model_version FROM {TABLE} WHERE logged_at >= %s ORDER BY model_version",
                (since,))]
        return LogActivity(int(total or 0), utc_timestamp(last) if last is not None else None, daily,
                           [str(v) for v in versions if v is not None])
