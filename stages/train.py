"""DVC stage `train`: compare candidates by CV on train, calibrate the best, save the bundle."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

from creditrisk.io import atomic_write_csv, atomic_write_json
from creditrisk.modeling.bundle import save_bundle
from creditrisk.modeling.features import default_target, FeatureSet, FeaturizeParams
from creditrisk.modeling.rank_ordering import band_order_messages
from creditrisk.modeling.train_params import TrainParams
from creditrisk.modeling.training import train_bundle
from creditrisk.params import ParamsError, load_params, section


def main() -> None:
    started = time.perf_counter()
    params = load_params()
    featurize = section(params, "featurize", FeaturizeParams)
    config = section(params, "train", TrainParams)
    for path in (featurize.columns_path, featurize.train_path):
        if not Path(path).exists():
            sys.exit(f"train: {path} does not exist (run the featurize stage first)")
    features = FeatureSet.from_dict(json.loads(Path(featurize.columns_path).read_text()))
    train = pd.read_parquet(featurize.train_path)
    result = train_bundle(train, default_target(train), features, config, benchmark=True)
    save_bundle(result.bundle, Path(config.model_path))
    save_bundle(result.benchmark, Path(config.scorecard_path))
    comparison = result.comparison.round(6)
    atomic_write_json(Path(config.comparison_json), {
        **result.report,
        "folds": len(result.report["forward_folds"]),
        "models": comparison.to_dict(orient="records"),
    })
    atomic_write_csv(Path(config.comparison_csv), comparison)
    metric = config.select_metric
    columns = ["model", "monotone", "competes", "monotone_violation", f"{metric}_mean", f"{metric}_std",
               f"shuffled_{metric}_mean", f"shuffled_{metric}_std"]
    print("forward-chaining CV (chooses) beside shuffled CV (optimistic):")
    print(comparison[columns].to_string(index=False))
    print(result.calibration[["choice", "folds", "brier_mean", "log_loss_mean", "brier_skill_mean", "mean_pd",
                              "observed_default_rate", "ece", "calibration_intercept", "calibration_slope"]].round(5).to_string(index=False))
    report = result.report
    for name, why in report["features_dropped"].items():
        print(f"train: dropped {name}: {why}")
    print(f"train: selected {report['selected']} ({report['calibration_selected']} calibration), forward-CV "
          f"ROC-AUC {report['development_roc_auc']:.4f} ± {report['development_roc_auc_se']:.4f} (standard error), "
          f"threshold {result.bundle.threshold:.4f}, bands "
          + ", ".join(f"{b.name}<={b.upper_pd:.4f}" for b in result.bundle.bands))
    for warning in report["band_warnings"]:
        print(f"train: warning: {warning}")
    for line in band_order_messages(report["band_order"]):
        print(f"train: {line}")
    print(f"train: {time.perf_counter() - started:.1f} s ({result.timings})")

if __name__ == "__main__":
    try:
        main()
    except ParamsError as error:
        sys.exit(f"train: {error}")
