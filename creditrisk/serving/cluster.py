"""The Dask cluster that batch scoring and Dask drift run on, and how its workers are set up for them.

By default a `distributed.LocalCluster` of worker processes sized to the machine (one single-threaded
worker per core: the model code holds the GIL, so threads would queue on it); when a scheduler address is
given (the `DASK_SCHEDULER_ADDRESS` environment variable, else `dask.scheduler` in params.yaml) the jobs
connect to that existing scheduler instead and leave it running when they end.

Every job sets its workers up first (`prepare_workers`, on any cluster, a worker that joins later too):

- thread pools: a worker runs `threads_per_worker` tasks at once and each task is meant to use one core, so
  Arrow's CPU pool gets that many threads (its default is one per core of the machine, which two workers on
  two cores would oversubscribe); BLAS and OpenMP are held to one thread per task where the task runs
  (`threadpoolctl`), and the nanny of a LocalCluster starts them at one (`distributed.nanny.pre-spawn-environ`);
- the C allocator: the nanny also sets `MALLOC_TRIM_THRESHOLD_=65536`, to hand memory back to the system
  quickly. Setting any of glibc's malloc thresholds turns its adaptive mmap threshold off, so every array over
  128 KiB becomes a fresh mapping whose pages fault in on first touch and are unmapped when freed: the scoring
  engine's lookups, which make many short-lived arrays of a few MB, ran 2.5-3.5x slower in a worker than in a
  plain process (`benchmarks/score_bench.py` shows it). The worker gets back what glibc adapts to on its own:
  blocks up to 32 MiB (glibc's own ceiling on 64-bit) reused from the heap, trimmed above 64 MiB free. A
  partition's columns are larger and still go straight back to the system, so memory stays bounded by the
  partition.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from creditrisk.params import ParamsBlock

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
SETUP_PLUGIN = "creditrisk-worker-setup"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
HEAP_REUSE_BYTES = 32 * 2**20                # glibc's adaptive mmap threshold's ceiling on 64-bit
T = TypeVar("T")


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


def reuse_heap() -> bool:
    """Give the C allocator back glibc's adaptive behaviour on blocks up to `HEAP_REUSE_BYTES` (see the module
    docstring). True when set; False where the C library is not glibc (nothing to undo there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    return mallopt(M_MMAP_THRESHOLD, HEAP_REUSE_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, 2 * HEAP_REUSE_BYTES) == 1


@dataclass(frozen=True)
class WorkerSetup:
    """What `prepare_workers` applies to each worker: one Arrow thread per task slot, and the heap reused."""

    arrow_threads: int
    heap_reused: bool


def set_up_worker(threads: int) -> WorkerSetup:
    import pyarrow

    pyarrow.set_cpu_count(max(1, threads))
    return WorkerSetup(pyarrow.cpu_count(), reuse_heap())


def _setup_plugin() -> Any:
    from distributed.diagnostics.plugin import WorkerPlugin

    class SetUpWorker(WorkerPlugin):
        """Runs `set_up_worker` in every worker of the cluster, those that join later included."""

        idempotent = True  # registered again by a later job: kept, not replaced

        def setup(self, worker: Any) -> None:
            set_up_worker(worker.state.nthreads)
    return SetUpWorker()


def prepare_workers(client: Any) -> None:
    """Set every worker of `client`'s cluster up for the jobs (once per cluster: the plugin stays registered)."""
    client.register_plugin(_setup_plugin(), name=SETUP_PLUGIN)


def on_each_worker(client: Any, function: Callable[[], T]) -> list[T]:
    """Run `function` once in every worker now connected, as a task pinned to it, all at once; the first
    failure is raised here. Warms what a job's tasks reuse (the model) in parallel before they start."""
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    futures = [client.submit(function, workers=[address], allow_other_workers=False, pure=False)
               for address in workers]
    return client.gather(futures)
