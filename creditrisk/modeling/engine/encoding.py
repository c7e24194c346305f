"""A fitted ColumnTransformer's arithmetic on numpy arrays: the model frame -> the estimator's input matrix.

Median (or other statistic) imputation and the numeric encoder's steps per numeric block, one-hot columns per
categorical feature, in the transformer's output order, from documented fitted attributes
(`ColumnTransformer.transformers_`, `SimpleImputer.statistics_`, `StandardScaler.mean_` and `scale_`,
`OneHotEncoder.categories_`, `infrequent_categories_`, `drop_idx_`) and the steps' own `transform` for any
other numeric encoder (quantile, spline). A layout it does not know gives None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from creditrisk.data.contract import MISSING_CATEGORY

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
class CompiledPreprocessor:
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


def compile_preprocessor(transformer: Any) -> CompiledPreprocessor | None:
    """The numpy form of a fitted ColumnTransformer, or None for a layout this module does not know."""
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
    return CompiledPreprocessor(blocks)


def known_categories(transformer: ColumnTransformer) -> dict[str, list[str]]:
    """Model column -> the categories its fitted OneHotEncoder knows, as text."""
    known: dict[str, list[str]] = {}
    for _, fitted, features in transformer.transformers_:
        if isinstance(fitted, OneHotEncoder):
            for feature, categories in zip(features, fitted.categories_, strict=True):
                known.setdefault(feature, []).extend(str(category) for category in categories)
    return known
