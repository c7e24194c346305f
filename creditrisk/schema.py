"""The data contract of the lender's loan export: one place for every column rule.

Column names are the lender's own (Spanish) and stay as they are in the data.
`coerce_and_validate` applies the contract column-wise to a whole frame: it is
used by the `prepare` stage on the export and by the API on every request.

Each rule either *nulls* the offending value (counted in the report, the row
survives) or is *fatal* (the stage stops / the request is refused), as the
column spec says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["numeric", "integer", "category", "datetime", "target"]
Role = Literal["feature", "date", "target", "leak"]
Purpose = Literal["training", "scoring"]

TARGET = "Pago_atiempo"
DATE = "fecha_prestamo"
LEAK_COLUMNS = ("puntaje",)
MISSING_CATEGORY = "__missing__"


@dataclass(frozen=True)
class ColumnSpec:
    """Type, range and violation policy of one export column."""

    name: str
    kind: Kind
    description: str
    role: Role = "feature"
    required: bool = True
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    minimum_inclusive: bool = True
    placeholder_range: tuple[float, float] | None = None
    categories: tuple[str, ...] | None = None
    open_categories: bool = False


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("tipo_credito", "category", "credit product code",
               categories=("4", "9", "10", "6", "7", "68"), open_categories=True),
    ColumnSpec(DATE, "datetime", "loan date and time", role="date", nullable=False),
    ColumnSpec("capital_prestado", "numeric", "principal lent (COP)",
               nullable=False, minimum=0, minimum_inclusive=False, maximum=1e10),
    ColumnSpec("plazo_meses", "integer", "term in months", nullable=False, minimum=1, maximum=120),
    ColumnSpec("edad_cliente", "integer", "client age in years", minimum=18, maximum=100,
               placeholder_range=(101, 200)),
    ColumnSpec("tipo_laboral", "category", "employment type",
               categories=("Empleado", "Independiente")),
    ColumnSpec("salario_cliente", "numeric", "declared monthly salary (COP)",
               minimum=0, minimum_inclusive=False, maximum=1e9),
    ColumnSpec("total_otros_prestamos", "numeric", "total of other loans (COP)", minimum=0),
    ColumnSpec("cuota_pactada", "numeric", "agreed installment (COP)",
               nullable=False, minimum=0, minimum_inclusive=False),
    ColumnSpec("puntaje", "numeric", "lender's internal score, computed after the outcome",
               role="leak", required=False),
    ColumnSpec("puntaje_datacredito", "numeric", "credit-bureau score; 0 means no record",
               minimum=150, maximum=999),
    ColumnSpec("cant_creditosvigentes", "integer", "active credits", minimum=0),
    ColumnSpec("huella_consulta", "integer", "recent bureau inquiries", minimum=0),
    ColumnSpec("saldo_mora", "numeric", "balance in arrears (COP)", minimum=0),
    ColumnSpec("saldo_total", "numeric", "total balance (COP)", minimum=0),
    ColumnSpec("saldo_principal", "numeric", "principal balance (COP)", minimum=0),
    ColumnSpec("saldo_mora_codeudor", "numeric", "co-signer arrears (COP)", minimum=0),
    ColumnSpec("creditos_sectorFinanciero", "integer", "credits in the financial sector", minimum=0),
    ColumnSpec("creditos_sectorCooperativo", "integer", "credits in the cooperative sector", minimum=0),
    ColumnSpec("creditos_sectorReal", "integer", "credits in the real sector", minimum=0),
    ColumnSpec("promedio_ingresos_datacredito", "numeric", "bureau-estimated income (COP)", minimum=0),
    ColumnSpec("tendencia_ingresos", "category", "income trend",
               categories=("Creciente", "Decreciente", "Estable")),
    ColumnSpec(TARGET, "target", "1 = paid on time, 0 = default", role="target", nullable=False),
)

SPECS: dict[str, ColumnSpec] = {spec.name: spec for spec in COLUMNS}
COLUMN_NAMES: tuple[str, ...] = tuple(SPECS)
FEATURE_COLUMNS: tuple[str, ...] = tuple(s.name for s in COLUMNS if s.role == "feature")
NUMERIC_FEATURES: tuple[str, ...] = tuple(
    s.name for s in COLUMNS if s.role == "feature" and s.kind in ("numeric", "integer")
)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(
    s.name for s in COLUMNS if s.role == "feature" and s.kind == "category"
)


class ContractError(ValueError):
    """A fatal contract violation; `issues` lists every one found."""

    def __init__(self, issues: list[Issue], source: str = "input") -> None:
        self.issues = issues
        self.source = source
        super().__init__(format_issues(issues, source))


@dataclass(frozen=True)
class Issue:
    """One broken rule in one column, with example rows (0-based positions)."""

    column: str
    rule: str
    count: int
    rows: tuple[int, ...]
    values: tuple[str, ...]
    message: str = ""


@dataclass
class ValidationResult:
    frame: pd.DataFrame
    nulled: dict[str, dict[str, int]] = field(default_factory=dict)
    nulled_rows: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    fatal: list[Issue] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.fatal


def format_issues(issues: list[Issue], source: str) -> str:
    lines = [f"{source}: {len(issues)} contract violation(s)"]
    for issue in issues:
        examples = ", ".join(
            f"row {row} = {value!r}" for row, value in zip(issue.rows, issue.values)
        )
        detail = f" ({issue.message})" if issue.message else ""
        extent = f" in {issue.count} row(s)" if issue.rows else ""
        lines.append(
            f"  column {issue.column!r}: rule {issue.rule!r} broken{extent}{detail}"
            + (f"; e.g. {examples}" if examples else "")
        )
    return "\n".join(lines)


def required_columns(purpose: Purpose) -> list[str]:
    names = [s.name for s in COLUMNS if s.required]
    if purpose == "scoring":
        names = [n for n in names if n not in (TARGET, DATE)]
    return names


# ASCII digits only: `\d` would also accept other scripts' digits, which no number parser here reads.
_NUMBER_TEXT = re.compile(r"^[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?$")


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped Arrow-backed text (vectorised string operations)."""
    return values.astype("string[pyarrow]").str.strip()


