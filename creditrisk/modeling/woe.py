"""Monotone weight-of-evidence bins: the scorecard's first step, fitted by optbinning, kept as plain arrays.

optbinning's `BinningProcess` (Navas-Palencia, Optimal binning: mathematical programming formulation, 2020)
finds for each characteristic the bins that maximise information value under a monotone event-rate trend:
the direction `train.monotonic` gives the input (`ascending` for +1: the default rate rises with the value),
else whichever of ascending or descending the data support (`auto_asc_desc`). A numeric characteristic
has its regular bins [split_i, split_i+1) (the first from -inf, the last to +inf, so out-of-range values
fall in the end bins), a special bin for the codes `special_codes` names, and a missing bin; a categorical
one groups its categories into bins, with the missing bin for a missing value, and an unseen category
scored at WoE 0, the evidence of the average applicant.

WoE of a bin = ln(share of all payers in it / share of all defaulters in it) (optbinning's sign: a higher WoE
is a lower risk); a bin with no loans (a missing or special bin the training data never filled) has WoE 0.

Once fitted, the bins are plain numbers and texts (`bins_`), read with public optbinning calls only
(`get_support`, `get_binned_variable(...).splits` and `transform`), and checked at fit against
`BinningProcess.transform` on every training row; the fitted step needs neither optbinning nor its solver to
score, and the SQL export (`scorecard_sql`) reads the same arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from creditrisk.data.contract import DATE, MISSING_CATEGORY
from creditrisk.modeling.features import ENGINEERED, feature_kind

TREND = {1: "ascending", -1: "descending"}  # optbinning's event (default) rate trend for a direction
FREE_TREND = "auto_asc_desc"
WOE_CHECK_TOLERANCE = 1e-12


class BinningError(RuntimeError):
    """The fitted bins do not reproduce optbinning's own transform on the training rows."""


def scorecard_characteristics(columns: list[str]) -> list[str]:
    """The model columns a scorecard bins: all but the loan date's calendar features (an applicant's
    characteristics, and standard SQL has no portable way to take a date apart)."""
    return [name for name in columns if not (name in ENGINEERED and DATE in ENGINEERED[name].inputs)]


@dataclass(frozen=True)
class Bin:
    """One bin of a characteristic as the points table and the SQL export show it."""

    label: str
    kind: str            # "range" | "categories" | "special" | "missing" | "unseen"
    woe: float
    lower: float | None = None       # range: lower <= value (None: -inf)
    upper: float | None = None       # range: value < upper (None: +inf)
    categories: tuple[str, ...] = ()
    codes: tuple[float, ...] = ()    # special: the codes


def _category_text(values: pd.Series) -> np.ndarray:
    """A category column as object text, missing (and the model frame's missing marker) as NaN."""
    text = values.astype(object).to_numpy()
    missing = pd.isna(text) | (text == MISSING_CATEGORY)
    text = text.copy()
    text[missing] = np.nan
    return text


def shortest_edges(splits: list[float], values: np.ndarray) -> list[float]:
    """Each split as the decimal with the fewest significant digits that puts every training value on the same
    side (a < edge <= b for the training values a below the split and b at or above it).

    A bin edge is then a short number that reads back as the same double in every SQL engine: SQLite's text
    to number conversion is not correctly rounded for some 16-17 digit decimals, which would move a value
    lying exactly on an edge into the other bin."""
    distinct = np.unique(values)
    edges = []
    for split in splits:
        above = np.searchsorted(distinct, split, side="left")
        low = distinct[above - 1] if above > 0 else -np.inf
        high = distinct[above] if above < len(distinct) else np.inf
        edge = split
        for digits in range(1, 18):
            candidate = float(f"{split:.{digits}g}")
            if low < candidate <= high and (not edges or candidate > edges[-1]):
                edge = candidate
                break
        edges.append(edge)
    return edges


def _number_label(value: float) -> str:
    return f"{value:.6g}"


