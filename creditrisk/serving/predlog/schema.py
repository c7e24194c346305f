"""The prediction log's tables, their columns and the SQL both databases run on them.

Two tables and a version row: `predictions`, one row per scored row (small batches), and
`prediction_batches`, one record per large batch holding its columns (`records`). Each column is
declared once, with a kind; its SQLite type, its PostgreSQL type, its Arrow type in a batch record
and its pandas type when read all follow from that kind, so a column added here reaches both
databases, both layouts and the reader. Adding one: append it (nullable, so older rows read as
missing) to `SCORE_COLUMNS`, give `LoggedBatch.scores` its values, and raise `SCHEMA_VERSION`; the
SQLite and PostgreSQL migrations add every column an older table lacks, and a batch record an older
version wrote reads its absent columns as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from creditrisk.data.contract import DATE, FEATURE_COLUMNS, SPECS

TABLE = "predictions"
BATCH_TABLE = "prediction_batches"
VERSION_TABLE = "predictions_schema"
# 1: the row table without indexes or version row; 2: loan-date and logged-at indexes; 3: the batch table;
# 4: PostgreSQL stores batch payloads uncompressed out of line (they are zstd already; nothing changes in SQLite);
# 5: the shadow challenger's version, PD, band and decision beside the champion's
SCHEMA_VERSION = 5

# kind -> (SQLite type, PostgreSQL type)
_TYPES: dict[str, tuple[str, str]] = {
    "text": ("TEXT", "text"),
    "real": ("REAL", "double precision"),
    "integer": ("INTEGER", "integer"),
    "logged_at": ("TEXT", "timestamptz"),  # an instant in UTC (ISO 8601 text in SQLite)
    "loan_date": ("TEXT", "timestamp"),  # the loan's own date and time, without a zone
    "bytes": ("BLOB", "bytea"),
}
_IDENTITY = ("id INTEGER PRIMARY KEY", "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")


@dataclass(frozen=True)
class Column:
    """One column of a log table; `required` columns are NOT NULL."""

    name: str
    kind: str
    required: bool = False

    def sql_type(self, postgres: bool = False) -> str:
        base = _TYPES[self.kind][int(postgres)]
        return f"{base} NOT NULL" if self.required else base

    def definition(self, postgres: bool = False) -> str:
        return f"{quoted_name(self.name)} {self.sql_type(postgres)}"


# Every row of one request shares these; a batch record holds them once.
REQUEST_COLUMNS: tuple[Column, ...] = (
    Column("logged_at", "logged_at", required=True),
    Column("request_id", "text", required=True),
    Column("model_version", "text", required=True),
)
# The shadow challenger's answer for the same row, never returned to the client (missing without a challenger).
CHALLENGER_SCORE_COLUMNS: tuple[Column, ...] = (
    Column("challenger_version", "text"),
    Column("challenger_pd", "real"),
    Column("challenger_band", "text"),
    Column("challenger_decision", "text"),
)
# What the models said about each row: row-table columns, and the first columns of a batch record's payload.
SCORE_COLUMNS: tuple[Column, ...] = (
    Column("pd", "real", required=True),
    Column("band", "text", required=True),
    Column("decision", "text", required=True),
    Column("points", "real"),
    Column("reason_codes", "text"),
    *CHALLENGER_SCORE_COLUMNS,
)
META_COLUMNS: tuple[Column, ...] = (*REQUEST_COLUMNS, Column("row_index", "integer", required=True),
                                    *SCORE_COLUMNS)


def logged_column(name: str) -> Column:
    """A contract column as logged: numbers as reals (missing as null), the loan date, everything else as text."""
    if name == DATE:
        return Column(name, "loan_date")
    return Column(name, "real" if SPECS[name].kind in ("numeric", "integer") else "text")


LOGGED_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, DATE)
LOGGED: tuple[Column, ...] = tuple(logged_column(name) for name in LOGGED_COLUMNS)
ROW_COLUMNS: tuple[Column, ...] = (*META_COLUMNS, *LOGGED)

# A batch record, in insert order.
BATCH_COLUMNS: tuple[Column, ...] = (
    *REQUEST_COLUMNS,
    Column("row_count", "integer", required=True),
    Column("undated_rows", "integer", required=True),
    Column("first_loan_date", "loan_date"),
    Column("last_loan_date", "loan_date"),
    Column("payload_format", "text", required=True),
    Column("payload", "bytes", required=True),
)
BATCH_RECORD_FIELDS = "logged_at, request_id, model_version, payload_format, payload"

# Insert order of the row table: the meta columns, then numbers, then text, then the loan date, so a batch's
# values can be laid out block by block (the table's column order does not matter to an INSERT that names them).
LOGGED_NUMBERS: tuple[str, ...] = tuple(column.name for column in LOGGED if column.kind == "real")
LOGGED_TEXT: tuple[str, ...] = tuple(column.name for column in LOGGED if column.kind == "text")
INSERT_COLUMNS: tuple[str, ...] = (*(column.name for column in META_COLUMNS), *LOGGED_NUMBERS, *LOGGED_TEXT, DATE)


def quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_columns() -> list[str]:
    """The columns a reader returns, in order: the meta columns, then the logged contract columns."""
    return [column.name for column in ROW_COLUMNS]


def create_table_sql(postgres: bool = False) -> str:
    columns = [_IDENTITY[int(postgres)]] + [column.definition(postgres) for column in ROW_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(columns)})"


def create_batch_table_sql(postgres: bool = False) -> str:
    columns = [_IDENTITY[int(postgres)]] + [column.definition(postgres) for column in BATCH_COLUMNS]
    return f"CREATE TABLE IF NOT EXISTS {BATCH_TABLE} ({', '.join(columns)})"


def table_columns() -> dict[str, tuple[Column, ...]]:
    """Each table's declared columns (what a migration checks an older table against)."""
    return {TABLE: ROW_COLUMNS, BATCH_TABLE: BATCH_COLUMNS}


def insert_sql() -> str:
    """The row table's SQLite insert, values in `INSERT_COLUMNS` order."""
    placeholders = ", ".join("?" for _ in INSERT_COLUMNS)
    return f"INSERT INTO {TABLE} ({', '.join(quoted_name(n) for n in INSERT_COLUMNS)}) VALUES ({placeholders})"


def copy_sql() -> str:
    """The row table's PostgreSQL COPY, values in `INSERT_COLUMNS` order."""
    return f"COPY {TABLE} ({', '.join(quoted_name(name) for name in INSERT_COLUMNS)}) FROM STDIN"


def insert_batch_sql(placeholder: str) -> str:
    names = [column.name for column in BATCH_COLUMNS]
    return f"INSERT INTO {BATCH_TABLE} ({', '.join(names)}) VALUES ({', '.join(placeholder for _ in names)})"


def index_sql() -> list[str]:
    """The indexes both databases keep: windows by loan date (a batch record by its last, then first,
    loan date), activity by logging time."""
    return [f"CREATE INDEX IF NOT EXISTS {TABLE}_loan_date ON {TABLE} ({quoted_name(DATE)})",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_logged_at ON {TABLE} (logged_at)",
            f"CREATE INDEX IF NOT EXISTS {BATCH_TABLE}_loan_dates ON {BATCH_TABLE} (last_loan_date, first_loan_date)",
            f"CREATE INDEX IF NOT EXISTS {BATCH_TABLE}_logged_at ON {BATCH_TABLE} (logged_at)"]


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2025-03-01T12:00:00.000001+00:00 (how SQLite keeps `logged_at`)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
