"""Scoring a batch of loan applications: request body -> contract frame -> PD, band, decision.

Plain functions the API calls (the app only moves bytes and maps errors to status codes).
Validation is the data contract itself, `contract.coerce_and_validate` with
purpose "scoring", applied column-wise to the whole batch; this module only
turns its findings into per-row messages:

* fatal findings (a required column missing, a non-nullable value missing or
  not a number, a value of the wrong JSON type) reject the batch with
  `InvalidValues`, a list of `{row, field, value, rule}` errors (row = 0-based
  position in the batch);
* nullable violations are nulled by the contract, the row is scored, and the
  row carries `warnings` saying which value was dropped and why.

A body that is not a batch at all raises `MalformedBatch`, one over the row limit
`OversizedBatch`; all three are `BatchError`s and know nothing of HTTP.
"""

from __future__ import annotations

import io
import operator
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from pandas.api.types import infer_dtype

from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.engine import build_engine, EncodedBatch, Engine, Explainer, PointsExplainer
from creditrisk.modeling.reasons import principal_reason_codes, principal_reasons, Reason
from creditrisk.data.contract import blank_values, coerce_and_validate, DATE, SPECS

ID_COLUMN = "id"
_WRONG_JSON_TYPES = (bool, dict, list)


@dataclass(frozen=True)
class RowError:
    """One broken rule; `row` is None when the whole column or body is at fault."""

    row: int | None
    field: str | None
    value: str | None
    rule: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "value": self.value, "rule": self.rule,
                "message": self.message}


