"""The operating loop replayed: every labelled incoming month scored as it would have been at the time.

A lender learns a loan's outcome only once it has had time to default: a loan booked in month t has a label
it can use from the start of month t + lag + 1 (`lag` = `prepare.performance_window_months`, the same
performance window that keeps young loans out of the training labels). The backtest walks the incoming
months whose labels are in the data, oldest first; at month m it may use the history's labels (the prepared
train and test splits, already matured at the export) and the incoming loans booked in month m - lag - 1 or
earlier (`matured`), and nothing later. With those it scores month m three ways:

- `champion`: the model as shipped;
- `recalibrated`: the champion recalibrated on the latest `backtest.recalibration_months` loan months with
  matured labels (`modeling.refit.recalibrated_bundle`: the intercept, plus the slope with
  `backtest.min_defaults_for_slope` defaults); the champion as it is where those months hold no default;
- `retrained`: the shipped training procedure rerun on every matured label (`modeling.refit.retrained_bundle`),
  refitted only when a new month's labels have matured.

Each month and each option get the Brier score, its skill against a constant at the default rate known at the
time (the matured labels' rate), mean PD against the observed rate, ROC-AUC and the PD-level verdict of the drift
stage (`run.window_calibration`, with the option's own risk bands); overall, the same pooled over the months,
the first window each option's PD-level verdict would have raised (warn) and alerted, and the month the labels
that show it mature. The option with the lowest pooled Brier (a proper score: calibration and ranking at once)
is named `best_by_brier`, whichever it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from creditrisk.data.contract import DATE, TARGET
from creditrisk.io import finite_json
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.calibration import LabelsError
from creditrisk.modeling.features import default_target, FeaturizeParams
from creditrisk.modeling.refit import recalibrated_bundle, retrained_bundle
from creditrisk.modeling.train_params import TrainParams
from creditrisk.monitoring.rules import DriftRules
from creditrisk.monitoring.run import window_band_tests, window_calibration
from creditrisk.monitoring.windows import WindowData
from creditrisk.params import ParamsBlock

OPTIONS = ("champion", "recalibrated", "retrained")


@dataclass(frozen=True)
class BacktestParams(ParamsBlock):
    """The `backtest` block of params.yaml."""

    BLOCK: ClassVar[str] = "backtest"
    recalibration_months: int
    min_defaults_for_slope: int
    report_path: str

    def problems(self) -> list[tuple[str, str]]:
        return [(name, "must be >= 1") for name in ("recalibration_months", "min_defaults_for_slope")
                if getattr(self, name) < 1]


def loan_months(frame: pd.DataFrame) -> pd.Series:
    return frame[DATE].dt.to_period("M")


def matured(labelled: pd.DataFrame, as_of: pd.Period, lag_months: int) -> pd.DataFrame:
    """The loans of `labelled` whose labels have matured by the start of month `as_of`: booked in month
    `as_of - lag_months - 1` or earlier, so each has had at least `lag_months` whole months to default."""
    return labelled[(loan_months(labelled) <= as_of - (lag_months + 1)).to_numpy()]


def latest_months(labelled: pd.DataFrame, count: int) -> pd.DataFrame:
    """The loans of the latest `count` loan months that hold any loan (months without loans are skipped)."""
    months = loan_months(labelled)
    kept = sorted(months.unique())[-count:]
    return labelled[months.isin(kept).to_numpy()]


def labelled_months(windows: Iterable[WindowData]) -> tuple[list[tuple[pd.Period, pd.DataFrame]], list[str]]:
    """The labelled loans of each incoming window, oldest first, and the windows without any label."""
    found, unlabelled = [], []
    for data in windows:
        frame = data.frame
        labelled = frame[frame[TARGET].notna().to_numpy()] if TARGET in frame.columns and len(frame) else frame.iloc[:0]
        if labelled.empty:
            unlabelled.append(data.window.label)
            continue
        found.append((pd.Period(data.window.start, "M"), labelled.reset_index(drop=True)))
    return found, unlabelled


def _span(frame: pd.DataFrame) -> dict[str, Any]:
    months = loan_months(frame)
    return {"rows": len(frame), "defaults": int(default_target(frame).sum()),
            "first_month": str(months.min()) if len(frame) else None,
            "last_month": str(months.max()) if len(frame) else None}


class Candidates:
    """The recalibrated and retrained bundles at each month, each built once per distinct set of labels."""

    def __init__(self, champion: ModelBundle, params: BacktestParams, featurize: FeaturizeParams,
                 train: TrainParams, retrain: Callable[..., Any] = retrained_bundle) -> None:
        self.champion, self.params, self.retrain = champion, params, retrain
        self.featurize, self.train = featurize, train
        self._recalibrated: dict[tuple, tuple[ModelBundle, dict[str, Any]]] = {}
        self._retrained: dict[tuple, tuple[ModelBundle, dict[str, Any]]] = {}

    def recalibrated(self, known: pd.DataFrame) -> tuple[ModelBundle, dict[str, Any]]:
        window = latest_months(known, self.params.recalibration_months)
        key = tuple(sorted(loan_months(window).astype(str).unique())) + (len(window),)
        if key not in self._recalibrated:
            fitted_on = _span(window)
            try:
                bundle = recalibrated_bundle(self.champion, window, self.params.min_defaults_for_slope)
                self._recalibrated[key] = bundle, {**fitted_on, **bundle.metadata["recalibration"]}
            except LabelsError as error:
                self._recalibrated[key] = self.champion, {**fitted_on, "note": f"{error}: the champion as it is"}
        return self._recalibrated[key]

    def retrained(self, known: pd.DataFrame) -> tuple[ModelBundle, dict[str, Any]]:
        key = (len(known), str(loan_months(known).max()))
        if key not in self._retrained:
            result = self.retrain(known.reset_index(drop=True), self.featurize, self.train)
            self._retrained[key] = result.bundle, {**_span(known), "model": result.bundle.metadata.get("model"),
                                                   "calibration": result.bundle.metadata.get("calibration")}
        return self._retrained[key]


def _roc_auc(y: np.ndarray, pd_values: np.ndarray) -> float | None:
    return float(roc_auc_score(y, pd_values)) if 0 < y.sum() < len(y) else None


def scores(y: np.ndarray, pd_values: np.ndarray, known_rate: np.ndarray | float) -> dict[str, Any]:
    """Brier, its skill against a constant at the known rate, mean PD against observed, ROC-AUC."""
    brier = float(np.mean((pd_values - y) ** 2))
    constant = float(np.mean((known_rate - y) ** 2))
    return {"brier": brier, "brier_skill": 1.0 - brier / constant if constant > 0 else None,
            "mean_pd": float(pd_values.mean()), "default_rate": float(y.mean()),
            "observed_over_expected": float(y.sum() / pd_values.sum()) if pd_values.sum() > 0 else None,
            "roc_auc": _roc_auc(y, pd_values)}


def option_record(bundle: ModelBundle, frame: pd.DataFrame, known_rate: float, rules: DriftRules,
                  fitted: dict[str, Any] | None) -> tuple[dict[str, Any], np.ndarray]:
    """One option at one month: its scores and the drift stage's PD-level verdict (with its own bands)."""
    pd_values = bundle.predict_pd(frame)
    y = default_target(frame)
    bands = window_band_tests(frame, pd_values, bundle, rules).get("band_tests", [])
    calibration = window_calibration(frame, pd_values, rules, bands)
    record = {**scores(y, pd_values, known_rate),
              **{key: calibration.get(key) for key in ("calibration_ratio", "calibration_ratio_low",
                                                       "calibration_ratio_high", "calibration_pvalue",
                                                       "calibration_level", "calibration_reason")}}
    if fitted is not None:
        record["fitted_on"] = fitted
    return record, pd_values


