"""The model candidates: one registry entry per estimator the train stage can compare.

An entry names the candidate and holds the things the rest of the system needs from it:

* its params block, a frozen dataclass for `train.estimators.<name>` in params.yaml (every argument
  spelled out there, none defaulted here or by the estimator's own signature);
* its factory, which builds the unfitted estimator from that block and the train stage's seed;
* its trusted modules: where the types come from that its fitted estimator adds to a skops file
  beyond those skops trusts by default. `load_bundle` refuses any other type;
* its title, as the dashboard shows the model to a reader ("Gradient boosting");
* its forms: fitted under the monotone constraints (`train.monotonic`, see `monotone`), without them, or
  both (forward CV then compares the two); its factory takes the constraints (a `MonotoneSpec`) or None;
* whether it reads the model frame itself (the scorecard bins raw values) instead of the preprocessor's output;
* the calibrations it allows (the scorecard only those linear on the logit, so its points stay additive).

Adding a candidate is one `Candidate` in `CANDIDATES` plus its block in params.yaml.

Constraints reach an estimator as `monotonic_cst` over its LEADING columns: the preprocessor puts the numeric
block first, one increasing column per number, but how many one-hot columns follow is known only once the
encoder is fitted. `LeadingConstraints` pads the directions with zeros to the width it is fitted on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from creditrisk.modeling.monotone import MonotoneSpec, padded
from creditrisk.modeling.woe import WoeBinning
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


@dataclass(frozen=True)
class ScorecardParams(EstimatorParams):
    """optbinning BinningProcess arguments, then the logistic regression on the bins' weights of evidence."""

    BLOCK: ClassVar[str] = f"{ESTIMATORS_KEY}.scorecard"
    max_n_bins: int
    min_bin_size: float
    min_iv: float
    special_codes: dict[str, list[float]]
    C: float
    max_iter: int

    def problems(self) -> list[tuple[str, str]]:
        found = [("max_n_bins", "must be >= 2")] if self.max_n_bins < 2 else []
        if not 0 < self.min_bin_size < 0.5:
            found.append(("min_bin_size", "must be in (0, 0.5)"))
        if self.min_iv < 0:
            found.append(("min_iv", "must be >= 0"))
        return found + ([("C", "must be > 0")] if self.C <= 0 else [])


class LeadingConstraints:
    """A tree ensemble whose `monotonic_cst` gives the directions of its leading input columns only (the
    preprocessor's numeric block); the columns after them (one-hot levels) are free. The directions are padded
    to the fitted width for the fit and restored after it, so `get_params` and `clone` see what was given."""

    monotonic_cst: Any

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:  # noqa: N803 (scikit-learn's name)
        leading = self.monotonic_cst
        if leading is None:
            return super().fit(X, y, sample_weight=sample_weight)  # type: ignore[misc]
        self.monotonic_cst = padded(leading, np.shape(X)[1])
        try:
            return super().fit(X, y, sample_weight=sample_weight)  # type: ignore[misc]
        finally:
            self.monotonic_cst = leading


class MonotoneHistGradientBoosting(LeadingConstraints, HistGradientBoostingClassifier):
    """HistGradientBoostingClassifier under monotone constraints on its leading columns (an ordinary boosting
    to every reader of its trees)."""


class MonotoneRandomForest(LeadingConstraints, RandomForestClassifier):
    """RandomForestClassifier under monotone constraints on its leading columns."""


class SignConstrainedLogistic(LogisticRegression):
    """Logistic regression whose coefficients keep the signs `monotonic_cst` gives its leading columns.

    An active-set fit: an input whose coefficient comes out against its direction is left out (its column set
    to zero, so every penalty keeps its coefficient at zero) and the model refitted, until every sign agrees.
    The coefficients are then a solution of the penalised likelihood with those inputs held at zero; a sign
    constraint is a bound, and the inputs it binds are the ones at zero (`left_out_`).
    """

    def __init__(self, *, C: float = 1.0, l1_ratio: float = 0.0, solver: str = "lbfgs",  # noqa: N803
                 max_iter: int = 100, class_weight: Any = None, random_state: Any = None,
                 monotonic_cst: Any = None) -> None:
        super().__init__(C=C, l1_ratio=l1_ratio, solver=solver, max_iter=max_iter, class_weight=class_weight,
                         random_state=random_state)
        self.monotonic_cst = monotonic_cst

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SignConstrainedLogistic:  # noqa: N803
        matrix = np.asarray(X, dtype="float64")
        directions = padded(self.monotonic_cst, matrix.shape[1])
        left_out = np.zeros(matrix.shape[1], dtype=bool)
        for _ in range(matrix.shape[1] + 1):
            super().fit(np.where(left_out, 0.0, matrix), y, sample_weight=sample_weight)
            self.coef_[0, left_out] = 0.0
            against = directions * np.sign(self.coef_[0]) < 0
            if not against.any():
                break
            left_out |= against
        self.left_out_ = np.flatnonzero(left_out)
        return self

    def decision_function(self, X: Any) -> np.ndarray:  # noqa: N803
        """The log-odds, summed row by row in one order: identical applicants get identical PDs wherever they
        sit in a batch (a BLAS matrix product rounds the rows at a block's tail in another order)."""
        matrix = np.asarray(X, dtype="float64")
        if matrix.ndim != 2 or matrix.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"X has {matrix.shape[-1]} features, but {type(self).__name__} is expecting "
                             f"{self.coef_.shape[1]} features as input")
        return (matrix * self.coef_[0]).sum(axis=1) + self.intercept_[0]


