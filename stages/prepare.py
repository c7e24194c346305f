"""DVC stage `prepare`: the export -> data/prepared/{train,test}.parquet + reports/data_quality.json (and its
numbers, reports/data_quality_metrics.json) + reports/vintages.csv.

A file that breaks the data contract stops the stage: the message (file,
column, rule, example rows) goes to stderr, the exit code is 1 and nothing
is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from creditrisk.io import atomic_write_csv, atomic_write_json, atomic_write_metrics, atomic_write_parquet
from creditrisk.params import ParamsError, load_params, section
from creditrisk.data.prepare import prepare_export, PrepareError, PrepareParams
from creditrisk.data.contract import ContractError
from creditrisk.data.sources import SourceError


def main() -> int:
    try:
        params = section(load_params(), "prepare", PrepareParams)
        prepared = prepare_export(params)
    except (ParamsError, SourceError, ContractError, PrepareError) as error:
        print(f"prepare: {error}", file=sys.stderr)
        return 1
    atomic_write_parquet(Path(params.train_path), prepared.train)
    atomic_write_parquet(Path(params.test_path), prepared.test)
    atomic_write_json(Path(params.quality_report), prepared.report)
    atomic_write_metrics(Path(params.quality_metrics), prepared.report)
    atomic_write_csv(Path(params.vintages_report), prepared.vintages)
    rows = prepared.report["rows"]
    maturity = prepared.report["maturity"]
    print(
        f"prepare: {rows['read']} rows read, {prepared.report['values_nulled']} values nulled, "
        f"{rows['duplicates_dropped']} duplicates dropped, {maturity['immature_loans']} loans younger than "
        f"{maturity['performance_window_months']} months"
        f"{' left out of the labels' if maturity['immature_excluded_from_labels'] else ''}"
        f" -> train {rows['train']}, test {rows['test']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
