"""The drift stage and the dashboard against a large prediction log: memory and time by log size.

For each size (default 250k and 1M rows; `--rows 250000 1000000 4000000` for more), an SQLite log is
filled with scored batches of 10,000 rows (loan dates spread evenly over 12 months, inserted through
`PredictionLog.append` as the API does), then a fresh process runs the drift computation on the log
alone (`run_drift` with the project's reference, model and params, no incoming batches: it reads the
log window by window through the reader) and the dashboard's activity query. It prints:

- the insert rate while filling;
- drift wall seconds, seconds per million rows, and the process's peak RSS;
- the dashboard's activity query (counts in the database) in seconds.

Targets (issue: a year of a mid-size lender's decisions): peak RSS with 10M rows < 1 GB, time no
faster than linear in the rows read, the dashboard overview under 5 s. Memory holds one window, so
with the rows spread over 12 windows the peak is set by the largest window (rows / 12), and a run
at N rows predicts one at 10M rows by the growth of the peak with the window size.

    python benchmarks/log_scale_bench.py [--rows 250000 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.api_bench import sample_rows  # noqa: E402
from creditrisk.serving import predlog  # noqa: E402
from creditrisk.serving.scoring import validate_batch  # noqa: E402

BATCH = 10_000
MONTHS = 12
TARGET_PEAK_MB, TARGET_ROWS, DASHBOARD_TARGET_S = 1024.0, 10_000_000, 5.0


def fill(path: Path, rows: int) -> float:
    """Append `rows` rows in batches as the API would; returns rows per second."""
    frame = validate_batch(sample_rows(BATCH)).frame
    months = pd.date_range("2025-01-01", periods=MONTHS, freq="MS")
    rng = np.random.default_rng(3)
    log = predlog.PredictionLog(path)
    started = time.perf_counter()
    for number in range(rows // BATCH):
        days = pd.to_timedelta(rng.integers(0, 28 * 86_400, BATCH), unit="s")
        batch = frame.assign(fecha_prestamo=months[number % MONTHS] + days)
        pds = rng.beta(2, 25, BATCH)
        log.append(predlog.log_entry(batch, f"bench-{number}", "bench", pds, np.where(pds < 0.1, "A", "B"),
                                    np.where(pds < 0.15, "approve", "reject")))
    log.close()
    return rows / (time.perf_counter() - started)


def measure(path: Path) -> dict[str, float]:
    """In this (fresh) process: the drift run over the log, then the dashboard's activity query."""
    from creditrisk.modeling.bundle import load_bundle
    from creditrisk.monitoring.drift import DriftParams
    from creditrisk.monitoring.run import run_drift
    from creditrisk.params import load_params, section

    params = section(load_params(REPO / "params.yaml"), "drift", DriftParams)
    reference = pd.read_parquet(REPO / params.reference_path)
    model = load_bundle(REPO / params.model_path)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    report = run_drift(params, reference, [], model, None, path)
    drift_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    activity = predlog.open_reader(path).activity("2000-01-01")
    dashboard_s = time.perf_counter() - started
    return {"drift_s": drift_s, "peak_mb": peak, "before_mb": baseline, "dashboard_s": dashboard_s,
            "rows_read": sum(w["rows"] for w in report.windows), "windows": len(report.windows),
            "counted": activity.total_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, help="build the logs in this folder and keep them")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="log-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{'rows':>11} {'insert rows/s':>14} {'drift s':>8} {'s / 1M rows':>12} {'peak MB':>8} "
          f"{'before drift MB':>16} {'dashboard s':>12}")
    results = []
    for rows in args.rows:
        path = folder / f"log-{rows}.sqlite"
        rate = fill(path, rows) if not path.exists() else float("nan")
        output = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True,
                                capture_output=True, text=True, cwd=REPO).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results.append((rows, result))
        print(f"{rows:>11,} {rate:>14,.0f} {result['drift_s']:>8.1f} {result['drift_s'] / rows * 1e6:>12.1f} "
              f"{result['peak_mb']:>8.0f} {result['before_mb']:>16.0f} {result['dashboard_s']:>12.2f}"
              f"   ({result['windows']} windows, {result['rows_read']:,} rows read, {result['counted']:,} counted)")
    report(results)
    if args.keep is None:
        for path in folder.glob("log-*"):
            path.unlink()
        folder.rmdir()


def report(results: list[tuple[int, dict[str, float]]]) -> None:
    """The targets at 10M rows, measured when that size was run, else extrapolated (and said so)."""
    (small, first), (large, last) = results[0], results[-1]
    per_row_mb = (last["peak_mb"] - first["peak_mb"]) / max(large - small, 1)
    predicted = last["peak_mb"] + per_row_mb * (TARGET_ROWS - large)
    how = "measured" if large >= TARGET_ROWS else f"extrapolated linearly from {small:,} and {large:,} rows"
    growth = (last["drift_s"] / large) / (first["drift_s"] / small)
    print(f"peak RSS at {TARGET_ROWS:,} rows: {predicted:.0f} MB ({how}) < {TARGET_PEAK_MB:.0f} MB: "
          f"{'ok' if predicted < TARGET_PEAK_MB else 'MISSED'}")
    print(f"time per row at {large:,} / at {small:,} rows: {growth:.2f} (<= 1.1 means linear or better): "
          f"{'ok' if growth <= 1.1 else 'MISSED'}")
    print(f"dashboard activity query at {large:,} rows: {last['dashboard_s']:.2f} s < {DASHBOARD_TARGET_S:.0f} s: "
          f"{'ok' if last['dashboard_s'] < DASHBOARD_TARGET_S else 'MISSED'}")


if __name__ == "__main__":
    main()
