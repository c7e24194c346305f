"""Adverse-action reasons: the model inputs that raised an applicant's PD above the reference applicant's.

A lender that declines must say why in a few specific reasons (US ECOA / Regulation B, 12 CFR 1002.9;
Colombia's Ley 1266 de 2008 on credit data). Here the reasons of a row are its inputs with the largest
positive contributions to logit(PD) - logit(PD of the reference applicant) (computed by the scoring engine,
`modeling.engine`), each named by a stable code and text from the committed catalogue
(`reason_catalogue.yaml`).

The reference applicant is the train median profile: per model input the median of train (numbers) or its
most frequent value (categories), fixed at training and stated in the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from creditrisk.data.contract import MISSING_CATEGORY

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


def _catalogue_of(columns: list[str]) -> dict[str, ReasonEntry]:
    catalogue = reason_catalogue()
    missing = [name for name in columns if name not in catalogue]
    if missing:
        raise ReasonCatalogueError(f"{CATALOGUE_FILE} has no reason for model inputs {missing}")
    return catalogue


TOP_CHUNK_ROWS = 8192  # rows per block of `_top_inputs`: its working copy stays in cache


def _top_inputs(contributions: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the positions of its `top_k` largest contributions, largest first (ties to the earlier input,
    as a stable sort of the negated values orders them; NaN last), those contributions rounded to
    `CONTRIBUTION_DECIMALS`, and which are reported: only inputs that raised the PD by a reportable amount.
    Sorted, the reported ones are a prefix of each row.

    One argmax per slot over blocks of rows instead of sorting every row: a 250,000-row batch of 25 inputs
    takes about a third of the time of the sort."""
    rows, inputs = contributions.shape
    slots = min(top_k, inputs)
    order = np.empty((rows, slots), dtype=np.intp)
    values = np.empty((rows, slots), dtype="float64")
    for start in range(0, rows, TOP_CHUNK_ROWS):
        block = contributions[start:start + TOP_CHUNK_ROWS]
        remaining = np.where(np.isnan(block), -np.inf, block)
        flat = remaining.ravel()
        row_start = np.arange(len(block)) * inputs
        for slot in range(slots):
            best = remaining.argmax(axis=1)
            at = row_start + best
            order[start:start + len(block), slot] = best
            values[start:start + len(block), slot] = flat[at]
            flat[at] = -np.inf
    picked = np.round(values, CONTRIBUTION_DECIMALS)
    return order, picked, picked > 0.0


def principal_reasons(model_frame: pd.DataFrame, contributions: np.ndarray, columns: list[str], top_k: int,
                      language: str = "en") -> list[list[Reason]]:
    """Per row, up to `top_k` inputs that pushed its PD up (contribution > 0), largest first."""
    catalogue = _catalogue_of(columns)
    order, picked, reported = _top_inputs(contributions, top_k)
    # The reported cells, row by row, are each row's reasons in order.
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


def principal_reason_codes(contributions: np.ndarray, columns: list[str], top_k: int) -> pd.api.extensions.ExtensionArray:
    """Per row, the codes of `principal_reasons` joined by ";" ("" where none), as text (pandas "string").

    What a batch keeps of the reasons. Rows share few distinct reason lists (at most `top_k` of the inputs, in
    order), so each distinct list is joined once and the rows take theirs in Arrow: no Python object per row
    or reason."""
    catalogue = _catalogue_of(columns)
    order, _, reported = _top_inputs(contributions, top_k)
    lists = np.where(reported, order + 1, 0)  # per slot the input's position + 1; 0 = no reason in the slot
    base = len(columns) + 1
    if base ** lists.shape[1] < 2 ** 62:  # each list as one integer: hashed, not sorted
        powers = base ** np.arange(lists.shape[1], dtype=np.int64)
        inverse, keys = pd.factorize(lists @ powers)
        distinct = (np.asarray(keys, dtype=np.int64)[:, None] // powers) % base
    else:
        distinct, inverse = np.unique(lists, axis=0, return_inverse=True)
    codes = [catalogue[name].code for name in columns]
    joined = [";".join(codes[position - 1] for position in row if position) for row in distinct.tolist()]
    return pd.array(pa.array(joined, pa.large_string()).take(np.ravel(inverse)), dtype="string")


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