def _parse_number_text(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Floats from stripped text, and the mask of numbers found.

    Only text matching `_NUMBER_TEXT` is cast, so the Arrow cast never meets
    a value it cannot parse.
    """
    is_number = text.str.fullmatch(_NUMBER_TEXT.pattern).fillna(False).astype(bool)
    dotted = text.where(is_number).str.replace(",", ".", regex=False)
    floats = pc.cast(pa.array(dotted), pa.float64()).to_numpy(zero_copy_only=False)
    return pd.Series(floats, index=text.index, dtype="float64"), is_number


def to_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce text or numbers to float; comma decimals ("88,76") are accepted.

    Returns the floats and a mask of values that were present but not numbers.
    Booleans in a mixed column are not numbers.
    """
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), pd.Series(False, index=values.index)
    if pd.api.types.is_numeric_dtype(values):
        floats = values.astype("float64")
        return floats, pd.Series(False, index=values.index)
    text = _text(values)
    present = text.notna() & (text != "")
    floats, is_number = _parse_number_text(text)
    not_number = (present & ~is_number).astype(bool)
    if values.dtype == object:
        bool_like = values.map(lambda v: isinstance(v, (bool, np.bool_))).astype(bool)
        not_number |= bool_like
        floats = floats.where(~bool_like)
    return floats, not_number


