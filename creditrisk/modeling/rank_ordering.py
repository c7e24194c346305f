"""Rank ordering of the risk bands: each band's observed default rate must rise with the band.

A PD model's bands are used as an ordinal scale (pricing, limits, cut-offs), so a band whose loans default
less than the band below it breaks the scale even when each band's mean PD passes its own calibration test.
The test here is one-sided for each adjacent pair of non-empty bands: H0 "the higher band defaults at least
as often as the lower one" against H1 "it defaults less often" (an inversion), by Fisher's exact test on the
pair's 2 x 2 table (defaults and payers by band), which needs no large-sample approximation for the few
defaults a band of a low-default portfolio holds. Fisher (1935), The Design of Experiments, section 2;
scipy.stats.fisher_exact with `alternative="greater"` on the odds ratio of the lower band.

Lights are the validation pack's (`traffic_light`), with one addition: a pair whose observed rate does not
rise is at least yellow, so an inversion is never shown green even when the sample is too small to call it
significant. A red pair is a pair to merge; `merge_bands` merges it the way `fit_bands` merges an empty or
unordered band (the lower band's upper edge is dropped and the names are given out again in order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from creditrisk.modeling.bundle import RiskBand
from creditrisk.modeling.validation import traffic_light, TrafficLight

LIGHT_ORDER: dict[str, int] = {"green": 0, "yellow": 1, "red": 2}


@dataclass(frozen=True)
class PairTest:
    """The rank-ordering test of one adjacent pair of bands (`lower` is the less risky band)."""

    lower: str
    higher: str
    lower_rows: int
    lower_defaults: int
    higher_rows: int
    higher_defaults: int
    lower_rate: float
    higher_rate: float
    rises: bool
    pvalue: float
    light: TrafficLight

    @property
    def name(self) -> str:
        return f"rank order {self.lower}<{self.higher}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def inversion_pvalue(lower_defaults: int, lower_rows: int, higher_defaults: int, higher_rows: int) -> float:
    """One-sided Fisher exact p-value that the higher band defaults less often than the lower one."""
    table = [[lower_defaults, lower_rows - lower_defaults], [higher_defaults, higher_rows - higher_defaults]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def pair_light(pvalue: float, rises: bool, yellow_below: float, red_below: float) -> TrafficLight:
    """The pack's light of the p-value, at least yellow when the observed rate does not rise."""
    light = traffic_light(pvalue, yellow_below, red_below)
    return light if rises or light != "green" else "yellow"


def rank_ordering_tests(band_names: Sequence[str], band_of_row: np.ndarray, y: np.ndarray,
                        yellow_below: float, red_below: float) -> list[PairTest]:
    """The test of every adjacent pair of bands that hold rows, in band order (an empty band is skipped:
    its neighbours are compared with each other)."""
    frame = pd.DataFrame({"band": np.asarray(band_of_row, dtype=object), "y": np.asarray(y).astype(int)})
    counts = frame.groupby("band")["y"].agg(["size", "sum"])
    present = [(name, int(counts.at[name, "size"]), int(counts.at[name, "sum"]))
               for name in band_names if name in counts.index]
    tests = []
    for (low, low_rows, low_defaults), (high, high_rows, high_defaults) in zip(present, present[1:]):
        low_rate, high_rate = low_defaults / low_rows, high_defaults / high_rows
        pvalue = inversion_pvalue(low_defaults, low_rows, high_defaults, high_rows)
        rises = high_rate > low_rate
        tests.append(PairTest(low, high, low_rows, low_defaults, high_rows, high_defaults, low_rate, high_rate,
                              rises, pvalue, pair_light(pvalue, rises, yellow_below, red_below)))
    return tests


def rank_ordering_summary(tests: Sequence[PairTest]) -> dict[str, object]:
    """The pairs as the validation pack writes them, the worst light, and the pairs to merge (the red ones)."""
    worst = max((test.light for test in tests), key=LIGHT_ORDER.__getitem__, default="green")
    return {"test": "one-sided Fisher exact test per adjacent pair of bands (H1: the higher band defaults less)",
            "pairs": [test.to_dict() for test in tests], "light": worst,
            "merge": [[test.lower, test.higher] for test in tests if test.light == "red"]}


