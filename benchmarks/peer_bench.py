"""This API against a peer: MLServer 1.7.1 with its scikit-learn runtime, serving the same pipeline.

MLServer runs in a virtual environment of its own, which this script makes on first use (its pins need
not match ours): MLServer and mlserver-sklearn, with numpy, pandas, scikit-learn and the other packages the
pipeline unpickles with at this project's locked versions, so both servers compute with the same code. The
model bundle's scikit-learn pipeline is exported with joblib; MLServer serves it with 2 parallel workers,
this API under gunicorn with 2 workers.

First the two must agree: the same 100 rows (rows the data contract leaves as they are) get the same PDs
from /predict, from /v2/.../infer and from MLServer. Then, in alternating rounds (so a change in the
machine's load hits both alike): single-row requests/s with p50 and p99 latency at 8 concurrent clients,
and rows/s for 1,000- and 10,000-row batches, for /predict (columnar JSON, `?reasons=false`), this API's
/v2/.../infer (outputs pd, band, decision) and MLServer's V2 inference (pandas codec, output
predict_proba). It prints the ratios against the targets, and what MLServer does not do: on raw sample
rows it scores the values the contract would treat as missing as they come (the rows where the PDs part
are counted), it scores a value the contract refuses, it logs nothing and gives no reasons.

    python benchmarks/peer_bench.py [--model PATH] [--rounds 6] [--clients 8] [--venv DIR]
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import joblib
import numpy as np
import orjson
import pandas as pd
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root

from benchmarks.api_bench import free_port, gunicorn, load_average, sample_rows, verdict  # noqa: E402
from creditrisk.data.contract import required_columns, SPECS  # noqa: E402
from creditrisk.modeling.bundle import load_bundle, ModelBundle  # noqa: E402
from creditrisk.releases import MODEL_NAME  # noqa: E402
from creditrisk.serving import predlog  # noqa: E402
from creditrisk.serving.open_inference import CONTRACT_DATATYPES  # noqa: E402
from creditrisk.serving.scoring import validate_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# uvloop 0.22 and later stop MLServer 1.7.1's inference workers at start ("There is no current event loop",
# SeldonIO/MLServer issue 2286, unreleased fix): the last uvloop before it.
MLSERVER = ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0")
# What the pipeline needs to unpickle and run, at this project's locked versions.
SHARED = ("numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "statsmodels", "PyYAML", "joblib")
BATCHES = (1_000, 10_000)
CHECK_ROWS, RAW_ROWS = 100, 10_000
SAME_PD = 1e-9  # the largest PD difference that counts as the same PD
TARGETS = {"single-row requests/s": 1.8, "single-row p99 (at most)": 0.5, "v2 rows/s at 10,000 rows": 1.5}
WAYS = ("predict", "v2", "mlserver")
LABELS = {"predict": "this API /predict", "v2": "this API /v2 infer", "mlserver": "MLServer V2 infer"}


def locked_versions(names: tuple[str, ...]) -> list[str]:
    lock = dict(line.split("==", 1) for line in (REPO / "requirements.lock").read_text().split() if "==" in line)
    lowered = {name.lower(): (name, version) for name, version in lock.items()}
    return [f"{lowered[name.lower()][0]}=={lowered[name.lower()][1]}" for name in names]


def mlserver_environment(directory: Path) -> Path:
    """MLServer's own virtual environment (made once; remade when the requirements change): its python."""
    requirements = [*MLSERVER, *locked_versions(SHARED)]
    marker = directory / "requirements.txt"
    python = directory / "bin" / "python"
    if marker.exists() and marker.read_text().split() == requirements and python.exists():
        return python
    print(f"making MLServer's virtual environment in {directory} (a few minutes, once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(directory)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *requirements], check=True)
    marker.write_text("\n".join(requirements) + "\n")
    return python


@contextmanager
def mlserver(python: Path, bundle: ModelBundle, directory: Path, workers: int) -> Iterator[str]:
    """MLServer serving the bundle's pipeline (joblib) with `workers` parallel workers: its URL."""
    model_dir = directory / MODEL_NAME
    model_dir.mkdir(parents=True)
    joblib.dump(bundle.pipeline, model_dir / "model.joblib")
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": MODEL_NAME, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": bundle.version}}))
    port = free_port()
    (directory / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
        "parallel_workers": workers}))
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with open(directory / "mlserver.log", "wb") as log:
        process = subprocess.Popen([str(python.parent / "mlserver"), "start", str(directory)], cwd=directory,
                                   env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/v2/models/{MODEL_NAME}/ready", process, directory / "mlserver.log")
        yield url
    finally:
        process.terminate()
        process.wait(60)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"MLServer exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy starting
            pass
        time.sleep(0.5)
    raise SystemExit(f"MLServer was not ready in 180 s: {log.read_text(errors='replace')[-3000:]}")


def _plain(values: pd.Series) -> list[object]:
    return values.astype(object).where(values.notna(), None).tolist()


def predict_body(frame: pd.DataFrame) -> bytes:
    return orjson.dumps({"columns": list(frame.columns), "data": frame.astype(object)
                         .where(frame.notna(), None).values.tolist()})


def v2_body(frame: pd.DataFrame) -> bytes:
    """This API's inference request: one input per contract column, with the metadata's datatypes."""
    inputs = []
    for name in frame.columns:
        datatype = CONTRACT_DATATYPES[SPECS[name].kind]
        data = _plain(frame[name].astype(str).where(frame[name].notna()) if datatype == "BYTES" else frame[name])
        inputs.append({"name": name, "shape": [len(frame)], "datatype": datatype, "data": data})
    outputs = [{"name": name} for name in ("pd", "band", "decision")]
    return orjson.dumps({"inputs": inputs, "outputs": outputs})


def mlserver_body(frame: pd.DataFrame, features: list[str]) -> bytes:
    """MLServer's inference request as its pandas codec writes it: one [rows, 1] input per column, text as
    BYTES with content type str, asking for predict_proba."""
    inputs = []
    for name in features:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values):
            datatype, parameters = ("INT64" if pd.api.types.is_integer_dtype(values) else "FP64"), {}
        else:
            datatype, parameters = "BYTES", {"content_type": "str"}
        inputs.append({"name": name, "shape": [len(frame), 1], "datatype": datatype, "parameters": parameters,
                       "data": _plain(values)})
    return orjson.dumps({"parameters": {"content_type": "pd"}, "inputs": inputs,
                         "outputs": [{"name": "predict_proba"}]})


