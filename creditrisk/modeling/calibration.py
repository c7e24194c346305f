"""Calibration that respects time: a calibrator fitted on out-of-time scores, and calibration in the large.

Shuffled folds calibrate a model on loans from its own period; when the default rate moves over time
(it does in the lender's export: 5.1 % in the first 80 % of loans, 3.2 % in the last 20 %), those PDs are
off out of time. Here the calibrator is fitted on scores the model gave loans it had not seen and that came
after its training data (forward-chaining out-of-fold scores, or the most recent slice of train), and an
optional shift on the logit scale sets the mean PD to a central-tendency default rate, the long-run rate
PD practice calibrates to (EBA/GL/2017/16, section 5.3.5).

A model in service is recalibrated on the latest matured labels with `LogitRecalibration`: the calibrated PD
mapped once more by logit(PD') = a + b logit(PD) (`fit_logit_recalibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, special
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.tools import add_constant
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from creditrisk.modeling.validation import logit

CalibrationMethod = Literal["none", "sigmoid", "isotonic"]
RecalibrationForm = Literal["intercept", "intercept and slope"]
CALIBRATION_METHODS: tuple[str, ...] = ("none", "sigmoid", "isotonic")


class ScoreCalibrator(BaseEstimator):
    """Maps a model's raw P(default) to a calibrated one.

    sigmoid: Platt scaling, a logistic regression of the outcome on logit(score) (Platt 1999);
    isotonic: a monotone step function (Zadrozny & Elkan 2002); none: the score as it is.
    `shift` is added on the logit scale after either (calibration in the large).
    """

    def __init__(self, method: CalibrationMethod = "sigmoid") -> None:
        self.method = method

    def fit(self, scores: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        scores, y = np.asarray(scores, dtype="float64"), np.asarray(y).astype(int)
        if self.method not in CALIBRATION_METHODS:
            raise ValueError(f"calibration method {self.method!r} is not one of {list(CALIBRATION_METHODS)}")
        self.mapping_ = None
        if self.method == "sigmoid":
            self.mapping_ = LogisticRegression(C=np.inf, max_iter=1000).fit(logit(scores)[:, None], y)
        elif self.method == "isotonic":
            self.mapping_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
        self.shift_ = 0.0
        return self

    def _mapped(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype="float64")
        if self.method == "sigmoid":
            return self.mapping_.predict_proba(logit(scores)[:, None])[:, 1]
        if self.method == "isotonic":
            return self.mapping_.predict(scores)
        return scores

    def transform(self, scores: np.ndarray) -> np.ndarray:
        mapped = self._mapped(scores)
        return special.expit(logit(mapped) + self.shift_) if self.shift_ else mapped

    def set_mean(self, scores: np.ndarray, target_rate: float) -> ScoreCalibrator:
        """Shift the logit so that the mean calibrated PD over `scores` is `target_rate`."""
        self.shift_ = 0.0
        self.shift_ = in_the_large_shift(self.transform(scores), target_rate)
        return self


def in_the_large_shift(pd_values: np.ndarray, target_rate: float) -> float:
    """The logit shift s with mean(expit(logit(PD) + s)) = target_rate (monotone in s: one root)."""
    if not 0.0 < target_rate < 1.0:
        raise ValueError(f"central-tendency default rate {target_rate} must be in (0, 1)")
    logits = logit(pd_values)
    def gap(shift: float) -> float:
        return float(special.expit(logits + shift).mean() - target_rate)
    return float(optimize.brentq(gap, -30.0, 30.0, xtol=1e-12))


class CalibratedModel(ClassifierMixin, BaseEstimator):
    """A fitted scoring pipeline followed by a fitted `ScoreCalibrator`: what the bundle scores with."""

    def __init__(self, model: object, calibrator: ScoreCalibrator) -> None:
        self.model = model
        self.calibrator = calibrator

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def fit(self, X: object, y: np.ndarray) -> CalibratedModel:  # noqa: N803 (scikit-learn's name)
        raise NotImplementedError("CalibratedModel is assembled from fitted parts (see modeling.training)")

    def predict_proba(self, X: object) -> np.ndarray:  # noqa: N803
        calibrated = self.calibrator.transform(self.model.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - calibrated, calibrated])

    def predict(self, X: object) -> np.ndarray:  # noqa: N803
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def logit_line(calibrator: Any) -> tuple[float, float] | None:
    """(a, b) with logit(calibrated PD) = a + b logit(score) when the calibrator is linear on the logit (none or
    sigmoid, with any shift in the large; a `LogitRecalibration` of one), else None (isotonic)."""
    if isinstance(calibrator, LogitRecalibration):
        inner = (0.0, 1.0) if calibrator.calibrator is None else logit_line(calibrator.calibrator)
        if inner is None:
            return None
        return calibrator.intercept + calibrator.slope * inner[0], calibrator.slope * inner[1]
    if not isinstance(calibrator, ScoreCalibrator) or calibrator.method == "isotonic":
        return None
    if calibrator.method == "none":
        return float(calibrator.shift_), 1.0
    mapping = calibrator.mapping_
    return float(mapping.intercept_[0]) + float(calibrator.shift_), float(mapping.coef_[0, 0])


class LabelsError(ValueError):
    """The labels cannot fit a candidate model or map: no default among them, or nothing but defaults."""


def require_both_outcomes(y: np.ndarray, purpose: str) -> None:
    """Raise `LabelsError` unless `y` (1 = default) holds a default and a non-default."""
    defaults, rows = int(np.sum(y)), len(y)
    if defaults == 0 or defaults == rows:
        raise LabelsError(f"{purpose} needs defaults and non-defaults: {defaults} defaults in {rows} labelled loans")


class LogitRecalibration(BaseEstimator):
    """A fitted calibrator (or none: the scores as they are) followed by logit(PD') = intercept + slope logit(PD).

    The slope is positive, so the map stays monotone (the reasons' attribution needs that, see
    `creditrisk.modeling.reasons`) and the ranking is unchanged.
    """

    def __init__(self, calibrator: Any = None, intercept: float = 0.0, slope: float = 1.0) -> None:
        self.calibrator = calibrator
        self.intercept = intercept
        self.slope = slope

    def transform(self, scores: np.ndarray) -> np.ndarray:
        pd_values = self.calibrator.transform(scores) if self.calibrator is not None else np.asarray(scores, float)
        return special.expit(self.intercept + self.slope * logit(pd_values))


@dataclass(frozen=True)
class RecalibrationFit:
    """The recalibration fitted on matured labels, and what it was fitted on."""

    intercept: float
    slope: float
    form: RecalibrationForm
    rows: int
    defaults: int
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "slope": self.slope, "form": self.form, "rows": self.rows,
                "defaults": self.defaults, "note": self.note}


def fit_logit_recalibration(y: np.ndarray, pd_values: np.ndarray, min_defaults_for_slope: int) -> RecalibrationFit:
    """Logistic recalibration of PDs on outcomes `y` (1 = default): logit P(y) = a + b logit(PD).

    The slope b is fitted (maximum likelihood, with a) only when there are `min_defaults_for_slope` defaults and
    as many non-defaults: fewer make it noise (Vergouwe et al. 2005, J. Clinical Epidemiology 58:475-483, ask
    for 100 events to validate a logistic model; Steyerberg, Clinical Prediction Models, 2nd ed. 2019, on
    updating a model for a new setting: the intercept first, the slope only with enough data). Otherwise, or
    when the fitted slope is not positive, b = 1 and a is the maximum-likelihood intercept with logit(PD) as an
    offset, which is the shift that sets the mean PD to the observed default rate (`in_the_large_shift`).
    """
    y = np.asarray(y).astype(int)
    require_both_outcomes(y, "recalibration")
    defaults, rows = int(y.sum()), len(y)
    note = ""
    if min(defaults, rows - defaults) >= min_defaults_for_slope:
        fitted = GLM(y, add_constant(logit(pd_values), has_constant="add"), family=Binomial()).fit()
        intercept, slope = float(fitted.params[0]), float(fitted.params[1])
        if slope > 0:
            return RecalibrationFit(intercept, slope, "intercept and slope", rows, defaults, note)
        note = f"fitted slope {slope:.3f} is not positive: intercept only"
    else:
        note = f"{defaults} defaults < {min_defaults_for_slope} for a slope: intercept only"
    return RecalibrationFit(in_the_large_shift(pd_values, defaults / rows), 1.0, "intercept", rows, defaults, note)
