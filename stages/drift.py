"""DVC stage `drift`: training reference vs incoming batches (and the API prediction log).

The prediction log is deliberately not a DVC dependency (a live database would
keep the stage always out of date): after new API traffic, refresh with
`dvc repro --force --single-item drift`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

from creditrisk.modeling.bundle import load_bundle, ArtifactError, ModelBundle
from creditrisk.modeling.fairness import FairnessParams
from creditrisk.monitoring.drift import DriftParams
from creditrisk.monitoring.run import run_drift, write_report, DriftReport
from creditrisk.monitoring.windows import PREDICTION_LOG
from creditrisk.params import ParamsError, load_params, section
from creditrisk.serving.cluster import dask_client, scheduler_address, DaskParams
from creditrisk.data.contract import ContractError
from creditrisk.data.sources import SourceError
from creditrisk.serving.predlog import describe, is_database_url, PredictionLogUnreadable


def main() -> None:
    started = time.perf_counter()
    try:
        loaded = load_params()
        params = section(loaded, "drift", DriftParams)
        segments = section(loaded, "fairness", FairnessParams)
        dask = section(loaded, "dask", DaskParams) if params.engine == "dask" else None
    except (ParamsError, ValueError) as error:
        sys.exit(f"drift: {error}")
    reference_path = Path(params.reference_path)
    if not reference_path.exists():
        sys.exit(f"drift: reference {reference_path} does not exist (run the prepare stage first)")
    reference = pd.read_parquet(reference_path)
    try:
        model = load_bundle(Path(params.model_path))
    except ArtifactError as error:
        sys.exit(f"drift: {error}")
    metrics_path = Path(params.metrics_path)
    test_metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    incoming = sorted(Path(params.incoming_dir).glob(params.incoming_pattern))
    log_target: Path | str = (params.prediction_log if is_database_url(params.prediction_log)
                              else Path(params.prediction_log))
    try:
        if params.engine == "dask":
            report = _run_on_dask(params, dask, reference, incoming, model, test_metrics, log_target)
        else:
            report = run_drift(params, reference, incoming, model, test_metrics, log_target, segments)
    except (ContractError, SourceError, ValueError, PredictionLogUnreadable) as error:
        sys.exit(f"drift: {error}")
    write_report(report, Path(params.output_dir))
    summary = report.summary
    for window in report.windows:
        print(f"drift: {window['window']:>12} {window['source']:<14} {window['rows']:>7} rows  "
              f"{window['status']:<5}  score PSI {_number(window['score_psi'])}  {window['reason']}")
    logged = sum(window["rows"] for window in report.windows if window["source"] == PREDICTION_LOG)
    log_note = f"{logged} row(s) of the prediction log {describe(log_target)} read"
    print(f"drift: {len(incoming)} incoming file(s), {log_note}; latest window {summary['latest_window']} "
          f"is {summary['status']}; {time.perf_counter() - started:.1f} s")


def _run_on_dask(params: DriftParams, dask: DaskParams | None, reference: pd.DataFrame, incoming: list[Path],
                 model: ModelBundle, test_metrics: dict | None, log_path: Path | str) -> DriftReport:
    from creditrisk.monitoring.dask_drift import model_warmup, run_drift_dask

    assert dask is not None, "the dask block is read when drift.engine is dask"
    address = scheduler_address(dask)
    with dask_client(dask, address, inherit=model_warmup(Path(params.model_path))) as client:
        print(f"drift: Dask engine on {address or 'a LocalCluster'}", flush=True)
        return run_drift_dask(params, reference, incoming, client, model, Path(params.model_path), test_metrics,
                              log_path)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
