"""The `prepare` stage's logic: read -> coerce/clean -> validate -> deduplicate -> vintages and label
maturity -> out-of-time split.

Nothing here relies on row order (in the lender's export the last rows are
mostly defaults): rows are ordered by loan date and then by a hash of their
content, so the same loans give the same split and the same files whatever
order the export lists them in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from creditrisk.params import ParamsBlock
from creditrisk.data.contract import detect_day_first, AmbiguousDatesError, DATE, TARGET, ValidationResult
from creditrisk.data.sources import export_format, file_rows, read_export, validate_export
from creditrisk.data.vintages import mature_mask, maturity_cutoff, vintage_table

MAX_EXAMPLE_ROWS = 5
MIN_LABELLED_LOANS = 2
"""The split needs a loan on each side; fewer labelled loans stop the stage with `too_little_history`."""


class PrepareError(ValueError):
    """The data passed the contract but cannot be prepared (e.g. cannot be split by time)."""


@dataclass(frozen=True)
class PrepareParams(ParamsBlock):
    """The `prepare` block of params.yaml."""

    BLOCK: ClassVar[str] = "prepare"
    source: str
    day_first: bool | None
    test_fraction: float
    performance_window_months: int
    exclude_immature: bool
    train_path: str
    test_path: str
    quality_report: str
    quality_metrics: str
    vintages_report: str

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not 0.0 < self.test_fraction < 1.0:
            found.append(("test_fraction", "must be between 0 and 1"))
        if self.performance_window_months < 0:
            found.append(("performance_window_months", "must be >= 0"))
        return found


@dataclass
class PreparedData:
    train: pd.DataFrame
    test: pd.DataFrame
    report: dict[str, Any]
    vintages: pd.DataFrame


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    ties_at_cut: str


def prepare_export(params: PrepareParams) -> PreparedData:
    """Run the whole stage in memory; raises SourceError/ContractError/PrepareError."""
    source = Path(params.source)
    raw = read_export(source)
    date_order = describe_date_order(raw, params.day_first)
    validated = validate_export(raw, str(source), day_first=params.day_first, purpose="training")
    del raw
    unique, duplicates = deduplicate_in_date_order(validated.frame)
    if unique.empty:
        raise PrepareError(f"{source}: no loans left after validation and deduplication")
    maturity = label_maturity(unique, params.performance_window_months)
    labelled = unique[maturity.mature] if params.exclude_immature else unique
    if len(labelled) < MIN_LABELLED_LOANS:
        raise PrepareError(too_little_history(source, unique, maturity))
    split = split_out_of_time(labelled, params.test_fraction)
    report = quality_report(
        source=source,
        date_order=date_order,
        validated=validated,
        written=labelled,
        duplicates=duplicates,
        split=split,
        test_fraction=params.test_fraction,
    )
    report["maturity"] = maturity.describe(params.exclude_immature)
    vintages = vintage_table(unique, params.performance_window_months, maturity.last_date)
    return PreparedData(train=split.train, test=split.test, report=report, vintages=vintages)


@dataclass(frozen=True)
class LabelMaturity:
    """Which loans have had the performance window to show their outcome, relative to the export's last loan."""

    last_date: pd.Timestamp
    performance_window_months: int
    mature: np.ndarray

    def describe(self, excluded: bool) -> dict[str, Any]:
        immature = int((~self.mature).sum())
        return {
            "performance_window_months": self.performance_window_months,
            "last_loan_date": self.last_date.isoformat(),
            "mature_up_to": maturity_cutoff(self.last_date, self.performance_window_months).isoformat(),
            "immature_loans": immature,
            "immature_excluded_from_labels": bool(excluded and immature),
        }


def too_little_history(source: Path, loans: pd.DataFrame, maturity: LabelMaturity) -> str:
    """Why an export has no labelled loans to split, and how much history it needs: the rule, the setting
    and the date before which loans must reach."""
    months = maturity.performance_window_months
    cutoff = maturity_cutoff(maturity.last_date, months)
    mature = int(maturity.mature.sum())
    first = pd.Timestamp(loans[DATE].min())
    return (
        f"{source}: too little history to train on. Its {len(loans):,} loans run from {first:%Y-%m-%d} to "
        f"{maturity.last_date:%Y-%m-%d}, and rule 'performance_window_months' labels only loans at least "
        f"prepare.performance_window_months = {months} month(s) older than the export's last loan (dated on or "
        f"before {cutoff:%Y-%m-%d}): {mature} loan(s) are, and the out-of-time split needs at least "
        f"{MIN_LABELLED_LOANS}. The export must span more than {months} month(s); give it loans from before "
        f"{cutoff:%Y-%m-%d} (a year or more of history for a model worth validating). Labels younger than the "
        f"window are not final; to train on them anyway, lower prepare.performance_window_months or set "
        f"prepare.exclude_immature: false."
    )


def label_maturity(frame: pd.DataFrame, performance_window_months: int) -> LabelMaturity:
    last = pd.Timestamp(frame[DATE].max())
    return LabelMaturity(last, performance_window_months, mature_mask(frame[DATE], last, performance_window_months))