class WoeBinning(TransformerMixin, BaseEstimator):
    """Model frame -> one WoE column per characteristic kept (information value >= `min_iv`)."""

    woe_directions = -1  # every WoE column's coefficient must be <= 0 (a higher WoE is a lower PD)

    def __init__(self, directions: dict[str, int] | None = None, max_n_bins: int = 6, min_bin_size: float = 0.05,
                 min_iv: float = 0.0, special_codes: dict[str, list[float]] | None = None) -> None:
        self.directions = directions
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.min_iv = min_iv
        self.special_codes = special_codes

    def _optbinning_frame(self, model_frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
        columns = {name: (_category_text(model_frame[name]) if feature_kind(name) == "category"
                          else model_frame[name].to_numpy(dtype="float64")) for name in names}
        return pd.DataFrame(columns, index=model_frame.index)

    def fit(self, model_frame: pd.DataFrame, y: Any) -> WoeBinning:
        from optbinning import BinningProcess

        names = scorecard_characteristics([str(name) for name in model_frame.columns])
        categorical = [name for name in names if feature_kind(name) == "category"]
        directions = self.directions or {}
        specials = self.special_codes or {}
        fit_params = {name: {"monotonic_trend": TREND.get(directions.get(name, 0), FREE_TREND),
                             **({"special_codes": list(specials[name])} if specials.get(name) else {})}
                      for name in names if name not in categorical}
        process = BinningProcess(names, categorical_variables=categorical, max_n_bins=self.max_n_bins,
                                 min_bin_size=self.min_bin_size, binning_fit_params=fit_params,
                                 selection_criteria={"iv": {"min": self.min_iv}} if self.min_iv > 0 else None)
        frame = self._optbinning_frame(model_frame, names)
        with warnings.catch_warnings():  # optbinning's own tables trip pandas deprecations it will have to fix
            warnings.filterwarnings("ignore", module=r"optbinning\.")
            process.fit(frame, np.asarray(y).astype(int))
            kept = [str(name) for name in process.get_support(names=True)]
            self.bins_ = {name: self._read_bins(process.get_binned_variable(name), name, name in categorical,
                                                model_frame[name]) for name in kept}
            expected = process.transform(frame, metric="woe", metric_special="empirical",
                                         metric_missing="empirical")[kept].to_numpy(dtype="float64")
        self.characteristics_ = kept
        self.n_features_in_ = model_frame.shape[1]
        found = self.transform(model_frame)
        if found.shape != expected.shape or not np.allclose(found, expected, rtol=0, atol=WOE_CHECK_TOLERANCE):
            worst = np.abs(found - expected).max(axis=0) if found.shape == expected.shape else None
            raise BinningError(f"the bins read from optbinning give other WoE values than its transform on the "
                               f"training rows (largest difference per characteristic: "
                               f"{dict(zip(kept, np.round(worst, 12).tolist())) if worst is not None else 'shape'})")
        return self

    def _read_bins(self, binned: Any, name: str, categorical: bool, values: pd.Series) -> list[Bin]:
        """The characteristic's bins, each with the WoE optbinning's transform gives a value inside it; a
        numeric one's edges as the shortest decimals that split the training values alike (`shortest_edges`)."""
        def woe_of(values: list[Any]) -> list[float]:
            array = np.array(values, dtype=object if categorical else "float64")
            return [float(w) for w in binned.transform(array, metric="woe", metric_special="empirical",
                                                       metric_missing="empirical")]
        if categorical:
            groups = [tuple(str(category) for category in group) for group in binned.splits]
            woes = woe_of([group[0] for group in groups] + [np.nan])
            bins = [Bin(", ".join(group), "categories", woe, categories=group) for group, woe in zip(groups, woes)]
            return [*bins, Bin("missing", "missing", woes[-1]), Bin("unseen category", "unseen", 0.0)]
        codes = tuple(float(code) for code in (self.special_codes or {}).get(name, []))
        present = values.to_numpy(dtype="float64")
        present = present[~np.isnan(present) & ~np.isin(present, codes)]
        inside = [np.nextafter(float(binned.splits[0]), -np.inf), *binned.splits] if len(binned.splits) else [0.0]
        splits = shortest_edges([float(split) for split in binned.splits], present)
        woes = woe_of([*inside, np.nan, *codes[:1]])
        edges = [None, *splits, None]
        bins = [Bin(f"[{_number_label(low) if low is not None else '-inf'}, "
                    f"{_number_label(high) if high is not None else '+inf'})", "range", woe, low, high)
                for low, high, woe in zip(edges, edges[1:], woes)]
        special = [Bin("special: " + ", ".join(_number_label(code) for code in codes), "special",
                       woes[len(inside) + 1], codes=codes)] if codes else []
        return [*bins, *special, Bin("missing", "missing", woes[len(inside)])]

    def bin_index(self, model_frame: pd.DataFrame, name: str) -> np.ndarray:
        """Each row's bin of characteristic `name`, as a position in `bins_[name]`."""
        bins = self.bins_[name]
        position = {bin.kind: index for index, bin in enumerate(bins) if bin.kind != "range"}
        if feature_kind(name) == "category":
            text = _category_text(model_frame[name])
            lookup = {category: index for index, bin in enumerate(bins) for category in bin.categories}
            missing = pd.isna(text)
            found = np.array([lookup.get(value, position["unseen"]) if not gone else position["missing"]
                              for value, gone in zip(text.tolist(), missing.tolist(), strict=True)], dtype="intp")
            return found
        values = model_frame[name].to_numpy(dtype="float64")
        splits = np.array([bin.lower for bin in bins if bin.kind == "range" and bin.lower is not None], dtype="float64")
        index = np.searchsorted(splits, values, side="right")
        if "special" in position:
            index = np.where(np.isin(values, bins[position["special"]].codes), position["special"], index)
        return np.where(np.isnan(values), position["missing"], index)

    def transform(self, model_frame: pd.DataFrame) -> np.ndarray:
        columns = [np.array([bin.woe for bin in self.bins_[name]])[self.bin_index(model_frame, name)]
                   for name in self.characteristics_]
        return np.column_stack(columns) if columns else np.zeros((len(model_frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.characteristics_, dtype=object)
