"""Reading exports: CSV and XLSX with every quirk, date orders, and the errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.export_files import VALID_ROW, rows_of, write_csv, write_xlsx
from openpyxl import Workbook

from creditrisk.data.contract import ContractError, DATE, TARGET
from creditrisk.data.sources import load_export, read_export, SourceError

# Every quirk of the lender's export, as the CSV writes it.
QUIRKY_ROWS = [
    {"capital_prestado": "88,768094", "plazo_meses": "12.0", "saldo_mora": "0.0", "cuota_pactada": "150000,5"},
    {"fecha_prestamo": "05/01/25 07:05", "capital_prestado": "695.0", "edad_cliente": "122",
     "tendencia_ingresos": "123.5", "puntaje_datacredito": "695.0"},
    {"fecha_prestamo": "13/02/25 16:45", "promedio_ingresos_datacredito": "", "tendencia_ingresos": "",
     "salario_cliente": "2000000000", "saldo_mora_codeudor": ""},
    {"fecha_prestamo": "01/03/25 09:00", "tipo_credito": "9.0", "salario_cliente": "0",
     "puntaje_datacredito": "0", TARGET: "0"},
    {"fecha_prestamo": "28/03/25 18:10", "tipo_laboral": "Independiente", "edad_cliente": "33.0", TARGET: "1.0"},
]


def test_csv_and_xlsx_with_every_quirk_give_the_same_clean_frame(tmp_path: Path) -> None:
    rows = rows_of(QUIRKY_ROWS)
    from_csv = load_export(write_csv(tmp_path / "loans.csv", rows))
    from_xlsx = load_export(write_xlsx(tmp_path / "loans.xlsx", rows))
    pd.testing.assert_frame_equal(from_csv.frame, from_xlsx.frame)
    assert from_csv.nulled == from_xlsx.nulled

    frame = from_csv.frame
    assert frame.index.tolist() == [2, 3, 4, 5, 6]
    assert frame["capital_prestado"].tolist() == [88.768094, 695.0, 1500000.0, 1500000.0, 1500000.0]
    assert frame["cuota_pactada"].iloc[0] == 150000.5
    assert frame["plazo_meses"].iloc[0] == 12.0
    assert frame["tipo_credito"].tolist() == ["4", "4", "4", "9", "4"]
    assert frame[DATE].tolist() == [pd.Timestamp(t) for t in (
        "2024-12-21 11:31", "2025-01-05 07:05", "2025-02-13 16:45", "2025-03-01 09:00", "2025-03-28 18:10")]
    assert frame[TARGET].tolist() == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert frame["edad_cliente"].isna().tolist() == [False, True, False, False, False]
    assert frame["tendencia_ingresos"].isna().tolist() == [False, True, True, False, False]
    assert frame["promedio_ingresos_datacredito"].isna().sum() == 1
    assert from_csv.nulled == {
        "edad_cliente": {"placeholder": 1},
        "salario_cliente": {"above_maximum": 1, "below_minimum": 1},
        "puntaje_datacredito": {"below_minimum": 1},
        "tendencia_ingresos": {"unknown_category": 1},
    }


def test_month_first_and_day_first_files_parse_to_the_same_dates(tmp_path: Path) -> None:
    moments = ["2024-12-21 11:31", "2025-01-05 07:05", "2025-02-13 16:45"]
    day_first = [{DATE: pd.Timestamp(m).strftime("%d/%m/%y %H:%M")} for m in moments]
    month_first = [{DATE: pd.Timestamp(m).strftime("%m/%d/%Y %H:%M")} for m in moments]
    from_day_first = load_export(write_csv(tmp_path / "day.csv", rows_of(day_first))).frame[DATE]
    from_month_first = load_export(write_csv(tmp_path / "month.csv", rows_of(month_first))).frame[DATE]
    assert from_day_first.tolist() == from_month_first.tolist() == [pd.Timestamp(m) for m in moments]


def test_ambiguous_date_order_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "loans.csv", rows_of([{DATE: "01/02/25 10:00"}, {DATE: "03/04/25 11:00"}]))
    with pytest.raises(ContractError) as caught:
        load_export(path)
    message = str(caught.value)
    assert str(path) in message
    assert "column 'fecha_prestamo': rule 'ambiguous_date_order'" in message
    assert "prepare.day_first" in message
    assert load_export(path, day_first=True).frame[DATE].iloc[0] == pd.Timestamp("2025-02-01 10:00")


def test_missing_required_column_stops_with_file_and_column(tmp_path: Path) -> None:
    rows = [{k: v for k, v in row.items() if k != "cuota_pactada"} for row in rows_of([{}])]
    path = write_csv(tmp_path / "loans.csv", rows)
    with pytest.raises(ContractError, match=r"loans\.csv .*\n  column 'cuota_pactada': rule 'required_column_missing'"):
        load_export(path)


def test_target_outside_0_1_names_the_file_rows_a_person_sees(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "loans.csv", rows_of([{}, {TARGET: "2"}, {}, {TARGET: "yes"}]))
    with pytest.raises(ContractError) as caught:
        load_export(path)
    message = str(caught.value)
    assert "header = row 1, first data row = row 2" in message
    assert "column 'Pago_atiempo': rule 'not_0_or_1' broken in 2 row(s); e.g. row 3 = '2', row 5 = 'yes'" in message
    assert [issue.rows for issue in caught.value.issues] == [(3, 5)]


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_empty_file_stops_with_the_documented_message(tmp_path: Path, content: str) -> None:
    path = tmp_path / "loans.csv"
    path.write_text(content)
    with pytest.raises(ContractError, match=r"loans\.csv: 1 contract violation.*\n.*rule 'empty_input' broken "
                                            r"\(the file is empty: no header and no data rows\)"):
        load_export(path)


def test_header_without_rows_stops_with_the_documented_message(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    path.write_text(",".join(VALID_ROW) + "\n")
    with pytest.raises(ContractError, match=r"rule 'empty_input' broken \(there are no data rows\)"):
        load_export(path)


def test_empty_spreadsheet_stops_with_the_documented_message(tmp_path: Path) -> None:
    path = tmp_path / "loans.xlsx"
    Workbook().save(path)
    with pytest.raises(ContractError, match="rule 'empty_input'"):
        load_export(path)


def test_csv_with_bom_semicolons_and_windows_encoding_is_read(tmp_path: Path) -> None:
    rows = rows_of([{"capital_prestado": "88,5", "tipo_laboral": "Empleado"}])
    bom = write_csv(tmp_path / "bom.csv", rows, delimiter=";", encoding="utf-8-sig")
    assert bom.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_export(bom).frame["capital_prestado"].tolist() == [88.5]
    latin = write_csv(tmp_path / "latin.csv", rows_of([{"tipo_laboral": "Pensionado/a jubilación"}]),
                      encoding="cp1252")
    assert read_export(latin)["tipo_laboral"].tolist() == ["Pensionado/a jubilación"]


def test_csv_cells_stay_text_until_coercion(tmp_path: Path) -> None:
    raw = read_export(write_csv(tmp_path / "loans.csv", rows_of(QUIRKY_ROWS)))
    assert raw["capital_prestado"].tolist()[:2] == ["88,768094", "695.0"]
    assert raw["plazo_meses"].iloc[0] == "12.0"
    assert pd.isna(raw["tendencia_ingresos"].iloc[2])


def test_xlsx_keeps_real_datetimes_and_sheet_row_numbers_across_blank_rows(tmp_path: Path) -> None:
    rows = rows_of([{}, {TARGET: "7"}])
    path = write_xlsx(tmp_path / "loans.xlsx", [rows[0], None, rows[1], None])
    raw = read_export(path)
    assert raw.index.tolist() == [2, 4]
    assert pd.api.types.is_datetime64_any_dtype(raw[DATE])
    with pytest.raises(ContractError, match=r"row 4 = '7'"):
        load_export(path)


def test_unknown_columns_are_ignored_and_header_names_trimmed(tmp_path: Path) -> None:
    rows = [{(" " + k if k == "edad_cliente" else k): v for k, v in row.items()} | {"observaciones": "x"}
            for row in rows_of([{}])]
    result = load_export(write_csv(tmp_path / "loans.csv", rows))
    assert result.unknown_columns == ["observaciones"]
    assert result.frame["edad_cliente"].tolist() == [40.0]


def test_unsupported_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"loans\.xls: unsupported file type '\.xls'.*\.xlsx"):
        read_export(tmp_path / "loans.xls")
    with pytest.raises(SourceError, match=r"absent\.csv: file not found"):
        read_export(tmp_path / "absent.csv")
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_text("this is not a zip archive")
    with pytest.raises(SourceError, match=r"corrupt\.xlsx: not a readable XLSX file"):
        read_export(corrupt)


def test_malformed_csv_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    path.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(SourceError, match=r"loans\.csv: not a readable CSV file: .*line 3"):
        read_export(path)
