"""`create_app()`: the Flask app, its model (loaded once per process) and its metrics."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from app.challenger import load_challenger
from app.config import ApiConfig, config_from_env
from app.errors import register_error_handlers
from app.metrics import ApiMetrics
from app.open_inference import v2
from app.model_state import load_model_state
from app.routes import api, build_spec
from app.state import ApiState, EXTENSION
from creditrisk.serving.predlog import open_log

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def create_app(config: ApiConfig | None = None) -> Flask:
    """Build the app. The model is loaded here, once: under gunicorn's preload_app in the
    master before the workers fork; scoring happens only in the workers."""
    config = config or config_from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    metrics = ApiMetrics()
    model = load_model_state(config)
    metrics.model_ready.set(1 if model.ready else 0)
    log = (open_log(config.prediction_log, config.log_busy_timeout_ms)
           if config.prediction_log is not None else None)
    challenger = load_challenger(config)
    if challenger.configured:
        metrics.challenger_ready.labels(challenger=challenger.setting).set(1 if challenger.ready else 0)
    app.extensions[EXTENSION] = ApiState(config=config, model=model, metrics=metrics, log=log,
                                            spec=build_spec(config, model), challenger=challenger)
    app.register_blueprint(api)
    app.register_blueprint(v2)
    register_error_handlers(app)
    _register_request_hooks(app, metrics)
    return app


def not_ready_reason(app: Flask) -> str | None:
    """Why the app's model is not ready, or None: a graceful reload (gunicorn.conf.py) swaps in only a ready app."""
    model = app.extensions[EXTENSION].model
    return None if model.ready else (model.reason or "the model is not loaded")


def serving_description(app: Flask) -> str:
    """The model an app serves, in words, for the reload's log line."""
    model = app.extensions[EXTENSION].model
    source = model.source
    return f"model {model.version} from {source.origin} (md5 {source.md5})" if source else f"model {model.version}"


def _register_request_hooks(app: Flask, metrics: ApiMetrics) -> None:
    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def finish_request(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = getattr(g, "started", None)
        if started is not None:
            metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        metrics.model_ready.set(1 if app.extensions[EXTENSION].model.ready else 0)
        metrics.requests.labels(endpoint=endpoint, method=request.method,
                                status=str(response.status_code)).inc()
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        return response
