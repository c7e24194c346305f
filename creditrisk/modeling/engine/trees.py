"""A fitted estimator as an additive raw score: a constant plus linear terms, or plus leaf values of trees.

`additive_form(estimator)` reads what the engine's tree lookup (`grid`) and attributions (`attribution`) need:

- linear models (LogisticRegression): `intercept_` and `coef_`; the raw score is the decision function;
- random forests (and extra trees): every tree's public `tree_` arrays; the raw score is P(default), the
  mean of the trees' leaf fractions;
- histogram gradient boosting: every iteration's tree; the raw score is the decision function (log-odds).
  scikit-learn documents no way to read these trees: the node records come from the fitted model's
  `_predictors` and `_baseline_prediction`, which are not public. This is the one module of the library
  that reads them; `check_form` re-computes the estimator's own raw score from what was read, and the
  engine uses the reading only where that check passed on its probe rows at load.

Any other estimator gives None. Each leaf is stored as its root-to-leaf path: per feature it tests, the
interval of values that stays on the path (`x <= threshold` goes left) and whether a missing value does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class LeafPaths:
    """All leaves of a tree ensemble, each as the box its path allows, one step per feature it tests.

    A leaf's path tests feature `feature[l, k]` and lets through values in (lower, upper] (repeated tests of
    one feature on a path merge into one interval), and missing values when `missing_follows`. Leaves are
    padded to the most features any path tests; `valid` marks the real steps.
    """

    feature: np.ndarray          # (leaves, steps) int
    lower: np.ndarray            # (leaves, steps) float, exclusive
    upper: np.ndarray            # (leaves, steps) float, inclusive
    missing_follows: np.ndarray  # (leaves, steps) bool
    valid: np.ndarray            # (leaves, steps) bool
    value: np.ndarray            # (leaves,) the leaf's share of the raw score
    tree: np.ndarray             # (leaves,) int, the tree the leaf belongs to

    def subset(self, keep: np.ndarray) -> LeafPaths:
        """The leaves where `keep` (a boolean mask over leaves) holds."""
        return LeafPaths(self.feature[keep], self.lower[keep], self.upper[keep], self.missing_follows[keep],
                         self.valid[keep], self.value[keep], self.tree[keep])


@dataclass(frozen=True)
class AdditiveForm:
    """raw score(z) = constant + coefficients @ z (linear) or + the values of the leaves z reaches (trees)."""

    kind: str  # "linear" | "trees"
    constant: float
    coefficients: np.ndarray | None = None
    leaves: LeafPaths | None = None
    score_is_probability: bool = False

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype="float64")
        if self.kind == "linear":
            assert self.coefficients is not None
            return self.constant + matrix @ self.coefficients
        assert self.leaves is not None
        return self.constant + leaf_value_sums(self.leaves, matrix)


def follows(leaves: LeafPaths, values: np.ndarray) -> np.ndarray:
    """Per leaf and step (and row, when `values` has a leading row axis): the value stays on the path.

    Padding steps count as followed."""
    inside = (values > leaves.lower) & (values <= leaves.upper)
    if np.isnan(values).any():
        inside |= np.isnan(values) & leaves.missing_follows
    return inside | ~leaves.valid


def reaches(leaves: LeafPaths, matrix: np.ndarray) -> np.ndarray:
    """(rows, leaves, steps): the row follows the leaf's path at this step."""
    return follows(leaves, matrix[:, leaves.feature])


LEAF_SUM_CHUNK_ROWS = 2048  # rows per block of `leaf_value_sums`: bounds its memory at rows x leaves x steps


def leaf_value_sums(leaves: LeafPaths, matrix: np.ndarray) -> np.ndarray:
    """Per row, the sum of the values of the leaves it reaches."""
    sums = np.zeros(len(matrix))
    for start in range(0, len(matrix), LEAF_SUM_CHUNK_ROWS):
        reached = reaches(leaves, matrix[start:start + LEAF_SUM_CHUNK_ROWS]).all(axis=2)
        sums[start:start + len(reached)] = reached.astype("float64") @ leaves.value
    return sums


def _paths(left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray) -> list[tuple[int, list[tuple[int, bool]]]]:
    """(leaf node, [(internal node, goes left), ...]) for every leaf, root first."""
    found: list[tuple[int, list[tuple[int, bool]]]] = []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if is_leaf[node]:
            found.append((node, path))
            continue
        stack.append((int(right[node]), [*path, (node, False)]))
        stack.append((int(left[node]), [*path, (node, True)]))
    return found


def _pad(rows: list[list[Any]], width: int, fill: Any, dtype: str) -> np.ndarray:
    return np.array([row + [fill] * (width - len(row)) for row in rows], dtype=dtype)


