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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["numeric", "integer", "category", "datetime", "target"]
Role = Literal["feature", "date", "target", "leak"]
Purpose = Literal["training", "scoring"]
# What to do with slash dates whose day/month order a batch cannot tell: stop (a fatal issue), or
# null them (rule `ambiguous_date_order`, the row survives without a date).
AmbiguousDates = Literal["stop", "null"]

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
    unit: str = ""
    """What a number counts in, for a reader (money columns: `CURRENCY`); empty for codes, counts and scores."""


CURRENCY = "COP"
"""The export's money columns are Colombian pesos."""

COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("tipo_credito", "category", "credit product code",
               categories=("4", "9", "10", "6", "7", "68"), open_categories=True),
    ColumnSpec(DATE, "datetime", "loan date and time", role="date", nullable=False),
    ColumnSpec("capital_prestado", "numeric", "principal lent (COP)",
               nullable=False, minimum=0, minimum_inclusive=False, maximum=1e10, unit=CURRENCY),
    ColumnSpec("plazo_meses", "integer", "term in months", nullable=False, minimum=1, maximum=120),
    ColumnSpec("edad_cliente", "integer", "client age in years", minimum=18, maximum=100,
               placeholder_range=(101, 200)),
    ColumnSpec("tipo_laboral", "category", "employment type",
               categories=("Empleado", "Independiente")),
    ColumnSpec("salario_cliente", "numeric", "declared monthly salary (COP)",
               minimum=0, minimum_inclusive=False, maximum=1e9, unit=CURRENCY),
    ColumnSpec("total_otros_prestamos", "numeric", "total of other loans (COP)", minimum=0, unit=CURRENCY),
    ColumnSpec("cuota_pactada", "numeric", "agreed installment (COP)",
               nullable=False, minimum=0, minimum_inclusive=False, unit=CURRENCY),
    ColumnSpec("puntaje", "numeric", "lender's internal score, computed after the outcome",
               role="leak", required=False),
    ColumnSpec("puntaje_datacredito", "numeric", "credit-bureau score; 0 means no record",
               minimum=150, maximum=999),
    ColumnSpec("cant_creditosvigentes", "integer", "active credits", minimum=0),
    ColumnSpec("huella_consulta", "integer", "recent bureau inquiries", minimum=0),
    ColumnSpec("saldo_mora", "numeric", "balance in arrears (COP)", minimum=0, unit=CURRENCY),
    ColumnSpec("saldo_total", "numeric", "total balance (COP)", minimum=0, unit=CURRENCY),
    ColumnSpec("saldo_principal", "numeric", "principal balance (COP)", minimum=0, unit=CURRENCY),
    ColumnSpec("saldo_mora_codeudor", "numeric", "co-signer arrears (COP)", minimum=0, unit=CURRENCY),
    ColumnSpec("creditos_sectorFinanciero", "integer", "credits in the financial sector", minimum=0),
    ColumnSpec("creditos_sectorCooperativo", "integer", "credits in the cooperative sector", minimum=0),
    ColumnSpec("creditos_sectorReal", "integer", "credits in the real sector", minimum=0),
    ColumnSpec("promedio_ingresos_datacredito", "numeric", "bureau-estimated income (COP)", minimum=0,
               unit=CURRENCY),
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
    """The contract frame, what was nulled and why, and the fatal issues."""

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
# ASCII digits only: `\d` would also accept other scripts' digits, which no number parser here reads.
_NUMBER_TEXT = re.compile(r"^[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?$")

# Masks are numpy boolean arrays inside this module: a pandas operation costs tens of
# microseconds whatever the batch size, which a one-row API request pays per column and rule.
Mask = np.ndarray


def _text(values: pd.Series) -> pd.Series:
    """Values as stripped Arrow-backed text (vectorised string operations)."""
    return values.astype("string[pyarrow]").str.strip()


def _present_text(text: pd.Series) -> Mask:
    """Stripped text that is neither missing nor empty."""
    return (text.notna() & (text != "")).to_numpy(dtype=bool, na_value=False)


