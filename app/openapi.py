"""The OpenAPI 3.1 description of the API, built from the data contract so the two cannot drift."""

from __future__ import annotations

from typing import Any

import creditrisk
from creditrisk.data.contract import required_columns, COLUMNS, ColumnSpec
from creditrisk.serving.scoring import ID_COLUMN

SCALAR = {"type": ["string", "number", "integer", "null"]}


def _column_schema(spec: ColumnSpec) -> dict[str, Any]:
    """Which JSON values a column takes. Text is always allowed (the export is text);
    the contract decides what it means, so a bad value is a 400 or a warning, not a type error."""
    if spec.kind in ("numeric", "integer", "target"):
        types = ["number", "string"]
    elif spec.kind == "category":
        types = ["string", "integer", "number"]
    else:
        types = ["string"]
    schema: dict[str, Any] = {"type": types + ["null"], "description": spec.description}
    rules = []
    if spec.minimum is not None:
        rules.append(f"{'>=' if spec.minimum_inclusive else '>'} {spec.minimum:g}")
    if spec.maximum is not None:
        rules.append(f"<= {spec.maximum:g}")
    if spec.categories and not spec.open_categories:
        rules.append("one of " + ", ".join(spec.categories))
    if rules:
        schema["description"] += " (" + "; ".join(rules) + ")"
    if not spec.nullable:
        schema["description"] += ". Required: a missing or invalid value rejects the batch (400)"
    elif spec.role == "feature":
        schema["description"] += ". An invalid value is treated as missing and reported in `warnings`"
    return schema


def record_schema() -> dict[str, Any]:
    properties = {spec.name: _column_schema(spec) for spec in COLUMNS}
    properties["fecha_prestamo"]["description"] += (
        "; optional when scoring: absent or empty means the request time (UTC)")
    properties[ID_COLUMN] = {**SCALAR, "description": "caller's row id, echoed in the result"}
    return {
        "type": "object",
        "description": "One loan application; column names as in the lender's export. "
                       "Unknown columns are ignored and listed in `ignored_columns`.",
        "required": required_columns("scoring"),
        "properties": properties,
        "additionalProperties": True,
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
    prediction = {
        "type": "object",
        "required": ["row", "id", "pd", "band", "decision", "warnings"],
        "properties": {
            "row": {"type": "integer", "minimum": 0},
            "id": {**SCALAR, "description": "the caller's id, or the row position when none was sent"},
            "pd": {"type": "number", "minimum": 0, "maximum": 1,
                   "description": "probability of default, P(Pago_atiempo = 0)"},
            "band": {"type": "string"},
            "decision": {"type": "string", "enum": ["approve", "reject"]},
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


def _predict_operation(max_rows: int, max_body_mb: float, max_errors: int,
                       security: list[dict[str, list[str]]]) -> dict[str, Any]:
    record = {"$ref": "#/components/schemas/Record"}
    predict_errors = {
        "400": _error(f"malformed body, or contract violations (at most {max_errors} listed)"),
        "401": _error("token configured and missing or wrong"),
        "413": _error(f"body over {max_body_mb:g} MB or more than {max_rows} rows"),
        "415": _error("Content-Type is neither application/json nor text/csv"),
        "503": _error("model missing or failed verification (`model_not_ready`), or the prediction log cannot "
                      "record the batch (`prediction_log_unavailable`, with `reason` and Retry-After): nothing "
                      "is answered that is not logged"),
    }
    return {
        "operationId": "predict",
        "summary": "Score a batch of loan applications",
        "security": security,
        "parameters": [{"name": "day_first", "in": "query", "required": False,
                        "description": "order of slash dates (dd/mm vs mm/dd); "
                                       "detected per request when absent",
                        "schema": {"type": "boolean"}}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"oneOf": [
                {"type": "array", "items": record},
                {"type": "object", "required": ["records"],
                 "properties": {"records": {"type": "array", "items": record}}},
                {"type": "object", "required": ["columns", "data"], "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                    "data": {"type": "array", "items": {"type": "array", "items": SCALAR}}}},
            ]}},
            "text/csv": {"schema": {"type": "string",
                                    "description": "header row + rows, as the export"}},
        }},
        "responses": {
            "200": {"description": "one result per input row, in input order",
                    "headers": {"X-Request-Id": {"schema": {"type": "string"}},
                                "X-Model-Version": {"schema": {"type": "string"}},
                                "Server-Timing": {"schema": {"type": "string"}}},
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ScoringResult"}},
                        "text/csv": {"schema": {"type": "string", "description":
                                     "row,id,pd,band,decision,warnings (Accept: text/csv)"}}}},
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
                            "type": "object", "required": ["name", "upper_pd"],
                            "properties": {"name": {"type": "string"},
                                           "upper_pd": {"type": "number"}}}},
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
                           "risk band and decision at the model's threshold.",
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
