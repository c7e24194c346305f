"""Adverse-action reasons: the model inputs that raised an applicant's PD above the reference applicant's.

A lender that declines must say why in a few specific reasons (US ECOA / Regulation B, 12 CFR 1002.9;
Colombia's Ley 1266 de 2008 on credit data). Here the reasons of a row are its inputs with the largest
positive attributions (`modeling.attribution`) of logit(PD) - logit(PD of the reference applicant), each
named by a stable code and text from the committed catalogue (`reason_catalogue.yaml`).

- Inputs are the model frame's columns (contract columns and engineered features); the one-hot columns
  of a category add up to their column.
- The estimator's attribution sums to its raw-score difference (log-odds for the linear and boosting
  candidates, P(default) for forests). The calibrator is monotone, so one factor per row,
  (logit PD(x) - logit PD(r)) / (raw(x) - raw(r)), carries them to the PD's logit with their signs; for a
  sigmoid calibration that factor is the calibration slope, the same for every row.
- The reference applicant is the train median profile: per model input the median of train (numbers)
  or its most frequent value (categories), fixed at training and stated in the model card.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache, cached_property
from importlib import resources
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from creditrisk.data.contract import MISSING_CATEGORY
from creditrisk.modeling.attribution import attributions, tree_tables, TreeTables
from creditrisk.modeling.calibration import CalibratedModel
from creditrisk.modeling.tree_paths import AdditiveForm, additive_form, check_form, estimator_raw_score
from creditrisk.modeling.validation import logit

CATALOGUE_FILE = "reason_catalogue.yaml"
REFERENCE_DESCRIPTION = ("the train median profile: per model input, the median over the training loans "
                         "(numbers) or the most frequent value (categories)")
LANGUAGES = ("en", "es")
CONTRIBUTION_DECIMALS = 6  # contributions are reported on the logit scale to this many decimals


class ReasonCatalogueError(ValueError):
    """The reason catalogue lacks a model input or breaks its own rules."""


@dataclass(frozen=True)
class ReasonEntry:
    code: str
    group: str
    text: dict[str, str]


@cache
def reason_catalogue() -> dict[str, ReasonEntry]:
    """Model input -> its reason; codes are unique and every entry has a text per language."""
    raw = yaml.safe_load(resources.files("creditrisk.modeling").joinpath(CATALOGUE_FILE).read_text("utf-8"))
    entries = {name: ReasonEntry(str(spec["code"]), str(spec["group"]),
                                 {language: str(spec[language]) for language in LANGUAGES if language in spec})
               for name, spec in raw["reasons"].items()}
    codes = [entry.code for entry in entries.values()]
    duplicated = sorted({code for code in codes if codes.count(code) > 1})
    if duplicated:
        raise ReasonCatalogueError(f"{CATALOGUE_FILE}: reason codes {duplicated} are used more than once")
    untranslated = sorted(name for name, entry in entries.items() if set(entry.text) != set(LANGUAGES))
    if untranslated:
        raise ReasonCatalogueError(f"{CATALOGUE_FILE}: {untranslated} lack a text in one of {list(LANGUAGES)}")
    return entries


def reference_applicant(model_frame: pd.DataFrame) -> dict[str, Any]:
    """The train median profile: the median of each number, the most frequent value of each category."""
    profile: dict[str, Any] = {}
    for name in model_frame.columns:
        values = model_frame[name]
        if pd.api.types.is_numeric_dtype(values):
            median = values.median()
            profile[name] = None if pd.isna(median) else float(median)
        else:
            counts = values.astype("string").value_counts(dropna=True)
            profile[name] = None if counts.empty else str(counts.index[0])
    return profile


def _source_of(output: str, columns: list[str]) -> str:
    """The model input an output column comes from: the longest input name it starts with (one-hot
    levels are `column_level`, splines `column_sp_k`)."""
    for name in sorted(columns, key=len, reverse=True):
        if output == name or output.startswith(name + "_"):
            return name
    raise ReasonCatalogueError(f"the preprocessor output {output!r} comes from no model input")


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


@dataclass(frozen=True)
class Explainer:
    """Attributions of logit(PD) - logit(PD reference) to model inputs, for one fitted model."""

    domain: Any
    preprocess: Any
    estimator: Any
    form: AdditiveForm
    model: Any
    columns: list[str]
    sources: np.ndarray
    reference_frame: pd.DataFrame
    reference_matrix: np.ndarray
    reference_logit: float
    reference_raw: float
    tables: TreeTables | None = None  # the tree attribution looked up (trees only)
    encode: Callable[[pd.DataFrame], np.ndarray] | None = None

    def _final_logit(self, raw: np.ndarray) -> np.ndarray:
        return served_logit(self.model, self.form, raw)

    def matrix(self, model_frame: pd.DataFrame) -> np.ndarray:
        """The estimator's input for a model frame: `encode` when set (the same numbers by a faster route,
        see `with_encoder`), else the fitted preprocessor."""
        encoded = self.encode(model_frame) if self.encode is not None else self.preprocess.transform(model_frame)
        return np.asarray(encoded, dtype="float64")

    def with_encoder(self, encode: Callable[[pd.DataFrame], np.ndarray], probe: pd.DataFrame) -> Explainer:
        """This explainer reading the estimator's input through `encode`, when `encode` gives the fitted
        preprocessor's numbers on the probe rows (else this explainer unchanged)."""
        model_frame = self.domain.transform(probe)
        same = np.allclose(np.asarray(encode(model_frame), dtype="float64"), self.matrix(model_frame),
                           rtol=1e-12, atol=1e-12, equal_nan=True)
        return replace(self, encode=encode) if same else self

    def contributions(self, frame: pd.DataFrame,
                      model_frame: pd.DataFrame | None = None) -> tuple[pd.DataFrame, np.ndarray]:
        """(model frame, (rows, inputs) contributions to the PD's logit above the reference's). Pass the
        frame's model frame (`domain.transform(frame)`) when it is at hand, to skip computing it again."""
        model_frame = self.domain.transform(frame) if model_frame is None else model_frame
        raw_parts = self.raw_attributions(self.matrix(model_frame))
        gap = raw_parts.sum(axis=1)  # the attributions add up to raw(x) - raw(reference) exactly
        raw = self.reference_raw + gap
        logit_gap = self._final_logit(raw) - self.reference_logit
        moved = np.abs(gap) > 1e-9
        factor = np.divide(logit_gap, gap, out=np.zeros_like(gap), where=moved)
        if not moved.all():  # no raw-score gap: the calibration's local slope carries the parts
            factor[~moved] = self._local_slope(raw[~moved])
        per_input = raw_parts @ self._source_matrix
        return model_frame, per_input * factor[:, None]

    def raw_attributions(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, estimator inputs): each input's share of raw(x) - raw(reference)."""
        if self.tables is not None:
            return self.tables.attributions(matrix)
        return attributions(self.form, matrix, self.reference_matrix)

    @cached_property
    def _source_matrix(self) -> np.ndarray:
        """(estimator inputs, model inputs): 1 where an estimator input comes from a model input, so that
        a product adds the one-hot columns of a category up to their column."""
        matrix = np.zeros((len(self.sources), len(self.columns)))
        matrix[np.arange(len(self.sources)), self.sources] = 1.0
        return matrix

    def _local_slope(self, raw: np.ndarray, step: float = 1e-4) -> np.ndarray:
        return (self._final_logit(raw + step) - self._final_logit(raw - step)) / (2 * step)


