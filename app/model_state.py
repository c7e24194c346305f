"""Loading the model once per process, and remembering why it is not ready when it fails."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.config import ApiConfig
from creditrisk.releases import MODEL_NAME
from creditrisk.modeling.bundle import ArtifactError, ModelBundle
from creditrisk.serving.model_source import (
    load_source,
    path_source,
    stage_source,
    Freshness,
    FreshnessProbe,
    ModelSource,
)
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
    source: ModelSource | None = None  # the verified file that serves: its md5, and its stage and version by stage
    probe: FreshnessProbe | None = None

    def freshness(self) -> Freshness:
        """Whether what serves is still what would load now (`/ready`'s `stale`)."""
        return self.probe.check() if self.probe is not None else Freshness(False)

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


def read_model_card(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        logger.warning("model card %s is unreadable: %s", path, error)
        return {}
    return card if isinstance(card, dict) else {}


def resolve_configured_model(config: ApiConfig) -> ModelSource:
    """The verified local file the configuration names: the stage's version when a stage is set, else the path."""
    if config.model_stage:
        return stage_source(config.model_stage, config.repo_dir, config.model_cache)
    return path_source(config.model_path, config.dvc_lock)


def load_model_state(config: ApiConfig) -> ModelState:
    """Verify and load the model; any failure leaves the app up but not ready, with the reason."""
    setting = config.model_setting
    try:
        source = resolve_configured_model(config)
        bundle = load_source(source)
    except ArtifactError as error:
        logger.error("model not loaded: %s", error)
        return ModelState(bundle=None, reason=str(error))
    except Exception as error:  # a broken file must not crash-loop the workers
        logger.exception("model not loaded")
        return ModelState(bundle=None, reason=f"model {setting} could not be loaded: "
                                              f"{type(error).__name__}: {error}")
    scorer = batch_scorer(bundle, config.numpy_path)
    logger.info("model %s loaded from %s (%s, md5 %s); scoring through the %s", bundle.version, source.origin,
                source.verified, source.md5, scorer.route)
    probe = FreshnessProbe(source, config.repo_dir)
    probe.check()  # read what it compares once here, before the workers fork: their first /ready is then cheap
    return ModelState(bundle=bundle, verified=source.verified, card=read_model_card(source.card_path), scorer=scorer,
                      source=source, probe=probe)