def _with_seed(estimator: type[ClassifierMixin],
               constrained: type[ClassifierMixin] | None = None) -> Callable[[Any, int, MonotoneSpec | None], Any]:
    """A factory passing every argument of the block and the seed as `random_state`; with a spec, the
    constrained class and the spec's leading directions."""
    def build(block: Any, seed: int, monotone: MonotoneSpec | None) -> Any:
        if monotone is None or constrained is None:
            return estimator(random_state=seed, **dataclasses.asdict(block))
        return constrained(random_state=seed, monotonic_cst=monotone.leading, **dataclasses.asdict(block))
    return build


def _scorecard(block: ScorecardParams, seed: int, monotone: MonotoneSpec | None) -> Pipeline:
    """Monotone weight-of-evidence bins of every characteristic, then a logistic regression whose
    coefficients keep the bins' order (a higher WoE is a lower PD: every coefficient <= 0)."""
    directions = dict(monotone.directions) if monotone is not None else {}
    binning = WoeBinning(directions=directions, max_n_bins=block.max_n_bins, min_bin_size=block.min_bin_size,
                         min_iv=block.min_iv, special_codes={name: list(codes) for name, codes in
                                                             block.special_codes.items()})
    model = SignConstrainedLogistic(C=block.C, l1_ratio=0.0, solver="lbfgs", max_iter=block.max_iter,
                                    random_state=seed, monotonic_cst=binning.woe_directions)
    return Pipeline([("binning", binning), ("model", model)])


@dataclass(frozen=True)
class Candidate:
    """One model the train stage can compare: its params block, factory, trusted modules, a title for readers,
    and how it takes constraints, inputs and calibration (see the module docstring)."""

    name: str
    params: type[EstimatorParams]
    factory: Callable[[Any, int, MonotoneSpec | None], Any]
    trusted_modules: tuple[str, ...]
    title: str
    forms: tuple[bool, ...] = (False,)    # constrained (True) and/or not: two forms are both cross-validated
    reads_model_frame: bool = False       # its factory's steps read the model frame (no preprocessor)
    calibrations: tuple[str, ...] | None = None  # the calibration methods it allows (None: every one)

    def constrained(self, wanted: bool) -> bool:
        """Whether it is fitted under the directions when `wanted` (`train.monotone`, or a form forward CV
        asks for): only if it has a constrained form, and always if that is its only one."""
        return (wanted and True in self.forms) or self.forms == (True,)


SCORECARD = "scorecard"
CANDIDATES: dict[str, Candidate] = {
    candidate.name: candidate
    for candidate in (
        Candidate("logistic", LogisticParams, _with_seed(LogisticRegression, SignConstrainedLogistic), (),
                  "Logistic regression", forms=(True, False)),
        Candidate("random_forest", RandomForestParams, _with_seed(RandomForestClassifier, MonotoneRandomForest),
                  ("sklearn.tree.",), "Random forest", forms=(True, False)),
        Candidate("hist_gradient_boosting", HistGradientBoostingParams,
                  _with_seed(HistGradientBoostingClassifier, MonotoneHistGradientBoosting),
                  ("sklearn.ensemble._hist_gradient_boosting.",), "Gradient boosting", forms=(True, False)),
        Candidate(SCORECARD, ScorecardParams, _scorecard, (), "Points scorecard", forms=(True,),
                  reads_model_frame=True, calibrations=("none", "sigmoid")),
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


def build_estimator(name: str, block: Mapping[str, Any], seed: int, monotone: MonotoneSpec | None = None) -> Any:
    """The unfitted estimator of candidate `name` from its params block, under `monotone`'s constraints if
    given (a candidate that reads the model frame gets them whatever; without a spec, it constrains nothing)."""
    found = candidate(name)
    return found.factory(estimator_params(name, block), seed, monotone)


def trusted_modules() -> tuple[str, ...]:
    """Every registered candidate's trusted module prefixes."""
    return tuple(dict.fromkeys(prefix for entry in CANDIDATES.values() for prefix in entry.trusted_modules))
