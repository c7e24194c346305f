"""API settings from environment variables (names and defaults in docs/interfaces.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from creditrisk.serving.predlog import is_database_url


class ConfigError(ValueError):
    """An environment variable holds a value the API cannot use."""


@dataclass(frozen=True)
class ApiConfig:
    model_path: Path = Path("models/model.skops")
    dvc_lock: Path = Path("dvc.lock")
    model_stage: str | None = None  # serve the version this registry stage holds (wins over model_path)
    repo_dir: Path = Path(".")  # the repository whose record, git history and DVC cache serve a stage
    model_cache: Path = Path("models/registry")  # where a stage's model file is kept once fetched and verified
    prediction_log: Path | str | None = Path("data/monitoring/predictions.sqlite")  # str: a postgresql:// URL
    max_rows: int = 50_000
    max_body_mb: float = 32.0
    max_errors: int = 50
    api_token: str | None = None
    log_busy_timeout_ms: int = 10_000
    numpy_path: bool = True  # score through the verified numpy path (False: the sklearn pipeline only)
    challenger: str | None = None  # the shadow challenger's model (app/challenger.py `resolve`); None: no challenger

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def model_setting(self) -> str | Path:
        """What `resolve_model` serves: the stage when one is set, else the path."""
        return self.model_stage if self.model_stage else self.model_path


def _positive_number(environ: Mapping[str, str], name: str, default: float, kind: type) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} must be a {kind.__name__}") from None
    if value <= 0:
        raise ConfigError(f"environment variable {name}={text!r} must be > 0")
    return value


def config_from_env(environ: Mapping[str, str] | None = None) -> ApiConfig:
    """Read CREDITRISK_* variables; an empty CREDITRISK_PREDICTION_LOG turns the log off, and a
    postgresql:// URL there logs to PostgreSQL instead of an SQLite file."""
    environ = os.environ if environ is None else environ
    log_setting = environ.get("CREDITRISK_PREDICTION_LOG")
    prediction_log: Path | str | None
    if log_setting is None:
        prediction_log = ApiConfig.prediction_log
    elif not log_setting.strip():
        prediction_log = None
    else:
        prediction_log = log_setting.strip() if is_database_url(log_setting.strip()) else Path(log_setting)
    return ApiConfig(
        model_path=Path(environ.get("CREDITRISK_MODEL_PATH") or ApiConfig.model_path),
        dvc_lock=Path(environ.get("CREDITRISK_DVC_LOCK") or ApiConfig.dvc_lock),
        model_stage=environ.get("CREDITRISK_MODEL_STAGE", "").strip() or None,
        repo_dir=Path(environ.get("CREDITRISK_REPO_DIR") or ApiConfig.repo_dir),
        model_cache=Path(environ.get("CREDITRISK_MODEL_CACHE") or ApiConfig.model_cache),
        prediction_log=prediction_log,
        max_rows=int(_positive_number(environ, "CREDITRISK_MAX_ROWS", ApiConfig.max_rows, int)),
        max_body_mb=float(_positive_number(environ, "CREDITRISK_MAX_BODY_MB", ApiConfig.max_body_mb, float)),
        max_errors=int(_positive_number(environ, "CREDITRISK_MAX_ERRORS", ApiConfig.max_errors, int)),
        api_token=environ.get("CREDITRISK_API_TOKEN") or None,
        log_busy_timeout_ms=int(_positive_number(
            environ, "CREDITRISK_LOG_BUSY_TIMEOUT_MS", ApiConfig.log_busy_timeout_ms, int)),
        challenger=environ.get("CREDITRISK_CHALLENGER", "").strip() or None,
    )
