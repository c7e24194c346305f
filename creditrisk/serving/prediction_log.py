"""The prediction log: every row the API scored, in SQLite (WAL mode).

Several gunicorn workers append to one file at once: WAL lets readers (the
drift stage, the dashboard) read while a worker writes, `busy_timeout` makes a
writer wait for another instead of failing, and each scored batch goes in as
one transaction, so a batch is either logged whole or not at all.

A connection is opened lazily in the process that writes (never carried over
a fork: gunicorn preloads the app in the master, then forks the workers).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from creditrisk.data.contract import DATE, FEATURE_COLUMNS, SPECS

TABLE = "predictions"
DEFAULT_BUSY_TIMEOUT_MS = 10_000
LOGGED_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, DATE)
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


def _sql_type(column: str) -> str:
    return "REAL" if SPECS[column].kind in ("numeric", "integer") else "TEXT"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql() -> str:
    columns = ["id INTEGER PRIMARY KEY"]
    columns += [f"{name} {kind}" for name, kind in META_COLUMNS]
    columns += [f"{_quoted(name)} {_sql_type(name)}" for name in LOGGED_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(columns)})"


# Insert order: numbers, then text, then the loan date, so a batch's values can be laid
# out block by block (the table's column order does not matter to an INSERT that names them).
_LOGGED_NUMBERS: tuple[str, ...] = tuple(name for name in LOGGED_COLUMNS if _sql_type(name) == "REAL")
_LOGGED_TEXT: tuple[str, ...] = tuple(name for name in LOGGED_COLUMNS
                                      if name != DATE and _sql_type(name) == "TEXT")
INSERT_COLUMNS: tuple[str, ...] = (*(name for name, _ in META_COLUMNS), *_LOGGED_NUMBERS, *_LOGGED_TEXT, DATE)


def _insert_sql() -> str:
    placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
    return f"INSERT INTO {TABLE} ({', '.join(_quoted(n) for n in INSERT_COLUMNS)}) VALUES ({placeholders})"


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
    if pd.api.types.is_datetime64_any_dtype(values):
        moments = np.asarray(values).astype("datetime64[s]")
        text = np.datetime_as_string(moments).astype(object)
        text[np.isnat(moments)] = None
        return text.tolist()
    return values.to_numpy(dtype=object, na_value=None).tolist()


def log_rows(
    frame: pd.DataFrame,
    request_id: str,
    model_version: str,
    pds: np.ndarray,
    bands: Sequence[str],
    decisions: Sequence[str],
    logged_at: str | None = None,
    points: np.ndarray | None = None,
    reason_codes: Sequence[str | None] | None = None,
) -> list[tuple[object, ...]]:
    """The rows to insert for one scored batch, in `INSERT_COLUMNS` order.

    `frame` holds contract-typed columns (missing ones are logged as NULL). Each
    column becomes a list of Python values in one numpy call and the lists are
    zipped into rows: no Python loop over cells.
    """
    count = len(pds)
    columns: list[list[object]] = [
        [logged_at or utc_timestamp()] * count,
        [request_id] * count,
        [model_version] * count,
        list(range(count)),
        np.asarray(pds, dtype="float64").tolist(),
        np.asarray(bands).astype(str).tolist(),
        np.asarray(decisions).astype(str).tolist(),
        [None] * count if points is None else _number_values(np.asarray(points, dtype="float64")),
        [None] * count if reason_codes is None else list(reason_codes),
    ]
    numbers = frame.reindex(columns=_LOGGED_NUMBERS).to_numpy(dtype="float64", na_value=np.nan)  # one call for all
    columns += [_number_values(numbers[:, position]) for position in range(len(_LOGGED_NUMBERS))]
    columns += [_text_values(frame[name] if name in frame else None, count) for name in (*_LOGGED_TEXT, DATE)]
    return list(zip(*columns, strict=True))


class PredictionLog:
    """Appends scored batches to the SQLite log; safe across processes and threads."""

    def __init__(self, path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._connection: sqlite3.Connection | None = None
        self._owner_pid: int | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._owner_pid == os.getpid():
            return self._connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None,
            check_same_thread=False,
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        self._use_write_ahead_log(connection)
        connection.execute("PRAGMA synchronous = NORMAL")
        ensure_schema(connection)
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

    def append(self, rows: Sequence[Sequence[object]]) -> int:
        """Insert the rows of one batch in one transaction; returns the count."""
        if not rows:
            return 0
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(_insert_sql(), rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        return len(rows)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._owner_pid == os.getpid():
                self._connection.close()
            self._connection, self._owner_pid = None, None


def ensure_schema(connection: sqlite3.Connection) -> None:
    """Create the table, or add contract columns an older log does not have yet."""
    connection.execute(create_table_sql())
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
    missing = [(name, kind) for name, kind in META_COLUMNS if name not in present]
    missing += [(name, _sql_type(name)) for name in LOGGED_COLUMNS if name not in present]
    for name, kind in missing:
        connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_quoted(name)} {kind}")


def empty_log_frame() -> pd.DataFrame:
    """The frame `read_log` returns for a log without rows, with the same dtypes."""
    return _typed(pd.DataFrame({name: pd.Series(dtype=object) for name in _read_columns()}))


def _read_columns() -> list[str]:
    return [name for name, _ in META_COLUMNS] + list(LOGGED_COLUMNS)


def _typed(raw: pd.DataFrame) -> pd.DataFrame:
    typed = pd.DataFrame(index=raw.index)
    for name in _read_columns():
        values = raw[name] if name in raw.columns else pd.Series(None, index=raw.index, dtype=object)
        if name == "logged_at":
            typed[name] = pd.to_datetime(values, format="ISO8601", utc=True).astype("datetime64[ns, UTC]")
        elif name == DATE:
            typed[name] = pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")
        elif name in ("pd", "points") or (name in SPECS and SPECS[name].kind in ("numeric", "integer")):
            typed[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif name == "row_index":
            typed[name] = pd.to_numeric(values, errors="coerce").astype("int64")
        else:
            typed[name] = values.astype("string")
    return typed


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)


def read_log(path: Path | str, since: str | None = None) -> pd.DataFrame:
    """The logged rows, oldest first, with contract-typed columns.

    Contract feature columns and `fecha_prestamo` come back typed like
    `coerce_and_validate` output (float64, pandas string, datetime64), plus
    `pd`, `band`, `decision`, `logged_at` (UTC), `request_id`,
    `model_version`, `row_index`. A missing file or table gives an empty
    frame with the same columns. `since` (ISO text; naive means UTC) keeps
    rows logged at or after that moment.
    """
    path = Path(path)
    if not path.exists():
        return empty_log_frame()
    with closing(_read_only(path)) as connection:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({TABLE})")}
        if not present:
            return empty_log_frame()
        names = [name for name in _read_columns() if name in present]
        query = f"SELECT {', '.join(_quoted(n) for n in names)} FROM {TABLE}"
        parameters: tuple[str, ...] = ()
        if since is not None:
            query += " WHERE logged_at >= ?"
            moment = pd.Timestamp(since)
            moment = moment.tz_localize("UTC") if moment.tz is None else moment
            parameters = (utc_timestamp(moment.to_pydatetime()),)
        raw = pd.read_sql_query(query + " ORDER BY id", connection, params=parameters)
    return _typed(raw)


def count_rows(path: Path | str) -> int:
    """How many rows the log holds (0 when it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return 0
    with closing(_read_only(path)) as connection:
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
        if not exists:
            return 0
        return int(connection.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])