class BatchError(ValueError):
    """A batch that cannot be scored: a machine-readable `code`, a message, and the broken rules
    (at most the configured number of them; `error_count` counts them all).

    The subclass says what kind of fault it is; the API alone decides the HTTP status for each.
    """

    def __init__(self, code: str, message: str, errors: Sequence[RowError] = (),
                 error_count: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.error_count = len(self.errors) if error_count is None else error_count


class MalformedBatch(BatchError):
    """The body is not a batch of loan records: not JSON or CSV, or not shaped as one."""


class OversizedBatch(BatchError):
    """The batch has more rows than one batch may hold."""


class ReasonsUnavailable(BatchError):
    """Reasons were asked for and the model has no explainer."""


class InvalidValues(BatchError):
    """Values no rule of the contract accepts for a column that must have one: nothing was scored."""


@dataclass
class ValidatedBatch:
    """A request batch after the contract: what the model sees, plus what to echo."""

    frame: pd.DataFrame
    ids: list[Any]
    warnings: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    nulled: dict[str, dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class ScoredBatch:
    """Per row: PD, band, decision; scorecard points; the principal reasons' codes, joined by ";"
    (None where reasons were not asked for)."""

    pds: np.ndarray
    bands: np.ndarray
    decisions: np.ndarray
    points: np.ndarray | None = None
    reason_codes: Sequence[str | None] | None = None
    reasons: list[list[Reason]] | None = None
    reason_slots: int = 0
    encoded: EncodedBatch | None = None  # the rows as the engine read them: the reasons reuse them

    @classmethod
    def joined(cls, pieces: Sequence[ScoredBatch]) -> ScoredBatch:
        """The scored rows of consecutive chunks of one batch, as one (their encodings are not kept)."""
        if len(pieces) == 1:
            return pieces[0]

        def join(name: str) -> Any:
            parts = [getattr(piece, name) for piece in pieces]
            return None if any(part is None for part in parts) else np.concatenate([np.asarray(part) for part in parts])
        codes = [piece.reason_codes for piece in pieces]
        joined_codes = None if any(part is None for part in codes) else \
            pd.concat([pd.Series(part, dtype="string") for part in codes], ignore_index=True).array
        reasons = [piece.reasons for piece in pieces]
        return cls(join("pds"), join("bands"), join("decisions"), join("points"), joined_codes,
                   None if any(part is None for part in reasons) else [row for part in reasons for row in part],
                   pieces[0].reason_slots)


def _malformed(code: str, message: str) -> MalformedBatch:
    return MalformedBatch(code, message, [RowError(None, None, None, code, message)])


def _column_array(values: Sequence[Any]) -> Any:
    """A column of JSON numbers as a numpy array, typed as pandas would infer it (whole numbers int64;
    with a fraction or a null float64 with NaN); anything else (text, booleans, objects, all nulls)
    stays a list for pandas to infer. The kind is read in one C pass over the objects."""
    if not isinstance(values, np.ndarray):
        values = np.fromiter(values, dtype=object, count=len(values))
    kind = infer_dtype(values, skipna=True)
    if kind == "integer":
        try:
            return values.astype("int64")
        except TypeError:  # a null among whole numbers
            return values.astype("float64")
        except OverflowError:
            return values.tolist()
    if kind in ("floating", "mixed-integer-float"):
        return values.astype("float64")
    return values.tolist()


def _rows_to_columns(rows: list[Sequence[Any]], names: list[str]) -> dict[str, Sequence[Any]]:
    """Column name -> its values, from rows of one value per name: one (rows, names) object array in a
    C call, or, when the values are themselves lists numpy would nest, a transpose in Python."""
    grid = np.array(rows, dtype=object)
    columns = grid.T if grid.shape == (len(rows), len(names)) else zip(*rows, strict=True)
    return dict(zip(names, columns, strict=True))


def frame_from_columns(columns: dict[str, Sequence[Any]], rows: int) -> pd.DataFrame:
    """Build a frame from the parsed columns: number columns straight to numpy arrays, the rest
    typed by pandas in C (as pd.Series would, at a third of the fixed cost).

    Without rows pandas would type the columns differently, so they are built one by one.
    """
    if rows == 0:
        return pd.DataFrame({name: pd.Series(values) for name, values in columns.items()},
                            index=pd.RangeIndex(rows), copy=False)
    return pd.DataFrame({name: _column_array(values) for name, values in columns.items()},
                        index=pd.RangeIndex(rows))


def _records_to_columns(records: list[Any]) -> dict[str, Sequence[Any]]:
    not_objects = [i for i, record in enumerate(records) if type(record) is not dict]
    if not_objects:
        errors = [RowError(i, None, _text(records[i]), "record_not_an_object",
                           "each record must be a JSON object of column: value")
                  for i in not_objects]
        raise MalformedBatch("invalid_records", "some records are not JSON objects", errors, len(not_objects))
    if not records:
        return {}
    first = records[0].keys()
    if all(record.keys() == first for record in records):
        names = list(first)
        if not names:
            return {}
        if len(names) == 1:
            return {names[0]: [record[names[0]] for record in records]}
        return _rows_to_columns(list(map(operator.itemgetter(*names), records)), names)
    names = list(dict.fromkeys(name for record in records for name in record))
    return {name: [record.get(name) for record in records] for name in names}


def _columnar_to_columns(payload: dict[str, Any]) -> dict[str, Sequence[Any]]:
    names, data = payload.get("columns"), payload.get("data")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _malformed("invalid_columns", '"columns" must be a list of column names (strings)')
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise _malformed("duplicate_columns", f'"columns" names {duplicated} more than once')
    if not isinstance(data, list):
        raise _malformed("invalid_data", '"data" must be a list of rows (lists of values)')
    width = len(names)
    bad_rows = [i for i, row in enumerate(data) if type(row) is not list or len(row) != width]
    if bad_rows:
        errors = [RowError(i, None, _text(data[i]), "row_length_mismatch",
                           f"each row must be a list of {width} values, one per column")
                  for i in bad_rows]
        raise MalformedBatch("invalid_data", "some rows do not match \"columns\"", errors, len(bad_rows))
    if not data or not width:
        return {name: [] for name in names}
    return _rows_to_columns(data, names)


def parse_json_body(body: bytes) -> pd.DataFrame:
    """Accept `[record, ...]`, `{"records": [...]}` or `{"columns": [...], "data": [[...], ...]}`."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _malformed("malformed_json", f"the body is not valid JSON: {error}") from None
    if isinstance(payload, list):
        return frame_from_columns(_records_to_columns(payload), len(payload))
    if isinstance(payload, dict) and isinstance(payload.get("records"), list):
        return frame_from_columns(_records_to_columns(payload["records"]), len(payload["records"]))
    if isinstance(payload, dict) and "columns" in payload and "data" in payload:
        columns = _columnar_to_columns(payload)
        return frame_from_columns(columns, len(payload["data"]))
    raise _malformed(
        "unrecognised_body",
        'expected a list of records, {"records": [...]}, or {"columns": [...], "data": [[...], ...]}',
    )


def parse_csv_body(body: bytes) -> pd.DataFrame:
    """A CSV export with a header row; quoted comma decimals are left for the contract to coerce."""
    if not body.strip():
        raise _malformed("empty_body", "the CSV body is empty; send a header row and data rows")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # a row longer than the header
            frame = pd.read_csv(io.BytesIO(body), dtype={ID_COLUMN: str}, index_col=False,
                                encoding="utf-8", on_bad_lines="error")
    except UnicodeDecodeError as error:
        raise _malformed("malformed_csv", f"the CSV body is not UTF-8 text: {error}") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
            ValueError) as error:
        raise _malformed("malformed_csv", f"the CSV body cannot be parsed: {error}") from None
    return _booleans_as_text(frame)


def _booleans_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas reads the words True/False as booleans; in an export they are just text."""
    for name, dtype in frame.dtypes.items():
        if not _may_hold_wrong_types(dtype):  # only boolean and object columns can hold booleans
            continue
        values = frame[name]
        if pd.api.types.is_bool_dtype(values) or (
            values.dtype == object and values.map(lambda v: isinstance(v, bool)).any()
        ):
            frame[name] = values.map(lambda v: str(v) if isinstance(v, bool) else v).astype(object)
    return frame


def check_row_limit(frame: pd.DataFrame, max_rows: int) -> None:
    if len(frame) > max_rows:
        raise OversizedBatch("too_many_rows",
                             f"the batch has {len(frame)} rows; at most {max_rows} are accepted per request",
                             [RowError(None, None, str(len(frame)), "too_many_rows",
                                       f"split the batch into requests of at most {max_rows} rows")])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list, bool)):
        return orjson.dumps(value).decode()
    return str(value)


