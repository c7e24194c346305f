"""Loading the model once per process, and remembering why it is not ready when it fails."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.config import ApiConfig
from creditrisk.releases import MODEL_NAME
from creditrisk.modeling.bundle import load_bundle, verify_artifact, ArtifactError, ModelBundle
from creditrisk.serving.open_inference import available_outputs
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

    @property
    def name(self) -> str:
        """The served model's name: its registry name."""
        return MODEL_NAME

    @property
    def version(self) -> str:
        """The served version: the bundle's (the Open Inference Protocol's model version too)."""
        assert self.bundle is not None
        return self.bundle.version

    @property
    def outputs(self) -> list[str]:
        """What the model gives per row (the Open Inference Protocol's outputs): points with a scorecard
        scale, reasons with an explainer; all of them, as a description, while no model is loaded."""
        if self.bundle is None or self.scorer is None:
            return available_outputs(points=True, reasons=True)
        return available_outputs(points=self.bundle.points_scale is not None,
                                 reasons=self.scorer.explainer is not None)


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
