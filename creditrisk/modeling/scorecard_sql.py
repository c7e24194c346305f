"""The points scorecard as one SQL SELECT: points, PD and band for every row of a table of contract columns.

A lender scores a portfolio where its data live. The scorecard is a sum of per-bin points, so it is a CASE
per characteristic; the PD and band follow from the points. The statement uses only standard SQL (WITH,
CASE, CAST AS DOUBLE PRECISION, EXP, TRIM) and runs unchanged on PostgreSQL and SQLite (3.35 or later, built
with its math functions, as Python's is).

What the table must hold: the contract's columns after the contract's coercion (what the prepare stage writes):
numbers as numbers, categories as text or whole numbers, a missing value as NULL. Each characteristic is read
as the model reads it (`DomainFeatures`): numbers as double precision, engineered features by the same
arithmetic (`ENGINEERED_SQL`), a category as its trimmed text, empty text as missing. Then, as in Python
(`WoeBinning.bin_index`), a missing value takes the missing bin, a special code its special bin, a value below
the first edge or above the last the end bins (they run to -inf and +inf), an unseen category WoE 0.

Output: every column of the table, then `x_<characteristic>` (the value the card read),
`points_<characteristic>`, `points` (their sum, left to right), `pd` and `band`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from creditrisk.data.contract import SPECS
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.features import feature_kind
from creditrisk.modeling.scorecard import scorecard_table, ScorecardTable
from creditrisk.modeling.woe import Bin
from creditrisk.params import ParamsBlock


@dataclass(frozen=True)
class ScorecardSqlParams(ParamsBlock):
    """The `scorecard_sql` block of params.yaml."""

    BLOCK: ClassVar[str] = "scorecard_sql"
    model_path: str
    table: str
    output: str

    def problems(self) -> list[tuple[str, str]]:
        return [] if self.table.replace("_", "").replace(".", "").isalnum() else \
            [("table", "must be a plain (optionally schema-qualified) table name")]


class ScorecardSqlError(ValueError):
    """The bundle is not a scorecard the SQL export can write."""


def _number(name: str) -> str:
    return f"CAST({name} AS DOUBLE PRECISION)"


def _ratio(numerator: str, denominator: str) -> str:
    """`features._ratio`: missing where the denominator is missing or not positive."""
    return f"CASE WHEN {denominator} > 0 THEN {numerator} / {denominator} END"


def _flag(source: str) -> str:
    """`features._flag`: 1.0 when positive, 0.0 otherwise, missing where missing."""
    return f"CASE WHEN {source} IS NULL THEN NULL WHEN {source} > 0 THEN 1.0 ELSE 0.0 END"


def _missing(source: str) -> str:
    return f"CASE WHEN {source} IS NULL THEN 1.0 ELSE 0.0 END"


ENGINEERED_SQL: dict[str, Callable[[], str]] = {
    "debt_to_income": lambda: _ratio(_number("cuota_pactada"), _number("salario_cliente")),
    "loan_to_income": lambda: _ratio(_number("capital_prestado"), _number("salario_cliente")),
    "other_debt_to_income": lambda: _ratio(_number("total_otros_prestamos"), _number("salario_cliente")),
    "balance_to_income": lambda: _ratio(_number("saldo_total"), _number("salario_cliente")),
    "bureau_to_declared_income": lambda: _ratio(_number("promedio_ingresos_datacredito"), _number("salario_cliente")),
    "repayment_ratio": lambda: _ratio(f"({_number('cuota_pactada')} * {_number('plazo_meses')})",
                                      _number("capital_prestado")),
    "has_arrears": lambda: _flag(_number("saldo_mora")),
    "cosigner_has_arrears": lambda: _flag(_number("saldo_mora_codeudor")),
    "bureau_income_missing": lambda: _missing("promedio_ingresos_datacredito"),
    "income_trend_missing": lambda: _missing("tendencia_ingresos"),
    "bureau_score_missing": lambda: _missing("puntaje_datacredito"),
}
"""Each engineered feature a scorecard may read, as the SQL expression over contract columns that gives the
value `features.ENGINEERED` computes (the parity tests hold them equal)."""


def _category_text(name: str) -> str:
    return f"TRIM(CAST({name} AS VARCHAR(255)))"


def characteristic_expression(name: str) -> str:
    """The SQL value of characteristic `name`: a number (double precision) or a category's trimmed text."""
    if feature_kind(name) == "category":
        return _category_text(name)
    if name in ENGINEERED_SQL:
        return ENGINEERED_SQL[name]()
    if name in _contract_numbers():
        return _number(name)
    raise ScorecardSqlError(f"characteristic {name!r} has no SQL form (add it to ENGINEERED_SQL)")


def _contract_numbers() -> set[str]:
    return {name for name, spec in SPECS.items() if spec.kind in ("numeric", "integer")}


