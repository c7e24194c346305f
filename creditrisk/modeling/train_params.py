"""The `train` block of params.yaml, checked as it is read."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from creditrisk.modeling.bands import ThresholdPolicy
from creditrisk.modeling.candidates import CANDIDATES, ESTIMATORS_KEY, estimator_params
from creditrisk.data.contract import SPECS
from creditrisk.modeling.features import ENGINEERED
from creditrisk.modeling.metrics import METRIC_NAMES
from creditrisk.modeling.monotone import direction_problems
from creditrisk.params import ParamsBlock

Calibration = Literal["auto", "isotonic", "sigmoid", "none"]
CalibrationSource = Literal["auto", "oof", "recent"]
InTheLarge = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class TrainParams(ParamsBlock):
    """The `train` block of params.yaml."""

    BLOCK: ClassVar[str] = "train"
    version: str
    candidates: list[str]
    select_metric: str
    cv_folds: int
    forward_folds: int
    forward_min_train_share: float
    forward_gap_days: float
    prune_features: bool
    keep_features: list[str]
    prune_repeats: int
    seed: int
    threads: int
    comparison_rows: int | None
    scaler: Literal["quantile", "standard", "spline"]
    spline_knots: int
    calibration: Calibration
    calibration_source: CalibrationSource
    calibration_in_the_large: InTheLarge
    central_default_rate: float | None
    threshold_policy: ThresholdPolicy
    cost_ratio: float
    band_names: list[str]
    band_cut_points: list[float] | None
    band_quantiles: list[float]
    band_order_red: float
    merge_unordered_bands: bool
    monotone: bool
    monotonic: dict[str, int]
    monotone_tolerance: float
    reasons_top_k: int
    scorecard_points0: float
    scorecard_odds0: float
    scorecard_pdo: float
    estimators: dict[str, dict[str, Any]]
    model_path: str
    scorecard_path: str
    comparison_json: str
    comparison_csv: str

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, block in self.estimators.items():
            estimator_params(name, block)  # an unknown candidate or a broken block stops here

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not self.candidates or any(name not in self.estimators for name in self.candidates):
            found.append(("candidates", f"must be a non-empty list of candidates with a block under "
                                        f"{ESTIMATORS_KEY} (registered: {list(CANDIDATES)})"))
        if self.select_metric not in METRIC_NAMES:
            found.append(("select_metric", f"must be one of {list(METRIC_NAMES)}"))
        found += [(key, "must be >= 2") for key in ("cv_folds", "forward_folds")
                  if getattr(self, key) < 2]
        if not 0.0 < self.forward_min_train_share < 1.0:
            found.append(("forward_min_train_share", "must be in (0, 1)"))
        if self.forward_gap_days < 0:
            found.append(("forward_gap_days", "must be >= 0"))
        if self.prune_repeats < 1:
            found.append(("prune_repeats", "must be >= 1"))
        if self.comparison_rows is not None and self.comparison_rows < 1000:
            found.append(("comparison_rows", "must be null (every row) or >= 1000"))
        if self.central_default_rate is not None and not 0.0 < self.central_default_rate < 1.0:
            found.append(("central_default_rate", "must be null or in (0, 1)"))
        found += [("monotonic", problem) for problem in
                  direction_problems(self.monotonic, lambda name: name in ENGINEERED or name in SPECS)]
        if not 0 <= self.monotone_tolerance < 1:
            found.append(("monotone_tolerance", "must be in [0, 1) (a PD difference)"))
        unknown = [name for name in self.keep_features if name not in ENGINEERED]
        if unknown:
            found.append(("keep_features", f"names no engineered feature: {unknown}"))
        bands = len(self.band_cut_points) + 1 if self.band_cut_points is not None else len(self.band_quantiles) + 1
        if len(self.band_names) < bands:
            found.append(("band_names", f"names fewer than the {bands} bands the cut points or quantiles make"))
        edges_key = "band_cut_points" if self.band_cut_points is not None else "band_quantiles"
        edges = getattr(self, edges_key)
        if any(b <= a for a, b in zip(edges, edges[1:])) or not all(0 < e < 1 for e in edges):
            found.append((edges_key, "must be strictly increasing and inside (0, 1)"))
        if not 0 < self.band_order_red < 1:
            found.append(("band_order_red", "must be a p-value level in (0, 1)"))
        return found

    def with_estimator(self, name: str, **changes: Any) -> TrainParams:
        """These params with some settings of candidate `name` changed (tests and benchmarks shrink models)."""
        block = {**self.estimators[name], **changes}
        return dataclasses.replace(self, estimators={**self.estimators, name: block})
