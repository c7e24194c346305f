"""How the dashboard writes names and numbers for a reader: column labels, money, PDs, bins, model and band names.

One place for every label and number format the pages and figures show, so that a report's key
(`delta_roc_auc`) is shown as words ("Δ ROC-AUC vs test") with what its sign means, money carries its
currency, a PD bin reads "1.33–1.61 %" rather than "(0.0133456, 0.0161446]", and risk bands are coloured
from the safest to the riskiest. Plain functions: no Streamlit, no statistic, no verdict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from creditrisk.data.contract import MISSING_CATEGORY, SPECS
from creditrisk.modeling.candidates import CANDIDATES
from creditrisk.monitoring.report import SCORE

UNSEEN_CATEGORY = "__unseen__"
"""The drift stage's bin for categories the reference never had (creditrisk.monitoring.profile)."""

COLUMN_LABELS = {
    "psi": "PSI", "psi_limit": "PSI limit (bootstrap)", "js": "JS distance", "ks_stat": "KS",
    "ks_pvalue": "KS p", "ks_pvalue_adj": "KS p (adj.)", "chi2_stat": "χ²", "chi2_pvalue": "χ² p",
    "chi2_pvalue_adj": "χ² p (adj.)", "missing_share_ref": "missing, reference", "missing_share_cur": "missing, now",
    "missing_share_change": "missing-share change", "score_psi": "score PSI", "level": "level", "status": "status",
    "roc_auc": "ROC-AUC", "pr_auc": "PR-AUC", "ks": "KS", "gini": "Gini", "brier": "Brier", "log_loss": "log-loss",
    "f1": "F1", "ece": "ECE", "delta_roc_auc": "Δ ROC-AUC vs test", "estimated_roc_auc": "est. ROC-AUC",
    "delta_estimated_roc_auc": "Δ est. vs reference", "labelled_rows": "labelled rows",
    "roc_auc_within_estimated_band": "ROC-AUC in its estimated band", "estimated_default_rate": "est. default rate",
    "default_rate_within_estimated_band": "default rate in its estimated band", "default_rate": "default rate",
    "observed_rate": "observed default rate", "mean_pd": "mean PD", "binomial_pvalue": "binomial p",
    "binomial_light": "binomial", "jeffreys_pvalue": "Jeffreys p", "jeffreys_light": "Jeffreys",
    "vintage": "loan month", "rate_lower": "Wilson lower", "rate_upper": "Wilson upper", "date_min": "first loan",
    "date_max": "last loan", "dtype": "type", "missing_share": "missing share", "nulled_by_rule": "nulled by rule",
    "rank_auc": "rank AUC", "separates_perfectly": "separates", "tree_oof_auc": "tree AUC",
    "missing_indicator_auc": "missing AUC", "pd_mean": "mean PD", "brier_skill": "Brier skill",
    "hosmer_lemeshow_pvalue": "Hosmer-Lemeshow p", "auc_decline_pvalue": "AUC decline p",
    "roc_auc_lower": "ROC-AUC lower", "roc_auc_upper": "ROC-AUC upper", "gini_lower": "Gini lower",
    "gini_upper": "Gini upper", "monotone_violation": "PD move against a direction", "competes": "competes",
    "woe": "WoE", "characteristic": "characteristic",
    "decision_agreement": "decisions agreed", "pd_psi": "PSI of the PDs", "champion_roc_auc": "champion ROC-AUC",
    "challenger_roc_auc": "challenger ROC-AUC", "roc_auc_difference": "Δ ROC-AUC (challenger − champion)",
    "delong_pvalue": "DeLong p", "champion_brier": "champion Brier", "challenger_brier": "challenger Brier",
    "champion_calibration_level": "champion PD level", "challenger_calibration_level": "challenger PD level",
    "champion_mean_pd": "champion mean PD", "challenger_mean_pd": "challenger mean PD", "in_sample": "in sample",
}
"""Report keys as the tables and axes show them; any other key is shown with spaces for underscores."""