def describe_date_order(raw: pd.DataFrame, day_first: bool | None) -> str:
    """How the loan dates of this file are read, for the report."""
    if DATE not in raw.columns:
        return "no date column"
    if pd.api.types.is_datetime64_any_dtype(raw[DATE]):
        return "spreadsheet datetimes"
    if day_first is not None:
        return "day-first (set in params)" if day_first else "month-first (set in params)"
    try:
        detected = detect_day_first(raw[DATE])
    except AmbiguousDatesError:
        return "ambiguous"
    if detected is None:
        return "ISO 8601 / spreadsheet datetimes"
    return "day-first (detected)" if detected else "month-first (detected)"


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's content (not of its position or index)."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def deduplicate_in_date_order(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows by loan date, then by content hash, without exact duplicates; returns the count dropped.

    The order depends on the rows' content only, never on their order in the
    export. The index (file row numbers) is kept, so examples still point into the file.
    """
    hashes = row_hashes(frame)
    order = np.lexsort((hashes, frame[DATE].to_numpy()))
    return drop_exact_duplicates(frame.iloc[order], hashes[order])


def drop_exact_duplicates(frame: pd.DataFrame, hashes: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """Drop rows identical in every (cleaned) column to an earlier row; returns the count dropped.

    Only rows whose hashes collide are compared cell by cell, so the result is
    exact and the full comparison stays small.
    """
    hashes = row_hashes(frame) if hashes is None else hashes
    candidates = pd.Series(hashes).duplicated(keep=False).to_numpy()
    duplicated = np.zeros(len(frame), dtype=bool)
    if candidates.any():
        duplicated[candidates] = frame[candidates].duplicated(keep="first").to_numpy()
    return frame[~duplicated], int(duplicated.sum())


def split_out_of_time(frame: pd.DataFrame, test_fraction: float) -> Split:
    """The latest `test_fraction` of loans by date form the test set.

    Loans sharing the date at the cut stay together, on whichever side brings
    the test share closer to `test_fraction`, so every test date is >= every
    train date. Both sets are ordered by date.
    """
    if len(frame) < 2:
        raise PrepareError(f"cannot split {len(frame)} loan(s) into a train and a test set")
    ordered = frame if frame[DATE].is_monotonic_increasing else frame.sort_values(DATE, kind="stable")
    dates = ordered[DATE].to_numpy()
    target = test_fraction * len(dates)
    cut_position = min(max(int(round(len(dates) - target)), 1), len(dates) - 1)
    cut_date = dates[cut_position]
    first_tie = int(np.searchsorted(dates, cut_date, side="left"))
    after_ties = int(np.searchsorted(dates, cut_date, side="right"))
    options = [
        (abs((len(dates) - position) - target), position, side)
        for position, side in ((first_tie, "test"), (after_ties, "train"))
        if 0 < position < len(dates)
    ]
    if not options:
        raise PrepareError(
            f"cannot split by time: all {len(dates)} loans share the date {pd.Timestamp(cut_date)}"
        )
    _, position, side = min(options)
    return Split(train=ordered.iloc[:position], test=ordered.iloc[position:], ties_at_cut=side)


def file_digests(path: Path) -> dict[str, str]:
    """sha256 and md5 of a file, in one pass."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(chunk)
            md5.update(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def quality_report(
    *,
    source: Path,
    date_order: str,
    validated: ValidationResult,
    written: pd.DataFrame,
    duplicates: int,
    split: Split,
    test_fraction: float,
) -> dict[str, Any]:
    """The data-quality report. Nulled counts are over the rows read; missing shares over the rows written."""
    rows_read = len(validated.frame)
    return {
        "source": {
            "path": str(source),
            "format": export_format(source),
            "bytes": source.stat().st_size,
            **file_digests(source),
            "date_order": date_order,
            "unknown_columns_ignored": list(validated.unknown_columns),
        },
        "rows": {
            "read": rows_read,
            "duplicates_dropped": duplicates,
            "written": len(written),
            "train": len(split.train),
            "test": len(split.test),
        },
        "values_nulled": int(sum(sum(rules.values()) for rules in validated.nulled.values())),
        "columns": {
            column: _column_report(column, written[column], validated)
            for column in written.columns
        },
        "split": {
            "method": "out_of_time",
            "by": DATE,
            "test_fraction": test_fraction,
            "test_share": round(len(split.test) / len(written), 6),
            "ties_at_cut_kept_in": split.ties_at_cut,
            "train": _split_report(split.train),
            "test": _split_report(split.test),
        },
    }


def _column_report(column: str, values: pd.Series, validated: ValidationResult) -> dict[str, Any]:
    nulled = validated.nulled.get(column, {})
    missing = int(values.isna().sum())
    return {
        "dtype": str(values.dtype),
        "nulled_by_rule": dict(nulled),
        "nulled_example_rows": {
            rule: file_rows(validated.frame.index, validated.nulled_rows[(column, rule)][:MAX_EXAMPLE_ROWS])
            for rule in nulled
        },
        "missing": missing,
        "missing_share": round(missing / len(values), 6) if len(values) else 0.0,
    }


def _split_report(part: pd.DataFrame) -> dict[str, Any]:
    defaults = int((part[TARGET] == 0).sum())
    return {
        "rows": len(part),
        "date_min": part[DATE].min().isoformat(),
        "date_max": part[DATE].max().isoformat(),
        "defaults": defaults,
        "default_rate": round(defaults / len(part), 6),
    }