def _wrong_type_mask(values: pd.Series) -> np.ndarray:
    """Booleans, objects and arrays where the contract expects a scalar number, text or date."""
    if pd.api.types.is_bool_dtype(values):
        return np.ones(len(values), dtype=bool)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter((isinstance(v, _WRONG_JSON_TYPES) for v in values.to_numpy()),
                       dtype=bool, count=len(values))


def _may_hold_wrong_types(dtype: Any) -> bool:
    """Only object columns (mixed JSON values) and boolean ones can; numbers and text cannot."""
    return dtype == object or pd.api.types.is_bool_dtype(dtype)


def wrong_type_errors(raw: pd.DataFrame, max_errors: int) -> tuple[list[RowError], int]:
    """JSON values no contract rule can read (true/false, {...}, [...]) are the caller's error."""
    errors: list[RowError] = []
    total = 0
    for name, dtype in raw.dtypes.items():
        if (name not in SPECS and name != ID_COLUMN) or not _may_hold_wrong_types(dtype):
            continue
        positions = np.flatnonzero(_wrong_type_mask(raw[name]))
        total += len(positions)
        for position in positions[: max(0, max_errors - len(errors))]:
            value = raw[name].iloc[position]
            errors.append(RowError(int(position), str(name), _text(value), "wrong_json_type",
                                   f"expected a number, text or null, got {type(value).__name__}"))
    return errors, total


def fill_loan_date(raw: pd.DataFrame, now: datetime) -> tuple[pd.DataFrame, np.ndarray]:
    """The loan date is optional at scoring: absent or empty means the request time.

    Returns the frame and the positions whose date was filled in (the whole
    column missing is not a warning: it is the documented default).
    """
    stamp = pd.Timestamp(now.astimezone(UTC).replace(tzinfo=None)).floor("s")
    if DATE not in raw.columns:
        filled = raw.assign(**{DATE: pd.Series(stamp, index=raw.index, dtype="datetime64[ns]")})
        return filled, np.array([], dtype=int)
    blank = blank_values(raw[DATE])
    if not blank.any():
        return raw, np.array([], dtype=int)
    column = raw[DATE].astype(object).where(~blank, stamp.isoformat())
    return raw.assign(**{DATE: column}), np.flatnonzero(blank)


def contract_errors(issues: Sequence[Any], max_errors: int) -> tuple[list[RowError], int]:
    """Flatten the contract's aggregated issues into per-row errors, at most `max_errors`."""
    errors: list[RowError] = []
    total = 0
    for issue in issues:
        if not issue.rows:
            total += 1
            errors.append(RowError(None, issue.column, None, issue.rule,
                                   issue.message or f"rule {issue.rule!r} broken"))
            continue
        total += issue.count
        for row, value in zip(issue.rows, issue.values, strict=True):
            shown = None if issue.rule == "missing_value" else value
            errors.append(RowError(int(row), issue.column, shown, issue.rule,
                                   issue.message or _rule_message(issue.column, issue.rule)))
    errors.sort(key=lambda error: (-1 if error.row is None else error.row, error.field or ""))
    return errors[:max_errors], total