def merge_bands(bands: Sequence[RiskBand], lower: str) -> list[RiskBand]:
    """`bands` with band `lower` merged into the band above it: its upper edge is dropped, and the names
    are given out again in order (as `fit_bands` names the bands it keeps)."""
    names = [band.name for band in bands]
    if lower not in names[:-1]:
        raise ValueError(f"band {lower!r} is not one of {names[:-1]}: the last band has none above it to merge with")
    uppers = [band.upper_pd for band in bands if band.name != lower]
    return [RiskBand(name, upper) for name, upper in zip(names, uppers)]


def merge_advice(bands: Sequence[RiskBand], pairs: Sequence[Sequence[str]], by_train: bool = True) -> str:
    """What to set to merge the red pairs: the cut points without each pair's lower upper edge (and, where the
    train stage found them, its own switch)."""
    if not pairs:
        return ""
    dropped = {lower for lower, _ in pairs}
    kept = [round(band.upper_pd, 6) for band in bands[:-1] if band.name not in dropped]
    merged = ", ".join(f"{lower} and {higher}" for lower, higher in pairs)
    switch = "set train.merge_unordered_bands: true, or " if by_train else ""
    return f"merge bands {merged}: {switch}fix the edges by hand with train.band_cut_points: {kept}"


@dataclass(frozen=True)
class BandOrderCheck:
    """The train stage's rank-ordering check: the bands it keeps and what it found and did."""

    bands: list[RiskBand]
    report: dict[str, object]


def check_band_order(bands: Sequence[RiskBand], pd_values: np.ndarray, y: np.ndarray, red_below: float,
                     merge: bool, rows_described: str) -> BandOrderCheck:
    """Test the bands' rank ordering on `pd_values` and `y`; with `merge`, merge the most significant red
    pair and test again until no pair is red (or one band is left). Without it, say which pairs to merge.

    The light levels are (red_below, red_below): only red matters here (a pair to merge)."""
    bands = list(bands)
    initial = _pair_tests(bands, pd_values, y, red_below)
    merged: list[list[str]] = []
    while merge and len(bands) > 1:
        red = [test for test in _pair_tests(bands, pd_values, y, red_below) if test.light == "red"]
        if not red:
            break
        worst = min(red, key=lambda test: test.pvalue)
        merged.append([worst.lower, worst.higher])
        bands = merge_bands(bands, worst.lower)
    to_merge = [] if merge else [[test.lower, test.higher] for test in initial if test.light == "red"]
    return BandOrderCheck(bands, {
        "rows": rows_described,
        "red_below": red_below,
        "pairs": [test.to_dict() for test in initial],
        "merged": merged,
        "to_merge": to_merge,
        "advice": merge_advice(bands, to_merge),
    })


def _pair_tests(bands: Sequence[RiskBand], pd_values: np.ndarray, y: np.ndarray, red_below: float) -> list[PairTest]:
    uppers = np.array([band.upper_pd for band in bands], dtype=float)
    names = np.array([band.name for band in bands], dtype=object)
    band_of_row = names[np.minimum(np.searchsorted(uppers, np.asarray(pd_values, dtype=float), side="left"),
                                   len(names) - 1)]
    return rank_ordering_tests(list(names), band_of_row, y, red_below, red_below)


def band_order_messages(report: dict[str, Any]) -> list[str]:
    """What the train stage says about its band-order check: each inverted pair, each merge, and the advice."""
    lines = [f"bands {pair['lower']} and {pair['higher']} are inverted on {report['rows']} ({pair['lower_rate']:.2%} "
             f"then {pair['higher_rate']:.2%}, one-sided p {pair['pvalue']:.3g})"
             for pair in report["pairs"] if not pair["rises"]]
    lines += [f"merged bands {lower} and {higher}: their default rates are inverted on {report['rows']}"
              for lower, higher in report["merged"]]
    if report["advice"]:
        lines.append(f"rank ordering is red on {report['rows']}: {report['advice']}")
    return lines
