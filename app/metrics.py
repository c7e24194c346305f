"""Prometheus metrics, correct under several gunicorn workers.

When PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py does it before the app
is imported), every worker writes its samples to files there and `/metrics`
aggregates all of them, whichever worker answers. Without it (tests, a
single process) the app's own registry is exported.
"""

from __future__ import annotations

import os

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PD_BUCKETS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ApiMetrics:
    """The API's metrics, on a registry of its own (several apps may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("creditrisk_http_requests", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=registry)
        self.errors = Counter("creditrisk_http_errors", "HTTP error responses by status and error code",
                              ["status", "code"], registry=registry)
        self.latency = Histogram("creditrisk_http_request_duration_seconds", "Request latency",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=registry)
        self.stage = Histogram("creditrisk_scoring_stage_duration_seconds",
                               "Time per scoring stage (parse, validate, predict, log, respond)",
                               ["stage"], buckets=STAGE_BUCKETS, registry=registry)
        self.rows_scored = Counter("creditrisk_rows_scored", "Rows scored", registry=registry)
        self.values_nulled = Counter("creditrisk_values_nulled",
                                     "Input values the contract nulled (row still scored)",
                                     ["field", "rule"], registry=registry)
        self.pd = Histogram("creditrisk_predicted_pd", "Predicted probability of default per row",
                            buckets=PD_BUCKETS, registry=registry)
        self.decisions = Counter("creditrisk_decisions", "Decisions by band and outcome",
                                 ["band", "decision"], registry=registry)
        self.log_rows = Counter("creditrisk_prediction_log_rows", "Rows written to the prediction log",
                                registry=registry)
        self.log_failures = Counter("creditrisk_prediction_log_failures",
                                    "Batches the prediction log could not store (answered 503 prediction_log_unavailable)",
                                    registry=registry)
        self.model_ready = Gauge("creditrisk_model_ready", "1 when the model is loaded and verified",
                                 multiprocess_mode="livemin", registry=registry)

    def observe_pds(self, pds: np.ndarray) -> None:
        observe_many(self.pd, pds)

    def count_decisions(self, bands: np.ndarray, decisions: np.ndarray) -> None:
        if len(bands) == 0:
            return
        pairs, counts = np.unique(np.stack([bands.astype(str), decisions.astype(str)]), axis=1,
                                  return_counts=True)
        for (band, decision), count in zip(pairs.T.tolist(), counts.tolist(), strict=True):
            self.decisions.labels(band=band, decision=decision).inc(count)

    def render(self) -> tuple[bytes, str]:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        aggregate = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregate, path=directory)
        return generate_latest(aggregate), CONTENT_TYPE_LATEST


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """Observe every finite value of a batch.

    One public `observe` per value: prometheus_client has no bulk observe, and its bucket
    counters are private (in multiprocess mode they are its memory-mapped files). It costs
    about 2 µs a value, which a 10,000-row batch pays once (benchmarks/api_bench.py).
    """
    values = np.asarray(values, dtype=float)
    observe = histogram.observe
    for value in values[np.isfinite(values)].tolist():
        observe(value)
