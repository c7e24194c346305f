"""Every error is a JSON body: {status, error, message, errors[], error_count, request_id}, or under
`/v2` the Open Inference Protocol's {"error": "..."}, whose text names the same rows, fields and rules.

The only place that knows HTTP statuses: the library raises domain errors (`BatchError` and its
kinds), this module maps each kind to a status, and the app's own refusals (auth, readiness, media
type, query) are `ApiError`s that carry theirs.
"""

from __future__ import annotations

import logging
from typing import Any

from dataclasses import replace

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from app.responses import json_response
from app.state import state
from creditrisk.serving.predlog import PredictionLogUnavailable
from creditrisk.serving.scoring import (
    BatchError, InvalidValues, MalformedBatch, OversizedBatch, ReasonsUnavailable, RowError,
)

logger = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    501: "not_implemented",
    503: "model_not_ready",
}


# The HTTP status of each kind of batch the library refuses (the most specific kind wins).
BATCH_STATUS: dict[type[BatchError], int] = {
    MalformedBatch: 400,
    InvalidValues: 400,
    OversizedBatch: 413,
    ReasonsUnavailable: 501,
    BatchError: 400,
}
OPEN_INFERENCE_PREFIX = "/v2"


class ApiError(Exception):
    """A request the API refuses before or besides the data contract (auth, readiness, media type)."""

    def __init__(self, status: int, code: str, message: str, errors: list[RowError] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra


def batch_status(error: BatchError) -> int:
    return next(BATCH_STATUS[kind] for kind in type(error).__mro__ if kind in BATCH_STATUS)


def speaks_open_inference() -> bool:
    """The request is one of the Open Inference Protocol's (its errors take the protocol's shape)."""
    return request.path == OPEN_INFERENCE_PREFIX or request.path.startswith(OPEN_INFERENCE_PREFIX + "/")


def describe_row_error(error: RowError) -> str:
    """One broken rule in words: row, field, value and rule, and what the rule says."""
    parts = [f"row {error.row}"] if error.row is not None else []
    if error.field is not None:
        parts.append(f"field {error.field}")
    if error.value is not None:
        parts.append(f"value {error.value!r}")
    parts.append(f"rule {error.rule}")
    return ", ".join(parts) + (f" ({error.message})" if error.message else "")


def open_inference_error_text(message: str, errors: list[RowError], error_count: int) -> str:
    """The protocol's error message: the message, then each broken rule (those listed, and how many more)."""
    described = [describe_row_error(replace(error, message="") if error.message == message else error)
                 for error in errors]
    more = error_count - len(errors)
    return message + (": " + "; ".join(described) if described else "") + (f"; and {more} more" if more > 0 else "")


def error_body(status: int, code: str, message: str, errors: list[RowError] | None = None,
               error_count: int | None = None, **extra: Any) -> dict[str, Any]:
    errors = errors or []
    return {
        "status": status,
        "error": code,
        "message": message,
        "errors": [error.as_dict() for error in errors],
        "error_count": len(errors) if error_count is None else error_count,
        "request_id": getattr(g, "request_id", None),
        **extra,
    }


def error_response(status: int, code: str, message: str, errors: list[RowError] | None = None,
                   error_count: int | None = None, headers: dict[str, str] | None = None,
                   **extra: Any) -> Response:
    metrics = state().metrics
    metrics.errors.labels(status=str(status), code=code).inc()
    if speaks_open_inference():
        errors = errors or []
        text = open_inference_error_text(message, errors, len(errors) if error_count is None else error_count)
        response = json_response({"error": text}, status)
    else:
        response = json_response(error_body(status, code, message, errors, error_count, **extra), status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BatchError)
    def batch_error(error: BatchError) -> Response:
        return error_response(batch_status(error), error.code, error.message, error.errors, error.error_count)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.errors, None, error.headers,
                              **error.extra)

    @app.errorhandler(PredictionLogUnavailable)
    def log_unavailable(error: PredictionLogUnavailable) -> Response:
        """Nothing is answered that could not be logged: the caller may retry once the log is back."""
        logger.error("prediction log unavailable for request %s: %s", getattr(g, "request_id", None), error)
        return error_response(503, "prediction_log_unavailable",
                              f"{error}; the batch was not answered, retry once the log is back",
                              headers={"Retry-After": "5"}, reason=error.reason)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        headers: dict[str, str] = {}
        valid_methods = getattr(error, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        return error_response(status, HTTP_CODES.get(status, "http_error"),
                              error.description or error.name, headers=headers)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("unexpected error while handling a request")
        return error_response(500, "internal_error",
                              "the server failed to handle the request; it has been logged")
