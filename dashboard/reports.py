"""Tables from the reports and the model card (`data_quality.json`, `leakage.json`, `model_card.json`), for display.

Reshaping only: every number comes from the report as the stage wrote it.
A function returns None when the report does not have the part it reads, so
the page can fall back to showing the raw JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dashboard.formatting import currency_of, money, points_bin_label, variant_title


def quality_rows(report: Mapping[str, Any]) -> dict[str, int] | None:
    """Row counts through prepare (read, duplicates dropped, written, train, test)."""
    rows = report.get("rows")
    if not isinstance(rows, Mapping):
        return None
    return {str(key): value for key, value in rows.items() if isinstance(value, (int, float))}


def quality_columns_table(report: Mapping[str, Any]) -> pd.DataFrame | None:
    """Per column: type, the values nulled by each contract rule (of the rows read), and the missing values
    after cleaning (of the rows written: after duplicates and, when left out, immature loans)."""
    columns = report.get("columns")
    if not isinstance(columns, Mapping) or not columns:
        return None
    records = []
    for name, detail in columns.items():
        if not isinstance(detail, Mapping):
            continue
        rules = detail.get("nulled_by_rule") or {}
        records.append({
            "column": name,
            "dtype": detail.get("dtype"),
            "nulled": int(sum(rules.values())) if rules else 0,
            "nulled_by_rule": "; ".join(f"{rule}: {count}" for rule, count in rules.items()),
            "missing": detail.get("missing"),
            "missing_share": detail.get("missing_share"),
        })
    table = pd.DataFrame.from_records(records)
    return table.sort_values(["nulled", "missing"], ascending=False, kind="stable").reset_index(drop=True)


def quality_counts_note(report: Mapping[str, Any]) -> tuple[dict[str, str], str] | None:
    """The column labels that say what each count is out of, and why a column can have fewer missing values
    than values nulled: the rows between read and written (duplicates, immature loans left out)."""
    rows = report.get("rows")
    if not isinstance(rows, Mapping) or not {"read", "written"} <= set(rows):
        return None
    read, written = int(rows["read"]), int(rows["written"])
    maturity = report.get("maturity") if isinstance(report.get("maturity"), Mapping) else {}
    dropped = [f"{rows.get('duplicates_dropped', 0):,} duplicates"]
    if maturity.get("immature_excluded_from_labels"):
        dropped.append(f"{maturity.get('immature_loans', 0):,} loans younger than the performance window")
    labels = {"nulled": f"nulled (of {read:,} read)", "missing": f"missing (of {written:,} written)"}
    note = (f"Values are nulled by a contract rule in the {read:,} rows read; missing values are counted in the "
            f"{written:,} rows written, after {' and '.join(dropped)} were left out. A value nulled in a row left "
            "out is not among the missing, so a column can show fewer missing values than it had nulled.")
    return labels, note


def quality_split_table(report: Mapping[str, Any]) -> pd.DataFrame | None:
    """The out-of-time split: rows, date range and default rate of train and test."""
    split = report.get("split")
    if not isinstance(split, Mapping):
        return None
    parts = {name: split[name] for name in ("train", "test") if isinstance(split.get(name), Mapping)}
    if not parts:
        return None
    table = pd.DataFrame.from_dict(parts, orient="index").rename_axis("split").reset_index()
    for column in ("date_min", "date_max"):
        if column in table:
            table[column] = pd.to_datetime(table[column]).dt.strftime("%Y-%m-%d %H:%M")
    return table


def leakage_table(report: Mapping[str, Any]) -> pd.DataFrame | None:
    """Every screened column with its guard scores, the verdict beside the name; dropped ones first, then by
    rank AUC."""
    columns = report.get("columns")
    if not isinstance(columns, list) or not all(isinstance(item, Mapping) for item in columns) or not columns:
        return None
    table = pd.DataFrame.from_records(columns)
    if "reasons" in table:
        table["reasons"] = table["reasons"].map(lambda reasons: "; ".join(reasons) if isinstance(reasons, list) else "")
    order = [name for name in ("dropped", "rank_auc") if name in table]
    if order:
        table = table.sort_values(order, ascending=False, kind="stable")
    first = [name for name in ("column", "dropped") if name in table]
    return table[first + [name for name in table.columns if name not in first]].reset_index(drop=True)


def comparison_display_table(comparison: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per compared model (its title, constrained or not), each metric as "mean ± std" text over the CV
    folds; whether it competed for selection and its largest PD move against a monotone direction, when the
    comparison has them."""
    monotone = comparison["monotone"] if "monotone" in comparison else pd.Series(None, index=comparison.index)
    table = pd.DataFrame({"model": [variant_title(name, flag) for name, flag in zip(comparison["model"], monotone)]},
                         index=comparison.index)
    for column in ("competes", "monotone_violation"):
        if column in comparison:
            table[column] = comparison[column]
    for metric in metrics:
        means = comparison[f"{metric}_mean"]
        deviations = comparison.get(f"{metric}_std", pd.Series(0.0, index=comparison.index)).fillna(0.0)
        table[metric] = [f"{mean:.4f} ± {deviation:.4f}" for mean, deviation in zip(means, deviations)]
    return table


