"""Scoring API speed and memory: gunicorn (2 workers) on loopback vs the model in-process.

Prints rows/s for batches of 1, 100, 1,000 and 10,000 rows sent as JSON records,
columnar JSON and CSV; the model's own predict rows/s on the same already-validated
rows with one thread, both through the sklearn pipeline (`bundle.predict_pd`, the
issue's baseline) and through the numpy path the API scores with
(`creditrisk.fastpath`, verified equal to it); the ratios; single-row latency at 8
concurrent clients; the share of validation in a 10,000-row request; RSS per
worker; the machine's load average (other processes share the cores). Every loop
is bounded.

Uses models/model.skops when present (checked against dvc.lock), else trains a
small logistic regression on the sample export in a temporary folder.

    python benchmarks/api_bench.py [--model PATH] [--workers 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from creditrisk.modeling.bundle import load_bundle, save_bundle, ModelBundle, RiskBand  # noqa: E402
from creditrisk.serving.fastpath import verified_predictor, FastPredictor  # noqa: E402
from creditrisk.data.contract import (  # noqa: E402
    CATEGORICAL_FEATURES,
    coerce_and_validate,
    FEATURE_COLUMNS,
    LEAK_COLUMNS,
    NUMERIC_FEATURES,
    TARGET,
)
from creditrisk.serving.scoring import validate_batch  # noqa: E402
from creditrisk.params import configured  # noqa: E402
from creditrisk.data.synthetic import generate_history, GenerateParams  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BATCHES = (1, 100, 1000, 10_000)
FORMATS = ("records", "columnar", "csv")
TARGETS = {"csv": 0.8, "columnar": 0.8, "records": 0.5}
P99_TARGET_MS, VALIDATION_SHARE_TARGET, RSS_TARGET_MB = 60.0, 0.20, 250.0


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


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def repeats_for(rows: int) -> int:
    return max(5, min(40, 20_000 // max(rows, 1)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_gunicorn(model: Path, lock: Path, directory: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CREDITRISK_")}
    env.update({"CREDITRISK_MODEL_PATH": str(model), "CREDITRISK_DVC_LOCK": str(lock),
                "CREDITRISK_PREDICTION_LOG": str(directory / "predictions.sqlite"),
                "WEB_CONCURRENCY": str(workers), "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics")})
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", os.devnull],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(directory / "gunicorn.err", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {(directory / 'gunicorn.err').read_text()[-2000:]}")
        try:
            ready = requests.get(f"{url}/ready", timeout=2)
            if ready.status_code == 200 and len(psutil.Process(process.pid).children()) == workers:
                return process, url
            if ready.status_code == 503:
                raise SystemExit(f"the API is not ready: {ready.json().get('reason')}")
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    process.kill()
    raise SystemExit("gunicorn did not start in 120 s")


def api_rows_per_second(url: str, rows: int, body: bytes, content_type: str) -> tuple[float, dict[str, float]]:
    session = requests.Session()
    headers = {"Content-Type": content_type}
    timings: dict[str, list[float]] = {}

    def call() -> None:
        response = session.post(f"{url}/predict", data=body, headers=headers, timeout=120)
        if response.status_code != 200:
            raise SystemExit(f"{rows} rows: HTTP {response.status_code}: {response.text[:500]}")
        for part in response.headers.get("Server-Timing", "").split(","):
            name, _, duration = part.strip().partition(";dur=")
            if duration:
                timings.setdefault(name, []).append(float(duration))

    call()  # warm-up (and both workers see a request of this size soon)
    seconds = median_seconds(call, repeats_for(rows))
    return rows / seconds, {name: statistics.median(values) for name, values in timings.items()}


def in_process_rows_per_second(predict: Callable[[pd.DataFrame], object], frame: pd.DataFrame) -> float:
    """rows/s of `predict` on the rows after the contract, one thread."""
    contract = coerce_and_validate(frame, purpose="scoring").frame
    with threadpool_limits(limits=1):
        predict(contract)
        return len(frame) / median_seconds(lambda: predict(contract), repeats_for(len(frame)))


def validation_share(bundle: ModelBundle, predictor: FastPredictor | None,
                     frame: pd.DataFrame) -> tuple[float, float, float]:
    """Seconds to validate the rows, to predict them with the pipeline, and with the numpy path."""
    contract = coerce_and_validate(frame, purpose="scoring").frame
    with threadpool_limits(limits=1):
        validate = median_seconds(lambda: validate_batch(frame), 9)
        pipeline = median_seconds(lambda: bundle.predict_pd(contract), 9)
        numpy_path = median_seconds(lambda: predictor.predict_pd(contract), 9) if predictor else pipeline
    return validate, pipeline, numpy_path


def single_row_latencies(url: str, row: bytes, clients: int, per_client: int) -> np.ndarray:
    def client(_: int) -> list[float]:
        session = requests.Session()
        latencies = []
        for _ in range(per_client):
            start = time.perf_counter()
            response = session.post(f"{url}/predict", data=row, headers={"Content-Type": "application/json"},
                                    timeout=30)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise SystemExit(f"single row: HTTP {response.status_code}: {response.text[:300]}")
        return latencies

    with ThreadPoolExecutor(clients) as pool:
        return np.array([value for values in pool.map(client, range(clients)) for value in values]) * 1000


def worker_memory(master: int) -> list[tuple[int, float, float]]:
    result = []
    for worker in psutil.Process(master).children():
        info = worker.memory_full_info()
        result.append((worker.pid, info.rss / 2**20, info.uss / 2**20))
    return result


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "model.skops")
    parser.add_argument("--lock", type=Path, default=REPO / "dvc.lock")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests-per-client", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="api-bench-") as temporary:
        directory = Path(temporary)
        model, lock = args.model, args.lock
        if not model.exists():
            print(f"{model} not found: training a fallback logistic regression on the sample export")
            model, lock = fallback_bundle(directory), directory / "dvc.lock"
        bundle = load_bundle(model, lock)
        predictor, scoring_path = verified_predictor(bundle)
        print(f"model: {model} (version {bundle.version}, {type(bundle.pipeline).__name__}); "
              f"the API scores through the {scoring_path}")
        print(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())} "
              f"({os.cpu_count()} cores; other processes compete for them)")
        frames = {rows: sample_rows(rows) for rows in BATCHES}
        fast_predict = predictor.predict_pd if predictor else bundle.predict_pd

        process, url = start_gunicorn(model, lock, directory, args.workers)
        try:
            print(f"\n{'rows':>6} {'format':>9} {'API rows/s':>11} {'pipeline rows/s':>16} {'ratio':>6} "
                  f"{'numpy rows/s':>13} {'ratio':>6}  server ms (parse/validate/predict/log/respond)")
            ratios: dict[str, tuple[float, float]] = {}
            for rows in BATCHES:
                pipeline = in_process_rows_per_second(bundle.predict_pd, frames[rows])
                numpy_path = in_process_rows_per_second(fast_predict, frames[rows])
                for name, (body, content_type) in bodies(frames[rows]).items():
                    api, stages = api_rows_per_second(url, rows, body, content_type)
                    if rows == BATCHES[-1]:
                        ratios[name] = (api / pipeline, api / numpy_path)
                    parts = "/".join(f"{stages.get(s, float('nan')):.1f}"
                                     for s in ("parse", "validate", "predict", "log", "respond"))
                    print(f"{rows:>6} {name:>9} {api:>11.0f} {pipeline:>16.0f} {api / pipeline:>6.2f} "
                          f"{numpy_path:>13.0f} {api / numpy_path:>6.2f}  {parts}")

            row = bodies(frames[1])["records"][0]
            latencies = single_row_latencies(url, row, args.clients, args.requests_per_client)
            p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
            memory = worker_memory(process.pid)
        finally:
            process.terminate()
            process.wait(30)

    validate, predict, numpy_predict = validation_share(bundle, predictor, frames[BATCHES[-1]])
    share = validate / predict
    print(f"\nsingle row, {args.clients} concurrent clients x {args.requests_per_client} requests: "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms")
    print(f"validation of {BATCHES[-1]} rows (parse excluded, in-process): {validate * 1000:.1f} ms; "
          f"model predict {predict * 1000:.1f} ms through the pipeline (share {share:.0%}), "
          f"{numpy_predict * 1000:.1f} ms through the numpy path (share {validate / numpy_predict:.0%})")
    for pid, rss, uss in memory:
        print(f"worker {pid}: RSS {rss:.0f} MB (unique {uss:.0f} MB, the rest shared with the master)")

    print(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")

    print("\ntargets (in-process = the pipeline's predict_pd; in brackets: vs the numpy path):")
    for name, target in TARGETS.items():
        versus_pipeline, versus_numpy = ratios[name]
        print(f"  {name:>9} at {BATCHES[-1]} rows >= {target:.1f}x in-process: {versus_pipeline:.2f}x "
              f"({versus_numpy:.2f}x) {verdict(versus_pipeline >= target)}")
    print(f"  single-row p99 < {P99_TARGET_MS:.0f} ms: {p99:.1f} ms {verdict(p99 < P99_TARGET_MS)}")
    print(f"  validation <= {VALIDATION_SHARE_TARGET:.0%} of predict: {share:.0%} "
          f"{verdict(share <= VALIDATION_SHARE_TARGET)}")
    largest = max(rss for _, rss, _ in memory)
    print(f"  RSS per worker < {RSS_TARGET_MB:.0f} MB: {largest:.0f} MB {verdict(largest < RSS_TARGET_MB)}")


if __name__ == "__main__":
    main()
