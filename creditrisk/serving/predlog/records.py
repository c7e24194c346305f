"""One scored batch as the prediction log keeps it: the rows of a small batch, or one record for a large one.

A batch of `COLUMNAR_MIN_ROWS` rows or more is logged as one record: request, model version and
logging time, the row count, the first and last loan date (indexed, so a window reads only the
records that overlap it) and the batch's columns as one Arrow IPC stream compressed with zstd. Its
cost does not grow with the row count the way a row-per-record insert does: for 10,000 rows x 30
columns, building and compressing the stream takes a few milliseconds and the database stores about
0.4 MB in one insert, where a prepared `executemany` of 10,000 rows takes 30-50 ms before the commit.

Smaller batches (single applicants, the API's usual traffic) are logged row by row (`row_values`): an
Arrow stream carries its schema, a few kilobytes that would outweigh one applicant's values.

Both layouts hold the same values and read back as the same typed frame (`frames.typed_frame`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from creditrisk.data.contract import DATE
from creditrisk.serving.predlog.schema import (
    LOGGED,
    LOGGED_NUMBERS,
    LOGGED_TEXT,
    SCORE_COLUMNS,
    Column,
    utc_timestamp,
)

COLUMNAR_MIN_ROWS = 64
PAYLOAD_FORMAT = "arrow-ipc-zstd/1"
_ARROW_TYPES = {"real": pa.float64(), "text": pa.string(), "loan_date": pa.timestamp("s")}


def payload_schema() -> pa.Schema:
    """The columns of a batch record's payload, in a fixed order with fixed types: scores, then the inputs."""
    return pa.schema([pa.field(column.name, _ARROW_TYPES[column.kind]) for column in (*SCORE_COLUMNS, *LOGGED)])


PAYLOAD_SCHEMA = payload_schema()
_WRITE_OPTIONS = ipc.IpcWriteOptions(compression="zstd", use_threads=False)  # one request, one thread: no pool hand-off


def loan_dates(frame: pd.DataFrame) -> np.ndarray:
    """The batch's loan dates to the second (what both layouts store), NaT where missing."""
    if DATE not in frame:
        return np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[s]")
    return np.asarray(frame[DATE]).astype("datetime64[s]")


@dataclass(frozen=True)
class ChallengerScores:
    """What the shadow challenger said about a batch's rows: its version, and per row its PD, band and decision."""

    version: str
    pds: np.ndarray
    bands: np.ndarray
    decisions: np.ndarray


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
    challenger: ChallengerScores | None = None

    def __len__(self) -> int:
        return len(self.pds)

    @property
    def scores(self) -> dict[str, Any]:
        """Each of `SCORE_COLUMNS`' values for the batch's rows (None: the column is missing for all)."""
        challenger = self.challenger
        return {"pd": self.pds, "band": self.bands, "decision": self.decisions, "points": self.points,
                "reason_codes": self.reason_codes,
                "challenger_version": None if challenger is None else np.full(len(self), challenger.version, object),
                "challenger_pd": None if challenger is None else challenger.pds,
                "challenger_band": None if challenger is None else challenger.bands,
                "challenger_decision": None if challenger is None else challenger.decisions}

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
        count, scores = len(self), self.scores
        columns = [_score_array(column, scores[column.name], count) for column in SCORE_COLUMNS]
        columns += [self._column(column, count) for column in LOGGED]
        return pa.Table.from_arrays(columns, schema=PAYLOAD_SCHEMA)

    def _column(self, column: Column, count: int) -> pa.Array:
        kind = _ARROW_TYPES[column.kind]
        if column.name == DATE:
            return pa.array(self.dates, kind)
        if column.name not in self.frame:
            return pa.nulls(count, kind)
        values = self.frame[column.name]
        if column.kind == "real":
            return pa.array(values.to_numpy(dtype="float64", na_value=np.nan), kind, from_pandas=True)
        return pa.array(values, kind, from_pandas=True)  # Arrow-backed text: no copy through Python objects


def _score_array(column: Column, values: Any, count: int) -> pa.Array:
    """A score column in Arrow: a required real keeps NaN as NaN, an optional one writes NaN as null."""
    kind = _ARROW_TYPES[column.kind]
    if values is None:
        return pa.nulls(count, kind)
    if column.kind == "real":
        return pa.array(np.asarray(values, dtype="float64"), from_pandas=not column.required)
    return pa.array(np.asarray(values) if column.required else list(values), kind)


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
    challenger: ChallengerScores | None = None,
) -> LoggedBatch:
    """One scored batch for `LogWriter.append`; `frame` holds contract-typed columns (missing ones log as NULL).
    `challenger` is the shadow challenger's answer for the same rows, logged beside the champion's."""
    return LoggedBatch(frame, request_id, model_version, logged_at or utc_timestamp(), np.asarray(pds),
                       np.asarray(bands), np.asarray(decisions), points, reason_codes, challenger)


def row_values(batch: LoggedBatch) -> list[tuple[object, ...]]:
    """The row table's rows for one batch, in `schema.INSERT_COLUMNS` order.

    Each column becomes a list of Python values in one numpy call and the lists are
    zipped into rows: no Python loop over cells.
    """
    count, frame, scores = len(batch), batch.frame, batch.scores
    columns: list[list[object]] = [
        [batch.logged_at] * count,
        [batch.request_id] * count,
        [batch.model_version] * count,
        list(range(count)),
    ]
    columns += [_score_values(column, scores[column.name], count) for column in SCORE_COLUMNS]
    numbers = frame.reindex(columns=LOGGED_NUMBERS).to_numpy(dtype="float64", na_value=np.nan)  # one call for all
    columns += [_number_values(numbers[:, position]) for position in range(len(LOGGED_NUMBERS))]
    columns += [_text_values(frame[name] if name in frame else None, count) for name in LOGGED_TEXT]
    columns.append(_date_text(batch.dates))
    return list(zip(*columns, strict=True))


def _score_values(column: Column, values: Any, count: int) -> list[object]:
    if values is None:
        return [None] * count
    if column.kind == "real":
        numbers = np.asarray(values, dtype="float64")
        return numbers.tolist() if column.required else _number_values(numbers)
    return np.asarray(values).astype(str).tolist() if column.required else list(values)


def _number_values(numbers: np.ndarray) -> list[object]:
    """A number column as Python floats, missing as None: what sqlite3 binds fastest."""
    objects = numbers.astype(object)
    objects[np.isnan(numbers)] = None
    return objects.tolist()


def _text_values(values: pd.Series | None, count: int) -> list[object]:
    if values is None:
        return [None] * count
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _date_text(moments: np.ndarray) -> list[object]:
    text = np.datetime_as_string(moments.astype("datetime64[s]")).astype(object)
    text[np.isnat(moments)] = None
    return text.tolist()


def decode_payload(payload: bytes, payload_format: str) -> pa.Table:
    """A batch record's columns; a format this version does not know raises ValueError naming it. A record an
    older schema version wrote lacks the columns added since (the challenger's): they read as missing."""
    if payload_format != PAYLOAD_FORMAT:
        raise ValueError(f"batch payload format {payload_format!r} is not {PAYLOAD_FORMAT!r}")
    table = ipc.open_stream(pa.py_buffer(payload)).read_all()
    missing = [field for field in PAYLOAD_SCHEMA if field.name not in table.column_names]
    if not missing:
        return table
    for field in missing:
        table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(PAYLOAD_SCHEMA.names)  # every record's columns in one order: a window concatenates them


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
