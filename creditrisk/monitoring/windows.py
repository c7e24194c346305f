"""Current data for drift monitoring, cut into date windows with bounded memory.

Incoming batches are raw exports (CSV or XLSX, read with
`creditrisk.sources.read_export` and coerced with the data contract for
scoring). A first pass parses only each file's dates (deciding once per file
whether its slash dates are day-first) to learn which windows each file
feeds. The second pass walks the windows in time order; a file is read and
coerced when its first window comes up and dropped after its last, so memory
holds the current window plus the files that overlap it, never all windows.

The API prediction log is read window by window through its reader
(`creditrisk.serving.predlog.open_reader`), by `fecha_prestamo`
(falling back to the logging date), so only one window is in memory.
Windows between the first and last one that received no rows are yielded
empty, so a month without data shows up instead of disappearing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from creditrisk.data.contract import (
    coerce_and_validate,
    detect_day_first,
    required_columns,
    to_datetime,
    AmbiguousDatesError,
    ContractError,
    DATE,
    Issue,
)
from creditrisk.data.sources import read_export

INCOMING = "incoming"
PREDICTION_LOG = "prediction_log"
LOG_LABEL_PREFIX = "log:"
PERIOD_FREQUENCIES = {"month": "M", "quarter": "Q", "week": "W-SUN"}


@dataclass(frozen=True)
class Window:
    label: str
    source: str
    start: pd.Timestamp
    end: pd.Timestamp


@dataclass
class WindowData:
    window: Window
    frame: pd.DataFrame
    files: list[str] = field(default_factory=list)
    values_nulled: int = 0
    contract_issues: list[str] = field(default_factory=list)


def period_label(period: pd.Period, window: str) -> str:
    if window == "month":
        return period.strftime("%Y-%m")
    if window == "quarter":
        return f"{period.year}-Q{period.quarter}"
    return period.start_time.strftime("%G-W%V")


def make_window(period: pd.Period, window: str, source: str) -> Window:
    label = period_label(period, window)
    if source == PREDICTION_LOG:
        label = LOG_LABEL_PREFIX + label
    return Window(label, source, period.start_time, period.end_time.floor("s"))


def periods_of(dates: pd.Series, window: str) -> pd.Series:
    if window not in PERIOD_FREQUENCIES:
        raise ValueError(f"drift.window must be one of {sorted(PERIOD_FREQUENCIES)}, got {window!r}")
    return dates.dt.to_period(PERIOD_FREQUENCIES[window])


@dataclass(frozen=True)
class FileIndex:
    """Which windows one batch file feeds, and how its dates are written."""

    path: Path
    day_first: bool | None
    periods: frozenset[pd.Period]
    rows: int
    rows_without_date: int


def _file_day_first(path: Path, dates_text: pd.Series, day_first: bool | None) -> bool | None:
    if day_first is not None:
        return day_first
    try:
        return detect_day_first(dates_text)
    except AmbiguousDatesError as error:
        message = f"{error} (for incoming batches set drift.day_first)"
        raise ContractError([Issue(DATE, "ambiguous_date_order", len(dates_text), (), (), message)],
                            str(path)) from error


def index_file(path: Path, window: str, day_first: bool | None) -> FileIndex:
    """Check the header, parse only the date column, decide the date order once for the whole file.

    A batch without a required column stops the run here, before any window is computed.
    """
    raw = read_export(path)
    if len(raw) == 0:
        return FileIndex(path, day_first, frozenset(), 0, 0)
    absent = [name for name in (DATE, *required_columns("scoring")) if name not in raw.columns]
    if absent:
        raise ContractError([Issue(name, "required_column_missing", len(raw), (), (),
                                   f"the batch has no column {name!r}") for name in absent], str(path))
    order = _file_day_first(path, raw[DATE], day_first)
    dates, _ = to_datetime(raw[DATE], order)
    periods = periods_of(dates.dropna(), window)
    return FileIndex(path, order, frozenset(periods.unique()), len(dates), int(dates.isna().sum()))


def index_batches(paths: Sequence[Path], window: str, day_first: bool | None) -> list[FileIndex]:
    return [index_file(Path(path), window, day_first) for path in sorted(paths)]


@dataclass
class _CoercedFile:
    frame: pd.DataFrame
    periods: np.ndarray  # period ordinals (NaT for rows without a date)
    nulled_per_row: np.ndarray
    issues: list[str]


def _read_coerced(entry: FileIndex, window: str) -> _CoercedFile:
    """The file's rows under the contract for scoring; only unreadable structure is fatal.

    Values that break a rule are nulled and counted (a monitoring run reports a
    bad value instead of stopping); a missing required column stops the run.
    """
    result = coerce_and_validate(read_export(entry.path), purpose="scoring", day_first=entry.day_first)
    structural = [i for i in result.fatal if i.rule in ("required_column_missing", "ambiguous_date_order")]
    if structural:
        raise ContractError(structural, str(entry.path))
    frame = result.frame.reset_index(drop=True)
    nulled = np.zeros(len(frame), dtype=np.int64)
    for positions in result.nulled_rows.values():
        np.add.at(nulled, positions, 1)
    issues = [f"{entry.path.name}: column {i.column!r} rule {i.rule!r} in {i.count} row(s)" for i in result.fatal]
    periods = periods_of(frame[DATE], window).array.asi8
    return _CoercedFile(frame, periods, nulled, issues)


def _full_range(periods: Sequence[pd.Period]) -> list[pd.Period]:
    if not periods:
        return []
    return list(pd.period_range(min(periods), max(periods), freq=periods[0].freq))


def iter_incoming_windows(index: Sequence[FileIndex], window: str) -> Iterator[WindowData]:
    """Yield one WindowData per window, oldest first; each file is read once."""
    all_periods = sorted({period for entry in index for period in entry.periods})
    last_needed = {entry.path: max(entry.periods) for entry in index if entry.periods}
    open_files: dict[Path, _CoercedFile] = {}
    for period in _full_range(all_periods):
        data = WindowData(make_window(period, window, INCOMING), pd.DataFrame())
        parts: list[pd.DataFrame] = []
        for entry in index:
            if period not in entry.periods:
                continue
            if entry.path not in open_files:
                open_files[entry.path] = _read_coerced(entry, window)
            coerced = open_files[entry.path]
            rows = coerced.periods == period.ordinal
            data.files.append(entry.path.name)
            data.values_nulled += int(coerced.nulled_per_row[rows].sum())
            data.contract_issues += coerced.issues
            parts.append(coerced.frame[rows])
        for path in [path for path in open_files if last_needed[path] <= period]:
            del open_files[path]
        data.frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        yield data


def iter_log_windows(target: Path | str, window: str) -> Iterator[WindowData]:
    """Windows of the API prediction log (an SQLite path or a postgresql:// URL), read one at a time.

    The database gives the first and last loan date, then each window's rows by loan date through
    its index, so memory holds one window whatever the log's size; a missing log yields nothing.
    """
    from creditrisk.serving.predlog import describe, is_database_url, open_reader

    reader = open_reader(target)
    bounds = reader.loan_date_bounds()
    if bounds is None:
        return
    name = describe(target) if is_database_url(target) else Path(target).name
    first, last = periods_of(pd.Series(list(bounds), dtype="datetime64[ns]"), window)
    for period in _full_range([first, last]):
        rows = reader.read_window(period.start_time, (period + 1).start_time)
        yield WindowData(make_window(period, window, PREDICTION_LOG), rows, files=[name])