def served_logit(model: Any, form: AdditiveForm, raw: np.ndarray) -> np.ndarray:
    """logit of the served PD for raw scores: the estimator's probability, then the calibrator if any."""
    probability = raw if form.score_is_probability else 1.0 / (1.0 + np.exp(-raw))
    if isinstance(model, CalibratedModel):
        probability = model.calibrator.transform(probability)
    return logit(np.clip(probability, 0.0, 1.0))


def _reference_frame(domain: Any, reference: dict[str, Any]) -> pd.DataFrame:
    columns = {name: pd.Series([reference.get(name)], dtype="float64") for name in domain.numeric}
    columns.update({name: pd.Series([reference.get(name)], dtype=object) for name in domain.categorical})
    return pd.DataFrame(columns)[[str(name) for name in domain.get_feature_names_out()]]


def _parts(model: Any) -> tuple[Any, Any, Any] | None:
    pipeline = model.model if isinstance(model, CalibratedModel) else model
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 3 \
            or not isinstance(pipeline.steps[1][1], ColumnTransformer):
        return None
    return pipeline.steps[0][1], pipeline.steps[1][1], pipeline.steps[2][1]


def build_explainer(model: Any, reference: dict[str, Any], probe: pd.DataFrame) -> Explainer | None:
    """The explainer of a fitted model (domain -> preprocess -> estimator, maybe calibrated), or None when
    its estimator cannot be read as an additive score that gives the estimator's own scores on `probe`."""
    parts = _parts(model)
    if parts is None:
        return None
    domain, preprocess, estimator = parts
    form = additive_form(estimator)
    if form is None:
        return None
    columns = [str(name) for name in domain.get_feature_names_out()]
    reference_frame = _reference_frame(domain, reference)
    probe_matrix = np.asarray(preprocess.transform(domain.transform(probe)), dtype="float64")
    if not check_form(estimator, form, probe_matrix):
        return None
    reference_matrix = np.asarray(preprocess.transform(reference_frame), dtype="float64")[0]
    reference_raw = estimator_raw_score(estimator, reference_matrix[None], form)
    tables = None if form.leaves is None else tree_tables(form.leaves, reference_matrix, len(reference_matrix))
    return Explainer(domain, preprocess, estimator, form, model, columns, _input_columns(preprocess, columns),
                     reference_frame, reference_matrix, float(served_logit(model, form, reference_raw)[0]),
                     float(reference_raw[0]), tables)