def _parse_number_text(text: pd.Series) -> tuple[np.ndarray, Mask]:
    """Floats from stripped text, and the mask of numbers found.

    Only text matching `_NUMBER_TEXT` is cast, so the Arrow cast never meets
    a value it cannot parse.
    """
    is_number = text.str.fullmatch(_NUMBER_TEXT.pattern).to_numpy(dtype=bool, na_value=False)
    dotted = text.where(is_number).str.replace(",", ".", regex=False)
    floats = pc.cast(pa.array(dotted), pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(floats, dtype="float64"), is_number


def _is_number_dtype(values: pd.Series) -> bool:
    """Numbers (or booleans) already: no text to parse."""
    if isinstance(values.dtype, np.dtype):
        return values.dtype.kind in "biufc"
    return pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)


def _number_arrays(values: pd.Series) -> tuple[np.ndarray, Mask]:
    """`to_number` as numpy arrays (floats, present but not a number)."""
    nothing_broken = np.zeros(len(values), dtype=bool)
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufc":
        return values.to_numpy().astype("float64"), nothing_broken
    if _is_number_dtype(values):
        return values.to_numpy(dtype="float64", na_value=np.nan), nothing_broken
    if values.dtype == object and pd.isna(values.to_numpy()).all():  # e.g. JSON nulls only
        return np.full(len(values), np.nan), nothing_broken
    text = _text(values)
    floats, is_number = _parse_number_text(text)
    not_number = _present_text(text) & ~is_number
    if values.dtype == object:
        bool_like = np.fromiter((isinstance(v, (bool, np.bool_)) for v in values.to_numpy()),
                                dtype=bool, count=len(values))
        not_number |= bool_like
        floats = np.where(bool_like, np.nan, floats)
    return floats, not_number


def to_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce text or numbers to float; comma decimals ("88,76") are accepted.

    Returns the floats and a mask of values that were present but not numbers.
    Booleans in a mixed column are not numbers.
    """
    floats, not_number = _number_arrays(values)
    return (pd.Series(floats, index=values.index, dtype="float64"),
            pd.Series(not_number, index=values.index, dtype=bool))


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


def _category_codes(values: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Each value's code into its distinct canonical texts (code -1 = missing).

    Typed columns are canonicalised once per distinct value; object columns
    (mixed Python values, where 1 == 1.0 == True would collide) value by value.
    """
    if values.dtype == object:
        canonical = np.array([_canonical_value(value) for value in values.to_numpy()], dtype=object)
        codes, uniques = pd.factorize(canonical)
        return codes, list(uniques)
    codes, uniques = pd.factorize(values)
    texts = [_canonical_value(value) for value in uniques]
    blank = np.array([text is pd.NA for text in texts] + [True], dtype=bool)
    return np.where(blank[codes], -1, codes), texts


_TEXT = pd.StringDtype()


