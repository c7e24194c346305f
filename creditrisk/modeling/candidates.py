"""The model candidates: one registry entry per estimator the train stage can compare.

An entry names the candidate and holds the things the rest of the system needs from it:

* its params block, a frozen dataclass for `train.estimators.<name>` in params.yaml (every argument
  spelled out there, none defaulted here or by the estimator's own signature);
* its factory, which builds the unfitted estimator from that block and the train stage's seed;
* its trusted modules: where the types come from that its fitted estimator adds to a skops file
  beyond those skops trusts by default. `load_bundle` refuses any other type;
* its title, as the dashboard shows the model to a reader ("Gradient boosting").

Adding a candidate is one `Candidate` in `CANDIDATES` plus its block in params.yaml.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from creditrisk.params import ParamsError, ValidatedBlock, section

ESTIMATORS_KEY = "train.estimators"


class EstimatorParams(ValidatedBlock):
    """Base of a candidate's params block, validated like every block; it lives inside `train`
    (`train.estimators.<name>`), not at the top of params.yaml, so it is no `ParamsBlock`."""


@dataclass(frozen=True)
class LogisticParams(EstimatorParams):
    """sklearn LogisticRegression arguments."""

    BLOCK: ClassVar[str] = f"{ESTIMATORS_KEY}.logistic"
    C: float
    l1_ratio: float
    solver: str
    max_iter: int
    class_weight: str | None

    def problems(self) -> list[tuple[str, str]]:
        found = [("C", "must be > 0")] if self.C <= 0 else []
        if not 0 <= self.l1_ratio <= 1:
            found.append(("l1_ratio", "must be in [0, 1]"))
        return found + ([("max_iter", "must be >= 1")] if self.max_iter < 1 else [])


@dataclass(frozen=True)
class RandomForestParams(EstimatorParams):
    """sklearn RandomForestClassifier arguments."""

    BLOCK: ClassVar[str] = f"{ESTIMATORS_KEY}.random_forest"
    n_estimators: int
    max_depth: int | None
    min_samples_leaf: int
    max_features: float | int | str | None
    class_weight: str | None
    n_jobs: int

    def problems(self) -> list[tuple[str, str]]:
        return [(key, "must be >= 1") for key in ("n_estimators", "min_samples_leaf") if getattr(self, key) < 1]


@dataclass(frozen=True)
class HistGradientBoostingParams(EstimatorParams):
    """sklearn HistGradientBoostingClassifier arguments."""

    BLOCK: ClassVar[str] = f"{ESTIMATORS_KEY}.hist_gradient_boosting"
    class_weight: str | None
    max_iter: int
    learning_rate: float
    max_depth: int | None
    min_samples_leaf: int
    l2_regularization: float
    early_stopping: bool

    def problems(self) -> list[tuple[str, str]]:
        found = [("learning_rate", "must be > 0")] if self.learning_rate <= 0 else []
        return found + [(key, "must be >= 1") for key in ("max_iter", "min_samples_leaf") if getattr(self, key) < 1]


def _with_seed(estimator: type[ClassifierMixin]) -> Callable[[Any, int], ClassifierMixin]:
    """A factory passing every argument of the block, and the seed as `random_state`."""
    def build(block: Any, seed: int) -> ClassifierMixin:
        return estimator(random_state=seed, **dataclasses.asdict(block))
    return build


@dataclass(frozen=True)
class Candidate:
    """One model the train stage can compare: its params block, factory, trusted modules and a title for readers."""

    name: str
    params: type[EstimatorParams]
    factory: Callable[[Any, int], ClassifierMixin]
    trusted_modules: tuple[str, ...]
    title: str


CANDIDATES: dict[str, Candidate] = {
    candidate.name: candidate
    for candidate in (
        Candidate("logistic", LogisticParams, _with_seed(LogisticRegression), (), "Logistic regression"),
        Candidate("random_forest", RandomForestParams, _with_seed(RandomForestClassifier), ("sklearn.tree.",),
                  "Random forest"),
        Candidate("hist_gradient_boosting", HistGradientBoostingParams, _with_seed(HistGradientBoostingClassifier),
                  ("sklearn.ensemble._hist_gradient_boosting.",), "Gradient boosting"),
    )
}


def candidate(name: str) -> Candidate:
    if name not in CANDIDATES:
        raise ParamsError(f"params.yaml: {ESTIMATORS_KEY}.{name}: no such candidate; registered: {list(CANDIDATES)}")
    return CANDIDATES[name]


def estimator_params(name: str, block: Mapping[str, Any]) -> EstimatorParams:
    """The typed params block of candidate `name`; names `train.estimators.<name>.<key>` on a mistake."""
    cls = candidate(name).params
    return section({cls.BLOCK: block}, cls.BLOCK, cls)


def build_estimator(name: str, block: Mapping[str, Any], seed: int) -> ClassifierMixin:
    """The unfitted estimator of candidate `name` from its params block."""
    found = candidate(name)
    return found.factory(estimator_params(name, block), seed)


def trusted_modules() -> tuple[str, ...]:
    """Every registered candidate's trusted module prefixes."""
    return tuple(dict.fromkeys(prefix for entry in CANDIDATES.values() for prefix in entry.trusted_modules))