class Reason(TypedDict):
    """One principal reason, as the API serves it."""

    code: str
    feature: str
    value: Any
    text: str
    contribution: float


def _plain_values(values: pd.Series) -> list[Any]:
    """The column as Python scalars (what JSON can carry), None where missing (a category column's
    missing marker included: the applicant is told the value was not given, not the marker)."""
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        numbers = values.to_numpy()
        plain = numbers.tolist()
        if np.isnan(numbers).any():
            plain = [None if number != number else number for number in plain]
        return plain
    objects = values.to_numpy(dtype=object)
    absent = pd.isna(objects) | (objects == MISSING_CATEGORY)
    return [None if gone else value.item() if isinstance(value, np.generic) else value
            for value, gone in zip(objects.tolist(), absent.tolist(), strict=True)]


def principal_reasons(model_frame: pd.DataFrame, contributions: np.ndarray, columns: list[str], top_k: int,
                      language: str = "en") -> list[list[Reason]]:
    """Per row, up to `top_k` inputs that pushed its PD up (contribution > 0), largest first."""
    catalogue = reason_catalogue()
    missing = [name for name in columns if name not in catalogue]
    if missing:
        raise ReasonCatalogueError(f"{CATALOGUE_FILE} has no reason for model inputs {missing}")
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :top_k]
    picked = np.round(np.take_along_axis(contributions, order, axis=1), CONTRIBUTION_DECIMALS)
    # Only inputs that raised the PD by a reportable amount; sorted, so they are a prefix of each row,
    # and the reported cells, row by row, are each row's reasons in order.
    reported = picked > 0.0
    rows, slots = np.nonzero(reported)
    chosen = order[rows, slots]
    codes = _each_reported([catalogue[name].code for name in columns], chosen)
    texts = _each_reported([catalogue[name].text[language] for name in columns], chosen)
    names = _each_reported(columns, chosen)
    values = _picked_values(model_frame, columns, rows, chosen)
    every: list[Reason] = [
        {"code": code, "feature": name, "value": value, "text": text, "contribution": contribution}
        for code, name, value, text, contribution in zip(codes, names, values, texts,
                                                         picked[rows, slots].tolist(), strict=True)]
    ends = np.cumsum(reported.sum(axis=1)).tolist()
    return [every[start:stop] for start, stop in zip([0, *ends][:-1], ends, strict=True)]


def _each_reported(per_input: list[Any], chosen: np.ndarray) -> list[Any]:
    """One entry per reported cell: the entry of the input it reports."""
    return np.array(per_input, dtype=object)[chosen].tolist()


def _picked_values(model_frame: pd.DataFrame, columns: list[str], rows: np.ndarray, chosen: np.ndarray) -> list[Any]:
    """The model-frame value of each reported (row, input), as `_plain_values` gives it; only the
    reported cells are converted to Python objects, a column at a time."""
    values = np.empty(len(rows), dtype=object)
    for position in np.unique(chosen).tolist():
        where = np.flatnonzero(chosen == position)
        plain = _plain_values(model_frame[columns[position]].iloc[rows[where]])
        values[where] = np.fromiter(plain, dtype=object, count=len(plain))
    return values.tolist()
