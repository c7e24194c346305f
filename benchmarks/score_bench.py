"""Batch scoring and drift at portfolio scale: Dask (2 worker processes) against one process.

Writes partitioned sample data into a scratch directory (never the project): each partition is one
month of loans from the sample generator with its own seed, `--partition-rows` rows each, so 10M rows
are 40 partitions of 250k over 20 months. Per size (default 1M and 10M rows), each engine in a fresh
process, with reasons as the `score` stage computes them:

- one process (`engine pandas`): the fixed cost (importing the scoring code and loading the model) apart
  from the per-row rate, the peak RSS, and where a partition's time goes (the steps each partition reports:
  read, validate, features, encode, predict, reasons, frames, write);
- the floor: the in-process rate of the model's own numpy-path PD plus principal reasons (`engine.encode`,
  `pd_of`, `contributions_of`, and the reasons chosen as codes by `principal_reason_codes`) on the same rows,
  one thread, in the same chunks of `score.chunk_rows` rows, measured inside the one-process job right after
  each of a sample of partitions (about `--floor-rows` rows, spread over the dataset) and taken out of the
  job's time. Target: the one process's per-row rate at least 0.8x the floor;
- the one-process job runs twice, before and after Dask, and Dask is compared with their mean: the host's
  speed drifts from minute to minute, and a drift in between cancels;
- Dask, 2 workers: the fixed cost (the model load in the job's process, which forked workers inherit; cluster
  start; the workers' own model load, none when forked; cluster stop) apart from the per-row rate,
  the same breakdown measured inside the workers (and their CPU seconds against their wall seconds: a worker
  that waited for a core shows here), the peak RSS of each worker, and the ratio to one process, fixed costs
  included on both sides (targets 1.3x at 1M rows, 1.7x at 10M; the 10M-row worker peak within 1.5x of the
  1M-row peak);
- drift (`--drift`, at the largest size): the pandas engine against the Dask engine over the same rows
  written as export CSV files, seconds and ratio, and whether every window's status agrees;
- a memory copy of partition-sized arrays in one process and in two at once: what two cores can move
  together, the limit of any scaling of work that streams through memory;
- the first write to fresh memory in a new process against writing the same memory again: what a process pays
  for each megabyte it touches first. The one-process run prints how much its peak RSS grew in its first
  partition, what those megabytes cost at that rate, and how much longer its first partition took than the
  mean of the later ones: a cost the floor, measured warm, does not pay;
- the model's arithmetic (the floor's, on one partition in memory) in one process and in two at once: what
  two cores give the work itself, the ceiling of two workers' scaling on this machine.

The machine may be shared: the one-minute load average is recorded before and after each run, with the CPU
other processes used during it (the machine's busy time minus this benchmark's own processes'); a ratio is
reported only when the load before was at most 1.0 and other processes used at most `--others-max` of a core
during the runs (the load average after includes the benchmark's own work).

Needs the workspace model and reference (`dvc repro`). Heavy (10M rows: about 1.5 GB of parquet, 1.4 GB of
CSV for drift, deleted after each size): run it once, on an idle machine.

    python benchmarks/score_bench.py [--rows 1000000 10000000] [--drift] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL = Path("models/model.skops")
START = "2026-05-01"
WORKERS = 2
LOAD_LIMIT = 1.0
MEMORY_TARGET = 1.5
FLOOR_TARGET = 0.8
RATIO_TARGETS = {1_000_000: 1.3, 10_000_000: 1.7}
COPY_MB = 68  # a 250,000-row partition's estimator input: 250,000 x 34 float64
ARITHMETIC_STEPS = ("features", "encode", "predict", "reasons")  # the floor's work, as the job's steps time it
TOUCH_MB = 256  # more than the 100-155 MB the one-process job's peak RSS grows by in its first partition


def write_partitions(root: Path, rows: int, partition_rows: int, fmt: str) -> Path:
    """`rows` loans in partitions of `partition_rows`, two per month, each its own seed."""
    import pandas as pd

    from creditrisk.data.synthetic import generate_history, GenerateParams
    from creditrisk.data.synthetic.writers import write_csv
    from creditrisk.params import configured

    root.mkdir(parents=True, exist_ok=True)
    for number in range(max(1, rows // partition_rows)):
        month = pd.Timestamp(START) + pd.DateOffset(months=number // 2)
        frame = generate_history(configured(GenerateParams, rows=partition_rows, months=1, quirks=False,
                                            start=month.strftime("%Y-%m-%d"), seed=1000 + number))
        if fmt == "parquet":
            frame.to_parquet(root / f"part-{number:04d}.parquet", row_group_size=partition_rows)
        else:
            write_csv(frame, root / f"loans_{number:04d}.csv", False, number)
    return root


def chunk_rows() -> int:
    """The rows of a partition the `score` stage scores at once (`score.chunk_rows`)."""
    from creditrisk.params import configured
    from creditrisk.serving.batch import ScoreParams

    return configured(ScoreParams).chunk_rows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fresh(function: Callable[..., Any], *args: Any) -> Any:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# ---------------------------------------------------------------------------------------------- the machine


def _busy_seconds() -> float:
    """CPU seconds every process of the machine has used since boot (/proc/stat: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and every finished process it started (workers, nannies, fresh processes)."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class Load:
    """The one-minute load average before and after some runs, and the cores other processes used meanwhile;
    quiet when the load before was at most `LOAD_LIMIT` and the others used at most `others_max` cores."""

    others_max: float
    before: float = 0.0
    after: float = 0.0
    others: float = 0.0
    wall: float = 0.0

    @property
    def quiet(self) -> bool:
        return self.before <= LOAD_LIMIT and self.others <= self.others_max

    def __str__(self) -> str:
        return (f"load average {self.before:.2f} before, {self.after:.2f} after (this benchmark's own work included); "
                f"other processes used {self.others:.2f} core(s) meanwhile")


def settle(limit: float, timeout: float) -> float:
    """Wait, up to `timeout` seconds, for the one-minute load average to fall to `limit`: the tail of this
    benchmark's own previous step (writing the data, the run before) decays by 1/e a minute and would
    otherwise count as a busy machine. Returns the seconds waited."""
    started = time.perf_counter()
    while os.getloadavg()[0] > limit and time.perf_counter() - started < timeout:
        time.sleep(5)
    return time.perf_counter() - started


@contextmanager
def watched(others_max: float, settle_seconds: float = 0.0) -> Iterator[Load]:
    waited = settle(LOAD_LIMIT, settle_seconds)
    if waited >= 5:
        print(f"  waited {waited:.0f} s for the load average to settle", flush=True)
    load = Load(others_max, before=os.getloadavg()[0])
    busy, own, started = _busy_seconds(), _own_seconds(), time.perf_counter()
    yield load
    load.wall = time.perf_counter() - started
    load.after = os.getloadavg()[0]
    load.others = max(0.0, (_busy_seconds() - busy) - (_own_seconds() - own)) / max(load.wall, 1e-9)


# ---------------------------------------------------------------------------------------------- scoring runs


@dataclass
class Run:
    """One engine's job: seconds from the start of its process, the fixed part of them, and its partitions."""

    engine: str
    rows: int
    total: float                 # import + (cluster start) + job
    fixed: dict[str, float]      # import, cluster start, model load: everything before the first partition
    steps: dict[str, float]      # summed over the partitions, wall seconds where the partition ran
    partition_wall: float
    partition_cpu: float
    peaks_mb: list[float]
    floor_rows: int = 0
    floor_seconds: float = 0.0
    first_partition: FirstPartition | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fixed_seconds(self) -> float:
        return sum(self.fixed.values())

    @property
    def per_row_rate(self) -> float:
        return self.rows / max(self.total - self.fixed_seconds, 1e-9)


def _run(engine: str, dataset: Path, output: Path, started: float, fixed: dict[str, float], runner: Any,
         load: str = "model load") -> Run:
    from creditrisk.serving.batch import score_dataset

    summary = score_dataset(dataset, output, MODEL, runner, engine, reasons=True, chunk_rows=chunk_rows())
    fixed[load] = summary.prepare_seconds
    return Run(engine, summary.rows_in, time.perf_counter() - started, fixed, summary.steps,
               summary.partition_seconds, summary.partition_cpu_seconds, [])


def score_in_process(dataset: Path, output: Path, floor_every: int) -> Run:
    """The one-process job, with the floor measured right after every `floor_every`-th partition on that
    partition's rows: the job and its floor then share the same minutes of a machine whose speed drifts. The
    floor's own seconds (with reading and validating its rows) are taken out of the job's."""
    started = time.perf_counter()
    from creditrisk.serving.batch import run_in_process

    fixed = {"import": time.perf_counter() - started}
    runner = FloorAfterEach(run_in_process, floor_every)
    run = _run("pandas", dataset, output, started, fixed, runner)
    run.total -= runner.wall
    run.peaks_mb = [peak_mb()]
    run.floor_rows, run.floor_seconds = runner.rows, runner.seconds
    run.first_partition = runner.first
    return run


@dataclass
class FirstPartition:
    """A process's first partition against its later ones: its wall seconds above their mean, and how much the
    process's peak RSS grew while it ran (memory the process touched for the first time)."""

    extra_seconds: float
    grown_mb: float


@dataclass
class FloorAfterEach:
    """A runner that runs the job's tasks with `inner`, and after every `every`-th partition measures the floor
    (`floor_seconds`) on it; `wall` is all the time the floor took, to be taken out of the job's."""

    inner: Any
    every: int
    rows: int = 0
    seconds: float = 0.0
    wall: float = 0.0
    first: FirstPartition | None = None

    def warm(self, function: Callable[[], None]) -> None:
        self.inner.warm(function)

    def __call__(self, parts: Any, task: Callable[[Any], Any]) -> Iterator[Any]:
        before, grown, partition_seconds = peak_mb(), 0.0, []
        for part, result in zip(parts, self.inner(parts, task), strict=True):
            partition_seconds.append(result.seconds)
            if len(partition_seconds) == 1:
                grown = peak_mb() - before
            if part.number % self.every == 0:
                began = time.perf_counter()
                batch = floor_batch(part)
                self.rows, self.seconds = self.rows + len(batch), self.seconds + floor_seconds(batch)
                self.wall += time.perf_counter() - began
            yield result
        if len(partition_seconds) > 1:
            first, *later = partition_seconds
            self.first = FirstPartition(first - sum(later) / len(later), grown)


@functools.cache
def floor_scorer() -> Any:
    """The workspace model's scorer in this process (the file hashed once)."""
    from creditrisk.io import file_digest
    from creditrisk.serving.batch import worker_scorer

    model = str(MODEL.resolve())
    return worker_scorer(model, file_digest(Path(model)), True)


def floor_batch(part: Any) -> Any:
    """One partition's contract frame, as the job validates it (not timed by the floor)."""
    from datetime import UTC, datetime

    from creditrisk.serving.batch import read_partition, validate_rows

    return validate_rows(read_partition(part).reset_index(drop=True), None, datetime.now(UTC)).batch


def floor_seconds(batch: Any) -> float:
    """Seconds of the model's own PD and principal reasons on a contract frame, one thread, in the chunks the job
    scores at once (`score.chunk_rows`): the engine's PDs and contributions, and the reasons chosen from them as
    codes (`principal_reason_codes`, what a batch keeps of the reasons)."""
    from threadpoolctl import threadpool_limits

    from creditrisk.modeling.reasons import principal_reason_codes

    scorer = floor_scorer()
    engine, size = scorer.engine, chunk_rows()
    with threadpool_limits(limits=1):
        began = time.perf_counter()
        for start in range(0, len(batch.frame), size):
            encoded = engine.encode(batch.frame.iloc[start:start + size])
            engine.pd_of(encoded)
            principal_reason_codes(engine.contributions_of(encoded), engine.columns, scorer.reasons_top_k)
        return time.perf_counter() - began


def arithmetic_rate(dataset: Path, seconds: float, start_at: float) -> float:
    """Rows/s of the floor's arithmetic on the dataset's first partition, read once and repeated in memory for
    `seconds` (from wall time `start_at`), one thread: work that reads no file and writes none."""
    from creditrisk.serving.batch import partitions_of

    batch = floor_batch(partitions_of(dataset)[0])
    floor_seconds(batch)
    while time.time() < start_at:
        time.sleep(0.001)
    rows, spent = 0, 0.0
    while spent < seconds:
        rows, spent = rows + len(batch), spent + floor_seconds(batch)
    return rows / spent


def score_on_dask(dataset: Path, output: Path) -> Run:
    started = time.perf_counter()
    from creditrisk.params import configured
    from creditrisk.serving.batch import dask_runner, score_dataset, scorer_warmup
    from creditrisk.serving.cluster import dask_client, forks_workers, DaskParams

    fixed = {"import": time.perf_counter() - started}
    params = configured(DaskParams, workers=WORKERS, threads_per_worker=1)
    warmup, inherited = scorer_warmup(MODEL), [0.0]

    def timed_warmup() -> None:
        began = time.perf_counter()
        warmup()
        inherited[0] = time.perf_counter() - began
    with dask_client(params, inherit=timed_warmup) as client:
        if forks_workers(params, None):
            fixed["model load (the forked workers inherit it)"] = inherited[0]
        fixed["cluster start"] = time.perf_counter() - started - fixed["import"] - inherited[0]
        run = _run("dask", dataset, output, started, fixed, dask_runner(client), "workers' model load")
        again = score_dataset(dataset, output, MODEL, dask_runner(client), "dask", reasons=True,
                              chunk_rows=chunk_rows())
        run.extra["again"] = again.seconds  # the cluster up, the model loaded: what a lasting cluster pays
        run.extra["start_method"] = params.start_method
        run.peaks_mb = sorted(client.run(peak_mb).values())
        stopping = time.perf_counter()
    run.fixed["cluster stop"] = time.perf_counter() - stopping
    run.total += run.fixed["cluster stop"]
    return run


# ---------------------------------------------------------------------------------------------- printing


def breakdown(run: Run) -> str:
    total = sum(run.steps.values()) or 1.0
    shares = ", ".join(f"{step} {seconds:.1f} s ({seconds / total:.0%})" for step, seconds in run.steps.items())
    return f"{shares}; partitions {run.partition_wall:.1f} s wall, {run.partition_cpu:.1f} s CPU"


def fixed_text(run: Run) -> str:
    return " + ".join(f"{name} {seconds:.1f} s" for name, seconds in run.fixed.items())


def print_floor(run: Run, touch_rate: float) -> None:
    """The one-process run against its floor: the whole job, its own arithmetic alone, and its first partition."""
    if not run.floor_seconds:
        return
    floor = run.floor_rows / run.floor_seconds
    share = run.per_row_rate / floor
    print(f"    floor (numpy-path PD + principal reasons in process, on {run.floor_rows:,} of the same rows, "
          f"measured between the job's partitions): {floor:,.0f} rows/s; the job {share:.2f}x the floor "
          f"({'meets' if share >= FLOOR_TARGET else 'BELOW'} the {FLOOR_TARGET}x target)", flush=True)
    arithmetic = sum(run.steps.get(step, 0.0) for step in ARITHMETIC_STEPS)
    others = sum(seconds for step, seconds in run.steps.items() if step not in ARITHMETIC_STEPS)
    print(f"    of which the job's own arithmetic ({', '.join(ARITHMETIC_STEPS)}): {run.rows / arithmetic:,.0f} "
          f"rows/s, {floor * arithmetic / run.rows:.2f}x the floor's seconds; its other steps "
          f"{others:.1f} s, {others / (arithmetic + others):.0%} of the partitions' time", flush=True)
    if run.first_partition is not None:
        first = run.first_partition
        print(f"    first partition: {first.extra_seconds:+.2f} s against the mean of the later ones; the peak "
              f"RSS grew {first.grown_mb:,.0f} MB in it, {first.grown_mb / touch_rate / 1e3:.2f} s of first "
              "touch at the median rate measured above", flush=True)


def print_scoring(rows: int, partition_rows: int, singles: list[Run], dask: Run, load: Load,
                  touch_rate: float) -> None:
    print(f"score {rows:,} rows ({rows // partition_rows} partitions of {partition_rows:,}), reasons on; {load}",
          flush=True)
    named = [(run, f"one process, run {number}") for number, run in enumerate(singles, 1)]
    named.insert(1, (dask, f"Dask, {WORKERS} workers (start method {dask.extra['start_method']})"))
    for run, name in named:
        print(f"  {name}: {run.total:.1f} s = fixed {run.fixed_seconds:.1f} s ({fixed_text(run)}) + "
              f"{run.rows:,} rows at {run.per_row_rate:,.0f} rows/s; peak RSS "
              f"{', '.join(f'{mb:,.0f}' for mb in run.peaks_mb)} MB", flush=True)
        print(f"    where the partitions' time goes: {breakdown(run)}", flush=True)
        print_floor(run, touch_rate)
    single_total = sum(run.total for run in singles) / len(singles)
    single_rate = sum(run.per_row_rate for run in singles) / len(singles)
    single_fixed = sum(run.fixed_seconds for run in singles) / len(singles)
    ratio, per_row = single_total / dask.total, dask.per_row_rate / single_rate
    lasting = (single_total - single_fixed) / dask.extra["again"]
    target = RATIO_TARGETS.get(rows)
    verdict = f" (target {target}x: {'met' if ratio >= target else 'NOT met'})" if target else ""
    figures = (f"Dask / one process (the mean of its {len(singles)} runs) = {ratio:.2f}x, fixed costs included{verdict}; "
               f"per-row rates {per_row:.2f}x; the same job again on the running cluster {dask.extra['again']:.1f} s = "
               f"{lasting:.2f}x one process without its fixed cost (what a lasting cluster gives)")
    if load.quiet:
        print(f"  {figures}", flush=True)
    else:
        print(f"  ratios withheld: the machine was not quiet (load before {load.before:.2f} > {LOAD_LIMIT} or other "
              f"processes used {load.others:.2f} > {load.others_max} core); as measured: {figures}; rerun on an "
              "idle machine", flush=True)


# ---------------------------------------------------------------------------------------------- drift


def drift_pandas(dataset: Path) -> dict[str, Any]:
    started = time.perf_counter()
    import pandas as pd

    from creditrisk.modeling.bundle import load_bundle
    from creditrisk.monitoring.drift import DriftParams
    from creditrisk.monitoring.run import run_drift
    from creditrisk.params import configured

    params = configured(DriftParams)
    reference = pd.read_parquet(params.reference_path)
    report = run_drift(params, reference, sorted(dataset.glob("*.csv")), load_bundle(MODEL), None, None)
    return {"seconds": time.perf_counter() - started, "statuses": [w["status"] for w in report.windows],
            "peak_mb": peak_mb()}


def drift_dask(dataset: Path) -> dict[str, Any]:
    started = time.perf_counter()
    import pandas as pd

    from creditrisk.modeling.bundle import load_bundle
    from creditrisk.monitoring.dask_drift import run_drift_dask
    from creditrisk.monitoring.drift import DriftParams
    from creditrisk.params import configured
    from creditrisk.serving.cluster import dask_client, DaskParams

    params = configured(DriftParams, engine="dask")
    reference = pd.read_parquet(params.reference_path)
    with dask_client(configured(DaskParams, workers=WORKERS)) as client:
        cluster = time.perf_counter() - started
        report = run_drift_dask(params, reference, sorted(dataset.glob("*.csv")), client, load_bundle(MODEL), MODEL,
                                None, None)
        peaks = sorted(client.run(peak_mb).values())
    return {"seconds": time.perf_counter() - started, "cluster": cluster,
            "statuses": [w["status"] for w in report.windows], "worker_peak_mb": peaks,
            "ks_error_bound": report.summary["engine"]["ks_error_bound"], "client_peak_mb": peak_mb()}


def bench_drift(rows: int, partition_rows: int, scratch: Path, others_max: float, settle_seconds: float) -> None:
    dataset = write_partitions(scratch / f"csv-{rows}", rows, partition_rows, "csv")
    with watched(others_max, settle_seconds) as load:
        single = fresh(drift_pandas, dataset)
        dask = fresh(drift_dask, dataset)
    same = single["statuses"] == dask["statuses"]
    ratio = single["seconds"] / dask["seconds"]
    verdict = f"= {ratio:.2f}x faster" if load.quiet else f"(ratio withheld, the machine was not quiet: {ratio:.2f}x)"
    print(f"drift {rows:,} rows ({len(dask['statuses'])} monthly windows), from process start; {load}\n"
          f"  pandas engine {single['seconds']:.1f} s (peak {single['peak_mb']:,.0f} MB) | Dask {WORKERS} workers "
          f"{dask['seconds']:.1f} s (cluster start {dask['cluster']:.1f} s) {verdict}; peak RSS per worker "
          f"{', '.join(f'{mb:,.0f}' for mb in dask['worker_peak_mb'])} MB, client {dask['client_peak_mb']:,.0f} MB; "
          f"statuses {'equal' if same else 'DIFFER'}; KS grid error bound {dask['ks_error_bound']:.2g}", flush=True)
    shutil.rmtree(dataset)


# ---------------------------------------------------------------------------------------------- memory


def copy_rate(megabytes: int, seconds: float, start_at: float) -> float:
    """GB/s read plus written by repeated copies of a `megabytes` array (from wall time `start_at`)."""
    import numpy as np

    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    np.copyto(target, source)
    while time.time() < start_at:
        time.sleep(0.001)
    copies, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        np.copyto(target, source)
        copies += 1
    return 2 * copies * source.nbytes / (time.perf_counter() - began) / 1e9


def touch_rates(megabytes: int) -> tuple[float, float]:
    """GB/s of the first write to `megabytes` of fresh memory in this process (the kernel, and under a virtual
    machine the host, must supply every page), and of writing the same memory again. In arrays of 1 MB, the
    size of a partition's columns and chunks (numpy asks for huge pages only from 4 MB on)."""
    import numpy as np

    began = time.perf_counter()
    blocks = [np.full(2**20 // 8, 1.0) for _ in range(megabytes)]
    first = time.perf_counter() - began
    began = time.perf_counter()
    for block in blocks:
        block.fill(2.0)
    again = time.perf_counter() - began
    return megabytes * 2**20 / first / 1e9, megabytes * 2**20 / again / 1e9


def bench_memory(seconds: float = 2.0) -> float:
    """Prints the copy rates and the first-touch rates; returns the median first-touch rate (GB/s)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        alone = pool.submit(copy_rate, COPY_MB, seconds, time.time() + 1.0).result()
        start = time.time() + 1.0
        together = sum(future.result() for future in [pool.submit(copy_rate, COPY_MB, seconds, start)
                                                      for _ in range(WORKERS)])
    print(f"memory copy of {COPY_MB} MB arrays: 1 process {alone:.1f} GB/s, {WORKERS} at once {together:.1f} GB/s "
          f"= {together / alone:.2f}x (what streaming work can gain from a second core)", flush=True)
    rates = [fresh(touch_rates, TOUCH_MB) for _ in range(3)]
    print(f"first write to {TOUCH_MB} MB of fresh memory in 1 MB arrays, in a new process (3 processes): "
          f"{', '.join(f'{first:.2f}' for first, _ in rates)} GB/s; writing it again "
          f"{', '.join(f'{again:.1f}' for _, again in rates)} GB/s (what a process pays for memory it touches "
          "first: the floor, measured warm, does not)", flush=True)
    return sorted(first for first, _ in rates)[1]


# ---------------------------------------------------------------------------------------------- main


def bench_ceiling(dataset: Path, seconds: float = 10.0) -> None:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        alone = pool.submit(arithmetic_rate, dataset, seconds, time.time() + 8.0).result()
        start = time.time() + 8.0  # both processes import and build the model first
        rates = [future.result() for future in [pool.submit(arithmetic_rate, dataset, seconds, start)
                                                for _ in range(WORKERS)]]
    print(f"the model's arithmetic (the floor's, one partition in memory, {seconds:.0f} s): 1 process {alone:,.0f} "
          f"rows/s, {WORKERS} at once {' + '.join(f'{rate:,.0f}' for rate in rates)} = {sum(rates) / alone:.2f}x "
          "(the ceiling of two workers' scaling on this machine)", flush=True)


def bench_scoring(rows: int, partition_rows: int, floor_rows: int, scratch: Path, others_max: float,
                  settle_seconds: float, ceiling: bool, touch_rate: float) -> Run:
    dataset = write_partitions(scratch / f"parquet-{rows}", rows, partition_rows, "parquet")
    floor_every = max(1, round(rows / floor_rows))
    try:
        if ceiling:
            bench_ceiling(dataset)
        with watched(others_max, settle_seconds) as load:
            singles = [fresh(score_in_process, dataset, scratch / "out-pandas", floor_every)]
            dask = fresh(score_on_dask, dataset, scratch / "out-dask")
            singles.append(fresh(score_in_process, dataset, scratch / "out-pandas", floor_every))
        print_scoring(rows, partition_rows, singles, dask, load, touch_rate)
    finally:
        for path in (dataset, scratch / "out-pandas", scratch / "out-dask"):
            shutil.rmtree(path, ignore_errors=True)
    return dask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--partition-rows", type=int, default=250_000)
    parser.add_argument("--floor-rows", type=int, default=1_000_000, help="about how many rows the floor is measured on: every n-th partition")
    parser.add_argument("--drift", action="store_true", help="also the drift run at the largest size")
    parser.add_argument("--no-scoring", action="store_true")
    parser.add_argument("--others-max", type=float, default=0.25,
                        help="cores other processes may use during the runs for a ratio to be reported")
    parser.add_argument("--settle", type=float, default=240.0,
                        help="seconds to wait at most, before each measured step, for the load average to fall to "
                             f"{LOAD_LIMIT} (what this benchmark's own previous step left)")
    parser.add_argument("--scratch", type=Path, default=None, help="where the data go (default: a temp dir)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="creditrisk-scale-"))
    print(f"score_bench: model {MODEL}, data in {scratch}, {os.cpu_count()} cores", flush=True)
    try:
        touch_rate = bench_memory()
        runs = [] if args.no_scoring else [bench_scoring(rows, args.partition_rows, args.floor_rows, scratch,
                                                         args.others_max, args.settle, number == 0, touch_rate)
                                           for number, rows in enumerate(args.rows)]
        if len(runs) >= 2:
            small, large = runs[0], runs[-1]
            ratio = max(large.peaks_mb) / max(small.peaks_mb)
            print(f"peak RSS per worker: {large.rows:,} rows {max(large.peaks_mb):,.0f} MB vs {small.rows:,} rows "
                  f"{max(small.peaks_mb):,.0f} MB = {ratio:.2f}x "
                  f"({'within' if ratio <= MEMORY_TARGET else 'OVER'} the {MEMORY_TARGET}x target)", flush=True)
        if args.drift:
            bench_drift(max(args.rows), args.partition_rows, scratch, args.others_max, args.settle)
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
