"""One scored batch as the prediction log keeps it: the rows of a small batch, or one record for a large one.

A batch of `COLUMNAR_MIN_ROWS` rows or more is logged as one record: request, model version and
logging time, the row count, the first and last loan date (indexed, so a window reads only the
records that overlap it) and the batch's columns as one Arrow IPC stream compressed with zstd. Its
cost does not grow with the row count the way a row-per-record insert does: for 10,000 rows x 30
columns, building and compressing the stream takes a few milliseconds and the database stores about
0.4 MB in one insert, where a prepared `executemany` of 10,000 rows takes 30-50 ms before the commit.

Smaller batches (single applicants, the API's usual traffic) are logged row by row: an Arrow stream
carries its schema, a few kilobytes that would outweigh one applicant's values.

Both layouts hold the same values and read back as the same typed frame (`prediction_log.typed_frame`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from creditrisk.data.contract import DATE, FEATURE_COLUMNS, SPECS

COLUMNAR_MIN_ROWS = 64
PAYLOAD_FORMAT = "arrow-ipc-zstd/1"
LOGGED_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, DATE)
SCORE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("pd", pa.float64()),
    ("band", pa.string()),
    ("decision", pa.string()),
    ("points", pa.float64()),
    ("reason_codes", pa.string()),
)


def is_number(column: str) -> bool:
    """Numbers are stored as floats (missing as null), everything else but the loan date as text."""
    return SPECS[column].kind in ("numeric", "integer")


def payload_schema() -> pa.Schema:
    """The columns of a batch record's payload, in a fixed order with fixed types."""
    fields = [pa.field(name, kind) for name, kind in SCORE_COLUMNS]
    for name in LOGGED_COLUMNS:
        kind = pa.timestamp("s") if name == DATE else pa.float64() if is_number(name) else pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


PAYLOAD_SCHEMA = payload_schema()
_WRITE_OPTIONS = ipc.IpcWriteOptions(compression="zstd", use_threads=False)  # one request, one thread: no pool hand-off


def loan_dates(frame: pd.DataFrame) -> np.ndarray:
    """The batch's loan dates to the second (what both layouts store), NaT where missing."""
    if DATE not in frame:
        return np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[s]")
    return np.asarray(frame[DATE]).astype("datetime64[s]")


@dataclass(frozen=True)
class LoggedBatch:
    """The scored rows of one request, as the log stores them; `frame` holds contract-typed columns."""

    frame: pd.DataFrame
    request_id: str
    model_version: str
    logged_at: str
    pds: np.ndarray
    bands: np.ndarray
    decisions: np.ndarray
    points: np.ndarray | None = None
    reason_codes: Sequence[str | None] | None = None

    def __len__(self) -> int:
        return len(self.pds)

    @cached_property
    def dates(self) -> np.ndarray:
        return loan_dates(self.frame)

    @property
    def undated_rows(self) -> int:
        return int(np.isnat(self.dates).sum())

    @property
    def loan_date_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """The first and last loan date of the batch's dated rows (None when no row has one)."""
        dated = self.dates[~np.isnat(self.dates)]
        return None if not len(dated) else (pd.Timestamp(dated.min()), pd.Timestamp(dated.max()))

    def payload(self) -> bytes:
        """The batch's columns (`PAYLOAD_SCHEMA`) as one zstd-compressed Arrow IPC stream."""
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, PAYLOAD_SCHEMA, options=_WRITE_OPTIONS) as writer:
            writer.write_table(self.table())
        return sink.getvalue().to_pybytes()

    def table(self) -> pa.Table:
        count = len(self)
        columns: list[pa.Array] = [
            pa.array(np.asarray(self.pds, dtype="float64")),
            pa.array(np.asarray(self.bands), pa.string()),
            pa.array(np.asarray(self.decisions), pa.string()),
            pa.nulls(count, pa.float64()) if self.points is None
            else pa.array(np.asarray(self.points, dtype="float64"), from_pandas=True),
            pa.nulls(count, pa.string()) if self.reason_codes is None
            else pa.array(list(self.reason_codes), pa.string()),
        ]
        for name in LOGGED_COLUMNS:
            columns.append(self._column(name, count))
        return pa.Table.from_arrays(columns, schema=PAYLOAD_SCHEMA)

    def _column(self, name: str, count: int) -> pa.Array:
        kind = PAYLOAD_SCHEMA.field(name).type
        if name == DATE:
            return pa.array(self.dates, kind)
        if name not in self.frame:
            return pa.nulls(count, kind)
        values = self.frame[name]
        if is_number(name):
            return pa.array(values.to_numpy(dtype="float64", na_value=np.nan), kind, from_pandas=True)
        return pa.array(values, kind, from_pandas=True)  # Arrow-backed text: no copy through Python objects


def decode_payload(payload: bytes, payload_format: str) -> pa.Table:
    """A batch record's columns; a format this version does not know raises ValueError naming it."""
    if payload_format != PAYLOAD_FORMAT:
        raise ValueError(f"batch payload format {payload_format!r} is not {PAYLOAD_FORMAT!r}")
    return ipc.open_stream(pa.py_buffer(payload)).read_all()


def rows_in_window(table: pa.Table, start: pd.Timestamp, stop: pd.Timestamp, undated_inside: bool) -> np.ndarray:
    """Positions of the rows whose loan date is in [start, stop); undated rows go with their batch's logging time."""
    dates = table[DATE]
    low = pa.scalar(pd.Timestamp(start).to_datetime64().astype("datetime64[s]"), dates.type)
    high = pa.scalar(pd.Timestamp(stop).to_datetime64().astype("datetime64[s]"), dates.type)
    inside = pc.and_(pc.greater_equal(dates, low), pc.less(dates, high))
    inside = pc.fill_null(inside, undated_inside)
    return np.flatnonzero(inside.to_numpy(zero_copy_only=False))


def _repeated(value: str, count: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, dtype="int32")), pa.array([value], pa.string()))


def batch_rows(table: pa.Table, positions: np.ndarray | None, logged_at: pd.Timestamp, request_id: str,
               model_version: str) -> pa.Table:
    """A batch record's rows (all, or those at `positions`) with the record's logging time, request,
    model version and row positions as columns, still in Arrow (see `rows_frame`)."""
    if positions is not None:
        table = table.take(pa.array(positions))
    else:
        positions = np.arange(table.num_rows)
    table = _text_as_dictionary(table)  # a window holds many records: keep each one small until they convert
    count = table.num_rows
    moment = pd.Timestamp(logged_at).tz_convert("UTC").tz_localize(None).to_datetime64().astype("datetime64[ns]")
    extra = {"logged_at": pa.array(np.full(count, moment), pa.timestamp("ns", tz="UTC")),
             "request_id": _repeated(request_id, count), "model_version": _repeated(model_version, count),
             "row_index": pa.array(positions.astype("int64"))}
    for name, values in extra.items():
        table = table.append_column(name, values)
    return table


def rows_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """Several records' `batch_rows` as one frame of raw log columns, converted once (text, dictionary-
    encoded per record, becomes categories), the Arrow buffers released as their columns are converted.
    Empties `tables`."""
    joined = pa.concat_tables(tables)
    tables.clear()
    return joined.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)


def _text_as_dictionary(table: pa.Table) -> pa.Table:
    columns = [pc.dictionary_encode(column) if pa.types.is_string(column.type) else column
               for column in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)