@dataclass
class Endpoint:
    """One way of scoring: where to post, how to write a batch, how to read its PDs."""

    url: str
    body: Callable[[pd.DataFrame], bytes]
    pds: Callable[[dict[str, object]], np.ndarray]
    content_type: str = "application/json"
    seconds: dict[int, list[float]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    single_rates: list[float] = field(default_factory=list)

    def connect(self) -> http.client.HTTPConnection:
        """A keep-alive connection: http.client costs the client a fraction of what requests does, so that on
        two shared cores the client takes less of the time it measures."""
        address = urlsplit(self.url)
        return http.client.HTTPConnection(address.hostname, address.port, timeout=300)

    def post(self, connection: http.client.HTTPConnection, body: bytes) -> bytes:
        address = urlsplit(self.url)
        connection.request("POST", f"{address.path}?{address.query}" if address.query else address.path, body,
                           {"Content-Type": self.content_type})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"{self.url}: HTTP {response.status}: {answer[:500]!r}")
        return answer

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pds(orjson.loads(self.post(self.connect(), self.body(frame))))


def endpoints(api: str, peer: str, features: list[str]) -> dict[str, Endpoint]:
    def predict_pds(answer: dict[str, object]) -> np.ndarray:
        return np.array([row["pd"] for row in answer["predictions"]])  # type: ignore[index, union-attr]

    def output(answer: dict[str, object], name: str) -> np.ndarray:
        found = next(o for o in answer["outputs"] if o["name"] == name)  # type: ignore[union-attr, index]
        return np.array(found["data"], dtype=float).reshape(found["shape"])

    return {
        "predict": Endpoint(f"{api}/predict?reasons=false", predict_body, predict_pds),
        "v2": Endpoint(f"{api}/v2/models/{MODEL_NAME}/infer", v2_body, lambda answer: output(answer, "pd")),
        "mlserver": Endpoint(f"{peer}/v2/models/{MODEL_NAME}/infer", lambda frame: mlserver_body(frame, features),
                             lambda answer: output(answer, "predict_proba")[:, 1]),
    }


