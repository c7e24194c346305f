"""gunicorn settings for the scoring API: `make serve`, or `gunicorn -c gunicorn.conf.py`.

Environment: PORT (8000), WEB_CONCURRENCY (workers, default: the usable cores),
the CREDITRISK_* variables the app reads (docs/interfaces.md), and
GUNICORN_CMD_ARGS for any other gunicorn setting (e.g. "--timeout 120").

This file is read before the app is imported, which is why the thread limits
and the Prometheus multiprocess directory are set here.
"""

import os
import shutil
import tempfile
from pathlib import Path

# One BLAS/OpenMP thread per worker, so N workers use N cores and do not oversubscribe them.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# A reload (SIGHUP) reads this file again in the same master process: what was set up at start stays.
_MASTER_MARK = "CREDITRISK_GUNICORN_MASTER"
_RELOADING = os.environ.get(_MASTER_MARK) == str(os.getpid())
os.environ[_MASTER_MARK] = str(os.getpid())

# Every worker writes its metrics here; /metrics aggregates them (see app/metrics.py).
# A directory given from outside starts empty: files of an earlier run would be summed in. On a reload the live
# workers' files stay (the old workers' counters keep counting in the totals, as Prometheus expects).
_OWN_MARK = "CREDITRISK_GUNICORN_OWN_METRICS_DIR"
if not _RELOADING:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ.pop(_OWN_MARK, None)
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        for _stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            _stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="creditrisk-metrics-")
        os.environ[_OWN_MARK] = "1"
_OWN_METRICS_DIR = os.environ.get(_OWN_MARK) == "1"


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


wsgi_app = "app:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or _usable_cores())
# sync: one request at a time per worker. Scoring is CPU work under the GIL, so threads in a
# worker (gthread) only queue behind each other: measured with 8 concurrent one-row clients on
# 2 cores, gthread with 2 or 4 threads had the same median and a p99 about 1.5x higher.
worker_class = "sync"
preload_app = True            # load and verify the model once, before forking; workers share its pages
timeout = 60                  # a worker silent this long is killed and replaced
graceful_timeout = 30
keepalive = 5
backlog = 512
accesslog = "-"
errorlog = "-"
loglevel = "info"
logger_class = "app.access_log.JsonAccessLogger"
control_socket_disable = True  # several servers (tests, benchmarks) may run side by side


def pre_fork(server, worker):  # noqa: ANN001, ANN201 (gunicorn hook)
    """Move the preloaded app's objects out of the garbage collector's sight: collections
    stay short in the workers, and they do not touch (and so copy) the shared pages."""
    import gc

    gc.freeze()


def on_reload(server):  # noqa: ANN001, ANN201
    """SIGHUP (`kill -HUP <master pid>`): build the app, and so load and verify the model, again in the master
    before gunicorn starts the new workers, which then fork from it; the old workers finish their requests and
    stop (graceful_timeout). With preload_app gunicorn would otherwise fork the new workers from the app loaded
    at start. An app whose model does not load is not swapped in: the workers keep serving the model they have,
    and the log says why."""
    from app.factory import not_ready_reason, serving_description

    previous = server.app.callable
    server.app.callable = None
    try:
        fresh = server.app.wsgi()
    except Exception:
        server.log.exception("reload: the app could not be built; the workers keep serving the loaded model")
        server.app.callable = previous
        return
    problem = not_ready_reason(fresh)
    if problem is not None:
        server.log.error("reload: the new model is not ready (%s); the workers keep serving the loaded model",
                         problem)
        server.app.callable = previous
        return
    server.log.info("reload: new workers serve %s", serving_description(fresh))


def post_fork(server, worker):  # noqa: ANN001, ANN201
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def child_exit(server, worker):  # noqa: ANN001, ANN201
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # noqa: ANN001, ANN201
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
