"""What one app (one worker) holds, built once by `create_app` and read by the endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from app.challenger import ChallengerState
from app.config import ApiConfig
from app.metrics import ApiMetrics
from app.model_state import ModelState
from creditrisk.serving.predlog import LogWriter

EXTENSION = "creditrisk"


@dataclass
class ApiState:
    """Settings, model, metrics, prediction log, the OpenAPI document and the shadow challenger of one app."""

    config: ApiConfig
    model: ModelState
    metrics: ApiMetrics
    log: LogWriter | None
    spec: dict[str, Any] = field(default_factory=dict)
    challenger: ChallengerState = field(default_factory=lambda: ChallengerState(None))


def state() -> ApiState:
    """The state of the app handling the current request."""
    return current_app.extensions[EXTENSION]