def literal(value: float) -> str:
    """A number as SQL text that reads back as the same double: Python's shortest repr, checked against SQLite
    (PostgreSQL's conversion is correctly rounded; SQLite's is not for some 16-17 digit decimals)."""
    text = repr(float(value))
    if "inf" in text or "nan" in text:
        raise ScorecardSqlError(f"{value} has no SQL literal")
    with sqlite3.connect(":memory:") as connection:
        read = connection.execute(f"SELECT {text}").fetchone()[0]
    if float(read) != float(value):
        raise ScorecardSqlError(f"SQLite reads {text} as {read!r}, not {float(value)!r}")
    return text


def _text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bin_case(name: str, bins: list[Bin], points: list[float]) -> str:
    """CASE over one characteristic's bins: missing, special codes, ranges in order (the last ELSE), or
    category groups (ELSE: an unseen category)."""
    value = f"x_{name}"
    by_kind = {bin.kind: score for bin, score in zip(bins, points, strict=True) if bin.kind not in ("range",
                                                                                                     "categories")}
    lines = [f"WHEN {value} IS NULL THEN {literal(by_kind['missing'])}"]
    if feature_kind(name) == "category":
        lines[0] = f"WHEN {value} IS NULL OR {value} = '' THEN {literal(by_kind['missing'])}"
        for bin, score in zip(bins, points, strict=True):
            if bin.kind == "categories":
                listed = ", ".join(_text_literal(category) for category in bin.categories)
                lines.append(f"WHEN {value} IN ({listed}) THEN {literal(score)}")
        otherwise = by_kind["unseen"]
    else:
        special = [(bin, score) for bin, score in zip(bins, points, strict=True) if bin.kind == "special"]
        for bin, score in special:
            lines.append(f"WHEN {value} IN ({', '.join(literal(code) for code in bin.codes)}) THEN {literal(score)}")
        ranges = [(bin, score) for bin, score in zip(bins, points, strict=True) if bin.kind == "range"]
        for bin, score in ranges[:-1]:
            lines.append(f"WHEN {value} < {literal(bin.upper)} THEN {literal(score)}")
        otherwise = ranges[-1][1]
    body = "\n".join(f"      {line}" for line in lines)
    return f"    CAST(CASE\n{body}\n      ELSE {literal(otherwise)}\n    END AS DOUBLE PRECISION) AS points_{name}"


def scorecard_select(bundle: ModelBundle, table: str) -> str:
    """The scorecard bundle as one SELECT over `table` (see the module docstring)."""
    scale = bundle.points_scale
    card = scorecard_table(bundle.pipeline, scale) if scale is not None else None
    if card is None:
        raise ScorecardSqlError(f"model {bundle.version} ({bundle.metadata.get('model')}) is not a points scorecard "
                                "with a calibration linear on the logit: no SQL form")
    return _statement(bundle, card, table)


def _statement(bundle: ModelBundle, card: ScorecardTable, table: str) -> str:
    names = card.characteristics
    values = ",\n".join(f"    {characteristic_expression(name)} AS x_{name}" for name in names)
    cases = ",\n".join(_bin_case(name, card.binning.bins_[name], card.points[name].tolist()) for name in names)
    total = " + ".join(f"points_{name}" for name in names) or "0.0"
    bands = "\n".join(f"      WHEN pd <= {literal(band.upper_pd)} THEN {_text_literal(band.name)}"
                      for band in bundle.bands[:-1])
    header = "\n".join([
        f"-- Points scorecard {bundle.version}: {len(names)} characteristics; generated by `make scorecard-sql`.",
        f"-- points = the sum of the characteristics' points; {scale_line(card)}",
        "-- pd = 1 / (1 + exp((points - offset) / factor)); band: the first whose upper PD edge holds the pd.",
        f"-- Reads {table}: the contract's columns as the contract coerced them (numbers, text, NULL).",
    ])
    return f"""{header}
WITH characteristics AS (
  SELECT {table}.*,
{values}
  FROM {table}
),
binned AS (
  SELECT characteristics.*,
{cases}
  FROM characteristics
),
scored AS (
  SELECT binned.*, {total} AS points
  FROM binned
),
priced AS (
  SELECT scored.*, 1.0 / (1.0 + EXP((points - {literal(card.scale.offset)}) / {literal(card.scale.factor)})) AS pd
  FROM scored
)
SELECT priced.*,
    CASE
{bands}
      ELSE {_text_literal(bundle.bands[-1].name)}
    END AS band
FROM priced
"""


def scale_line(card: ScorecardTable) -> str:
    scale = card.scale
    return (f"{scale.points0:g} points at good:bad odds {scale.odds0:g}:1, {scale.pdo:g} points to double the odds "
            f"(offset {scale.offset:.6f}, factor {scale.factor:.6f})")
