"""Small loan-export files for the reading and prepare tests, written by hand (not by the generator).

`VALID_ROW` is one loan that passes the whole contract, as export text;
tests override the cells they want broken or quirky.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

from creditrisk.data.contract import DATE, TARGET

VALID_ROW = {
    "tipo_credito": "4",
    "fecha_prestamo": "21/12/24 11:31",
    "capital_prestado": "1500000",
    "plazo_meses": "12",
    "edad_cliente": "40",
    "tipo_laboral": "Empleado",
    "salario_cliente": "3000000",
    "total_otros_prestamos": "1000000",
    "cuota_pactada": "150000",
    "puntaje": "95.227787",
    "puntaje_datacredito": "790",
    "cant_creditosvigentes": "5",
    "huella_consulta": "4",
    "saldo_mora": "0",
    "saldo_total": "16000",
    "saldo_principal": "16000",
    "saldo_mora_codeudor": "0",
    "creditos_sectorFinanciero": "3",
    "creditos_sectorCooperativo": "0",
    "creditos_sectorReal": "1",
    "promedio_ingresos_datacredito": "1200000",
    "tendencia_ingresos": "Creciente",
    TARGET: "1",
}

def rows_of(overrides: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{**VALID_ROW, **override} for override in overrides]


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    """Quote only the cells that need it, as a data-warehouse export does ("88,768094")."""
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def spreadsheet_cell(column: str, text: str) -> object:
    """The cell a spreadsheet holds for a CSV text: real datetimes, numbers, text where not a dot number."""
    if text == "":
        return None
    if column == DATE:
        return datetime.strptime(text, "%d/%m/%y %H:%M")
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text) if "." in text else int(text)
    return text


def write_xlsx(path: Path, rows: list[dict[str, str] | None]) -> Path:
    """One sheet; `None` writes a blank row."""
    workbook = Workbook()
    sheet = workbook.active
    columns = list(VALID_ROW)
    sheet.append(columns)
    for row in rows:
        sheet.append([None] * len(columns) if row is None else [spreadsheet_cell(c, row[c]) for c in columns])
    workbook.save(path)
    return path
