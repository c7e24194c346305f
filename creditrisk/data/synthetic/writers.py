"""Writing the sample in the lender's format: CSV (comma decimals, mixed zeros, day-first dates) and XLSX."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from creditrisk.data.contract import DATE, TARGET
from creditrisk.data.synthetic.facts import STREAM_FORMAT
from creditrisk.io import atomic_target

COMMA_DECIMAL_COLUMNS = ("puntaje", "cuota_pactada", "promedio_ingresos_datacredito")


COMMA_DECIMAL_SHARE = 0.35


MIXED_ZERO_COLUMNS = ("saldo_mora", "saldo_mora_codeudor", "total_otros_prestamos")


INTEGER_COLUMNS = ("tipo_credito", "plazo_meses", "edad_cliente", "cant_creditosvigentes", "huella_consulta",
                   "creditos_sectorFinanciero", "creditos_sectorCooperativo", "creditos_sectorReal")


QUIRKY_DATE_FORMAT = "%d/%m/%y %H:%M"


CLEAN_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


CSV_CHUNK_ROWS = 100_000


def comma_decimal_mask(rows: int, seed: int) -> np.ndarray:
    """Which cells of `COMMA_DECIMAL_COLUMNS` the lender's export writes with a comma decimal."""
    rng = np.random.default_rng([seed, STREAM_FORMAT])
    return rng.random((rows, len(COMMA_DECIMAL_COLUMNS))) < COMMA_DECIMAL_SHARE


def _comma_text(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Values as objects; masked, present ones become text with a comma decimal."""
    cells = values.astype(object)
    chosen = np.flatnonzero(mask & ~np.isnan(values))
    cells[chosen] = [repr(float(v)).replace(".", ",") for v in values[chosen]]
    return cells


def _number_text(values: np.ndarray, integral_column: bool, quirks: bool) -> pa.Array:
    """Numbers as CSV text; NaN becomes an empty cell.

    Floats keep a decimal point when integral (`695.0`), as the lender's
    warehouse writes them; integer columns are written as floats (`6.0`) with
    quirks and as plain integers (`6`) without.
    """
    present = ~np.isnan(values)
    integral = present & (np.abs(values) < 1e15) & (np.floor(values) == values)
    whole = pc.cast(pa.array(np.where(integral, values, 0.0).astype("int64")), pa.string())
    if not integral_column or quirks:
        whole = pc.binary_join_element_wise(whole, ".0", "")
    if integral.sum() == present.sum():
        return pc.if_else(pa.array(present), whole, pa.scalar(None, pa.string()))
    shortest = pc.cast(pa.array(values, from_pandas=True), pa.string())
    return pc.if_else(pa.array(integral), whole, shortest)


def _column_text(chunk: pd.DataFrame, name: str, quirks: bool, comma_mask: np.ndarray,
                 zero_as_int: np.ndarray) -> pa.Array:
    """One column of one chunk as CSV text, with the export's format quirks when asked."""
    values = chunk[name]
    if name == DATE:
        seconds = pc.cast(pa.array(values), pa.timestamp("s"), safe=False)
        return pc.strftime(seconds, format=QUIRKY_DATE_FORMAT if quirks else CLEAN_DATE_FORMAT)
    if name in ("tipo_laboral", "tendencia_ingresos"):
        return pa.array(values.astype(object).where(values.notna(), None), type=pa.string())
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    text = _number_text(numbers, name in INTEGER_COLUMNS or name == TARGET, quirks)
    if quirks and name in COMMA_DECIMAL_COLUMNS:
        comma = comma_mask[:, COMMA_DECIMAL_COLUMNS.index(name)]
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, ".", ","), '"', "")
        text = pc.if_else(pa.array(comma), quoted, text)
    if quirks and name in MIXED_ZERO_COLUMNS:
        bare_zero = (numbers == 0) & zero_as_int[:, MIXED_ZERO_COLUMNS.index(name)]
        text = pc.if_else(pa.array(bare_zero), pa.scalar("0"), text)
    return text


