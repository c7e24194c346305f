"""The estimator and calibrator on the estimator's input matrix: P(default) without sklearn's per-call cost.

A gradient boosting's raw score comes from lookup tables of its trees (`grid.TreeValues`, one lookup per
table instead of a walk per tree) when its trees could be read (`trees.additive_form`); a random forest's
trees are called one by one, skipping the forest's per-call dispatch; any other estimator is called as the
pipeline calls it. The calibrator is the project's own (`modeling.calibration`), applied as
`CalibratedModel` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier

from creditrisk.modeling.engine.grid import tree_values, TreeValues
from creditrisk.modeling.engine.parts import Calibrate, ModelParts
from creditrisk.modeling.engine.trees import AdditiveForm


@dataclass(frozen=True)
class CompiledScorer:
    """The fitted estimator's P(default) and the calibrated PD, from the estimator's input matrix."""

    estimator: Any
    calibrate: Calibrate | None
    trees: TreeValues | None = None  # a gradient boosting's raw score as lookup tables

    def response(self, matrix: np.ndarray) -> np.ndarray:
        """The estimator's P(default), before calibration."""
        if self.trees is not None:  # gradient boosting: its raw score (log-odds) by lookup
            return expit(self.trees.raw_score(matrix))
        if isinstance(self.estimator, RandomForestClassifier | ExtraTreesClassifier) and self.estimator.n_outputs_ == 1:
            return _forest_probability(self.estimator, matrix)[:, 1]
        return self.estimator.predict_proba(matrix)[:, 1]

    def pd(self, matrix: np.ndarray) -> np.ndarray:
        """The served PD: the calibrated response, clipped to [0, 1] as `ModelBundle.predict_pd` clips it."""
        response = self.response(matrix)
        return np.clip(response if self.calibrate is None else self.calibrate(response), 0.0, 1.0)


def _forest_probability(forest: RandomForestClassifier | ExtraTreesClassifier, matrix: np.ndarray) -> np.ndarray:
    """The forest's predict_proba without its per-call dispatch (most of its cost on a few rows):
    each tree on the rows as float32 (what the check would make of them), summed in the forest's
    order and averaged, as sklearn does with one job. A tree's documented `check_input=False` skips
    a check that costs ~70 µs per tree and call, ten times the prediction."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    total = np.zeros((len(rows), forest.n_classes_))
    for tree in forest.estimators_:
        total += tree.predict_proba(rows, check_input=False)
    total /= len(forest.estimators_)
    return total


def compile_scorer(parts: ModelParts, form: AdditiveForm | None) -> CompiledScorer:
    """The scorer of the parts' estimator; a gradient boosting read as trees (`form`) scores by lookup."""
    trees = None
    if isinstance(parts.estimator, HistGradientBoostingClassifier) and form is not None \
            and form.leaves is not None and not form.score_is_probability:
        trees = tree_values(form, int(parts.estimator.n_features_in_))
    return CompiledScorer(parts.estimator, parts.calibrate, trees)
