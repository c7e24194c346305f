"""Every error is a JSON body: {status, error, message, errors[], error_count, request_id}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g
from werkzeug.exceptions import HTTPException

from app.responses import json_response
from creditrisk.serving.scoring import RequestError, RowError

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
    503: "model_not_ready",
}


class ApiError(RequestError):
    """A request the API refuses before or besides the data contract (auth, readiness, media type)."""

    def __init__(self, status: int, code: str, message: str, errors: list[RowError] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(status, code, message, errors or [])
        self.headers = headers or {}
        self.extra = extra


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
    metrics = current_app.extensions["creditrisk"].metrics
    metrics.errors.labels(status=str(status), code=code).inc()
    response = json_response(error_body(status, code, message, errors, error_count, **extra), status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RequestError)
    def request_error(error: RequestError) -> Response:
        if isinstance(error, ApiError):
            return error_response(error.status, error.code, error.message, error.errors,
                                  error.error_count, error.headers, **error.extra)
        return error_response(error.status, error.code, error.message, error.errors, error.error_count)

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