LOWER_IS_WORSE = "negative is worse"
COLUMN_HELP = {
    "delta_roc_auc": f"The window's ROC-AUC minus the out-of-time test's: {LOWER_IS_WORSE}. The drift stage warns "
                     "and alerts when it falls by drift.roc_auc_drop_warn / _alert.",
    "delta_estimated_roc_auc": f"The ROC-AUC estimated from the window's PDs minus the reference's estimate: "
                               f"{LOWER_IS_WORSE}.",
    "psi_limit": "The PSI a window of this size reaches by chance 99 % of the time (reference resamples).",
    "ks_pvalue_adj": "KS test p-value after the correction across the window's features (drift.p_adjust).",
    "chi2_pvalue_adj": "Chi-square test p-value after the correction across the window's features.",
    "missing_share_change": "Missing share now minus in the reference (absolute).",
    "level": "The drift stage's verdict for the feature in this window.",
    "separates_perfectly": "One threshold on the column separates defaults from payers perfectly (featurize's guard).",
    "tree_oof_auc": "Out-of-fold ROC-AUC of a shallow tree on the column alone (featurize's guard).",
    "missing_indicator_auc": "ROC-AUC of the column's missing flag alone (featurize's guard).",
    "pd_psi": "PSI of the challenger's PDs against the champion's, on the champion's quantile bins.",
    "delong_pvalue": "Paired DeLong test of the two ROC-AUCs on the same loans, two-sided.",
    "roc_auc_difference": "Challenger minus champion: positive means the challenger ranks better.",
    "in_sample": "A model was fitted on labels of this window's loans: reported, left out of the verdict.",
}
"""Tooltips of the columns whose label cannot say everything (the direction that is worse, what a limit is)."""

P_VALUE = "%.3g"
RATE = "percent"
COLUMN_FORMATS = {
    **dict.fromkeys(("ks_pvalue", "ks_pvalue_adj", "chi2_pvalue", "chi2_pvalue_adj", "binomial_pvalue",
                     "jeffreys_pvalue", "missing_pvalue", "missing_pvalue_adj", "delong_pvalue"), P_VALUE),
    **dict.fromkeys(("default_rate", "estimated_default_rate", "observed_rate", "mean_pd", "rate_lower",
                     "rate_upper", "missing_share", "missing_share_ref", "missing_share_cur", "share",
                     "share_drifted", "test_share", "missing_share_change", "decision_agreement",
                     "champion_mean_pd", "challenger_mean_pd"), RATE),
    **dict.fromkeys(("psi", "psi_limit", "js", "ks_stat", "roc_auc", "estimated_roc_auc", "pr_auc", "ks", "gini",
                     "score_psi", "rank_auc", "tree_oof_auc", "missing_indicator_auc", "pd_psi", "champion_roc_auc",
                     "challenger_roc_auc"), "%.3f"),
    **dict.fromkeys(("delta_roc_auc", "delta_estimated_roc_auc", "roc_auc_difference"), "%+.3f"),
    **dict.fromkeys(("brier", "log_loss", "ece", "champion_brier", "challenger_brier"), "%.4f"),
    **dict.fromkeys(("labelled_rows", "defaults"), "%d"),
}
"""Number formats of report columns in tables (Streamlit's printf-style or named formats)."""
COLUMN_WIDTHS = {"nulled_by_rule": "large", "summary": "large", "reason": "large"}
"""Text columns wider than Streamlit sizes them by itself."""

INTERVAL = re.compile(r"^\(\s*(?P<low>[^,]+?)\s*,\s*(?P<high>[^\]\)]+?)\s*[\]\)]$")
SPECIAL_BINS = {MISSING_CATEGORY: "missing", UNSEEN_CATEGORY: "unseen (not in training)"}
SCALE_SUFFIXES = ((1e9, "B"), (1e6, "M"), (1e3, "k"))
BAND_PALETTE = ("#1b7837", "#7fbc41", "#d9c21f", "#f46d43", "#c62828")
"""From the safest band to the riskiest: green through yellow to red (ColorBrewer-like, readable on white)."""


def label(key: str) -> str:
    """A report key as a reader reads it: its label, else its words ("hosmer_lemeshow_pvalue": "hosmer lemeshow p")."""
    return COLUMN_LABELS.get(key, re.sub(r"_?pvalue", " p", key).replace("_", " ").strip())


def currency_of(column: str) -> str:
    """The column's unit from the data contract ("COP" for money), or ""."""
    spec = SPECS.get(column)
    return spec.unit if spec is not None else ""