def _leaf_box(tree: dict[str, np.ndarray], path: list[tuple[int, bool]]) -> dict[int, list[Any]]:
    """feature -> [lower, upper, missing follows] for one root-to-leaf path."""
    box: dict[int, list[Any]] = {}
    for node, went_left in path:
        feature, threshold = int(tree["feature"][node]), float(tree["threshold"][node])
        interval = box.setdefault(feature, [-np.inf, np.inf, True])
        if went_left:
            interval[1] = min(interval[1], threshold)
        else:
            interval[0] = max(interval[0], threshold)
        interval[2] = interval[2] and bool(tree["missing_left"][node]) == went_left
    return box


def _leaf_paths(trees: list[dict[str, np.ndarray]], weight: float) -> LeafPaths:
    boxes, values, owners = [], [], []
    for number, tree in enumerate(trees):
        for leaf, path in _paths(tree["left"], tree["right"], tree["is_leaf"]):
            boxes.append(_leaf_box(tree, path))
            values.append(float(tree["value"][leaf]) * weight)
            owners.append(number)
    steps = max((len(box) for box in boxes), default=0)
    return LeafPaths(
        feature=_pad([list(box) for box in boxes], steps, 0, "int64"),
        lower=_pad([[interval[0] for interval in box.values()] for box in boxes], steps, -np.inf, "float64"),
        upper=_pad([[interval[1] for interval in box.values()] for box in boxes], steps, np.inf, "float64"),
        missing_follows=_pad([[interval[2] for interval in box.values()] for box in boxes], steps, True, "bool"),
        valid=_pad([[True] * len(box) for box in boxes], steps, False, "bool"),
        value=np.array(values, dtype="float64"),
        tree=np.array(owners, dtype="int64"),
    )


def _forest_trees(forest: RandomForestClassifier | ExtraTreesClassifier) -> list[dict[str, np.ndarray]]:
    trees = []
    for member in forest.estimators_:
        tree = member.tree_
        fractions = tree.value[:, 0, :] / tree.value[:, 0, :].sum(axis=1, keepdims=True)
        trees.append({"left": tree.children_left, "right": tree.children_right,
                      "is_leaf": tree.children_left == -1, "feature": tree.feature, "threshold": tree.threshold,
                      "missing_left": tree.missing_go_to_left.astype(bool), "value": fractions[:, 1]})
    return trees


def _boosting_trees(model: HistGradientBoostingClassifier) -> list[dict[str, np.ndarray]] | None:
    predictors = getattr(model, "_predictors", None)
    if not predictors or any(len(per_class) != 1 for per_class in predictors):
        return None
    trees = []
    for (predictor,) in predictors:
        nodes = predictor.nodes
        if nodes["is_categorical"].any():
            return None
        trees.append({"left": nodes["left"], "right": nodes["right"], "is_leaf": nodes["is_leaf"].astype(bool),
                      "feature": nodes["feature_idx"], "threshold": nodes["num_threshold"],
                      "missing_left": nodes["missing_go_to_left"].astype(bool), "value": nodes["value"]})
    return trees


def additive_form(estimator: Any) -> AdditiveForm | None:
    """The estimator's raw score as an `AdditiveForm`, or None for a kind this module does not read."""
    if isinstance(estimator, LogisticRegression) and estimator.coef_.shape[0] == 1:
        return AdditiveForm("linear", float(estimator.intercept_[0]), coefficients=estimator.coef_[0].astype(float))
    if isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier) and len(estimator.classes_) == 2:
        trees = _forest_trees(estimator)
        return AdditiveForm("trees", 0.0, leaves=_leaf_paths(trees, 1.0 / len(trees)), score_is_probability=True)
    if isinstance(estimator, HistGradientBoostingClassifier) and len(estimator.classes_) == 2:
        trees = _boosting_trees(estimator)
        baseline = np.asarray(getattr(estimator, "_baseline_prediction", np.nan), dtype=float).ravel()
        if trees is None or baseline.size != 1:
            return None
        return AdditiveForm("trees", float(baseline[0]), leaves=_leaf_paths(trees, 1.0))
    return None


def estimator_raw_score(estimator: Any, matrix: np.ndarray, form: AdditiveForm) -> np.ndarray:
    """What the estimator itself gives as the raw score `form` stands for."""
    if form.score_is_probability:
        return estimator.predict_proba(matrix)[:, 1]
    return np.asarray(estimator.decision_function(matrix), dtype="float64").ravel()


def check_form(estimator: Any, form: AdditiveForm, matrix: np.ndarray, tolerance: float = 1e-8) -> bool:
    """True when `form` gives the estimator's own raw score on every row of `matrix`: to `tolerance`, or to
    1e-12 relative where the probe rows' huge numbers make raw scores of 1e8 (one rounding there is 1e-8, and
    an estimator that sums a row in another order than a matrix product differs by it)."""
    mine = form.raw_score(matrix)
    theirs = estimator_raw_score(estimator, matrix, form)
    return bool(np.allclose(mine, theirs, rtol=1e-12, atol=tolerance))
