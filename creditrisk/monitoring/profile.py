"""The reference profile: what drift statistics need from the training data, computed once.

Per numeric feature: quantile bin edges (with -inf/+inf ends), reference bin
counts, missing count and the exact compact sorted sample for KS. Per
categorical feature: counts of each reference category plus an explicit
*missing* bin and an *unseen* bin (categories the reference never had).
Non-finite numbers (NaN, +-inf) count as missing, as the data contract does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditrisk.monitoring.report import SCORE
from creditrisk.monitoring.statistics import compact, shares, CompactSample
from creditrisk.data.contract import MISSING_CATEGORY, SPECS

MISSING_BIN = MISSING_CATEGORY
UNSEEN_BIN = "__unseen__"


def quantile_edges(sample: CompactSample, bins: int) -> np.ndarray:
    """Inner edges of up to `bins` quantile bins (-inf, e1], (e1, e2], ..., (ek, +inf).

    Ties are handled greedily: each edge is the value at the next equal-count
    cut of the values not yet binned, and a bin takes every copy of its edge
    value. A heavy tie (98% zeros) therefore becomes one bin and the remaining
    values are still split into the requested number of bins; every bin is
    non-empty on the reference, and the count is `bins` whenever the data have
    at least that many distinct values.
    """
    if bins < 1:
        raise ValueError(f"psi_bins must be >= 1, got {bins}")
    n = sample.size
    edges: list[float] = []
    start = 0
    remaining = bins
    while remaining > 1 and start < n:
        cut = start + int(np.ceil((n - start) / remaining)) - 1
        distinct = int(np.searchsorted(sample.cumulative, cut, side="right"))
        end = int(sample.cumulative[distinct])
        if end >= n:
            break
        edges.append(float(sample.values[distinct]))
        start = end
        remaining -= 1
    return np.asarray(edges, dtype=float)


def _format_number(value: float) -> str:
    return f"{value:.6g}"


def bin_labels(edges: np.ndarray) -> list[str]:
    bounds = ["-inf", *(_format_number(e) for e in edges), "inf"]
    return [f"({low}, {high}]" if high != "inf" else f"({low}, {high})" for low, high in zip(bounds, bounds[1:])]


@dataclass(frozen=True)
class NumericSample:
    """The finite values of one column, sorted and compacted, and how many rows were missing."""

    rows: int
    missing: int
    sample: CompactSample

    @property
    def values(self) -> int:
        return self.rows - self.missing

    def bin_counts(self, edges: np.ndarray) -> np.ndarray:
        at_or_below = self.sample.count_at_or_below(edges)
        return np.diff(np.concatenate(([0], at_or_below, [self.values])))


def numeric_sample(values: pd.Series | np.ndarray) -> NumericSample:
    """Sort the finite values once; everything else is binary search on the result."""
    array = values.to_numpy(dtype=float, na_value=np.nan) if isinstance(values, pd.Series) else np.asarray(values, float)
    finite = np.isfinite(array)
    kept = array[finite] if not finite.all() else array
    return NumericSample(rows=int(array.size), missing=int(array.size - kept.size), sample=compact(np.sort(kept)))


@dataclass(frozen=True)
class NumericProfile:
    name: str
    rows: int
    missing: int
    edges: np.ndarray
    counts: np.ndarray
    sample: CompactSample
    kind: str = "numeric"

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else float("nan")

    @property
    def shares(self) -> np.ndarray:
        return shares(self.counts)

    @property
    def labels(self) -> list[str]:
        return bin_labels(self.edges)

    @property
    def constant(self) -> bool:
        return self.sample.values.size == 1

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "missing_share": self.missing_share,
            "distinct_values": int(self.sample.values.size),
            "edges": self.edges.tolist(),
            "bins": self.labels,
            "counts": self.counts.tolist(),
            "shares": self.shares.tolist(),
        }


def build_numeric_profile(name: str, values: pd.Series | np.ndarray, bins: int) -> NumericProfile:
    sample = numeric_sample(values)
    edges = quantile_edges(sample.sample, bins)
    return NumericProfile(name, sample.rows, sample.missing, edges, sample.bin_counts(edges), sample.sample)


@dataclass(frozen=True)
class CategoricalProfile:
    name: str
    rows: int
    missing: int
    categories: tuple[str, ...]
    category_counts: np.ndarray
    kind: str = "categorical"

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else float("nan")

    @property
    def labels(self) -> list[str]:
        return [*self.categories, MISSING_BIN, UNSEEN_BIN]

    @property
    def counts(self) -> np.ndarray:
        """Counts per bin, missing and unseen (always 0 on the reference) included."""
        return np.concatenate((self.category_counts, [self.missing, 0]))

    @property
    def shares(self) -> np.ndarray:
        return shares(self.counts)

    @property
    def constant(self) -> bool:
        return len(self.categories) == 1

    def bin_counts(self, values: pd.Series) -> np.ndarray:
        """Counts of a current sample on this profile's bins (missing, unseen last)."""
        observed, missing = category_counts(values)
        known = np.array([observed.get(category, 0) for category in self.categories], dtype=np.int64)
        unseen = sum(observed.values()) - int(known.sum())
        return np.concatenate((known, [missing, unseen]))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "missing_share": self.missing_share,
            "bins": self.labels,
            "counts": self.counts.tolist(),
            "shares": self.shares.tolist(),
        }


