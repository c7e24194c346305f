"""Speed and memory of the `prepare` stage on a quirky CSV export, 100k and 1M rows.

The export comes from the sample generator (quirks on: comma decimals in
quotes, floats for integers, day-first dates, garbage categories, placeholder
ages, duplicates). Writing it and preparing it run in separate fresh
processes, so the peak RSS printed is the prepare step's own.
Wall-clock seconds depend on what else the machine runs; the process CPU
seconds are printed beside them for that reason.
Usage: python benchmarks/prepare_bench.py [ROWS ...]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = (100_000, 1_000_000)
PARAMS_PATH = Path(__file__).resolve().parents[1] / "params.yaml"


def write_export(rows: int, path: Path) -> None:
    from creditrisk.params import configured
    from creditrisk.data.synthetic import generate_history, write_csv, GenerateParams

    params = configured(GenerateParams, PARAMS_PATH, rows=rows, quirks=True)
    write_csv(generate_history(params), path, params.quirks, params.seed)


def measure_prepare(path: Path) -> str:
    """Time each step as `prepare_export` chains them, then write the outputs as the stage does."""
    from creditrisk.io import atomic_write_json, atomic_write_parquet
    from creditrisk.data.prepare import (
        deduplicate_in_date_order,
        describe_date_order,
        quality_report,
        split_out_of_time,
    )
    from creditrisk.data.sources import read_export, validate_export

    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal started
        now = time.perf_counter()
        seconds[step] = now - started
        started = now

    raw = read_export(path)
    lap("read")
    date_order = describe_date_order(raw, None)
    validated = validate_export(raw, str(path))
    rows = len(raw)
    del raw
    lap("validate")
    unique, duplicates = deduplicate_in_date_order(validated.frame)
    lap("dedupe")
    split = split_out_of_time(unique, 0.2)
    lap("split")
    report = quality_report(source=path, date_order=date_order, validated=validated, written=unique,
                            duplicates=duplicates, split=split, test_fraction=0.2)
    lap("report")
    with tempfile.TemporaryDirectory() as folder:
        atomic_write_parquet(Path(folder) / "train.parquet", split.train)
        atomic_write_parquet(Path(folder) / "test.parquet", split.test)
        atomic_write_json(Path(folder) / "data_quality.json", report)
    lap("write")
    total = sum(seconds.values())
    prepare = total - seconds["write"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    steps = "  ".join(f"{step}={value:.2f}" for step, value in seconds.items())
    return (f"rows={rows:>9,}  prepare={prepare:6.2f} s ({rows / prepare:,.0f} rows/s)  "
            f"with parquet writes={total:6.2f} s  cpu={cpu:6.2f} s (process, imports included)  peak_rss={peak_mb:,.0f} MB  "
            f"nulled={report['values_nulled']:,}  duplicates={duplicates:,}\n    steps (s): {steps}")


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "--write":
        write_export(int(argv[1]), Path(argv[2]))
        return
    if len(argv) == 2 and argv[0] == "--prepare":
        print(measure_prepare(Path(argv[1])), flush=True)
        return
    for rows in [int(a) for a in argv] or DEFAULT_SIZES:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "loans.csv"
            subprocess.run([sys.executable, __file__, "--write", str(rows), str(path)], check=True)
            megabytes = path.stat().st_size / 1e6
            print(f"export: {rows:,} rows, {megabytes:,.0f} MB CSV", flush=True)
            subprocess.run([sys.executable, __file__, "--prepare", str(path)], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
