"""The prediction log: every row the API scored, in SQLite (WAL mode) or PostgreSQL.

`open_log(target)` gives the writer and `open_reader(target)` the reader of a target: a path is an
SQLite file, a `postgresql://` URL a PostgreSQL database. Both keep two tables and a version row for
migrations: one row per scored row for small batches, one record per large batch holding its columns.
Both are read window by window by loan date through indexes, and counted and summed in the database;
a reader returns the same typed frame whichever table a row is in. A connection is opened lazily in
the process that writes (never carried over a fork).

The modules import one way, each only those above it in this list:
`schema` (tables, columns, SQL) and `errors`; `records` (one scored batch, as rows or as one record);
`protocols` (what a writer and a reader are); `frames` (rows typed as a reader returns them); `base`
(what both databases share); `sqlite` and `postgres` (each database's writer, migration and reader);
`backends` (the one place that chooses between them). This module names what callers use.
"""

from creditrisk.serving.predlog.backends import (
    LogTarget,
    count_rows,
    describe,
    is_database_url,
    open_log,
    open_reader,
    read_log,
)
from creditrisk.serving.predlog.errors import PredictionLogError, PredictionLogUnavailable, PredictionLogUnreadable
from creditrisk.serving.predlog.protocols import LogActivity, LogReader, LogWriter
from creditrisk.serving.predlog.records import COLUMNAR_MIN_ROWS, ChallengerScores, LoggedBatch, log_entry
from creditrisk.serving.predlog.schema import (
    BATCH_TABLE,
    CHALLENGER_SCORE_COLUMNS,
    SCHEMA_VERSION,
    TABLE,
    VERSION_TABLE,
)
from creditrisk.serving.predlog.sqlite import PredictionLog

__all__ = [
    "BATCH_TABLE", "CHALLENGER_SCORE_COLUMNS", "COLUMNAR_MIN_ROWS", "SCHEMA_VERSION", "TABLE", "VERSION_TABLE",
    "ChallengerScores", "LogActivity", "LogReader", "LogTarget", "LogWriter", "LoggedBatch", "PredictionLog",
    "PredictionLogError", "PredictionLogUnavailable", "PredictionLogUnreadable", "count_rows", "describe",
    "is_database_url", "log_entry", "open_log", "open_reader", "read_log",
]
