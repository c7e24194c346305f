"""Seconds for featurize (leakage guard), train and evaluate at growing sample sizes.

Runs the library functions the stages call, with the workspace params.yaml
blocks, on the sample export (prepared in memory, split out of time).

    python benchmarks/train_bench.py                  # the default sample size
    python benchmarks/train_bench.py --rows 10800 100000
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from creditrisk.modeling.evaluation import evaluate_bundle, EvaluateParams
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.training import train_bundle, TrainParams
from creditrisk.params import configured, load_params, section
from creditrisk.data.prepare import split_out_of_time, PrepareParams
from creditrisk.data.contract import coerce_and_validate
from creditrisk.data.synthetic import generate_history, GenerateParams

BUDGET_MINUTES = 15
LARGE_ROWS = 1_000_000


def timed(step: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def run(rows: int, params: dict[str, Any]) -> dict[str, float]:
    featurize = section(params, "featurize", FeaturizeParams)
    train_params = section(params, "train", TrainParams)
    evaluate_params = section(params, "evaluate", EvaluateParams)
    test_fraction = section(params, "prepare", PrepareParams).test_fraction
    export = generate_history(configured(GenerateParams, params, rows=rows))
    split = split_out_of_time(coerce_and_validate(export).frame, test_fraction)
    train, test = split.train, split.test
    y = default_target(train)
    report, guard_seconds = timed(lambda: screen_leakage(
        train, y, candidate_columns(train, featurize.engineered_features), guard_config(featurize)))
    result, train_seconds = timed(lambda: train_bundle(train, y, feature_set(report), train_params))
    evaluation, evaluate_seconds = timed(lambda: evaluate_bundle(
        result.bundle, test, default_target(test), evaluate_params))
    print(f"rows {rows:>9,}  train rows {len(train):>9,}  guard {guard_seconds:7.1f} s  "
          f"train {train_seconds:7.1f} s  evaluate {evaluate_seconds:7.1f} s  "
          f"(model {result.bundle.metadata['model']}, test ROC-AUC {evaluation.metrics['roc_auc']:.3f}; "
          f"steps {result.timings})", flush=True)
    meta, metrics = result.bundle.metadata, evaluation.metrics
    gap = abs(meta["development_roc_auc"] - metrics["roc_auc"])
    print(f"  targets: forward-CV ROC-AUC {meta['development_roc_auc']:.3f} ± {meta['development_roc_auc_se']:.3f} "
          f"(standard error) vs out of time {metrics['roc_auc']:.3f}: "
          + ("within" if gap <= meta["development_roc_auc_se"] else "OUTSIDE") + " one standard error; "
          f"out-of-time Brier skill {metrics.get('brier_skill', float('nan')):.4f} (target > 0); mean PD "
          f"{metrics['pd_mean']:.4f} vs observed {metrics['default_rate']:.4f} ({meta['calibration']} calibration)",
          flush=True)
    return {"rows": rows, "total": guard_seconds + train_seconds + evaluate_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_800], help="sample sizes to time")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    print(f"train_bench: workspace params ({args.params}), {os.cpu_count()} CPU(s), "
          f"train.threads = {params['train'].get('threads', 1)}")
    runs = [run(rows, params) for rows in args.rows]
    if LARGE_ROWS not in args.rows:
        largest = max(runs, key=lambda r: r["rows"])
        estimate = largest["total"] * LARGE_ROWS / largest["rows"] / 60
        print(f"1M rows: not run; a linear extrapolation of the {largest['rows']:,}-row run gives "
              f"~{estimate:.0f} min (tree candidates grow at least linearly), "
              + ("over" if estimate > BUDGET_MINUTES else "within")
              + f" the {BUDGET_MINUTES}-minute budget; pass --rows {LARGE_ROWS} to measure it")


if __name__ == "__main__":
    main()
