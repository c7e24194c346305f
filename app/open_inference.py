"""The Open Inference Protocol (KServe V2) REST routes, beside `/predict` and on its path.

Health, server and model metadata, model readiness, and inference. An inference request is parsed by
`creditrisk.serving.open_inference` and scored by `score_request`, the path `/predict` takes: the same
token check, data contract, prediction log and metrics. Errors are `{"error": "..."}` (`app/errors.py`).
The model is served as its registry name, `credit-model`, at the bundle's version (`ModelState.name` and
`.version`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, request

import creditrisk
from app.errors import ApiError
from app.model_state import ModelState
from app.responses import json_response
from app.routes import require_model, require_token, score_request, scoring_headers, timed
from app.state import state
from creditrisk.serving.open_inference import (
    encode_inference_response,
    model_metadata,
    parse_inference_request,
    BINARY_EXTENSION,
)

v2 = Blueprint("v2", __name__, url_prefix="/v2")
SERVER_NAME = "creditrisk"
# Bodies an inference request may declare: JSON, JSON followed by binary tensor data, or nothing at all
# (tritonclient sends no Content-Type).
INFER_TYPES = ("application/json", "application/octet-stream", "")
# The binary tensor data extension's header: the length of the JSON that starts the body.
JSON_LENGTH_HEADER = "Inference-Header-Content-Length"


def served_model(model_name: str, model_version: str | None = None) -> ModelState:
    """The model a path names: 404 for another name or version, 503 while it is not ready."""
    served = state().model.name
    if model_name != served:
        raise ApiError(404, "model_not_found", f"no model named {model_name!r}: this server serves {served!r}")
    model = require_model()
    if model_version is not None and model_version != model.version:
        raise ApiError(404, "model_version_not_found", f"model {served!r} has no version {model_version!r}: "
                       f"this server serves version {model.version!r}")
    return model


@v2.get("/health/live")
def live() -> Response:
    return json_response({"live": True})


@v2.get("/health/ready")
def ready() -> Response:
    require_model()
    return json_response({"ready": True})


@v2.get("")
def server_metadata() -> Response:
    return json_response({"name": SERVER_NAME, "version": creditrisk.__version__, "extensions": [BINARY_EXTENSION]})


@v2.get("/models/<model_name>")
@v2.get("/models/<model_name>/versions/<model_version>")
def metadata(model_name: str, model_version: str | None = None) -> Response:
    require_token(state().config)
    model = served_model(model_name, model_version)
    return json_response(model_metadata(model.name, model.version, model.outputs))


@v2.get("/models/<model_name>/ready")
@v2.get("/models/<model_name>/versions/<model_version>/ready")
def model_ready(model_name: str, model_version: str | None = None) -> Response:
    model = served_model(model_name, model_version)
    return json_response({"name": model.name, "ready": True})


@v2.post("/models/<model_name>/infer")
@v2.post("/models/<model_name>/versions/<model_version>/infer")
def infer(model_name: str, model_version: str | None = None) -> Response:
    require_token(state().config)
    model = served_model(model_name, model_version)
    assert model.bundle is not None
    if request.mimetype not in INFER_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type {request.mimetype!r} is not accepted; send application/json")
    timings: dict[str, float] = {}
    with timed("parse", timings):
        inference = parse_inference_request(request.get_data(cache=False), model.outputs, json_length())
    outcome = score_request(inference.frame, model, inference.day_first, inference.reasons, inference.language,
                            timings)
    with timed("respond", timings):
        parameters: dict[str, Any] = {
            "request_id": g.request_id,
            "prediction_logged": outcome.logged,
            "threshold": model.bundle.threshold,
            "rows_with_warnings": len(outcome.batch.warnings),
            "ignored_columns": ",".join(quote(name, safe="") for name in outcome.batch.unknown_columns),
        }
        body, header_length = encode_inference_response(inference, outcome.batch, outcome.scored, model.name,
                                                        model.version, parameters)
        response = Response(body, mimetype="application/json" if header_length is None
                            else "application/octet-stream")
        if header_length is not None:
            response.headers[JSON_LENGTH_HEADER] = str(header_length)
    return scoring_headers(response, outcome, model.version)


def json_length() -> int | None:
    """Where the JSON ends when binary tensor data follows it (None: the body is all JSON)."""
    text = request.headers.get(JSON_LENGTH_HEADER)
    if text is None:
        return None
    if not text.strip().isdigit():
        raise ApiError(400, "invalid_header", f"{JSON_LENGTH_HEADER}: {text!r} must be a whole number of bytes")
    return int(text)