def band_points_table(bands: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The model card's bands with their PD and points ranges, as a reviewer reads them."""
    return pd.DataFrame([{
        "band": band["name"],
        "PD above": band.get("pd_above"),
        "PD up to": band.get("pd_up_to"),
        "points from": band.get("points_from"),
        "points to": band.get("points_to"),
    } for band in bands])


def points_table(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The scorecard's points table as the model card has it: per characteristic, each bin and its points."""
    return pd.DataFrame([{"characteristic": row["characteristic"],
                          "bin": points_bin_label(row["bin"], row["characteristic"]), "points": row["points"],
                          "woe": row["woe"]} for row in rows])


def benchmark_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """The served model beside the scorecard benchmark: forward-CV ROC-AUC (± standard error) and out of time."""
    benchmark = card.get("benchmark") or {}
    rows = [(card.get("model"), card.get("monotone"), card.get("development_roc_auc"),
             card.get("development_roc_auc_se"), (card.get("test_metrics") or {}).get("roc_auc")),
            (benchmark.get("model"), True, benchmark.get("development_roc_auc"),
             benchmark.get("development_roc_auc_se"), (benchmark.get("test_metrics") or {}).get("roc_auc"))]
    return pd.DataFrame([{"model": variant_title(name, monotone), "forward-CV ROC-AUC": auc,
                          "standard error": se, "out-of-time ROC-AUC": test}
                         for name, monotone, auc, se, test in rows if name])


REASON_TEXT_COLUMNS = {"en": "reason (en)", "es": "motivo (es)"}


def reference_value(column: str, value: Any) -> str:
    """A reference applicant's value as a reader reads it: money with its currency, a whole number whole."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if currency_of(column):
            return money(value, column)
        return f"{value:g}" if float(value).is_integer() else f"{value:.4g}"
    return str(value)


def reference_applicant_table(reference: Mapping[str, Any], catalogue: Mapping[str, Any]) -> pd.DataFrame:
    """The reasons' reference applicant, one row per model input, with its reason code and text."""
    rows = []
    for name, value in reference.items():
        entry = catalogue.get(name)
        row = {"input": name, "reference value": reference_value(name, value),
               "reason code": entry.code if entry else ""}
        for language, heading in REASON_TEXT_COLUMNS.items():
            row[heading] = entry.text.get(language, "") if entry else ""
        rows.append(row)
    return pd.DataFrame(rows)


NOT_JUDGED = "not judged"
"""The light of a group too small to judge (the stages write none)."""


def rank_ordering_table(pairs: list[Mapping[str, Any]]) -> pd.DataFrame:
    """The pack's rank-ordering pairs: each adjacent pair of bands, its observed rates, p-value and light."""
    return pd.DataFrame([{
        "pair": f"{pair['lower']} < {pair['higher']}",
        "lower band": f"{pair['lower_defaults']} / {pair['lower_rows']}",
        "higher band": f"{pair['higher_defaults']} / {pair['higher_rows']}",
        "lower_rate": pair["lower_rate"], "higher_rate": pair["higher_rate"],
        "pvalue": pair["pvalue"], "light": pair["light"],
    } for pair in pairs])


def _interval(value: Any, lower: Any, upper: Any, pattern: str) -> str:
    if value is None:
        return ""
    shown = pattern.format(value)
    return shown if lower is None or upper is None else f"{shown} [{pattern.format(lower)}, {pattern.format(upper)}]"


def group_table(table: Mapping[str, Any]) -> pd.DataFrame:
    """One fairness or segment table of the pack (or of a drift window), one display row per group."""
    return pd.DataFrame([{
        "group": row["group"], "loans": row["rows"], "defaults": row["defaults"],
        "approval rate": _interval(row["approval_rate"], row.get("approval_lower"), row.get("approval_upper"),
                                   "{:.1%}"),
        "AIR": _interval(row.get("air"), row.get("air_lower"), row.get("air_upper"), "{:.3f}"),
        "air_light": row.get("air_light") or NOT_JUDGED,
        "observed": row["observed_rate"], "mean PD": row["mean_pd"],
        "binomial p": row["calibration_pvalue"], "calibration_light": row.get("calibration_light") or NOT_JUDGED,
        "ROC-AUC": _interval(row.get("roc_auc"), row.get("roc_auc_lower"), row.get("roc_auc_upper"), "{:.3f}")
        if row.get("roc_auc") is not None else "too few defaults",
    } for row in table["groups"]])


def age_check_table(check: Mapping[str, Any]) -> pd.DataFrame | None:
    """The Regulation B check's two readings: how many applicants aged 62+ have a PD that age raises."""
    what_if = check.get("what_if")
    if not what_if:
        return None
    rows = []
    attribution = check.get("attribution")
    if attribution:
        rows.append({"reading": "attribution of age against the reference applicant",
                     "applicants raised": attribution["rows_raised"], "share": attribution["share_raised"],
                     "detail": f"mean {attribution['mean']:+.4f}, largest {attribution['max']:+.4f} (logit)"})
    rows.append({"reading": f"what-if: age set to {check['reference_age']:g}",
                 "applicants raised": what_if["rows_raised"], "share": what_if["share_raised"],
                 "detail": f"largest PD rise {what_if['max_pd_increase']:.3%}; "
                           f"{what_if['better_band_at_reference_age']} in a better band, "
                           f"{what_if['approved_at_reference_age']} approved at the reference age"})
    return pd.DataFrame(rows)


def window_segment_findings(windows: pd.DataFrame) -> pd.DataFrame | None:
    """Per labelled drift window with segment tables: its light counts and red findings."""
    if "segments" not in windows.columns:
        return None
    rows = [{"window": window, "source": source, "green": segments["lights"]["green"],
             "yellow": segments["lights"]["yellow"], "red": segments["lights"]["red"],
             "red findings": "; ".join(segments["red"])}
            for window, source, segments in zip(windows["window"], windows["source"], windows["segments"])
            if isinstance(segments, Mapping)]
    return pd.DataFrame(rows) if rows else None
