"""The endpoints. Each one parses, calls creditrisk, and answers; no scoring logic here."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, g, request

from app.challenger import shadow_score
from app.config import ApiConfig
from app.errors import ApiError
from app.model_state import ModelState
from app.openapi import openapi_document
from app.openapi_v2 import open_inference_paths
from app.responses import json_response
from app.state import state
from creditrisk.modeling.reasons import LANGUAGES as REASON_LANGUAGES
from creditrisk.serving import predlog
from creditrisk.serving.scoring import (
    check_row_limit,
    parse_csv_body,
    parse_json_body,
    prediction_records,
    predictions_csv,
    validate_batch,
    BatchError,
    BatchScorer,
    RowError,
    ScoredBatch,
    ValidatedBatch,
)

logger = logging.getLogger(__name__)
api = Blueprint("api", __name__)

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv")


@contextmanager
def timed(stage: str, timings: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        timings[stage] = elapsed
        state().metrics.stage.labels(stage=stage).observe(elapsed)


def require_token(config: ApiConfig) -> None:
    if config.api_token is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                             config.api_token.encode()):
        raise ApiError(401, "unauthorized",
                       "this API needs 'Authorization: Bearer <token>' with the configured token",
                       headers={"WWW-Authenticate": 'Bearer realm="creditrisk"'})


def require_model() -> ModelState:
    model = state().model
    if not model.ready:
        raise ApiError(503, "model_not_ready", f"the model is not available: {model.reason}",
                       reason=model.reason, ready=False)
    return model


def boolean_argument(name: str) -> bool | None:
    """A true/false query parameter (None when absent; present but empty is no answer either way)."""
    text = request.args.get(name)
    if text is None:
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ApiError(400, "invalid_query", f"{name}={text!r} must be true or false")


def day_first_argument() -> bool | None:
    return boolean_argument("day_first")


def reasons_argument(scorer: BatchScorer) -> bool:
    """?reasons=false skips the principal reasons (faster); by default they come whenever the model has
    an explainer, and ?reasons=true insists (501 without one)."""
    wanted = boolean_argument("reasons")
    return scorer.explainer is not None if wanted is None else wanted


def language_argument() -> str:
    language = request.args.get("lang", "en")
    if language not in REASON_LANGUAGES:
        raise ApiError(400, "invalid_query", f"lang={language!r} must be one of {list(REASON_LANGUAGES)}")
    return language


def wants_csv() -> bool:
    accept = request.accept_mimetypes
    return accept["text/csv"] > accept["application/json"] and accept["text/csv"] > 0


def parse_body(mimetype: str) -> Any:
    if mimetype not in JSON_TYPES + CSV_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type {mimetype or '(none)'!r} is not accepted; "
                       "send application/json or text/csv")
    body = request.get_data(cache=False)
    return parse_json_body(body) if mimetype in JSON_TYPES else parse_csv_body(body)


def write_prediction_log(batch: ValidatedBatch, scored: ScoredBatch, model_version: str,
                         challenger: predlog.ChallengerScores | None = None) -> bool:
    """Append the batch (and the shadow challenger's answer beside it) to the log and return once it is
    committed (False: no log configured).

    A log that cannot take the batch raises `PredictionLogUnavailable` (503): the API never answers
    a scored batch it could not log.
    """
    api_state = state()
    if api_state.log is None:
        return False
    entry = predlog.log_entry(batch.frame, g.request_id, model_version, scored.pds, scored.bands,
                              scored.decisions, points=scored.points, reason_codes=scored.reason_codes,
                              challenger=challenger)
    try:
        api_state.log.append(entry)
    except predlog.PredictionLogUnavailable:
        api_state.metrics.log_failures.inc()
        raise
    api_state.metrics.log_rows.inc(len(batch))
    return True


def record_metrics(batch: ValidatedBatch, scored: ScoredBatch) -> None:
    metrics = state().metrics
    metrics.rows_scored.inc(len(batch))
    metrics.observe_pds(scored.pds)
    metrics.count_decisions(scored.bands, scored.decisions)
    for column, rules in batch.nulled.items():
        for rule, count in rules.items():
            metrics.values_nulled.labels(field=column, rule=rule).inc(count)


@dataclass
class ScoredRequest:
    """What the one scoring path made of a request's rows: the validated batch, its scores, whether the
    log holds them, and each step's seconds (the Server-Timing header)."""

    batch: ValidatedBatch
    scored: ScoredBatch
    logged: bool
    timings: dict[str, float]


def score_request(raw: Any, model: ModelState, day_first: bool | None, reasons: bool, language: str,
                  timings: dict[str, float]) -> ScoredRequest:
    """The one path from a request's parsed rows to its answer, for every route that scores (`/predict`
    and the Open Inference Protocol's infer): the row limit, the data contract, the model, the principal
    reasons, the shadow challenger (after the champion's answer is complete; never in it), the prediction
    log and the metrics."""
    config = state().config
    scorer, model_version = model.scorer, model.version
    assert scorer is not None
    check_row_limit(raw, config.max_rows)
    with timed("validate", timings):
        batch = validate_contract(raw, config, day_first)
    with timed("predict", timings):
        scored = scorer.score(batch)
    if reasons:
        with timed("reasons", timings):
            scorer.explain(batch, scored, language)
    challenger = state().challenger
    shadow = None
    if challenger.ready:
        with timed("challenger", timings):
            shadow = shadow_score(challenger, batch, scored, state().metrics, g.request_id)
    with timed("log", timings):
        logged = write_prediction_log(batch, scored, model_version, shadow)
    with timed("metrics", timings):
        record_metrics(batch, scored)
    return ScoredRequest(batch, scored, logged, timings)


def scoring_headers(response: Response, outcome: ScoredRequest, version: str) -> Response:
    """The headers of every scored answer: model version, whether it is logged, ignored columns, timings."""
    response.headers["X-Model-Version"] = version
    response.headers["X-Prediction-Logged"] = str(outcome.logged).lower()
    if outcome.batch.unknown_columns:
        response.headers["X-Ignored-Columns"] = ",".join(quote(name, safe="")
                                                         for name in outcome.batch.unknown_columns)
    response.headers["Server-Timing"] = ", ".join(
        f"{stage};dur={seconds * 1000:.3f}" for stage, seconds in outcome.timings.items())
    return response


@api.post("/predict")
def predict() -> Response:
    require_token(state().config)
    model = require_model()
    bundle, scorer = model.bundle, model.scorer
    assert bundle is not None and scorer is not None
    day_first = day_first_argument()
    reasons, language = reasons_argument(scorer), language_argument()
    timings: dict[str, float] = {}
    with timed("parse", timings):
        raw = parse_body(request.mimetype)
    outcome = score_request(raw, model, day_first, reasons, language, timings)
    with timed("respond", timings):
        response = scoring_response(outcome.batch, outcome.scored, bundle.version, bundle.threshold,
                                    outcome.logged)
    return scoring_headers(response, outcome, bundle.version)


def validate_contract(raw: Any, config: ApiConfig, day_first: bool | None) -> ValidatedBatch:
    """The contract on the batch. A value the contract code itself chokes on is still the
    caller's input: answer 400 naming the failure, and log the traceback as a contract bug."""
    try:
        return validate_batch(raw, config.max_errors, day_first, datetime.now(UTC))
    except BatchError:
        raise
    except Exception as error:
        logger.exception("the data contract failed on request %s", g.request_id)
        raise ApiError(400, "unreadable_values",
                       f"the data contract could not read this batch: {type(error).__name__}: {error}",
                       [RowError(None, None, None, "unreadable_values", str(error))]) from None


def scoring_response(batch: ValidatedBatch, scored: ScoredBatch, version: str, threshold: float,
                     logged: bool) -> Response:
    if wants_csv():
        return Response(predictions_csv(batch, scored), mimetype="text/csv")
    return json_response({
        "request_id": g.request_id,
        "model_version": version,
        "threshold": threshold,
        "rows": len(batch),
        "rows_with_warnings": len(batch.warnings),
        "ignored_columns": batch.unknown_columns,
        "prediction_logged": logged,
        "predictions": prediction_records(batch, scored),
    })


@api.get("/health")
def health() -> Response:
    return json_response({"status": "ok"})


def serving_identity(model: ModelState) -> dict[str, Any]:
    """What serves (`/ready` and `/model`): the stage (None by path), the md5 and the source in words, and whether
    it is stale: the file or the stage's assignment changed since it was loaded (the model still serves: a
    graceful reload, SIGHUP to gunicorn, picks the new one up)."""
    source = model.source
    return {"stage": source.stage if source else None, "md5": source.md5 if source else None,
            "source": source.origin if source else None, **model.freshness().as_dict()}


@api.get("/ready")
def ready() -> Response:
    model = require_model()
    assert model.bundle is not None
    return json_response({"ready": True, "model_version": model.bundle.version, **serving_identity(model),
                          "verified": model.verified, "loaded_at": model.loaded_at,
                          "challenger": state().challenger.status()})


@api.get("/model")
def model_info() -> Response:
    require_token(state().config)
    model = require_model()
    bundle = model.bundle
    assert bundle is not None
    card = model.card
    metadata = bundle.metadata
    window = card.get("data_window") or metadata.get("data_window")
    split = isinstance(window, dict) and "train" in window
    return json_response({
        "version": bundle.version,
        "threshold": bundle.threshold,
        "bands": [{"name": band.name, "upper_pd": band.upper_pd, **band_range}
                  for band, band_range in zip(bundle.bands, bundle.band_ranges(), strict=True)],
        "scorecard": bundle.metadata.get("scorecard"),
        "reasons": {key: value for key, value in (bundle.metadata.get("reasons") or {}).items()}
                   | {"available": model.scorer is not None and model.scorer.explainer is not None},
        "features": bundle.features,
        "training_window": window["train"] if split else window,
        "test_window": window.get("test") if split else None,
        "test_metrics": card.get("test_metrics") or metadata.get("test_metrics"),
        **serving_identity(model),
        "verified": model.verified,
        "loaded_at": model.loaded_at,
        "metadata": metadata,
        "model_card": card,
    })


@api.get("/metrics")
def metrics() -> Response:
    body, content_type = state().metrics.render()
    return Response(body, content_type=content_type)


@api.get("/openapi.json")
def openapi() -> Response:
    return json_response(state().spec)


def build_spec(config: ApiConfig, model: ModelState) -> dict[str, Any]:
    """The OpenAPI document: `/predict` and its neighbours, and the Open Inference Protocol's routes."""
    document = openapi_document(max_rows=config.max_rows, max_body_mb=config.max_body_mb,
                                max_errors=config.max_errors, token_required=config.api_token is not None)
    document["paths"].update(open_inference_paths(
        model.name, model.version if model.ready else None, model.outputs, config.max_rows, config.max_body_mb,
        [{"bearer": []}] if config.api_token is not None else []))
    return document
