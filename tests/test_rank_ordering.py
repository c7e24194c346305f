"""Rank ordering of the bands: the one-sided test per adjacent pair, its lights, and merging the bands it flags."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from creditrisk.modeling.bundle import RiskBand
from creditrisk.modeling.rank_ordering import (
    check_band_order,
    inversion_pvalue,
    merge_advice,
    merge_bands,
    rank_ordering_summary,
    rank_ordering_tests,
)
from creditrisk.modeling.validation import light_summary

BANDS = [RiskBand("A", 0.02), RiskBand("B", 0.04), RiskBand("C", 0.08), RiskBand("D", 1.0)]


def loans(counts: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """(band of each loan, default indicator) for (band, loans, defaults) triples."""
    bands = np.concatenate([np.full(rows, name, dtype=object) for name, rows, _ in counts])
    y = np.concatenate([np.r_[np.ones(defaults, dtype=int), np.zeros(rows - defaults, dtype=int)]
                        for _, rows, defaults in counts])
    return bands, y


def test_the_inversion_p_value_is_the_hypergeometric_tail_by_hand() -> None:
    # 200 loans, 22 defaults; the lower band drew 100 loans holding 20 of them: P(X >= 20), X ~ H(200, 22, 100).
    assert inversion_pvalue(20, 100, 2, 100) == pytest.approx(stats.hypergeom.sf(19, 200, 22, 100))
    assert inversion_pvalue(2, 100, 20, 100) == pytest.approx(stats.hypergeom.sf(1, 200, 22, 100))


def test_a_built_inversion_is_red_and_named_for_merging() -> None:
    bands, y = loans([("A", 300, 3), ("B", 300, 30), ("C", 300, 6), ("D", 300, 60)])  # B defaults 10 %, C 2 %
    tests = rank_ordering_tests(["A", "B", "C", "D"], bands, y, 0.05, 0.01)
    assert [(test.lower, test.higher, test.light) for test in tests] == [
        ("A", "B", "green"), ("B", "C", "red"), ("C", "D", "green")]
    summary = rank_ordering_summary(tests)
    assert summary["light"] == "red" and summary["merge"] == [["B", "C"]]
    pack = {name: {"light": "green"} for name in ("auc_decline", "calibration", "hosmer_lemeshow",
                                                   "calibration_in_the_large")}
    pack.update({"bands": [], "rank_ordering": summary, "age_check": {"light": "red"}})
    assert light_summary(pack)["red"] == ["rank order B<C", "Regulation B age check"]


def test_an_inversion_within_noise_is_yellow_and_ordered_bands_are_green() -> None:
    bands, y = loans([("A", 100, 5), ("B", 100, 4), ("C", 100, 9)])
    lights = [test.light for test in rank_ordering_tests(["A", "B", "C"], bands, y, 0.05, 0.01)]
    assert lights == ["yellow", "green"]
    tied, tied_y = loans([("A", 100, 0), ("B", 100, 0)])
    assert rank_ordering_tests(["A", "B"], tied, tied_y, 0.05, 0.01)[0].light == "yellow"  # no rise is no order


def test_an_empty_band_is_skipped_and_its_neighbours_compared() -> None:
    bands, y = loans([("A", 100, 1), ("C", 100, 8)])
    tests = rank_ordering_tests(["A", "B", "C"], bands, y, 0.05, 0.01)
    assert [(test.lower, test.higher) for test in tests] == [("A", "C")]


def test_merging_drops_the_lower_bands_edge_and_renames_in_order() -> None:
    merged = merge_bands(BANDS, "B")
    assert merged == [RiskBand("A", 0.02), RiskBand("B", 0.08), RiskBand("C", 1.0)]
    with pytest.raises(ValueError, match="last band"):
        merge_bands(BANDS, "D")
    assert "train.band_cut_points: [0.02, 0.08]" in merge_advice(BANDS, [["B", "C"]])


def test_train_names_the_pairs_to_merge_or_merges_them_when_told() -> None:
    rng = np.random.default_rng(3)
    pd_values = np.concatenate([rng.uniform(0.0, 0.02, 400), rng.uniform(0.021, 0.04, 400),
                                rng.uniform(0.041, 0.08, 400), rng.uniform(0.081, 0.3, 400)])
    y = np.concatenate([rng.random(400) < 0.01, rng.random(400) < 0.12, rng.random(400) < 0.02,
                        rng.random(400) < 0.2]).astype(int)
    advised = check_band_order(BANDS, pd_values, y, 0.01, merge=False, rows_described="the test rows")
    assert advised.bands == BANDS and advised.report["to_merge"] == [["B", "C"]]
    assert "merge bands B and C" in str(advised.report["advice"])
    merged = check_band_order(BANDS, pd_values, y, 0.01, merge=True, rows_described="the test rows")
    assert merged.bands == merge_bands(BANDS, "B") and merged.report["merged"] == [["B", "C"]]
    assert merged.report["advice"] == ""
