"""The OpenAPI 3.1 description of the API, built from the data contract so the two cannot drift."""

from __future__ import annotations

from typing import Any

import creditrisk
from creditrisk.data.contract import required_columns, COLUMNS, ColumnSpec
from creditrisk.serving.scoring import ID_COLUMN

# JSON numbers are read as 64-bit floats and integers as 64-bit ints: beyond 2**53 - 1 neither is exact, and
# a column without a contract bound is documented with this one.
JSON_SAFE_INTEGER = 2**53 - 1
SCALAR = {"type": ["string", "number", "boolean", "null"], "minimum": -JSON_SAFE_INTEGER,
          "maximum": JSON_SAFE_INTEGER}
# Column names as an export has them (other names may clash with these once trimmed or lower-cased).
COLUMN_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
# ISO 8601 date and time, years 1900-2099 (days to 28 in the pattern, so that every matching text is a date).
LOAN_DATE_PATTERN = (r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                     r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?$")


def _number_schema(spec: ColumnSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if spec.kind == "integer" else "number"}
    if spec.minimum is None:
        schema["minimum"] = -JSON_SAFE_INTEGER
    elif spec.minimum_inclusive:
        schema["minimum"] = spec.minimum
    else:
        schema["exclusiveMinimum"] = spec.minimum
    schema["maximum"] = JSON_SAFE_INTEGER if spec.maximum is None else spec.maximum
    return schema


def _value_schema(spec: ColumnSpec) -> dict[str, Any]:
    """The canonical JSON values of a column, from the contract: numbers with their range, integers,
    closed category sets as enums, the loan date as ISO text."""
    if spec.kind in ("numeric", "integer"):
        return _number_schema(spec)
    if spec.kind == "target":
        return {"type": "integer", "enum": [0, 1]}
    if spec.kind == "datetime":
        return {"type": "string", "pattern": LOAN_DATE_PATTERN}
    if spec.categories and not spec.open_categories:
        return {"type": "string", "enum": list(spec.categories)}
    if spec.categories and all(code.isdigit() for code in spec.categories):  # product codes: 4 or "4"
        return {"type": ["string", "integer"], "minimum": -JSON_SAFE_INTEGER, "maximum": JSON_SAFE_INTEGER}
    return {"type": "string"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "enum" in schema:
        return {**schema, "type": [*types, "null"], "enum": [*schema["enum"], None]}
    return {**schema, "type": [*types, "null"]}


def _column_schema(spec: ColumnSpec) -> dict[str, Any]:
    """A column as the contract states it: required and non-null where a value is required (the loan
    date may be left out or null when scoring: then it is the request time), nullable elsewhere. The
    API also reads numbers sent as text ("1.234,5"), but this document states the canonical form."""
    schema = _value_schema(spec)
    if spec.nullable or spec.kind == "datetime" or spec.role in ("leak", "target"):
        schema = _nullable(schema)
    description = spec.description
    if spec.categories and spec.open_categories:
        description += " (known codes: " + ", ".join(spec.categories) + "; an unseen code is scored as unknown)"
    if spec.placeholder_range is not None:
        low, high = spec.placeholder_range
        description += f"; {low:g} to {high:g} is a placeholder, treated as missing"
    if not spec.nullable and spec.kind != "datetime":
        description += ". Required: a missing or invalid value rejects the batch (400)"
    elif spec.role == "feature":
        description += (". A value outside the range or set is treated as missing and reported in `warnings`")
    elif spec.role == "target":
        description += ". Not used when scoring"
    elif spec.role == "leak":
        description += ". Computed after the outcome: never used by the model"
    return {**schema, "description": description}


def record_schema() -> dict[str, Any]:
    properties = {spec.name: _column_schema(spec) for spec in COLUMNS}
    properties["fecha_prestamo"]["description"] += (
        "; optional when scoring: absent, null or empty means the request time (UTC)")
    properties[ID_COLUMN] = {**SCALAR, "type": ["string", "number", "null"],
                             "description": "caller's row id, echoed in the result"}
    return {
        "type": "object",
        "description": "One loan application; column names as in the lender's export. "
                       "Other columns are ignored and listed in `ignored_columns`.",
        "required": required_columns("scoring"),
        "properties": properties,
        "propertyNames": {"pattern": COLUMN_NAME_PATTERN},
        "additionalProperties": SCALAR,
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


COLUMNAR_NOTE = ("A batch is a JSON array of records, an object {\"records\": [...]}, or CSV. For speed the API "
                 "also reads a columnar object {\"columns\": [names], \"data\": [[row values], ...]} whose "
                 "rows hold the same values as records; JSON Schema cannot tie a value to its column's position, "
                 "so that form is described here rather than in the schema.")


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
                {"type": "object", "required": ["records"], "properties": {"records": batch},
                 "additionalProperties": False},
            ]}},
            "text/csv": {"schema": {**batch, "description": "the same records as CSV, as the export writes "
                                    "them: a header row of column names, then one line per record"}},
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


def _ready_operation() -> dict[str, Any]:
    return {"operationId": "ready", "summary": "The model is loaded and verified",
            "responses": {
                "200": _json("ready", {
                    "type": "object", "required": ["ready", "model_version"],
                    "properties": {"ready": {"const": True},
                                   "model_version": {"type": "string"},
                                   "verified": {"type": ["string", "null"]},
                                   "loaded_at": {"type": "string"}}}),
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
