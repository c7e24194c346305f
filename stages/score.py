"""DVC stage `score`, and the command that scores any dataset: batch scoring with the served model.

    python -m stages.score                                  # the stage: params.yaml `score` block
    python -m stages.score --input 'portfolio/*.parquet' --output /data/scored [--engine pandas]

On Dask (the default engine) the job connects to DASK_SCHEDULER_ADDRESS (or `dask.scheduler`) when one
is named, else starts a LocalCluster sized to the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from creditrisk.io import atomic_write_metrics
from creditrisk.modeling.bundle import ArtifactError
from creditrisk.params import ParamsError, load_params, section
from creditrisk.serving.batch import (
    dask_runner, run_in_process, score_dataset, scorer_warmup, BatchJobError, JobSummary, Progress, ScoreParams,
)
from creditrisk.serving.cluster import dask_client, scheduler_address, DaskParams
from creditrisk.data.contract import ContractError
from creditrisk.data.sources import SourceError


def arguments(params: ScoreParams) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=params.input, help="parquet directory or glob, CSV/XLSX files")
    parser.add_argument("--output", default=params.output_dir, help="output directory (replaced when complete)")
    parser.add_argument("--engine", choices=["dask", "pandas"], default=params.engine)
    parser.add_argument("--model", default=params.model_path)
    parser.add_argument("--summary", default=None, help="also write the job's counts here (the stage writes "
                                                        "score.summary_path; the output's _manifest.json has all)")
    return parser.parse_args()


def progress_printer(every: float) -> Progress:
    """A progress line at most every `every` seconds, and one at the end."""
    last = [float("-inf")]

    def show(done: int, total: int, rows: int, seconds: float) -> None:
        if done == total or seconds - last[0] >= every:
            last[0] = seconds
            rate = rows / seconds if seconds > 0 else 0.0
            print(f"score: {done}/{total} partitions, {rows:,} rows, {rate:,.0f} rows/s, {seconds:.1f} s",
                  flush=True)
    return show


def run(params: ScoreParams, dask: DaskParams, args: argparse.Namespace) -> JobSummary:
    show = progress_printer(params.progress_seconds)
    common = dict(day_first=params.day_first, numpy_path=params.numpy_path, progress=show, reasons=params.reasons,
                  chunk_rows=params.chunk_rows)
    if args.engine == "pandas":
        return score_dataset(args.input, Path(args.output), Path(args.model), run_in_process, "pandas", **common)
    address = scheduler_address(dask)
    with dask_client(dask, address, inherit=scorer_warmup(Path(args.model), params.numpy_path)) as client:
        where = f"scheduler {address}" if address else f"LocalCluster of {len(client.scheduler_info()['workers'])} workers"
        print(f"score: Dask on {where}", flush=True)
        return score_dataset(args.input, Path(args.output), Path(args.model), dask_runner(client), "dask", **common)


def main() -> None:
    started = time.perf_counter()
    try:
        loaded = load_params()
        params, dask = section(loaded, "score", ScoreParams), section(loaded, "dask", DaskParams)
    except ParamsError as error:
        sys.exit(f"score: {error}")
    args = arguments(params)
    stage_run = args.input == params.input and args.output == params.output_dir
    try:
        summary = run(params, dask, args)
    except (BatchJobError, ContractError, SourceError, ArtifactError, OSError) as error:
        sys.exit(f"score: {error}")
    summary_path = args.summary or (params.summary_path if stage_run else None)
    if summary_path:
        atomic_write_metrics(Path(summary_path), summary.reproducible_json())
    print(f"score: {summary.rows_in:,} rows in {summary.partitions} partition(s): {summary.rows_scored:,} scored, "
          f"{summary.rows_rejected:,} rejected -> {summary.output_dir}; {time.perf_counter() - started:.1f} s")
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in summary.steps.items())
    print(f"score: model load {summary.prepare_seconds:.1f} s; partitions {summary.partition_seconds:.1f} s "
          f"({summary.partition_cpu_seconds:.1f} s CPU), by step: {steps}")


if __name__ == "__main__":
    main()
