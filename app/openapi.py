"""The OpenAPI 3.1 description of the API, built from the data contract so the two cannot drift."""

from __future__ import annotations

import math
import re
from typing import Any

import creditrisk
from creditrisk.data.contract import required_columns, COLUMNS, ColumnSpec, DATE
from creditrisk.serving.scoring import ID_COLUMN

# ISO 8601 date and time, years 1900-2099 (days to 28 in the pattern, so that every matching text is a date).
ISO_DATE = (r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
            r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?")
# The loan date as JSON text: an ISO 8601 date, or blank (then the request time).
LOAN_DATE_PATTERN = rf"^({ISO_DATE}|[ ]*)$"
# A value the contract reads or, for a column that may be missing, treats as missing: any number or text.
ANY_SCALAR = {"type": ["number", "string", "null"]}


def number_schema(spec: ColumnSpec) -> dict[str, Any]:
    """A number column whose rules stop the batch: exactly the numbers it accepts."""
    schema: dict[str, Any] = {"type": "integer" if spec.kind == "integer" else "number"}
    if spec.minimum is not None:
        schema["minimum" if spec.minimum_inclusive else "exclusiveMinimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    return schema


def _rule_text(spec: ColumnSpec) -> str:
    """The column's rule in words, for a column whose violations are treated as missing."""
    if spec.categories and not spec.open_categories:
        return "one of " + ", ".join(spec.categories)
    if spec.categories:
        return "a product code (known: " + ", ".join(spec.categories) + "; an unseen code is scored as unknown)"
    kind = "a whole number" if spec.kind == "integer" else "a number"
    low = "" if spec.minimum is None else f"{'>=' if spec.minimum_inclusive else '>'} {spec.minimum:g}"
    high = "" if spec.maximum is None else f"<= {spec.maximum:g}"
    bounds = " and ".join(part for part in (low, high) if part)
    placeholder = ("" if spec.placeholder_range is None
                   else f"; {spec.placeholder_range[0]:g} to {spec.placeholder_range[1]:g} is a placeholder")
    return kind + (f", {bounds}" if bounds else "") + placeholder


def _column_schema(spec: ColumnSpec) -> dict[str, Any]:
    """The JSON values a column accepts, as the contract does: a column whose rules stop the batch
    states them (required, non-null, its range); the loan date is ISO text or blank, null or absent
    (then the request time); any other column takes any number or text and treats a value that breaks its
    rule as missing (reported in `warnings`). The API also reads numbers sent as text ("1.234,5")."""
    if spec.kind == "target":
        return {"type": ["integer", "null"], "enum": [0, 1, None],
                "description": spec.description + ". Not used when scoring"}
    if spec.kind == "datetime":
        return {"type": ["string", "null"], "pattern": LOAN_DATE_PATTERN,
                "description": spec.description + " (ISO 8601; slash dates dd/mm/yy or mm/dd/yyyy are read too, "
                "see `day_first`); optional when scoring: absent, null or blank means the request time (UTC)"}
    if not spec.nullable:
        return {**number_schema(spec), "description": spec.description + ". Required: a missing or invalid value "
                                                                         "rejects the batch (400)"}
    if spec.role == "leak":
        return {**ANY_SCALAR, "description": spec.description + ". Computed after the outcome: never used by the model"}
    examples = {"examples": list(spec.categories)} if spec.categories else {}
    return {**ANY_SCALAR, **examples,
            "description": f"{spec.description}: {_rule_text(spec)}. A value that breaks the rule is treated as "
                           "missing and reported in `warnings`"}


def record_schema() -> dict[str, Any]:
    properties = {spec.name: _column_schema(spec) for spec in COLUMNS}
    properties[ID_COLUMN] = {"type": ["string", "number", "null"], "description": "caller's row id, echoed in the result"}
    return {
        "type": "object",
        "description": "One loan application; column names as in the lender's export. "
                       "Other columns, whatever they hold, are ignored and listed in `ignored_columns`.",
        "required": required_columns("scoring"),
        "properties": properties,
    }


def _error_schema() -> dict[str, Any]:
    row_error = {
        "type": "object",
        "required": ["row", "field", "value", "rule", "message"],
        "properties": {
            "row": {"type": ["integer", "null"], "description": "0-based position in the batch; "
                    "null when the whole body or column is at fault (CSV line = row + 2)"},
            "field": {"type": ["string", "null"]},
            "value": {"type": ["string", "null"], "description": "the value received, as text"},
            "rule": {"type": "string"},
            "message": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "required": ["status", "error", "message", "errors", "error_count", "request_id"],
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string", "description": "machine-readable error code"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": row_error},
            "error_count": {"type": "integer", "description": "all errors found (errors[] is capped)"},
            "request_id": {"type": ["string", "null"]},
            "ready": {"type": "boolean"},
            "reason": {"type": ["string", "null"]},
        },
    }


def _scoring_result_schema() -> dict[str, Any]:
    warning = {
        "type": "object",
        "required": ["field", "value", "rule", "message"],
        "properties": {"field": {"type": "string"}, "value": {"type": ["string", "null"]},
                       "rule": {"type": "string"}, "message": {"type": "string"}},
    }
    reason = {
        "type": "object",
        "required": ["code", "feature", "value", "text", "contribution"],
        "properties": {
            "code": {"type": "string", "description": "stable reason code of the reason catalogue"},
            "feature": {"type": "string", "description": "the model input (contract column or engineered "
                                                         "feature; a one-hot level reports its column)"},
            "value": {"type": ["string", "number", "null"], "description": "the applicant's value of it"},
            "text": {"type": "string", "description": "plain-language reason, in `lang`"},
            "contribution": {"type": "number", "exclusiveMinimum": 0,
                             "description": "how much it raised logit(PD) above the reference applicant's"},
        },
    }
    prediction = {
        "type": "object",
        "required": ["row", "id", "pd", "band", "points", "decision", "warnings"],
        "properties": {
            "row": {"type": "integer", "minimum": 0},
            "id": {"type": ["string", "number", "boolean", "null"],
                   "description": "the caller's id, or the row position when none was sent"},
            "pd": {"type": "number", "minimum": 0, "maximum": 1,
                   "description": "probability of default, P(Pago_atiempo = 0)"},
            "band": {"type": "string"},
            "points": {"type": ["number", "null"], "description": "scorecard points: offset - factor * "
                       "ln(PD / (1 - PD)), higher is safer (see /model `scorecard`)"},
            "decision": {"type": "string", "enum": ["approve", "reject"]},
            "reasons": {"type": "array", "items": reason, "description": "the principal reasons, largest "
                        "first: inputs that raised this PD above the reference applicant's (absent with "
                        "reasons=false)"},
            "warnings": {"type": "array", "items": warning},
        },
    }
    return {
        "type": "object",
        "required": ["request_id", "model_version", "threshold", "rows", "rows_with_warnings",
                     "ignored_columns", "prediction_logged", "predictions"],
        "properties": {
            "request_id": {"type": "string"},
            "model_version": {"type": "string"},
            "threshold": {"type": "number"},
            "rows": {"type": "integer"},
            "rows_with_warnings": {"type": "integer"},
            "ignored_columns": {"type": "array", "items": {"type": "string"}},
            "prediction_logged": {"type": "boolean",
                                  "description": "true: the rows are committed to the prediction log; "
                                                 "false: no log is configured"},
            "predictions": {"type": "array", "items": prediction},
        },
    }


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _required_number_cell(spec: ColumnSpec) -> str:
    """Numbers a column whose rules stop the batch always accepts: 1 up to the largest all-nines number
    within its maximum (and cents where it takes fractions)."""
    if spec.minimum is not None and spec.minimum > 1:
        raise ValueError(f"no CSV pattern for {spec.name}: its minimum {spec.minimum} is above 1")
    digits = 9 if spec.maximum is None else min(9, int(math.log10(spec.maximum + 1)))
    whole = f"[1-9][0-9]{{0,{digits - 1}}}"
    return whole if spec.kind == "integer" else whole + r"(\.[0-9]{1,2})?"


def _csv_cell(spec: ColumnSpec) -> str:
    """A CSV cell the contract reads: required numbers in range, and the rest in their canonical form or
    empty (a value that breaks a nullable rule is accepted too, and treated as missing)."""
    if spec.kind == "datetime":
        return f"({ISO_DATE})?"
    if not spec.nullable:
        return _required_number_cell(spec)
    if spec.categories and not spec.open_categories:
        return "(" + "|".join(re.escape(category) for category in spec.categories) + ")?"
    if spec.categories:
        return "([0-9]{1,2})?"
    return r"(-?[0-9]{1,10}(\.[0-9]{1,4})?)?"


def csv_batch_pattern() -> str:
    """A CSV batch as the export writes it: the header, then at least one row, every line ending in a line
    break; the columns scoring needs and the loan date, in the contract's order."""
    specs = [spec for spec in COLUMNS if spec.name in (*required_columns("scoring"), DATE)]
    header = ",".join(re.escape(spec.name) for spec in specs)
    row = ",".join(_csv_cell(spec) for spec in specs)
    return rf"^{header}\r?\n({row}\r?\n)+$"


COLUMNAR_NOTE = ("A batch is a JSON array of records, an object {\"records\": [...]}, or CSV. For speed the API "
                 "also reads a columnar object {\"columns\": [names], \"data\": [[row values], ...]} whose "
                 "rows hold the same values as records; JSON Schema cannot tie a value to its column's position, "
                 "so that form is described here rather than in the schema.")


CSV_NOTE = ("The same records as CSV text, as the export writes them: a header row of column names, then one "
            "line per record; an empty cell is a missing value. The columns are those of `Record`: the pattern "
            "states the canonical form (the columns scoring needs and `fecha_prestamo`, in the contract's order); "
            "the API also reads them in any order, with other columns (ignored), quoted cells, comma decimals "
            "(\"88,768094\") and slash dates.")


def _predict_operation(max_rows: int, max_body_mb: float, max_errors: int,
                       security: list[dict[str, list[str]]]) -> dict[str, Any]:
    batch = {"type": "array", "items": {"$ref": "#/components/schemas/Record"}, "minItems": 1,
             "maxItems": max_rows}
    predict_errors = {
        "400": _error(f"malformed body, or contract violations (at most {max_errors} listed)"),
        "401": _error("token configured and missing or wrong"),
        "413": _error(f"body over {max_body_mb:g} MB or more than {max_rows} rows"),
        "415": _error("Content-Type is neither application/json nor text/csv"),
        "501": _error("reasons=true and the model has no reason explainer"),
        "503": _error("model missing or failed verification (`model_not_ready`), or the prediction log cannot "
                      "record the batch (`prediction_log_unavailable`, with `reason` and Retry-After): nothing "
                      "is answered that is not logged"),
    }
    return {
        "operationId": "predict",
        "summary": "Score a batch of loan applications",
        "security": security,
        "parameters": [
            {"name": "day_first", "in": "query", "required": False,
             "description": "order of slash dates (dd/mm vs mm/dd); detected per request when absent",
             "schema": {"type": "boolean"}},
            {"name": "reasons", "in": "query", "required": False,
             "description": "false skips the principal reasons (faster); by default they are given when "
                            "the model has an explainer, and true insists (501 without one)",
             "schema": {"type": "boolean"}},
            {"name": "lang", "in": "query", "required": False,
             "description": "language of the reasons' texts", "schema": {"type": "string", "enum": ["en", "es"]}},
        ],
        "requestBody": {"required": True, "description": COLUMNAR_NOTE, "content": {
            "application/json": {"schema": {"oneOf": [
                batch,
                {"type": "object", "required": ["records"], "properties": {"records": batch}},
            ]}},
            "text/csv": {"schema": {"type": "string", "pattern": csv_batch_pattern(), "description": CSV_NOTE}},
        }},
        "responses": {
            "200": {"description": "one result per input row, in input order",
                    "headers": {"X-Request-Id": {"schema": {"type": "string"}},
                                "X-Model-Version": {"schema": {"type": "string"}},
                                "Server-Timing": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ScoringResult"}},
                        "text/csv": {"schema": {"type": "string", "description":
                                     "row,id,pd,band,points,decision,reason_1..k (codes),warnings "
                                     "(Accept: text/csv)"}}}},
            **predict_errors,
            "404": _error("no such endpoint"), "405": _error("method not allowed"),
        },
    }


SERVING_PROPERTIES: dict[str, Any] = {
    "stage": {"type": ["string", "null"], "description": "the registry stage served (null: served by path)"},
    "md5": {"type": ["string", "null"], "description": "md5 of the model file that serves"},
    "source": {"type": ["string", "null"], "description": "the path, or the stage, version and release commit"},
    "stale": {"type": "boolean", "description": "the model file or the stage's assignment changed since load; "
                                                "the loaded model still serves until a reload (SIGHUP)"},
    "current_md5": {"type": ["string", "null"], "description": "when stale: md5 of what would load now"},
    "current_version": {"type": ["string", "null"], "description": "when stale by stage: the stage's version now"},
    "stale_reason": {"type": ["string", "null"]},
}
_CHALLENGER_STATUS = ("the shadow challenger (CREDITRISK_CHALLENGER: a path or a stage; null without one): "
                      "`setting`, `ready`, `version`, `stage`, `path`, `verified`, `reason` (why it is not loaded), "
                      "`loaded_at`, `failures` (requests it raised on in this worker), `last_failure`, "
                      "`last_failure_at`; the champion serves whatever the challenger does")


def _ready_operation() -> dict[str, Any]:
    return {"operationId": "ready",
            "summary": "The model is loaded and verified; which one serves, and whether it is stale",
            "responses": {
                "200": _json("ready", {
                    "type": "object", "required": ["ready", "model_version", "stage", "md5", "stale"],
                    "properties": {"ready": {"const": True},
                                   "model_version": {"type": "string"},
                                   **SERVING_PROPERTIES,
                                   "verified": {"type": ["string", "null"]},
                                   "loaded_at": {"type": "string"},
                                   "challenger": {"type": ["object", "null"], "description": _CHALLENGER_STATUS}}}),
                "503": _error("not ready; `reason` says why")}}


def _model_operation(security: list[dict[str, list[str]]]) -> dict[str, Any]:
    return {"operationId": "model", "summary": "Model version, window, features, "
                                               "threshold, bands, test metrics",
            "security": security,
            "responses": {
                "200": _json("model description", {
                    "type": "object",
                    "required": ["version", "threshold", "bands", "features"],
                    "properties": {
                        "version": {"type": "string"},
                        "threshold": {"type": "number"},
                        "bands": {"type": "array", "items": {
                            "type": "object", "required": ["name", "upper_pd", "pd_above", "pd_up_to",
                                                           "points_from", "points_to"],
                            "properties": {"name": {"type": "string"},
                                           "upper_pd": {"type": "number"},
                                           "pd_above": {"type": "number"},
                                           "pd_up_to": {"type": ["number", "null"]},
                                           "points_from": {"type": ["number", "null"]},
                                           "points_to": {"type": ["number", "null"]}}}},
                        "scorecard": {"type": ["object", "null"], "description": "points = offset - factor * "
                                      "ln(PD / (1 - PD)); points0 points at good:bad odds0, pdo points double "
                                      "the odds"},
                        "reasons": {"type": "object", "description": "top_k, the reference applicant and "
                                    "whether this model gives reasons"},
                        "features": {"type": "array", "items": {"type": "string"}},
                        "training_window": {},
                        "test_window": {},
                        "test_metrics": {},
                        **SERVING_PROPERTIES,
                        "model_card": {"type": "object"},
                    }}),
                "401": _error("token configured and missing or wrong"),
                "503": _error("model not ready")}}


def openapi_document(max_rows: int, max_body_mb: float, max_errors: int,
                     token_required: bool) -> dict[str, Any]:
    security = [{"bearer": []}] if token_required else []
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Credit-risk scoring API",
            "version": creditrisk.__version__,
            "description": "Scores loan applications in batches: probability of default (PD), "
                           "risk band, scorecard points, decision at the model's threshold, and the "
                           "principal reasons behind each PD.",
        },
        "paths": {
            "/predict": {"post": _predict_operation(max_rows, max_body_mb, max_errors, security)},
            "/health": {"get": {"operationId": "health", "summary": "The process is alive",
                                "responses": {"200": _json("alive", {
                                    "type": "object", "required": ["status"],
                                    "properties": {"status": {"const": "ok"}}})}}},
            "/ready": {"get": _ready_operation()},
            "/model": {"get": _model_operation(security)},
            "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics, all workers",
                                 "responses": {"200": {"description": "Prometheus text format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                                      "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})}}},
        },
        "components": {
            "schemas": {"Record": record_schema(), "ScoringResult": _scoring_result_schema(),
                        "Error": _error_schema()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
