"""The Dask cluster that batch scoring and Dask drift run on, and how its workers are set up for them.

By default a `distributed.LocalCluster` of worker processes sized to the machine (one single-threaded
worker per core: the model code holds the GIL, so threads would queue on it); when a scheduler address is
given (the `DASK_SCHEDULER_ADDRESS` environment variable, else `dask.scheduler` in params.yaml) the jobs
connect to that existing scheduler instead and leave it running when they end.

How a LocalCluster's workers start (`dask.start_method`). A spawned worker is a fresh interpreter: it imports
the scoring stack (about 2 s, most of it scikit-learn and skops) and loads and verifies the model (about
1.5 s) before its first partition, all of it once per worker, and two workers doing it at once on two cores
cost a 1M-row job more than the second core saves. A forked worker begins as a copy of the job's process:
the job first does what the workers share (`inherit`: the model loaded and its engine built and verified,
once) and the workers start with it, in about 0.3 s (`benchmarks/score_bench.py` shows both). The pages are
shared copy-on-write until a worker writes them.

Forking a process that runs threads (the scheduler's event loop runs in one) is safe for the libraries that
reset their state in the child (OpenBLAS, Arrow, glibc's allocator, Python's import and logging locks), but
not for a lock another thread holds at that instant: a child that takes it waits for ever. The one seen in
practice is the lock of stderr, held by the event loop writing a log line while a worker was forked; so
(1) every fork first flushes stdout and stderr (`_flush_standard_streams`), (2) every worker must start
within `dask.start_timeout`, and a forked start that does not is replaced by spawned workers
(`start_local_cluster`), and (3) only the cluster's first start forks: a worker the nanny restarts after a
crash, mid-job, is spawned. A remote cluster's workers load the model themselves, as spawned ones do.

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
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from creditrisk.params import ParamsBlock

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
SETUP_PLUGIN = "creditrisk-worker-setup"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>
HEAP_REUSE_BYTES = 32 * 2**20                # glibc's adaptive mmap threshold's ceiling on 64-bit
START_METHODS = ("fork", "spawn", "forkserver")  # multiprocessing's, as distributed's nanny takes them
# A LocalCluster started here serves no dashboard (`dashboard_address=None`), so its servers skip what only a dashboard
# or a diagnosis reads:
# - the workers' statistical profiler, which samples every running task's stack each 10 ms: on 4M rows the jobs took
#   6 % less time without it (5 alternating pairs, 17.4 s against 18.6 s on average);
# - the event-loop health check every 20 ms (it logs a loop blocked for 3 s; once a second still does) and the system
#   monitor's CPU, memory and network samples every 500 ms (every 5 s here);
# - the memory monitor polls each worker's RSS every 500 ms instead of 100 ms: pausing, spilling and the nanny's
#   restart at `dask.memory_limit` still act, within half a second.
# Idle, the job's process (scheduler, nannies, client) used 4.0-4.9 % of a core with Dask's defaults and each worker
# 1.8-2.0 %; with these 0.8 % and 0.2-0.3 %: about 7 % of a core more for the partitions, on a machine whose every
# core runs a worker. Spawned workers get the settings from the job's configuration as forked ones do, a restarted
# one too; a remote cluster keeps its own.
LOCAL_WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "500ms",
}
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
    start_method: str
    start_timeout: float

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.start_timeout <= 0:
            found.append(("start_timeout", "must be > 0"))
        if self.start_method not in START_METHODS:
            found.append(("start_method", f"must be one of {', '.join(START_METHODS)}"))
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


def start_method(params: DaskParams) -> str:
    """How a LocalCluster's nannies start their workers: `start_method`, or spawn where the platform lacks it."""
    return params.start_method if params.start_method in multiprocessing.get_all_start_methods() else "spawn"


def forks_workers(params: DaskParams, address: str | None) -> bool:
    """True when the job starts a LocalCluster whose workers are forked from its own process."""
    return not address and start_method(params) == "fork"


@contextmanager
def dask_client(params: DaskParams, address: str | None = None,
                inherit: Callable[[], object] | None = None) -> Iterator["distributed.Client"]:  # noqa: F821
    """A client of the scheduler at `address`, or of a LocalCluster started (and stopped) here.

    `inherit` is what the job's workers share (loading the model): when the workers are forked from this
    process (`forks_workers`) it runs here before they start, and each starts with its result; otherwise it
    does not run here, and the job loads the model in each worker (`Runner.warm`). `allowed_failures` is how
    many worker deaths one task may live through before the job fails (a task whose worker dies is rerun on
    another worker until then).
    """
    import dask
    import distributed

    with dask.config.set({"distributed.scheduler.allowed-failures": params.allowed_failures, **LOCAL_WORKER_CONFIG}):
        if address:
            with distributed.Client(address, timeout="30s") as client:
                yield client
            return
        if inherit is not None and forks_workers(params, address):
            inherit()
        with start_local_cluster(params) as cluster, distributed.Client(cluster) as client:
            yield client


def start_local_cluster(params: DaskParams) -> "distributed.LocalCluster":  # noqa: F821
    """A LocalCluster whose workers start as `start_method` says, each within `start_timeout` seconds.

    Forked workers that did not all start in time (a lock another thread of this process held at the fork,
    see the module docstring) are stopped, and the cluster is started again with spawned workers, saying so.
    Only the first start forks: a worker the nanny restarts later is spawned (the method is read when a
    worker starts, and it is set only here), since the job's process is busy with threads by then."""
    method = start_method(params)
    try:
        return _local_cluster(params, method)
    except Exception as error:  # noqa: BLE001 - whatever stopped the forked start, spawned workers are the way
        if method != "fork":
            raise
        warnings.warn(f"forked Dask workers did not start within {params.start_timeout} s ({type(error).__name__}: "
                      f"{error}); starting spawned workers instead", RuntimeWarning, stacklevel=2)
        return _local_cluster(params, "spawn")


def _local_cluster(params: DaskParams, method: str) -> "distributed.LocalCluster":  # noqa: F821
    import dask
    import distributed

    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        # No dashboard; the scheduler still serves its HTTP routes (health, metrics), on a free port rather than
        # Dask's 8787, so that two jobs on one machine do not contend for it.
        return distributed.LocalCluster(n_workers=local_workers(params), threads_per_worker=params.threads_per_worker,
                                        processes=True, memory_limit=params.memory_limit, dashboard_address=None,
                                        scheduler_kwargs={"dashboard_address": ":0"},
                                        death_timeout=params.start_timeout)


def _flush_standard_streams() -> None:
    """Run in the thread about to fork (`os.register_at_fork`): stdout and stderr are flushed, which waits
    for any other thread's write to them to end, so that the child does not inherit their locks held (a
    forked worker writing its first log line would wait for ever). The forking thread then keeps the GIL
    up to the fork, which any other thread needs to take those locks again."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_flush_standard_streams)


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
