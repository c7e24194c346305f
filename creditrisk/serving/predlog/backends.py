"""The one place that chooses a database: a `postgresql://` URL is PostgreSQL, anything else an SQLite file.

PostgreSQL's module (and psycopg) is imported only when a URL names it, so an API or a drift run on
the SQLite log never loads it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from creditrisk.serving.predlog.protocols import LogReader, LogWriter
from creditrisk.serving.predlog.records import COLUMNAR_MIN_ROWS
from creditrisk.serving.predlog.sqlite import DEFAULT_BUSY_TIMEOUT_MS, PredictionLog, SQLiteReader

URL_SCHEMES = ("postgresql://", "postgres://")
LogTarget = str | Path


def is_database_url(target: LogTarget) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def describe(target: LogTarget) -> str:
    """The target without a password, for messages and logs."""
    if not is_database_url(target):
        return str(target)
    from creditrisk.serving.predlog.postgres import safe_url

    return safe_url(str(target))


def open_log(target: LogTarget, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
             columnar_min_rows: int | None = None) -> LogWriter:
    """The writer of `target`: PostgreSQL for a postgresql:// URL, else the SQLite file at that path.

    Batches of `columnar_min_rows` rows (default `COLUMNAR_MIN_ROWS`) or more are logged as one batch
    record, smaller ones row by row.
    """
    columnar_min_rows = COLUMNAR_MIN_ROWS if columnar_min_rows is None else columnar_min_rows
    if is_database_url(target):
        from creditrisk.serving.predlog.postgres import PostgresPredictionLog

        return PostgresPredictionLog(str(target), connect_timeout_s=max(1, busy_timeout_ms // 1000),
                                     columnar_min_rows=columnar_min_rows)
    return PredictionLog(target, busy_timeout_ms, columnar_min_rows)


def open_reader(target: LogTarget) -> LogReader:
    """The reader of `target` (same rule as `open_log`)."""
    if is_database_url(target):
        from creditrisk.serving.predlog.postgres import PostgresReader

        return PostgresReader(str(target))
    return SQLiteReader(Path(target))


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
