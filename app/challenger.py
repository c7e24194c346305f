"""The shadow challenger (`CREDITRISK_CHALLENGER`): a second model, verified and loaded as the champion is,
scored after the champion on every request, logged beside it, and never returned.

Loading. `resolve` is the one place that turns the setting into a model file and the `dvc.lock` to check it
against; the file is then verified (the md5 that lock records for it, else its sha256 sidecar) and loaded
with skops, never unpickled (`creditrisk.modeling.bundle`), exactly as the champion is. A challenger that
fails to load leaves the API serving the champion alone: `/ready` stays 200 and names the reason, and
`creditrisk_challenger_ready` is 0.

Scoring. `score_request` (app/routes.py) calls `shadow_score` once the champion's answer is complete (PDs,
bands, decisions, points, reasons), on the batch the data contract validated for the champion, without
reasons; the challenger's answer goes only to the prediction log, in the same transaction as the champion's
rows, so `prediction_logged: true` means the log holds both. A challenger that raises is counted
(`creditrisk_challenger_failures`), logged with its traceback, reported on `/ready`, and its rows are logged
with the challenger's columns empty; the client's answer is byte-identical to the one without a challenger.

Why in the request, not after the response. Scoring it after the response is sent (in the same sync worker,
when the body is closed) would hide its time from the client's latency but not from the worker, which still
spends it before taking the next request, so throughput is the same; and the log would then take two writes
per request (the champion's before answering, the challenger's after), or the champion's rows would be
logged after the answer that says they are. `benchmarks/api_bench.py` measures what the synchronous
challenger costs (its `challenger` server timing is all that deferring it could save).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.config import ApiConfig
from app.metrics import ApiMetrics
from creditrisk.modeling.bundle import ArtifactError, ModelBundle
from creditrisk.serving.challenger import challenger_scores, disagreements
from creditrisk.serving.model_source import load_source, resolve_model, ModelSource
from creditrisk.serving.predlog import ChallengerScores
from creditrisk.serving.scoring import batch_scorer, BatchScorer, ScoredBatch, ValidatedBatch

logger = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ChallengerState:
    """The challenger of one worker: its setting, the loaded model (or why there is none) and its failures."""

    setting: str | None
    bundle: ModelBundle | None = None
    scorer: BatchScorer | None = None
    path: Path | None = None
    verified: str | None = None
    reason: str | None = None
    loaded_at: str = field(default_factory=_now)
    failures: int = 0
    last_failure: str | None = None
    last_failure_at: str | None = None
    stage: str | None = None  # the registry stage whose version it is (None: by path)

    @property
    def configured(self) -> bool:
        return self.setting is not None

    @property
    def ready(self) -> bool:
        return self.scorer is not None

    def status(self) -> dict[str, Any] | None:
        """What `/ready` says of the challenger (None without one)."""
        if not self.configured:
            return None
        return {"setting": self.setting, "ready": self.ready,
                "version": self.bundle.version if self.bundle is not None else None, "stage": self.stage,
                "path": str(self.path) if self.path is not None else None, "verified": self.verified,
                "reason": self.reason, "loaded_at": self.loaded_at, "failures": self.failures,
                "last_failure": self.last_failure, "last_failure_at": self.last_failure_at}


def resolve(setting: str, config: ApiConfig) -> ModelSource:
    """The challenger's verified model file: the one place that turns `CREDITRISK_CHALLENGER` into a file. A
    stage of `.gto` (such as `staging`) is the version that stage holds, fetched and verified at its release
    commit as `CREDITRISK_MODEL_STAGE` is; anything else is a path, relative to the working directory as
    `CREDITRISK_MODEL_PATH` is, checked against the champion's `CREDITRISK_DVC_LOCK` (a candidate outside the
    pipeline's outputs is checked against its sha256 sidecar instead)."""
    return resolve_model(setting, config.repo_dir, config.model_cache, lock=config.dvc_lock)


def load_challenger(config: ApiConfig) -> ChallengerState:
    """Resolve, verify and load the challenger; any failure leaves it unloaded, with the reason."""
    if config.challenger is None:
        return ChallengerState(None)
    path: Path | None = None
    try:
        source = resolve(config.challenger, config)
        path = source.path
        bundle = load_source(source)
        scorer = batch_scorer(bundle, config.numpy_path)
    except ArtifactError as error:
        logger.error("challenger not loaded: %s", error)
        return ChallengerState(config.challenger, path=path, reason=str(error))
    except Exception as error:  # a broken challenger must not keep the champion from serving
        logger.exception("challenger not loaded")
        return ChallengerState(config.challenger, path=path, reason=f"challenger {config.challenger} could not be "
                                                                   f"loaded: {type(error).__name__}: {error}")
    logger.info("challenger %s loaded from %s (%s); scoring through the %s", bundle.version, source.origin,
                source.verified, scorer.route)
    return ChallengerState(config.challenger, bundle, scorer, path, source.verified, stage=source.stage)


def shadow_score(challenger: ChallengerState, batch: ValidatedBatch, champion: ScoredBatch,
                 metrics: ApiMetrics, request_id: str) -> ChallengerScores | None:
    """The challenger's answer for the champion's batch, for the log; None without a loaded challenger or when
    it raised (counted, logged and kept for `/ready`: the champion answers alone)."""
    if challenger.scorer is None:
        return None
    try:
        scores = challenger_scores(challenger.scorer, batch)
    except Exception as error:
        challenger.failures += 1
        challenger.last_failure = f"{type(error).__name__}: {error}"
        challenger.last_failure_at = _now()
        metrics.challenger_failures.inc()
        logger.exception("challenger %s failed on request %s; the champion answered alone", challenger.setting,
                         request_id)
        return None
    metrics.challenger_rows.inc(len(batch))
    metrics.challenger_disagreements.inc(disagreements(champion.decisions, scores))
    return scores