def _canonical_value(value: object) -> object:
    """One category value as text; integral numbers lose their decimal part."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return pd.NA
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else str(value)
    text = str(value).strip()
    if text == "":
        return pd.NA
    if _NUMBER_TEXT.fullmatch(text):
        number = float(text.replace(",", "."))
        return str(int(number)) if number.is_integer() else text
    return text


def _canonical_category(values: pd.Series) -> pd.Series:
    """Text categories, with integral numbers written without a decimal part.

    Typed columns are canonicalised once per distinct value; object columns
    (mixed Python values, where 1 == 1.0 == True would collide) value by value.
    """
    if values.dtype == object:
        return values.map(_canonical_value).astype("string")
    codes, uniques = pd.factorize(values)
    canonical = np.array([_canonical_value(v) for v in uniques] + [pd.NA], dtype=object)
    return pd.Series(canonical[codes], index=values.index, dtype="string")


DATE_FORMATS_DAY_FIRST = (
    "%d/%m/%y %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%y", "%d/%m/%Y",
)
DATE_FORMATS_MONTH_FIRST = (
    "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%y", "%m/%d/%Y",
)
_SLASH_DATE = re.compile(r"^\s*([0-9]{1,2})/([0-9]{1,2})/([0-9]{2}|[0-9]{4})")
# The same test for stripped text, in a form the Arrow regex engine runs natively (fast).
_STRIPPED_SLASH_DATE = r"[0-9]{1,2}/[0-9]{1,2}/(?:[0-9]{2}|[0-9]{4})"


class AmbiguousDatesError(ValueError):
    pass


def _first_value_starting_with(text: pd.Series, prefix: str) -> str:
    return str(text[text.str.startswith(prefix).fillna(False).astype(bool)].iloc[0])


def detect_day_first(text: pd.Series) -> bool | None:
    """Decide whether slash dates in one file are day-first.

    Returns None when the file has no slash dates. Raises AmbiguousDatesError
    when no value decides (every day and month <= 12) or when values contradict.
    The date part fits in the first ten characters, so only their distinct
    values are examined.
    """
    dates = _text(text).dropna()
    prefixes = pd.Series(pd.unique(dates.str.slice(0, 10)), dtype="string[pyarrow]")
    parts = prefixes.str.extract(_SLASH_DATE).dropna()
    if parts.empty:
        return None
    first = parts[0].astype(int)
    second = parts[1].astype(int)
    day_first_evidence = bool((first > 12).any())
    month_first_evidence = bool((second > 12).any())
    if day_first_evidence and month_first_evidence:
        day_first_example = _first_value_starting_with(dates, prefixes[first[first > 12].index[0]])
        month_first_example = _first_value_starting_with(dates, prefixes[second[second > 12].index[0]])
        raise AmbiguousDatesError(
            f"dates mix day-first and month-first order, e.g. {day_first_example!r} and {month_first_example!r}"
        )
    if not (day_first_evidence or month_first_evidence):
        raise AmbiguousDatesError(
            "every date has day and month <= 12, so day-first and month-first cannot be told apart; "
            "set the date order explicitly (prepare.day_first: true/false)"
        )
    return day_first_evidence


def _parse_dates(text: pd.Series, **options: object) -> pd.Series:
    """pandas.to_datetime with errors="coerce", as naive datetime64[ns].

    Dates outside the nanosecond range (1677-2262) become missing like any
    other unparseable date: pandas may raise OutOfBoundsDatetime for them even
    when told to coerce, so that rare batch is parsed value by value.
    """
    try:
        parsed = pd.to_datetime(text, errors="coerce", **options)
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        def parse_one(value: object) -> object:
            try:
                return pd.to_datetime(value, errors="coerce", **options)
            except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
                return pd.NaT
        parsed = pd.Series([parse_one(value) for value in text], index=text.index, dtype=object)
        parsed = pd.to_datetime(parsed, errors="coerce", utc=bool(options.get("utc")))
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    inside = parsed.notna() & (parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max)
    return parsed.where(inside).astype("datetime64[ns]")


def to_datetime(values: pd.Series, day_first: bool | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse loan dates: real datetimes, ISO 8601, or slash dates in either order.

    The order of slash dates is detected per call (one file, one request)
    unless `day_first` is given.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        return parsed.astype("datetime64[ns]"), pd.Series(False, index=values.index)
    text = _text(values)
    present = text.notna() & (text != "")
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    slash = text.str.match(_STRIPPED_SLASH_DATE).fillna(False).astype(bool)
    if slash.any():
        order = day_first if day_first is not None else detect_day_first(text[slash])
        formats = DATE_FORMATS_DAY_FIRST if order else DATE_FORMATS_MONTH_FIRST
        for fmt in formats:
            todo = slash & result.isna()
            if not todo.any():
                break
            result[todo] = _parse_dates(text[todo], format=fmt)
    iso = present & ~slash
    if iso.any():
        result[iso] = _parse_dates(text[iso], format="ISO8601", utc=True)
    return result, (present & result.isna()).astype(bool)


def _range_violations(spec: ColumnSpec, numbers: pd.Series) -> dict[str, pd.Series]:
    rules: dict[str, pd.Series] = {}
    present = numbers.notna()
    finite = np.isfinite(numbers.to_numpy(dtype="float64", na_value=np.nan))
    rules["not_finite"] = present & ~pd.Series(finite, index=numbers.index)
    usable = present & ~rules["not_finite"]
    if spec.kind == "integer":
        rules["not_an_integer"] = usable & (numbers.where(usable, 0) % 1 != 0)
    if spec.placeholder_range is not None:
        low, high = spec.placeholder_range
        rules["placeholder"] = usable & numbers.between(low, high)
    taken = pd.Series(False, index=numbers.index)
    for mask in rules.values():
        taken |= mask
    if spec.minimum is not None:
        below = numbers < spec.minimum if spec.minimum_inclusive else numbers <= spec.minimum
        rules["below_minimum"] = usable & ~taken & below
    if spec.maximum is not None:
        rules["above_maximum"] = usable & ~taken & (numbers > spec.maximum)
    return rules


def _coerce_column(
    spec: ColumnSpec, values: pd.Series, day_first: bool | None
) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Return the coerced column and one mask per broken rule."""
    if spec.kind in ("numeric", "integer"):
        numbers, not_number = to_number(values)
        rules = {"not_a_number": not_number, **_range_violations(spec, numbers)}
        return numbers, rules
    if spec.kind == "target":
        numbers, not_number = to_number(values)
        bad = not_number | (numbers.notna() & ~numbers.isin([0.0, 1.0]))
        return numbers, {"not_0_or_1": bad}
    if spec.kind == "category":
        text = _canonical_category(values)
        if spec.open_categories:
            bad = text.notna() & ~text.str.fullmatch(r"\d+").fillna(False).astype(bool)
            return text, {"not_a_category_code": bad}
        allowed = set(spec.categories or ())
        bad = text.notna() & ~text.isin(allowed).fillna(False).astype(bool)
        return text, {"unknown_category": bad}
    dates, unparseable = to_datetime(values, day_first)
    return dates, {"unparseable_date": unparseable}


