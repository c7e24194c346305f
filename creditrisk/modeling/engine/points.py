"""A points scorecard's reasons: the characteristics where the applicant lost the most points.

A scorecard pipeline (optbinning's bins, a logistic regression; `modeling.scorecard`) is not of the structure
the compiled path reads, so its PDs come from the pipeline itself. Its reasons follow the convention
scorecards use (Siddiqi, Credit Risk Scorecards, 2006, ch. 9; the points-below-maximum method of adverse-action
notices): per characteristic, the points the applicant's bin scores below the characteristic's best bin. On
the logit scale of the other candidates' contributions that is points lost / factor: how much higher the
log-odds of default are than with the best bin of that characteristic, all else as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditrisk.modeling.scorecard import ScorecardTable


@dataclass(frozen=True)
class PointsExplainer:
    """Contributions of a scorecard's characteristics: the points lost against each one's best bin / factor."""

    table: ScorecardTable

    @property
    def columns(self) -> list[str]:
        return list(self.table.characteristics)

    def model_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.table.domain.transform(frame)

    def contributions(self, model_frame: pd.DataFrame) -> np.ndarray:
        """(rows, characteristics): each row's points lost per characteristic, on the logit scale (>= 0)."""
        return self.table.points_lost(model_frame) / self.table.scale.factor