def _take_text(texts: list[object], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """texts[codes] as a "string" array; code -1 gives a missing value.

    With Arrow storage the rows are taken in Arrow from the few distinct texts,
    instead of converting one Python string per row.
    """
    if _TEXT.storage == "pyarrow" and len(codes):
        choices = pa.array([None if text is pd.NA else text for text in texts] + [None], type=pa.large_string())
        return pd.array(pc.take(choices, pa.array(np.where(codes < 0, len(texts), codes))), dtype=_TEXT)
    choices_objects = np.array([*texts, pd.NA], dtype=object)
    return pd.array(choices_objects[codes], dtype=_TEXT)


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


_NAT = np.datetime64("NaT", "ns")
_NAT_INTEGER = np.iinfo(np.int64).min


def _nanosecond_values(values: np.ndarray) -> np.ndarray:
    """Naive datetimes of any unit as datetime64[ns]; those outside its range become NaT.

    pandas parses text to the unit it finds (often microseconds), which reaches
    far beyond the years 1677-2262 that nanoseconds can hold.
    """
    unit, count = np.datetime_data(values.dtype)
    factor = int(np.timedelta64(count, unit) // np.timedelta64(1, "ns"))
    if factor == 1:
        return np.array(values, dtype="datetime64[ns]")
    ticks = values.view("int64")
    lowest = -(-pd.Timestamp.min.value // factor)
    highest = pd.Timestamp.max.value // factor
    inside = ~np.isnat(values) & (ticks >= lowest) & (ticks <= highest)
    return np.where(inside, ticks * factor, _NAT_INTEGER).view("datetime64[ns]")


def _parse_dates(text: pd.Series | np.ndarray, **options: object) -> np.ndarray:
    """pandas.to_datetime with errors="coerce", as naive datetime64[ns] values (UTC when tz-aware).

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
        parsed = pd.to_datetime(pd.Series([parse_one(value) for value in text], dtype=object),
                                errors="coerce", utc=bool(options.get("utc")))
    moments = pd.DatetimeIndex(parsed)
    if moments.tz is not None:
        moments = moments.tz_convert(None)
    return _nanosecond_values(moments.to_numpy())


def _arrow_text(values: pd.Series) -> pa.Array:
    """Values as stripped Arrow text, straight through pyarrow (no pandas per-call overhead)."""
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("string[pyarrow]")
    array = pa.array(values, type=pa.large_string())
    return pc.utf8_trim_whitespace(array)


def blank_values(values: pd.Series) -> Mask:
    """Missing values and text that is empty once stripped: what an export's empty cell looks like."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return values.isna().to_numpy(dtype=bool)
    return ~_arrow_mask(pc.greater(pc.utf8_length(_arrow_text(values)), 0))


def _arrow_mask(mask: pa.Array) -> Mask:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _datetime_arrays(values: pd.Series, day_first: bool | None) -> tuple[np.ndarray, Mask]:
    """`to_datetime` as numpy arrays (datetime64[ns], present but unparseable)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        return parsed.astype("datetime64[ns]").to_numpy(), np.zeros(len(values), dtype=bool)
    stripped = _arrow_text(values)
    present = _arrow_mask(pc.greater(pc.utf8_length(stripped), 0))
    slash = _arrow_mask(pc.match_substring_regex(stripped, "^" + _STRIPPED_SLASH_DATE))
    result = np.full(len(values), _NAT)
    if slash.any():
        text = _text(values)
        order = day_first if day_first is not None else detect_day_first(text[slash])
        formats = DATE_FORMATS_DAY_FIRST if order else DATE_FORMATS_MONTH_FIRST
        for fmt in formats:
            todo = slash & np.isnat(result)
            if not todo.any():
                break
            result[todo] = _parse_dates(text[todo], format=fmt)
    iso = present & ~slash
    if iso.all():
        result = _parse_iso_dates(stripped)
    elif iso.any():
        result[iso] = _parse_iso_dates(stripped.filter(pa.array(iso)))
    return result, present & np.isnat(result)


# Date and time in the plain form Arrow reads the same way as pandas' ISO 8601 parser.
_PLAIN_ISO_DATE = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?$"


def _parse_iso_dates(text: pa.Array) -> np.ndarray:
    """ISO 8601 text (none missing) as naive UTC datetime64[ns].

    A batch written entirely as plain `YYYY-MM-DD[THH:MM[:SS]]` is cast by Arrow
    (ten times faster); one value Arrow refuses (e.g. February 30) sends the whole
    batch to pandas, which makes that value missing.
    """
    plain = pc.all(pc.match_substring_regex(text, _PLAIN_ISO_DATE)).as_py()
    if plain:
        try:
            return _nanosecond_values(pc.cast(text, pa.timestamp("s")).to_numpy(zero_copy_only=False))
        except pa.ArrowInvalid:
            pass
    return _parse_dates(text.to_numpy(zero_copy_only=False), format="ISO8601", utc=True)


def to_datetime(values: pd.Series, day_first: bool | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse loan dates: real datetimes, ISO 8601, or slash dates in either order.

    The order of slash dates is detected per call (one file, one request)
    unless `day_first` is given.
    """
    dates, unparseable = _datetime_arrays(values, day_first)
    return (pd.Series(dates, index=values.index, dtype="datetime64[ns]"),
            pd.Series(unparseable, index=values.index, dtype=bool))


@dataclass(frozen=True)
class NumberBounds:
    """The number rules' bounds of some columns, one entry per column (a rule a column lacks never fires)."""

    integer: np.ndarray
    placeholder_low: np.ndarray
    placeholder_high: np.ndarray
    minimum: np.ndarray
    minimum_inclusive: np.ndarray
    maximum: np.ndarray
    rules: frozenset[str]  # the rules at least one of the columns has (`number_rules_of`)

    @classmethod
    def of(cls, specs: Sequence[ColumnSpec]) -> NumberBounds:
        def bound(value: Callable[[ColumnSpec], float | None], absent: float) -> np.ndarray:
            return np.array([absent if value(spec) is None else value(spec) for spec in specs], dtype="float64")
        return cls(
            integer=np.array([spec.kind == "integer" for spec in specs]),
            placeholder_low=bound(lambda spec: spec.placeholder_range and spec.placeholder_range[0], np.inf),
            placeholder_high=bound(lambda spec: spec.placeholder_range and spec.placeholder_range[1], -np.inf),
            minimum=bound(lambda spec: spec.minimum, -np.inf),
            minimum_inclusive=np.array([spec.minimum_inclusive for spec in specs]),
            maximum=bound(lambda spec: spec.maximum, np.inf),
            rules=frozenset(rule for spec in specs for rule in number_rules_of(spec)),
        )


def number_rule_masks(numbers: np.ndarray, bounds: NumberBounds) -> dict[str, Mask]:
    """The number rules, the one place they are written: on a rows x columns matrix of floats (NaN =
    missing), one mask per rule. A value breaks at most one of placeholder / range: a placeholder or a
    non-integer is not also reported below or above its range."""
    present = ~np.isnan(numbers)
    usable = np.isfinite(numbers)

    def none_broken() -> Mask:
        """A rule none of the columns has is not computed: nothing breaks it."""
        return np.zeros(numbers.shape, dtype=bool)

    rules = {
        "not_finite": present & ~usable,
        "not_an_integer": (usable & bounds.integer & (np.floor(numbers) != numbers)  # as x mod 1 != 0, 20x faster
                           if "not_an_integer" in bounds.rules else none_broken()),
        "placeholder": (usable & (numbers >= bounds.placeholder_low) & (numbers <= bounds.placeholder_high)
                        if "placeholder" in bounds.rules else none_broken()),
    }
    candidates = usable & ~rules["not_an_integer"] & ~rules["placeholder"]
    below = (np.where(bounds.minimum_inclusive, numbers < bounds.minimum, numbers <= bounds.minimum)
             if "below_minimum" in bounds.rules else none_broken())
    above = numbers > bounds.maximum if "above_maximum" in bounds.rules else none_broken()
    rules["below_minimum"] = candidates & below
    rules["above_maximum"] = candidates & above
    return rules


def number_rules_of(spec: ColumnSpec) -> list[str]:
    """The number rules column `spec` has (`not_finite` always)."""
    return ["not_finite", *(["not_an_integer"] if spec.kind == "integer" else []),
            *(["placeholder"] if spec.placeholder_range is not None else []),
            *(["below_minimum"] if spec.minimum is not None else []),
            *(["above_maximum"] if spec.maximum is not None else [])]


def _range_violations(spec: ColumnSpec, numbers: np.ndarray) -> dict[str, Mask]:
    masks = number_rule_masks(numbers[:, None], NumberBounds.of([spec]))
    return {rule: masks[rule][:, 0] for rule in number_rules_of(spec)}


@dataclass
class _Coerced:
    """One coerced column: its values (nulled where `broken`), missing mask and rule masks."""

    values: np.ndarray | pd.api.extensions.ExtensionArray
    missing: Mask
    rules: dict[str, Mask]


def _broken(rules: dict[str, Mask], rows: int) -> Mask:
    broken = np.zeros(rows, dtype=bool)
    for mask in rules.values():
        broken |= mask
    return broken


def _coerce_numbers(spec: ColumnSpec, values: pd.Series) -> _Coerced:
    numbers, not_number = _number_arrays(values)
    if spec.kind == "target":
        rules = {"not_0_or_1": not_number | (~np.isnan(numbers) & (numbers != 0.0) & (numbers != 1.0))}
    else:
        rules = {"not_a_number": not_number, **_range_violations(spec, numbers)}
    broken = _broken(rules, len(numbers))
    if broken.any():
        numbers = np.where(broken, np.nan, numbers)
    return _Coerced(numbers, np.isnan(numbers), rules)


_CATEGORY_CODE = re.compile(r"\d+")


def _numbers_already(values: pd.Series) -> bool:
    return isinstance(values.dtype, np.dtype) and values.dtype.kind in "biufc"


# Up to this many rows, number columns are checked together in one matrix (a few numpy calls
# instead of a dozen per column); beyond it, column by column, which does less work per value.
_NUMBER_BLOCK_ROWS = 1000


def _coerce_number_block(specs: list[ColumnSpec], columns: list[pd.Series]) -> list[_Coerced]:
    """`_coerce_numbers` for columns that hold numbers already, all at once: `number_rule_masks` on a
    rows x columns matrix, then split back into columns."""
    numbers = np.array([values.to_numpy() for values in columns], dtype="float64").T  # column-major
    rules = number_rule_masks(numbers, NumberBounds.of(specs))
    counts = {rule: np.count_nonzero(mask, axis=0) for rule, mask in rules.items()}
    broken = np.zeros(numbers.shape, dtype=bool)
    for mask in rules.values():
        broken |= mask
    cleaned = np.where(broken, np.nan, numbers)
    coerced = []
    for position in range(len(specs)):
        values = np.ascontiguousarray(cleaned[:, position])
        column_rules = {rule: mask[:, position] for rule, mask in rules.items() if counts[rule][position]}
        coerced.append(_Coerced(values, np.isnan(values), column_rules))
    return coerced


def _coerce_category(spec: ColumnSpec, values: pd.Series) -> _Coerced:
    """The rules run once per distinct value, then spread to the rows by code."""
    codes, texts = _category_codes(values)
    if spec.open_categories:
        rule = "not_a_category_code"
        bad_text = [_CATEGORY_CODE.fullmatch(str(text)) is None for text in texts]
    else:
        rule = "unknown_category"
        allowed = set(spec.categories or ())
        bad_text = [text not in allowed for text in texts]
    bad = np.array([*bad_text, False], dtype=bool)[codes]
    kept = np.where(bad, -1, codes)
    return _Coerced(_take_text(texts, kept), kept < 0, {rule: bad})


def _coerce_dates(values: pd.Series, day_first: bool | None, ambiguous: AmbiguousDates) -> _Coerced:
    try:
        dates, unparseable = _datetime_arrays(values, day_first)
    except AmbiguousDatesError:
        if ambiguous == "stop":
            raise
        return _dates_without_order(values)
    return _Coerced(dates, np.isnat(dates), {"unparseable_date": unparseable})


def _dates_without_order(values: pd.Series) -> _Coerced:
    """The dates of a batch whose slash dates cannot be ordered: those are left missing (rule
    `ambiguous_date_order`), ISO 8601 dates are read as usual."""
    slash = _arrow_mask(pc.match_substring_regex(_arrow_text(values), "^" + _STRIPPED_SLASH_DATE))
    dates, unparseable = _datetime_arrays(values.astype(object).where(~slash, None), None)
    return _Coerced(dates, np.isnat(dates), {"unparseable_date": unparseable, "ambiguous_date_order": slash})


def _coerce_column(spec: ColumnSpec, values: pd.Series, day_first: bool | None,
                   ambiguous_dates: AmbiguousDates = "stop") -> _Coerced:
    """The coerced column and one mask per broken rule."""
    if spec.kind in ("numeric", "integer", "target"):
        return _coerce_numbers(spec, values)
    if spec.kind == "category":
        return _coerce_category(spec, values)
    return _coerce_dates(values, day_first, ambiguous_dates)


def _issue(column: str, rule: str, mask: Mask, raw: pd.Series, max_examples: int) -> Issue:
    positions = np.flatnonzero(mask)
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
    ambiguous_dates: AmbiguousDates = "stop",
) -> ValidationResult:
    """Coerce every contract column to its type, then apply the contract.

    Violations of a nullable column become missing and are counted per rule;
    violations of a non-nullable column (and missing required columns, an
    empty frame, a target outside {0, 1}) are fatal issues. Rows are never
    dropped or reordered here. Unknown columns are listed and left out.
    Slash dates whose order cannot be told (and `day_first` is not given) are a
    fatal issue, or with `ambiguous_dates="null"` missing dates (rule
    `ambiguous_date_order`): the choice of a caller that can score without a date.
    """
    fatal: list[Issue] = []
    missing = [name for name in required_columns(purpose) if name not in frame.columns]
    for name in missing:
        fatal.append(Issue(name, "required_column_missing", len(frame), (), (),
                           f"the export has no column {name!r}"))
    if len(frame) == 0:
        fatal.append(Issue("*", "empty_input", 0, (), (), "there are no data rows"))
    unknown = [str(c) for c in frame.columns if c not in SPECS]
    given = set(frame.columns)
    raws = {spec.name: frame[spec.name] for spec in COLUMNS if spec.name in given}
    number_specs = [spec for spec in COLUMNS if spec.name in raws and spec.kind in ("numeric", "integer")
                    and _numbers_already(raws[spec.name])] if len(frame) <= _NUMBER_BLOCK_ROWS else []
    block = dict(zip([spec.name for spec in number_specs],
                     _coerce_number_block(number_specs, [raws[spec.name] for spec in number_specs])
                     if number_specs else [], strict=True))
    columns: dict[str, Any] = {}
    nulled: dict[str, dict[str, int]] = {}
    nulled_rows: dict[tuple[str, str], np.ndarray] = {}
    for spec in COLUMNS:
        if spec.name not in raws:
            continue
        raw = raws[spec.name]
        try:
            coerced = (block[spec.name] if spec.name in block
                       else _coerce_column(spec, raw, day_first, ambiguous_dates))
        except AmbiguousDatesError as error:
            fatal.append(Issue(spec.name, "ambiguous_date_order", len(raw), (), (), str(error)))
            continue
        nullable = spec.nullable and not (purpose == "training" and spec.role in ("target", "date"))
        counts: dict[str, int] = {}
        for rule, mask in coerced.rules.items():
            count = int(np.count_nonzero(mask))
            if count == 0:
                continue
            if nullable or rule == "ambiguous_date_order":  # only reported when the caller nulls them
                counts[rule] = count
                nulled_rows[(spec.name, rule)] = np.flatnonzero(mask)
            else:
                fatal.append(_issue(spec.name, rule, mask, raw, max_examples))
        if not nullable and not (purpose == "scoring" and spec.role == "target"):
            absent = coerced.missing & ~_broken(coerced.rules, len(raw))
            if absent.any():
                fatal.append(_issue(spec.name, "missing_value", absent, raw, max_examples))
        if counts:
            nulled[spec.name] = counts
        columns[spec.name] = coerced.values
    return ValidationResult(frame=pd.DataFrame(columns, index=frame.index), nulled=nulled,
                            nulled_rows=nulled_rows, fatal=fatal, unknown_columns=unknown)
