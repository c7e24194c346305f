"""Calibration judged over time: every choice params allow (method, the scores it is fitted on, calibration
in the large) is fitted on what was known before each forward fold and scored on that fold; the lowest
forward-CV Brier wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditrisk.modeling.calibration import ScoreCalibrator
from creditrisk.modeling.metrics import expected_calibration_error
from creditrisk.modeling.timesplits import ForwardFold
from creditrisk.modeling.train_params import TrainParams
from creditrisk.params import ParamsError
from creditrisk.modeling.validation import (
    brier_skill_score,
    calibration_intercept_slope,
    log_loss as validation_log_loss,
)


@dataclass(frozen=True)
class CalibrationChoice:
    """A calibration method, the scores it is fitted on, and whether the mean PD is then set to the
    central-tendency default rate (calibration in the large)."""

    method: str
    source: str
    in_the_large: bool

    @property
    def name(self) -> str:
        base = "none" if self.method == "none" else f"{self.method}/{self.source}"
        return base + ("+in_the_large" if self.in_the_large else "")

    def fit(self, scores: np.ndarray, y: np.ndarray, target_rate: float) -> ScoreCalibrator:
        calibrator = ScoreCalibrator(self.method).fit(scores, y)
        return calibrator.set_mean(scores, target_rate) if self.in_the_large else calibrator


def calibration_choices(params: TrainParams, allowed: tuple[str, ...] | None = None) -> list[CalibrationChoice]:
    """The choices params allow (`auto` opens a setting to every value) among the methods the candidate
    allows (`allowed`, None: every one)."""
    methods = ["none", "sigmoid", "isotonic"] if params.calibration == "auto" else [params.calibration]
    if allowed is not None:
        methods = [method for method in methods if method in allowed]
        if not methods:
            raise ParamsError(f"params.yaml: train.calibration {params.calibration!r} is not one this candidate "
                              f"allows ({list(allowed)}: its points must stay additive)")
    sources = ["oof", "recent"] if params.calibration_source == "auto" else [params.calibration_source]
    large = {"auto": [False, True], "on": [True], "off": [False]}[params.calibration_in_the_large]
    choices = []
    for method in methods:
        for source in (sources[:1] if method == "none" else sources):
            choices += [CalibrationChoice(method, source, flag) for flag in large]
    return choices


def calibration_rows(folds: list[ForwardFold], before: int, source: str) -> np.ndarray:
    """Rows a calibrator may be fitted on when validating fold `before` (len(folds) = the final model):
    every earlier fold's validation block (`oof`), or only the latest one (`recent`, the recent slice)."""
    if source == "recent":
        return folds[before - 1].validate
    return np.sort(np.concatenate([fold.validate for fold in folds[:before]]))


def central_rate(params: TrainParams, y_known: np.ndarray) -> float:
    """The central-tendency default rate: from params, or else the long-run rate of the loans known."""
    return float(params.central_default_rate) if params.central_default_rate is not None else float(y_known.mean())


def compare_calibrations(choices: list[CalibrationChoice], folds: list[ForwardFold], scores: np.ndarray,
                         y: np.ndarray, params: TrainParams) -> pd.DataFrame:
    """Forward-CV Brier and log-loss of every choice: for fold k (k >= 2), the calibrator is fitted on what
    was known before it (earlier folds' out-of-fold scores, or the latest earlier block) and scores fold k."""
    rows = []
    for choice in choices:
        briers, losses, skills, judged, outcomes = [], [], [], [], []
        for k in range(1, len(folds)):
            fit_rows, held = calibration_rows(folds, k, choice.source), folds[k].validate
            if len(np.unique(y[fit_rows])) < 2:
                continue
            known_rate = float(y[folds[k].train].mean())
            calibrator = choice.fit(scores[fit_rows], y[fit_rows], central_rate(params, y[folds[k].train]))
            pd_values = np.clip(calibrator.transform(scores[held]), 0.0, 1.0)
            briers.append(float(np.mean((pd_values - y[held]) ** 2)))
            losses.append(validation_log_loss(y[held], pd_values))
            skills.append(brier_skill_score(y[held], pd_values, known_rate))
            judged.append(pd_values)
            outcomes.append(y[held])
        pooled = np.concatenate(judged) if judged else np.array([])
        observed = np.concatenate(outcomes) if outcomes else np.array([])
        rows.append({"choice": choice.name, "method": choice.method, "source": choice.source,
                     "in_the_large": choice.in_the_large, "folds": len(briers),
                     "brier_mean": float(np.mean(briers)) if briers else float("nan"),
                     "brier_std": float(np.std(briers, ddof=1)) if len(briers) > 1 else 0.0,
                     "log_loss_mean": float(np.mean(losses)) if losses else float("nan"),
                     "brier_skill_mean": float(np.mean(skills)) if skills else float("nan"),
                     "mean_pd": float(pooled.mean()) if len(pooled) else float("nan"),
                     "observed_default_rate": float(observed.mean()) if len(observed) else float("nan"),
                     **_pooled_calibration(observed, pooled)})
    return pd.DataFrame(rows)


def _pooled_calibration(y: np.ndarray, pd_values: np.ndarray) -> dict[str, float]:
    """ECE (10 quantile bins) and the calibration intercept and slope of the judged folds' PDs together."""
    if len(np.unique(y)) < 2:
        return {"ece": float("nan"), "calibration_intercept": float("nan"), "calibration_slope": float("nan")}
    line = calibration_intercept_slope(y, pd_values)
    return {"ece": expected_calibration_error(y, pd_values, 10),
            "calibration_intercept": line["intercept"], "calibration_slope": line["slope"]}


def select_calibration(table: pd.DataFrame) -> str:
    """The choice with the lowest forward-CV Brier (ties: the first listed, the simplest)."""
    judged = table.dropna(subset=["brier_mean"])
    if judged.empty:
        raise ValueError("no calibration choice could be judged: every forward fold's calibration rows hold "
                         "one class only (use fewer forward folds or more data)")
    return str(judged.loc[judged["brier_mean"].idxmin(), "choice"])


@dataclass(frozen=True)
class ChosenCalibration:
    """The calibration forward CV chose (`name`), the comparison it won (`table`), and its calibrator fitted on
    the scores that choice's source allows for the final model."""

    name: str
    table: pd.DataFrame
    calibrator: ScoreCalibrator
    central_default_rate: float


def choose_calibration(scores: np.ndarray, y: np.ndarray, folds: list[ForwardFold], params: TrainParams,
                       central_default_rate: float, allowed: tuple[str, ...] | None = None) -> ChosenCalibration:
    """Judge every choice params (and the candidate, `allowed`) allow on the forward folds, then fit the winner
    for the final model."""
    choices = calibration_choices(params, allowed)
    table = compare_calibrations(choices, folds, scores, y, params)
    choice = next(choice for choice in choices if choice.name == select_calibration(table))
    fit_rows = calibration_rows(folds, len(folds), choice.source)
    return ChosenCalibration(choice.name, table, choice.fit(scores[fit_rows], y[fit_rows], central_default_rate),
                             central_default_rate)
