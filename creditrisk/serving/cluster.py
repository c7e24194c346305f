"""The Dask cluster that batch scoring and Dask drift run on.

By default a `distributed.LocalCluster` of worker processes sized to the machine (one single-threaded
worker per core: the model code holds the GIL, so threads would queue on it); when a scheduler address is
given (the `DASK_SCHEDULER_ADDRESS` environment variable, else `dask.scheduler` in params.yaml) the jobs
connect to that existing scheduler instead and leave it running when they end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from creditrisk.params import ParamsBlock

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class DaskParams(ParamsBlock):
    """The `dask` block of params.yaml: where the Dask jobs run."""

    BLOCK: ClassVar[str] = "dask"
    scheduler: str | None
    workers: int | None
    threads_per_worker: int
    memory_limit: str
    allowed_failures: int

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.workers is not None and self.workers < 1:
            found.append(("workers", "must be null (one per core) or >= 1"))
        if self.threads_per_worker < 1:
            found.append(("threads_per_worker", "must be >= 1"))
        if self.allowed_failures < 0:
            found.append(("allowed_failures", "must be >= 0"))
        return found


def scheduler_address(params: DaskParams, environ: Mapping[str, str] = os.environ) -> str | None:
    """The scheduler to use: the environment variable wins over params.yaml; None = start a LocalCluster."""
    return environ.get("DASK_SCHEDULER_ADDRESS") or params.scheduler or None


def local_workers(params: DaskParams) -> int:
    """Workers of a LocalCluster: as params.yaml says, or one per core the process may use."""
    if params.workers is not None:
        return params.workers
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextmanager
def dask_client(params: DaskParams, address: str | None = None) -> Iterator["distributed.Client"]:  # noqa: F821
    """A client of the scheduler at `address`, or of a LocalCluster started (and stopped) here.

    `allowed_failures` is how many worker deaths one task may live through before the job fails
    (a task whose worker dies is rerun on another worker until then).
    """
    import dask
    import distributed

    with dask.config.set({"distributed.scheduler.allowed-failures": params.allowed_failures}):
        if address:
            with distributed.Client(address, timeout="30s") as client:
                yield client
            return
        with distributed.LocalCluster(n_workers=local_workers(params), threads_per_worker=params.threads_per_worker,
                                      processes=True, memory_limit=params.memory_limit,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            yield client
