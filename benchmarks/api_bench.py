"""Scoring API speed and memory, with and without the numpy path, in the same run.

Two gunicorn servers (2 workers each) on loopback serve the same model: one scores through the
verified numpy path (the compiled path of the scoring engine `creditrisk.modeling.engine`, what the API
does by default), the other through the sklearn pipeline only (`ApiConfig.numpy_path = False`). Their
measurements alternate round by round, so a change in the machine's load (other processes share the
cores) hits both alike.

A third server scores through the numpy path and logs to a real PostgreSQL server (`initdb` in the
temporary folder, on 127.0.0.1; the other two log to SQLite files).

Every server is also measured with `?reasons=false`: rows/s with the principal reasons (the
default) and without them, and the reasons step's server time (target: a 10,000-row batch with reasons takes at
most 3x the time without).

A fourth server is the first one with a shadow challenger (`CREDITRISK_CHALLENGER`, by default the same
model file, so the challenger costs what a model of the champion's kind costs): rows/s with and without it,
and its step's server time (target: a 10,000-row batch with reasons off takes at most 1.5x the time without a
challenger), single-row latency and RSS per worker with two models loaded.

Prints, for each: rows/s for batches of 1, 100, 1,000 and 10,000 rows sent as JSON records, columnar
JSON and CSV, beside the model's own in-process predict rows/s on the same validated rows with one
thread (`bundle.predict_pd`, the targets' baseline, and the numpy path); single-row latency at 8
concurrent clients; the share of validation in a 10,000-row request; RSS per worker; the load
average before and after. Every loop is bounded.

Uses models/model.skops when present (checked against dvc.lock), else trains a small logistic
regression on the sample export in a temporary folder.

    python benchmarks/api_bench.py [--model PATH] [--challenger PATH] [--workers 2] [--clients 8] [--rounds 4]
"""

from __future__ import annotations

import argparse
import gc
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402
from flask import Flask  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: its test helpers too

from creditrisk.modeling.bundle import load_bundle, save_bundle, ModelBundle, RiskBand  # noqa: E402
from creditrisk.data.contract import (  # noqa: E402
    CATEGORICAL_FEATURES,
    coerce_and_validate,
    FEATURE_COLUMNS,
    LEAK_COLUMNS,
    NUMERIC_FEATURES,
    TARGET,
)
from creditrisk.serving.scoring import batch_scorer, validate_batch  # noqa: E402
from creditrisk.params import configured  # noqa: E402
from creditrisk.data.synthetic import generate_history, GenerateParams  # noqa: E402
from tests.postgres import running_postgres  # noqa: E402
from tooling.ports import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BATCHES = (1, 100, 1000, 10_000)
FORMATS = ("records", "columnar", "csv")
TARGETS = {"csv": 0.8, "columnar": 0.8, "records": 0.5}
P99_TARGET_MS, VALIDATION_SHARE_TARGET, RSS_TARGET_MB = 60.0, 0.20, 250.0
REASONS_TIME_TARGET = 3.0  # a batch with the principal reasons takes at most this many times as long as without
NO_REASONS = " no-reasons"  # name suffix of the ?reasons=false measurements
WAYS = {"numpy": "app:create_app()", "pipeline": "benchmarks.api_bench:pipeline_only_app()",
        "postgres": "app:create_app()"}  # postgres: the numpy path, logging to a real PostgreSQL server
CHALLENGER = "challenger"  # the numpy path with a shadow challenger (SQLite log), against the "numpy" way
CHALLENGER_TIME_TARGET = 1.5  # a batch with a challenger takes at most this many times as long as without (no reasons)
STAGES = ("parse", "validate", "predict", "reasons", "challenger", "log", "metrics", "respond")


def pipeline_only_app() -> Flask:
    """The API as gunicorn starts it, scoring through the sklearn pipeline only (the 'without' server)."""
    from app import create_app
    from app.config import config_from_env

    return create_app(replace(config_from_env(), numpy_path=False))


