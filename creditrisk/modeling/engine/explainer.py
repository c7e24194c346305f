"""Each model input's contribution to logit(PD) - logit(PD of the reference applicant).

- Inputs are the model frame's columns (contract columns and engineered features); the one-hot columns
  of a category add up to their column.
- The estimator's attribution (`attribution`) sums to its raw-score difference (log-odds for the linear
  and boosting candidates, P(default) for forests). The calibrator is monotone, so one factor per row,
  (logit PD(x) - logit PD(r)) / (raw(x) - raw(r)), carries them to the PD's logit with their signs; for a
  sigmoid calibration that factor is the calibration slope, the same for every row.
- The reference applicant is the train median profile the train stage stores in the bundle
  (`modeling.reasons.reference_applicant`), fixed at training and stated in the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from creditrisk.modeling.engine.attribution import attributions, tree_tables, TreeTables
from creditrisk.modeling.engine.parts import Calibrate, ModelParts
from creditrisk.modeling.engine.trees import AdditiveForm, check_form, estimator_raw_score
from creditrisk.modeling.validation import logit


@dataclass(frozen=True)
class Explainer:
    """Attributions of logit(PD) - logit(PD reference) to model inputs, for one fitted model."""

    form: AdditiveForm
    calibrate: Calibrate | None
    columns: list[str]
    sources: np.ndarray
    reference_matrix: np.ndarray
    reference_logit: float
    reference_raw: float
    tables: TreeTables | None = None  # the tree attribution looked up (trees only)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, model inputs): each input's contribution to the PD's logit above the reference's, for the
        rows' estimator input `matrix`."""
        raw_parts = self.raw_attributions(matrix)
        gap = raw_parts.sum(axis=1)  # the attributions add up to raw(x) - raw(reference) exactly
        raw = self.reference_raw + gap
        logit_gap = self._final_logit(raw) - self.reference_logit
        moved = np.abs(gap) > 1e-9
        factor = np.divide(logit_gap, gap, out=np.zeros_like(gap), where=moved)
        if not moved.all():  # no raw-score gap: the calibration's local slope carries the parts
            factor[~moved] = self._local_slope(raw[~moved])
        per_input = raw_parts @ self._source_matrix
        return per_input * factor[:, None]

    def raw_attributions(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, estimator inputs): each input's share of raw(x) - raw(reference)."""
        if self.tables is not None:
            return self.tables.attributions(matrix)
        return attributions(self.form, matrix, self.reference_matrix)

    def _final_logit(self, raw: np.ndarray) -> np.ndarray:
        return served_logit(self.form, self.calibrate, raw)

    @cached_property
    def _source_matrix(self) -> np.ndarray:
        """(estimator inputs, model inputs): 1 where an estimator input comes from a model input, so that
        a product adds the one-hot columns of a category up to their column."""
        matrix = np.zeros((len(self.sources), len(self.columns)))
        matrix[np.arange(len(self.sources)), self.sources] = 1.0
        return matrix

    def _local_slope(self, raw: np.ndarray, step: float = 1e-4) -> np.ndarray:
        return (self._final_logit(raw + step) - self._final_logit(raw - step)) / (2 * step)


def served_logit(form: AdditiveForm, calibrate: Calibrate | None, raw: np.ndarray) -> np.ndarray:
    """logit of the served PD for raw scores: the estimator's probability, then the calibrator if any."""
    probability = raw if form.score_is_probability else 1.0 / (1.0 + np.exp(-raw))
    if calibrate is not None:
        probability = calibrate(probability)
    return logit(np.clip(probability, 0.0, 1.0))


def _source_of(output: str, columns: list[str]) -> str:
    """The model input an output column comes from: the longest input name it starts with (one-hot
    levels are `column_level`, splines `column_sp_k`)."""
    for name in sorted(columns, key=len, reverse=True):
        if output == name or output.startswith(name + "_"):
            return name
    raise ValueError(f"the preprocessor output {output!r} comes from no model input")


def _input_columns(preprocess: ColumnTransformer, columns: list[str]) -> np.ndarray:
    """For each column the preprocessor outputs, the position of the model-frame column it comes from."""
    sources = np.full(sum(s.stop - s.start for s in preprocess.output_indices_.values()), -1)
    for name, transformer, inputs in preprocess.transformers_:
        span = preprocess.output_indices_[name]
        if transformer == "drop" or span.stop == span.start:
            continue
        names = list(inputs) if transformer == "passthrough" else transformer.get_feature_names_out(list(inputs))
        sources[span] = [columns.index(_source_of(str(output), list(inputs))) for output in names]
    return sources


def _reference_frame(parts: ModelParts, reference: dict[str, Any]) -> pd.DataFrame:
    columns = {name: pd.Series([reference.get(name)], dtype="float64") for name in parts.domain.numeric}
    columns.update({name: pd.Series([reference.get(name)], dtype=object) for name in parts.domain.categorical})
    return pd.DataFrame(columns)[parts.columns]


def build_explainer(parts: ModelParts, form: AdditiveForm, reference: dict[str, Any],
                    probe_matrix: np.ndarray) -> Explainer | None:
    """The explainer of the model's parts against the reference applicant (model input -> value), or None
    when `form` does not give the estimator's own raw scores on the probe rows' estimator input."""
    if not check_form(parts.estimator, form, probe_matrix):
        return None
    columns = parts.columns
    reference_matrix = np.asarray(parts.preprocess.transform(_reference_frame(parts, reference)), dtype="float64")[0]
    reference_raw = estimator_raw_score(parts.estimator, reference_matrix[None], form)
    tables = None if form.leaves is None else tree_tables(form.leaves, reference_matrix, len(reference_matrix))
    return Explainer(form, parts.calibrate, columns, _input_columns(parts.preprocess, columns), reference_matrix,
                     float(served_logit(form, parts.calibrate, reference_raw)[0]), float(reference_raw[0]), tables)