def _csv_lines(columns: list[pa.Array]) -> bytes:
    """Rows joined by commas, each ended by a newline; missing cells are empty.

    Cells hold no separators except the comma decimals, which `_column_text`
    has already put in quotes, so no general CSV quoting is needed. The
    joined lines lie back to back in the string array's data buffer.
    """
    joined = pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")
    lines = pc.binary_join_element_wise(joined, "\n", "")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2].to_pybytes()[first:last]


def write_csv(frame: pd.DataFrame, path: Path, quirks: bool, seed: int, chunk_rows: int = CSV_CHUNK_ROWS) -> None:
    """Write the export as CSV, in chunks (bounded memory) and atomically."""
    comma_mask = comma_decimal_mask(len(frame), seed)
    zero_rng = np.random.default_rng([seed, STREAM_FORMAT, 1])
    zero_as_int = zero_rng.random((len(frame), len(MIXED_ZERO_COLUMNS))) < 0.5
    with atomic_target(Path(path)) as temporary, open(temporary, "wb") as handle:
        handle.write((",".join(str(name) for name in frame.columns) + "\n").encode("utf-8"))
        for first in range(0, len(frame), chunk_rows):
            rows = slice(first, first + chunk_rows)
            chunk = frame.iloc[rows]
            columns = [_column_text(chunk, name, quirks, comma_mask[rows], zero_as_int[rows]) for name in frame.columns]
            handle.write(_csv_lines(columns))


def _xlsx_cells(values: pd.Series, name: str, comma_mask: np.ndarray | None) -> list[object]:
    """Python cell values of one column: None for missing, real datetimes, text comma decimals."""
    if name == DATE:
        return [stamp.to_pydatetime() for stamp in values]
    if name in ("tipo_laboral", "tendencia_ingresos"):
        return [_garbage_as_number(v) for v in values.astype(object).where(values.notna(), None)]
    numbers = values.to_numpy(dtype="float64")
    if comma_mask is not None:
        return [None if isinstance(v, float) and np.isnan(v) else v for v in _comma_text(numbers, comma_mask)]
    integral = name in INTEGER_COLUMNS or name == TARGET
    return [None if np.isnan(v) else (int(v) if integral else v) for v in numbers.tolist()]


def _garbage_as_number(value: object) -> object:
    """Numeric garbage in a category column comes out of Excel as a number."""
    if value is None:
        return None
    try:
        return float(str(value))
    except ValueError:
        return value


def write_xlsx(frame: pd.DataFrame, path: Path, quirks: bool, seed: int) -> None:
    """Write the export as the lender's XLSX (openpyxl write-only mode), atomically.

    Dates are real datetimes; with quirks the comma-decimal cells stay text,
    as they come out of the lender's warehouse. Meant for export-sized files
    (about 10^4 - 10^5 rows, a few seconds); for a million rows write the CSV
    only (`history_formats: [csv]`).
    """
    from openpyxl import Workbook

    comma_mask = comma_decimal_mask(len(frame), seed) if quirks else None
    columns = [
        _xlsx_cells(frame[name], name,
                    comma_mask[:, COMMA_DECIMAL_COLUMNS.index(name)]
                    if comma_mask is not None and name in COMMA_DECIMAL_COLUMNS else None)
        for name in frame.columns
    ]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("loans")
    sheet.append(list(frame.columns))
    for row in zip(*columns):
        sheet.append(row)
    with atomic_target(Path(path)) as temporary:
        workbook.save(temporary)
        _make_reproducible(temporary, frame[DATE].max())


def _make_reproducible(path: Path, exported_at: pd.Timestamp) -> None:
    """Pin the workbook's creation/modification times and the zip entry times, so
    the same seed gives the same bytes (openpyxl stamps the current time)."""
    stamp = exported_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data)
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)
