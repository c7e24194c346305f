"""Speed and memory of the drift computation, against the floor of sorting the data once.

For each size (10k, 100k, 1M rows of reference and of current data, every
contract feature column plus the model's PD), a fresh process builds the two
frames, then measures:

- floor: CPU seconds of `np.sort` of the reference and the current values of
  every numeric column (and the PD), which any exact KS must at least do;
- drift: CPU and wall seconds of the reference profile plus the comparison of
  one window (KS, PSI, JS, chi-square, missing-share tests, bootstrap limits);
- the ratio drift CPU / floor CPU, and the process's peak RSS.

Run: `python benchmarks/drift_bench.py` (or one size: `--rows 100000`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from creditrisk.monitoring.drift import compare_window, DriftParams
from creditrisk.params import configured
from creditrisk.monitoring.profile import build_reference_profile
from creditrisk.data.contract import CATEGORICAL_FEATURES, FEATURE_COLUMNS, NUMERIC_FEATURES

SIZES = (10_000, 100_000, 1_000_000)
TARGET_RATIO = 3.0
TARGET_PEAK_MB = 2500.0


def loan_frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Loan-like columns: lognormal money with round values, counts, heavy ties at zero, missing values, categories."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for index, name in enumerate(NUMERIC_FEATURES):
        kind = index % 4
        if kind == 0:
            values = np.round(np.exp(rng.normal(14.5 + shift, 0.8, rows)), -3)
        elif kind == 1:
            values = rng.poisson(4.0 + shift, rows).astype(float)
        elif kind == 2:
            values = np.where(rng.random(rows) < 0.9, 0.0, rng.lognormal(8, 2, rows))
        else:
            values = rng.normal(43 + shift, 12, rows)
        values[rng.random(rows) < 0.05 * (index % 3)] = np.nan
        columns[name] = values
    choices = {"tipo_credito": ["4", "9", "10", "6", "7"], "tipo_laboral": ["Empleado", "Independiente"],
               "tendencia_ingresos": ["Creciente", "Decreciente", "Estable"]}
    for name in CATEGORICAL_FEATURES:
        codes = rng.integers(0, len(choices[name]) + 1, rows)
        labels = np.array(choices[name] + [None], dtype=object)[codes]
        columns[name] = pd.Series(labels, dtype="str")
    frame = pd.DataFrame(columns)[list(FEATURE_COLUMNS)]
    frame["__pd__"] = rng.beta(2, 30 - 5 * shift, rows)
    return frame


def sort_floor(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    arrays = [frame[name].to_numpy(dtype=float) for frame in (reference, current)
              for name in (*NUMERIC_FEATURES, "__pd__")]
    started = time.process_time()
    for values in arrays:
        np.sort(values)
    return time.process_time() - started


def measure(rows: int) -> dict[str, float]:
    reference = loan_frame(rows, seed=1, shift=0.0)
    current = loan_frame(rows, seed=2, shift=0.1)
    params = configured(DriftParams, Path(__file__).resolve().parents[1] / "params.yaml")
    floor = min(sort_floor(reference, current) for _ in range(3))
    wall, cpu = time.perf_counter(), time.process_time()
    profile = build_reference_profile(reference, list(FEATURE_COLUMNS), params.psi_bins,
                                      pd_values=reference["__pd__"].to_numpy())
    window = compare_window(profile, current, params, np.random.default_rng(0),
                            pd_values=current["__pd__"].to_numpy())
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    flagged = sum(result.level != "ok" for result in window.features)
    return {"rows": rows, "wall_s": wall, "cpu_s": cpu, "floor_cpu_s": floor, "ratio": cpu / floor,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "features_flagged": flagged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="measure one size in this process and print JSON")
    arguments = parser.parse_args()
    if arguments.rows:
        print(json.dumps(measure(arguments.rows)))
        return
    print(f"drift: reference and current of N rows x {len(FEATURE_COLUMNS)} contract features + PD "
          f"({len(NUMERIC_FEATURES) + 1} numeric, {len(CATEGORICAL_FEATURES)} categorical); one fresh process per size")
    print(f"{'rows':>10} {'wall s':>8} {'cpu s':>8} {'floor s':>8} {'ratio':>6} {'peak MB':>8}")
    results = []
    for rows in SIZES:
        output = subprocess.run([sys.executable, __file__, "--rows", str(rows)], check=True,
                                capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        results.append(result)
        print(f"{rows:>10,} {result['wall_s']:>8.3f} {result['cpu_s']:>8.3f} {result['floor_cpu_s']:>8.3f} "
              f"{result['ratio']:>6.2f} {result['peak_rss_mb']:>8.0f}")
    largest = results[-1]
    verdict = "meets" if largest["ratio"] <= TARGET_RATIO and largest["peak_rss_mb"] < TARGET_PEAK_MB else "MISSES"
    print(f"1M rows: ratio {largest['ratio']:.2f} (target <= {TARGET_RATIO}), peak {largest['peak_rss_mb']:.0f} MB "
          f"(target < {TARGET_PEAK_MB:.0f}, includes both frames): {verdict} the targets")


if __name__ == "__main__":
    main()
