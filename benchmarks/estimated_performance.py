"""Estimated performance (from the PDs, before labels) against realised performance (once labels arrive).

Reads the drift stage's `reports/drift/windows.json` and prints, per window, the estimated default rate and
ROC-AUC with their 95 % bands beside the realised values where labels exist; then, on the labelled windows,
how many realised values fall inside their own estimated band (target: the default rate in at least 2 of 3),
and the cost of the estimate (seconds per window of 1,000 and 100,000 rows at the params' simulations).

Run after `dvc repro`: `python benchmarks/estimated_performance.py`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.estimated import estimate_performance
from creditrisk.params import configured


def _band(value: float | None, low: float | None, high: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    band = f" [{low:.{digits}f}, {high:.{digits}f}]" if low is not None and high is not None else ""
    return f"{value:.{digits}f}{band}"


def main() -> None:
    params = configured(DriftParams, Path("params.yaml"))
    windows = json.loads((Path(params.output_dir) / "windows.json").read_text())
    print(f"{'window':<14}{'rows':>6}  {'estimated default rate':<28}{'realised':>9}  "
          f"{'estimated ROC-AUC':<26}{'realised':>9}")
    inside = {"default_rate": [], "roc_auc": []}
    for window in windows:
        if not window.get("rows"):
            continue
        labelled = window.get("labelled_rows", 0) > 0
        prefix = "labelled_estimated_" if labelled else "estimated_"
        rate = _band(window.get(f"{prefix}default_rate"), window.get(f"{prefix}default_rate_low"),
                     window.get(f"{prefix}default_rate_high"))
        auc = _band(window.get(f"{prefix}roc_auc"), window.get(f"{prefix}roc_auc_low"),
                    window.get(f"{prefix}roc_auc_high"), 3)
        realised_rate = f"{window['default_rate']:.4f}" if labelled else "-"
        realised_auc = f"{window['roc_auc']:.3f}" if labelled and window.get("roc_auc") is not None else "-"
        print(f"{window['window']:<14}{window['rows']:>6}  {rate:<28}{realised_rate:>9}  {auc:<26}{realised_auc:>9}")
        for name in inside:
            flag = window.get(f"{name}_within_estimated_band")
            if flag is not None:
                inside[name].append(bool(flag))
    for name, flags in inside.items():
        print(f"labelled windows with the realised {name.replace('_', ' ')} inside its estimated band: "
              f"{sum(flags)} of {len(flags)}")
    rate_flags = inside["default_rate"]
    print("target (default rate inside its band in >= 2 of 3 labelled windows): "
          + ("met" if rate_flags and sum(rate_flags) / len(rate_flags) >= 2 / 3 else "missed"))
    rng = np.random.default_rng(0)
    for rows in (1_000, 100_000):
        pd_values = rng.beta(1.2, 25, rows)
        started = time.perf_counter()
        estimate_performance(pd_values, params.estimated_simulations, params.seed)
        print(f"estimate for a window of {rows:,} rows ({params.estimated_simulations} simulations): "
              f"{time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
