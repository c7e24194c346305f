"""Speed and memory of the sample-export generator: generation and CSV writing, 100k and 1M rows.

Each size runs in a fresh process so that its peak RSS is its own.
Usage: python benchmarks/generate_bench.py [ROWS ...]
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from creditrisk.params import configured
from creditrisk.data.synthetic import generate_history, write_csv, GenerateParams

PARAMS_PATH = Path(__file__).resolve().parents[1] / "params.yaml"

DEFAULT_SIZES = (100_000, 1_000_000)


def measure(rows: int) -> str:
    params = configured(GenerateParams, PARAMS_PATH, rows=rows, quirks=True)
    started = time.perf_counter()
    frame = generate_history(params)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "loans.csv"
        started = time.perf_counter()
        write_csv(frame, path, params.quirks, params.seed)
        written = time.perf_counter() - started
        megabytes = path.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"rows={rows:>9,}  generate={generated:6.2f} s  ({rows / generated:,.0f} rows/s)  "
            f"csv={written:6.2f} s ({megabytes:,.0f} MB)  peak_rss={peak_mb:,.0f} MB")


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--one":
        print(measure(int(argv[1])), flush=True)
        return
    for rows in [int(a) for a in argv] or DEFAULT_SIZES:
        subprocess.run([sys.executable, __file__, "--one", str(rows)], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