def _issue(column: str, rule: str, mask: pd.Series, raw: pd.Series, max_examples: int) -> Issue:
    positions = np.flatnonzero(mask.to_numpy(dtype=bool))
    examples = positions[:max_examples]
    return Issue(
        column=column,
        rule=rule,
        count=int(len(positions)),
        rows=tuple(int(p) for p in examples),
        values=tuple(_shown(raw.iloc[p]) for p in examples),
    )


def _shown(value: object) -> str:
    """A raw value as a message shows it; a missing one as an empty cell."""
    return "" if pd.api.types.is_scalar(value) and pd.isna(value) else str(value)


def coerce_and_validate(
    frame: pd.DataFrame,
    purpose: Purpose = "training",
    day_first: bool | None = None,
    max_examples: int = 5,
) -> ValidationResult:
    """Coerce every contract column to its type, then apply the contract.

    Violations of a nullable column become missing and are counted per rule;
    violations of a non-nullable column (and missing required columns, an
    empty frame, a target outside {0, 1}) are fatal issues. Rows are never
    dropped or reordered here. Unknown columns are listed and left out.
    """
    fatal: list[Issue] = []
    missing = [name for name in required_columns(purpose) if name not in frame.columns]
    for name in missing:
        fatal.append(Issue(name, "required_column_missing", len(frame), (), (),
                           f"the export has no column {name!r}"))
    if len(frame) == 0:
        fatal.append(Issue("*", "empty_input", 0, (), (), "there are no data rows"))
    unknown = [str(c) for c in frame.columns if c not in SPECS]
    clean = pd.DataFrame(index=frame.index)
    result = ValidationResult(frame=clean, fatal=fatal, unknown_columns=unknown)
    for spec in COLUMNS:
        if spec.name not in frame.columns:
            continue
        raw = frame[spec.name]
        try:
            values, rules = _coerce_column(spec, raw, day_first)
        except AmbiguousDatesError as error:
            fatal.append(Issue(spec.name, "ambiguous_date_order", len(raw), (), (), str(error)))
            continue
        nullable = spec.nullable and not (purpose == "training" and spec.role in ("target", "date"))
        broken = pd.Series(False, index=raw.index)
        counts: dict[str, int] = {}
        for rule, mask in rules.items():
            mask = mask.fillna(False).astype(bool)
            count = int(mask.sum())
            if count == 0:
                continue
            broken |= mask
            if nullable:
                counts[rule] = count
                result.nulled_rows[(spec.name, rule)] = np.flatnonzero(mask.to_numpy())
            else:
                fatal.append(_issue(spec.name, rule, mask, raw, max_examples))
        absent = values.isna() & ~broken
        if not nullable and absent.any() and not (purpose == "scoring" and spec.role == "target"):
            fatal.append(_issue(spec.name, "missing_value", absent, raw, max_examples))
        if counts:
            result.nulled[spec.name] = counts
        clean[spec.name] = values.mask(broken) if spec.kind != "category" else values.where(~broken, pd.NA)
    return result
