"""What both databases' writers and readers share: a writer's append (one transaction per batch, over a
connection owned by the writing process), and the reader's queries over both tables (counts, bounds,
windows, activity), computed in the database.

A backend module subclasses `BatchWriter` for its writer and `LogQueries` for its reader, and gives
only what differs between the databases: how to connect and write, list the tables, stream rows and
batch records, and bind a moment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa

from creditrisk.data.contract import DATE
from creditrisk.serving.predlog.errors import PredictionLogUnavailable, PredictionLogUnreadable
from creditrisk.serving.predlog.frames import concat_typed, empty_log_frame, in_logging_order, typed_batch_rows
from creditrisk.serving.predlog.protocols import LogActivity
from creditrisk.serving.predlog.records import (
    LoggedBatch,
    batch_rows,
    decode_payload,
    row_values,
    rows_frame,
    rows_in_window,
)
from creditrisk.serving.predlog.schema import BATCH_TABLE, TABLE, quoted_name, utc_timestamp

READ_CHUNK_ROWS = 10_000
_DATE = quoted_name(DATE)


class BatchWriter:
    """Appends scored batches, each in one transaction, all its rows or none, over one connection per
    process: opened lazily in the process that writes and never carried over a fork (gunicorn preloads
    the app in the master, then forks the workers).

    The subclass gives `_open` (a new connection), `_prepare` (its settings and the schema),
    `_usable`, `_record` (a batch record's values), `_write` (one batch in one transaction), `_failures`
    (the errors that mean the database cannot take a batch now) and `target`, the log named in messages.
    """

    _failures: tuple[type[BaseException], ...] = ()
    target: str

    def __init__(self, columnar_min_rows: int) -> None:
        self.columnar_min_rows = columnar_min_rows
        self._connection: Any = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        raise NotImplementedError

    def _prepare(self, connection: Any) -> None:
        raise NotImplementedError

    def _usable(self, connection: Any) -> bool:
        return True

    def _connect(self) -> Any:
        """This process's connection, opened (and the schema made current) on first use."""
        connection = self._connection
        if connection is not None and self._owner_pid == os.getpid() and self._usable(connection):
            return connection
        self._connection = None  # never use (or close) a connection inherited over a fork
        connection = self._open()
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        self._connection, self._owner_pid = connection, os.getpid()
        return connection

    def _record(self, batch: LoggedBatch) -> tuple[object, ...]:
        raise NotImplementedError

    def _write(self, connection: Any, columnar: bool, values: Any) -> None:
        raise NotImplementedError

    def append(self, batch: LoggedBatch) -> int:
        """One batch (its rows, or one batch record) in one transaction; returns the count once committed."""
        if not len(batch):
            return 0
        columnar = len(batch) >= self.columnar_min_rows
        values = self._record(batch) if columnar else row_values(batch)  # built before taking the lock
        with self._lock, self._unavailable_on_failure():
            self._write(self._connect(), columnar, values)
        return len(batch)

    @contextmanager
    def _unavailable_on_failure(self) -> Iterator[None]:
        """The database cannot take the batch now: drop the connection (the next batch connects again)."""
        try:
            yield
        except self._failures as error:
            self._drop_connection()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise PredictionLogUnavailable(self.target, reason) from error

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
    table yet), `_tables`, `_select` (the row table's columns), `_chunks` (a query's rows streamed as
    raw frames), `_window_parameters`, `_records` (batch records streamed from the database),
    `_day_sql` and `placeholder`.
    """

    placeholder = "?"
    _day_sql = "substr(logged_at, 1, 10)"

    def _connection(self) -> Any:
        raise NotImplementedError

    def _tables(self, connection: Any) -> frozenset[str]:
        raise NotImplementedError

    def _select(self, connection: Any) -> str:
        raise NotImplementedError

    def _chunks(self, connection: Any, query: str, parameters: Sequence[object]) -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def _window_parameters(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[object, object, object, object]:
        """(window end, window start) for loan dates, then (start, end) for logging times."""
        raise NotImplementedError

    def _records(self, connection: Any, where: str,
                 parameters: Sequence[object]) -> Generator[Sequence[Any], None, None]:
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
                found += connection.execute(f"SELECT MIN({_DATE}), MAX({_DATE}) FROM {TABLE}").fetchone()
                found += connection.execute(f"SELECT MIN(logged_at), MAX(logged_at) FROM {TABLE} "
                                            f"WHERE {_DATE} IS NULL").fetchone()
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
                parts.append(window_rows(records, start, stop))
        return in_logging_order(parts)

    def _row_window(self, connection: Any, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
        high, low, logged_low, logged_high = self._window_parameters(start, stop)
        select, p = self._select(connection), self.placeholder
        query = (f"{select} WHERE {_DATE} >= {p} AND {_DATE} < {p} UNION ALL "
                 f"{select} WHERE {_DATE} IS NULL AND logged_at >= {p} AND logged_at < {p} ORDER BY 1")  # 1 = id
        return concat_typed(self._chunks(connection, query, (low, high, logged_low, logged_high)))

    def read(self, since: str | None = None) -> pd.DataFrame:
        with self._connection() as connection:
            if connection is None:
                return empty_log_frame()
            tables, parts = self._tables(connection), []
            where, parameters = ("TRUE", ()) if since is None else \
                (f"logged_at >= {self.placeholder}", (since_bound(since),))
            if TABLE in tables:
                query = self._select(connection) + ("" if since is None else f" WHERE {where}") + " ORDER BY id"
                parts.append(concat_typed(self._chunks(connection, query, parameters)))
            if BATCH_TABLE in tables:
                parts.append(window_rows(self._records(connection, where, parameters)))
        return in_logging_order(parts)

    def activity(self, since_day: str) -> LogActivity:
        with self._connection() as connection:
            if connection is None:
                return LogActivity(0, None, pd.DataFrame({"day": [], "rows": []}))
            tables, since = self._tables(connection), since_bound(since_day)
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


def window_rows(records: Generator[Sequence[Any], None, None], start: pd.Timestamp | None = None,
                stop: pd.Timestamp | None = None) -> pd.DataFrame:
    """The batch records' rows in [start, stop) (all rows without a window), as one typed frame. The
    records stay in Arrow until all are read, then convert once (`records.rows_frame`).

    The records' cursor is closed here, also when a record cannot be read, while its connection is open.
    """
    with closing(records):
        tables = list(_record_rows(records, start, stop))
    if not tables:
        return empty_log_frame()
    return typed_batch_rows(rows_frame(tables))


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


def since_bound(since: str) -> str:
    """`since` (ISO text; naive means UTC) as the logged_at text it is compared with."""
    moment = pd.Timestamp(since)
    moment = moment.tz_localize("UTC") if moment.tz is None else moment
    return utc_timestamp(moment.to_pydatetime())


def combine_bounds(dated: Sequence[object], undated: Sequence[object]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The overall (first, last) of loan dates and of the logging times of undated rows."""
    moments = [_naive_moment(value) for value in (*dated, *undated) if value is not None]
    if not moments:
        return None
    return min(moments), max(moments)


def _naive_moment(value: object) -> pd.Timestamp:
    moment = pd.Timestamp(value)  # type: ignore[arg-type]
    return moment.tz_convert("UTC").tz_localize(None) if moment.tz is not None else moment