def category_counts(values: pd.Series) -> tuple[dict[str, int], int]:
    """Count of each present category (as text) and the number of missing values."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    observed = text.value_counts(dropna=False, sort=False)
    counts: dict[str, int] = {}
    missing = 0
    for category, count in zip(observed.index, observed.to_numpy()):
        if pd.isna(category):
            missing += int(count)
        else:
            counts[str(category)] = counts.get(str(category), 0) + int(count)
    return counts, missing


def build_categorical_profile(name: str, values: pd.Series) -> CategoricalProfile:
    observed, missing = category_counts(values)
    ordered = sorted(observed.items(), key=lambda item: (-item[1], item[0]))
    return CategoricalProfile(
        name=name,
        rows=int(len(values)),
        missing=missing,
        categories=tuple(category for category, _ in ordered),
        category_counts=np.asarray([count for _, count in ordered], dtype=np.int64),
    )


FeatureProfile = NumericProfile | CategoricalProfile


def profile_kind(name: str, values: pd.Series) -> str:
    """How the profile treats a column: `numeric` (quantile bins, KS) or `categorical` (category bins, chi-square).

    From the data contract when it knows the column, else from the dtype.
    """
    spec = SPECS.get(name)
    if spec is not None:
        return "categorical" if spec.kind == "category" else "numeric"
    is_numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return "numeric" if is_numeric else "categorical"


@dataclass(frozen=True)
class ReferenceProfile:
    rows: int
    bins: int
    features: dict[str, FeatureProfile]
    score: NumericProfile | None = None
    band_mix: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "psi_bins": self.bins,
            "features": {name: profile.to_json() for name, profile in self.features.items()},
            SCORE: self.score.to_json() if self.score is not None else None,
            "band_mix": self.band_mix,
        }


def build_reference_profile(
    frame: pd.DataFrame,
    features: Sequence[str],
    bins: int,
    pd_values: np.ndarray | None = None,
    band_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ReferenceProfile:
    """Profile every feature of the reference frame (and the model's PD on it, when given)."""
    absent = [name for name in features if name not in frame.columns]
    if absent:
        raise KeyError(f"reference data has no column(s) {absent}")
    profiles: dict[str, FeatureProfile] = {}
    for name in features:
        column = frame[name]
        if profile_kind(name, column) == "numeric":
            profiles[name] = build_numeric_profile(name, column, bins)
        else:
            profiles[name] = build_categorical_profile(name, column)
    score = build_numeric_profile(SCORE, pd_values, bins) if pd_values is not None else None
    band_mix = None
    if pd_values is not None and band_of is not None and len(pd_values):
        band_mix = band_shares(band_of(np.asarray(pd_values)))
    return ReferenceProfile(rows=len(frame), bins=bins, features=profiles, score=score, band_mix=band_mix)


def band_shares(bands: np.ndarray) -> dict[str, float]:
    names, counts = np.unique(np.asarray(bands).astype(str), return_counts=True)
    total = counts.sum()
    return {str(name): float(count / total) for name, count in zip(names, counts)}
