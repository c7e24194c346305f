"""Prometheus metrics, correct under several gunicorn workers.

When PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py does it before the app
is imported), every worker writes its samples to files there and `/metrics`
aggregates all of them, whichever worker answers. Without it (tests, a
single process) the app's own registry is exported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.utils import floatToGoString

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
                               "Time per scoring stage (parse, validate, predict, reasons, challenger, log, metrics, "
                               "respond)",
                               ["stage"], buckets=STAGE_BUCKETS, registry=registry)
        self.rows_scored = Counter("creditrisk_rows_scored", "Rows scored", registry=registry)
        self.values_nulled = Counter("creditrisk_values_nulled",
                                     "Input values the contract nulled (row still scored)",
                                     ["field", "rule"], registry=registry)
        self.pd = BatchHistogram("creditrisk_predicted_pd", "Predicted probability of default per row",
                                 PD_BUCKETS, registry)
        self.decisions = Counter("creditrisk_decisions", "Decisions by band and outcome",
                                 ["band", "decision"], registry=registry)
        self.log_rows = Counter("creditrisk_prediction_log_rows", "Rows written to the prediction log",
                                registry=registry)
        self.log_failures = Counter("creditrisk_prediction_log_failures",
                                    "Batches the prediction log could not store (answered 503 prediction_log_unavailable)",
                                    registry=registry)
        self.model_ready = Gauge("creditrisk_model_ready", "1 when the model is loaded and verified",
                                 multiprocess_mode="livemin", registry=registry)
        self.challenger_ready = Gauge("creditrisk_challenger_ready",
                                      "1 when the shadow challenger (labelled by its setting) is loaded and verified, "
                                      "0 when it is not (no series without a challenger)",
                                      ["challenger"], multiprocess_mode="livemin", registry=registry)
        self.challenger_rows = Counter("creditrisk_challenger_rows_scored",
                                       "Rows the shadow challenger scored (and the log holds beside the champion's)",
                                       registry=registry)
        self.challenger_disagreements = Counter("creditrisk_challenger_disagreements",
                                                "Rows the shadow challenger would have decided otherwise",
                                                registry=registry)
        self.challenger_failures = Counter("creditrisk_challenger_failures",
                                           "Batches the shadow challenger raised on (the champion answered alone)",
                                           registry=registry)

    def observe_pds(self, pds: np.ndarray) -> None:
        self.pd.observe_batch(pds)

    def count_decisions(self, bands: np.ndarray, decisions: np.ndarray) -> None:
        """One `inc` per (band, decision) pair the batch holds, counted on integer codes."""
        if len(bands) == 0:
            return
        band_codes, band_names = pd.factorize(np.asarray(bands), sort=True)
        decision_codes, decision_names = pd.factorize(np.asarray(decisions), sort=True)
        counts = np.bincount(band_codes * len(decision_names) + decision_codes,
                             minlength=len(band_names) * len(decision_names))
        for pair in np.flatnonzero(counts).tolist():
            band, decision = divmod(pair, len(decision_names))
            self.decisions.labels(band=str(band_names[band]), decision=str(decision_names[decision])).inc(
                int(counts[pair]))

    def render(self) -> tuple[bytes, str]:
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        aggregate = CollectorRegistry()
        multiprocess.MultiProcessCollector(aggregate, path=directory)
        return generate_latest(aggregate), CONTENT_TYPE_LATEST


class BatchHistogram:
    """A Prometheus histogram's series (`<name>_bucket{le}` cumulative, `<name>_sum`, `<name>_count`)
    updated once per batch.

    prometheus_client's `Histogram` has only a per-value `observe` (about 1.7 µs a value in
    multiprocess mode: 17 ms for a 10,000-row batch, measured by benchmarks/api_bench.py) and keeps
    its buckets private. These are the same series as summed gauges, one `inc` per bucket per batch:
    `histogram_quantile()` reads them as it reads a histogram's, and in multiprocess mode a
    restarted worker's counts stay in the sum, as a counter's do. Only the exposed TYPE says gauge.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.bounds = np.array([*buckets, np.inf]) if buckets[-1] != np.inf else np.array(buckets)
        bucket = Gauge(f"{name}_bucket", f"{documentation}: rows with a value <= le", ["le"],
                       multiprocess_mode="sum", registry=registry)
        self.buckets = [bucket.labels(le=floatToGoString(bound)) for bound in self.bounds]
        self.sum = Gauge(f"{name}_sum", f"{documentation}: sum of the values", multiprocess_mode="sum",
                         registry=registry)
        self.count = Gauge(f"{name}_count", f"{documentation}: rows observed", multiprocess_mode="sum",
                           registry=registry)

    def observe_batch(self, values: np.ndarray) -> None:
        """Add every finite value of a batch (as `Histogram.observe` would one by one)."""
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return
        at_most = np.searchsorted(np.sort(values), self.bounds, side="right")  # cumulative: value <= le
        for bucket, count in zip(self.buckets, at_most.tolist(), strict=True):
            if count:
                bucket.inc(count)
        self.sum.inc(float(values.sum()))
        self.count.inc(len(values))
