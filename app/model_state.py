"""Loading the model once per process, and remembering why it is not ready when it fails."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.config import ApiConfig
from creditrisk.modeling.bundle import load_bundle, verify_artifact, ArtifactError, ModelBundle
from creditrisk.serving.scoring import batch_scorer, BatchScorer

logger = logging.getLogger(__name__)


@dataclass
class ModelState:
    bundle: ModelBundle | None
    reason: str | None = None
    verified: str | None = None
    card: dict[str, Any] = field(default_factory=dict)
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    scorer: BatchScorer | None = None

    @property
    def ready(self) -> bool:
        return self.bundle is not None


def read_model_card(config: ApiConfig) -> dict[str, Any]:
    path = config.model_card_path
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        logger.warning("model card %s is unreadable: %s", path, error)
        return {}
    return card if isinstance(card, dict) else {}


def load_model_state(config: ApiConfig) -> ModelState:
    """Verify and load the model; any failure leaves the app up but not ready, with the reason."""
    try:
        verified = verify_artifact(config.model_path, config.dvc_lock)
        bundle = load_bundle(config.model_path, config.dvc_lock)
    except ArtifactError as error:
        logger.error("model not loaded: %s", error)
        return ModelState(bundle=None, reason=str(error))
    except Exception as error:  # a broken file must not crash-loop the workers
        logger.exception("model not loaded")
        return ModelState(bundle=None, reason=f"model file {config.model_path} could not be loaded: "
                                              f"{type(error).__name__}: {error}")
    scorer = batch_scorer(bundle, config.numpy_path)
    logger.info("model %s loaded from %s (%s); scoring through the %s", bundle.version, config.model_path,
                verified, scorer.route)
    return ModelState(bundle=bundle, verified=verified, card=read_model_card(config), scorer=scorer)
