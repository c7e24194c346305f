"""Calibration that respects time: a calibrator fitted on out-of-time scores, and calibration in the large.

Shuffled folds calibrate a model on loans from its own period; when the default rate moves over time
(it does in the lender's export: 5.1 % in the first 80 % of loans, 3.2 % in the last 20 %), those PDs are
off out of time. Here the calibrator is fitted on scores the model gave loans it had not seen and that came
after its training data (forward-chaining out-of-fold scores, or the most recent slice of train), and an
optional shift on the logit scale sets the mean PD to a central-tendency default rate, the long-run rate
PD practice calibrates to (EBA/GL/2017/16, section 5.3.5).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import optimize, special
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from creditrisk.modeling.validation import logit

CalibrationMethod = Literal["none", "sigmoid", "isotonic"]
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
