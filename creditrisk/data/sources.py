"""Reading the lender's loan exports (CSV or XLSX) and applying the data contract.

`read_export` returns the raw values of the first table in the file, unchanged
except for stripped header names: CSV cells stay text (so a quoted comma
decimal such as "88,768094" or an integer written "6.0" reaches the coercion
rules intact); XLSX cells keep the types the spreadsheet stored, real
datetimes included. The frame's index is the row number a person sees in
the file or spreadsheet (the header is row 1, the first data row is row 2),
so every message can point at the row to open.

`load_export` reads and then coerces and validates with
`creditrisk.schema.coerce_and_validate`; a fatal contract violation raises
`ContractError` naming the file, column, rule and example rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from creditrisk.data.contract import coerce_and_validate, ContractError, Issue, Purpose, ValidationResult

CSV_SUFFIXES = (".csv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + XLSX_SUFFIXES
CSV_SEPARATORS = (",", ";", "\t")
CSV_FALLBACK_ENCODING = "cp1252"
FIRST_DATA_ROW = 2
ROW_CONVENTION = "rows numbered as in the file: header = row 1, first data row = row 2"


class SourceError(ValueError):
    """The export cannot be read at all (missing, unsupported format, corrupt)."""


def export_format(path: Path) -> str:
    """"csv" or "xlsx" from the file suffix; SourceError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    raise SourceError(
        f"{path}: unsupported file type {suffix or '(no suffix)'!r}; "
        f"export the data as one of {', '.join(SUPPORTED_SUFFIXES)} (an old .xls must be saved as .xlsx)"
    )


def read_export(path: Path | str) -> pd.DataFrame:
    """Raw values of an export, indexed by file row number (header = row 1).

    Raises SourceError when the file is missing or unreadable, and
    ContractError (rule `empty_input`) when it holds no header at all. A file
    with a header and no rows is returned empty: validation reports it.
    """
    path = Path(path)
    kind = export_format(path)
    if not path.is_file():
        raise SourceError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    if kind == "csv":
        frame = _read_csv(path)
    else:
        frame = _read_xlsx(path)
    frame.columns = _header_names(frame.columns)
    return frame


def validate_export(
    raw: pd.DataFrame,
    source: str,
    day_first: bool | None = None,
    purpose: Purpose = "training",
) -> ValidationResult:
    """Apply the contract to raw export values; raise ContractError on a fatal issue.

    The error names `source`, and its example rows are file row numbers taken
    from `raw`'s index (as `read_export` sets it).
    """
    result = coerce_and_validate(raw, purpose=purpose, day_first=day_first)
    if not result.ok:
        issues = [_with_file_rows(issue, raw.index) for issue in result.fatal]
        raise ContractError(issues, source=f"{source} ({ROW_CONVENTION})")
    return result


def load_export(
    path: Path | str, day_first: bool | None = None, purpose: Purpose = "training"
) -> ValidationResult:
    """Read an export and apply the contract (see `read_export`, `validate_export`)."""
    return validate_export(read_export(path), str(path), day_first=day_first, purpose=purpose)


def file_rows(index: pd.Index, positions: np.ndarray | list[int]) -> list[int]:
    """File row numbers of 0-based frame positions (a frame from `read_export`)."""
    return [int(index[position]) for position in positions]


def _with_file_rows(issue: Issue, index: pd.Index) -> Issue:
    return dataclasses.replace(issue, rows=tuple(file_rows(index, list(issue.rows))))


def _header_names(columns: pd.Index) -> list[str]:
    names = []
    for position, name in enumerate(columns):
        text = "" if name is None else str(name).replace("\ufeff", "").strip()
        names.append(text or f"unnamed_{position + 1}")
    return names


def _empty_file_error(path: Path) -> ContractError:
    issue = Issue("*", "empty_input", 0, (), (), "the file is empty: no header and no data rows")
    return ContractError([issue], source=str(path))


def _sniff_separator(first_line: str) -> str:
    """The separator that splits the header most often (a header has no quoted separators)."""
    counts = {separator: first_line.count(separator) for separator in CSV_SEPARATORS}
    return max(CSV_SEPARATORS, key=lambda separator: counts[separator])


def _first_line(path: Path) -> str:
    """The first non-blank line (for sniffing only: undecodable bytes are replaced)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff")
    return next((line for line in head.splitlines() if line.strip()), "")


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text; UTF-8 (with or without BOM), else Windows-1252."""
    try:
        header = _first_line(path)
    except OSError as error:
        raise SourceError(f"{path}: cannot read the file: {error}") from error
    if not header.strip():
        raise _empty_file_error(path)
    separator = _sniff_separator(header)
    try:
        frame = _read_csv_text(path, separator, "utf-8-sig")
    except UnicodeDecodeError:
        try:
            frame = _read_csv_text(path, separator, CSV_FALLBACK_ENCODING)
        except UnicodeDecodeError as error:
            raise SourceError(f"{path}: text is neither UTF-8 nor {CSV_FALLBACK_ENCODING}: {error}") from error
    frame.index = pd.RangeIndex(FIRST_DATA_ROW, FIRST_DATA_ROW + len(frame))
    return frame


def _read_csv_text(path: Path, separator: str, encoding: str) -> pd.DataFrame:
    """The fast multi-threaded Arrow reader; on any failure the C reader, whose errors
    name the line (and which raises UnicodeDecodeError for text in another encoding)."""
    options = {"sep": separator, "dtype": str, "encoding": encoding}
    try:
        return pd.read_csv(path, engine="pyarrow", **options)
    except (pa.ArrowInvalid, ValueError):
        pass
    try:
        return pd.read_csv(path, engine="c", **options)
    except UnicodeDecodeError:
        raise
    except (pd.errors.ParserError, ValueError) as error:
        raise SourceError(f"{path}: not a readable CSV file: {error}") from error


def _read_xlsx(path: Path) -> pd.DataFrame:
    """First sheet through openpyxl (read-only); blank rows skipped, row numbers kept."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zip, XML and key errors on a corrupt file
        raise SourceError(f"{path}: not a readable XLSX file: {error}") from error
    try:
        sheet = workbook.worksheets[0]
        rows = [
            (number, values)
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            if any(value is not None and str(value).strip() != "" for value in values)
        ]
    finally:
        workbook.close()
    if not rows:
        raise _empty_file_error(path)
    (_, header), data = rows[0], rows[1:]
    width = _used_width(header)
    frame = pd.DataFrame(
        [values[:width] + (None,) * (width - len(values)) for _, values in data],
        columns=list(header[:width]),
        index=pd.Index([number for number, _ in data], dtype="int64"),
        dtype=object,
    )
    return frame.infer_objects()


def _used_width(header: tuple[object, ...]) -> int:
    """Columns up to the last non-empty header cell."""
    filled = [position for position, value in enumerate(header) if value is not None and str(value).strip()]
    return filled[-1] + 1 if filled else 0
