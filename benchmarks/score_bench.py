"""Batch scoring and drift at portfolio scale: Dask (2 worker processes) against one pandas process.

Writes partitioned sample data into a scratch directory (never the project): each partition is one
month of loans from the sample generator with its own seed, `--partition-rows` rows each, so 10M rows
are 40 partitions of 250k over 20 months. Then, per size:

- scoring: `score_dataset` over the parquet partitions on a fresh 2-worker LocalCluster and in one
  process (`engine pandas`, a fresh process); rows/s of each and their ratio, and the peak RSS of each
  Dask worker process (target: the 10M-row peak within 1.5x of the 1M-row peak: memory bounded by the
  partition, not the data);
- drift (`--drift`): the drift run over the same rows written as export CSV files, the pandas engine
  (`run_drift`, a fresh process) against the Dask engine (`run_drift_dask`), seconds and ratio, and
  whether every window's status agrees.

Needs the workspace model and reference (`dvc repro`). Heavy: run it once.

    python benchmarks/score_bench.py --rows 1000000 10000000 [--drift] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from creditrisk.modeling.bundle import load_bundle
from creditrisk.monitoring.drift import DriftParams
from creditrisk.params import configured
from creditrisk.serving.batch import dask_runner, run_in_process, score_dataset
from creditrisk.serving.cluster import dask_client, DaskParams
from creditrisk.data.synthetic import generate_history, GenerateParams
from creditrisk.data.synthetic.writers import write_csv

MODEL = Path("models/model.skops")
START = pd.Timestamp("2026-05-01")
WORKERS = 2
MEMORY_TARGET = 1.5


def write_partitions(root: Path, rows: int, partition_rows: int, fmt: str) -> Path:
    """`rows` loans in partitions of `partition_rows`, two or more per month, each its own seed."""
    root.mkdir(parents=True, exist_ok=True)
    parts = max(1, rows // partition_rows)
    for number in range(parts):
        month = START + pd.DateOffset(months=number // 2)
        frame = generate_history(configured(GenerateParams, rows=partition_rows, months=1, quirks=False,
                                            start=month.strftime("%Y-%m-%d"), seed=1000 + number))
        if fmt == "parquet":
            frame.to_parquet(root / f"part-{number:04d}.parquet", row_group_size=partition_rows)
        else:
            write_csv(frame, root / f"loans_{number:04d}.csv", False, number)
    return root


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh(function: Any, *args: Any) -> Any:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def score_in_process(dataset: Path, output: Path) -> dict[str, float]:
    summary = score_dataset(dataset, output, MODEL, run_in_process, "pandas")
    return {"seconds": summary.seconds, "rows": summary.rows_in, "peak_mb": peak_mb()}


def score_on_dask(dataset: Path, output: Path) -> dict[str, Any]:
    params = configured(DaskParams, workers=WORKERS, threads_per_worker=1)
    with dask_client(params) as client:
        summary = score_dataset(dataset, output, MODEL, dask_runner(client), "dask")
        peaks = sorted(client.run(peak_mb).values())
    return {"seconds": summary.seconds, "rows": summary.rows_in, "worker_peak_mb": peaks}


def drift_pandas(dataset: Path) -> dict[str, Any]:
    from creditrisk.monitoring.run import run_drift

    params = configured(DriftParams)
    reference = pd.read_parquet(params.reference_path)
    started = time.perf_counter()
    report = run_drift(params, reference, sorted(dataset.glob("*.csv")), load_bundle(MODEL), None, None)
    return {"seconds": time.perf_counter() - started, "statuses": [w["status"] for w in report.windows],
            "peak_mb": peak_mb()}


def drift_dask(dataset: Path) -> dict[str, Any]:
    from creditrisk.monitoring.dask_drift import run_drift_dask

    params = configured(DriftParams, engine="dask")
    reference = pd.read_parquet(params.reference_path)
    with dask_client(configured(DaskParams, workers=WORKERS)) as client:
        started = time.perf_counter()
        report = run_drift_dask(params, reference, sorted(dataset.glob("*.csv")), client, load_bundle(MODEL), MODEL,
                                None, None)
        seconds = time.perf_counter() - started
        peaks = sorted(client.run(peak_mb).values())
    return {"seconds": seconds, "statuses": [w["status"] for w in report.windows], "worker_peak_mb": peaks,
            "ks_error_bound": report.summary["engine"]["ks_error_bound"], "client_peak_mb": peak_mb()}


def bench_scoring(rows: int, partition_rows: int, scratch: Path) -> dict[str, Any]:
    dataset = write_partitions(scratch / f"parquet-{rows}", rows, partition_rows, "parquet")
    single = fresh(score_in_process, dataset, scratch / "out-pandas")
    dask = fresh(score_on_dask, dataset, scratch / "out-dask")
    single_rate, dask_rate = single["rows"] / single["seconds"], dask["rows"] / dask["seconds"]
    print(f"score {rows:>11,} rows ({rows // partition_rows} partitions of {partition_rows:,}): "
          f"pandas 1 process {single_rate:>9,.0f} rows/s ({single['seconds']:.1f} s, peak {single['peak_mb']:,.0f} MB)"
          f" | Dask {WORKERS} workers {dask_rate:>9,.0f} rows/s ({dask['seconds']:.1f} s) = {dask_rate / single_rate:.2f}x;"
          f" peak RSS per worker {', '.join(f'{mb:,.0f}' for mb in dask['worker_peak_mb'])} MB", flush=True)
    shutil.rmtree(dataset)
    shutil.rmtree(scratch / "out-pandas", ignore_errors=True)
    shutil.rmtree(scratch / "out-dask", ignore_errors=True)
    return {"rows": rows, "worker_peak_mb": max(dask["worker_peak_mb"])}


def bench_drift(rows: int, partition_rows: int, scratch: Path) -> None:
    dataset = write_partitions(scratch / f"csv-{rows}", rows, partition_rows, "csv")
    single = fresh(drift_pandas, dataset)
    dask = fresh(drift_dask, dataset)
    same = single["statuses"] == dask["statuses"]
    print(f"drift {rows:>11,} rows ({len(dask['statuses'])} monthly windows): pandas {single['seconds']:.1f} s "
          f"(peak {single['peak_mb']:,.0f} MB) | Dask {WORKERS} workers {dask['seconds']:.1f} s "
          f"= {single['seconds'] / dask['seconds']:.2f}x faster; peak RSS per worker "
          f"{', '.join(f'{mb:,.0f}' for mb in dask['worker_peak_mb'])} MB, client {dask['client_peak_mb']:,.0f} MB; "
          f"statuses {'equal' if same else 'DIFFER'}; KS grid error bound {dask['ks_error_bound']:.2g}", flush=True)
    shutil.rmtree(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000],
                        help="sizes (the figures in the README: --rows 1000000 10000000 --drift)")
    parser.add_argument("--partition-rows", type=int, default=250_000)
    parser.add_argument("--drift", action="store_true", help="also the drift run at the largest size")
    parser.add_argument("--no-scoring", action="store_true")
    parser.add_argument("--scratch", type=Path, default=None, help="where the data go (default: a temp dir)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="creditrisk-scale-"))
    print(f"score_bench: model {MODEL}, data in {scratch}", flush=True)
    try:
        results = [] if args.no_scoring else [bench_scoring(rows, args.partition_rows, scratch) for rows in args.rows]
        if len(results) >= 2:
            small, large = results[0], results[-1]
            ratio = large["worker_peak_mb"] / small["worker_peak_mb"]
            print(f"peak RSS per worker: {large['rows']:,} rows {large['worker_peak_mb']:,.0f} MB vs "
                  f"{small['rows']:,} rows {small['worker_peak_mb']:,.0f} MB = {ratio:.2f}x "
                  f"({'within' if ratio <= MEMORY_TARGET else 'OVER'} the {MEMORY_TARGET}x target)", flush=True)
        if args.drift:
            bench_drift(max(args.rows), args.partition_rows, scratch)
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
