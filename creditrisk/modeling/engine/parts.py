"""The fitted pipeline the train stage builds, taken apart into the pieces the engine reads.

    [CalibratedModel of] Pipeline(DomainFeatures, ColumnTransformer, estimator)

Any other structure (another preprocessing, a scikit-learn calibration wrapper, a candidate the engine does
not know) gives None, and the engine scores through the pipeline itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from creditrisk.modeling.calibration import CalibratedModel
from creditrisk.modeling.features import DomainFeatures, raw_inputs

Calibrate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ModelParts:
    """The fitted steps, and the calibrator's map from the estimator's P(default) to the PD (None when the
    pipeline is not calibrated)."""

    domain: DomainFeatures
    preprocess: ColumnTransformer
    estimator: Any
    calibrate: Calibrate | None

    @property
    def columns(self) -> list[str]:
        """The model frame's columns, in the order the preprocessor reads them."""
        return [str(name) for name in self.domain.get_feature_names_out()]


def model_parts(pipeline: Any, features: list[str]) -> ModelParts | None:
    """The parts of a fitted pipeline of the handled structure whose raw inputs are all among `features`
    (the bundle's contract columns), else None."""
    calibrate = None
    if isinstance(pipeline, CalibratedModel):
        pipeline, calibrate = pipeline.model, pipeline.calibrator.transform
    steps = [step for _, step in pipeline.steps] if isinstance(pipeline, Pipeline) else []
    if len(steps) != 3 or not isinstance(steps[0], DomainFeatures) or not isinstance(steps[1], ColumnTransformer):
        return None
    domain, preprocess, estimator = steps
    if not set(raw_inputs([*domain.numeric, *domain.categorical])) <= set(features):
        return None
    if list(getattr(estimator, "classes_", [])) != [0, 1]:
        return None
    return ModelParts(domain, preprocess, estimator, calibrate)
