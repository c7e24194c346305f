"""The fitted model's arithmetic on numpy arrays: the same PDs, without sklearn's per-call cost.

sklearn's ColumnTransformer, forest and calibration wrapper spend several milliseconds per call on
pandas handling, input checks and job dispatch, whatever the number of rows; the API pays that on
every one-row request (benchmarks/api_bench.py measures both ways). For the pipelines the train stage
builds,

    DomainFeatures -> [CalibratedClassifierCV of] Pipeline(
        ColumnTransformer(numeric: SimpleImputer -> encoder, categorical: OneHotEncoder),
        estimator)

or that whole pipeline inside a `modeling.calibration.CalibratedModel` (its calibrator applied to the
estimator's P(default) through its own `transform`),

`FastPredictor` runs the pipeline's own first step (`DomainFeatures.transform`, the model frame),
imputes and one-hot encodes from the fitted attributes, then calls the fitted encoder, estimator and
calibrators on those arrays as the pipeline calls them (a random forest's trees one by one, skipping
the forest's per-call dispatch; a gradient boosting's raw score from lookup tables of its trees,
`modeling.tree_grid`, one lookup per table instead of a walk per tree). Any other structure is not
handled (`build` returns None).

It reads the contract frame that `bundle.predict_pd` reads, and nothing outside this package knows it
exists: `scoring.BatchScorer` uses it only after `matches_pipeline` found it equal to the pipeline on
probe rows made from the model's own categories, so the pipeline stays the reference.

scikit-learn API it relies on: documented fitted attributes (`Pipeline.steps`,
`ColumnTransformer.transformers_`, `SimpleImputer.statistics_`, `OneHotEncoder.categories_`,
`infrequent_categories_`, `drop_idx_`, a forest's `estimators_`, `CalibratedClassifierCV.calibrated_classifiers_`)
and documented methods, with the documented `check_input=False` of a single tree's `predict_proba`
(the check costs ~70 µs per tree and call, ten times the prediction). Not documented: the fields of the
"classifier and calibrator pairs" in `calibrated_classifiers_` (`estimator`, `calibrators`, `method` of
sklearn's private `_CalibratedClassifier`) and `predict` of the private `_SigmoidCalibration`. No public
call reaches a calibrated model's fitted estimator; if a scikit-learn release changes them, `build`
returns None or the check at load fails, and the API scores through the pipeline. A `CalibratedModel`
needs neither: its parts are the project's own, public attributes. The boosting's trees are read as
`modeling.tree_paths` reads them for the reasons (not public either), under the same check at load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from scipy.special import expit
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from creditrisk.data.contract import DATE, MISSING_CATEGORY
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.calibration import CalibratedModel
from creditrisk.modeling.features import raw_inputs, DomainFeatures
from creditrisk.modeling.tree_grid import tree_values, TreeValues
from creditrisk.modeling.tree_paths import additive_form


_LOOKUP_ROWS = 64  # up to this many rows a dict lookup per row beats factorizing the column


@dataclass(frozen=True)
class _OneHot:
    """One-hot columns of one categorical feature: category text -> output column."""

    feature: str
    columns: dict[str, int]
    width: int
    unknown: int | None  # where an unseen category goes (None: nowhere, all zeros)

    def _column(self, text: object) -> int:
        found = self.columns.get(text if isinstance(text, str) else MISSING_CATEGORY, self.unknown)
        return -1 if found is None else found

    def encode(self, values: pd.Series, out: np.ndarray) -> None:
        """Set the ones in `out` (rows x width) for the model frame's category column `values`:
        a few rows looked up one by one, more through their distinct values."""
        if len(values) <= _LOOKUP_ROWS:
            columns = np.array([self._column(text) for text in values.to_numpy()], dtype=np.int64)
        else:
            codes, uniques = pd.factorize(values)
            targets = [self._column(text) for text in uniques]
            targets.append(self._column(MISSING_CATEGORY))  # code -1: a missing value
            columns = np.array(targets, dtype=np.int64)[codes]
        rows = np.flatnonzero(columns >= 0)
        out[rows, columns[rows]] = 1.0


def _one_hot(encoder: OneHotEncoder, features: Sequence[str]) -> list[_OneHot] | None:
    """The encoder's output layout, from its fitted attributes (frequent categories in
    `categories_` order, then one column for the infrequent ones, if any)."""
    if (encoder.drop_idx_ is not None or encoder.sparse_output or encoder.dtype not in (np.float64, float)
            or encoder.handle_unknown not in ("ignore", "infrequent_if_exist")):
        return None
    infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(encoder.categories_)
    blocks = []
    for feature, categories, rare in zip(features, encoder.categories_, infrequent, strict=True):
        if not all(isinstance(category, str) for category in categories):
            return None
        rare_set = set(rare) if rare is not None else set()
        frequent = [category for category in categories if category not in rare_set]
        columns = {category: position for position, category in enumerate(frequent)}
        columns.update({category: len(frequent) for category in rare_set})
        unknown = len(frequent) if rare_set and encoder.handle_unknown == "infrequent_if_exist" else None
        blocks.append(_OneHot(feature, columns, len(frequent) + (1 if rare_set else 0), unknown))
    return blocks


Step = Callable[[np.ndarray], np.ndarray]


def _standardize(scaler: StandardScaler) -> Step:
    """A fitted StandardScaler's arithmetic from its documented `mean_` and `scale_`, in its order
    (its `transform` spends most of a small batch's time checking the input)."""
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def standardize(values: np.ndarray) -> np.ndarray:
        if mean is not None:
            values = values - mean
        if scale is not None:
            values = values / scale
        return values
    return standardize


def _step(fitted: Any) -> Step:
    return _standardize(fitted) if type(fitted) is StandardScaler else fitted.transform


@dataclass(frozen=True)
class _NumericBlock:
    """Median (or other statistic) imputation from the fitted imputer, then the fitted encoder steps."""

    features: list[str]
    fill: np.ndarray
    steps: list[Step]

    def transform(self, model_frame: pd.DataFrame) -> np.ndarray:
        values = model_frame.reindex(columns=self.features).to_numpy(dtype="float64")  # one call for all
        values = np.where(np.isnan(values), self.fill, values)
        for step in self.steps:
            values = step(values)
        return values


def _numeric_block(transformer: Any, features: Sequence[str]) -> _NumericBlock | None:
    if not isinstance(transformer, Pipeline) or not isinstance(transformer.steps[0][1], SimpleImputer):
        return None
    imputer = transformer.steps[0][1]
    fill = np.asarray(imputer.statistics_, dtype="float64")
    missing_marker = imputer.missing_values
    nan_marker = isinstance(missing_marker, float) and np.isnan(missing_marker)
    if imputer.add_indicator or not nan_marker or np.isnan(fill).any():
        return None
    return _NumericBlock(list(features), fill, [_step(step) for _, step in transformer.steps[1:]])


@dataclass(frozen=True)
class _Preprocess:
    """A fitted ColumnTransformer as numeric blocks and one-hot blocks, in its output order."""

    blocks: list[_NumericBlock | list[_OneHot]]

    def transform(self, model_frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for block in self.blocks:
            if isinstance(block, _NumericBlock):
                parts.append(block.transform(model_frame))
                continue
            for encoding in block:
                out = np.zeros((len(model_frame), encoding.width))
                encoding.encode(model_frame[encoding.feature], out)
                parts.append(out)
        return np.hstack(parts)


def _preprocess(transformer: Any) -> _Preprocess | None:
    if not isinstance(transformer, ColumnTransformer) or transformer.sparse_output_:
        return None
    blocks: list[_NumericBlock | list[_OneHot]] = []
    for name, fitted, features in transformer.transformers_:
        if isinstance(fitted, str) and fitted == "drop":
            continue
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            return None
        if not features:
            continue
        block = _one_hot(fitted, features) if isinstance(fitted, OneHotEncoder) else _numeric_block(fitted, features)
        if block is None or name == "remainder":
            return None
        blocks.append(block)
    return _Preprocess(blocks)


Calibrate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _Scorer:
    """One fitted (preprocess, estimator) pair and, when calibrated, the map from its response to a PD."""

    preprocess: _Preprocess
    estimator: Any
    calibrate: Calibrate | None
    decision: bool  # the calibration reads the decision function (CalibratedClassifierCV's choice)
    trees: TreeValues | None = None  # a gradient boosting's raw score as lookup tables

    def response(self, model_frame: pd.DataFrame) -> np.ndarray:
        """What the calibration reads, or the estimator's P(default) when there is none."""
        return _response(self.estimator, self.preprocess.transform(model_frame), self.decision, self.trees)

    def probability(self, model_frame: pd.DataFrame) -> np.ndarray:
        response = self.response(model_frame)
        return response if self.calibrate is None else self.calibrate(response)


def _pair_calibration(calibrator: Any) -> Calibrate:
    """A CalibratedClassifierCV pair's calibrator, as the pair applies it."""
    def calibrate(response: np.ndarray) -> np.ndarray:
        probability = calibrator.predict(response)
        probability[(1.0 < probability) & (probability <= 1.0 + 1e-5)] = 1.0
        return probability
    return calibrate


def _response(estimator: Any, matrix: Any, decision: bool, trees: TreeValues | None = None) -> np.ndarray:
    if trees is not None:  # gradient boosting: its raw score (log-odds) by lookup
        raw = trees.raw_score(matrix)
        return raw if decision else expit(raw)
    if decision and hasattr(estimator, "decision_function"):
        return estimator.decision_function(matrix)
    if isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier) and estimator.n_outputs_ == 1:
        return _forest_probability(estimator, matrix)[:, 1]
    return estimator.predict_proba(matrix)[:, 1]


def _forest_probability(forest: RandomForestClassifier | ExtraTreesClassifier, matrix: np.ndarray) -> np.ndarray:
    """The forest's predict_proba without its per-call dispatch (most of its cost on a few rows):
    each tree on the rows as float32 (what the check would make of them), summed in the forest's
    order and averaged, as sklearn does with one job."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    total = np.zeros((len(rows), forest.n_classes_))
    for tree in forest.estimators_:
        total += tree.predict_proba(rows, check_input=False)
    total /= len(forest.estimators_)
    return total


def _scorer(pipeline: Any, calibrate: Calibrate | None, decision: bool) -> _Scorer | None:
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    preprocess = _preprocess(pipeline.steps[0][1])
    estimator = pipeline.steps[1][1]
    if preprocess is None or list(getattr(estimator, "classes_", [])) != [0, 1]:
        return None
    return _Scorer(preprocess, estimator, calibrate, decision, _boosting_values(estimator))


def _boosting_values(estimator: Any) -> TreeValues | None:
    """A gradient boosting's trees as lookup tables (see `modeling.tree_grid`), else None."""
    if not isinstance(estimator, HistGradientBoostingClassifier):
        return None
    form = additive_form(estimator)
    if form is None or form.score_is_probability:
        return None
    return tree_values(form, int(estimator.n_features_in_))


def _calibrated_scorers(calibrated: CalibratedClassifierCV) -> list[_Scorer] | None:
    """One scorer per (estimator, calibrator) pair; see the module docstring on their fields."""
    scorers = []
    for pair in calibrated.calibrated_classifiers_:
        calibrators = getattr(pair, "calibrators", ())
        if getattr(pair, "method", None) not in ("sigmoid", "isotonic") or len(calibrators) != 1:
            return None
        scorer = _scorer(getattr(pair, "estimator", None), _pair_calibration(calibrators[0]), decision=True)
        if scorer is None:
            return None
        scorers.append(scorer)
    return scorers


def _uncalibrated(pipeline: Any) -> tuple[Any, Calibrate | None]:
    """The pipeline inside a `CalibratedModel` (the train stage's time-respecting calibration) and its
    calibrator's map from P(default) to the calibrated PD; any other pipeline as it is, without one."""
    if isinstance(pipeline, CalibratedModel):
        return pipeline.model, pipeline.calibrator.transform
    return pipeline, None


def _pairs_estimators(calibrated: CalibratedClassifierCV) -> list[Any]:
    return [getattr(pair, "estimator", None) for pair in calibrated.calibrated_classifiers_]


@dataclass(frozen=True)
class FastPredictor:
    """`bundle.predict_pd` for the pipelines the train stage builds, on numpy arrays."""

    domain: DomainFeatures
    scorers: list[_Scorer]

    @classmethod
    def build(cls, bundle: ModelBundle) -> FastPredictor | None:
        """The predictor for this bundle's pipeline, or None when its structure is not handled."""
        pipeline, calibrate = _uncalibrated(bundle.pipeline)
        steps = getattr(pipeline, "steps", None)
        if not steps or not isinstance(steps[0][1], DomainFeatures):
            return None
        domain = steps[0][1]
        if not set(raw_inputs([*domain.numeric, *domain.categorical])) <= set(bundle.features):
            return None
        rest = [step for _, step in steps[1:]]
        if len(rest) == 1 and isinstance(rest[0], CalibratedClassifierCV) and calibrate is None:
            scorers = _calibrated_scorers(rest[0])
        else:
            scorer = _scorer(Pipeline([(f"step{i}", step) for i, step in enumerate(rest)]), calibrate, decision=False)
            scorers = None if scorer is None else [scorer]
        return None if not scorers else cls(domain, scorers)

    def encoder(self) -> Callable[[pd.DataFrame], np.ndarray] | None:
        """model frame -> the estimator's input on numpy arrays, when one estimator scores (else None)."""
        return self.scorers[0].preprocess.transform if len(self.scorers) == 1 else None

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        """P(default) per row of a frame of contract columns, as `bundle.predict_pd(frame)` gives it."""
        return self.pd_of_model_frame(self.domain.transform(frame))

    def pd_of_model_frame(self, model_frame: pd.DataFrame) -> np.ndarray:
        """`predict_pd` from the rows' model frame (`domain.transform` of the contract frame)."""
        total = np.zeros(len(model_frame))
        for scorer in self.scorers:
            total += scorer.probability(model_frame)
        total /= len(self.scorers)
        return np.clip(total, 0.0, 1.0)


def probe_frame(bundle: ModelBundle, rows: int = 48) -> pd.DataFrame:
    """Rows that exercise every input of the model: each category the encoders know, an
    unseen one, blanks and padded text, missing values, zeros, negative, small and large
    numbers, dates on every weekday and in every month."""
    known: dict[str, list[str]] = {}
    for encoder, features in _encoders(bundle.pipeline):
        for feature, categories in zip(features, encoder.categories_, strict=True):
            known.setdefault(feature, []).extend(str(category) for category in categories)
    numbers = [np.nan, 0.0, 1.0, 2.5, 7.0, 12.0, 36.0, 123.456, 800.0, 5_000.0, 250_000.0, 3_000_000.0,
               1e9, -3.0, 0.004]
    moments = pd.date_range("2024-01-01 09:30", periods=rows, freq="7D17h").to_series(index=range(rows))
    moments.iloc[::11] = pd.NaT
    columns: dict[str, Any] = {}
    for position, name in enumerate(bundle.features):
        if name == DATE:
            columns[name] = moments.to_numpy()
        elif name in known:
            values = [*dict.fromkeys(known[name]), "never seen", None, "", " padded "]
            values = [value if value != MISSING_CATEGORY else None for value in values]
            columns[name] = pd.array([values[(i + position) % len(values)] for i in range(rows)], dtype="string")
        else:
            columns[name] = np.array([numbers[(7 * i + position) % len(numbers)] for i in range(rows)])
    return pd.DataFrame(columns)


def _encoders(pipeline: Any) -> list[tuple[OneHotEncoder, list[str]]]:
    """Every fitted OneHotEncoder in the pipeline, with the model columns it encodes."""
    found = []
    transformers = []
    for _, step in getattr(_uncalibrated(pipeline)[0], "steps", []):
        if isinstance(step, CalibratedClassifierCV):
            transformers += [estimator.steps[0][1] for estimator in _pairs_estimators(step)]
        elif isinstance(step, ColumnTransformer):
            transformers.append(step)
    for transformer in transformers:
        if isinstance(transformer, ColumnTransformer):
            found += [(fitted, list(features)) for _, fitted, features in transformer.transformers_
                      if isinstance(fitted, OneHotEncoder)]
    return found


def _reference_pipelines(pipeline: Pipeline) -> list[Any]:
    """The sklearn (preprocess, estimator) pipelines the predictor's scorers stand for, in order."""
    pipeline = _uncalibrated(pipeline)[0]
    last = pipeline.steps[-1][1]
    if isinstance(last, CalibratedClassifierCV):
        return _pairs_estimators(last)
    return [Pipeline(pipeline.steps[1:])]


def _same(mine: np.ndarray, reference: np.ndarray) -> bool:
    return mine.shape == reference.shape and bool(np.allclose(mine, reference, rtol=1e-12, atol=1e-15))


def matches_pipeline(predictor: FastPredictor, bundle: ModelBundle, frame: pd.DataFrame | None = None) -> bool:
    """True when the predictor gives the pipeline's numbers on `frame` (default: the probe rows):
    each estimator's response before calibration (a calibrator's flat steps could hide a
    difference) and the final PDs."""
    frame = probe_frame(bundle) if frame is None else frame
    model_frame = predictor.domain.transform(frame.reindex(columns=bundle.features))
    references = _reference_pipelines(bundle.pipeline)
    if len(references) != len(predictor.scorers):
        return False
    for scorer, reference in zip(predictor.scorers, references, strict=True):
        if not _same(scorer.response(model_frame), _response(reference, model_frame, scorer.decision)):
            return False
    return _same(predictor.predict_pd(frame), bundle.predict_pd(frame))


def verified_predictor(bundle: ModelBundle) -> tuple[FastPredictor | None, str]:
    """The numpy path for this bundle when it gives the pipeline's numbers (else None: score
    with the pipeline), and a word on which way scoring goes."""
    try:
        predictor = FastPredictor.build(bundle)
    except (AttributeError, TypeError, ValueError, IndexError):  # fitted objects of another shape
        predictor = None
    if predictor is None:
        return None, "pipeline (structure not handled by the numpy path)"
    try:
        same = matches_pipeline(predictor, bundle)
    except Exception as error:  # noqa: BLE001 - any failure of the copy means: score with the original
        return None, f"pipeline (the numpy path failed on probe rows: {type(error).__name__}: {error})"
    if not same:
        return None, "pipeline (the numpy path differed from it on probe rows)"
    return predictor, "numpy path (verified against the pipeline)"
