"""Monotone constraints: the direction the business knows for an input, imposed on the candidates and checked.

`train.monotonic` in params.yaml maps model inputs (contract columns and the engineered features derived from
them) to +1 (a higher value never lowers the PD) or -1 (a higher value never raises it). The candidates apply
it where their estimator can (`candidates`): the trees through scikit-learn's `monotonic_cst`, the logistic
regression by refitting without any input whose coefficient comes out against its direction, the scorecard
through monotone bins. Every numeric input reaches the estimator as one increasing column (the standard and
quantile scalers; the spline scaler is refused with constraints), and the numeric block comes first in the
preprocessor's output, so an input's direction is its column's direction.

`monotonicity_check` is the validation test: along each constrained input's range it moves one input of each
row at a time and reads the PD (individual conditional expectation, Goldstein et al., Peeking inside the black
box, J. Comput. Graph. Stat. 24(1), 2015); the largest move against the sign is the finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from creditrisk.modeling.calibration import CalibratedModel
from creditrisk.modeling.features import feature_kind

Direction = int  # +1: the PD never falls as the input rises; -1: it never rises


def direction_problems(directions: Mapping[str, Any], known: Callable[[str], bool]) -> list[str]:
    """What is wrong with a `train.monotonic` map: unknown inputs, categories, directions other than +1/-1."""
    found = []
    for name, direction in directions.items():
        if not known(name):
            found.append(f"{name}: neither a contract column nor an engineered feature")
        elif feature_kind(name) != "numeric":
            found.append(f"{name}: a category has no direction")
        if direction not in (1, -1):
            found.append(f"{name}: direction {direction!r} must be 1 or -1")
    return found


@dataclass(frozen=True)
class MonotoneSpec:
    """The directions of the model inputs one fitted candidate must respect.

    `numeric` is the preprocessor's numeric block in order (its output's leading columns, one per input);
    `leading` gives their directions, 0 for an unconstrained input.
    """

    numeric: tuple[str, ...]
    directions: Mapping[str, Direction]

    @classmethod
    def of(cls, numeric: Sequence[str], directions: Mapping[str, Direction]) -> MonotoneSpec:
        kept = {name: int(direction) for name, direction in directions.items() if name in numeric}
        return cls(tuple(numeric), kept)

    @property
    def leading(self) -> list[Direction]:
        return [int(self.directions.get(name, 0)) for name in self.numeric]


def padded(leading: Sequence[int] | int | None, width: int) -> np.ndarray:
    """Directions for all `width` estimator columns: the leading ones given, 0 (free) for the rest; one
    number is the direction of every column."""
    if isinstance(leading, int | np.integer):
        return np.full(width, leading, dtype=np.int8)
    full = np.zeros(width, dtype=np.int8)
    if leading is not None:
        values = np.asarray(leading, dtype=np.int8)[:width]
        full[:len(values)] = values
    return full


# ---------------------------------------------------------------- the validation test


@dataclass(frozen=True)
class MonotonicityFinding:
    """One constrained input's ICE check: the largest PD move against its sign over the rows and grid."""

    feature: str
    direction: Direction
    rows: int
    grid: list[float]
    worst_move: float       # largest PD step against the sign between neighbouring grid values (>= 0)
    violating_rows: int     # rows whose PD moved against the sign by more than the tolerance
    tolerance: float

    @property
    def light(self) -> str:
        return "red" if self.worst_move > self.tolerance else "green"

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "direction": self.direction, "rows": self.rows, "grid": self.grid,
                "worst_move": self.worst_move, "violating_rows": self.violating_rows,
                "tolerance": self.tolerance, "light": self.light}


def ice_grid(values: pd.Series, points: int) -> list[float]:
    """Distinct quantiles of the input's present values (both ends included): where its range is populated."""
    present = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    if not len(present):
        return []
    return [float(value) for value in np.unique(np.quantile(present, np.linspace(0.0, 1.0, points)))]


def model_frame_scorer(pipeline: Any) -> tuple[Any, Callable[[pd.DataFrame], np.ndarray]]:
    """A fitted candidate pipeline (calibrated or not) as its domain step and the PD of a model frame: every
    candidate's pipeline starts with `DomainFeatures`, and the steps after it read the model frame."""
    calibrate = None
    if isinstance(pipeline, CalibratedModel):
        pipeline, calibrate = pipeline.model, pipeline.calibrator.transform
    domain, rest = pipeline.steps[0][1], Pipeline(pipeline.steps[1:])

    def pd_of(model_frame: pd.DataFrame) -> np.ndarray:
        response = rest.predict_proba(model_frame)[:, 1]
        return np.clip(response if calibrate is None else calibrate(response), 0.0, 1.0)
    return domain, pd_of


def monotonicity_check(pipeline: Any, frame: pd.DataFrame, directions: Mapping[str, Direction],
                       tolerance: float, points: int = 12) -> list[MonotonicityFinding]:
    """Per constrained input of the model: every row of `frame` (contract columns) with that input set to each
    grid value in turn, the PDs along the grid, and the largest step against the direction.

    The input is set in the model frame, so an engineered input moves alone (a contract input and the
    features computed from it are each checked on their own)."""
    domain, pd_of = model_frame_scorer(pipeline)
    model_frame = domain.transform(frame)
    findings = []
    for name, direction in directions.items():
        if name not in model_frame.columns:
            continue
        grid = ice_grid(model_frame[name], points)
        if len(grid) < 2:
            continue
        curves = np.column_stack([pd_of(model_frame.assign(**{name: np.full(len(model_frame), value)}))
                                  for value in grid])
        against = np.clip(-direction * np.diff(curves, axis=1), 0.0, None)
        worst_per_row = against.max(axis=1)
        findings.append(MonotonicityFinding(name, int(direction), int(len(model_frame)), grid,
                                            float(worst_per_row.max()),
                                            int((worst_per_row > tolerance).sum()), float(tolerance)))
    return findings