def unchanged_rows(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The first `rows` rows the contract leaves as they are: no warning, nothing missing."""
    batch = validate_batch(frame)
    clean = [row for row in range(len(frame)) if row not in batch.warnings and frame.iloc[row].notna().all()]
    return frame.iloc[clean[:rows]].reset_index(drop=True)


def check_same_pds(ways: dict[str, Endpoint], frame: pd.DataFrame) -> None:
    rows = unchanged_rows(frame, CHECK_ROWS)
    found = {name: way.score(rows) for name, way in ways.items()}
    gaps = {name: float(np.max(np.abs(found[name] - found["predict"]))) for name in ("v2", "mlserver")}
    print(f"same PDs on {len(rows)} rows the contract leaves as they are: largest difference from /predict "
          + ", ".join(f"{LABELS[name]} {gap:.1e}" for name, gap in gaps.items()))
    if max(gaps.values()) > SAME_PD:
        raise SystemExit(f"the servers disagree by more than {SAME_PD:g}: the comparison would not be fair")


def single_rows(way: Endpoint, body: bytes, clients: int, per_client: int) -> None:
    """`clients` threads each posting `per_client` one-row requests: latencies and requests/s."""
    def client(_: int) -> list[float]:
        connection, latencies = way.connect(), []
        for _ in range(per_client):
            start = time.perf_counter()
            way.post(connection, body)
            latencies.append((time.perf_counter() - start) * 1000)
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [value for values in pool.map(client, range(clients)) for value in values]
    way.single_rates.append(len(latencies) / (time.perf_counter() - start))
    way.latencies_ms += latencies


def batch_seconds(way: Endpoint, body: bytes, rows: int, repeats: int) -> None:
    connection = way.connect()
    way.post(connection, body)  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        way.post(connection, body)
        way.seconds.setdefault(rows, []).append(time.perf_counter() - start)


def measure(ways: dict[str, Endpoint], frames: dict[int, pd.DataFrame], args: argparse.Namespace) -> None:
    """Single rows first, then batches, the ways alternating in order round by round."""
    bodies = {name: {rows: way.body(frame) for rows, frame in frames.items()} for name, way in ways.items()}
    gc.collect()
    gc.freeze()  # a full collection of the client's heap would stall every client thread at once
    for name, way in ways.items():
        single_rows(way, bodies[name][1], args.clients, 2)  # warm-up, not counted
        way.latencies_ms.clear()
        way.single_rates.clear()
    for round_number in range(args.rounds):
        for name in alternating(round_number):
            single_rows(ways[name], bodies[name][1], args.clients, args.requests_per_client)
    for round_number in range(args.rounds):
        for name in alternating(round_number):
            for rows in BATCHES:
                batch_seconds(ways[name], bodies[name][rows], rows, max(2, 30_000 // rows // args.rounds))


def alternating(round_number: int) -> tuple[str, ...]:
    return WAYS if round_number % 2 == 0 else tuple(reversed(WAYS))


def report(ways: dict[str, Endpoint]) -> None:
    rates = {name: statistics.median(way.single_rates) for name, way in ways.items()}
    p50, p99 = ({name: float(np.percentile(way.latencies_ms, q)) for name, way in ways.items()} for q in (50, 99))
    rows_per_second = {name: {rows: rows / statistics.median(way.seconds[rows]) for rows in BATCHES}
                       for name, way in ways.items()}
    print(f"\n{'':34}" + "".join(f"{LABELS[name]:>22}" for name in WAYS) + f"{'ratio /predict':>16}{'ratio /v2':>11}")
    lines = [("single row at 8 clients, requests/s", rates), ("single row p50, ms", p50), ("single row p99, ms", p99),
             *((f"{rows:,} rows, rows/s", {name: rows_per_second[name][rows] for name in WAYS}) for rows in BATCHES)]
    for label, values in lines:
        print(f"{label:34}" + "".join(f"{values[name]:>22.1f}" for name in WAYS)
              + f"{values['predict'] / values['mlserver']:>15.2f}x{values['v2'] / values['mlserver']:>10.2f}x")
    print("\ntargets against MLServer:")
    for name in ("predict", "v2"):
        print(f"  {LABELS[name]}: single-row requests/s >= 1.8x: {rates[name] / rates['mlserver']:.2f}x "
              f"{verdict(rates[name] >= 1.8 * rates['mlserver'])}; p99 <= 0.5x: {p99[name] / p99['mlserver']:.2f}x "
              f"{verdict(p99[name] <= 0.5 * p99['mlserver'])}")
    ratio = rows_per_second["v2"][10_000] / rows_per_second["mlserver"][10_000]
    print(f"  {LABELS['v2']} at 10,000 rows >= 1.5x MLServer's V2 rows/s (like-for-like payload): {ratio:.2f}x "
          f"{verdict(ratio >= 1.5)}")


def what_mlserver_does_not_do(ways: dict[str, Endpoint], raw: pd.DataFrame, log: Path) -> None:
    """The contract, the log and the reasons, shown on the same rows."""
    ours, theirs = ways["predict"].score(raw), ways["mlserver"].score(raw)
    differ = np.abs(ours - theirs) > SAME_PD
    warned = len(validate_batch(raw).warnings)
    print(f"\nwhat MLServer does not do:\n  the data contract: on {len(raw):,} raw sample rows {warned} hold values the "
          f"contract treats as missing (placeholders, out of range, unknown categories); MLServer scores them as "
          f"they come: {int(differ.sum())} of its PDs differ from this API's, by up to {np.abs(ours - theirs).max():.3f}")
    refused = raw.head(1).assign(plazo_meses=-3)
    answer = requests.post(ways["predict"].url, data=predict_body(refused), timeout=30,
                           headers={"Content-Type": "application/json"})
    peer = requests.post(ways["mlserver"].url, data=ways["mlserver"].body(refused), timeout=30)
    print(f"  a term of -3 months: this API answers {answer.status_code} "
          f"({answer.json()['errors'][0]['rule']} on row 0, field plazo_meses); MLServer answers "
          f"{peer.status_code} with a PD of {ways['mlserver'].pds(peer.json())[0]:.4f}" if peer.status_code == 200
          else f"  a term of -3 months: this API answers {answer.status_code}, MLServer {peer.status_code}")
    print(f"  the prediction log: this API logged {predlog.count_rows(log):,} rows during this run, each with its "
          "PD, band, decision, points and reasons' codes; MLServer logs none")
    print("  reasons: this API gives each row's principal reasons (adverse action) on request; MLServer none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "model.skops")
    parser.add_argument("--lock", type=Path, default=REPO / "dvc.lock")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests-per-client", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--venv", type=Path, default=REPO / ".peer-bench" / "mlserver-1.7.1",
                        help="MLServer's virtual environment (made when missing)")
    args = parser.parse_args()
    bundle = load_bundle(args.model, args.lock)
    python = mlserver_environment(args.venv)
    raw = sample_rows(RAW_ROWS)[[*required_columns("scoring")]]
    frames = {1: raw.head(1), **{rows: raw.head(rows) for rows in BATCHES}}
    print(f"model {bundle.version} ({args.model}); {args.workers} workers on each side; "
          f"load average before: {load_average()} ({os.cpu_count()} cores, shared)")
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as temporary, ExitStack() as servers:
        directory = Path(temporary)
        api, _ = servers.enter_context(gunicorn("app:create_app()", args.model, args.lock, directory / "api",
                                                args.workers))
        peer = servers.enter_context(mlserver(python, bundle, directory / "mlserver", args.workers))
        ways = endpoints(api, peer, bundle.features)
        check_same_pds(ways, raw)
        measure(ways, frames, args)
        print(f"load average after: {load_average()}")
        report(ways)
        what_mlserver_does_not_do(ways, raw, directory / "api" / "predictions.sqlite")


if __name__ == "__main__":
    main()