def _rule_message(column: str, rule: str) -> str:
    spec = SPECS.get(column)
    if spec is None:
        return f"rule {rule!r} broken"
    bounds = {
        "below_minimum": f"must be {'>=' if spec.minimum_inclusive else '>'} {spec.minimum}",
        "above_maximum": f"must be <= {spec.maximum}",
        "not_a_number": "must be a number (comma or dot decimals)",
        "missing_value": "is required and may not be empty",
        "not_an_integer": "must be a whole number",
        "unparseable_date": "must be a date: ISO 8601, dd/mm/yy HH:MM or mm/dd/yyyy HH:MM",
        "not_finite": "must be a finite number",
        "ambiguous_date_order": "is a slash date whose day/month order this batch cannot tell (every day and "
                                "month <= 12, or both orders present); give day_first or ISO 8601 dates",
    }
    return f"{column} {bounds.get(rule, f'breaks rule {rule!r}')}"


def row_warnings(nulled_rows: dict[tuple[str, str], np.ndarray], raw: pd.DataFrame,
                 defaulted_dates: np.ndarray) -> dict[int, list[dict[str, Any]]]:
    """Per-row warnings for values the contract nulled (the row is still scored).

    Loops over the nulled cells only, never over every cell of the batch.
    """
    warnings: dict[int, list[dict[str, Any]]] = {}
    for (column, rule), positions in nulled_rows.items():
        raw_values = raw[column].to_numpy()[positions]
        message = _rule_message(column, rule)
        for position, value in zip(positions.tolist(), raw_values.tolist(), strict=True):
            warnings.setdefault(position, []).append(
                {"field": column, "value": _text(value), "rule": rule,
                 "message": f"{message}; the value was treated as missing"})
    for position in defaulted_dates.tolist():
        warnings.setdefault(position, []).append(
            {"field": DATE, "value": None, "rule": "defaulted_to_request_time",
             "message": f"{DATE} was empty; the request time was used"})
    return warnings


def _ids(raw: pd.DataFrame) -> list[Any]:
    if ID_COLUMN not in raw.columns:
        return list(range(len(raw)))
    values = raw[ID_COLUMN].astype(object)
    return values.where(values.notna(), None).tolist()


def validate_batch(raw: pd.DataFrame, max_errors: int = 50, day_first: bool | None = None,
                   now: datetime | None = None) -> ValidatedBatch:
    """Apply the data contract to a parsed request; raises InvalidValues if it is fatal.

    The loan date is not needed to score: slash dates whose order the batch cannot tell (and
    `day_first` does not give) are scored and logged without a date, with a row warning.
    """
    errors, total = wrong_type_errors(raw, max_errors)
    if total:
        raise InvalidValues("invalid_values", f"{total} value(s) have a JSON type no column accepts", errors, total)
    with_dates, defaulted = fill_loan_date(raw, now or datetime.now(UTC))
    result = coerce_and_validate(with_dates, purpose="scoring", day_first=day_first,
                                 max_examples=max_errors, ambiguous_dates="null")
    if result.fatal:
        errors, total = contract_errors(result.fatal, max_errors)
        raise InvalidValues("invalid_values", f"{total} contract violation(s); the batch was not scored",
                            errors, total)
    return ValidatedBatch(
        frame=result.frame,
        ids=_ids(raw),
        warnings=row_warnings(result.nulled_rows, with_dates, defaulted),
        unknown_columns=[name for name in result.unknown_columns if name != ID_COLUMN],
        nulled=result.nulled,
    )