def sample_rows(rows: int, seed: int = 7) -> pd.DataFrame:
    """Loan applications as the export has them (no target, no leak column)."""
    history = generate_history(configured(GenerateParams, REPO / "params.yaml", rows=max(rows, 100), seed=seed))
    frame = history.drop(columns=[TARGET, *LEAK_COLUMNS], errors="ignore").head(rows).reset_index(drop=True)
    frame["fecha_prestamo"] = pd.to_datetime(frame["fecha_prestamo"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame


def fallback_bundle(directory: Path) -> Path:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    history = generate_history(configured(GenerateParams, REPO / "params.yaml", rows=5000, seed=11))
    frame = coerce_and_validate(history.drop(columns=[TARGET]), purpose="scoring").frame
    frame[list(CATEGORICAL_FEATURES)] = frame[list(CATEGORICAL_FEATURES)].fillna("__missing__")
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pipeline = Pipeline([
        ("preprocess", ColumnTransformer([("numeric", numeric, list(NUMERIC_FEATURES)),
                                          ("categorical", OneHotEncoder(handle_unknown="ignore"),
                                           list(CATEGORICAL_FEATURES))])),
        ("model", LogisticRegression(max_iter=2000)),
    ]).fit(frame[list(FEATURE_COLUMNS)], (history[TARGET] == 0).astype(int))
    bundle = ModelBundle(pipeline, 0.08, [RiskBand("A", 0.03), RiskBand("B", 0.08), RiskBand("C", 1.0)],
                         list(FEATURE_COLUMNS), {"version": "bench-fallback-logreg"})
    path = directory / "model.skops"
    save_bundle(bundle, path)
    return path


def bodies(frame: pd.DataFrame) -> dict[str, tuple[bytes, str]]:
    plain = frame.astype(object).where(frame.notna(), None)
    return {
        "records": (orjson.dumps(plain.to_dict("records")), "application/json"),
        "columnar": (orjson.dumps({"columns": list(frame.columns), "data": plain.values.tolist()}),
                     "application/json"),
        "csv": (frame.to_csv(index=False).encode(), "text/csv"),
    }


def timings_of(action: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def repeats_for(rows: int) -> int:
    return max(5, min(40, 20_000 // max(rows, 1)))


@contextmanager
def gunicorn(app: str, model: Path, lock: Path, directory: Path, workers: int,
             log: str | None = None, challenger: Path | None = None) -> Iterator[tuple[str, int]]:
    """A gunicorn server of `app` (its URL and master pid) until the block ends; it logs to `log`
    (a path or a postgresql:// URL), by default an SQLite file in `directory`, and shadows `challenger`."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CREDITRISK_")}
    env.update({"CREDITRISK_MODEL_PATH": str(model), "CREDITRISK_DVC_LOCK": str(lock),
                "CREDITRISK_PREDICTION_LOG": log or str(directory / "predictions.sqlite"),
                "WEB_CONCURRENCY": str(workers), "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics")})
    if challenger is not None:
        env["CREDITRISK_CHALLENGER"] = str(challenger)
    with open(directory / "gunicorn.err", "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
             "--access-logfile", os.devnull, app], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, workers, directory / "gunicorn.err")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(30)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], workers: int, errors: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {errors.read_text()[-2000:]}")
        try:
            ready = requests.get(f"{url}/ready", timeout=2)
            challenger = ready.json().get("challenger") if ready.status_code == 200 else None
            if challenger is not None and not challenger["ready"]:
                raise SystemExit(f"the challenger is not loaded: {challenger['reason']}")
            if ready.status_code == 200 and len(psutil.Process(process.pid).children()) == workers:
                return
            if ready.status_code == 503:
                raise SystemExit(f"the API is not ready: {ready.json().get('reason')}")
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not start in 120 s")


@dataclass
class Way:
    """What one server (one way of scoring) measured, pooled over the rounds."""

    url: str
    pid: int
    seconds: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    stages: dict[tuple[int, str], dict[str, list[float]]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    def rows_per_second(self, rows: int, name: str) -> float:
        return rows / statistics.median(self.seconds[(rows, name)])

    def stage_ms(self, rows: int, name: str) -> str:
        found = self.stages.get((rows, name), {})
        return "/".join(f"{statistics.median(found[s]) if s in found else float('nan'):.1f}" for s in STAGES)


def post_batch(way: Way, rows: int, name: str, body: bytes, content_type: str, repeats: int,
               query: str = "") -> None:
    session = requests.Session()
    stages = way.stages.setdefault((rows, name), {})

    def call() -> None:
        response = session.post(f"{way.url}/predict{query}", data=body, headers={"Content-Type": content_type},
                                timeout=120)
        if response.status_code != 200:
            raise SystemExit(f"{rows} rows: HTTP {response.status_code}: {response.text[:500]}")
        for part in response.headers.get("Server-Timing", "").split(","):
            stage, _, duration = part.strip().partition(";dur=")
            if duration:
                stages.setdefault(stage, []).append(float(duration))

    call()  # warm-up (and both workers see a request of this size soon)
    way.seconds.setdefault((rows, name), []).extend(timings_of(call, repeats))


def single_row_latencies(url: str, row: bytes, clients: int, per_client: int) -> list[float]:
    def client(_: int) -> list[float]:
        session = requests.Session()
        latencies = []
        for _ in range(per_client):
            start = time.perf_counter()
            response = session.post(f"{url}/predict", data=row, headers={"Content-Type": "application/json"},
                                    timeout=30)
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"single row: HTTP {response.status_code}: {response.text[:300]}")
        return latencies

    with ThreadPoolExecutor(clients) as pool:
        return [value for values in pool.map(client, range(clients)) for value in values]


def measure_rounds(ways: dict[str, Way], frames: dict[int, pd.DataFrame], args: argparse.Namespace) -> None:
    """Every measurement once per way per round, the ways alternating: the single-row rounds first,
    then the batch rounds.

    The client's own heap (pandas, scikit-learn and the library, imported for the in-process baseline)
    is frozen first: a full collection of it takes ~65 ms, and its pause would stall all the client
    threads at once and be counted as server latency. Single rows go first, apart from the batches:
    for a second or two after a burst of 10,000-row batches the kernel's memory bookkeeping (kworker)
    holds a core, and on two shared cores that wait would be counted as single-row latency."""
    payloads = {rows: bodies(frame) for rows, frame in frames.items()}
    gc.collect()
    gc.freeze()
    per_round = max(1, args.requests_per_client // args.rounds)
    for way in ways.values():
        single_row_latencies(way.url, payloads[1]["records"][0], args.clients, 2)  # warm-up, not counted
    for round_number in range(args.rounds):
        for way in alternating(ways, round_number):
            way.latencies_ms += single_row_latencies(way.url, payloads[1]["records"][0], args.clients, per_round)
    for round_number in range(args.rounds):
        for way in alternating(ways, round_number):
            for rows in BATCHES:
                for name, (body, content_type) in payloads[rows].items():
                    repeats = max(2, repeats_for(rows) // args.rounds)
                    post_batch(way, rows, name, body, content_type, repeats)
                    post_batch(way, rows, f"{name}{NO_REASONS}", body, content_type, repeats, "?reasons=false")


def alternating(ways: dict[str, Way], round_number: int) -> list[Way]:
    """The ways in order on even rounds, reversed on odd ones."""
    return list(ways.values()) if round_number % 2 == 0 else list(reversed(ways.values()))


def in_process(bundle: ModelBundle, frames: dict[int, pd.DataFrame]) -> dict[str, dict[int, float]]:
    """rows/s of the pipeline's and the numpy path's predict_pd on validated rows, one thread."""
    predictors = {"pipeline": bundle.predict_pd, "numpy": batch_scorer(bundle).predict_pd}
    found: dict[str, dict[int, float]] = {way: {} for way in predictors}
    with threadpool_limits(limits=1):
        for rows, frame in frames.items():
            contract = coerce_and_validate(frame, purpose="scoring").frame
            for way, predict in predictors.items():
                predict(contract)
                found[way][rows] = rows / statistics.median(timings_of(lambda: predict(contract),
                                                                       repeats_for(rows)))
    return found


def validation_seconds(bundle: ModelBundle, frame: pd.DataFrame) -> dict[str, float]:
    """Seconds to validate the rows, and to predict them through the pipeline and the numpy path."""
    contract = coerce_and_validate(frame, purpose="scoring").frame
    fast = batch_scorer(bundle).predict_pd
    with threadpool_limits(limits=1):
        return {"validate": statistics.median(timings_of(lambda: validate_batch(frame), 9)),
                "pipeline": statistics.median(timings_of(lambda: bundle.predict_pd(contract), 9)),
                "numpy": statistics.median(timings_of(lambda: fast(contract), 9))}


def worker_memory(master: int) -> list[float]:
    return [worker.memory_full_info().rss / 2**20 for worker in psutil.Process(master).children()]


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def reasons_report(way: Way) -> None:
    """rows/s with the principal reasons (the default) and with ?reasons=false, and the cost of the reasons."""
    print(f"\nprincipal reasons (numpy path, SQLite log): rows/s with / without (?reasons=false), "
          f"time ratio (target at {BATCHES[-1]} rows <= {REASONS_TIME_TARGET:.0f}x), server ms of the reasons step")
    for rows in BATCHES:
        for name in FORMATS:
            with_reasons = way.rows_per_second(rows, name)
            without = way.rows_per_second(rows, f"{name}{NO_REASONS}")
            ratio = without / with_reasons
            reasons_ms = statistics.median(way.stages.get((rows, name), {}).get("reasons", [float("nan")]))
            mark = f" {verdict(ratio <= REASONS_TIME_TARGET)}" if rows == BATCHES[-1] else ""
            print(f"  {rows:>6} {name:>9}: {with_reasons:>9.0f} / {without:<9.0f} {ratio:.2f}x{mark}"
                  f"  (reasons {reasons_ms:.1f} ms)")


def challenger_report(ways: dict[str, Way], memory: dict[str, list[float]]) -> None:
    """rows/s with the shadow challenger and without, the time ratio, and the challenger step's server time."""
    alone, shadowed = ways["numpy"], ways[CHALLENGER]
    print(f"\nshadow challenger (numpy path, SQLite log): rows/s without / with, time ratio (target at "
          f"{BATCHES[-1]} rows with ?reasons=false <= {CHALLENGER_TIME_TARGET}x), server ms of the challenger step")
    for suffix in (NO_REASONS, ""):
        for rows in BATCHES:
            for name in FORMATS:
                without, with_challenger = (way.rows_per_second(rows, f"{name}{suffix}") for way in (alone, shadowed))
                ratio = without / with_challenger
                step = statistics.median(shadowed.stages.get((rows, f"{name}{suffix}"), {}).get(
                    "challenger", [float("nan")]))
                mark = f" {verdict(ratio <= CHALLENGER_TIME_TARGET)}" if rows == BATCHES[-1] and suffix else ""
                print(f"  {rows:>6} {name + suffix:>20}: {without:>9.0f} / {with_challenger:<9.0f} {ratio:.2f}x{mark}"
                      f"  (challenger {step:.1f} ms)")
    percentiles = {way: np.percentile(ways[way].latencies_ms, [50, 99]) for way in ("numpy", CHALLENGER)}
    print("  single-row p50 / p99 without / with: " + " | ".join(
        f"{percentiles[way][0]:.1f} / {percentiles[way][1]:.1f} ms" for way in percentiles))
    print(f"  RSS per worker without / with (two models loaded): {max(memory['numpy']):.0f} / "
          f"{max(memory[CHALLENGER]):.0f} MB")


def report(ways: dict[str, Way], local: dict[str, dict[int, float]], seconds: dict[str, float],
           memory: dict[str, list[float]], args: argparse.Namespace) -> None:
    """The tables and the targets, for each way."""
    print(f"\n{'rows':>6} {'format':>9} {'in-process rows/s (pipeline/numpy)':>36} "
          f"{'API rows/s with numpy path':>27} {'without':>9} {'PostgreSQL log':>15}  "
          "server ms with / without / PostgreSQL log (parse/validate/predict/reasons/challenger/log/metrics/respond)")
    for rows in BATCHES:
        for name in FORMATS:
            print(f"{rows:>6} {name:>9} {local['pipeline'][rows]:>17.0f} / {local['numpy'][rows]:<16.0f} "
                  f"{ways['numpy'].rows_per_second(rows, name):>27.0f} {ways['pipeline'].rows_per_second(rows, name):>9.0f}"
                  f" {ways['postgres'].rows_per_second(rows, name):>15.0f}"
                  f"  {ways['numpy'].stage_ms(rows, name)}  /  {ways['pipeline'].stage_ms(rows, name)}"
                  f"  /  {ways['postgres'].stage_ms(rows, name)}")
    largest = BATCHES[-1]
    print(f"\nvalidation of {largest} rows (parse excluded, in-process): {seconds['validate'] * 1000:.1f} ms; "
          f"predict {seconds['pipeline'] * 1000:.1f} ms through the pipeline, "
          f"{seconds['numpy'] * 1000:.1f} ms through the numpy path")
    print(f"\ntargets, with the numpy path (SQLite log) | without it (SQLite log) | numpy path with the PostgreSQL "
          f"log ({args.clients} clients x {args.requests_per_client} single-row requests each way, "
          f"{args.rounds} alternating rounds):")
    for suffix, what in (("", "with the principal reasons (the default)"),
                         (NO_REASONS, "with ?reasons=false, like for like: the in-process baseline gives no reasons")):
        print(f"  {what}:")
        for name, target in TARGETS.items():
            ratios = [ways[way].rows_per_second(largest, f"{name}{suffix}") / local["pipeline"][largest]
                      for way in WAYS]
            print(f"  {name:>9} at {largest} rows >= {target:.1f}x in-process pipeline: "
                  + " | ".join(f"{ratio:.2f}x {verdict(ratio >= target)}" for ratio in ratios))
    reasons_report(ways["numpy"])
    challenger_report(ways, memory)
    percentiles = {way: np.percentile(ways[way].latencies_ms, [50, 95, 99]) for way in ways}
    print(f"  single-row p99 < {P99_TARGET_MS:.0f} ms: " + " | ".join(
        f"{percentiles[way][2]:.1f} ms {verdict(percentiles[way][2] < P99_TARGET_MS)} "
        f"(p50 {percentiles[way][0]:.1f}, p95 {percentiles[way][1]:.1f})" for way in WAYS))
    shares = [seconds["validate"] / seconds[way] for way in ("numpy", "pipeline")]
    print(f"  validation <= {VALIDATION_SHARE_TARGET:.0%} of predict: "
          + " | ".join(f"{share:.0%} {verdict(share <= VALIDATION_SHARE_TARGET)}" for share in shares))
    print(f"  RSS per worker < {RSS_TARGET_MB:.0f} MB: " + " | ".join(
        f"{max(memory[way]):.0f} MB {verdict(max(memory[way]) < RSS_TARGET_MB)}" for way in ("numpy", "pipeline")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "model.skops")
    parser.add_argument("--lock", type=Path, default=REPO / "dvc.lock")
    parser.add_argument("--challenger", type=Path, default=None,
                        help="the shadow challenger's model file (default: the model itself)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests-per-client", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="api-bench-") as temporary, ExitStack() as servers:
        directory = Path(temporary)
        model, lock = args.model, args.lock
        if not model.exists():
            print(f"{model} not found: training a fallback logistic regression on the sample export")
            model, lock = fallback_bundle(directory), directory / "dvc.lock"
        bundle = load_bundle(model, lock)
        print(f"model: {model} (version {bundle.version}); the API scores through the {batch_scorer(bundle).route}")
        print(f"load average before: {load_average()} ({os.cpu_count()} cores; other processes compete for them)")
        frames = {rows: sample_rows(rows) for rows in BATCHES}
        database = servers.enter_context(running_postgres()).create_database("bench")
        logs = {"postgres": database}
        ways = {way: Way(*servers.enter_context(gunicorn(app, model, lock, directory / way, args.workers,
                                                         logs.get(way))))
                for way, app in WAYS.items()}
        ways[CHALLENGER] = Way(*servers.enter_context(gunicorn(WAYS["numpy"], model, lock, directory / CHALLENGER,
                                                               args.workers, challenger=args.challenger or model)))
        measure_rounds(ways, frames, args)
        memory = {way: worker_memory(ways[way].pid) for way in ways}
    local = in_process(bundle, frames)
    seconds = validation_seconds(bundle, frames[BATCHES[-1]])
    print(f"load average after: {load_average()}")
    report(ways, local, seconds, memory, args)


if __name__ == "__main__":
    main()
