"""Scorecard points: the PD on the points scale risk teams read.

points = offset - factor * ln(PD / (1 - PD)), factor = pdo / ln 2, offset = points0 - factor * ln(odds0):
`points0` points at good:bad odds of `odds0`, and every `pdo` points double the good:bad odds (Siddiqi,
Credit Risk Scorecards, 2006, ch. 6; Anderson, The Credit Scoring Toolkit, 2007, section 9.2).
Higher points, lower risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from creditrisk.modeling.validation import PD_FLOOR


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
