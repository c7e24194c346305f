"""The log's rows as a reader returns them: contract-typed columns in `schema.read_columns` order.

Contract feature columns and `fecha_prestamo` come back typed like `coerce_and_validate` output
(float64, pandas string, datetime64), the logging time in UTC, whichever database and layout held them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from creditrisk.data.contract import DATE
from creditrisk.serving.predlog.schema import ROW_COLUMNS, Column, read_columns


def empty_log_frame() -> pd.DataFrame:
    """The frame a reader returns for a log without rows, with the same dtypes."""
    return typed_frame(pd.DataFrame({name: pd.Series(dtype=object) for name in read_columns()}))


def typed_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw columns as the database gave them -> contract-typed columns, in `read_columns` order."""
    return pd.DataFrame(typed_columns(raw), index=raw.index)


def typed_columns(raw: pd.DataFrame) -> dict[str, pd.Series]:
    """`typed_frame`'s columns, each its own Series (not yet one frame's blocks)."""
    return {column.name: _typed(column, raw[column.name] if column.name in raw.columns
                                else pd.Series(None, index=raw.index, dtype=object))
            for column in ROW_COLUMNS}


def _typed(column: Column, values: pd.Series) -> pd.Series:
    if column.kind == "logged_at":
        return pd.to_datetime(values, format="ISO8601", utc=True).astype("datetime64[ns, UTC]")
    if column.kind == "loan_date":
        return _naive_dates(values)
    if column.kind == "real":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if column.kind == "integer":
        return pd.to_numeric(values, errors="coerce").astype("int64")
    return _text_column(values)


def _text_column(values: pd.Series) -> pd.Series:
    """Text as pandas strings, each distinct value one object (a window repeats a few values many times)."""
    return values.astype("category").astype("string")


def _naive_dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ns]")
    return pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")


def concat_typed(chunks: Iterator[pd.DataFrame]) -> pd.DataFrame:
    """Type each chunk as it arrives, so only one chunk of raw Python values is held at a time, then join
    the chunks column by column, letting each chunk's column go once it is copied: the peak is the result
    plus about one column, not twice the result."""
    parts = [typed_columns(chunk) for chunk in chunks]
    if not parts:
        return empty_log_frame()
    if len(parts) == 1:
        return pd.DataFrame(parts[0]).reset_index(drop=True)
    joined = {}
    for name in read_columns():
        pieces = [part.pop(name) for part in parts]
        column = pd.concat(pieces, ignore_index=True)
        del pieces
        joined[name] = _text_column(column) if column.dtype == "string" else column
    return pd.DataFrame(joined)


def typed_batch_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """`typed_frame` of batch records' rows, converted in place: their Arrow schema already gives the
    log's types but for text (dictionary-encoded) and the loan date (stored in seconds)."""
    for name in raw.columns:
        if isinstance(raw[name].dtype, pd.CategoricalDtype):
            raw[name] = raw[name].astype("string")
    raw[DATE] = raw[DATE].astype("datetime64[ns]")
    return raw[read_columns()]


def in_logging_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of both tables as one frame, oldest logging time first (a batch's rows in their order)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty_log_frame()
    if len(parts) == 1:
        return parts[0]
    frame = concat_typed(iter(parts))
    return frame.sort_values("logged_at", kind="stable", ignore_index=True)