def _first(months: list[dict[str, Any]], option: str, levels: tuple[str, ...]) -> str | None:
    return next((month["window"] for month in months if month[option]["calibration_level"] in levels), None)


def overall(months: list[dict[str, Any]], y: np.ndarray, known: np.ndarray, pds: dict[str, list[np.ndarray]],
            lag_months: int) -> dict[str, dict[str, Any]]:
    """Every option pooled over the months, and when its PD-level verdict would first have fired."""
    found = {}
    for option in OPTIONS:
        record = scores(y, np.concatenate(pds[option]), known)
        for name, levels in (("first_warn", ("warn", "alert")), ("first_alert", ("alert",))):
            window = _first(months, option, levels)
            record[name] = window
            record[f"{name}_known"] = str(pd.Period(window, "M") + lag_months + 1) if window else None
        found[option] = record
    return found


def run_backtest(champion: ModelBundle, history: pd.DataFrame, incoming: Iterable[WindowData], lag_months: int,
                 params: BacktestParams, featurize: FeaturizeParams, train: TrainParams, rules: DriftRules,
                 retrain: Callable[..., Any] = retrained_bundle) -> dict[str, Any]:
    """The report `reports/backtest.json` holds (see the module docstring); `retrain` is the retraining
    procedure (the shipped one unless a test spies on what it is given)."""
    months, unlabelled = labelled_months(incoming)
    labelled = pd.concat([history, *(frame for _, frame in months)], ignore_index=True)
    labelled = labelled[labelled[TARGET].notna().to_numpy()].reset_index(drop=True)
    candidates = Candidates(champion, params, featurize, train, retrain)
    records: list[dict[str, Any]] = []
    pds: dict[str, list[np.ndarray]] = {option: [] for option in OPTIONS}
    outcomes, known_rates = [], []
    for month, frame in months:
        known = matured(labelled, month, lag_months)
        if known.empty:
            raise LabelsError(f"no label had matured by {month} (label lag {lag_months} months)")
        known_rate = float(default_target(known).mean())
        options = {"champion": (champion, None), "recalibrated": candidates.recalibrated(known),
                   "retrained": candidates.retrained(known)}
        record: dict[str, Any] = {"window": str(month), "rows": len(frame),
                                  "defaults": int(default_target(frame).sum()), "matured": _span(known),
                                  "known_default_rate": known_rate}
        for option, (bundle, fitted) in options.items():
            record[option], pd_values = option_record(bundle, frame, known_rate, rules, fitted)
            pds[option].append(pd_values)
        record["best_by_brier"] = min(OPTIONS, key=lambda option: record[option]["brier"])
        records.append(record)
        outcomes.append(default_target(frame))
        known_rates.append(np.full(len(frame), known_rate))
    summary = overall(records, np.concatenate(outcomes), np.concatenate(known_rates), pds, lag_months) \
        if records else {}
    return finite_json({
        "label_lag_months": lag_months,
        "recalibration_months": params.recalibration_months,
        "min_defaults_for_slope": params.min_defaults_for_slope,
        "history": _span(history),
        "unlabelled_windows": unlabelled,
        "months": records,
        "overall": summary,
        "best_by_brier": min(OPTIONS, key=lambda option: summary[option]["brier"]) if summary else None,
    })


SUMMARY_CELLS = (("brier", "{:.4f}"), ("brier_skill", "({:+.3f})"), ("observed_over_expected", "{:.2f}"),
                 ("roc_auc", "{:.3f}"), ("calibration_level", "{}"))


def _text(value: Any, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report as a few lines of text: per month and overall, each option's Brier (skill), observed over
    expected, ROC-AUC and PD level, then the best option."""
    if not report["months"]:
        return [f"no incoming month has labels yet ({len(report['unlabelled_windows'])} without): nothing to replay"]
    lines = [f"label lag {report['label_lag_months']} months; per option ({', '.join(OPTIONS)}): Brier (skill), "
             "observed / expected, ROC-AUC, PD level"]
    for row in [*report["months"], {"window": "overall", **report["overall"]}]:
        cells = [" ".join(_text(row[option][key], pattern) for key, pattern in SUMMARY_CELLS if key in row[option])
                 for option in OPTIONS]
        lines.append(f"{row['window']:>8}  " + "  |  ".join(cells))
    lines.append(f"best by Brier: {report['best_by_brier']}")
    return lines
