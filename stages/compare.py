"""DVC stage `compare`: champion against challenger, on the prediction log's shadowed rows and on the incoming
batches scored by both models; the verdict on promoting the challenger.

Like the drift stage, it reads the prediction log without depending on it (a live database would keep the stage
always out of date): after new API traffic, refresh with `dvc repro --force --single-item compare`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from creditrisk.data.contract import ContractError
from creditrisk.data.sources import SourceError
from creditrisk.modeling.bundle import load_bundle, ArtifactError
from creditrisk.monitoring.compare import challenger_bundle, run_compare, write_compare_report, CompareParams
from creditrisk.monitoring.drift import DriftParams
from creditrisk.params import ParamsError, load_params, section
from creditrisk.serving.predlog import is_database_url, PredictionLogUnreadable


def main() -> None:
    started = time.perf_counter()
    loaded = load_params()
    drift, params = section(loaded, "drift", DriftParams), section(loaded, "compare", CompareParams)
    champion = load_bundle(Path(drift.model_path))
    challenger = challenger_bundle(Path(drift.model_path), Path(params.challenger_path))
    incoming = sorted(Path(drift.incoming_dir).glob(drift.incoming_pattern))
    log = drift.prediction_log if is_database_url(drift.prediction_log) else Path(drift.prediction_log)
    report = run_compare(params, drift, champion, challenger, incoming, log)
    write_compare_report(report, Path(params.output_dir))
    for window in report.windows:
        auc = window.get("roc_auc_difference")
        print(f"compare: {window['window']:>12} {window['source']:<14} {window['rows']:>6} rows  "
              f"agreement {window['decision_agreement']:.3f}  PD PSI {window['pd_psi']:.3f}"
              + (f"  ROC-AUC {auc:+.3f} (DeLong p {window['delong_pvalue']:.2g})" if auc is not None else ""))
    summary = report.summary
    print(f"compare: {summary['challenger_version'] or 'no challenger'} against {summary['champion_version']}: "
          f"{summary['verdict']} ({summary['reason']}); {time.perf_counter() - started:.1f} s")
    if summary["promote_command"]:
        print(f"compare: {summary['promote_command']}")


if __name__ == "__main__":
    try:
        main()
    except (ParamsError, ArtifactError, ContractError, SourceError, PredictionLogUnreadable, ValueError) as error:
        sys.exit(f"compare: {error}")
