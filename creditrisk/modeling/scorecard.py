"""Scorecard points: the PD on the points scale risk teams read.

points = offset - factor * ln(PD / (1 - PD)), factor = pdo / ln 2, offset = points0 - factor * ln(odds0):
`points0` points at good:bad odds of `odds0`, and every `pdo` points double the good:bad odds (Siddiqi,
Credit Risk Scorecards, 2006, ch. 6; Anderson, The Credit Scoring Toolkit, 2007, section 9.2).
Higher points, lower risk.

The same scale gives the `scorecard` candidate its points table (`scorecard_table`): points per bin of each
characteristic that add up to the points of the PD it serves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from creditrisk.modeling.calibration import logit_line, CalibratedModel
from creditrisk.modeling.validation import PD_FLOOR
from creditrisk.modeling.woe import WoeBinning


@dataclass(frozen=True)
class PointsScale:
    """`points0` points at good:bad odds `odds0`; `pdo` points to double the odds."""

    points0: float
    odds0: float
    pdo: float

    def __post_init__(self) -> None:
        if self.odds0 <= 0 or self.pdo <= 0:
            raise ValueError(f"scorecard odds0 ({self.odds0}) and pdo ({self.pdo}) must be > 0")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """points = offset - factor * ln(bad:good odds); at bad:good odds 1/odds0 it gives points0."""
        return self.points0 - self.factor * math.log(self.odds0)

    def describe(self) -> dict[str, float]:
        """The scale as the model card and `/model` state it (`from_description` reads it back)."""
        return {"points0": self.points0, "odds0": self.odds0, "pdo": self.pdo,
                "factor": self.factor, "offset": self.offset}

    @classmethod
    def from_description(cls, description: dict[str, float]) -> PointsScale:
        return cls(float(description["points0"]), float(description["odds0"]), float(description["pdo"]))

    def points(self, pd_values: np.ndarray | float) -> np.ndarray:
        pd_values = np.clip(np.asarray(pd_values, dtype="float64"), PD_FLOOR, 1.0 - PD_FLOOR)
        return self.offset - self.factor * np.log(pd_values / (1.0 - pd_values))

    def pd_at(self, points: np.ndarray | float) -> np.ndarray:
        """The PD that scores `points` (the inverse of `points`)."""
        return 1.0 / (1.0 + np.exp((np.asarray(points, dtype="float64") - self.offset) / self.factor))

    def band_points(self, upper_pds: list[float]) -> list[tuple[float | None, float | None]]:
        """Each band's (lowest, highest) points, from the bands' PD upper edges in increasing order.

        A band holds PDs in (previous edge, edge]; its lowest points are at its upper PD edge, its highest at
        the previous edge (open ended for the first band, whose lower edge is PD 0)."""
        edges = [None, *upper_pds]
        ranges = []
        for lower_pd, upper_pd in zip(edges, edges[1:]):
            lowest = None if upper_pd is None or upper_pd >= 1.0 else float(self.points(upper_pd))
            highest = None if lower_pd is None else float(self.points(lower_pd))
            ranges.append((lowest, highest))
        return ranges


# ---------------------------------------------------------------- the points scorecard candidate


@dataclass(frozen=True)
class ScorecardTable:
    """A fitted points scorecard (the `scorecard` candidate) on the same points scale as the served PD.

    The scorecard's log-odds of default is linear in its characteristics' WoE, and its calibration is linear on
    the logit (none or sigmoid, then the shift in the large): logit(PD) = a + b (beta0 + sum_j beta_j WoE_j).
    So points = offset - factor logit(PD) splits into one term per characteristic,

        points_j(bin) = -factor b beta_j WoE_j(bin) + (offset - factor (a + b beta0)) / n,

    the constant shared evenly among the n characteristics (Siddiqi, Credit Risk Scorecards, 2006, ch. 6), and a
    row's points add up to `PointsScale.points` of its served PD: the points the API serves (before its
    rounding to 0.1) are the sum of the table's lines.
    """

    domain: Any
    binning: WoeBinning
    scale: PointsScale
    characteristics: list[str]
    points: dict[str, np.ndarray]  # per characteristic: points per bin, in `binning.bins_` order

    def rows(self) -> list[dict[str, Any]]:
        """The points table: characteristic, bin, WoE and points, bin by bin."""
        return [{"characteristic": name, "bin": bin.label, "kind": bin.kind, "woe": bin.woe,
                 "points": float(points)}
                for name in self.characteristics
                for bin, points in zip(self.binning.bins_[name], self.points[name], strict=True)]

    def points_matrix(self, model_frame: pd.DataFrame) -> np.ndarray:
        """(rows, characteristics): each row's points per characteristic."""
        return np.column_stack([self.points[name][self.binning.bin_index(model_frame, name)]
                                for name in self.characteristics])

    def total(self, frame: pd.DataFrame) -> np.ndarray:
        """Each contract row's points: the sum of its characteristics' points, left to right."""
        matrix = self.points_matrix(self.domain.transform(frame))
        total = np.zeros(len(matrix))
        for column in matrix.T:  # in the characteristics' order, as the SQL adds them
            total = total + column
        return total

    def points_lost(self, model_frame: pd.DataFrame) -> np.ndarray:
        """(rows, characteristics): the points each row lost against each characteristic's best bin."""
        best = np.array([self.points[name].max() for name in self.characteristics])
        return best - self.points_matrix(model_frame)


def scorecard_parts(pipeline: Any) -> tuple[Any, Any, Any, Any] | None:
    """(domain step, WoeBinning, logistic regression, calibrator or None) of a scorecard pipeline, else None."""
    calibrator = None
    if isinstance(pipeline, CalibratedModel):
        pipeline, calibrator = pipeline.model, pipeline.calibrator
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 3:
        return None
    domain, binning, model = (step for _, step in pipeline.steps)
    if not isinstance(binning, WoeBinning) or not isinstance(model, LogisticRegression) or model.coef_.shape[0] != 1:
        return None
    return domain, binning, model, calibrator


def scorecard_table(pipeline: Any, scale: PointsScale) -> ScorecardTable | None:
    """The points table of a fitted scorecard pipeline (calibrated or not) on `scale`; None for another
    pipeline, or a calibration that is not linear on the logit (the points would not add up)."""
    parts = scorecard_parts(pipeline)
    if parts is None:
        return None
    domain, binning, model, calibrator = parts
    line = (0.0, 1.0) if calibrator is None else logit_line(calibrator)
    if line is None:
        return None
    intercept, slope = line
    # A characteristic whose coefficient the sign constraint held at zero scores nothing: not on the card.
    kept = [(name, float(coefficient)) for name, coefficient in zip(binning.characteristics_, model.coef_[0],
                                                                    strict=True) if coefficient != 0.0]
    names = [name for name, _ in kept]
    coefficients = [coefficient for _, coefficient in kept]
    constant = (scale.offset - scale.factor * (intercept + slope * float(model.intercept_[0]))) / max(len(names), 1)
    points = {name: -scale.factor * slope * float(coefficient) * np.array([bin.woe for bin in binning.bins_[name]])
              + constant for name, coefficient in zip(names, coefficients, strict=True)}
    return ScorecardTable(domain, binning, scale, names, points)
