"""Seconds and peak RSS for featurize (leakage guard), train and evaluate at growing sample sizes.

Runs the library functions the stages call, with the workspace params.yaml
blocks, on the sample export (prepared in memory, split out of time). Each size
runs in a fresh process, so its peak RSS is its own.

    python benchmarks/train_bench.py                  # the default sample size
    python benchmarks/train_bench.py --rows 100000 1000000
    python benchmarks/train_bench.py --rows 200000 --sample-cost   # AUC of the comparison sample vs all rows
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from creditrisk.modeling.evaluation import evaluate_bundle, EvaluateParams
from creditrisk.modeling.features import candidate_columns, default_target, FeaturizeParams
from creditrisk.modeling.leakage import feature_set, guard_config, screen_leakage
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import train_bundle
from creditrisk.params import configured, load_params, section
from creditrisk.data.prepare import split_out_of_time, PrepareParams
from creditrisk.data.contract import coerce_and_validate
from creditrisk.data.synthetic import generate_history, GenerateParams

LARGE_ROWS = 1_000_000
TRAIN_TARGET_SECONDS = 600


def timed(step: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def run(rows: int, params: dict[str, Any], comparison_rows: Any = "params") -> dict[str, float]:
    featurize = section(params, "featurize", FeaturizeParams)
    train_params = section(params, "train", TrainParams)
    if comparison_rows != "params":
        train_params = dataclasses.replace(train_params, comparison_rows=comparison_rows)
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
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows {rows:>9,}  train rows {len(train):>9,}  comparison rows {train_params.comparison_rows}  "
          f"guard {guard_seconds:7.1f} s  train {train_seconds:7.1f} s  evaluate {evaluate_seconds:7.1f} s  "
          f"peak RSS {peak_mb:,.0f} MB  "
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
    return {"rows": rows, "total": guard_seconds + train_seconds + evaluate_seconds, "train": train_seconds,
            "peak_mb": peak_mb, "test_roc_auc": float(metrics["roc_auc"])}


def in_fresh_process(rows: int, params: dict[str, Any], comparison_rows: Any = "params") -> dict[str, float]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run, rows, params, comparison_rows).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_800], help="sample sizes to time")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--sample-cost", action="store_true",
                        help="also train on every row (comparison_rows: null) and print the AUC difference")
    args = parser.parse_args()
    params = load_params(args.params)
    print(f"train_bench: workspace params ({args.params}), {os.cpu_count()} CPU(s), "
          f"train.threads = {params['train'].get('threads', 1)}, "
          f"train.comparison_rows = {params['train'].get('comparison_rows')}")
    runs = [in_fresh_process(rows, params) for rows in args.rows]
    for result in runs:
        verdict = "within" if result["train"] <= TRAIN_TARGET_SECONDS else "OVER"
        print(f"{result['rows']:,} rows: train stage {result['train']:.0f} s ({verdict} the "
              f"{TRAIN_TARGET_SECONDS / 60:.0f}-minute target), peak RSS {result['peak_mb']:,.0f} MB")
    if args.sample_cost:
        for result in runs:
            full = in_fresh_process(result["rows"], params, None)
            print(f"{result['rows']:,} rows: out-of-time ROC-AUC {result['test_roc_auc']:.4f} with the comparison "
                  f"sample vs {full['test_roc_auc']:.4f} on every row (cost {full['test_roc_auc'] - result['test_roc_auc']:+.4f}); "
                  f"train {result['train']:.0f} s vs {full['train']:.0f} s")
    if LARGE_ROWS not in args.rows:
        print(f"{LARGE_ROWS:,} rows: not run; pass --rows {LARGE_ROWS} to measure it (train.comparison_rows caps "
              "the comparison, so the time is not linear in the rows)")


if __name__ == "__main__":
    main()