@dataclass(frozen=True)
class BatchScorer:
    """The one way from a validated batch to PD, band and decision, for one model bundle.

    PDs and the reasons' contributions come from the bundle's scoring engine (`modeling.engine`): its
    compiled path where that was verified against the pipeline at load, else the pipeline itself. Both
    read one encoding of the batch. `route` says which way the PDs go, for the log.
    """

    bundle: ModelBundle
    engine: Engine

    @property
    def route(self) -> str:
        return self.engine.route

    @property
    def explainer(self) -> Explainer | PointsExplainer | None:
        return self.engine.explainer

    @property
    def reasons_top_k(self) -> int:
        return int(self.bundle.metadata.get("reasons", {}).get("top_k", 0))

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        return self.engine.predict_pd(frame)

    def score(self, batch: ValidatedBatch, reasons: bool = False, language: str = "en",
              encoded: EncodedBatch | None = None) -> ScoredBatch:
        """PD, band, decision and points (and with `reasons` the principal reasons, see `explain`). `encoded`
        is the batch's encoding when the caller has begun it (`engine.encode(batch.frame)`)."""
        encoded = encoded if encoded is not None else self.engine.encode(batch.frame)
        pds = self.engine.pd_of(encoded)
        scored = ScoredBatch(pds=pds, bands=self.bundle.band_of(pds), decisions=self.bundle.decide(pds),
                             points=self.bundle.points(pds), encoded=encoded)
        if reasons:
            self.explain(batch, scored, language)
        return scored

    def explain(self, batch: ValidatedBatch, scored: ScoredBatch, language: str = "en", detail: bool = True) -> None:
        """Add each row's principal reasons' codes to `scored`, and with `detail` the reasons themselves (input,
        value, text, contribution: what the API answers; a batch job keeps the codes). The decision never
        depends on them."""
        if self.explainer is None:
            raise ReasonsUnavailable("reasons_unavailable",
                                     "this model has no reason explainer; ask with reasons=false")
        encoded = scored.encoded if scored.encoded is not None else self.engine.encode(batch.frame)
        contributions = self.engine.contributions_of(encoded)
        if detail:
            scored.reasons = principal_reasons(encoded.model_frame, contributions, self.engine.columns,
                                               self.reasons_top_k, language)
            scored.reason_codes = [";".join(reason["code"] for reason in row) for row in scored.reasons]
        else:
            scored.reason_codes = principal_reason_codes(contributions, self.engine.columns, self.reasons_top_k)
        scored.reason_slots = self.reasons_top_k


def batch_scorer(bundle: ModelBundle, numpy_path: bool = True) -> BatchScorer:
    """The scorer of `bundle`: the engine's compiled path when it is verified (and wanted), else the
    pipeline; the reasons when the model's estimator can be read (else reasons are refused)."""
    return BatchScorer(bundle, build_engine(bundle, compiled=numpy_path))


def prediction_records(batch: ValidatedBatch, scored: ScoredBatch) -> list[dict[str, Any]]:
    """One result per input row, in input order (points and reasons when scored with them)."""
    count = len(batch)
    no_warnings: list[dict[str, Any]] = []
    warnings = [no_warnings] * count
    for row, found in batch.warnings.items():
        warnings[row] = found
    points = scored.points.tolist() if scored.points is not None else [None] * count
    records = [
        {"row": row, "id": row_id, "pd": pd_value, "band": band, "points": row_points, "decision": decision,
         "warnings": row_warnings}
        for row, row_id, pd_value, band, row_points, decision, row_warnings in zip(
            range(count), batch.ids, scored.pds.tolist(), scored.bands.tolist(), points,
            scored.decisions.tolist(), warnings, strict=True)
    ]
    if scored.reasons is not None:
        for record, reasons in zip(records, scored.reasons, strict=True):
            record["reasons"] = reasons
    return records


def _reason_columns(scored: ScoredBatch, rows: int) -> dict[str, list[str]]:
    if scored.reasons is None:
        return {}
    width = scored.reason_slots
    return {f"reason_{position + 1}": [reasons[position]["code"] if position < len(reasons) else ""
                                       for reasons in scored.reasons]
            for position in range(width)}


def predictions_csv(batch: ValidatedBatch, scored: ScoredBatch) -> str:
    """The results as CSV: row, id, pd, band, points, decision, reason_1..k (codes, when scored with
    reasons), warnings ("field:rule; ...")."""
    warning_text = [
        "; ".join(f"{w['field']}:{w['rule']}" for w in batch.warnings.get(row, ()))
        for row in range(len(batch))
    ] if batch.warnings else [""] * len(batch)
    table = pd.DataFrame({
        "row": np.arange(len(batch)),
        "id": pd.Series(batch.ids, dtype=object),
        "pd": scored.pds,
        "band": scored.bands,
        "points": scored.points if scored.points is not None else np.full(len(batch), np.nan),
        "decision": scored.decisions,
        **_reason_columns(scored, len(batch)),
        "warnings": warning_text,
    })
    return table.to_csv(index=False, float_format="%.10g", lineterminator="\n")
