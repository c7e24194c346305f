"""DVC stage `evaluate`: out-of-time metrics, plot tables, the validation pack, the model card and report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from creditrisk.io import atomic_write_csv, atomic_write_json, atomic_write_metrics, atomic_write_text
from creditrisk.modeling.bundle import load_bundle, ArtifactError
from creditrisk.data.prepare import PrepareParams
from creditrisk.modeling.evaluation import benchmark_summary, evaluate_bundle, model_card, review_messages, EvaluateParams
from creditrisk.modeling.fairness import FairnessParams
from creditrisk.modeling.features import default_target, FeaturizeParams
from creditrisk.modeling.model_report import build_report, ReportInputs
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import data_window
from creditrisk.params import ParamsError, load_params, section
from creditrisk.releases.record import ReleaseParams


def main() -> None:
    started = time.perf_counter()
    params = load_params()
    config = section(params, "evaluate", EvaluateParams)
    featurize = section(params, "featurize", FeaturizeParams)
    train = section(params, "train", TrainParams)
    fairness = section(params, "fairness", FairnessParams)
    prepare, release = section(params, "prepare", PrepareParams), section(params, "release", ReleaseParams)
    try:
        bundle = load_bundle(Path(train.model_path))
        benchmark = load_bundle(Path(train.scorecard_path))
    except ArtifactError as error:
        sys.exit(f"evaluate: {error}")
    if not Path(featurize.test_path).exists():
        sys.exit(f"evaluate: {featurize.test_path} does not exist (run the featurize stage first)")
    test = pd.read_parquet(featurize.test_path)
    evaluation = evaluate_bundle(bundle, test, default_target(test), config, fairness)
    scorecard = benchmark_summary(benchmark, test, default_target(test))
    atomic_write_metrics(Path(config.metrics_path), {**evaluation.metrics, "benchmark": scorecard["test_metrics"]})
    atomic_write_json(Path(config.validation_path), evaluation.validation)
    for name, table in evaluation.plots.items():
        atomic_write_csv(Path(config.plots_dir) / f"{name}.csv", table)
    card = model_card(bundle, evaluation, data_window(test), scorecard)
    atomic_write_json(Path(config.card_path), card)
    inputs = ReportInputs(Path(prepare.quality_report), Path(prepare.vintages_report), Path(featurize.leakage_report),
                          Path(train.comparison_json), Path(release.record), release.metrics_path,
                          release.validation_path, Path("."))
    atomic_write_text(Path(config.report_path), build_report(bundle, evaluation, card, inputs))
    metrics = evaluation.metrics
    print(f"evaluate: {metrics['rows']} test rows, ROC-AUC {metrics['roc_auc']}, PR-AUC {metrics['pr_auc']}, "
          f"KS {metrics['ks']}, Brier {metrics['brier']}, ECE {metrics['ece']}, "
          f"PD mean {metrics['pd_mean']} vs default rate {metrics['default_rate']}")
    lights = evaluation.validation["lights"]
    print(f"evaluate: validation pack {lights['green']} green, {lights['yellow']} yellow, {lights['red']} red"
          + (f" ({', '.join(evaluation.validation['red'])})" if evaluation.validation["red"] else ""))
    print(f"evaluate: scorecard benchmark ROC-AUC {scorecard['test_metrics']['roc_auc']} out of time "
          f"({len(scorecard['points_table'])} bins on its points table)")
    for warning in evaluation.band_warnings:
        print(f"evaluate: warning: {warning}")
    for line in review_messages(evaluation, bundle, config.report_path):
        print(f"evaluate: {line}")
    print(f"evaluate: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    try:
        main()
    except ParamsError as error:
        sys.exit(f"evaluate: {error}")