def with_unit(column: str) -> str:
    """An axis title: the column with its currency, e.g. "capital_prestado (COP)"."""
    unit = currency_of(column)
    return f"{column} ({unit})" if unit else column


def compact_number(value: float) -> str:
    """1,596,000 -> "1.6M", 360,000 -> "360k", 28 -> "28", 0.5 -> "0.5"; three significant digits."""
    for size, suffix in SCALE_SUFFIXES:
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def money(value: float, column: str) -> str:
    """An amount of a money column with its currency: 2,500,000 COP."""
    return f"{value:,.0f} {currency_of(column)}".strip()


def _number(value: float, column: str) -> str:
    """A bin edge: a PD in percent points, anything else compact."""
    return f"{value * 100:.3g}" if column == SCORE else compact_number(value)


def _interval_edges(pattern: re.Pattern[str], text: object) -> tuple[float, float] | None:
    """The (low, high) edges of an interval written as `pattern` reads it; None for anything else."""
    match = pattern.match(str(text))
    if match is None:
        return None
    try:
        return float(match.group("low")), float(match.group("high"))
    except ValueError:
        return None


def bin_label(text: str, column: str) -> str:
    """A bin as written by the drift or exploration tables, for a reader.

    "(-inf, 0.0133456]" of the PD reads "≤ 1.33 %", "(0.0133456, 0.0161446]" reads "1.33–1.61 %",
    "(1.61e+07, inf)" of a salary reads "> 16.1M COP"; the missing and unseen bins read as words; a category
    stays as it is."""
    if text in SPECIAL_BINS:
        return SPECIAL_BINS[text]
    edges = _interval_edges(INTERVAL, text)
    if edges is None:
        return str(text)
    low, high = edges
    unit = " %" if column == SCORE else (f" {currency_of(column)}" if currency_of(column) else "")
    if math.isinf(low):
        return f"≤ {_number(high, column)}{unit}"
    if math.isinf(high):
        return f"> {_number(low, column)}{unit}"
    return f"{_number(low, column)}–{_number(high, column)}{unit}"


CLOSED_OPEN = re.compile(r"^\[\s*(?P<low>[^,]+?)\s*,\s*(?P<high>[^\)]+?)\s*\)$")


def points_bin_label(text: str, column: str) -> str:
    """A scorecard bin as the points table writes it ("[2.182e+06, 4.074e+06)", lower edge inside) for a reader:
    "2.18M–4.07M COP", "< 26", "≥ 62"; the missing, special and category bins stay as they are."""
    edges = _interval_edges(CLOSED_OPEN, text)
    if edges is None:
        return str(text)
    low, high = edges
    unit = f" {currency_of(column)}" if currency_of(column) else ""
    if math.isinf(low) and math.isinf(high):
        return "any value"
    if math.isinf(low):
        return f"< {compact_number(high)}{unit}"
    if math.isinf(high):
        return f"≥ {compact_number(low)}{unit}"
    return f"{compact_number(low)}–{compact_number(high)}{unit}"


def bin_labels(bins: Sequence[str], column: str) -> list[str]:
    return [bin_label(str(text), column) for text in bins]


def model_title(name: object) -> str:
    """A candidate's title from the registry ("Gradient boosting"); an unknown name with spaces."""
    entry = CANDIDATES.get(str(name))
    return entry.title if entry is not None else str(name).replace("_", " ")


def variant_title(name: object, monotone: object = None) -> str:
    """A compared candidate as the comparison shows it: its title, and whether it was fitted under the monotone
    constraints when the comparison says ("Gradient boosting, monotone")."""
    if monotone is None or monotone != monotone:  # no such column, or an empty cell
        return model_title(name)
    return f"{model_title(name)}, {'monotone' if bool(monotone) else 'unconstrained'}"


def band_colours(bands: Sequence[str]) -> dict[str, str]:
    """One colour per band in the order given (safest first): green for the first, red for the last."""
    count = len(bands)
    if count == 1:
        return {bands[0]: BAND_PALETTE[0]}
    positions = [round(index * (len(BAND_PALETTE) - 1) / (count - 1)) for index in range(count)]
    return {band: BAND_PALETTE[position] for band, position in zip(bands, positions)}


def percent(value: float | None, digits: int = 2) -> str:
    """A rate as a percentage: 0.0306 -> "3.06 %"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f} %"
