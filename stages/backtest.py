"""DVC stage `backtest`: the operating loop replayed month by month (champion, recalibrated, retrained)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from creditrisk.data.contract import ContractError
from creditrisk.data.prepare import PrepareParams
from creditrisk.io import atomic_write_json
from creditrisk.modeling.bundle import load_bundle, ArtifactError
from creditrisk.modeling.calibration import LabelsError
from creditrisk.modeling.features import FeaturizeParams
from creditrisk.modeling.train_params import TrainParams
from creditrisk.monitoring.backtest import run_backtest, summary_lines, BacktestParams
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.windows import index_batches, iter_incoming_windows
from creditrisk.params import ParamsError, load_params, section


def main() -> None:
    started = time.perf_counter()
    loaded = load_params()
    prepare, drift = section(loaded, "prepare", PrepareParams), section(loaded, "drift", DriftParams)
    params = section(loaded, "backtest", BacktestParams)
    history = pd.concat([pd.read_parquet(path) for path in (prepare.train_path, prepare.test_path)],
                        ignore_index=True)
    incoming = index_batches(sorted(Path(drift.incoming_dir).glob(drift.incoming_pattern)), "month", drift.day_first)
    report = run_backtest(load_bundle(Path(drift.model_path)), history, iter_incoming_windows(incoming, "month"),
                          prepare.performance_window_months, params, section(loaded, "featurize", FeaturizeParams),
                          section(loaded, "train", TrainParams), drift.rules)
    atomic_write_json(Path(params.report_path), report)
    for line in summary_lines(report):
        print(f"backtest: {line}")
    print(f"backtest: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, ArtifactError, ContractError, LabelsError, FileNotFoundError) as error:
        sys.exit(f"backtest: {error}")
