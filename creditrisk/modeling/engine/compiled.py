"""The engine of one model bundle: the compiled parts where they were verified at load, the pipeline elsewhere.

`build_engine(bundle)` takes the pipeline apart (`parts`), reads the estimator as an additive score once
(`trees.additive_form`), and builds on probe rows made from the model's own categories:

- the compiled PD (`encoding` + `scorer`), kept only when its estimator input equals the fitted
  preprocessor's, its P(default) the estimator's, and its PDs `bundle.predict_pd`'s (`matches_pipeline`);
- the explainer (`explainer`), kept only when the additive score equals the estimator's own raw score
  (`trees.check_form`) and the bundle names a reference applicant.

A points scorecard is scored by its pipeline, and its reasons come from its points table (`points`).

Each one that is not built or not verified is replaced by the pipeline (PDs) or refused (contributions),
and `Engine.route` says which way the PDs go.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from creditrisk.data.contract import DATE, MISSING_CATEGORY
from creditrisk.modeling.bundle import ModelBundle
from creditrisk.modeling.engine.encoding import compile_preprocessor, known_categories, CompiledPreprocessor
from creditrisk.modeling.engine.explainer import build_explainer, Explainer
from creditrisk.modeling.engine.parts import model_parts, ModelParts
from creditrisk.modeling.engine.points import PointsExplainer
from creditrisk.modeling.engine.scorer import compile_scorer, CompiledScorer
from creditrisk.modeling.engine.trees import additive_form, AdditiveForm
from creditrisk.modeling.scorecard import scorecard_table

READ_ERRORS = (AttributeError, TypeError, ValueError, IndexError)  # fitted objects of another shape
COMPILED_ROUTE = "numpy path (verified against the pipeline)"
SCORECARD_ROUTE = "pipeline (a points scorecard; reasons from its points table)"


class ExplanationUnavailable(ValueError):
    """Contributions were asked of an engine without an explainer (see `Engine.explainer`)."""


class EncodedBatch:
    """One batch as the engine reads it: the contract frame, its model frame (the pipeline's `DomainFeatures`
    step) and the estimator's input matrix. Each form is computed when first asked for and kept, so the PDs and
    the contributions of a batch read one model frame and one matrix."""

    def __init__(self, engine: Engine, frame: pd.DataFrame) -> None:
        self.engine = engine
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def model_frame(self) -> pd.DataFrame:
        if isinstance(self.engine.explainer, PointsExplainer):
            return self.engine.explainer.model_frame(self.frame)
        return self.engine.handled_parts().domain.transform(self.frame)

    @cached_property
    def matrix(self) -> np.ndarray:
        return self.engine.matrix(self.model_frame)


@dataclass(frozen=True)
class Engine:
    """PDs and contributions for one model bundle (see the package docstring)."""

    bundle: ModelBundle
    route: str                               # how the PDs are computed, in words for the log
    parts: ModelParts | None                 # None: a structure the engine does not handle
    encoder: CompiledPreprocessor | None = None
    scorer: CompiledScorer | None = None     # None: the PDs come from the pipeline
    explainer: Explainer | PointsExplainer | None = None  # None: no contributions (reasons are refused)

    @property
    def compiled(self) -> bool:
        return self.scorer is not None

    @property
    def columns(self) -> list[str]:
        """The model inputs the contributions are given for, in their order."""
        return self._explainer().columns

    def encode(self, frame: pd.DataFrame) -> EncodedBatch:
        """The batch of contract rows `frame`, for `pd_of` and `contributions_of` to share."""
        return EncodedBatch(self, frame)

    def pd_of(self, batch: EncodedBatch) -> np.ndarray:
        """P(default) per row, as `bundle.predict_pd(batch.frame)` gives it."""
        if self.scorer is None:
            return self.bundle.predict_pd(batch.frame)
        return self.scorer.pd(batch.matrix)

    def contributions_of(self, batch: EncodedBatch) -> np.ndarray:
        """(rows, `columns`): each model input's contribution to logit(PD) - logit(PD of the reference
        applicant); a row's contributions add up to that gap. A scorecard's: the points lost against each
        characteristic's best bin, on the logit scale (`points`)."""
        explainer = self._explainer()
        if isinstance(explainer, PointsExplainer):
            return explainer.contributions(batch.model_frame)
        return explainer.contributions(batch.matrix)

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pd_of(self.encode(frame))

    def explain(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`contributions_of` the rows of `frame`, one named column per model input, on the frame's index."""
        return pd.DataFrame(self.contributions_of(self.encode(frame)), index=frame.index, columns=self.columns)

    def matrix(self, model_frame: pd.DataFrame) -> np.ndarray:
        """The estimator's input for a model frame: the compiled preprocessor when verified, else the fitted one."""
        if self.encoder is not None:
            return self.encoder.transform(model_frame)
        return np.asarray(self.handled_parts().preprocess.transform(model_frame), dtype="float64")

    def handled_parts(self) -> ModelParts:
        if self.parts is None:
            raise ExplanationUnavailable(f"model {self.bundle.version}: its pipeline is not of the structure the "
                                         "engine reads (DomainFeatures, ColumnTransformer, estimator)")
        return self.parts

    def _explainer(self) -> Explainer | PointsExplainer:
        if self.explainer is None:
            raise ExplanationUnavailable(f"model {self.bundle.version} has no explainer: its estimator cannot be "
                                         "read as an additive score that gives its own scores")
        return self.explainer


def build_engine(bundle: ModelBundle, compiled: bool = True) -> Engine:
    """The engine of `bundle`: the compiled PD when `compiled` and verified, the explainer when readable."""
    try:
        parts = model_parts(bundle.pipeline, list(bundle.features))
    except READ_ERRORS:
        parts = None
    if parts is None:
        points = _points_explainer(bundle)
        if points is not None:
            return Engine(bundle, SCORECARD_ROUTE, None, explainer=points)
        route = "pipeline (the numpy path is turned off)" if not compiled else \
            "pipeline (structure not handled by the numpy path)"
        return Engine(bundle, route, None)
    form = _read_form(parts.estimator)
    probe = probe_frame(bundle)
    explainer = _explainer(bundle, parts, form, probe)
    if not compiled:
        return Engine(bundle, "pipeline (the numpy path is turned off)", parts, explainer=explainer)
    try:
        encoder = compile_preprocessor(parts.preprocess)
        scorer = compile_scorer(parts, form) if encoder is not None else None
    except READ_ERRORS:
        encoder = scorer = None
    if encoder is None or scorer is None:
        return Engine(bundle, "pipeline (structure not handled by the numpy path)", parts, explainer=explainer)
    candidate = Engine(bundle, COMPILED_ROUTE, parts, encoder, scorer, explainer)
    try:
        same = matches_pipeline(candidate, probe)
    except Exception as error:  # noqa: BLE001 - any failure of the copy means: score with the original
        return Engine(bundle, f"pipeline (the numpy path failed on probe rows: {type(error).__name__}: {error})",
                      parts, explainer=explainer)
    if not same:
        return Engine(bundle, "pipeline (the numpy path differed from it on probe rows)", parts, explainer=explainer)
    return candidate


def _points_explainer(bundle: ModelBundle) -> PointsExplainer | None:
    """The reasons of a points scorecard (its points table on the bundle's scale), else None."""
    scale = bundle.points_scale
    table = scorecard_table(bundle.pipeline, scale) if scale is not None else None
    return None if table is None else PointsExplainer(table)


def _read_form(estimator: Any) -> AdditiveForm | None:
    try:
        return additive_form(estimator)
    except READ_ERRORS:
        return None


def _explainer(bundle: ModelBundle, parts: ModelParts, form: AdditiveForm | None,
               probe: pd.DataFrame) -> Explainer | None:
    reference = bundle.metadata.get("reasons", {}).get("reference_applicant")
    if reference is None or form is None:
        return None
    try:
        probe_matrix = np.asarray(parts.preprocess.transform(parts.domain.transform(probe)), dtype="float64")
        return build_explainer(parts, form, reference, probe_matrix)
    except READ_ERRORS:
        return None


def _same(mine: np.ndarray, reference: np.ndarray) -> bool:
    return mine.shape == reference.shape and bool(np.allclose(mine, reference, rtol=1e-12, atol=1e-15))


def matches_pipeline(engine: Engine, frame: pd.DataFrame | None = None) -> bool:
    """True when the compiled parts give the pipeline's numbers on `frame` (default: the probe rows): the
    estimator input, the estimator's response before calibration (a calibrator's flat steps could hide a
    difference) and the final PDs."""
    parts, encoder, scorer = engine.handled_parts(), engine.encoder, engine.scorer
    if encoder is None or scorer is None:
        return False
    frame = probe_frame(engine.bundle) if frame is None else frame
    model_frame = parts.domain.transform(frame.reindex(columns=engine.bundle.features))
    matrix = encoder.transform(model_frame)
    reference = np.asarray(parts.preprocess.transform(model_frame), dtype="float64")
    if matrix.shape != reference.shape or not np.allclose(matrix, reference, rtol=1e-12, atol=1e-12, equal_nan=True):
        return False
    if not _same(scorer.response(matrix), parts.estimator.predict_proba(reference)[:, 1]):
        return False
    return _same(scorer.pd(matrix), engine.bundle.predict_pd(frame))


def probe_frame(bundle: ModelBundle, rows: int = 48) -> pd.DataFrame:
    """Rows that exercise every input of the model: each category the encoders know, an
    unseen one, blanks and padded text, missing values, zeros, negative, small and large
    numbers, dates on every weekday and in every month."""
    parts = model_parts(bundle.pipeline, list(bundle.features))
    known = known_categories(parts.preprocess) if parts is not None else {}
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
